"""``/api/v1/links`` and ``/api/v1/campaigns`` on both backends, and ``create_link`` itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from hub.config import LinkSettings
from hub.links import LinkOut, OutsideStorefront, create_link
from hub.web.keys import SESSIONS
from tests.conftest import MerchantFactory, bearer

Client = TestClient[Any, Any]
PRODUCT = {"title": "Mug", "url": "https://shop.test/p/mug", "price": "9.90", "currency": "EUR"}


async def merchant(client: Client, new_merchant: MerchantFactory, name: str = "Shop") -> Any:
    made = await new_merchant(client, name, "https://shop.test/")
    headers = bearer(made.api_key.token)
    resp = await client.post("/api/v1/products", json=PRODUCT, headers=headers)
    assert resp.status == 201, await resp.text()
    return made, headers, (await resp.json())["id"]


async def test_create_read_list_and_change(client: Client, new_merchant: MerchantFactory) -> None:
    _, headers, product_id = await merchant(client, new_merchant)
    resp = await client.post(
        "/api/v1/campaigns",
        json={"name": "Spring Sale", "utm_template": {"utm_term": "mugs"}},
        headers=headers,
    )
    assert resp.status == 201, await resp.text()
    campaign = await resp.json()
    resp = await client.post(
        "/api/v1/links",
        json={"product_id": product_id, "channel_kind": "mastodon", "campaign_id": campaign["id"]},
        headers=headers,
    )
    assert resp.status == 201, await resp.text()
    link = await resp.json()
    assert len(link["code"]) == 8 and link["short_url_path"] == "/" + link["code"]
    assert link["short_url"].endswith(link["short_url_path"])
    parts = urlsplit(link["destination_url"])
    assert (parts.netloc, parts.path) == ("shop.test", "/p/mug")
    assert parse_qs(parts.query) == {
        "utm_source": ["mastodon"],
        "utm_medium": ["social"],
        "utm_campaign": ["spring-sale"],
        "utm_term": ["mugs"],
    }
    assert "hub_cid" not in parts.query

    resp = await client.get(f"/api/v1/links/{link['code']}", headers=headers)
    assert resp.status == 200 and (await resp.json())["id"] == link["id"]

    for _ in range(2):
        assert (await client.post("/api/v1/links", json={}, headers=headers)).status == 201
    page1 = await (await client.get("/api/v1/links?limit=2", headers=headers)).json()
    assert len(page1["data"]) == 2 and page1["next_cursor"]
    page2 = await (
        await client.get(f"/api/v1/links?limit=2&cursor={page1['next_cursor']}", headers=headers)
    ).json()
    assert [x["id"] for x in page2["data"]] == [link["id"]] and page2["next_cursor"] is None
    # A link without a product leads to the storefront entry.
    assert page1["data"][0]["destination_url"].startswith("https://shop.test/?")

    when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    resp = await client.patch(
        f"/api/v1/links/{link['code']}",
        json={"enabled": False, "expires_at": when.isoformat()},
        headers=headers,
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["enabled"] is False
    assert datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")) == when
    resp = await client.patch(
        f"/api/v1/links/{link['code']}", json={"expires_at": None}, headers=headers
    )
    assert (await resp.json())["expires_at"] is None
    assert (await resp.json())["enabled"] is False

    campaigns = await (await client.get("/api/v1/campaigns", headers=headers)).json()
    assert [c["name"] for c in campaigns["data"]] == ["Spring Sale"]
    resp = await client.post("/api/v1/campaigns", json={"name": "Spring Sale"}, headers=headers)
    assert resp.status == 409


async def test_slugs_and_refusals(client: Client, new_merchant: MerchantFactory) -> None:
    _, headers, product_id = await merchant(client, new_merchant)
    resp = await client.post(
        "/api/v1/links", json={"slug": "spring-mug", "product_id": product_id}, headers=headers
    )
    assert resp.status == 201 and (await resp.json())["code"] == "spring-mug"
    resp = await client.post("/api/v1/links", json={"slug": "spring-mug"}, headers=headers)
    assert resp.status == 409
    for slug in ("healthz", "api", "dashboard", "x"):
        resp = await client.post("/api/v1/links", json={"slug": slug}, headers=headers)
        body = await resp.json()
        assert resp.status == 422, body
        assert body["error"]["details"]["fields"][0]["field"] == "slug"
    for url in ("https://evil.test/", "//evil.test", "https://evil.test\\@shop.test/"):
        resp = await client.post("/api/v1/links", json={"destination_url": url}, headers=headers)
        body = await resp.json()
        assert resp.status == 422, body
        assert body["error"]["details"]["fields"][0]["type"] == "storefront_origin"
    resp = await client.post(
        "/api/v1/links", json={"destination_url": "https://shop.test/sale"}, headers=headers
    )
    assert resp.status == 201
    resp = await client.post(
        "/api/v1/links", json={"expires_at": "2030-01-01T00:00:00"}, headers=headers
    )
    assert resp.status == 422


async def test_tenants_are_apart(client: Client, new_merchant: MerchantFactory) -> None:
    _, headers_a, product_a = await merchant(client, new_merchant, "A")
    _, headers_b, _ = await merchant(client, new_merchant, "B")
    link = await (
        await client.post("/api/v1/links", json={"product_id": product_a}, headers=headers_a)
    ).json()
    assert (await client.get(f"/api/v1/links/{link['code']}", headers=headers_b)).status == 404
    resp = await client.patch(
        f"/api/v1/links/{link['code']}", json={"enabled": False}, headers=headers_b
    )
    assert resp.status == 404
    assert (
        await client.get(f"/api/v1/links/{link['code']}/qr.svg", headers=headers_b)
    ).status == 404
    listed = await (await client.get("/api/v1/links", headers=headers_b)).json()
    assert listed["data"] == []
    resp = await client.post("/api/v1/links", json={"product_id": product_a}, headers=headers_b)
    body = await resp.json()
    assert resp.status == 422 and body["error"]["details"]["fields"][0]["field"] == "product_id"


async def test_qr_codes(client: Client, new_merchant: MerchantFactory) -> None:
    _, headers, product_id = await merchant(client, new_merchant)
    link = await (
        await client.post("/api/v1/links", json={"product_id": product_id}, headers=headers)
    ).json()
    resp = await client.get(f"/api/v1/links/{link['code']}/qr.svg", headers=headers)
    assert resp.status == 200 and resp.content_type == "image/svg+xml"
    assert "<svg" in await resp.text()
    resp = await client.get(f"/api/v1/links/{link['code']}/qr.png?scale=4", headers=headers)
    data = await resp.read()
    assert resp.status == 200 and resp.content_type == "image/png"
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    resp = await client.get(f"/api/v1/links/{link['code']}/qr.png?scale=99", headers=headers)
    assert resp.status == 422
    assert (await client.get("/api/v1/links/nope1234/qr.svg", headers=headers)).status == 404


async def test_create_link_for_publishing(client: Client, new_merchant: MerchantFactory) -> None:
    made, _, product_id = await merchant(client, new_merchant)
    app = client.server.app
    assert app is not None
    async with app[SESSIONS]() as session:
        out = await create_link(
            session,
            made.merchant_id,
            product_id=product_id,
            channel_kind="telegram",
            settings=LinkSettings(click_id_param="cid", code_length=10),
        )
        assert isinstance(out, LinkOut) and len(out.code) == 10
        with pytest.raises(OutsideStorefront):
            await create_link(
                session,
                made.merchant_id,
                product_id=None,
                destination_url="https://evil.test/",
                settings=LinkSettings(),
            )
        await session.commit()
    async with app[SESSIONS]() as session:
        from hub.links import get_link

        again = await get_link(session, made.merchant_id, out.code)
        assert again is not None and again.destination_url == out.destination_url
