"""The web dashboard at ``/dashboard``: one static page reading the JSON API in the browser.

The page signs in with an API key (kept in the tab's session storage, sent as a bearer token),
so the dashboard adds no session or cookie of its own. Its chart library is vendored in
``static/vendor`` (scripts/vendor-assets.sh), so it works offline.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from hub.web.openapi import operation

__all__ = ["add_dashboard"]

STATIC = Path(__file__).with_name("static")
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@operation("The web dashboard (HTML)", public=True, media={"text/html": "the dashboard page"})
async def page(request: web.Request) -> web.FileResponse:
    """The dashboard page."""
    return web.FileResponse(STATIC / "dashboard.html", headers=_SECURITY_HEADERS)


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect("/dashboard/")


def add_dashboard(app: web.Application) -> None:
    app.router.add_get("/dashboard", _redirect)
    app.router.add_get("/dashboard/", page)
    app.router.add_static("/dashboard/static", STATIC, append_version=False)
