"""Reports on a small seeded data set, every number worked out by hand (both backends).

The merchant is in America/New_York; daylight saving starts there on 2026-03-08 at 02:00
(07:00 UTC), so the period 7–9 March has a 23-hour day, and some times fall on another date
in New York than in UTC:

    visitor  clicks (UTC)                                    order (UTC, local day)
    v1       telegram 03-07 15:00, 16:00; discord 03-08 03:30  C1 03-08 04:30 (7th) 100 USD,
                                                                  lines Mug 60 / Pot 40
    v2       discord 03-09 03:30 (local 8th, 23:30)            C2 03-09 04:00 (9th, 00:00) 50 USD,
                                                                  20 refunded
    v2       —                                                 C5 03-08 12:00 cancelled 70 USD
    v3       telegram 03-09 12:00                              —
    v4       telegram 03-10 12:00 (outside)                    C4 03-10 13:00 (outside)
    v5       mastodon 03-08 15:00                              C6 03-08 16:00 (8th) 10 EUR
    bot      telegram 03-08 12:00 (is_bot)                     —

Telegram links carry the campaign "Spring" and the card of the Mug; Discord links the card of
the Pot. Another merchant (UTC) has a Slack click and order in the same days. The clicks are
stored as the drain stores them, through the unique gate: v1's second Telegram click, an hour
after the first, is not unique.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from attribution.clicks import Click, MemoryUniqueGate, store_events
from attribution.conversions.ingest import record_order
from attribution.conversions.orders import LineItem, Order
from attribution.jobs import attribute_conversion
from attribution.reports import queries
from hub.config import Settings
from hub.storage.models import Conversion, Merchant
from tests.attribution.conversions._seed import (
    Channel,
    add_campaign,
    add_channel,
    add_product,
    context_of,
    sessions_of,
)
from tests.conftest import ClientFactory, MerchantFactory, bearer

Client = TestClient[Any, Any]


@pytest.fixture
async def client(settings: Settings, client_for: ClientFactory) -> Client:
    """The app on ``settings``; ``settings`` comes first so that the app (and the attribution
    job it may still be running) is closed before the test database is emptied."""
    return await client_for(settings)


PERIOD = "from=2026-03-07&to=2026-03-09"


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def _order(
    oid: str,
    visitor: str,
    at: datetime,
    amount: int,
    currency: str = "USD",
    lines: tuple[LineItem, ...] = (),
    status: str = "placed",
    refunded: int = 0,
) -> Order:
    return Order(
        oid,
        amount,
        refunded,
        currency,
        at,
        status,  # type: ignore[arg-type]
        None,
        visitor,
        None,
        lines,
        "api",
    )


async def seed(client: Client, new_merchant: MerchantFactory) -> dict[str, Any]:
    shop = await new_merchant(client)
    other = await new_merchant(client, name="Other")
    sessions = sessions_of(client)
    async with sessions() as session:
        await session.execute(
            update(Merchant)
            .where(Merchant.id == shop.merchant_id)
            .values(timezone="America/New_York")
        )
        await session.commit()
    m = shop.merchant_id
    mug = await add_product(sessions, m, "Mug", external_id="MUG")
    pot = await add_product(sessions, m, "Pot", external_id="POT")
    spring = await add_campaign(sessions, m, "Spring")
    tg = await add_channel(
        sessions, m, "telegram", name="TG news", product_id=mug, campaign_id=spring
    )
    dc = await add_channel(sessions, m, "discord", name="DC server", product_id=pot)
    ma = await add_channel(sessions, m, "mastodon", name="Toots")
    slack = await add_channel(sessions, other.merchant_id, "slack")
    clicks: list[tuple[int, Channel, datetime, str, bool]] = [
        (m, tg, utc(7, 15), "v1", False),
        (m, tg, utc(7, 16), "v1", False),
        (m, dc, utc(8, 3, 30), "v1", False),
        (m, dc, utc(9, 3, 30), "v2", False),
        (m, tg, utc(9, 12), "v3", False),
        (m, tg, utc(10, 12), "v4", False),
        (m, ma, utc(8, 15), "v5", False),
        (m, tg, utc(8, 12), "bot", True),
        (other.merchant_id, slack, utc(8, 10), "v1", False),
    ]
    events = [
        Click(uuid.uuid4().hex, ch.link_id, mid, visitor, at.timestamp(), bot, None, "UA", None)
        for mid, ch, at, visitor, bot in clicks
    ]
    await store_events(sessions, events, [], MemoryUniqueGate(86_400))

    now = datetime.now(UTC)
    orders = [
        (
            m,
            _order(
                "C1",
                "v1",
                utc(8, 4, 30),
                10000,
                lines=(LineItem(None, "MUG", 1, 6000), LineItem(None, "POT", 2, 4000)),
            ),
        ),
        (m, _order("C2", "v2", utc(9, 4), 5000)),
        (m, _order("C2", "v2", utc(9, 4), 5000, refunded=2000)),  # a partial refund later
        (m, _order("C5", "v2", utc(8, 12), 7000, status="cancelled")),
        (m, _order("C4", "v4", utc(10, 13), 9900)),
        (m, _order("C6", "v5", utc(8, 16), 1000, currency="EUR")),
        (other.merchant_id, _order("C1", "v1", utc(8, 11), 4200)),
    ]
    ids = set()
    async with sessions() as session:
        for merchant_id, o in orders:
            ids.add((await record_order(session, merchant_id, o, now)).conversion_id)
        await session.commit()
    ctx = context_of(client)
    for cid in sorted(ids):
        await attribute_conversion(ctx, conversion_id=cid)
    return {
        "shop": shop,
        "other": other,
        "mug": mug,
        "pot": pot,
        "spring": spring,
        "tg": tg,
        "dc": dc,
        "ma": ma,
    }


async def get(client: Client, token: str, path: str) -> Any:
    resp = await client.get(f"/api/v1/reports/{path}", headers=bearer(token))
    assert resp.status == 200, await resp.text()
    return await resp.json() if resp.content_type == "application/json" else await resp.text()


def rows(body: dict[str, Any]) -> dict[Any, tuple[Any, ...]]:
    return {
        r["key"]: (
            r["clicks"],
            r["unique_clicks"],
            r["conversions"],
            r["revenue"],
            r["conversion_rate"],
        )
        for r in body["rows"]
    }


@pytest.fixture
async def seeded(client: Client, new_merchant: MerchantFactory) -> dict[str, Any]:
    return await seed(client, new_merchant)


async def test_by_channel_last_and_linear(client: Client, seeded: dict[str, Any]) -> None:
    token = seeded["shop"].api_key.token
    body = await get(client, token, f"channel?model=last_touch&{PERIOD}")
    assert body["period"] == {
        "from": "2026-03-07",
        "to": "2026-03-09",
        "timezone": "America/New_York",
    }
    assert rows(body) == {
        "discord": (2, 2, 2.0, {"USD": "130.00"}, 1.0),
        "telegram": (3, 2, 0.0, {}, 0.0),
        "mastodon": (1, 1, 1.0, {"EUR": "10.00"}, 1.0),
    }
    total = body["total"]
    assert (total["clicks"], total["unique_clicks"], total["conversions"], total["revenue"]) == (
        6,
        5,  # a unique click per link: v1 counts on Telegram and on Discord
        3.0,
        {"EUR": "10.00", "USD": "130.00"},
    )
    body = await get(client, token, f"channel?model=linear&{PERIOD}")
    got = rows(body)
    assert got["telegram"][2] == pytest.approx(2 / 3, abs=1e-6)
    assert got["telegram"][3] == {"USD": "66.67"}  # 2/3 of 100
    assert got["discord"][2] == pytest.approx(4 / 3, abs=1e-6)
    assert got["discord"][3] == {"USD": "63.33"}  # 1/3 of 100 + all of 30
    assert body["total"]["revenue"] == {"EUR": "10.00", "USD": "130.00"}


async def test_by_day_in_the_merchants_time_zone(client: Client, seeded: dict[str, Any]) -> None:
    body = await get(client, seeded["shop"].api_key.token, f"day?model=last_touch&{PERIOD}")
    assert rows(body) == {
        "2026-03-07": (3, 2, 1.0, {"USD": "100.00"}, 0.5),
        "2026-03-08": (2, 2, 1.0, {"EUR": "10.00"}, 0.5),
        "2026-03-09": (1, 1, 1.0, {"USD": "30.00"}, 1.0),
    }
    assert [r["key"] for r in body["rows"]] == ["2026-03-07", "2026-03-08", "2026-03-09"]


async def test_by_product_account_campaign_link(client: Client, seeded: dict[str, Any]) -> None:
    token = seeded["shop"].api_key.token
    s = seeded
    body = await get(client, token, f"product?model=last_touch&{PERIOD}")
    assert rows(body) == {
        s["mug"]: (3, 2, 0.6, {"USD": "60.00"}, 0.3),
        s["pot"]: (2, 2, 0.4, {"USD": "40.00"}, 0.2),
        None: (1, 1, 2.0, {"EUR": "10.00", "USD": "30.00"}, 2.0),
    }
    assert {r["key"]: r["label"] for r in body["rows"]} == {
        s["mug"]: "Mug",
        s["pot"]: "Pot",
        None: "(none)",
    }
    body = await get(client, token, f"account?model=last_touch&{PERIOD}")
    assert {r["label"]: (r["clicks"], r["conversions"]) for r in body["rows"]} == {
        "TG news": (3, 0.0),
        "DC server": (2, 2.0),
        "Toots": (1, 1.0),
    }
    body = await get(client, token, f"campaign?model=first_touch&{PERIOD}")
    assert rows(body) == {
        s["spring"]: (3, 2, 1.0, {"USD": "100.00"}, 0.5),
        None: (3, 3, 2.0, {"EUR": "10.00", "USD": "30.00"}, 0.666667),  # v1, v2, v5
    }
    body = await get(client, token, f"link?model=first_touch&{PERIOD}")
    assert {r["key"] for r in body["rows"]} == {s["tg"].link_id, s["dc"].link_id, s["ma"].link_id}


async def test_model_comparison_and_csv(client: Client, seeded: dict[str, Any]) -> None:
    token = seeded["shop"].api_key.token
    body = await get(
        client, token, f"models?dimension=channel&models=first_touch,last_touch,linear&{PERIOD}"
    )
    by_key = {r["key"]: r["models"] for r in body["rows"]}
    assert by_key["telegram"]["first_touch"] == {"conversions": 1.0, "revenue": {"USD": "100.00"}}
    assert by_key["telegram"]["last_touch"] == {"conversions": 0.0, "revenue": {}}
    assert by_key["discord"]["first_touch"] == {"conversions": 1.0, "revenue": {"USD": "30.00"}}
    assert by_key["discord"]["linear"]["revenue"] == {"USD": "63.33"}
    for model in ("first_touch", "last_touch", "linear"):
        assert body["totals"][model]["revenue"] == {"EUR": "10.00", "USD": "130.00"}

    text = await get(client, token, f"channel.csv?model=last_touch&{PERIOD}")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == [
        "channel",
        "label",
        "clicks",
        "unique_clicks",
        "conversions",
        "conversion_rate",
        "revenue_EUR",
        "revenue_USD",
    ]
    assert ["discord", "discord", "2", "2", "2.000000", "1.000000", "0", "130.00"] in table
    assert table[-1][:5] == ["total", "total", "6", "5", "3.000000"]
    same = await get(client, token, f"channel?model=last_touch&format=csv&{PERIOD}")
    assert same == text
    text = await get(client, token, f"models?models=last_touch,linear&format=csv&{PERIOD}")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == [
        "channel",
        "label",
        "last_touch_conversions",
        "last_touch_revenue_EUR",
        "last_touch_revenue_USD",
        "linear_conversions",
        "linear_revenue_EUR",
        "linear_revenue_USD",
    ]


async def test_tenant_isolation_and_errors(client: Client, seeded: dict[str, Any]) -> None:
    other = seeded["other"].api_key.token
    body = await get(client, other, f"channel?model=last_touch&{PERIOD}")
    assert rows(body) == {"slack": (1, 1, 1.0, {"USD": "42.00"}, 1.0)}
    body = await get(client, seeded["shop"].api_key.token, f"channel?model=linear&{PERIOD}")
    assert "slack" not in rows(body)
    token = seeded["shop"].api_key.token
    for path, status in (
        ("nope", 404),
        ("channel?model=nope", 422),
        ("channel?from=2026-03-09&to=2026-03-01", 422),
        ("channel?from=2020-01-01&to=2026-01-01", 422),
        ("models?models=first_touch,nope", 422),
    ):
        resp = await client.get(f"/api/v1/reports/{path}", headers=bearer(token))
        assert resp.status == status, path
    resp = await client.get("/api/v1/reports/channel")
    assert resp.status == 401


async def test_default_period_is_the_last_30_days(client: Client, seeded: dict[str, Any]) -> None:
    body = await get(client, seeded["shop"].api_key.token, "day")
    first, last = body["period"]["from"], body["period"]["to"]
    assert len(body["rows"]) == 30
    assert (datetime.fromisoformat(last) - datetime.fromisoformat(first)) == timedelta(days=29)


async def test_revenue_follows_a_corrected_order_currency(
    client: Client, seeded: dict[str, Any]
) -> None:
    """Credits keep their conversion's currency (a copy, for reports); a corrected currency
    reaches them."""
    async with sessions_of(client)() as session:
        await session.execute(
            update(Conversion)
            .where(Conversion.merchant_id == seeded["shop"].merchant_id)
            .where(Conversion.order_id == "C2")
            .values(currency="CAD")
        )
        await session.commit()
    body = await get(client, seeded["shop"].api_key.token, f"channel?model=last_touch&{PERIOD}")
    assert rows(body)["discord"][3] == {"CAD": "30.00", "USD": "100.00"}
    assert body["total"]["revenue"] == {"CAD": "30.00", "EUR": "10.00", "USD": "100.00"}


async def test_rows_sorted_and_paged(client: Client, seeded: dict[str, Any]) -> None:
    """Rows by key by default; by a figure, highest first and ties by key; ``limit`` rows from
    ``cursor``. Totals and ``count`` cover every row whatever the window."""
    token = seeded["shop"].api_key.token
    every = await get(client, token, f"channel?model=last_touch&{PERIOD}")
    assert [r["key"] for r in every["rows"]] == ["discord", "mastodon", "telegram"]
    assert (every["count"], every["next_cursor"], every["sort"]) == (3, None, "key")

    first = await get(client, token, f"channel?model=last_touch&sort=clicks&limit=2&{PERIOD}")
    assert [r["key"] for r in first["rows"]] == ["telegram", "discord"]
    assert (first["count"], first["next_cursor"]) == (3, "2")
    assert first["total"] == every["total"]
    rest = await get(
        client, token, f"channel?model=last_touch&sort=clicks&limit=2&cursor=2&{PERIOD}"
    )
    assert [r["key"] for r in rest["rows"]] == ["mastodon"]
    assert rest["next_cursor"] is None and rest["total"] == every["total"]
    past = await get(client, token, f"channel?model=last_touch&cursor=9&{PERIOD}")
    assert (past["rows"], past["count"], past["next_cursor"]) == ([], 3, None)

    def order(body: dict[str, Any]) -> list[Any]:
        return [r["key"] for r in body["rows"]]

    # Revenue in the merchant's currency (USD) unless another is named; ties by key.
    assert order(await get(client, token, f"channel?model=last_touch&sort=revenue&{PERIOD}")) == [
        "discord",
        "mastodon",
        "telegram",
    ]
    by_eur = await get(
        client, token, f"channel?model=last_touch&sort=revenue&currency=EUR&{PERIOD}"
    )
    assert order(by_eur) == ["mastodon", "discord", "telegram"]
    by_conv = await get(client, token, f"channel?model=linear&sort=conversions&{PERIOD}")
    assert order(by_conv) == ["discord", "mastodon", "telegram"]  # 4/3, 1, 2/3
    assert [round(r["conversions"], 6) for r in by_conv["rows"]] == sorted(
        (round(r["conversions"], 6) for r in by_conv["rows"]), reverse=True
    )
    assert order(
        await get(client, token, f"channel?model=last_touch&sort=unique_clicks&{PERIOD}")
    ) == [
        "discord",
        "telegram",
        "mastodon",
    ]

    # CSV: every row in the asked order unless limit is given; the total line always.
    text = await get(client, token, f"channel.csv?model=last_touch&sort=clicks&{PERIOD}")
    assert [line[0] for line in csv.reader(io.StringIO(text))][1:] == [
        "telegram",
        "discord",
        "mastodon",
        "total",
    ]
    text = await get(client, token, f"channel.csv?model=last_touch&limit=1&{PERIOD}")
    assert [line[0] for line in csv.reader(io.StringIO(text))][1:] == ["discord", "total"]

    models = await get(
        client,
        token,
        f"models?models=last_touch,linear&sort=conversions&limit=1&{PERIOD}",
    )
    assert [r["key"] for r in models["rows"]] == ["discord"]
    assert (models["count"], models["next_cursor"], models["sort"]) == (3, "1", "conversions")
    assert models["totals"]["last_touch"]["conversions"] == every["total"]["conversions"]

    for path in (
        "channel?limit=0",
        "channel?limit=1001",
        "channel?cursor=0",
        "channel?sort=nope",
        "channel?sort=revenue&currency=usd",
        "models?sort=clicks",
    ):
        resp = await client.get(f"/api/v1/reports/{path}", headers=bearer(token))
        assert resp.status == 422, path


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_zone_change_in_the_middle_of_a_report_is_not_seen(
    client: Client, seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report reads the merchant's zone, then the rollups kept in it. A zone change that
    commits in between rebuilds them in the new zone: the report must still see one state of
    the database (its snapshot), not the old zone's rows gone."""
    token, shop = seeded["shop"].api_key.token, seeded["shop"].merchant_id
    before = await get(client, token, f"channel?model=last_touch&{PERIOD}")
    assert before["total"]["clicks"] == 6

    real = queries._rows
    changed: list[bool] = []

    async def zone_changes_meanwhile(*args: Any, **kwargs: Any) -> Any:
        """The zone changes once the report has chosen its rollups, before it reads them."""
        if not changed:
            changed.append(True)
            async with sessions_of(client)() as other:
                await other.execute(
                    update(Merchant).where(Merchant.id == shop).values(timezone="Asia/Tokyo")
                )
                await other.commit()
        return await real(*args, **kwargs)

    monkeypatch.setattr(queries, "_rows", zone_changes_meanwhile)
    during = await get(client, token, f"channel?model=last_touch&{PERIOD}")
    assert changed
    assert (during["period"]["timezone"], rows(during)) == ("America/New_York", rows(before))
    after = await get(client, token, f"channel?model=last_touch&{PERIOD}")
    assert after["period"]["timezone"] == "Asia/Tokyo"
