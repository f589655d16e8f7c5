"""Product image downloads (`connectors._media`): only public hosts unless allowed, checked at
every redirect, pinned to the checked address, bounded in size and time, and images only —
against a local image host, and through the connectors that upload images."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import connectors
from connectors import MediaPolicy, MemoryTokenStore, PermanentError, TransientError
from connectors._media import Image, fetch_image, multipart, sniff_image_type
from connectors.netguard import Refused, check_url, is_disallowed_address, resolve
from connectors.wechat_oa import WechatOAConnector
from tests.connectors.conftest import LINK, Channel, make_card
from tests.contract import mastodon as md

TYPES = ("image/jpeg", "image/png", "image/gif")
LIMIT = 4096
STRICT = MediaPolicy(timeout_s=5.0)  # the default rule: public hosts only
ONLY_LOOPBACK_1 = MediaPolicy(
    allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),), timeout_s=5.0
)
LOCAL = MediaPolicy(allow_private=True, timeout_s=5.0)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 200 + b"\xff\xd9"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40


@dataclass
class Host:
    """A local image host; `seen` lists (path, Host header) of every request it got."""

    url: str
    seen: list[tuple[str, str]] = field(default_factory=list)
    streamed_bytes: int = 0

    def at(self, path: str) -> str:
        return f"{self.url}{path}"


def _image_app(host: Host) -> web.Application:
    async def record(request: web.Request) -> None:
        host.seen.append((request.path_qs, request.headers.get("Host", "")))

    async def image(request: web.Request) -> web.StreamResponse:
        await record(request)
        name = request.match_info["name"]
        if name == "missing.png":
            return web.Response(status=404)
        if name == "busy.png":
            return web.Response(status=503)
        if name == "page.html":
            return web.Response(text="<html>hi</html>", content_type="text/html")
        if name == "fake.png":
            return web.Response(body=b"<html>not a picture</html>", content_type="image/png")
        if name == "empty.png":
            return web.Response(body=b"", content_type="image/png")
        if name == "shot.webp":
            return web.Response(body=WEBP, content_type="image/webp")
        if name == "declared-big.jpg":
            return web.Response(body=JPEG + b"\x00" * LIMIT, content_type="image/jpeg")
        if name == "endless.jpg":  # chunked, no length: only the reader's cap stops it
            response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(JPEG[:4])
            try:
                for _ in range(6400):  # 100 MB
                    await response.write(b"\x00" * 16384)
                    host.streamed_bytes += 16384
            except (ConnectionResetError, RuntimeError):
                pass
            return response
        if name == "slow.png":
            await asyncio.sleep(3)
        if name.endswith(".jpg"):
            return web.Response(body=JPEG, content_type="image/jpeg")
        return web.Response(body=md.PNG, content_type="image/png")

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound(request.query["to"])

    async def loop(request: web.Request) -> web.Response:
        await record(request)
        raise web.HTTPFound("/loop")

    async def chain(request: web.Request) -> web.Response:
        await record(request)
        left = int(request.match_info["left"])
        raise web.HTTPFound(f"/chain/{left - 1}" if left else "/img/mug.png")

    app = web.Application()
    app.router.add_get("/img/{name}", image)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/chain/{left}", chain)
    app.router.add_get("/loop", loop)
    return app


@asynccontextmanager
async def _serve(bind: str) -> AsyncIterator[Host]:
    host = Host("")
    runner = web.AppRunner(_image_app(host), handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, bind, 0)
    await site.start()
    address, port = runner.addresses[0][:2]
    host.url = f"http://{address}:{port}"
    try:
        yield host
    finally:
        await runner.cleanup()


@pytest.fixture
async def images() -> AsyncIterator[Host]:
    async with _serve("127.0.0.1") as host:
        yield host


@pytest.fixture
async def other() -> AsyncIterator[Host]:
    """A second host on 127.0.0.2: loopback, but outside `ONLY_LOOPBACK_1`'s network."""
    async with _serve("127.0.0.2") as host:
        yield host


async def _fetch(session: aiohttp.ClientSession, url: str, policy: MediaPolicy) -> Image:
    return await fetch_image(
        session,
        url,
        policy=policy,
        mime_types=TYPES,
        max_bytes=LIMIT,
        client_timeout=aiohttp.ClientTimeout(sock_connect=2, sock_read=2),
    )


