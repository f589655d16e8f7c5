"""Benchmark of ``hub attribution recompute``'s rule-based phase: per conversion vs in chunks.

Drops and creates a PostgreSQL database of its own (``--database``, default
``hub_bench_recompute`` on postgres@127.0.0.1:5432), migrates it and seeds two merchants
(the second with a tenth of the orders) with 12 channel accounts (one link each) and 50
products, and ``--conversions`` orders (default 20,000) over 60 days:

- most orders carry a visitor with 1 + geometric(mean ``--mean-clicks`` − 1) clicks in the 30
  days before the order (5 % of them bots); a fifth belong to a customer whose 2-3 linked
  visitors all clicked; 5 % carry only their own click id, 5 % nothing (no journey);
- 4 % are partly refunded, 1 % cancelled; 10 % in EUR and 5 % in JPY; one or two line items
  naming products by id or SKU (some unknown).

Then, on the same data, the rule-based credits of every conversion are replaced:

1. in chunks, once, so that every conversion has credits to replace (its time is printed;
   the tables are analysed afterwards);
2. one conversion per transaction, as ``reattribute`` did before chunking (``_CHUNK``
   conversions per session, ``attribute_conversion`` for each);
3. in chunks (``reattribute``: ``attribute_conversions`` on ``_CHUNK`` conversions per
   transaction: set-based reads, one delete and one insert of credits).

It prints both times, the throughputs and their ratio, and checks that runs 2 and 3 left the
same credits (every column but the row id) and due times. The database is left in place for
inspection; the next run drops it.

On PostgreSQL, statement triggers on ``attribution_credits`` keep the credit rollups (by day
and by week) up to date; replacing credits pays for them in the same transaction. ``--without-rollup-triggers`` disables those triggers
in the scratch database, to time the attribution work alone.

    .venv/bin/python bench/recompute.py [--conversions N] [--mean-clicks X] [--database NAME]
        [--without-rollup-triggers]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert, select, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from attribution.conversions.attributing import attribute_conversion  # noqa: E402
from attribution.conversions.recompute import _CHUNK, reattribute  # noqa: E402
from hub.config import AttributionSettings, DatabaseSettings  # noqa: E402
from hub.security import Vault  # noqa: E402
from hub.storage.db import SessionFactory, create_engine, session_factory  # noqa: E402
from hub.storage.migrate import upgrade  # noqa: E402
from hub.storage.models import (  # noqa: E402
    AttributionCredit,
    ChannelAccount,
    Click,
    Conversion,
    Customer,
    Link,
    Product,
    Visitor,
)
from hub.tenancy import create_merchant  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
KINDS = ["telegram", "telegram", "wecom", "weibo", "mastodon", "email", "x", "facebook",
         "line", "whatsapp", "reddit", "pinterest"]  # fmt: skip
BATCH = 5000
ROLLUP_TRIGGERS = ["credit_days_insert", "credit_days_delete", "credit_days_update"]


async def recreate(database: str) -> str:
    conn = await asyncpg.connect(ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"


async def _catalog(sessions: SessionFactory, name: str) -> tuple[int, list[int], list[int]]:
    """A merchant with 12 channel accounts (a link each) and 50 products."""
    async with sessions() as session:
        m = (
            await create_merchant(
                session, Vault("x" * 40), name=name, storefront_url="https://shop.test/"
            )
        ).merchant_id
        products = [
            Product(merchant_id=m, title=f"P{i}", url="https://shop.test/p", external_id=f"SKU{i}")
            for i in range(50)
        ]
        accounts = [
            ChannelAccount(merchant_id=m, kind=kind, name=f"{kind} {i}")
            for i, kind in enumerate(KINDS)
        ]
        session.add_all([*products, *accounts])
        await session.flush()
        links = [
            Link(
                merchant_id=m,
                code=uuid.uuid4().hex[:12],
                destination_url="https://shop.test/",
                channel_kind=a.kind,
                channel_account_id=a.id,
                product_id=products[i].id,
            )
            for i, a in enumerate(accounts)
        ]
        session.add_all(links)
        await session.flush()
        link_ids, product_ids = [link.id for link in links], [p.id for p in products]
        await session.commit()
    return m, link_ids, product_ids


def _clicks(
    rng: random.Random,
    out: list[dict[str, Any]],
    merchant_id: int,
    link_ids: list[int],
    visitor: str | None,
    before: datetime,
    p_more: float,
) -> list[str]:
    """1 + geometric clicks of ``visitor`` in the 30 days ``before``, 5 % of them bots."""
    made = [uuid.uuid4().hex]
    while rng.random() < p_more:
        made.append(uuid.uuid4().hex)
    out.extend(
        {
            "click_id": cid,
            "merchant_id": merchant_id,
            "link_id": rng.choice(link_ids),
            "visitor_id": visitor,
            "is_bot": rng.random() < 0.05,
            "is_unique": True,
            "at": before - timedelta(hours=rng.uniform(0, 720)),
        }
        for cid in made
    )
    return made


async def seed(
    sessions: SessionFactory, conversions: int, mean_clicks: float, now: datetime
) -> None:
    rng = random.Random(11)
    p_more = 1 - 1 / max(mean_clicks, 1.0)
    rows: dict[Any, list[dict[str, Any]]] = {Visitor: [], Click: [], Conversion: []}
    for shop, count in (("Bench", conversions - conversions // 10), ("Small", conversions // 10)):
        m, link_ids, product_ids = await _catalog(sessions, shop)
        async with sessions() as session:
            customers = [Customer(merchant_id=m, external_id=f"c{n}") for n in range(count // 5)]
            session.add_all(customers)
            await session.flush()
            customer_ids = [c.id for c in customers]
            await session.commit()
        visitors_of: dict[int, list[str]] = {}

        for n in range(count):
            at = now - timedelta(days=rng.uniform(0, 60))
            order: dict[str, Any] = {"visitor_id": None, "click_id": None, "customer_id": None}
            kind = rng.random()
            if kind < 0.2:  # a customer with 2-3 visitors, all linked; some order again
                customer = rng.choice(customer_ids)
                if customer not in visitors_of:
                    visitors_of[customer] = [
                        f"{m}-c{customer}-{k}" for k in range(rng.randint(2, 3))
                    ]
                    rows[Visitor].extend(
                        {"merchant_id": m, "visitor_id": vid, "customer_id": customer}
                        for vid in visitors_of[customer]
                    )
                for vid in visitors_of[customer]:
                    _clicks(rng, rows[Click], m, link_ids, vid, at, p_more)
                order["customer_id"] = customer
                order["visitor_id"] = vid
            elif kind < 0.25:
                order["click_id"] = _clicks(rng, rows[Click], m, link_ids, None, at, p_more)[0]
            elif kind < 0.3:
                pass  # no journey
            else:
                vid = f"{m}-v{n}"
                rows[Visitor].append({"merchant_id": m, "visitor_id": vid, "customer_id": None})
                _clicks(rng, rows[Click], m, link_ids, vid, at, p_more)
                order["visitor_id"] = vid
            amount = rng.choice([999, 2500, 10_000, 45_000])
            status = "cancelled" if rng.random() < 0.01 else "placed"
            refunded = amount // 2 if status == "placed" and rng.random() < 0.04 else 0
            currency = rng.choices(["USD", "EUR", "JPY"], [85, 10, 5])[0]
            items = [
                {
                    "product_id": rng.choice(product_ids) if rng.random() < 0.5 else None,
                    "external_id": f"SKU{rng.randrange(60)}",  # SKU50-59 are unknown
                    "quantity": 1,
                    "amount_minor": amount // 2,
                }
                for _ in range(rng.randint(1, 2))
            ]
            rows[Conversion].append(
                {
                    **order,
                    "merchant_id": m,
                    "order_id": f"o{n}",
                    "amount_minor": amount,
                    "refunded_minor": refunded,
                    "currency": currency,
                    "occurred_at": at,
                    "status": "refunded" if refunded else status,
                    "source": "bench",
                    "created_at": now,
                    "line_items": items,
                }
            )
    async with sessions() as session:
        for table, table_rows in rows.items():
            for i in range(0, len(table_rows), BATCH):
                await session.execute(insert(table), table_rows[i : i + BATCH])
        await session.commit()
    print(
        f"seeded: {len(rows[Conversion])} conversions, {len(rows[Click])} clicks, "
        f"{len(rows[Visitor])} visitors, 2 merchants"
    )


async def per_conversion(
    sessions: SessionFactory, cfg: AttributionSettings, ids: list[int], now: datetime
) -> int:
    """The rule-based phase as it ran before chunking: one transaction per conversion."""
    credits = 0
    for start in range(0, len(ids), _CHUNK):
        async with sessions() as session:
            for conversion_id in ids[start : start + _CHUNK]:
                credits += (await attribute_conversion(session, cfg, conversion_id, now)).credits
    return credits


async def snapshot(sessions: SessionFactory) -> tuple[list[tuple[Any, ...]], list[Any]]:
    columns = [c for c in AttributionCredit.__table__.columns if c.name != "id"]
    async with sessions() as session:
        credits = sorted((tuple(r) for r in await session.execute(select(*columns))), key=repr)
        due = sorted(
            tuple(r)
            for r in await session.execute(
                select(Conversion.id, Conversion.attributed_at, Conversion.attribute_due_at)
            )
        )
    return credits, due


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversions", type=int, default=20_000)
    parser.add_argument("--mean-clicks", type=float, default=4.0)
    parser.add_argument("--database", default="hub_bench_recompute")
    parser.add_argument("--without-rollup-triggers", action="store_true")
    args = parser.parse_args()
    if args.database == "hub_bench_reports":
        parser.error("hub_bench_reports belongs to bench/reports.py")
    engine = create_engine(DatabaseSettings(url=await recreate(args.database)))
    await upgrade(engine)
    if args.without_rollup_triggers:
        async with engine.begin() as conn:
            for name in ROLLUP_TRIGGERS:
                await conn.execute(text(f"ALTER TABLE attribution_credits DISABLE TRIGGER {name}"))
    sessions = session_factory(engine)
    cfg = AttributionSettings()
    now = datetime.now(UTC)
    await seed(sessions, args.conversions, args.mean_clicks, now)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    async with sessions() as session:
        ids = list((await session.scalars(select(Conversion.id).order_by(Conversion.id))).all())

    t0 = time.perf_counter()
    await reattribute(sessions, cfg, ids, now)  # every conversion has credits to replace
    print(f"first run (in chunks, nothing to replace yet): {time.perf_counter() - t0:.2f} s")
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))
    t0 = time.perf_counter()
    old_credits = await per_conversion(sessions, cfg, ids, now)
    old_s = time.perf_counter() - t0
    old_state = await snapshot(sessions)
    t0 = time.perf_counter()
    new_credits = await reattribute(sessions, cfg, ids, now)
    new_s = time.perf_counter() - t0
    new_state = await snapshot(sessions)

    n = len(ids)
    rollups = "off" if args.without_rollup_triggers else "on"
    print(f"backend: postgresql ({args.database}), chunk {_CHUNK}, rollup triggers {rollups}")
    print(f"per conversion: {old_s:7.2f} s, {n / old_s:7.0f} conversions/s, {old_credits} credits")
    print(f"in chunks:      {new_s:7.2f} s, {n / new_s:7.0f} conversions/s, {new_credits} credits")
    print(f"ratio: {old_s / new_s:.1f}x faster in chunks")
    same = old_state == new_state and old_credits == new_credits
    print(f"same credits and due times: {'yes' if same else 'NO'}")
    await engine.dispose()
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
