"""Signed hooks: Standard Webhooks signatures checked against the independent package."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from hub.config import AttributionSettings, Settings
from hub.security import new_secret
from hub.storage.models import Conversion
from tests.attribution.conversions._seed import sessions_of, signed
from tests.conftest import ClientFactory, MerchantFactory

Client = TestClient[Any, Any]


@pytest.fixture
async def client(settings: Settings, client_for: ClientFactory) -> Client:
    """The app on ``settings``; ``settings`` comes first so that the app (and the attribution
    job it may still be running) is closed before the test database is emptied."""
    return await client_for(settings)


ORDER = {
    "order_id": "1001",
    "amount": "59.90",
    "currency": "eur",
    "occurred_at": "2026-03-01T20:15:00+01:00",
    "customer_id": "cust-1",
}


async def _post(
    client: Client,
    merchant_id: int | str,
    body: str,
    headers: dict[str, str],
    path: str = "/hooks/v1/conversions",
) -> tuple[int, Any]:
    resp = await client.post(f"{path}?merchant={merchant_id}", data=body, headers=headers)
    return resp.status, await resp.json()


async def _count(client: Client) -> int:
    async with sessions_of(client)() as session:
        return int(await session.scalar(select(func.count()).select_from(Conversion)) or 0)


async def test_good_signature_is_accepted(client: Client, new_merchant: MerchantFactory) -> None:
    shop = await new_merchant(client)
    status, body = await _post(client, shop.merchant_id, *signed(shop.webhook_secret, ORDER))
    assert status == 201, body
    assert body["created"] is True and body["status"] == "placed"
    async with sessions_of(client)() as session:
        conv = await session.get(Conversion, body["conversion_id"])
    assert conv is not None
    assert (conv.merchant_id, conv.order_id, conv.amount_minor, conv.currency) == (
        shop.merchant_id,
        "1001",
        5990,
        "EUR",
    )
    assert conv.occurred_at == datetime(2026, 3, 1, 19, 15, tzinfo=UTC)


async def test_wrong_secret_unknown_merchant_and_altered_body_look_the_same(
    client: Client, new_merchant: MerchantFactory
) -> None:
    shop = await new_merchant(client)
    other = await new_merchant(client, name="Other")
    answers = []
    # wrong secret (a fresh one), another merchant's secret, an unknown merchant id, garbage id
    answers.append(await _post(client, shop.merchant_id, *signed(new_secret(), ORDER)))
    answers.append(await _post(client, shop.merchant_id, *signed(other.webhook_secret, ORDER)))
    answers.append(await _post(client, 999_999, *signed(shop.webhook_secret, ORDER)))
    answers.append(await _post(client, "abc", *signed(shop.webhook_secret, ORDER)))
    body, headers = signed(shop.webhook_secret, ORDER)
    answers.append(await _post(client, shop.merchant_id, body.replace("59.90", "5.90"), headers))
    for status, answer in answers:
        assert status == 401
        assert answer["error"]["code"] == "unauthorized"
        assert answer["error"]["details"] == {"reason": "no signature matches"}
    assert await _count(client) == 0


async def test_old_and_future_timestamps_are_refused(
    client: Client, new_merchant: MerchantFactory
) -> None:
    shop = await new_merchant(client)
    now = datetime.now(UTC)
    for at, reason in (
        (now - timedelta(minutes=6), "too old"),
        (now + timedelta(minutes=6), "in the future"),
    ):
        status, answer = await _post(
            client, shop.merchant_id, *signed(shop.webhook_secret, ORDER, at=at)
        )
        assert status == 401
        assert reason in answer["error"]["details"]["reason"]
    # A replay of a once-good delivery, after the tolerance, is refused as well.
    status, _ = await _post(
        client,
        shop.merchant_id,
        *signed(shop.webhook_secret, ORDER, at=now - timedelta(minutes=4, seconds=50)),
    )
    assert status == 201
    assert await _count(client) == 1


async def test_tolerance_comes_from_the_settings(
    settings: Settings, client_for: ClientFactory, new_merchant: MerchantFactory
) -> None:
    strict = settings.model_copy(
        update={"attribution": AttributionSettings(webhook_tolerance_s=30)}
    )
    client = await client_for(strict)
    shop = await new_merchant(client)
    at = datetime.now(UTC) - timedelta(seconds=60)
    status, _ = await _post(client, shop.merchant_id, *signed(shop.webhook_secret, ORDER, at=at))
    assert status == 401


async def test_several_signatures_any_one_matching(
    client: Client, new_merchant: MerchantFactory
) -> None:
    shop = await new_merchant(client)
    body, headers = signed(shop.webhook_secret, ORDER)
    _, rotated = signed(
        new_secret(),
        ORDER,
        msg_id=headers["webhook-id"],
        at=datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC),
    )
    headers["webhook-signature"] = (
        f"v1a,ignored {rotated['webhook-signature']} v1,!!notbase64 {headers['webhook-signature']}"
    )
    status, answer = await _post(client, shop.merchant_id, body, headers)
    assert status == 201, answer
    headers["webhook-signature"] = rotated["webhook-signature"]
    status, _ = await _post(client, shop.merchant_id, body, headers)
    assert status == 401


async def test_missing_headers_and_merchant(client: Client, new_merchant: MerchantFactory) -> None:
    shop = await new_merchant(client)
    body, headers = signed(shop.webhook_secret, ORDER)
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        partial = {k: v for k, v in headers.items() if k != name}
        status, _ = await _post(client, shop.merchant_id, body, partial)
        assert status == 401
    resp = await client.post("/hooks/v1/conversions", data=body, headers=headers)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "bad_request"


async def test_bad_bodies_after_a_good_signature(
    client: Client, new_merchant: MerchantFactory
) -> None:
    shop = await new_merchant(client)
    cases: list[tuple[Any, int]] = [
        ({**ORDER, "customer_id": None}, 422),  # names nobody
        ({**ORDER, "currency": "XXY"}, 422),
        ({**ORDER, "occurred_at": "2026-03-01T20:15:00"}, 422),  # no time zone
        ({**ORDER, "amount": "-1"}, 422),
        ([1, 2], 422),
    ]
    for payload, expected in cases:
        status, answer = await _post(
            client, shop.merchant_id, *signed(shop.webhook_secret, payload)
        )
        assert status == expected, (payload, answer)
    raw = "{not json"
    _, headers = signed(shop.webhook_secret, {})
    from attribution.conversions import secret_key_bytes, sign

    ts = int(headers["webhook-timestamp"])
    headers["webhook-signature"] = sign(
        secret_key_bytes(shop.webhook_secret), headers["webhook-id"], ts, raw.encode()
    )
    status, answer = await _post(client, shop.merchant_id, raw, headers)
    assert status == 400 and answer["error"]["code"] == "invalid_json"
    assert await _count(client) == 0


def _shopify_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def test_platform_signatures(client: Client, new_merchant: MerchantFactory) -> None:
    from attribution.conversions import set_platform_secret
    from hub.web.keys import VAULT

    shop = await new_merchant(client)
    app = client.server.app
    assert app is not None
    async with sessions_of(client)() as session:
        await set_platform_secret(session, app[VAULT], shop.merchant_id, "shopify", "shpss_1")
        await set_platform_secret(session, app[VAULT], shop.merchant_id, "woocommerce", "wc_1")
        await session.commit()
    order = json.dumps(
        {
            "id": 1,
            "total_price": "10.00",
            "currency": "USD",
            "created_at": "2026-03-01T10:00:00-05:00",
        }
    ).encode()
    url = f"/hooks/v1/shopify/orders?merchant={shop.merchant_id}"
    for secret, expected in (("wrong", 401), ("wc_1", 401), ("shpss_1", 201)):
        resp = await client.post(
            url,
            data=order,
            headers={
                "X-Shopify-Hmac-Sha256": _shopify_hmac(secret, order),
                "X-Shopify-Topic": "orders/create",
                "Content-Type": "application/json",
            },
        )
        assert resp.status == expected, await resp.text()
    resp = await client.post(
        url, data=order + b" ", headers={"X-Shopify-Hmac-Sha256": _shopify_hmac("shpss_1", order)}
    )
    assert resp.status == 401
    # Woo: unknown merchant and wrong secret alike
    woo = json.dumps(
        {
            "id": 7,
            "total": "5.00",
            "currency": "USD",
            "date_created_gmt": "2026-03-01T10:00:00",
            "status": "processing",
        }
    ).encode()
    for merchant, secret, expected in (
        (999_999, "wc_1", 401),
        (shop.merchant_id, "shpss_1", 401),
        (shop.merchant_id, "wc_1", 201),
    ):
        resp = await client.post(
            f"/hooks/v1/woocommerce/orders?merchant={merchant}",
            data=woo,
            headers={
                "X-WC-Webhook-Signature": _shopify_hmac(secret, woo),
                "X-WC-Webhook-Topic": "order.created",
                "Content-Type": "application/json",
            },
        )
        assert resp.status == expected, await resp.text()
    assert await _count(client) == 2