async def _refused(session: aiohttp.ClientSession, url: str, policy: MediaPolicy) -> str:
    with pytest.raises(PermanentError) as info:
        await _fetch(session, url, policy)
    assert info.value.code == "image_refused", info.value
    return info.value.message


# --- the address rule -----------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:a00:1::",  # 6to4 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_disallowed(address: str) -> None:
    assert is_disallowed_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_disallowed_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://images.example/a.png", "scheme_not_allowed"),
        ("javascript:alert(1)", "scheme_not_allowed"),
        ("http://user:pw@images.example/a.png", "invalid_url"),
        ("http:/a.png", "invalid_url"),
        ("http://images.example:99999/", "invalid_url"),
    ],
)
def test_refusals_name_their_rule(url: str, reason: str) -> None:
    with pytest.raises(Refused) as caught:
        check_url(url)
    assert caught.value.reason == reason
    assert caught.value.address is None


async def test_a_refused_address_is_named() -> None:
    with pytest.raises(Refused) as caught:
        await resolve(check_url("http://10.1.2.3/a.png"), allow_private=False)
    assert caught.value.reason == "address_not_allowed"
    assert caught.value.address == ipaddress.ip_address("10.1.2.3")
    allowed = await resolve(check_url("http://10.1.2.3/a.png"), allow_private=True)
    assert allowed == [ipaddress.ip_address("10.1.2.3")]


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        MediaPolicy(timeout_s=0)
    with pytest.raises(ValueError):
        MediaPolicy(max_redirects=-1)
    with pytest.raises(ValueError):
        MediaPolicy(user_agent="a\r\nX-Injected: 1")
    assert MediaPolicy().allow_private is False and MediaPolicy().allowed_networks == ()


# --- refusals before anything is sent ---------------------------------------------------


async def test_loopback_image_is_refused_by_default(
    images: Host, session: aiohttp.ClientSession
) -> None:
    message = await _refused(session, images.at("/img/mug.png"), STRICT)
    assert "127.0.0.1" in message
    assert images.seen == []  # nothing was sent


async def test_a_name_resolving_to_loopback_is_refused(
    images: Host, session: aiohttp.ClientSession
) -> None:
    port = images.url.rsplit(":", 1)[1]
    await _refused(session, f"http://localhost:{port}/img/mug.png", STRICT)
    assert images.seen == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:7f00:1]:6379/",
        "http://[::1]/x.png",
        "http://10.0.0.1/x.png",
        "http://0.0.0.0/x.png",
        "file:///etc/passwd",
        "ftp://cdn.example/mug.png",
        "gopher://127.0.0.1:6379/_INFO",
        "http://user:pw@cdn.example/mug.png",
        "/relative/mug.png",
        "not a url",
    ],
)
async def test_unsafe_urls_are_refused(session: aiohttp.ClientSession, url: str) -> None:
    await _refused(session, url, STRICT)


async def test_redirect_from_an_allowed_host_to_a_private_one_is_refused(
    images: Host, other: Host, session: aiohttp.ClientSession
) -> None:
    # The first host is allowed (127.0.0.1/32); the redirect target is not (127.0.0.2).
    assert (await _fetch(session, images.at("/img/mug.png"), ONLY_LOOPBACK_1)).mime == "image/png"
    start = images.at(f"/redirect?to={other.at('/img/mug.png')}")
    message = await _refused(session, start, ONLY_LOOPBACK_1)
    assert "127.0.0.2" in message
    assert [path for path, _ in images.seen][-1].startswith("/redirect")
    assert other.seen == []  # the refused hop was never contacted


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.2]/", "file:///etc"],
)
async def test_every_redirect_hop_is_checked(
    images: Host, session: aiohttp.ClientSession, target: str
) -> None:
    await _refused(session, images.at(f"/redirect?to={target}"), ONLY_LOOPBACK_1)


