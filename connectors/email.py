"""E-mail over SMTP: one ``multipart/alternative`` message (text, then HTML) per card, sent
through the merchant's relay with aiosmtplib.

Contract (shared/channels/global.md §9): STARTTLS (port 587), implicit TLS (465) or plain;
AUTH after TLS; ``List-Unsubscribe`` (``<mailto:…>`` and/or ``<https://…>``) and, with an
HTTPS URI, ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058). SMTP has no
idempotency key: the ``Message-ID`` is derived from the share target's key so that a resend is
recognisable downstream, and a timeout after ``DATA`` is `OutcomeUnknown(retry_safe=False)`.

Reply codes: 4xx is transient (421/450/451/452/454), except a 4xx whose text says the sender
is being rate limited (``rate limit``, ``throttl…``): `RateLimited`, waiting the delay named in
the text ("try again in 30 seconds") or `EmailConfig.rate_limited_wait_s`. 530/535 → re-auth,
530 asking for STARTTLS and 534 → fix the account, other 5xx → permanent ``smtp_<code>``.
Retract is impossible: a sent mail stays sent.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from typing import Any, Literal

import aiohttp
import aiosmtplib
from pydantic import Field, SecretStr, field_validator, model_validator

from connectors._http import ErrorTable, classify
from connectors._template import card_fields, compose, dialect_for
from connectors._text import escape_html, fit, measure
from connectors.base import Connector, ConnectorConfig
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import (
    ConnectorError,
    ErrorKind,
    Misconfigured,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)
from connectors.limits import ChannelLimits, Markup, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "EmailConfig", "EmailConnector", "build_message", "message_id_for"]

# Phrases of the reply text first, then SMTP reply codes.
ERRORS: ErrorTable = {
    "rate_limited": ErrorKind.RATE_LIMITED,
    "starttls_required": ErrorKind.MISCONFIGURED,
    421: ErrorKind.TRANSIENT,  # service not available, closing channel
    450: ErrorKind.TRANSIENT,  # mailbox busy
    451: ErrorKind.TRANSIENT,  # local error in processing
    452: ErrorKind.TRANSIENT,  # insufficient storage / too many recipients
    454: ErrorKind.TRANSIENT,  # temporary authentication failure
    530: ErrorKind.AUTH_EXPIRED,  # authentication required
    534: ErrorKind.MISCONFIGURED,  # mechanism too weak
    535: ErrorKind.AUTH_EXPIRED,  # credentials invalid
    550: ErrorKind.PERMANENT,
    551: ErrorKind.PERMANENT,
    552: ErrorKind.PERMANENT,
    553: ErrorKind.PERMANENT,
    554: ErrorKind.PERMANENT,
}
_MAX_TEXT = 10_000  # far under Gmail's 102 KB clipping even when every character is escaped
_MAX_SUBJECT = 150
_RATE = re.compile(r"rate.?limit|throttl|sending rate|too many (messages|mails|connections)", re.I)
_WAIT = re.compile(r"(\d+)\s*(seconds?|secs?|s|minutes?|mins?|m)\b", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_HEADER_BREAKS = re.compile(r"\s+")
_POLICY = SMTP_POLICY.clone(cte_type="7bit")  # no 8BITMIME needed: QP or base64 bodies


def _address(value: str) -> Address:
    if _CONTROL.search(value) or "\n" in value:
        raise ValueError("addresses must be on one line")
    display, _, rest = value.rpartition("<")
    addr = rest.rstrip(">").strip() if rest.endswith(">") else value.strip()
    if not re.fullmatch(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", addr):
        raise ValueError("expected an ASCII e-mail address such as shop@example.com")
    username, domain = addr.split("@")
    return Address(display.strip().strip('"') if rest.endswith(">") else "", username, domain)


class EmailConfig(ConnectorConfig):
    """The relay (host, port, security, login) and the mail's sender, recipients and
    unsubscribe addresses (at least one; bulk senders must offer one-click unsubscribe)."""

    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    verify_tls: bool = True
    ca_pem: str | None = None  # a private CA for the relay's certificate
    sender: str
    recipients: tuple[str, ...] = Field(min_length=1, max_length=100)
    reply_to: str | None = None
    unsubscribe_mailto: str | None = None
    unsubscribe_url: str | None = Field(default=None, pattern=r"^https://\S+$")
    rate_limited_wait_s: float = Field(default=60.0, gt=0, le=86_400)

    @field_validator("sender", "reply_to", "unsubscribe_mailto")
    @classmethod
    def _one_address(cls, value: str | None) -> str | None:
        if value is not None:
            _address(value)
        return value

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _address(item)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.unsubscribe_mailto is None and self.unsubscribe_url is None:
            raise ValueError("set unsubscribe_url (one-click, https) and/or unsubscribe_mailto")
        return self


def message_id_for(idempotency_key: str | None, domain: str) -> str:
    """A Message-ID stable for a share target's key (fresh when there is none)."""
    if idempotency_key is None:
        return make_msgid(domain=domain)
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}.hub@{domain}>"


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", unicodedata.normalize("NFC", text))


