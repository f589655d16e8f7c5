"""``POST /hooks/v1/shares``: signed with the merchant's webhook secret, idempotent by event."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from connectors.webhook import sign
from hub.config import Settings
from tests.conftest import ClientFactory, bearer, make_settings
from tests.hub.publishing.scenarios import POLICY_OFF, Hub, contract_servers


@pytest.fixture
async def hub_and_secret(
    tmp_path: Any, backend: str, client_for: ClientFactory, new_merchant: Any
) -> AsyncIterator[tuple[Hub, Any]]:
    settings: Settings = make_settings(tmp_path, database_url=backend, policy=POLICY_OFF)
    async with contract_servers() as channels:
        client = await client_for(settings)
        made = await new_merchant(client)
        yield Hub(client, bearer(made.api_key.token), channels), made


def _signed(secret: str, event_id: str, body: bytes) -> dict[str, str]:
    now = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(now),
        "webhook-signature": sign(SecretStr(secret), event_id, now, body),
    }


async def test_signed_event_creates_one_share_however_often_it_arrives(
    hub_and_secret: tuple[Hub, Any],
) -> None:
    hub, made = hub_and_secret
    channel = await hub.channel("discord")
    product = await hub.product()
    body = json.dumps({"product_id": product, "channel_ids": [channel], "at": "now"}).encode()
    path = f"/hooks/v1/shares?merchant={made.merchant_id}"
    headers = _signed(made.webhook_secret, "evt_123", body)
    first = await hub.client.post(path, data=body, headers=headers)
    assert first.status == 201, await first.text()
    created = await first.json()
    assert created["created"] is True
    again = await hub.client.post(
        path, data=body, headers=_signed(made.webhook_secret, "evt_123", body)
    )
    assert again.status == 200
    assert (await again.json())["id"] == created["id"]
    done = await hub.wait(created["id"])
    assert done["targets"][0]["state"] == "published"
    assert len(hub.channels.dc.posts) == 1
    assert len((await hub.call("GET", "/shares"))["data"]) == 1

    forged = await hub.client.post(path, data=body.replace(b"now", b"best"), headers=headers)
    assert forged.status == 401
    other = await hub.client.post(
        f"/hooks/v1/shares?merchant={made.merchant_id}",
        data=body,
        headers=_signed("whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=", "evt_9", body),
    )
    assert other.status == 401
    missing = json.dumps({"product_id": 999, "channel_ids": [channel]}).encode()
    gone = await hub.client.post(
        path, data=missing, headers=_signed(made.webhook_secret, "evt_404", missing)
    )
    assert gone.status == 404
