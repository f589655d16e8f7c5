"""The rss pull channel: stable entry ids without network calls, and valid Atom / RSS 2.0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import feedparser
import pytest

import connectors
from connectors.rss import FeedEntry, build_feed
from tests.connectors.conftest import LINK, make_card
from tests.contract import rss
from tests.contract._server import ContractState, serve

KIND = "rss"
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _entry(title: str, link: str, published: datetime, **card: object) -> FeedEntry:
    connector = connectors.get(KIND)
    post = connector.render(make_card(title=title, **card), link)
    return FeedEntry.from_post(
        post, entry_id=f"urn:uuid:{abs(hash(link)):032x}", published=published
    )


async def test_publish_makes_no_call_and_gives_a_stable_id() -> None:
    connector = connectors.get(KIND)
    post = connector.render(make_card(), LINK)
    closed = aiohttp.ClientSession()
    await closed.close()  # any network use would fail
    config = connector.parse_config({})
    first = await connector.publish(post, config, closed, idempotency_key="share-7.account-3")
    again = await connector.publish(post, config, closed, idempotency_key="share-7.account-3")
    other = await connector.publish(post, config, closed, idempotency_key="share-8.account-3")
    assert first == again and first.remote_id.startswith("urn:uuid:")
    assert other.remote_id != first.remote_id and first.remote_url == LINK
    keyless = await connector.publish(post, config, closed)
    assert keyless == await connector.publish(post, config, closed)  # derived from the link
    tagged = connector.parse_config({"tag_authority": "shop.example", "tag_date": "2026-01"})
    result = await connector.publish(post, tagged, closed, idempotency_key="k")
    assert result.remote_id.startswith("tag:shop.example,2026-01:share/")
    await connector.delete(result.remote_id, tagged, closed)  # the hub stops listing it
    await connector.check_credentials(tagged, closed)


async def test_publish_refuses_a_foreign_post() -> None:
    post = connectors.get("telegram").render(make_card(), LINK)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(connectors.PermanentError) as info:
            await connectors.get(KIND).publish(post, connectors.get(KIND).parse_config({}), session)
    assert info.value.code == "invalid_entry"


def test_atom_feed_is_valid_escaped_and_newest_first() -> None:
    old = _entry(
        "Old <mug> & \x00co", "https://go.example/a1", T0, description="Tea <b>x</b> & more"
    )
    new = _entry(
        "New 青い mug",
        "https://go.example/b2?x=1&y=2",
        T0 + timedelta(days=1),
        image_url="https://cdn.example/mug.png",
    )
    feed = rss.parse_atom(build_feed(rss.META, [old, new]))
    assert feed["title"] == "Blue Mug Shop <deals> & more"
    assert feed["links"]["self"] == rss.META.self_url
    assert feed["updated"] == T0 + timedelta(days=1)
    first, second = feed["entries"]
    assert first["title"] == "New 青い mug" and second["title"] == "Old <mug> & co"
    assert first["link"] == "https://go.example/b2?x=1&y=2"
    assert first["published"] == first["updated"] == T0 + timedelta(days=1)
    assert first["enclosures"] == [("https://cdn.example/mug.png", "image/png")]
    assert first["media"] == "https://cdn.example/mug.png"
    assert first["content_type"] == "html" and first["content"] == new.html
    assert '<img src="https://cdn.example/mug.png"' in first["content"]
    assert "Tea &lt;b&gt;x&lt;/b&gt; &amp; more" in second["content"]
    assert first["categories"] == ["kitchen", "gift idea"]
    assert not second["enclosures"] and second["media"] is None


def test_rss_feed_is_valid() -> None:
    entry = _entry("Mug", LINK, T0, image_url="https://cdn.example/mug.jpg")
    feed = rss.parse_rss(build_feed(rss.META, [entry], fmt="rss"))
    assert feed["link"] == rss.META.link and feed["description"] == rss.META.subtitle
    (item,) = feed["entries"]
    assert item["id"] == entry.entry_id and item["link"] == LINK
    assert item["published"] == T0 and item["enclosure"] == "https://cdn.example/mug.jpg"


def test_dates_must_be_aware_and_empty_feeds_are_valid() -> None:
    naive = _entry("Mug", LINK, T0.replace(tzinfo=None))
    with pytest.raises(ValueError):
        build_feed(rss.META, [naive])
    assert rss.parse_atom(build_feed(rss.META, []))["entries"] == []


async def test_a_feed_reader_reads_the_served_feed() -> None:
    state = ContractState()
    entry = _entry("Mug & <cup>", LINK, T0, image_url="https://cdn.example/mug.jpg")
    state.posts[entry.entry_id] = entry  # type: ignore[assignment]
    async with serve(rss.create_app(state)) as url, aiohttp.ClientSession() as session:
        for fmt in ("atom", "rss"):
            async with session.get(f"{url}/feeds/{rss.TOKEN}.xml?format={fmt}") as response:
                assert response.status == 200
                body = await response.read()
            parsed = feedparser.parse(body)
            assert not parsed.bozo, parsed.get("bozo_exception")
            (item,) = parsed.entries
            assert item.title == "Mug & <cup>" and item.link == LINK
            assert item.id == entry.entry_id
            assert item.published_parsed[:5] == (2026, 3, 1, 9, 30)
            assert [e.href for e in item.enclosures] == ["https://cdn.example/mug.jpg"]
