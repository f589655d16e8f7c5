"""``/api/v1/shares`` beyond the publishing flows: validation, tenancy, paging, approval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.config import Settings
from hub.tenancy import Scope, create_api_key
from hub.web.keys import SESSIONS
from tests.conftest import ClientFactory, bearer, make_settings
from tests.hub.publishing.scenarios import POLICY_OFF, Hub, contract_servers


@pytest.fixture
async def hub(
    tmp_path: Path, backend: str, client_for: ClientFactory, new_merchant: Any
) -> AsyncIterator[Hub]:
    settings: Settings = make_settings(tmp_path, database_url=backend, policy=POLICY_OFF)
    async with contract_servers() as channels:
        client = await client_for(settings)
        made = await new_merchant(client)
        hub = Hub(client, bearer(made.api_key.token), channels)
        hub.merchant_id = made.merchant_id  # type: ignore[attr-defined]
        yield hub


async def _key(hub: Hub, *scopes: Scope) -> dict[str, str]:
    app = hub.client.server.app
    assert app is not None
    async with app[SESSIONS]() as session:
        issued = await create_api_key(
            session,
            hub.merchant_id,
            name="k",
            scopes=list(scopes),  # type: ignore[attr-defined]
        )
        await session.commit()
    return bearer(issued.token)


async def test_bad_requests_change_nothing(hub: Hub, new_merchant: Any) -> None:
    product = await hub.product()
    channel = await hub.channel("discord")
    other = await new_merchant(hub.client, name="Other")
    foreign = Hub(hub.client, bearer(other.api_key.token), hub.channels)
    foreign_channel = await foreign.channel("discord")
    for body, status in (
        ({"product_id": product, "channel_ids": [channel], "at": "2030-01-01T09:00"}, 422),
        ({"product_id": product, "channel_ids": [channel], "at": "tomorrow"}, 422),
        ({"product_id": product, "channel_ids": [channel, channel]}, 422),
        ({"product_id": product, "channel_ids": []}, 422),
        ({"product_id": product, "channel_ids": [channel], "text": {"telegram": "x $link"}}, 422),
        ({"product_id": product, "channel_ids": [channel], "text": {"discord": "$nope"}}, 422),
        ({"product_id": 999, "channel_ids": [channel]}, 404),
        ({"product_id": product, "channel_ids": [foreign_channel]}, 404),
        ({"product_id": product, "channel_ids": [channel], "campaign_id": 77}, 404),
        (
            {
                "product_id": product,
                "channel_ids": [channel],
                "at": "now",
                "expires_at": "2000-01-01T00:00:00Z",
            },
            422,
        ),
    ):
        await hub.call("POST", "/shares", status, json=body)
    assert (await hub.call("GET", "/shares"))["data"] == []
    share = await hub.share(product, [channel], at="2099-01-01T00:00:00Z")
    await foreign.call("GET", f"/shares/{share['id']}", 404)
    await foreign.call("DELETE", f"/shares/{share['id']}", 404)
    await foreign.call("PATCH", f"/shares/{share['id']}", 404, json={"at": "now"})
    assert (await foreign.call("GET", "/shares"))["data"] == []


async def test_list_filters_and_cursor(hub: Hub) -> None:
    channel = await hub.channel("discord")
    ids = []
    for day in (1, 2, 3):
        at = f"2099-01-0{day}T12:00:00+00:00"
        ids.append((await hub.share(await hub.product(), [channel], at=at))["id"])
    first = await hub.call("GET", "/shares?limit=2")
    assert [s["id"] for s in first["data"]] == ids[::-1][:2]
    rest = await hub.call("GET", f"/shares?limit=2&cursor={first['next_cursor']}")
    assert [s["id"] for s in rest["data"]] == [ids[0]] and rest["next_cursor"] is None
    window = await hub.call(
        "GET", "/shares?from=2099-01-02T00:00:00%2B00:00&to=2099-01-03T00:00:00%2B00:00"
    )
    assert [s["id"] for s in window["data"]] == [ids[1]]
    product = (await hub.get(ids[2]))["product_id"]
    assert [s["id"] for s in (await hub.call("GET", f"/shares?product={product}"))["data"]] == [
        ids[2]
    ]
    assert (await hub.call("GET", "/shares?state=published"))["data"] == []
    await hub.call("GET", "/shares?state=nonsense", 422)


async def test_draft_waits_for_the_approve_scope(hub: Hub) -> None:
    channel = await hub.channel("discord")
    writer = await _key(hub, Scope.SHARES_WRITE)
    approver = await _key(hub, Scope.APPROVE)
    draft = await hub.client.post(
        "/api/v1/shares",
        headers=writer,
        json={"product_id": await hub.product(), "channel_ids": [channel], "draft": True},
    )
    assert draft.status == 201
    share = await draft.json()
    assert share["state"] == "draft"
    denied = await hub.client.post(f"/api/v1/shares/{share['id']}/approve", headers=writer)
    assert denied.status == 403
    await asyncio.sleep(1.5)  # the due scan runs every second and leaves drafts alone
    assert (await hub.get(share["id"]))["targets"][0]["state"] == "scheduled"
    assert hub.channels.dc.posts == {}
    ok = await hub.client.post(f"/api/v1/shares/{share['id']}/approve", headers=approver)
    assert ok.status == 200
    done = await hub.wait(share["id"])
    assert done["state"] == "done" and done["targets"][0]["state"] == "published"
    again = await hub.client.post(f"/api/v1/shares/{share['id']}/approve", headers=approver)
    assert again.status == 409
    read_only = await _key(hub, Scope.REPORTS_READ)
    refused = await hub.client.post(
        "/api/v1/shares",
        headers=read_only,
        json={"product_id": await hub.product(), "channel_ids": [channel]},
    )
    assert refused.status == 403


async def test_best_picks_a_default_hour_of_the_kind(hub: Hub) -> None:
    channel = await hub.channel("telegram")
    share = await hub.share(await hub.product(), [channel], at="best")
    due = datetime.fromisoformat(share["targets"][0]["due_at"])
    now = datetime.now(UTC)
    assert now < due <= now + timedelta(hours=25)
    local = due.astimezone(ZoneInfo("UTC"))
    assert local.minute == 0 and local.hour in (9, 13, 19)
    assert share["at"] == "best"


async def test_best_learns_the_account_hours_from_its_own_clicks(hub: Hub) -> None:
    from sqlalchemy import select

    from hub.storage.models import Click, Link

    channel = await hub.channel("discord")
    first = await hub.share(await hub.product(), [channel], at="2099-01-01T00:00:00Z")
    app = hub.client.server.app
    assert app is not None
    now = datetime.now(UTC)
    # People click on Wednesdays around 18:00 (UTC, the merchant's zone); bots at 03:00.
    wednesday = (now - timedelta(days=(now.weekday() - 2) % 7 or 7)).replace(
        hour=18, minute=20, second=0, microsecond=0
    )
    async with app[SESSIONS]() as session:
        link_id = await session.scalar(
            select(Link.id).where(Link.share_target_id == first["targets"][0]["id"])
        )
        assert link_id is not None
        for i in range(40):
            at = wednesday - timedelta(weeks=i % 4, minutes=i % 15)
            session.add(
                Click(
                    click_id=f"c{i}",
                    merchant_id=hub.merchant_id,  # type: ignore[attr-defined]
                    link_id=link_id,
                    at=at,
                    is_bot=False,
                )
            )
        for i in range(60):
            at = wednesday.replace(hour=3) - timedelta(days=i % 10)
            session.add(
                Click(
                    click_id=f"b{i}",
                    merchant_id=hub.merchant_id,  # type: ignore[attr-defined]
                    link_id=link_id,
                    at=at,
                    is_bot=True,
                )
            )
        await session.commit()
    share = await hub.share(await hub.product(), [channel], at="best")
    due = datetime.fromisoformat(share["targets"][0]["due_at"])
    assert (due.weekday(), due.hour, due.minute) == (2, 18, 0)
    assert now < due <= now + timedelta(days=7)