async def test_redirects_are_followed_within_the_limit(
    images: Host, session: aiohttp.ClientSession
) -> None:
    assert (await _fetch(session, images.at("/chain/2"), LOCAL)).data == md.PNG  # 3 redirects
    with pytest.raises(PermanentError) as info:
        await _fetch(session, images.at("/chain/3"), LOCAL)  # 4 redirects > 3
    assert info.value.code == "image_unavailable" and "redirects" in info.value.message
    hops = images.at(f"/redirect?to={images.at('/redirect?to=/chain/0')}")
    assert (await _fetch(session, hops, LOCAL)).data == md.PNG  # relative Location resolved
    assert [path for path, _ in images.seen][-1] == "/img/mug.png"


async def test_redirect_loop_is_refused(images: Host, session: aiohttp.ClientSession) -> None:
    with pytest.raises(PermanentError) as info:
        await _fetch(session, images.at("/loop"), MediaPolicy(allow_private=True, max_redirects=9))
    assert info.value.code == "image_unavailable" and "loop" in info.value.message
    assert len(images.seen) == 1


async def test_request_goes_to_the_checked_address_with_the_real_host_name(
    images: Host, session: aiohttp.ClientSession
) -> None:
    port = images.url.rsplit(":", 1)[1]
    image = await _fetch(session, f"http://localhost:{port}/img/mug.png", LOCAL)
    assert image is not None
    assert images.seen == [("/img/mug.png", f"localhost:{port}")]