def _one_line(text: str) -> str:
    return _HEADER_BREAKS.sub(" ", _clean(text)).strip()


def _html(subject: str, marked: str, card: Card, link: str) -> str:
    image = ""
    if card.image_url is not None:
        image = (
            f'<p><a href="{escape_html(link)}"><img src="{escape_html(card.image_url)}" '
            f'alt="{escape_html(_one_line(card.title))}" width="560" '
            'style="max-width:100%;height:auto;border:0"></a></p>\n'
        )
    body = marked.replace("\n", "<br>\n")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f"<title>{escape_html(subject)}</title></head>\n"
        '<body style="font-family:sans-serif;line-height:1.5">\n'
        f"{image}<p>{body}</p>\n<!--footer--></body></html>\n"
    )


def _unsubscribe(config: EmailConfig) -> tuple[str, str, str]:
    """(List-Unsubscribe value, text footer, HTML footer)."""
    uris: list[str] = []
    if config.unsubscribe_url is not None:
        uris.append(config.unsubscribe_url)
    if config.unsubscribe_mailto is not None:
        uris.append(f"mailto:{_address(config.unsubscribe_mailto).addr_spec}?subject=unsubscribe")
    target = uris[0]
    html = (
        '<p style="font-size:12px;color:#777777">'
        f'<a href="{escape_html(target)}">Unsubscribe</a></p>\n'
    )
    return ", ".join(f"<{u}>" for u in uris), f"\n\n--\nUnsubscribe: {target}\n", html


def build_message(post: RenderedPost, config: EmailConfig, *, message_id: str) -> EmailMessage:
    """The MIME message for `post` (pure): headers, text part, then HTML part."""
    sender = _address(config.sender)
    message = EmailMessage(policy=_POLICY)
    message["From"] = sender
    recipients = [_address(r) for r in config.recipients]
    message["To"] = recipients[0] if len(recipients) == 1 else "undisclosed-recipients:;"
    if config.reply_to is not None:
        message["Reply-To"] = _address(config.reply_to)
    message["Subject"] = str(post.payload["subject"])
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id
    header, text_footer, html_footer = _unsubscribe(config)
    message["List-Unsubscribe"] = header
    if config.unsubscribe_url is not None:
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(str(post.payload["text"]) + text_footer)
    html = str(post.payload["html"]).replace("<!--footer-->", html_footer)
    message.add_alternative(html, subtype="html")
    return message


def _tls(config: EmailConfig) -> ssl.SSLContext:
    context = (
        ssl.create_default_context(cadata=config.ca_pem)
        if config.ca_pem
        else (ssl.create_default_context())
    )
    if not config.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reply_error(config: EmailConfig, code: int, text: str) -> ConnectorError:
    key: str | None = None
    if 400 <= code < 500 and _RATE.search(text):
        key = "rate_limited"
    elif code == 530 and "starttls" in text.lower():
        key = "starttls_required"
    kind = ERRORS.get(key) if key else ERRORS.get(code)
    if kind is None:
        kind = ErrorKind.TRANSIENT if 400 <= code < 500 else ErrorKind.PERMANENT
    wait = _WAIT.search(text)
    wait_s = config.rate_limited_wait_s
    if wait is not None:
        wait_s = float(wait.group(1)) * (60 if wait.group(2).lower().startswith("m") else 1)
    return classify(
        {code: kind},
        status=code,
        code=key or f"smtp_{code}",
        message=f"{code} {_one_line(text)[:300]}",
        retry_after_s=wait_s,
    )


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and its causes (aiosmtplib wraps TLS failures in SMTPConnectError)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _failure(exc: Exception, config: EmailConfig, *, sent: bool) -> ConnectorError:
    """An aiosmtplib or socket failure as a connector error; `sent`: DATA was under way."""
    where = f"SMTP {config.host}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 400:
        return _reply_error(config, exc.code, exc.message)
    if any(isinstance(cause, ssl.SSLError) for cause in _chain(exc)):
        return Misconfigured(
            "tls_failed", f"{where}: TLS handshake failed ({exc.__class__.__name__})"
        )
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return Misconfigured("tls_unsupported", f"{where}: {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPConnectTimeoutError):
        return TransientError(f"{where}: cannot connect")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | aiosmtplib.SMTPServerDisconnected | OSError):
        if sent:
            return OutcomeUnknown(f"{where}: no answer to DATA", retry_safe=False)
        return TransientError(f"{where}: connection lost ({exc.__class__.__name__})")
    if isinstance(exc, aiosmtplib.SMTPException) and "AUTH" in exc.message:
        return Misconfigured("auth_unsupported", f"{where}: {exc.message}")
    return TransientError(f"{where}: {exc.__class__.__name__}")


