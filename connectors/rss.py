"""RSS/Atom: a pull channel. The hub serves one feed per merchant at ``/feeds/{token}.xml``;
readers fetch it. Publishing a card adds an entry to that feed, so `publish` makes no network
call: it returns the entry's stable id, and the hub lists published entries through
`build_feed`.

- `render` makes the entry (title, plain summary, escaped HTML content, the tracked link as the
  entry link, the product image as enclosure and ``media:content``).
- `publish` returns the entry id: ``urn:uuid:<uuid5>`` of the share target's idempotency key
  (of the tracked link when no key is given, which is unique per share target too), or a
  ``tag:`` URI (RFC 4151) when the account names a tagging authority. The same key always
  gives the same id, so a retried publish never lists an entry twice.
- `delete` succeeds: the hub stops listing the entry (readers that already fetched it keep it).
- `build_feed(meta, entries, fmt="atom" | "rss")` is pure and returns UTF-8 XML: Atom 1.0
  (RFC 4287) by default or RSS 2.0, produced by feedgen (lxml escapes every value). Entries
  come newest first; the feed's ``updated`` is the newest entry's.

The hub route is expected to call ``build_feed(FeedMeta(...), [FeedEntry.from_post(post,
entry_id=target.remote_id, published=target.published_at) ...])`` for the merchant's published
rss targets, re-rendering each (render is pure and deterministic).
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
from feedgen.ext.base import BaseEntryExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem
from pydantic import Field

from connectors._template import card_fields, compose, dialect_for
from connectors._text import escape_html, fit, measure
from connectors.base import Connector, ConnectorConfig
from connectors.card import Card, PublishResult, RenderedPost
from connectors.errors import ErrorKind, PermanentError
from connectors.limits import ChannelLimits, Markup, TextUnit
from connectors.registry import register

__all__ = ["ERRORS", "FeedEntry", "FeedMeta", "RssConfig", "RssConnector", "build_feed"]

# No remote calls, so no remote errors: publish only refuses posts it cannot list.
ERRORS: Mapping[int | str, ErrorKind] = {
    "invalid_entry": ErrorKind.PERMANENT,
}
_MAX_TEXT = 10_000
_MAX_TITLE = 300
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_NAMESPACE = uuid.UUID("0b6f3b1e-44f5-4a47-8d0a-8c3c1f4f6e2d")  # entry ids of this hub


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (escaping is the generator's job)."""
    return _NOT_XML.sub("", text)


