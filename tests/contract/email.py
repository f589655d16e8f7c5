"""A real SMTP server (aiosmtpd) in the test process, steered like the HTTP contract servers.

`serve(state)` runs aiosmtpd on 127.0.0.1 in the running event loop and yields
``smtp://127.0.0.1:<port>``. It authenticates (PLAIN/LOGIN) against `USER`/`PASSWORD`, stores
every accepted message in ``state.posts`` by its Message-ID (the raw bytes, the envelope and
the parsed `EmailMessage`), and obeys the shared `ContractState` knobs:

- ``state.fail_next``: a key of `ERROR_REPLIES` (an SMTP reply code or a phrase key) makes the
  server answer that reply at the stage where real relays send it (AUTH, MAIL, RCPT or DATA);
- ``state.delay_s``: the answer to the end of DATA comes that late;
- ``state.rate``: MAIL FROM over the rate answers ``451 4.7.1 … try again in N seconds``.

Optional TLS: ``serve(state, tls=ctx)`` offers STARTTLS (and requires it before AUTH);
``serve(state, tls=ctx, implicit=True)`` speaks TLS from the first byte (port-465 style).
"""

from __future__ import annotations

import asyncio
import email
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.message import EmailMessage
from email.policy import default as default_policy
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

import connectors
from connectors import RenderedPost
from connectors.email import build_message
from tests.contract._server import ContractState

USER = "shop@relay.example"
PASSWORD = "relay-Secret-password-42"
REVOKED_PASSWORD = "relay-old-password-41"
SENDER = "Blue Mug Shop <news@shop.example>"
RECIPIENT = "buyer@example.org"
UNSUBSCRIBE_URL = "https://shop.example/u/tok123?list=news"
UNSUBSCRIBE_MAILTO = "unsubscribe@shop.example"

# key → (stage, reply). Every key of connectors.email.ERRORS has an entry.
REPLIES: dict[int | str, tuple[str, str]] = {
    "rate_limited": ("MAIL", "451 4.7.1 Sending rate limit exceeded, try again in 30 seconds"),
    "starttls_required": ("MAIL", "530 5.7.0 Must issue a STARTTLS command first"),
    421: ("MAIL", "421 4.3.2 Service not available, closing transmission channel"),
    450: ("RCPT", "450 4.2.1 Mailbox busy, try later"),
    451: ("DATA", "451 4.3.0 Local error in processing"),
    452: ("RCPT", "452 4.5.3 Too many recipients"),
    454: ("AUTH", "454 4.7.0 Temporary authentication failure"),
    530: ("MAIL", "530 5.7.0 Authentication required"),
    534: ("AUTH", "534 5.7.9 Authentication mechanism is too weak"),
    535: ("AUTH", "535 5.7.8 Authentication credentials invalid"),
    550: ("RCPT", "550 5.1.1 User unknown"),
    551: ("RCPT", "551 5.1.6 User not local"),
    552: ("DATA", "552 5.3.4 Message size exceeds fixed maximum message size"),
    553: ("RCPT", "553 5.1.3 Mailbox name not allowed"),
    554: ("DATA", "554 5.7.1 Message rejected as spam"),
}
ERROR_REPLIES: dict[int | str, Callable[[], str]] = {
    key: (lambda reply=reply: reply) for key, (_, reply) in REPLIES.items()
}


def config_for(url: str, *, password: str = PASSWORD, **overrides: Any) -> dict[str, Any]:
    """A working account config for the server at `url` (any scheme: only host and port)."""
    where = urlsplit(url)
    return {
        "host": where.hostname,
        "port": where.port,
        "security": "none",
        "username": USER,
        "password": password,
        "sender": SENDER,
        "recipients": [RECIPIENT],
        "unsubscribe_url": UNSUBSCRIBE_URL,
        "unsubscribe_mailto": UNSUBSCRIBE_MAILTO,
        **overrides,
    }


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.hrefs.append(str(found["href"]))
        if tag == "img" and found.get("src"):
            self.images.append(str(found["src"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read_html(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser


def check_message(raw: bytes, link: str) -> str:
    """What a mail client makes of `raw`: asserts the multipart/alternative shape (text, then
    HTML, both with the link intact) and returns the text part."""
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")), "line over 998 octets"
    raw.decode("ascii")  # 7-bit clean: no 8BITMIME needed
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    text, html = (str(p.get_content()) for p in parts)
    assert link in text
    links = read_html(html)
    assert link in links.hrefs, links.hrefs
    assert "<script" not in html.lower()
    return text


def check_post(post: RenderedPost) -> str:
    """The conformance check: build the message for a test account, then `check_message`."""
    config = connectors.get("email").parse_config(config_for("smtp://127.0.0.1:25"))
    message = build_message(post, config, message_id="<check@shop.example>")
    return check_message(message.as_bytes(policy=message.policy), post.link)


class Handler:
    """aiosmtpd hooks that store messages in `state` and inject faults."""

    def __init__(self, state: ContractState) -> None:
        self.state = state
        self._auth_faults: dict[int, str] = {}  # clients try each mechanism: refuse them all

    def fault(self, stage: str) -> str | None:
        if self.state.fail_next and REPLIES[self.state.fail_next[0]][0] == stage:
            return REPLIES[self.state.fail_next.pop(0)][1]
        return None

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        reply = self._auth_faults.get(id(session)) or self.fault("AUTH")
        if reply is not None:
            self._auth_faults[id(session)] = reply
            return AuthResult(success=False, handled=False, message=reply)
        ok = (
            isinstance(data, LoginPassword)
            and data.login == USER.encode()
            and data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if (reply := self.fault("MAIL")) is not None:
            return reply
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        wait = self.state.retry_after(address)
        if wait is not None:
            return (
                f"451 4.7.1 Sending rate limit exceeded, try again in {int(wait + 0.999)} seconds"
            )
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if (reply := self.fault("RCPT")) is not None:
            return reply
        if address.startswith("nobody@"):
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.state.delay_s:
            delay, self.state.delay_s = self.state.delay_s, 0.0
            await asyncio.sleep(delay)
        if (reply := self.fault("DATA")) is not None:
            return reply
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        message_id = str(parsed["Message-ID"])
        self.state.posts[message_id] = {
            "raw": raw,
            "message": parsed,
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "tls": session.ssl is not None,
        }
        return f"250 2.0.0 Ok: queued as {self.state.new_id()}"


def create_app(state: ContractState) -> Handler:
    """The server's handler (the SMTP counterpart of an HTTP contract app)."""
    return Handler(state)


@asynccontextmanager
async def serve(
    state: ContractState, *, tls: ssl.SSLContext | None = None, implicit: bool = False
) -> AsyncIterator[str]:
    """Run the SMTP server on 127.0.0.1 on a free port; yield ``smtp://127.0.0.1:<port>``."""
    handler = create_app(state)
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        return SMTP(
            handler,
            hostname="relay.example",
            authenticator=handler.authenticate,
            auth_require_tls=tls is not None and not implicit,
            tls_context=None if implicit else tls,
            require_starttls=tls is not None and not implicit,
            loop=loop,
        )

    server = await loop.create_server(protocol, "127.0.0.1", 0, ssl=tls if implicit else None)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
