"""Health, auth, tenant scoping and the error format of the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from hub.config import Settings
from hub.storage.models import ApiKey
from hub.storage.types import utcnow
from hub.web.keys import SESSIONS
from tests.conftest import ClientFactory, MerchantFactory, bearer, free_port, make_settings

Client = TestClient[Any, Any]

PRODUCT = {
    "title": "Stoneware mug",
    "description": "350 ml",
    "url": "https://shop.test/p/mug",
    "price": "24.50",
    "currency": "usd",
    "tags": ["kitchen"],
}


def assert_error(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def test_healthz_and_readyz(client: Client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json()) == {"status": "ok"}
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["checks"] == {"database": "ok"}


async def test_readyz_checks_redis_in_production(
    tmp_path: Path, pg_url: str, redis_url: str, client_for: ClientFactory
) -> None:
    settings = make_settings(tmp_path, database_url=pg_url, redis_url=redis_url,
                             profile="production")
    client = await client_for(settings)
    body = await (await client.get("/readyz")).json()
    assert body == {"status": "ready", "profile": "production",
                    "checks": {"database": "ok", "redis": "ok"}}
    dead = make_settings(tmp_path, database_url=pg_url, profile="production",
                         redis_url=f"redis://127.0.0.1:{free_port()}/0")
    client = await client_for(dead)
    resp = await client.get("/readyz")
    body = await resp.json()
    assert resp.status == 503
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"].startswith("error")


async def test_api_needs_a_live_key(client: Client, new_merchant: MerchantFactory) -> None:
    made = await new_merchant(client)
    resp = await client.get("/api/v1/products")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(await resp.json(), "unauthorized")
    resp = await client.get("/api/v1/products", headers=bearer(made.api_key.token + "x"))
    assert resp.status == 401
    assert_error(await resp.json(), "unauthorized")
    resp = await client.get("/api/v1/products", headers=bearer(made.api_key.token))
    assert resp.status == 200
    assert (await resp.json()) == {"data": [], "next_cursor": None}
    app = client.server.app
    assert app is not None
    async with app[SESSIONS]() as session:
        await session.execute(update(ApiKey).values(revoked_at=utcnow()))
        await session.commit()
    resp = await client.get("/api/v1/products", headers=bearer(made.api_key.token))
    assert resp.status == 401


async def test_products_are_scoped_to_the_callers_merchant(
    client: Client, new_merchant: MerchantFactory
) -> None:
    alice = await new_merchant(client, "Alice", "https://shop.test/")
    bob = await new_merchant(client, "Bob", "https://bob.test/")
    resp = await client.post("/api/v1/products", json=PRODUCT, headers=bearer(alice.api_key.token))
    assert resp.status == 201, await resp.text()
    product = await resp.json()
    assert product["price"] == "24.50" and product["currency"] == "USD"

    mine = await client.get(f"/api/v1/products/{product['id']}",
                            headers=bearer(alice.api_key.token))
    assert mine.status == 200 and (await mine.json())["title"] == "Stoneware mug"
    theirs = await client.get(f"/api/v1/products/{product['id']}",
                              headers=bearer(bob.api_key.token))
    assert theirs.status == 404
    body = await theirs.json()
    assert_error(body, "not_found")
    assert "Stoneware" not in await theirs.text()
    listing = await (await client.get("/api/v1/products", headers=bearer(bob.api_key.token))).json()
    assert listing["data"] == []
    for bad in ("abc", "99999999999999999999", "-1"):
        resp = await client.get(f"/api/v1/products/{bad}", headers=bearer(alice.api_key.token))
        assert resp.status == 404


async def test_cursor_pagination(client: Client, new_merchant: MerchantFactory) -> None:
    made = await new_merchant(client)
    auth = bearer(made.api_key.token)
    for i in range(5):
        body = {**PRODUCT, "title": f"P{i}", "external_id": f"sku-{i}"}
        assert (await client.post("/api/v1/products", json=body, headers=auth)).status == 201
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/api/v1/products", params=query, headers=auth)).json()
        seen += [p["title"] for p in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["P4", "P3", "P2", "P1", "P0"]
    resp = await client.get("/api/v1/products", params={"limit": "0"}, headers=auth)
    assert resp.status == 422
    assert (await resp.json())["error"]["details"]["fields"][0]["field"] == "limit"


async def test_bad_bodies_get_clear_errors_and_change_nothing(
    client: Client, new_merchant: MerchantFactory
) -> None:
    made = await new_merchant(client)
    auth = bearer(made.api_key.token)
    resp = await client.post("/api/v1/products", data=b'{"title": ', headers={
        **auth, "Content-Type": "application/json"})
    assert resp.status == 400
    assert_error(await resp.json(), "invalid_json")

    resp = await client.post("/api/v1/products", data=b"title=x", headers={
        **auth, "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 415
    assert_error(await resp.json(), "unsupported_media_type")

    resp = await client.post("/api/v1/products", json={**PRODUCT, "currency": "XYZ",
                                                       "price": "-1", "extra": 1}, headers=auth)
    assert resp.status == 422
    body = await resp.json()
    assert_error(body, "validation_failed")
    fields = {f["field"] for f in body["error"]["details"]["fields"]}
    assert fields == {"currency", "price", "extra"}

    resp = await client.post("/api/v1/products",
                             json={**PRODUCT, "url": "https://evil.test/p"}, headers=auth)
    assert resp.status == 422
    assert (await resp.json())["error"]["details"]["fields"][0]["field"] == "url"

    listing = await (await client.get("/api/v1/products", headers=auth)).json()
    assert listing["data"] == []


async def test_body_too_large_is_413(
    tmp_path: Path, client_for: ClientFactory, new_merchant: MerchantFactory
) -> None:
    settings = make_settings(tmp_path, server={"max_body_bytes": 2048})
    client = await client_for(settings)
    made = await new_merchant(client)
    big = {**PRODUCT, "description": "x" * 5000}
    resp = await client.post("/api/v1/products", json=big, headers=bearer(made.api_key.token))
    assert resp.status == 413
    body = await resp.json()
    assert_error(body, "payload_too_large")
    assert body["error"]["details"]["max_bytes"] == 2048
    assert body["error"]["details"]["got_bytes"] > 5000

    async def chunks() -> Any:  # no Content-Length: aiohttp stops reading at the limit
        for _ in range(10):
            yield b"x" * 1024

    resp = await client.post("/api/v1/products", data=chunks(), headers={
        **bearer(made.api_key.token), "Content-Type": "application/json"})
    assert resp.status == 413
    assert_error(await resp.json(), "payload_too_large")


async def test_unknown_route_and_wrong_method(client: Client) -> None:
    resp = await client.get("/no/such/page")
    assert resp.status == 404
    assert_error(await resp.json(), "not_found")
    resp = await client.delete("/healthz")
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]
    assert_error(await resp.json(), "method_not_allowed")


async def test_request_id_is_echoed_or_made(client: Client) -> None:
    resp = await client.get("/healthz", headers={"X-Request-Id": "req-12345678"})
    assert resp.headers["X-Request-Id"] == "req-12345678"
    resp = await client.get("/healthz", headers={"X-Request-Id": "bad id\u2028"})
    assert resp.headers["X-Request-Id"] != "bad id\u2028"
    assert len(resp.headers["X-Request-Id"]) == 32


@pytest.mark.parametrize("path", ["/api/v1/products", "/api/v1/products/1"])
async def test_error_format_for_unauthenticated_paths(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert_error(await resp.json(), "unauthorized")


def test_settings_fixture_uses_real_backends(settings: Settings) -> None:
    assert settings.database.url.startswith(("sqlite+aiosqlite", "postgresql+asyncpg"))