@register
class EmailConnector(Connector[EmailConfig]):
    kind = "email"
    limits = ChannelLimits(
        max_text=_MAX_TEXT,
        text_unit=TextUnit.CHARS,
        markup=Markup.PLAIN,  # the text part; the HTML part is escaped from the same text
        max_media=1,
        media_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
        has_idempotency_key=False,
        can_delete=False,
        base_url="smtp://localhost",
    )
    config_model = EmailConfig
    errors = ERRORS
    default_template = "$title\n\n$description\n\n$price\n$tags\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        clean = replace(
            card,
            title=_clean(card.title) if _clean(card.title).strip() else "-",
            description=_clean(card.description),
            tags=tuple(_clean(tag) for tag in card.tags),
        )
        subject = fit(_one_line(clean.title), _MAX_SUBJECT, len) or "…"
        composed = compose(
            template if template is not None else self.default_template,
            card_fields(clean, link),
            dialect=dialect_for(Markup.MATRIX_HTML),
            budget=_MAX_TEXT,
            count=lambda c: measure(c.plain, TextUnit.CHARS),
        )
        payload = {
            "subject": subject,
            "text": composed.plain,
            "html": _html(subject, composed.marked, clean, link),
        }
        return RenderedPost(
            kind=self.kind,
            payload=payload,
            text=composed.plain,
            text_limit=_MAX_TEXT,
            link=link,
            image_url=card.image_url,
        )

    def _client(self, config: EmailConfig) -> aiosmtplib.SMTP:
        tls = config.security != "none"
        return aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=config.security == "ssl",
            start_tls=config.security == "starttls",
            tls_context=_tls(config) if tls else None,
            timeout=config.read_timeout_s,
            local_hostname="hub.localdomain",
        )

    async def _open(self, config: EmailConfig) -> aiosmtplib.SMTP:
        client = self._client(config)
        try:
            await client.connect(timeout=config.connect_timeout_s)
            if config.username is not None and config.password is not None:
                await client.login(config.username, config.password.get_secret_value())
        except Exception as exc:
            client.close()
            raise _failure(exc, config, sent=False) from None
        return client

    async def publish(
        self,
        post: RenderedPost,
        config: EmailConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        sender = _address(config.sender)
        message_id = message_id_for(idempotency_key, sender.domain)
        data = build_message(post, config, message_id=message_id).as_bytes(policy=_POLICY)
        client = await self._open(config)
        sent = False
        refused: dict[str, str] = {}
        try:
            await client.mail(sender.addr_spec)
            for recipient in config.recipients:
                address = _address(recipient).addr_spec
                try:
                    await client.rcpt(address)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    if len(refused) + 1 == len(config.recipients):
                        raise
                    refused[address] = f"{exc.code} {_one_line(exc.message)[:200]}"
            sent = True
            await client.data(data)
        except Exception as exc:
            client.close()
            raise _failure(exc, config, sent=sent) from None
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()
        raw: dict[str, Any] = {"message_id": message_id, "refused": refused}
        return PublishResult(self.kind, message_id, None, raw)

    async def delete(
        self, remote_id: str, config: EmailConfig, session: aiohttp.ClientSession
    ) -> None:
        raise PermanentError("delete_unsupported", "a sent e-mail cannot be retracted")

    async def check_credentials(self, config: EmailConfig, session: aiohttp.ClientSession) -> None:
        client = await self._open(config)
        try:
            await client.quit()
        except aiosmtplib.SMTPException:
            client.close()
