"""E-mail connector against a real SMTP server (aiosmtpd) running in the test process."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors import AuthExpired, Misconfigured, PermanentError, RateLimited, TransientError
from connectors.email import _reply_error, message_id_for
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import email as em
from tests.contract._server import ContractState

KIND = "email"
KEY = "share-7.account-3"


def _stored(channel: Channel) -> dict[str, Any]:
    (stored,) = channel.state.posts.values()
    return stored


async def test_message_is_text_then_html_with_unsubscribe_headers(channel: Channel) -> None:
    card = make_card(title="Blaue <Tasse> & Co – 青い", image_url="https://cdn.example/mug.jpg")
    result = await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session, idempotency_key=KEY
    )
    stored = _stored(channel)
    message, raw = stored["message"], stored["raw"]
    text = em.check_message(raw, LINK)  # multipart/alternative, 7-bit, link intact in both
    assert stored["mail_from"] == "news@shop.example" and stored["rcpt_tos"] == [em.RECIPIENT]
    assert message["Message-ID"] == result.remote_id == message_id_for(KEY, "shop.example")
    assert message["From"] == em.SENDER and message["To"] == em.RECIPIENT
    assert message["Subject"] == "Blaue <Tasse> & Co – 青い"
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert b"Subject: Blaue <Tasse> & Co =?utf-8?" in headers  # RFC 2047 on the wire
    assert message["Date"] is not None
    assert message["List-Unsubscribe"] == (
        f"<{em.UNSUBSCRIBE_URL}>, <mailto:{em.UNSUBSCRIBE_MAILTO}?subject=unsubscribe>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert text.startswith("Blaue <Tasse> & Co") and em.UNSUBSCRIBE_URL in text
    html = message.get_body(("html",)).get_content()
    assert "<strong>Blaue &lt;Tasse&gt; &amp; Co – 青い</strong>" in html
    links = em.read_html(html)
    assert links.images == ["https://cdn.example/mug.jpg"]
    assert LINK in links.hrefs and em.UNSUBSCRIBE_URL in links.hrefs


async def test_message_id_is_stable_per_key(channel: Channel) -> None:
    post = channel.connector.render(make_card(), LINK)
    first = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    again = await channel.connector.publish(
        post, channel.config, channel.session, idempotency_key=KEY
    )
    assert first.remote_id == again.remote_id
    fresh = await channel.connector.publish(post, channel.config, channel.session)
    assert fresh.remote_id != first.remote_id and fresh.remote_id.endswith("@shop.example>")


async def test_title_cannot_inject_headers(channel: Channel) -> None:
    card = make_card(title="Mug\r\nBcc: victim@example.org\x00")
    await channel.connector.publish(
        channel.connector.render(card, LINK), channel.config, channel.session
    )
    stored = _stored(channel)
    assert stored["message"]["Bcc"] is None and stored["rcpt_tos"] == [em.RECIPIENT]
    assert stored["message"]["Subject"] == "Mug Bcc: victim@example.org"


async def test_several_recipients_and_partial_refusal(channel: Channel) -> None:
    recipients = ["a@example.org", "nobody@example.org", "b@example.org"]
    config = channel.config_with(recipients=recipients, unsubscribe_url=None)
    result = await channel.connector.publish(
        channel.connector.render(make_card(), LINK), config, channel.session
    )
    stored = _stored(channel)
    assert stored["rcpt_tos"] == ["a@example.org", "b@example.org"]
    assert stored["message"]["To"] == "undisclosed-recipients:;"
    assert stored["message"]["List-Unsubscribe-Post"] is None  # one-click needs an https URI
    assert result.raw["refused"] == {"nobody@example.org": "550 5.1.1 User unknown"}
    with pytest.raises(PermanentError) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK),
            channel.config_with(recipients=["nobody@example.org"]),
            channel.session,
        )
    assert info.value.code == "smtp_550"


async def test_rate_limited_reply_names_its_wait(channel: Channel) -> None:
    channel.state.fail_next.append("rate_limited")
    with pytest.raises(RateLimited) as info:
        await channel.connector.publish(
            channel.connector.render(make_card(), LINK), channel.config, channel.session
        )
    assert info.value.retry_after_s == 30.0
    config = channel.connector.parse_config(em.config_for("smtp://127.0.0.1:1"))
    default = _reply_error(config, 450, "4.7.1 Throttling: too many messages")
    assert isinstance(default, RateLimited) and default.retry_after_s == 60.0
    minutes = _reply_error(config, 421, "4.7.0 rate limit exceeded, retry in 5 minutes")
    assert isinstance(minutes, RateLimited) and minutes.retry_after_s == 300.0
    plain = _reply_error(config, 452, "4.5.3 Too many recipients")
    assert isinstance(plain, TransientError)
    unknown = _reply_error(config, 557, "5.0.0 whatever")
    assert isinstance(unknown, PermanentError) and unknown.code == "smtp_557"


async def test_wrong_password_is_reauth_and_never_echoed(channel: Channel) -> None:
    config = channel.connector.parse_config(
        em.config_for(channel.url, password=em.REVOKED_PASSWORD)
    )
    with pytest.raises(AuthExpired) as info:
        await channel.connector.check_credentials(config, channel.session)
    assert "535" in str(info.value) and em.REVOKED_PASSWORD not in repr(info.value)


async def test_sent_mail_cannot_be_retracted(channel: Channel) -> None:
    assert channel.connector.limits.can_delete is False
    with pytest.raises(PermanentError) as info:
        await channel.connector.delete("<x@shop.example>", channel.config, channel.session)
    assert info.value.code == "delete_unsupported"


def test_config_rules() -> None:
    from connectors import get

    connector = get(KIND)
    good = em.config_for("smtp://127.0.0.1:2525")
    for bad in (
        {"unsubscribe_url": None, "unsubscribe_mailto": None},
        {"username": None},
        {"sender": "Shop <news@shop.example>\r\nBcc: x@y.example"},
        {"recipients": []},
        {"unsubscribe_url": "http://shop.example/u"},
        {"security": "tls13"},
    ):
        with pytest.raises(pydantic.ValidationError) as info:
            connector.parse_config({**good, **bad})
        assert em.PASSWORD not in str(info.value)


# --- TLS: STARTTLS and implicit TLS against the same server with a private CA -----------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem", cert_pem.decode()


@pytest.fixture
async def tls_server(
    certificate: tuple[Path, Path, str],
) -> AsyncIterator[Callable[[bool], Awaitable[tuple[str, ContractState]]]]:
    from contextlib import AsyncExitStack

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate[0], certificate[1])
    async with AsyncExitStack() as stack:

        async def start(implicit: bool) -> tuple[str, ContractState]:
            state = ContractState()
            url = await stack.enter_async_context(em.serve(state, tls=context, implicit=implicit))
            return url, state

        yield start


@pytest.mark.parametrize(("implicit", "security"), [(False, "starttls"), (True, "ssl")])
async def test_tls_with_a_private_ca(
    tls_server: Any,
    certificate: tuple[Path, Path, str],
    session: Any,
    implicit: bool,
    security: str,
) -> None:
    from connectors import get

    connector = get(KIND)
    url, state = await tls_server(implicit)
    config = connector.parse_config(em.config_for(url, security=security, ca_pem=certificate[2]))
    await connector.check_credentials(config, session)
    await connector.publish(connector.render(make_card(), LINK), config, session)
    (stored,) = state.posts.values()
    assert stored["tls"] is not implicit  # aiosmtpd records STARTTLS; implicit TLS is below it
    unverified = connector.parse_config(em.config_for(url, security=security))
    with pytest.raises(Misconfigured) as info:
        await connector.check_credentials(unverified, session)
    assert info.value.code == "tls_failed"
    insecure = connector.parse_config(em.config_for(url, security=security, verify_tls=False))
    await connector.check_credentials(insecure, session)


async def test_plain_connection_to_a_starttls_only_relay(tls_server: Any, session: Any) -> None:
    from connectors import get

    connector = get(KIND)
    url, _ = await tls_server(False)
    config = connector.parse_config(em.config_for(url, security="none"))
    with pytest.raises(Misconfigured):
        await connector.check_credentials(config, session)
