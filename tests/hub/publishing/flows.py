"""The scenarios both profiles must pass (see `scenarios` for the harness)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from connectors.line import quota_resets_at
from tests.hub.publishing.scenarios import Hub, transitions

Flow = Callable[[Hub], Awaitable[None]]


def _when(share_target: dict[str, object], key: str) -> datetime:
    return datetime.fromisoformat(str(share_target[key]))


async def publishes_once_per_channel(hub: Hub) -> None:
    product = await hub.product()
    ids = [await hub.channel("telegram"), await hub.channel("discord")]
    share = await hub.wait((await hub.share(product, ids, at="now"))["id"])
    for target in share["targets"]:
        assert target["state"] == "published", target
        assert target["remote_id"] and target["remote_url"].startswith("https://")
        assert transitions(target) == ["scheduled", "publishing", "published"]
        assert target["link"] is None or target["link"].startswith("http")
    assert len(hub.channels.tg.posts) == 1 and len(hub.channels.dc.posts) == 1
    listed = await hub.call("GET", f"/shares?state=published&channel={ids[0]}")
    assert [s["id"] for s in listed["data"]] == [share["id"]]
    assert (await hub.call("GET", "/shares?state=failed"))["data"] == []


async def policy_defers_to_the_next_allowed_slot(hub: Hub) -> None:
    account = await hub.channel("telegram", policy={"min_gap_s": 3600})
    first = await hub.wait((await hub.share(await hub.product(), [account]))["id"])
    assert first["targets"][0]["state"] == "published"
    second = await hub.share(await hub.product(), [account])
    share = await hub.wait(second["id"], {"deferred"})
    target = share["targets"][0]
    assert target["reason"].startswith("min_gap")
    published_at = _when(first["targets"][0], "published_at")
    assert abs(_when(target, "due_at") - (published_at + timedelta(hours=1))) < timedelta(seconds=2)
    assert target["events"][-1]["details"]["rule"] == "min_gap"
    assert len(hub.channels.tg.posts) == 1
    # Past the share's expiry the target fails instead of waiting.
    soon = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    third = await hub.share(await hub.product(), [account], expires_at=soon)
    expired = (await hub.wait(third["id"], {"failed"}))["targets"][0]
    assert expired["reason"].startswith("expired")


async def same_product_and_near_duplicates_wait(hub: Hub) -> None:
    account = await hub.channel(
        "telegram", policy={"same_product_days": 3, "near_duplicate_bits": 3}
    )
    blurb = "A sturdy stoneware mug for coffee and tea, glazed by hand, dishwasher safe."
    product = await hub.product("Blue stoneware mug", blurb)
    first = await hub.wait((await hub.share(product, [account]))["id"])
    assert first["targets"][0]["state"] == "published"
    again = await hub.wait((await hub.share(product, [account]))["id"], {"deferred"})
    assert again["targets"][0]["reason"].startswith("same_product")
    # Another product whose card reads the same (only its link differs): a near duplicate.
    twin = await hub.product("Blue stoneware mug", blurb)
    copy = await hub.wait((await hub.share(twin, [account]))["id"], {"deferred"})
    assert copy["targets"][0]["reason"].startswith("near_duplicate"), copy["targets"][0]
    other = await hub.share(await hub.product("Red teapot with a bamboo handle"), [account])
    assert (await hub.wait(other["id"]))["targets"][0]["state"] == "published"
    assert len(hub.channels.tg.posts) == 2


async def retry_after_is_honoured(hub: Hub) -> None:
    account = await hub.channel("discord")
    hub.channels.dc.fail_next.append(429)  # retry_after 2.5 s
    started = time.monotonic()
    share = await hub.share(await hub.product(), [account])
    retrying = await hub.wait(share["id"], {"retrying", "published"})
    assert retrying["targets"][0]["state"] == "retrying"
    assert retrying["targets"][0]["reason"].startswith("rate_limited")
    done = await hub.wait(share["id"])
    assert done["targets"][0]["state"] == "published"
    assert time.monotonic() - started >= 2.4
    assert "retrying" in transitions(done["targets"][0])
    assert len(hub.channels.dc.posts) == 1


async def transient_errors_back_off_then_publish(hub: Hub) -> None:
    account = await hub.channel("telegram")
    hub.channels.tg.fail_next.extend([500, 502])
    share = await hub.wait((await hub.share(await hub.product(), [account]))["id"])
    target = share["targets"][0]
    assert target["state"] == "published" and target["attempts"] == 3
    assert transitions(target).count("retrying") == 2
    assert len(hub.channels.tg.posts) == 1


async def permanent_error_fails_with_the_channel_message(hub: Hub) -> None:
    account = await hub.channel("telegram")
    hub.channels.tg.fail_next.append("message_is_too_long")
    share = await hub.wait((await hub.share(await hub.product(), [account]))["id"])
    target = share["targets"][0]
    assert target["state"] == "failed" and "message is too long" in target["reason"]


async def expired_credentials_pause_the_account(hub: Hub) -> None:
    account = await hub.channel("telegram", token="123456:revoked-token")
    first = await hub.share(await hub.product(), [account])
    second = await hub.share(await hub.product(), [account], at=_in(3600))
    held = await hub.wait(first["id"], {"deferred"})
    assert held["targets"][0]["reason"].startswith("paused")
    assert (await hub.call("GET", f"/channels/{account}"))["status"] == "needs_reauth"
    later = await hub.wait(second["id"], {"deferred"})
    assert later["targets"][0]["reason"].startswith("paused")
    assert hub.channels.tg.posts == {}
    # The merchant re-authenticates: the check passes and the held targets resume.
    await hub.call("PATCH", f"/channels/{account}", json={"config": {"token": _valid_token()}})
    assert (await hub.call("POST", f"/channels/{account}/check", json={}))["ok"] is True
    done = await hub.wait(first["id"])
    assert done["targets"][0]["state"] == "published"
    assert (await hub.get(second["id"]))["targets"][0]["state"] == "scheduled"


async def retract_and_cancel(hub: Hub) -> None:
    account = await hub.channel("telegram")
    published = await hub.wait((await hub.share(await hub.product(), [account]))["id"])
    remote_id = published["targets"][0]["remote_id"]
    assert remote_id in hub.channels.tg.posts
    gone = await hub.call("DELETE", f"/shares/{published['id']}")
    assert gone["targets"][0]["state"] == "retracted"
    assert remote_id not in hub.channels.tg.posts and hub.channels.tg.deleted == [remote_id]
    later = await hub.share(await hub.product(), [account], at=_in(3600))
    cancelled = await hub.call("DELETE", f"/shares/{later['id']}")
    assert cancelled["targets"][0]["state"] == "cancelled"
    assert len(hub.channels.tg.requests) == 2  # one post, one delete


async def reschedule_brings_a_share_forward(hub: Hub) -> None:
    account = await hub.channel("discord")
    share = await hub.share(await hub.product(), [account], at=_in(86_400))
    await asyncio.sleep(1.5)
    assert (await hub.get(share["id"]))["targets"][0]["state"] == "scheduled"
    moved = await hub.call("PATCH", f"/shares/{share['id']}", json={"at": _in(1)})
    assert "rescheduled" in [e["reason"] for e in moved["targets"][0]["events"]]
    done = await hub.wait(share["id"])
    assert done["targets"][0]["state"] == "published"


async def outcome_unknown_waits_for_the_merchant(hub: Hub) -> None:
    account = await hub.channel("telegram", read_timeout_s=0.5)
    hub.channels.slow_after_post_s["telegram"] = 2.0
    share = await hub.wait((await hub.share(await hub.product(), [account]))["id"])
    target = share["targets"][0]
    assert target["state"] == "unknown" and "confirm" in target["reason"]
    assert len(hub.channels.tg.posts) == 1  # it did get through; we must not resend
    await asyncio.sleep(1.5)
    assert len(hub.channels.tg.posts) == 1
    path = f"/shares/{share['id']}/targets/{target['id']}/confirm"
    confirmed = await hub.call(
        "POST", path, json={"published": True, "remote_url": "https://t.me/c/1/2"}
    )
    assert confirmed["targets"][0]["state"] == "published"
    await hub.call("POST", path, 409, json={"published": True})


async def webhook_timeout_resends_with_the_same_key(hub: Hub) -> None:
    account = await hub.channel("webhook", read_timeout_s=0.5)
    hub.channels.slow_after_post_s["webhook"] = 2.0
    share = await hub.wait((await hub.share(await hub.product(), [account]))["id"])
    target = share["targets"][0]
    assert target["state"] == "published", target
    assert "retrying" in transitions(target)
    assert len(hub.channels.wh.posts) == 1
    sent = [r for r in hub.channels.wh.requests if r.method == "POST"]
    assert len(sent) >= 2 and len({r.headers["webhook-id"] for r in sent}) == 1


async def shared_rate_limit_spaces_calls(hub: Hub) -> None:
    account = await hub.channel(
        "discord", policy={"rate_count": 2, "rate_window_s": 1.0, "rate_burst": 1}
    )
    shares = [await hub.share(await hub.product(), [account]) for _ in range(6)]
    done = [(await hub.wait(s["id"], timeout_s=40))["targets"][0] for s in shares]
    assert all(t["state"] == "published" for t in done)
    assert len(hub.channels.dc.posts) == 6
    times = sorted(_when(t, "published_at") for t in done)
    # 2 per second in bursts of 1, whichever worker sent it: calls 0.5 s apart, so no three
    # within a second (0.8 s leaves room for the time between a call and its recording).
    spans = [(c - a).total_seconds() for a, c in zip(times, times[2:], strict=False)]
    assert min(spans) >= 0.8, spans
    assert (times[-1] - times[0]).total_seconds() >= 2.2


async def line_monthly_limit_holds_the_account_until_the_month_ends(hub: Hub) -> None:
    account = await hub.channel("line")
    soon = await hub.share(await hub.product(), [account], at=_in(60))
    hub.channels.line_quota.limit = 1
    hub.channels.line_quota.exhaust()
    share = await hub.share(await hub.product(), [account])
    held = (await hub.wait(share["id"], {"deferred"}))["targets"][0]
    resets = quota_resets_at(datetime.now(UTC))
    why = f"quota: LINE monthly message limit reached; resumes {resets:%Y-%m-%d %H:%M} JST"
    assert held["reason"] == why
    assert abs(_when(held, "due_at") - resets) < timedelta(seconds=5)
    assert held["events"][-1]["details"]["resumes_at"]
    # Not a broken account: it stays active, nothing failed, nobody has to fix it.
    assert (await hub.call("GET", f"/channels/{account}"))["status"] == "active"
    # Its other waiting targets wait for the reset too, without calling LINE again.
    other = (await hub.get(soon["id"]))["targets"][0]
    assert other["state"] == "deferred" and other["reason"] == why
    assert abs(_when(other, "due_at") - resets) < timedelta(seconds=5)
    pushes = len(hub.channels.line.requests)
    later = await hub.share(await hub.product(), [account])
    waiting = (await hub.wait(later["id"], {"deferred"}))["targets"][0]
    assert waiting["reason"] == why
    due = _when(waiting, "due_at")
    assert resets - timedelta(seconds=5) <= due <= resets + timedelta(seconds=65)
    await asyncio.sleep(1.0)
    assert len(hub.channels.line.requests) == pushes and hub.channels.line.posts == {}


async def line_quota_resumes_by_itself_when_the_month_turns(hub: Hub) -> None:
    account = await hub.channel("line")
    quota = hub.channels.line_quota
    boundary = quota_resets_at(datetime.now(UTC))
    # LINE's clock (its Date header) reads 6 s before its month ends; this month is used up.
    quota.clock_offset_s = (boundary - datetime.now(UTC)).total_seconds() - 6.0
    quota.limit = 1
    quota.exhaust()
    resumes = boundary - timedelta(seconds=quota.clock_offset_s)  # on our clock
    share = await hub.share(await hub.product(), [account])
    held = (await hub.wait(share["id"], {"deferred", "published"}))["targets"][0]
    assert held["state"] == "deferred", held
    assert held["reason"] == (
        f"quota: LINE monthly message limit reached; resumes {boundary:%Y-%m-%d %H:%M} JST"
    )
    assert abs(_when(held, "due_at") - resumes) < timedelta(seconds=2)
    assert (await hub.call("GET", f"/channels/{account}"))["status"] == "active"
    assert hub.channels.line.posts == {}
    done = (await hub.wait(share["id"], timeout_s=40))["targets"][0]
    assert done["state"] == "published", done
    assert _when(done, "published_at") >= resumes - timedelta(seconds=1)
    assert transitions(done)[-3:] == ["deferred", "publishing", "published"]
    assert len(hub.channels.line.posts) == 1 and quota.used[quota.month()] == 1


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def _valid_token() -> str:
    from tests.contract import telegram

    return telegram.TOKEN


FLOWS: dict[str, Flow] = {
    f.__name__: f
    for f in (
        publishes_once_per_channel,
        policy_defers_to_the_next_allowed_slot,
        same_product_and_near_duplicates_wait,
        retry_after_is_honoured,
        transient_errors_back_off_then_publish,
        permanent_error_fails_with_the_channel_message,
        expired_credentials_pause_the_account,
        retract_and_cancel,
        reschedule_brings_a_share_forward,
        outcome_unknown_waits_for_the_merchant,
        webhook_timeout_resends_with_the_same_key,
        shared_rate_limit_spaces_calls,
        line_monthly_limit_holds_the_account_until_the_month_ends,
        line_quota_resumes_by_itself_when_the_month_turns,
    )
}
