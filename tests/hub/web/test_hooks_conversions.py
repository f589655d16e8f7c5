"""Conversions and identity through the hooks: idempotency, refunds, late links and clicks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from attribution.jobs import scan_due
from hub.config import Settings
from hub.storage.models import Conversion, Customer, Visitor
from tests.attribution.conversions._seed import (
    add_channel,
    add_click,
    add_product,
    context_of,
    conversion,
    credits_of,
    sessions_of,
    signed,
    wait_attributed,
)
from tests.conftest import ClientFactory, MerchantFactory

Client = TestClient[Any, Any]


@pytest.fixture
async def client(settings: Settings, client_for: ClientFactory) -> Client:
    """The app on ``settings``; ``settings`` comes first so that the app (and the attribution
    job it may still be running) is closed before the test database is emptied."""
    return await client_for(settings)


T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def order(**over: Any) -> dict[str, Any]:
    return {
        "order_id": "A-1",
        "amount": "100.00",
        "currency": "USD",
        "occurred_at": T.isoformat(),
        **over,
    }


async def deliver(
    client: Client, merchant: Any, payload: Any, path: str = "conversions"
) -> tuple[int, Any]:
    body, headers = signed(merchant.webhook_secret, payload)
    resp = await client.post(
        f"/hooks/v1/{path}?merchant={merchant.merchant_id}", data=body, headers=headers
    )
    return resp.status, await resp.json()


async def test_concurrent_duplicate_deliveries_create_one_conversion(
    client: Client, new_merchant: MerchantFactory
) -> None:
    shop = await new_merchant(client)
    body, headers = signed(shop.webhook_secret, order(customer_id="c-1"))
    url = f"/hooks/v1/conversions?merchant={shop.merchant_id}"

    async def one() -> tuple[int, Any]:
        resp = await client.post(url, data=body, headers=headers)
        return resp.status, await resp.json()

    answers = await asyncio.gather(*(one() for _ in range(10)))
    statuses = sorted(s for s, _ in answers)
    assert statuses == [200] * 9 + [201], answers
    assert len({a["conversion_id"] for _, a in answers}) == 1
    async with sessions_of(client)() as session:
        assert await session.scalar(select(func.count()).select_from(Conversion)) == 1
        assert await session.scalar(select(func.count()).select_from(Customer)) == 1


async def test_attribution_after_a_conversion(
    client: Client, new_merchant: MerchantFactory
) -> None:
    shop = await new_merchant(client)
    sessions = sessions_of(client)
    tg = await add_channel(sessions, shop.merchant_id, "telegram")
    dc = await add_channel(sessions, shop.merchant_id, "discord")
    first = await add_click(sessions, shop.merchant_id, tg, T - timedelta(days=3), visitor_id="v1")
    await add_click(
        sessions, shop.merchant_id, dc, T - timedelta(days=2), visitor_id="v1", is_bot=True
    )
    last = await add_click(sessions, shop.merchant_id, dc, T - timedelta(hours=1), visitor_id="v1")
    await add_click(sessions, shop.merchant_id, dc, T - timedelta(days=31), visitor_id="v1")
    await add_click(sessions, shop.merchant_id, tg, T + timedelta(hours=1), visitor_id="v1")
    status, answer = await deliver(client, shop, order(visitor_id="v1"))
    assert status == 201
    cid = answer["conversion_id"]
    conv = await wait_attributed(sessions, cid)
    credits = await credits_of(sessions, cid)
    by_model: dict[str, dict[str, float]] = {}
    for c in credits:
        by_model.setdefault(c.model, {})[c.click_id] = c.revenue_minor
    assert by_model["first_touch"] == {first: pytest.approx(10000)}
    assert by_model["last_touch"] == {last: pytest.approx(10000)}
    assert by_model["linear"] == {first: pytest.approx(5000), last: pytest.approx(5000)}
    assert by_model["position_based"] == {first: pytest.approx(5000), last: pytest.approx(5000)}
    assert set(by_model) == {"first_touch", "last_touch", "linear", "time_decay", "position_based"}
    assert {c.channel_kind for c in credits if c.click_id == last} == {"discord"}
    # The second pass waits for late clicks.
    assert conv.attribute_due_at is not None
    assert conv.attribute_due_at > datetime.now(UTC) + timedelta(minutes=5)


async def test_refunds_adjust_credited_revenue_and_cancellation_removes_it(
    client: Client, new_merchant: MerchantFactory
) -> None:
    shop = await new_merchant(client)
    sessions = sessions_of(client)
    tg = await add_channel(sessions, shop.merchant_id, "telegram")
    dc = await add_channel(sessions, shop.merchant_id, "discord")
    await add_click(sessions, shop.merchant_id, tg, T - timedelta(days=1), visitor_id="v1")
    await add_click(sessions, shop.merchant_id, dc, T - timedelta(hours=1), visitor_id="v1")
    _, answer = await deliver(client, shop, order(visitor_id="v1"))
    cid = answer["conversion_id"]
    await wait_attributed(sessions, cid)

    status, answer = await deliver(
        client, shop, order(visitor_id="v1", status="refunded", refunded_amount="40.00")
    )
    assert (status, answer["created"], answer["status"]) == (200, False, "refunded")
    conv = await conversion(sessions, cid)
    assert (conv.refunded_minor, conv.status, conv.amount_minor) == (4000, "refunded", 10000)
    linear = await credits_of(sessions, cid, "linear")
    assert [round(c.revenue_minor) for c in linear] == [3000, 3000]
    assert sum(c.weight for c in linear) == pytest.approx(1.0)

    # A late, stale "placed" delivery changes nothing; a smaller refund does not undo one.
    for stale in (
        order(visitor_id="v1"),
        order(visitor_id="v1", status="refunded", refunded_amount="10.00"),
    ):
        status, answer = await deliver(client, shop, stale)
        assert (status, answer["status"]) == (200, "refunded")
    assert (await conversion(sessions, cid)).refunded_minor == 4000

    status, answer = await deliver(client, shop, order(visitor_id="v1", status="cancelled"))
    assert answer["status"] == "cancelled"
    assert await credits_of(sessions, cid) == []
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Conversion)) == 1
    # attributing a cancelled conversion again credits nothing
    from attribution.jobs import attribute_conversion

    await attribute_conversion(context_of(client), conversion_id=cid)
    assert await credits_of(sessions, cid) == []


async def test_late_identity_link_recomputes_credits(
    client: Client, new_merchant: MerchantFactory
) -> None:
    shop = await new_merchant(client)
    sessions = sessions_of(client)
    tg = await add_channel(sessions, shop.merchant_id, "telegram")
    dc = await add_channel(sessions, shop.merchant_id, "discord")
    # the phone (v-phone) clicked on telegram; the laptop (v-laptop) clicked on discord
    phone = await add_click(
        sessions, shop.merchant_id, tg, T - timedelta(days=2), visitor_id="v-phone"
    )
    laptop = await add_click(
        sessions, shop.merchant_id, dc, T - timedelta(hours=2), visitor_id="v-laptop"
    )
    _, answer = await deliver(client, shop, order(click_id=laptop, customer_id="cust-9"))
    cid = answer["conversion_id"]
    before = await wait_attributed(sessions, cid)
    assert {c.click_id for c in await credits_of(sessions, cid, "linear")} == {laptop}
    async with sessions() as session:  # the order linked the laptop's visitor to the customer
        linked = await session.scalar(
            select(Visitor.customer_id).where(Visitor.visitor_id == "v-laptop")
        )
        assert linked == before.customer_id

    status, answer = await deliver(
        client, shop, {"customer_id": "cust-9", "click_id": phone}, path="identify"
    )
    assert status == 200, answer
    assert answer == {"customer_id": "cust-9", "linked_visitors": 1, "reattributed": 1}
    await wait_attributed(sessions, cid, after=before.attributed_at)
    first = await credits_of(sessions, cid, "first_touch")
    assert [(c.click_id, c.channel_kind) for c in first] == [(phone, "telegram")]
    linear = await credits_of(sessions, cid, "linear")
    assert {c.click_id: round(c.revenue_minor) for c in linear} == {phone: 5000, laptop: 5000}

    # saying it again changes nothing and re-attributes nothing
    status, answer = await deliver(
        client, shop, {"customer_id": "cust-9", "visitor_id": "v-phone"}, path="identify"
    )
    assert answer["reattributed"] == 0
    status, answer = await deliver(
        client, shop, {"customer_id": "cust-9", "click_id": "nope"}, path="identify"
    )
    assert status == 404
    status, answer = await deliver(client, shop, {"customer_id": "cust-9"}, path="identify")
    assert status == 422


async def test_late_click_is_taken_in_by_the_due_scan(
    client: Client, new_merchant: MerchantFactory
) -> None:
    shop = await new_merchant(client)
    sessions = sessions_of(client)
    tg = await add_channel(sessions, shop.merchant_id, "telegram")
    _, answer = await deliver(client, shop, order(visitor_id="v1"))
    cid = answer["conversion_id"]
    await wait_attributed(sessions, cid)
    assert await credits_of(sessions, cid) == []
    late = await add_click(sessions, shop.merchant_id, tg, T - timedelta(hours=3), visitor_id="v1")
    async with sessions() as session:  # the settle time has passed
        await session.execute(
            update(Conversion).values(
                attribute_due_at=datetime.now(UTC) - timedelta(seconds=1),
                created_at=datetime.now(UTC) - timedelta(seconds=601),
            )
        )
        await session.commit()
    assert await scan_due(context_of(client)) == {"attributed": 1}
    assert [c.click_id for c in await credits_of(sessions, cid, "last_touch")] == [late]
    assert (await conversion(sessions, cid)).attribute_due_at is None
    assert await scan_due(context_of(client)) == {"attributed": 0}


async def test_line_items_split_credit_by_product(
    client: Client, new_merchant: MerchantFactory
) -> None:
    shop = await new_merchant(client)
    sessions = sessions_of(client)
    mug = await add_product(sessions, shop.merchant_id, "Mug", external_id="SKU-MUG")
    pot = await add_product(sessions, shop.merchant_id, "Teapot")
    tg = await add_channel(sessions, shop.merchant_id, "telegram", product_id=mug)
    click = await add_click(sessions, shop.merchant_id, tg, T - timedelta(hours=1), visitor_id="v1")
    lines = [
        {"external_id": "SKU-MUG", "quantity": 2, "amount": "30.00"},
        {"product_id": pot, "quantity": 1, "amount": "50.00"},
        {"external_id": "unknown", "quantity": 1, "amount": "20.00"},
    ]
    _, answer = await deliver(client, shop, order(click_id=click, line_items=lines))
    cid = answer["conversion_id"]
    await wait_attributed(sessions, cid)
    rows = await credits_of(sessions, cid, "last_touch")
    assert {r.product_id: round(r.revenue_minor) for r in rows} == {
        mug: 3000,
        pot: 5000,
        None: 2000,
    }
    assert sum(r.weight for r in rows) == pytest.approx(1.0)
    assert {r.link_id for r in rows} == {tg.link_id}


def _b64hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def test_shopify_and_woocommerce_orders(
    client: Client, new_merchant: MerchantFactory
) -> None:
    from attribution.conversions import set_platform_secret
    from hub.web.keys import VAULT

    shop = await new_merchant(client)
    sessions = sessions_of(client)
    app = client.server.app
    assert app is not None
    async with sessions() as session:
        await set_platform_secret(session, app[VAULT], shop.merchant_id, "shopify", "s3cret")
        await set_platform_secret(session, app[VAULT], shop.merchant_id, "woocommerce", "w00")
        await session.commit()
    mug = await add_product(sessions, shop.merchant_id, "Mug", external_id="632910392")
    tg = await add_channel(sessions, shop.merchant_id, "telegram")
    click = await add_click(sessions, shop.merchant_id, tg, T - timedelta(hours=1), visitor_id="v1")
    shopify = {
        "id": 820982911946154508,
        "total_price": "199.00",
        "current_total_price": "199.00",
        "currency": "USD",
        "created_at": "2026-03-01T07:00:00-05:00",
        "financial_status": "paid",
        "cancelled_at": None,
        "landing_site": f"/products/mug?utm_source=telegram&hub_cid={click}",
        "note_attributes": [{"name": "hub_vid", "value": "v1"}],
        "customer": {"id": 115310627314723954},
        "line_items": [
            {
                "product_id": 632910392,
                "sku": "MUG",
                "quantity": 1,
                "price": "199.00",
                "total_discount": "0.00",
            }
        ],
    }

    async def to_shopify(payload: dict[str, Any], topic: str) -> tuple[int, Any]:
        raw = json.dumps(payload).encode()
        resp = await client.post(
            f"/hooks/v1/shopify/orders?merchant={shop.merchant_id}",
            data=raw,
            headers={
                "X-Shopify-Hmac-Sha256": _b64hmac("s3cret", raw),
                "X-Shopify-Topic": topic,
                "X-Shopify-Webhook-Id": "b54557e4",
            },
        )
        return resp.status, await resp.json()

    status, answer = await to_shopify(shopify, "orders/create")
    assert status == 201, answer
    cid = answer["conversion_id"]
    conv = await wait_attributed(sessions, cid)
    assert (conv.order_id, conv.amount_minor, conv.click_id, conv.visitor_id, conv.source) == (
        "820982911946154508",
        19900,
        click,
        "v1",
        "shopify",
    )
    assert conv.occurred_at == T
    rows = await credits_of(sessions, cid, "last_touch")
    assert [(r.click_id, r.product_id) for r in rows] == [(click, mug)]
    status, answer = await to_shopify(shopify, "orders/create")
    assert (status, answer["created"]) == (200, False)
    refunded = {
        **shopify,
        "financial_status": "partially_refunded",
        "current_total_price": "149.00",
    }
    status, answer = await to_shopify(refunded, "orders/updated")
    assert answer["status"] == "placed"
    assert (await conversion(sessions, cid)).refunded_minor == 5000
    assert round((await credits_of(sessions, cid, "last_touch"))[0].revenue_minor) == 14900
    status, answer = await to_shopify({}, "app/uninstalled")
    assert (status, answer) == (200, {"ignored": "app/uninstalled"})

    woo = {
        "id": 727,
        "total": "30.00",
        "currency": "EUR",
        "status": "processing",
        "date_created_gmt": "2026-03-01T11:00:00",
        "customer_id": 0,
        "meta_data": [{"id": 1, "key": "_hub_cid", "value": click}],
        "line_items": [{"product_id": 632910392, "quantity": 1, "total": "30.00"}],
        "refunds": [],
    }

    async def to_woo(payload: dict[str, Any]) -> tuple[int, Any]:
        raw = json.dumps(payload).encode()
        resp = await client.post(
            f"/hooks/v1/woocommerce/orders?merchant={shop.merchant_id}",
            data=raw,
            headers={
                "X-WC-Webhook-Signature": _b64hmac("w00", raw),
                "X-WC-Webhook-Topic": "order.updated",
                "Content-Type": "application/json",
            },
        )
        return resp.status, await resp.json()

    status, answer = await to_woo(woo)
    assert status == 201, answer
    woo_id = answer["conversion_id"]
    conv = await conversion(sessions, woo_id)
    assert (conv.amount_minor, conv.currency, conv.click_id, conv.customer_id) == (
        3000,
        "EUR",
        click,
        None,
    )
    status, answer = await to_woo({**woo, "refunds": [{"id": 9, "total": "-10.00"}]})
    assert (await conversion(sessions, woo_id)).refunded_minor == 1000
    status, answer = await to_woo({**woo, "status": "refunded"})
    assert answer["status"] == "refunded"
    assert (await conversion(sessions, woo_id)).refunded_minor == 3000
    ping = await client.post(
        f"/hooks/v1/woocommerce/orders?merchant={shop.merchant_id}",
        data="webhook_id=5",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ping.status == 200


async def test_hourly_data_driven_scan_credits_markov_and_shapley(
    client: Client, new_merchant: MerchantFactory
) -> None:
    from attribution.jobs import data_driven_scan

    shop = await new_merchant(client)
    sessions = sessions_of(client)
    tg = await add_channel(sessions, shop.merchant_id, "telegram")
    now = datetime.now(UTC).replace(microsecond=0)
    click = await add_click(
        sessions, shop.merchant_id, tg, now - timedelta(hours=2), visitor_id="v1"
    )
    _, answer = await deliver(
        client, shop, order(visitor_id="v1", occurred_at=(now - timedelta(hours=1)).isoformat())
    )
    cid = answer["conversion_id"]
    await wait_attributed(sessions, cid)
    assert await credits_of(sessions, cid, "markov") == []
    assert await data_driven_scan(context_of(client)) == {"merchants": 1, "conversions": 1}
    for model in ("markov", "shapley"):
        got = await credits_of(sessions, cid, model)
        assert [(c.click_id, round(c.revenue_minor)) for c in got] == [(click, 10000)]


async def test_the_due_scan_attributes_the_others_when_one_fails(
    client: Client, new_merchant: MerchantFactory
) -> None:
    """Due conversions are attributed in chunks; one that cannot be attributed (line items
    its product split cannot read) costs only itself, and stays due."""
    shop = await new_merchant(client)
    sessions = sessions_of(client)
    tg = await add_channel(sessions, shop.merchant_id, "telegram")
    cids = []
    for n in range(3):
        _, answer = await deliver(client, shop, order(order_id=f"O-{n}", visitor_id=f"v{n}"))
        cids.append(answer["conversion_id"])
        await wait_attributed(sessions, cids[-1])
        await add_click(sessions, shop.merchant_id, tg, T - timedelta(hours=3), visitor_id=f"v{n}")
    async with sessions() as session:
        await session.execute(
            update(Conversion).values(
                attribute_due_at=datetime.now(UTC) - timedelta(seconds=1),
                created_at=datetime.now(UTC) - timedelta(seconds=601),
            )
        )
        await session.execute(
            update(Conversion)
            .where(Conversion.id == cids[1])
            .values(line_items=[{"product_id": None, "amount_minor": "n/a"}])
        )
        await session.commit()
    with pytest.raises(ValueError, match="n/a"):
        await scan_due(context_of(client))
    for cid in (cids[0], cids[2]):
        assert len(await credits_of(sessions, cid, "last_touch")) == 1
        assert (await conversion(sessions, cid)).attribute_due_at is None
    assert await credits_of(sessions, cids[1], "last_touch") == []
    assert (await conversion(sessions, cids[1])).attribute_due_at is not None
