"""``hub conversions backfill``: past orders from JSON Lines or CSV, validated like the hook."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from hub.storage.db import SessionFactory
from hub.storage.models import AttributionCredit, Conversion
from tests.attribution.conversions._seed import add_channel, add_click, add_product
from tests.hub.cli.conftest import Hub, add_merchant, progress_lines

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


def _order(order_id: str, days_ago: int, **more: Any) -> dict[str, Any]:
    at = (NOW - days_ago * DAY).isoformat()
    return {"order_id": order_id, "amount": "40.00", "currency": "EUR", "occurred_at": at, **more}


async def _conversions(sessions: SessionFactory, merchant: int) -> dict[str, Conversion]:
    async with sessions() as session:
        rows = await session.scalars(select(Conversion).where(Conversion.merchant_id == merchant))
        return {c.order_id: c for c in rows}


async def _credit_rows(sessions: SessionFactory) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                AttributionCredit.id,
                AttributionCredit.conversion_id,
                AttributionCredit.model,
                AttributionCredit.click_id,
                AttributionCredit.product_id,
                AttributionCredit.weight,
            ).order_by(AttributionCredit.id)
        )
        return [tuple(r) for r in rows]


async def test_jsonl_backfill_reports_bad_lines_attributes_and_is_idempotent(
    hub: Hub, sessions: SessionFactory, tmp_path: Path
) -> None:
    shop = await add_merchant(sessions)
    tea = await add_product(sessions, shop, "Tea", external_id="SKU-TEA")
    tg = await add_channel(sessions, shop, "telegram")
    dc = await add_channel(sessions, shop, "discord")
    first = await add_click(sessions, shop, tg, NOW - 200 * DAY, visitor_id="v1")
    last = await add_click(sessions, shop, dc, NOW - 199 * DAY, visitor_id="v1")
    await add_click(sessions, shop, dc, NOW - 150 * DAY, visitor_id="v2")
    lines = [
        json.dumps(
            _order(
                "A-1",
                198,
                visitor_id="v1",
                line_items=[{"external_id": "SKU-TEA", "amount": "40.00"}],
            )
        ),
        '{"order_id": "A-2", "amount": ',
        json.dumps(_order("A-3", 149, visitor_id="v2")),
        json.dumps(_order("A-4", 10)),
        "",
        json.dumps(_order("A-5", 10, currency="XYZ", customer_id="c")),
        "[1, 2]",
        json.dumps(_order("A-6", 5, customer_id="nobody-clicked", status="refunded")),
    ]
    feed = tmp_path / "orders.jsonl"
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = await hub("conversions", "backfill", "--merchant", str(shop), str(feed))
    assert result.exit_code == 1, result.output
    out = result.stdout.splitlines()
    assert out[0].startswith("line 2: not valid JSON")
    assert out[1] == "line 4: give click_id, visitor_id or customer_id"
    assert out[2] == "line 6: currency: unknown ISO 4217 currency 'XYZ'"
    assert out[3] == "line 7: expected a JSON object"
    assert out[4] == "7 records: 3 new, 0 changed, 0 unchanged, 4 bad"
    assert out[5].startswith("attributed 3 conversions (")
    stored = await _conversions(sessions, shop)
    assert sorted(stored) == ["A-1", "A-3", "A-6"]
    assert all(c.source == "backfill" and c.attributed_at is not None for c in stored.values())
    assert (stored["A-6"].status, stored["A-6"].refunded_minor) == ("refunded", 4000)
    credits = await _credit_rows(sessions)
    a1 = stored["A-1"].id
    assert (a1, "first_touch", first, tea, 1.0) in [c[1:] for c in credits]
    assert (a1, "last_touch", last, tea, 1.0) in [c[1:] for c in credits]
    # orders older than the data-driven window still get data-driven credits
    assert {c[2] for c in credits if c[1] == a1} >= {"markov", "shapley"}
    assert progress_lines(result.stderr, "record orders")[-1].startswith("record orders: 7/7 in ")
    assert progress_lines(result.stderr, "attribute conversions")[-1].startswith(
        "attribute conversions: 3/3 in "
    )

    again = await hub("conversions", "backfill", "--merchant", str(shop), str(feed))
    assert again.exit_code == 1
    assert "7 records: 0 new, 0 changed, 3 unchanged, 4 bad" in again.stdout
    assert "attributed 0 conversions" in again.stdout
    assert await _credit_rows(sessions) == credits  # not even rewritten
    assert len(await _conversions(sessions, shop)) == 3


async def test_csv_backfill_and_a_later_refund(
    hub: Hub, sessions: SessionFactory, tmp_path: Path
) -> None:
    shop = await add_merchant(sessions)
    tg = await add_channel(sessions, shop, "telegram")
    await add_click(sessions, shop, tg, NOW - 3 * DAY, visitor_id="v1")
    items = json.dumps([{"external_id": "X", "amount": "40.00"}]).replace('"', '""')
    at = (NOW - 2 * DAY).isoformat()
    feed = tmp_path / "orders.csv"
    feed.write_text(
        "order_id,amount,currency,occurred_at,visitor_id,status,line_items\n"
        f'B-1,40.00,EUR,{at},v1,placed,"{items}"\n'
        f"B-2,-5,EUR,{at},v1,placed,\n"
        f"B-3,12.00,EUR,{at},,placed,\n"
        f"B-4,12.00,EUR,{at},v1,shipped,\n",
        encoding="utf-8",
    )
    result = await hub("conversions", "backfill", "--merchant", str(shop), str(feed))
    assert result.exit_code == 1, result.output
    out = result.stdout.splitlines()
    assert out[:3] == [
        "line 3: amount: Input should be greater than or equal to 0",
        "line 4: give click_id, visitor_id or customer_id",
        "line 5: status: Input should be 'placed', 'refunded' or 'cancelled'",
    ]
    stored = await _conversions(sessions, shop)
    assert list(stored) == ["B-1"]
    assert stored["B-1"].line_items == [
        {"product_id": None, "external_id": "X", "quantity": 1, "amount_minor": 4000}
    ]
    revenue = await _revenue(sessions, stored["B-1"].id)
    assert revenue == 4000.0

    # the storefront's export later shows the refund: the known order changes, credits follow
    refund = tmp_path / "refunds.jsonl"
    refund.write_text(
        json.dumps(
            {**_order("B-1", 2, visitor_id="v1"), "status": "refunded", "refunded_amount": "10.00"}
        )
        + "\n",
        encoding="utf-8",
    )
    later = await hub("conversions", "backfill", "--merchant", str(shop), str(refund))
    assert later.exit_code == 0, later.output
    assert "1 records: 0 new, 1 changed, 0 unchanged, 0 bad" in later.stdout
    assert await _revenue(sessions, stored["B-1"].id) == 3000.0


async def _revenue(sessions: SessionFactory, conversion_id: int) -> float:
    async with sessions() as session:
        total = await session.scalar(
            select(func.sum(AttributionCredit.revenue_minor)).where(
                AttributionCredit.conversion_id == conversion_id,
                AttributionCredit.model == "linear",
            )
        )
        return float(total or 0)


async def test_record_only_then_a_second_run_attributes(
    hub: Hub, sessions: SessionFactory, tmp_path: Path
) -> None:
    shop = await add_merchant(sessions)
    tg = await add_channel(sessions, shop, "telegram")
    await add_click(sessions, shop, tg, NOW - 3 * DAY, visitor_id="v1")
    feed = tmp_path / "orders.ndjson"
    feed.write_text(json.dumps(_order("C-1", 1, visitor_id="v1")) + "\n", encoding="utf-8")

    only = await hub(
        "conversions", "backfill", "--merchant", str(shop), "--no-attribute", str(feed)
    )
    assert only.exit_code == 0, only.output
    assert f"run `hub attribution recompute --merchant {shop}`" in only.stdout
    assert (await _conversions(sessions, shop))["C-1"].attributed_at is None
    assert await _credit_rows(sessions) == []

    # like a run stopped after recording: the next run attributes what is still unattributed
    rerun = await hub("conversions", "backfill", "--merchant", str(shop), str(feed))
    assert rerun.exit_code == 0, rerun.output
    assert "0 new, 0 changed, 1 unchanged" in rerun.stdout
    assert (await _conversions(sessions, shop))["C-1"].attributed_at is not None
    assert await _credit_rows(sessions) != []


async def test_unreadable_files_and_unknown_merchants_change_nothing(
    hub: Hub, sessions: SessionFactory, tmp_path: Path
) -> None:
    shop = await add_merchant(sessions)
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(_order("D-1", 1, customer_id="c")) + "\n", encoding="utf-8")
    no_header = tmp_path / "orders.csv"
    no_header.write_text("order_id,amount\nD-1,1.00\n", encoding="utf-8")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        b"order_id,amount,currency,occurred_at,customer_id\n"
        + f"D-2,1.00,EUR,{NOW.isoformat()},Jos\xe9\n".encode("latin-1")
    )

    for args, message in (
        (["--merchant", "404", str(good)], "merchant 404 not found"),
        (["--merchant", str(shop), str(no_header)], "lacks currency, occurred_at"),
        (["--merchant", str(shop), str(latin)], "is not UTF-8 text"),
        (["--merchant", str(shop), str(tmp_path / "missing.jsonl")], "does not exist"),
    ):
        result = await hub("conversions", "backfill", *args)
        assert result.exit_code == 2, result.output
        assert message in result.stderr
    assert await _conversions(sessions, shop) == {}
