"""``decide`` is pure: the same facts give the same single outcome."""

from __future__ import annotations

from typing import Any

from attribution.clicks import Click, Preview
from attribution.edge import (
    GONE,
    MISSING,
    Agent,
    AgentKind,
    Card,
    Redirect,
    ShowCard,
    decide,
    make_entry,
)
from hub.links import is_safe_destination

NOW = 1_700_000_000.0
PERSON, BOT = Agent(AgentKind.PERSON), Agent(AgentKind.BOT)
PREVIEW = Agent(AgentKind.PREVIEW, "mastodon")


def entry(**kw: Any) -> Any:
    args: dict[str, Any] = {
        "link_id": 7,
        "merchant_id": 3,
        "code": "abcDEF23",
        "destination_url": "https://shop.test/p?utm_source=x#top",
        "enabled": True,
        "expires_at": None,
        "click_id_param": "hub_cid",
        "card": Card(title="Mug"),
        "is_safe": is_safe_destination,
        "origins": ["https://shop.test"],
    }
    args.update(kw)
    return make_entry(**args)


def run(e: Any, agent: Agent, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "now": NOW,
        "head": False,
        "visitor_id": None,
        "fresh_id": "v" * 22,
        "click_id": "c" * 22,
        "ip": "10.1.2.0",
        "user_agent": "UA",
        "referrer": None,
    }
    args.update(kw)
    return decide(e, agent, **args)


def test_unknown_disabled_expired() -> None:
    assert run(None, PERSON) is MISSING and run(None, PREVIEW) is MISSING
    assert run(entry(enabled=False), PERSON) is GONE
    assert run(entry(enabled=False), PREVIEW) is GONE
    assert run(entry(expires_at=NOW), PERSON) is GONE
    assert isinstance(run(entry(expires_at=NOW + 1), PERSON), Redirect)


def test_person_gets_a_click_id_and_a_new_visitor() -> None:
    out = run(entry(), PERSON)
    assert out.location == "https://shop.test/p?utm_source=x&hub_cid=" + "c" * 22 + "#top"
    assert out.new_visitor_id == "v" * 22
    assert out.event == Click("c" * 22, 7, 3, "v" * 22, NOW, False, "10.1.2.0", "UA", None)
    again = run(entry(), PERSON, visitor_id="k" * 22)
    assert again.new_visitor_id is None and again.event.visitor_id == "k" * 22
    assert run(entry(), PERSON) == out  # pure


def test_bots_are_redirected_and_stored_as_bots() -> None:
    out = run(entry(), BOT)
    assert isinstance(out, Redirect) and out.new_visitor_id is None
    assert out.event.is_bot and out.event.visitor_id is None


def test_previews_get_the_card_and_are_no_click() -> None:
    out = run(entry(), PREVIEW)
    assert isinstance(out, ShowCard) and out.event == Preview(7, "mastodon", NOW)


def test_wechat_without_cookie_or_referrer_gets_the_card_and_a_cookie() -> None:
    wechat = Agent(AgentKind.MAYBE_PREVIEW, "wechat")
    out = run(entry(), wechat)
    assert isinstance(out, ShowCard) and out.new_visitor_id == "v" * 22
    assert out.event == Preview(7, "wechat", NOW)
    assert isinstance(run(entry(), wechat, visitor_id="k" * 22), Redirect)
    assert isinstance(run(entry(), wechat, referrer="https://mp.weixin.qq.com/"), Redirect)


def test_head_records_nothing() -> None:
    for agent in (PERSON, BOT, PREVIEW):
        assert run(entry(), agent, head=True).event is None
    assert run(entry(), PERSON, head=True).new_visitor_id is None


def test_a_destination_off_the_origins_never_redirects() -> None:
    bad = entry(destination_url="https://evil.test/")
    assert not bad.enabled and bad.location_prefix == ""
    assert run(bad, PERSON) is GONE
    assert run(entry(destination_url="https://evil.test\\@shop.test/"), PERSON) is GONE
    assert run(entry(origins=["https://other.test"]), PERSON) is GONE
