"""The optional external shortener (pyshorteners) against local services on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import connectors
from connectors import PermanentError, TransientError
from connectors._shorten import services
from tests.contract._server import serve

LONG = "https://go.example/abc123?c=tg&x=1"
SEEN = web.AppKey("seen", list)


async def _tinyurl(request: web.Request) -> web.Response:
    """TinyURL's api-create.php: the short URL as plain text."""
    request.app[SEEN].append(dict(request.query))
    url = request.query.get("url", "")
    if "refuse" in url:
        return web.Response(status=400, text="Error")
    if "busy" in url:
        return web.Response(status=503, text="Service Unavailable")
    if "slow" in url:
        await asyncio.sleep(3)
    if "garbage" in url:
        return web.Response(text="<html>not a url</html>")
    return web.Response(text="https://tinyurl.example/2p9xyz\n")


async def _isgd(request: web.Request) -> web.Response:
    request.app[SEEN].append(dict(request.query))
    assert request.query["format"] == "simple"
    return web.Response(text="https://is.gd.example/AbCd")


@pytest.fixture
async def service() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    app = web.Application()
    app[SEEN] = []
    app.router.add_get("/api-create.php", _tinyurl)
    app.router.add_get("/create.php", _isgd)
    async with serve(app) as url:
        yield url, app[SEEN]


async def test_tinyurl_and_isgd_at_a_configured_endpoint(
    service: tuple[str, list[dict[str, str]]],
) -> None:
    url, seen = service
    short = await connectors.shorten(LONG, "tinyurl", {"api_url": f"{url}/api-create.php"})
    assert short == "https://tinyurl.example/2p9xyz"
    assert seen[-1] == {"url": LONG}
    short = await connectors.shorten(LONG, "isgd", {"api_url": f"{url}/create.php"})
    assert short == "https://is.gd.example/AbCd"
    assert seen[-1] == {"format": "simple", "url": LONG}


async def test_unreachable_service_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientError) as info:
        await connectors.shorten(
            LONG, "tinyurl", {"api_url": f"http://127.0.0.1:{port}/api-create.php"}
        )
    assert str(info.value).startswith("shortener unreachable: tinyurl")


async def test_slow_service_times_out_as_unreachable(
    service: tuple[str, list[dict[str, str]]],
) -> None:
    url, _ = service
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TransientError) as info:
        await connectors.shorten(
            f"{LONG}&slow=1", "tinyurl", {"api_url": f"{url}/api-create.php"}, timeout_s=0.3
        )
    assert "unreachable" in str(info.value) and loop.time() - started < 2.0


async def test_refusals_and_bad_answers(service: tuple[str, list[dict[str, str]]]) -> None:
    url, _ = service
    options = {"api_url": f"{url}/api-create.php"}
    with pytest.raises(PermanentError) as refused:
        await connectors.shorten(f"{LONG}&refuse=1", "tinyurl", options)
    assert refused.value.code == "shortener_refused"
    with pytest.raises(TransientError):
        await connectors.shorten(f"{LONG}&busy=1", "tinyurl", options)
    with pytest.raises(PermanentError) as garbage:
        await connectors.shorten(f"{LONG}&garbage=1", "tinyurl", options)
    assert garbage.value.code == "shortener_bad_answer"


async def test_unknown_service_and_bad_timeout() -> None:
    assert {"tinyurl", "isgd", "dagd"} <= set(services())
    with pytest.raises(PermanentError) as info:
        await connectors.shorten(LONG, "nosuch", {})
    assert info.value.code == "unknown_shortener"
    with pytest.raises(ValueError):
        await connectors.shorten(LONG, "tinyurl", {}, timeout_s=0)
