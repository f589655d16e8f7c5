"""Property tests: for any card, every connector's post fits the channel's limit as the channel
counts it (checked by the contract's own validator), and the tracked link is intact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connectors
from connectors import Card
from connectors._text import ELLIPSIS, fit, graphemes, measure
from tests.connectors.conftest import CASES

CHUNKS = [
    "mug",
    "Tasse",
    " ",
    "\n",
    "青い",
    "マグカップ",
    "한국어",
    "中文字符",
    "👩‍👩‍👧‍👦",
    "🇯🇵",
    "👍🏽",
    "❤️‍🔥",
    "שלום",
    "مرحبا",
    "\u200f",
    "e\u0301",
    "ạ̀",
    "&amp;",
    "&",
    "<b>",
    "</b>",
    "<",
    ">",
    "*",
    "_",
    "~",
    "`",
    "|",
    "[",
    "]",
    "(",
    ")",
    "#",
    "\\",
    ".",
    "!",
    "-",
    "$",
    "${title}",
    '"',
    "'",
    "https://evil.example/x?a=1&b=2",
]
texts = st.builds(
    lambda parts, repeat: "".join(parts) * repeat,
    st.lists(st.one_of(st.sampled_from(CHUNKS), st.text(max_size=8)), max_size=40),
    st.integers(min_value=1, max_value=300),
)
titles = texts.filter(lambda t: bool(t.strip()))
links = st.sampled_from(
    [
        "https://go.example/a1",
        "https://go.example/abc123?c=tg&utm_source=x&cid=Z_9-8.7",
        "http://127.0.0.1:8080/Xy_z-9?q=a%20b",
    ]
)


@st.composite
def cards(draw: st.DrawFn) -> Card:
    priced = draw(st.booleans())
    return Card(
        title=draw(titles),
        description=draw(texts),
        product_url="https://shop.example/p/1",
        price=draw(st.decimals(min_value=0, max_value=Decimal("99999999"), places=2))
        if priced
        else None,
        currency=draw(st.sampled_from(["EUR", "USD", "JPY", "CNY"])) if priced else None,
        image_url=draw(st.sampled_from([None, "https://cdn.example/i.jpg"])),
        tags=tuple(draw(st.lists(texts.map(lambda t: t[:30]), max_size=5))),
        locale=draw(st.sampled_from(["en", "de_DE", "ja_JP", "ar_EG", "he", "zh_Hans_CN", "xx"])),
    )


@pytest.mark.parametrize("kind", connectors.kinds())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(card=cards(), link=links)
def test_post_fits_and_keeps_link(kind: str, card: Card, link: str) -> None:
    connector = connectors.get(kind)
    post = connector.render(card, link)
    limits = connector.limits
    assert measure(post.text, limits.text_unit, limits.url_length) <= post.text_limit
    seen = CASES[kind].check(post)  # the channel's own parse and count
    assert link in seen
    assert link in post.text or f"<{link}>" in post.text


@settings(max_examples=300, deadline=None)
@given(text=texts, budget=st.integers(min_value=1, max_value=400))
def test_fit_cuts_only_between_graphemes(text: str, budget: int) -> None:
    out = fit(text, budget, len)
    assert len(out) <= budget
    if out == text:
        return
    kept = out.removesuffix(ELLIPSIS)
    assert out.endswith(ELLIPSIS) or out == ""
    assert text.startswith(kept)
    clusters = graphemes(kept)
    assert clusters == graphemes(text)[: len(clusters)]  # no cluster was split