class RssConfig(ConnectorConfig):
    """Optional ``tag:`` URI entry ids: ``tag:<tag_authority>,<tag_date>:share/<uuid>``."""

    tag_authority: str | None = Field(default=None, pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$")
    tag_date: str = Field(default="2024", pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass(frozen=True, slots=True)
class FeedMeta:
    """The feed itself: `feed_id` (a stable URI), `title`, `link` (the storefront), `self_url`
    (where the feed is served), and optional subtitle, language and author."""

    feed_id: str
    title: str
    link: str
    self_url: str
    subtitle: str = ""
    language: str = "en"
    author: str | None = None


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One listed post. `published`/`updated` are aware datetimes."""

    entry_id: str
    title: str
    link: str
    summary: str
    html: str
    published: datetime
    updated: datetime | None = None
    image_url: str | None = None
    categories: tuple[str, ...] = ()

    @classmethod
    def from_post(
        cls,
        post: RenderedPost,
        *,
        entry_id: str,
        published: datetime,
        updated: datetime | None = None,
    ) -> FeedEntry:
        payload = post.payload
        return cls(
            entry_id=entry_id,
            title=str(payload["title"]),
            link=post.link,
            summary=str(payload["summary"]),
            html=str(payload["html"]),
            published=published,
            updated=updated,
            image_url=post.image_url,
            categories=tuple(str(c) for c in payload.get("categories", ())),
        )


class _AtomEnclosure(BaseEntryExtension):  # type: ignore[misc]
    """Writes ``<link rel="enclosure" type length>``: feedgen 1.0 drops the attributes of an
    Atom entry's links (it reads them from the new element, not from its data)."""

    def __init__(self) -> None:
        self.url: str | None = None

    def extend_atom(self, entry: Any) -> Any:
        if self.url is not None:
            xml_elem("link", entry, href=self.url, rel="enclosure", type=_image_type(self.url))
            entry[-1].set("length", "0")
        return entry


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("feed dates must be timezone-aware")
    return value.astimezone(UTC)


def _image_type(url: str) -> str:
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def build_feed(
    meta: FeedMeta, entries: Iterable[FeedEntry], *, fmt: Literal["atom", "rss"] = "atom"
) -> bytes:
    """The feed as UTF-8 XML: Atom 1.0 (default) or RSS 2.0, newest entry first."""
    ordered = sorted(entries, key=lambda e: (_aware(e.published), e.entry_id), reverse=True)
    generator = FeedGenerator()
    generator.load_extension("media", atom=True, rss=True)
    generator.id(xml_safe(meta.feed_id))
    generator.title(xml_safe(meta.title) or meta.link)
    generator.link(href=meta.self_url, rel="self")
    generator.link(href=meta.link, rel="alternate")  # last: RSS's <link> is the last one
    generator.description(xml_safe(meta.subtitle) or xml_safe(meta.title) or meta.link)
    if meta.subtitle:
        generator.subtitle(xml_safe(meta.subtitle))
    generator.language(meta.language)
    if meta.author:
        generator.author({"name": xml_safe(meta.author)})
    generator.generator("hub")
    newest = max(
        (_aware(e.updated or e.published) for e in ordered),
        default=datetime(1970, 1, 1, tzinfo=UTC),
    )
    generator.updated(newest)
    generator.lastBuildDate(newest)
    for entry in reversed(ordered):  # feedgen prepends: add oldest first
        item = generator.add_entry()
        item.id(xml_safe(entry.entry_id))
        item.guid(xml_safe(entry.entry_id), permalink=False)
        item.title(xml_safe(entry.title) or entry.link)
        item.link(href=entry.link, rel="alternate")
        item.summary(xml_safe(entry.summary))
        item.content(xml_safe(entry.html), type="html")
        item.published(_aware(entry.published))
        item.updated(_aware(entry.updated or entry.published))
        for category in entry.categories:
            if xml_safe(category).strip():
                item.category(term=xml_safe(category))
        if entry.image_url is not None:
            if fmt == "atom":
                item.register_extension("hub_enclosure", _AtomEnclosure, atom=True, rss=False)
                item.hub_enclosure.url = entry.image_url
            else:
                item.enclosure(url=entry.image_url, length=0, type=_image_type(entry.image_url))
            item.media.content(url=entry.image_url, medium="image")
    text = generator.atom_str(pretty=True) if fmt == "atom" else generator.rss_str(pretty=True)
    return bytes(text)


def _html(marked: str, card: Card, link: str) -> str:
    image = ""
    if card.image_url is not None:
        image = (
            f'<p><a href="{escape_html(link)}"><img src="{escape_html(card.image_url)}" '
            f'alt="{escape_html(card.title)}"></a></p>'
        )
    return image + "<p>" + marked.replace("\n", "<br>\n") + "</p>"


@register
class RssConnector(Connector[RssConfig]):
    kind = "rss"
    limits = ChannelLimits(
        max_text=_MAX_TEXT,
        text_unit=TextUnit.CHARS,
        markup=Markup.PLAIN,  # the summary; the content is HTML escaped from the same text
        max_media=1,
        media_types=("image/jpeg", "image/png", "image/gif", "image/webp"),
        has_idempotency_key=True,  # the entry id is derived from it
        can_delete=True,
        base_url="https://localhost",  # nothing is called: readers pull the hub's feed
    )
    config_model = RssConfig
    errors = ERRORS
    default_template = "$description\n\n$price\n$tags\n$link"

    def render(self, card: Card, link: str, template: str | None = None) -> RenderedPost:
        clean_card = Card(
            title=xml_safe(card.title) if xml_safe(card.title).strip() else "-",
            description=xml_safe(card.description),
            product_url=card.product_url,
            price=card.price,
            currency=card.currency,
            image_url=card.image_url,
            tags=tuple(xml_safe(tag) for tag in card.tags),
            locale=card.locale,
        )
        composed = compose(
            template if template is not None else self.default_template,
            card_fields(clean_card, link),
            dialect=dialect_for(Markup.MATRIX_HTML),
            budget=_MAX_TEXT,
            count=lambda c: measure(c.plain, TextUnit.CHARS),
        )
        payload = {
            "title": fit(" ".join(clean_card.title.split()), _MAX_TITLE, len),
            "summary": composed.plain,
            "html": _html(composed.marked, clean_card, link),
            "categories": [t for t in clean_card.tags if t.strip()],
        }
        return RenderedPost(
            kind=self.kind,
            payload=payload,
            text=composed.plain,
            text_limit=_MAX_TEXT,
            link=link,
            image_url=card.image_url,
        )

    def entry_id(self, config: RssConfig, key: str) -> str:
        """The stable id of the entry published under `key`."""
        value = uuid.uuid5(_NAMESPACE, key)
        if config.tag_authority is None:
            return f"urn:uuid:{value}"
        return f"tag:{config.tag_authority},{config.tag_date}:share/{value}"

    async def publish(
        self,
        post: RenderedPost,
        config: RssConfig,
        session: aiohttp.ClientSession,
        *,
        idempotency_key: str | None = None,
    ) -> PublishResult:
        payload: Mapping[str, Any] = post.payload
        if post.kind != self.kind or not {"title", "summary", "html"} <= set(payload):
            raise PermanentError("invalid_entry", "not a post rendered by the rss connector")
        entry_id = self.entry_id(config, idempotency_key or post.link)
        return PublishResult(self.kind, entry_id, post.link, {"entry_id": entry_id})

    async def delete(
        self, remote_id: str, config: RssConfig, session: aiohttp.ClientSession
    ) -> None:
        """Nothing to call: the hub stops listing the entry with id `remote_id`."""

    async def check_credentials(self, config: RssConfig, session: aiohttp.ClientSession) -> None:
        """A feed has no credentials to check."""
