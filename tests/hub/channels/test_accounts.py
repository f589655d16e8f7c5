"""``/api/v1/channels``: accounts validated by their connector, credentials never echoed."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.security import Vault
from hub.storage.models import ChannelAccount
from hub.web.keys import SESSIONS
from tests.conftest import SECRET, bearer
from tests.contract import telegram as tg
from tests.contract._server import ContractState, serve


@pytest.fixture
async def telegram_url() -> AsyncIterator[str]:
    async with serve(tg.create_app(ContractState())) as url:
        yield url


async def _merchant(client: TestClient[Any, Any], new_merchant: Any) -> dict[str, str]:
    made = await new_merchant(client)
    return bearer(made.api_key.token)


async def test_create_splits_and_encrypts_secrets_and_never_echoes_them(
    client: TestClient[Any, Any],
    new_merchant: Any,
    telegram_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = await _merchant(client, new_merchant)
    body = {
        "kind": "telegram",
        "name": "Deals channel",
        "config": {"token": tg.TOKEN, "chat_id": tg.CHANNEL_ID, "base_url": telegram_url},
        "policy": {"min_gap_s": 60},
    }
    created = await client.post("/api/v1/channels", json=body, headers=auth)
    text = await created.text()
    assert created.status == 201, text
    assert tg.TOKEN not in text and "valid-token" not in text
    out = json.loads(text)
    assert out["kind"] == "telegram" and out["status"] == "active"
    assert out["settings"]["chat_id"] == tg.CHANNEL_ID
    assert "token" not in out["settings"]
    assert out["secret_fields"] == ["token"]
    assert out["policy"] == {"min_gap_s": 60}

    for path in ("/api/v1/channels", f"/api/v1/channels/{out['id']}"):
        listed = await client.get(path, headers=auth)
        assert listed.status == 200
        assert tg.TOKEN not in await listed.text()

    app = client.server.app
    assert app is not None
    async with app[SESSIONS]() as session:
        row = await session.scalar(select(ChannelAccount).where(ChannelAccount.id == out["id"]))
    assert row is not None
    assert tg.TOKEN not in json.dumps(row.settings) and tg.TOKEN not in row.credentials_encrypted
    assert Vault(SECRET).decrypt_json(row.credentials_encrypted) == {"token": tg.TOKEN}
    assert all(tg.TOKEN not in r.getMessage() for r in caplog.records)


async def test_invalid_config_is_422_without_the_secret(
    client: TestClient[Any, Any], new_merchant: Any
) -> None:
    auth = await _merchant(client, new_merchant)
    bad = {"kind": "telegram", "name": "x", "config": {"token": "not a token", "chat_id": "1"}}
    reply = await client.post("/api/v1/channels", json=bad, headers=auth)
    text = await reply.text()
    assert reply.status == 422 and "not a token" not in text
    assert any(f["field"] == "config.token" for f in json.loads(text)["error"]["details"]["fields"])

    unknown = await client.post(
        "/api/v1/channels", json={"kind": "pigeon", "name": "x", "config": {}}, headers=auth
    )
    assert unknown.status == 422
    assert "telegram" in (await unknown.json())["error"]["details"]["fields"][0]["message"]

    policy = {**bad, "config": {"token": tg.TOKEN, "chat_id": "1"}, "policy": {"min_gap_s": -1}}
    assert (await client.post("/api/v1/channels", json=policy, headers=auth)).status == 422


async def test_duplicate_name_other_merchant_delete_and_check(
    client: TestClient[Any, Any], new_merchant: Any, telegram_url: str
) -> None:
    auth = await _merchant(client, new_merchant)
    other = bearer((await new_merchant(client, name="Other")).api_key.token)
    body = {
        "kind": "telegram",
        "name": "Main",
        "config": {"token": tg.TOKEN, "chat_id": tg.CHANNEL_ID, "base_url": telegram_url},
    }
    created = await (await client.post("/api/v1/channels", json=body, headers=auth)).json()
    again = await client.post("/api/v1/channels", json=body, headers=auth)
    assert again.status == 409
    path = f"/api/v1/channels/{created['id']}"
    assert (await client.get(path, headers=other)).status == 404
    assert (await client.delete(path, headers=other)).status == 404

    ok = await client.post(f"{path}/check", json={}, headers=auth)
    assert ok.status == 200 and (await ok.json()) == {
        "ok": True,
        "status": "active",
        "error": None,
        "message": None,
    }
    revoked = await client.patch(path, json={"config": {"token": tg.REVOKED_TOKEN}}, headers=auth)
    assert revoked.status == 200 and tg.REVOKED_TOKEN not in await revoked.text()
    refused = await (await client.post(f"{path}/check", json={}, headers=auth)).json()
    assert refused["ok"] is False and refused["error"] == "AuthExpired"
    assert refused["status"] == "needs_reauth"
    assert (await (await client.get(path, headers=auth)).json())["status"] == "needs_reauth"

    assert (await client.delete(path, headers=auth)).status == 204
    assert (await client.get(path, headers=auth)).status == 404


def test_every_channel_kind_splits_its_secrets_out_and_round_trips() -> None:
    import connectors
    from hub.channels.accounts import _split
    from tests.connectors.conftest import CASES

    for kind, case in CASES.items():
        connector = connectors.get(kind)
        config = connector.parse_config(case.config("http://127.0.0.1:9"))
        public, secret = _split(config)
        shown = json.dumps(public)
        assert "**********" not in shown, kind
        assert all(s not in shown for s in case.secrets), kind
        assert bool(secret) == bool(case.secrets), kind
        assert connector.parse_config({**public, **secret}) == config, kind
