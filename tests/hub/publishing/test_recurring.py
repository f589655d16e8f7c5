"""Recurring shares (RRULE with an end) and evergreen recycling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from hub.publishing.recurring import occurrences
from tests.conftest import ClientFactory, bearer, make_settings
from tests.hub.publishing.scenarios import POLICY_OFF, Hub, contract_servers


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_weekly_rule_keeps_local_wall_time_across_dst() -> None:
    got = occurrences("FREQ=WEEKLY;COUNT=3", utc("2026-03-02T09:00:00-05:00"), "America/New_York")
    assert got == [
        utc("2026-03-02T14:00:00Z"),
        utc("2026-03-09T13:00:00Z"),
        utc("2026-03-16T13:00:00Z"),
    ]
    until = occurrences(
        "RRULE:FREQ=DAILY;UNTIL=20260304T235959Z", utc("2026-03-02T08:00:00Z"), "UTC"
    )
    assert len(until) == 3


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=DAILY", "must end"),
        ("FREQ=DAILY;COUNT=101", "at most 100"),
        ("FREQ=HOURLY;UNTIL=20300101T000000Z", "at most 100"),
        ("FREQ=YEARLY;COUNT=4", "two years"),
        ("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY;COUNT=2", "rule alone"),
        ("FREQ=SOMETIMES;COUNT=2", "not an RRULE"),
    ],
)
def test_unusable_rules_are_refused(rule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        occurrences(rule, utc("2026-03-02T08:00:00Z"), "UTC")


@pytest.fixture
async def hub(
    tmp_path: Path, backend: str, client_for: ClientFactory, new_merchant: Any
) -> AsyncIterator[Hub]:
    settings: Settings = make_settings(tmp_path, database_url=backend, policy=POLICY_OFF)
    async with contract_servers() as channels:
        client = await client_for(settings)
        made = await new_merchant(client)
        yield Hub(client, bearer(made.api_key.token), channels)


async def test_a_series_is_one_share_per_occurrence_and_cancels_as_one(hub: Hub) -> None:
    channel = await hub.channel("discord")
    first = await hub.share(
        await hub.product(), [channel], at="2099-01-05T09:00:00+00:00", rrule="FREQ=DAILY;COUNT=3"
    )
    assert first["rrule"] == "FREQ=DAILY;COUNT=3" and first["series_id"] == first["id"]
    series = (await hub.call("GET", f"/shares?series={first['id']}"))["data"]
    assert sorted(s["scheduled_at"] for s in series) == [
        "2099-01-05T09:00:00Z",
        "2099-01-06T09:00:00Z",
        "2099-01-07T09:00:00Z",
    ]
    keys = {t["id"] for s in series for t in s["targets"]}
    assert len(keys) == 3
    await hub.call(
        "POST",
        "/shares",
        422,
        json={"product_id": first["product_id"], "channel_ids": [channel], "rrule": "FREQ=DAILY"},
    )
    second = sorted(series, key=lambda s: s["scheduled_at"])[1]
    cancelled = await hub.call("DELETE", f"/shares/{second['id']}?series=1")
    assert [r["state"] for r in cancelled["results"]] == ["cancelled", "cancelled"]
    states = {
        s["id"]: s["state"]
        for s in (await hub.call("GET", f"/shares?series={first['id']}"))["data"]
    }
    assert states == {first["id"]: "scheduled", second["id"]: "cancelled", max(states): "cancelled"}


async def test_evergreen_share_recycles_after_its_cooldown(hub: Hub) -> None:
    channel = await hub.channel("discord")
    first = await hub.share(await hub.product(), [channel], recycle_days=30)
    done = await hub.wait(first["id"])
    published_at = datetime.fromisoformat(done["targets"][0]["published_at"])
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while True:
        series = (await hub.call("GET", f"/shares?series={first['id']}"))["data"]
        if len(series) == 2 or datetime.now(UTC) > deadline:
            break
        await asyncio.sleep(0.2)
    assert len(series) == 2, series
    successor = next(s for s in series if s["id"] != first["id"])
    assert (await hub.get(first["id"]))["state"] == "done"
    assert datetime.fromisoformat(successor["scheduled_at"]) == published_at + timedelta(days=30)
    assert successor["recycle_days"] == 30 and successor["targets"][0]["state"] == "scheduled"
    assert len(hub.channels.dc.posts) == 1
