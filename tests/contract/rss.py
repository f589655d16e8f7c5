"""The feed side of the rss pull channel: what a feed reader accepts.

RSS/Atom has no remote API to imitate; the contract is the feed format. `parse_atom` and
`parse_rss` read a feed back with defusedxml and assert what RFC 4287 (Atom 1.0) and the RSS 2.0
specification require (ids, titles, RFC 3339 / RFC 822 dates, links, enclosures), returning the
entries as plain dicts. `create_app(state)` stands in for the hub route that will serve
``/feeds/{token}.xml``: it builds the feed from the `FeedEntry` values a test puts in
``state.posts`` (``?format=rss`` for RSS 2.0), so a real reader (feedparser) can fetch it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from xml.etree.ElementTree import Element

from aiohttp import web
from defusedxml.ElementTree import fromstring

from connectors import RenderedPost
from connectors.rss import FeedEntry, FeedMeta, build_feed
from tests.contract._server import STATE, ContractState, make_app

ATOM = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"
TOKEN = "feedtok_abc123"
META = FeedMeta(
    feed_id="tag:hub.example,2024:feeds/m1",
    title="Blue Mug Shop <deals> & more",
    link="https://shop.example/",
    self_url=f"https://hub.example/feeds/{TOKEN}.xml",
    subtitle="New products",
    language="de",
    author="Blue Mug Shop",
)

ERROR_REPLIES: dict[int | str, Callable[[], web.Response]] = {
    # publish refuses a post it cannot list; as served, the feed would fail to build
    "invalid_entry": lambda: web.Response(status=500, text="feed could not be built"),
}


def _text(element: Element, tag: str) -> str:
    found = element.find(tag)
    assert found is not None, f"missing {tag}"
    return found.text or ""


def _rfc3339(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def parse_atom(data: bytes) -> dict[str, Any]:
    root = fromstring(data)
    assert root.tag == f"{ATOM}feed"
    feed = {
        "id": _text(root, f"{ATOM}id"),
        "title": _text(root, f"{ATOM}title"),
        "updated": _rfc3339(_text(root, f"{ATOM}updated")),
        "links": {ln.get("rel", "alternate"): ln.get("href") for ln in root.findall(f"{ATOM}link")},
        "entries": [],
    }
    assert feed["id"] and "self" in feed["links"]
    for item in root.findall(f"{ATOM}entry"):
        links = item.findall(f"{ATOM}link")
        alternate = [ln.get("href") for ln in links if ln.get("rel", "alternate") == "alternate"]
        assert len(alternate) == 1, "one alternate link per entry"
        content = item.find(f"{ATOM}content")
        media = next(item.iter(f"{MEDIA}content"), None)  # inside <media:group>
        feed["entries"].append(
            {
                "id": _text(item, f"{ATOM}id"),
                "title": _text(item, f"{ATOM}title"),
                "updated": _rfc3339(_text(item, f"{ATOM}updated")),
                "published": _rfc3339(_text(item, f"{ATOM}published")),
                "link": alternate[0],
                "summary": _text(item, f"{ATOM}summary"),
                "content": content.text if content is not None else None,
                "content_type": content.get("type") if content is not None else None,
                "enclosures": [
                    (ln.get("href"), ln.get("type")) for ln in links if ln.get("rel") == "enclosure"
                ],
                "media": media.get("url") if media is not None else None,
                "categories": [c.get("term") for c in item.findall(f"{ATOM}category")],
            }
        )
    return feed


def parse_rss(data: bytes) -> dict[str, Any]:
    root = fromstring(data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    feed = {
        "title": _text(channel, "title"),
        "link": _text(channel, "link"),
        "description": _text(channel, "description"),
        "entries": [],
    }
    for item in channel.findall("item"):
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false"
        enclosure = item.find("enclosure")
        if enclosure is not None:
            assert enclosure.get("url") and enclosure.get("type") and enclosure.get("length")
        feed["entries"].append(
            {
                "id": guid.text,
                "title": _text(item, "title"),
                "link": _text(item, "link"),
                "description": _text(item, "description"),
                "published": parsedate_to_datetime(_text(item, "pubDate")),
                "enclosure": enclosure.get("url") if enclosure is not None else None,
            }
        )
    return feed


def check_post(post: RenderedPost) -> str:
    """The conformance check: list the post in a feed, read it back, return its summary."""
    entry = FeedEntry.from_post(
        post, entry_id="urn:uuid:00000000-0000-4000-8000-000000000000", published=datetime.now(UTC)
    )
    parsed = parse_atom(build_feed(META, [entry]))
    (read,) = parsed["entries"]
    assert read["link"] == post.link
    assert read["content"] == entry.html  # escaped in the XML, intact once parsed
    rss_read = parse_rss(build_feed(META, [entry], fmt="rss"))["entries"][0]
    assert rss_read["link"] == post.link
    return str(read["summary"])


async def _feed(request: web.Request) -> web.Response:
    state: ContractState = request.app[STATE]
    if request.match_info["token"] != TOKEN:
        raise web.HTTPNotFound()
    entries = [e for e in state.posts.values() if isinstance(e, FeedEntry)]
    fmt = "rss" if request.query.get("format") == "rss" else "atom"
    body = build_feed(META, entries, fmt=fmt)
    content_type = "application/atom+xml" if fmt == "atom" else "application/rss+xml"
    return web.Response(body=body, content_type=content_type, charset="utf-8")


def create_app(state: ContractState) -> web.Application:
    app = make_app(state, ERROR_REPLIES)
    app.router.add_get("/feeds/{token}.xml", _feed)
    return app