async def test_a_second_dns_answer_cannot_redirect_the_connection(
    images: Host, other: Host, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name first resolves to an allowed address, then to a refused one.
    The connection must go to the address that was checked."""
    loop = asyncio.get_running_loop()
    port = int(images.url.rsplit(":", 1)[1])
    answers: list[str] = []

    async def rebinding(host: str, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        address = "127.0.0.1" if not answers else "127.0.0.2"
        answers.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    image = await _fetch(session, f"http://images.test:{port}/img/mug.png", ONLY_LOOPBACK_1)
    assert image.data == md.PNG
    assert answers == ["127.0.0.1"]  # resolved once, by the check
    assert images.seen == [("/img/mug.png", f"images.test:{port}")] and other.seen == []


# --- what comes back ----------------------------------------------------------------------


async def test_an_image_comes_back_with_its_sniffed_type_and_a_safe_name(
    images: Host, session: aiohttp.ClientSession
) -> None:
    image = await fetch_image(
        session,
        images.at("/img/mug.png"),
        policy=LOCAL,
        mime_types=TYPES,
        max_bytes=LIMIT,
        client_timeout=aiohttp.ClientTimeout(sock_connect=2, sock_read=2),
    )
    assert (image.data, image.mime, image.filename) == (md.PNG, "image/png", "mug.png")
    assert "bytes" in repr(image) and str(md.PNG) not in repr(image)
    odd = await fetch_image(
        session,
        images.at('/img/%22a%0d%0aX: y".jpg'),
        policy=LOCAL,
        mime_types=TYPES,
        max_bytes=LIMIT,
        client_timeout=aiohttp.ClientTimeout(sock_connect=2, sock_read=2),
    )
    assert odd.mime == "image/jpeg" and odd.filename == "a_X_y_.jpg"
    body, content_type = multipart({"a": "b"}, {"file": odd})
    assert b'filename="a_X_y_.jpg"' in body and content_type.startswith("multipart/form-data")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("page.html", "image_type"),  # declared as HTML
        ("fake.png", "image_type"),  # declared PNG, the bytes are not
        ("shot.webp", "image_type"),  # an image, but not one the channel takes
        ("empty.png", "image_unavailable"),
        ("missing.png", "image_unavailable"),
        ("declared-big.jpg", "image_too_large"),
        ("endless.jpg", "image_too_large"),
    ],
)
async def test_unusable_answers_are_permanent_errors(
    images: Host, session: aiohttp.ClientSession, name: str, code: str
) -> None:
    with pytest.raises(PermanentError) as info:
        await _fetch(session, images.at(f"/img/{name}"), LOCAL)
    assert info.value.code == code, info.value


async def test_an_endless_body_is_abandoned_past_the_limit(
    images: Host, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(PermanentError):
        await _fetch(session, images.at("/img/endless.jpg"), LOCAL)
    await asyncio.sleep(0.2)
    assert images.streamed_bytes < 16 << 20  # far less than the 100 MB the host offered


async def test_server_errors_and_slowness_are_transient(
    images: Host, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(TransientError):
        await _fetch(session, images.at("/img/busy.png"), LOCAL)
    quick = MediaPolicy(allow_private=True, timeout_s=0.3)
    with pytest.raises(TransientError, match="in time"):
        await _fetch(session, images.at("/img/slow.png"), quick)


async def test_nothing_listening_is_transient(session: aiohttp.ClientSession) -> None:
    with pytest.raises(TransientError):
        await _fetch(session, "http://127.0.0.1:9/img.png", LOCAL)


def test_sniffing() -> None:
    assert sniff_image_type(md.PNG) == "image/png"
    assert sniff_image_type(JPEG) == "image/jpeg"
    assert sniff_image_type(b"GIF89a....") == "image/gif"
    assert sniff_image_type(WEBP) == "image/webp"
    assert sniff_image_type(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert sniff_image_type(b"") is None


# --- through the connectors, with the default (strict) rule --------------------------------


@pytest.mark.parametrize("channel", ["mastodon", "matrix", "x"], indirect=True)
async def test_refused_image_posts_the_card_without_it(channel: Channel) -> None:
    strict = connectors.get(channel.kind)
    assert strict.media == MediaPolicy()  # the shared instance keeps the safe default
    card = make_card(image_url=f"{channel.url}/cdn/mug.png")
    result = await strict.publish(strict.render(card, LINK), channel.config, channel.session)
    paths = [r.path for r in channel.state.requests]
    assert "/cdn/mug.png" not in paths  # never downloaded
    assert not any("media" in p or "upload" in p for p in paths)
    assert result.remote_id


@pytest.mark.parametrize("channel", ["mastodon"], indirect=True)
async def test_redirect_to_a_private_host_posts_without_the_image(
    channel: Channel, other: Host
) -> None:
    connector = connectors.get("mastodon").with_media(ONLY_LOOPBACK_1)
    async with _serve("127.0.0.1") as first:  # an allowed image host that redirects
        card = make_card(image_url=first.at(f"/redirect?to={other.at('/img/mug.png')}"))
        result = await connector.publish(
            connector.render(card, LINK), channel.config, channel.session
        )
        assert first.seen and other.seen == []
    assert channel.state.posts[result.remote_id]["media_attachments"] == []


@pytest.mark.parametrize("channel", ["weibo"], indirect=True)
async def test_weibo_shares_the_link_alone_when_the_picture_is_refused(channel: Channel) -> None:
    strict = connectors.get("weibo")
    card = make_card(image_url=f"{channel.url}/assets/mug.jpg")
    await strict.publish(strict.render(card, LINK), channel.config, channel.session)
    share = channel.state.requests[-1]
    assert share.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert "/assets/mug.jpg" not in [r.path for r in channel.state.requests]


@pytest.mark.parametrize("channel", ["wechat_oa"], indirect=True)
async def test_wechat_uses_the_default_cover_or_fails_clearly_when_refused(
    channel: Channel,
) -> None:
    strict = WechatOAConnector(MemoryTokenStore())
    card = make_card(image_url=f"{channel.url}/assets/mug.jpg")
    post = strict.render(card, LINK)
    await strict.publish(post, channel.config, channel.session)
    assert "/assets/mug.jpg" not in [r.path for r in channel.state.requests]
    with pytest.raises(PermanentError) as info:
        await strict.publish(
            post, channel.config_with(default_thumb_media_id=None), channel.session
        )
    assert info.value.code == "image_refused" and "127.0.0.1" in info.value.message


def test_with_media_binds_a_copy_and_token_stores_keep_it() -> None:
    shared = connectors.get("wechat_oa")
    assert isinstance(shared, WechatOAConnector)
    bound = shared.with_media(LOCAL)
    assert bound is not shared and bound.media is LOCAL and shared.media == MediaPolicy()
    assert bound.with_token_store(MemoryTokenStore()).media is LOCAL


@pytest.mark.parametrize(
    "bad",
    [
        {"timeout_s": 0},
        {"timeout_s": float("inf")},
        {"max_redirects": -1},
        {"user_agent": " "},
        {"user_agent": "a\r\nX-Injected: 1"},
    ],
)
def test_a_media_policy_with_insane_limits_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        MediaPolicy(**bad)
