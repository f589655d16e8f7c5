"""A real local web server impersonating product pages and misbehaving shops.

It listens on 127.0.0.1 only; tests that reach it pass `allow_private=True`.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

PAGES = Path(__file__).parent / "pages"
# The body of a page is served as-is; only these get a charset in the Content-Type header.
CONTENT_TYPES = {
    "gb18030_header.html": "text/html; charset=GB18030",
    "xhtml.xhtml": "application/xhtml+xml",
}
BIG_BYTES = 64 * 1024

SEEN = web.AppKey("seen", list)
STOP = web.AppKey("stop", asyncio.Event)


@dataclass
class ShopServer:
    base: str
    port: int
    seen: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


async def _page(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    path = PAGES / name
    if "/" in name or not path.is_file():
        raise web.HTTPNotFound()
    headers = {"Content-Type": CONTENT_TYPES.get(name, "text/html")}
    return web.Response(body=path.read_bytes(), headers=headers)


async def _chain(request: web.Request) -> web.StreamResponse:
    n = int(request.match_info["n"])
    if n == 0:
        raise web.HTTPFound("/pages/og_only.html")
    status = (301, 302, 303, 307, 308)[n % 5]
    # A relative Location: resolved against the URL of this hop.
    return web.Response(status=status, headers={"Location": str(n - 1)})


async def _loop(request: web.Request) -> web.StreamResponse:
    other = "b" if request.match_info["side"] == "a" else "a"
    raise web.HTTPFound(f"/loop/{other}")


async def _to(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(request.query["to"])


async def _no_location(request: web.Request) -> web.StreamResponse:
    return web.Response(status=302)


async def _status(request: web.Request) -> web.StreamResponse:
    return web.Response(status=int(request.match_info["code"]), text="<html>error</html>")


async def _host(request: web.Request) -> web.Response:
    html = f'<html><head><meta property="og:title" content="{request.host}"></head></html>'
    return web.Response(text=html, content_type="text/html")


def _big_html() -> bytes:
    head = b'<html><head><meta property="og:title" content="Big"></head><body>'
    return head + b"x" * BIG_BYTES + b"</body></html>"


async def _big(request: web.Request) -> web.StreamResponse:
    body = _big_html()
    if request.query.get("declared") == "1":
        return web.Response(body=body, content_type="text/html")
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for start in range(0, len(body), 4096):
        await response.write(body[start : start + 4096])
    await response.write_eof()
    return response


async def _gzip(request: web.Request) -> web.Response:
    return web.Response(
        body=gzip.compress(_big_html()),
        headers={"Content-Type": "text/html", "Content-Encoding": "gzip"},
    )


async def _slow_headers(request: web.Request) -> web.Response:
    await request.app[STOP].wait()
    return web.Response(text="<html></html>", content_type="text/html")


async def _slow_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    await response.prepare(request)
    await response.write(b'<html><head><meta property="og:title" content="Slow">')
    await request.app[STOP].wait()
    return response


async def _json(request: web.Request) -> web.Response:
    return web.json_response({"name": "not a page"})


async def _image(request: web.Request) -> web.Response:
    return web.Response(body=b"\x89PNG\r\n\x1a\n", content_type="image/png")


@web.middleware
async def _record(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    request.app[SEEN].append(request.path_qs)
    return await handler(request)


def make_app(seen: list[str]) -> web.Application:
    app = web.Application(middlewares=[_record])
    app[SEEN] = seen
    app[STOP] = asyncio.Event()
    app.router.add_get("/pages/{name}", _page)
    app.router.add_get("/chain/{n}", _chain)
    app.router.add_get("/loop/{side}", _loop)
    app.router.add_get("/to", _to)
    app.router.add_get("/no-location", _no_location)
    app.router.add_get("/status/{code}", _status)
    app.router.add_get("/host", _host)
    app.router.add_get("/big", _big)
    app.router.add_get("/gzip", _gzip)
    app.router.add_get("/slow-headers", _slow_headers)
    app.router.add_get("/slow-body", _slow_body)
    app.router.add_get("/json", _json)
    app.router.add_get("/image", _image)
    return app


@pytest.fixture
async def shop() -> AsyncIterator[ShopServer]:
    seen: list[str] = []
    app = make_app(seen)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield ShopServer(base=f"http://127.0.0.1:{port}", port=port, seen=seen)
    finally:
        app[STOP].set()
        await runner.cleanup()


@dataclass
class Traced:
    session: aiohttp.ClientSession
    requests: list[str]


@pytest.fixture
async def traced() -> AsyncIterator[Traced]:
    """A session that records every request it starts, to prove refusals send nothing."""
    requests: list[str] = []

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        requests.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        yield Traced(session=session, requests=requests)
