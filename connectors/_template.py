"""Merchant-overridable post templates and the composer that keeps a post within its limit.

A template is plain text with ``$name`` / ``${name}`` placeholders (``string.Template`` syntax;
``$$`` is a literal dollar). Only the names in `FIELDS` exist, so a template can read nothing but
the card. Literal text and values are escaped for the channel's dialect; the dialect decides
how a title is emphasised and how the link is written. A template without ``$link`` gets the
link on its own last line: the tracked link is always present and never shortened.

When the post is too long, `compose` shortens the description, then the title, then drops the
tags, each at word or grapheme boundaries (see `connectors._text.fit`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from string import Template

from connectors._price import format_price
from connectors._text import (
    escape_html,
    escape_markdown,
    escape_markdown_v2,
    escape_slack,
    escape_telegram_html,
    fit,
)
from connectors.card import Card
from connectors.errors import PermanentError
from connectors.limits import Markup

__all__ = ["FIELDS", "Composed", "Dialect", "card_fields", "compose", "dialect_for", "parse"]

FIELDS = ("title", "description", "price", "tags", "link", "product_url")
_SHRINK_ORDER = ("description", "title", "tags")
_BLANK_LINES = re.compile(r"\n{3,}")
_TAG_CHARS = re.compile(r"[^\w]+", re.UNICODE)

Segment = tuple[bool, str]  # (is_field, literal text or field name)


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one markup dialect escapes text, emphasises a title and writes a link."""

    escape: Callable[[str], str]
    bold: Callable[[str], str]
    link: Callable[[str], str]


def _same(text: str) -> str:
    return text


_DIALECTS: dict[Markup, Dialect] = {
    Markup.PLAIN: Dialect(_same, _same, _same),
    Markup.JSON: Dialect(_same, _same, _same),
    Markup.TELEGRAM_HTML: Dialect(
        escape_telegram_html, lambda s: f"<b>{s}</b>", escape_telegram_html
    ),
    Markup.MARKDOWN_V2: Dialect(escape_markdown_v2, lambda s: f"*{s}*", escape_markdown_v2),
    Markup.SLACK_MRKDWN: Dialect(escape_slack, lambda s: f"*{s}*", lambda u: f"<{u}>"),
    Markup.MATRIX_HTML: Dialect(
        escape_html,
        lambda s: f"<strong>{s}</strong>",
        lambda u: f'<a href="{escape_html(u)}">{escape_html(u)}</a>',
    ),
    Markup.MARKDOWN: Dialect(escape_markdown, lambda s: f"**{s}**", _same),
}


def dialect_for(markup: Markup) -> Dialect:
    return _DIALECTS[markup]


@dataclass(frozen=True, slots=True)
class Composed:
    """A composed text twice: as plain text and in the channel's markup."""

    plain: str
    marked: str


def parse(template: str) -> tuple[Segment, ...]:
    """Split a template into literal and field segments; raise ValueError on unknown names
    or malformed placeholders."""
    segments: list[Segment] = []
    last = 0
    for match in Template.pattern.finditer(template):
        if match.start() > last:
            segments.append((False, template[last : match.start()]))
        last = match.end()
        if match.group("escaped") is not None:
            segments.append((False, "$"))
            continue
        name = match.group("named") or match.group("braced")
        if name is None:
            raise ValueError(f"malformed placeholder at position {match.start()} in template")
        if name not in FIELDS:
            raise ValueError(f"unknown template field ${name}; known: {', '.join(FIELDS)}")
        segments.append((True, name))
    if last < len(template):
        segments.append((False, template[last:]))
    if not any(is_field and name == "link" for is_field, name in segments):
        segments.append((False, "\n"))
        segments.append((True, "link"))
    return tuple(segments)


def _tag(tag: str) -> str:
    cleaned = _TAG_CHARS.sub("", tag)
    return f"#{cleaned}" if cleaned else ""


def card_fields(card: Card, link: str) -> dict[str, str]:
    """The template values of a card (price formatted for its currency and locale)."""
    price = ""
    if card.price is not None and card.currency is not None:
        price = format_price(card.price, card.currency, card.locale)
    tags = " ".join(t for t in (_tag(tag) for tag in card.tags) if t)
    return {
        "title": card.title.strip(),
        "description": card.description.strip(),
        "price": price,
        "tags": tags,
        "link": link,
        "product_url": card.product_url,
    }


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _build(segments: tuple[Segment, ...], values: Mapping[str, str], dialect: Dialect) -> Composed:
    plain: list[str] = []
    marked: list[str] = []
    for is_field, text in segments:
        if not is_field:
            plain.append(text)
            marked.append(dialect.escape(text))
            continue
        value = values[text]
        plain.append(value)
        if not value:
            continue
        if text == "title":
            marked.append(dialect.bold(dialect.escape(value)))
        elif text in ("link", "product_url"):
            marked.append(dialect.link(value))
        else:
            marked.append(dialect.escape(value))
    return Composed(_tidy("".join(plain)), _tidy("".join(marked)))


def compose(
    template: str,
    values: Mapping[str, str],
    *,
    dialect: Dialect,
    budget: int,
    count: Callable[[Composed], int],
) -> Composed:
    """Fill `template` with `values` so that ``count(result) <= budget``.

    `count` measures a composition the way the channel does (on `plain` when it counts after
    parsing markup, on `marked` when it counts what was typed). Raises PermanentError
    ``text_too_long`` when even the link and the template's literal text do not fit.
    """
    segments = parse(template)
    current = dict(values)
    result = _build(segments, current, dialect)
    for name in _SHRINK_ORDER:
        if count(result) <= budget:
            return result
        original = current[name]

        def measure_with(value: str, name: str = name) -> int:
            return count(_build(segments, {**current, name: value}, dialect))

        if name == "tags":
            current[name] = ""
        else:
            current[name] = fit(original, budget, measure_with)
        result = _build(segments, current, dialect)
    if count(result) > budget:
        raise PermanentError("text_too_long", "the link and the template text exceed the limit")
    return result
