"""``/api/v1/webhooks``: endpoints, the delivery log, redelivery, scopes and isolation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from standardwebhooks.webhooks import Webhook

from hub.config import Settings
from hub.tasks.context import TaskContext
from hub.web.keys import HTTP, SESSIONS, VAULT
from hub.webhooks import emit
from hub.webhooks.delivery import deliver_due
from tests.conftest import ClientFactory, MerchantFactory, bearer, make_settings
from tests.hub.webhooks.conftest import Receiver
from tests.hub.webhooks.test_delivery import PUBLISHED

Client = TestClient[Any, Any]


def app_settings(tmp_path: Path, backend: str, **webhooks: Any) -> Settings:
    return make_settings(
        tmp_path, database_url=backend, webhooks={"allow_private": True, **webhooks}
    )


def worker_of(client: Client) -> TaskContext:
    app = client.server.app
    assert app is not None
    from hub.web.keys import SETTINGS

    return TaskContext(app[SETTINGS], app[SESSIONS], app[VAULT], app[HTTP], None)


async def emit_for(client: Client, merchant_id: int) -> str:
    app = client.server.app
    assert app is not None
    async with app[SESSIONS]() as session:
        event_id = await emit(session, merchant_id, "share.published", PUBLISHED)
        await session.commit()
    return event_id


async def test_endpoint_lifecycle(
    tmp_path: Path, backend: str, client_for: ClientFactory, new_merchant: MerchantFactory
) -> None:
    client = await client_for(app_settings(tmp_path, backend))
    made = await new_merchant(client)
    auth = bearer(made.api_key.token)
    resp = await client.post(
        "/api/v1/webhooks",
        headers=auth,
        json={
            "url": "https://hooks.example/in",
            "event_types": ["share.failed", "share.published"],
        },
    )
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["event_types"] == ["share.failed", "share.published"]
    assert created["enabled"] is True and created["disabled_reason"] is None
    ep = created["id"]
    for path in ("/api/v1/webhooks", f"/api/v1/webhooks/{ep}"):
        text = await (await client.get(path, headers=auth)).text()
        assert created["secret"] not in text and "whsec_" not in text
    listed = await (await client.get("/api/v1/webhooks", headers=auth)).json()
    assert [e["id"] for e in listed["data"]] == [ep] and listed["next_cursor"] is None
    resp = await client.patch(
        f"/api/v1/webhooks/{ep}",
        headers=auth,
        json={"enabled": False, "event_types": ["conversion.attributed"]},
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["enabled"] is False and body["event_types"] == ["conversion.attributed"]
    assert body["disabled_reason"]
    body = await (
        await client.patch(f"/api/v1/webhooks/{ep}", headers=auth, json={"enabled": True})
    ).json()
    assert body["enabled"] is True and body["disabled_reason"] is None
    resp = await client.delete(f"/api/v1/webhooks/{ep}", headers=auth)
    assert resp.status == 204
    assert (await client.get(f"/api/v1/webhooks/{ep}", headers=auth)).status == 404


async def test_bad_endpoints_are_refused_field_by_field(
    tmp_path: Path, backend: str, client_for: ClientFactory, new_merchant: MerchantFactory
) -> None:
    client = await client_for(make_settings(tmp_path, database_url=backend))
    auth = bearer((await new_merchant(client)).api_key.token)
    for body, field in (
        ({"url": "http://127.0.0.1:9/x", "event_types": ["share.failed"]}, "url"),
        ({"url": "ftp://hooks.example/x", "event_types": ["share.failed"]}, "url"),
        ({"url": "https://hooks.example/x", "event_types": ["share.exploded"]}, "event_types.0"),
        ({"url": "https://hooks.example/x", "event_types": []}, "event_types"),
        ({"url": "https://hooks.example/x"}, "event_types"),
    ):
        resp = await client.post("/api/v1/webhooks", headers=auth, json=body)
        error = (await resp.json())["error"]
        assert resp.status == 422, error
        assert error["code"] == "validation_failed"
        assert field in [f["field"] for f in error["details"]["fields"]]
    listed = await (await client.get("/api/v1/webhooks", headers=auth)).json()
    assert listed["data"] == []
    resp = await client.post(
        "/api/v1/webhooks",
        headers=auth,
        json={"url": "https://hooks.example/x", "event_types": ["share.failed"]},
    )
    ep = (await resp.json())["id"]
    resp = await client.patch(f"/api/v1/webhooks/{ep}", headers=auth, json={})
    assert resp.status == 422
    resp = await client.patch(
        f"/api/v1/webhooks/{ep}", headers=auth, json={"url": "http://10.0.0.1/x"}
    )
    assert resp.status == 422


async def test_delivery_log_and_manual_redelivery(
    tmp_path: Path,
    backend: str,
    client_for: ClientFactory,
    new_merchant: MerchantFactory,
    receiver: Receiver,
) -> None:
    client = await client_for(app_settings(tmp_path, backend))
    made = await new_merchant(client)
    auth = bearer(made.api_key.token)
    resp = await client.post(
        "/api/v1/webhooks",
        headers=auth,
        json={"url": receiver.url, "event_types": ["share.published"]},
    )
    created = await resp.json()
    ep = created["id"]
    events = [await emit_for(client, made.merchant_id) for _ in range(3)]
    await deliver_due(worker_of(client))
    page = await (
        await client.get(f"/api/v1/webhooks/{ep}/deliveries?limit=2", headers=auth)
    ).json()
    assert [d["event_id"] for d in page["data"]] == events[::-1][:2]
    assert page["next_cursor"] is not None
    rest = await (
        await client.get(
            f"/api/v1/webhooks/{ep}/deliveries?limit=2&cursor={page['next_cursor']}", headers=auth
        )
    ).json()
    assert [d["event_id"] for d in rest["data"]] == [events[0]] and rest["next_cursor"] is None
    assert all(d["state"] == "delivered" for d in page["data"] + rest["data"])
    first = rest["data"][0]["id"]
    pending = await (
        await client.get(f"/api/v1/webhooks/{ep}/deliveries?state=pending", headers=auth)
    ).json()
    assert pending["data"] == []
    resp = await client.post(f"/api/v1/webhooks/{ep}/deliveries/{first}/redeliver", headers=auth)
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["state"] == "pending"
    detail: dict[str, Any] = {}
    for _ in range(100):  # the in-process runner sends it at once
        detail = await (
            await client.get(f"/api/v1/webhooks/{ep}/deliveries/{first}", headers=auth)
        ).json()
        if detail["attempts"] == 2 and detail["state"] == "delivered":
            break
        await asyncio.sleep(0.05)
    assert [a["number"] for a in detail["attempt_log"]] == [1, 2]
    assert [a["status"] for a in detail["attempt_log"]] == [200, 200]
    assert detail["payload"]["data"]["share_target_id"] == 2
    resent = [s for s in receiver.seen if s.headers["webhook-id"] == events[0]]
    assert len(resent) == 2
    for seen in resent:
        Webhook(created["secret"]).verify(seen.body, seen.headers)
    await client.patch(f"/api/v1/webhooks/{ep}", headers=auth, json={"enabled": False})
    resp = await client.post(f"/api/v1/webhooks/{ep}/deliveries/{first}/redeliver", headers=auth)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "conflict"


async def test_webhooks_need_the_admin_scope(
    tmp_path: Path, backend: str, client_for: ClientFactory, new_merchant: MerchantFactory
) -> None:
    client = await client_for(make_settings(tmp_path, database_url=backend))
    admin = bearer((await new_merchant(client)).api_key.token)
    resp = await client.post(
        "/api/v1/keys", headers=admin, json={"name": "reports", "scopes": ["reports:read"]}
    )
    reader = bearer((await resp.json())["token"])
    resp = await client.post(
        "/api/v1/webhooks",
        headers=reader,
        json={"url": "https://hooks.example/x", "event_types": ["share.failed"]},
    )
    body = await resp.json()
    assert resp.status == 403, body
    assert body["error"]["code"] == "forbidden"
    assert body["error"]["details"]["missing_scope"] == "admin"
    for method, path in (
        ("GET", "/api/v1/webhooks"),
        ("GET", "/api/v1/webhooks/1"),
        ("DELETE", "/api/v1/webhooks/1"),
    ):
        resp = await client.request(method, path, headers=reader)
        assert resp.status == 403, (method, path)
    assert (await (await client.get("/api/v1/webhooks", headers=admin)).json())["data"] == []


async def test_another_merchants_webhooks_are_not_found(
    tmp_path: Path,
    backend: str,
    client_for: ClientFactory,
    new_merchant: MerchantFactory,
    receiver: Receiver,
) -> None:
    client = await client_for(app_settings(tmp_path, backend))
    alice = await new_merchant(client, "Alice")
    bob = await new_merchant(client, "Bob", "https://bob.test/")
    a_auth, b_auth = bearer(alice.api_key.token), bearer(bob.api_key.token)
    url = receiver.url + "?alice-only"
    a_ep = (
        await (
            await client.post(
                "/api/v1/webhooks",
                headers=a_auth,
                json={"url": url, "event_types": ["share.published"]},
            )
        ).json()
    )["id"]
    b_ep = (
        await (
            await client.post(
                "/api/v1/webhooks",
                headers=b_auth,
                json={"url": receiver.url, "event_types": ["share.published"]},
            )
        ).json()
    )["id"]
    await emit_for(client, alice.merchant_id)
    await deliver_due(worker_of(client))
    a_page = await (await client.get(f"/api/v1/webhooks/{a_ep}/deliveries", headers=a_auth)).json()
    a_delivery = a_page["data"][0]["id"]
    probes = [
        ("GET", f"/api/v1/webhooks/{a_ep}", None),
        ("PATCH", f"/api/v1/webhooks/{a_ep}", {"enabled": False}),
        ("GET", f"/api/v1/webhooks/{a_ep}/deliveries", None),
        ("GET", f"/api/v1/webhooks/{a_ep}/deliveries/{a_delivery}", None),
        ("GET", f"/api/v1/webhooks/{b_ep}/deliveries/{a_delivery}", None),
        ("POST", f"/api/v1/webhooks/{a_ep}/deliveries/{a_delivery}/redeliver", None),
        ("POST", f"/api/v1/webhooks/{b_ep}/deliveries/{a_delivery}/redeliver", None),
        ("DELETE", f"/api/v1/webhooks/{a_ep}", None),
    ]
    for method, path, body in probes:
        resp = await client.request(method, path, headers=b_auth, json=body)
        text = await resp.text()
        assert resp.status == 404, (method, path, text)
        assert '"not_found"' in text
        assert "alice" not in text.lower() and "share_target_id" not in text
    b_list = await (await client.get("/api/v1/webhooks", headers=b_auth)).json()
    assert [e["id"] for e in b_list["data"]] == [b_ep]
    a_now = await (await client.get(f"/api/v1/webhooks/{a_ep}", headers=a_auth)).json()
    assert a_now["enabled"] is True and a_now["url"] == url
    detail = await (
        await client.get(f"/api/v1/webhooks/{a_ep}/deliveries/{a_delivery}", headers=a_auth)
    ).json()
    assert detail["attempts"] == 1


@pytest.mark.slow
async def test_the_embedded_ticker_delivers_emitted_events(
    tmp_path: Path,
    backend: str,
    client_for: ClientFactory,
    new_merchant: MerchantFactory,
    receiver: Receiver,
) -> None:
    client = await client_for(app_settings(tmp_path, backend))
    made = await new_merchant(client)
    resp = await client.post(
        "/api/v1/webhooks",
        headers=bearer(made.api_key.token),
        json={"url": receiver.url, "event_types": ["share.published"]},
    )
    secret = (await resp.json())["secret"]
    event_id = await emit_for(client, made.merchant_id)
    for _ in range(150):  # the scan runs every 5 s
        if receiver.seen:
            break
        await asyncio.sleep(0.1)
    (seen,) = receiver.seen
    assert seen.headers["webhook-id"] == event_id
    Webhook(secret).verify(seen.body, seen.headers)
