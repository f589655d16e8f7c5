"""Benchmark of the attribution pipeline on a real database (issue 7).

Seeds one merchant with 12 channel accounts (one link each), ``--conversions`` visitors with
1 + geometric(mean ``--mean-clicks`` − 1) clicks each spread over the 30 days before their
order, and as many again who never convert (the non-converting paths); every order has two
line items naming two of 50 products. Then times, on that database:

- the attribution job's work for every conversion, one after the other
  (``attribute_conversion``: journey query, five rule-based models, product split, credit
  rows replaced, due time moved — each in its own transaction): total, throughput and the
  per-conversion latency percentiles;
- the data-driven batch for the merchant (``attribute_data_driven``: every journey and
  non-converting path in one pass, Markov order 1 and Shapley, credits replaced);
- the channel report for one model over the whole period (``attribution.reports.report``).

    .venv/bin/python bench/attribution_pipeline.py [--conversions N] [--mean-clicks X]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/DB]

Without ``--database-url`` it uses a new SQLite file in a temporary directory. A PostgreSQL
database given by URL must exist and be empty; the script migrates it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from attribution.conversions import attribute_conversion, attribute_data_driven
from attribution.reports import Period, report
from hub.config import AttributionSettings, DatabaseSettings
from hub.security import Vault
from hub.storage.db import SessionFactory, create_engine, session_factory
from hub.storage.migrate import upgrade
from hub.storage.models import ChannelAccount, Click, Conversion, Link, Product, Visitor
from hub.tenancy import create_merchant

KINDS = ["telegram", "telegram", "wecom", "weibo", "mastodon", "email", "x", "facebook",
         "line", "whatsapp", "reddit", "pinterest"]  # fmt: skip


async def seed(
    sessions: SessionFactory, conversions: int, mean_clicks: float, now: datetime
) -> int:
    rng = random.Random(7)
    async with sessions() as session:
        made = await create_merchant(
            session, Vault("x" * 40), name="Bench", storefront_url="https://shop.test/"
        )
        m = made.merchant_id
        products = []
        for i in range(50):
            p = Product(
                merchant_id=m, title=f"P{i}", url="https://shop.test/p", external_id=f"SKU{i}"
            )
            session.add(p)
            products.append(p)
        accounts, links = [], []
        for i, kind in enumerate(KINDS):
            a = ChannelAccount(merchant_id=m, kind=kind, name=f"{kind} {i}")
            session.add(a)
            accounts.append(a)
        await session.flush()
        for i, (kind, a) in enumerate(zip(KINDS, accounts, strict=True)):
            link = Link(
                merchant_id=m,
                code=f"bench{i}",
                destination_url="https://shop.test/",
                channel_kind=kind,
                channel_account_id=a.id,
                product_id=products[i].id,
            )
            session.add(link)
            links.append(link)
        await session.flush()
        link_ids = [link.id for link in links]
        await session.commit()

    p_more = 1 - 1 / max(mean_clicks, 1.0)
    visitors, clicks, orders = [], [], []
    for n in range(conversions * 2):
        vid = f"v{n}"
        visitors.append({"merchant_id": m, "visitor_id": vid, "first_seen_at": now})
        converted_at = now - timedelta(days=rng.uniform(0, 20))
        count = 1
        while rng.random() < p_more:
            count += 1
        for _ in range(count):
            clicks.append(
                {
                    "click_id": uuid.uuid4().hex,
                    "merchant_id": m,
                    "link_id": rng.choice(link_ids),
                    "visitor_id": vid,
                    "is_bot": False,
                    "is_unique": True,
                    "at": converted_at - timedelta(hours=rng.uniform(0, 700)),
                }
            )
        if n < conversions:
            first, second = rng.sample(range(50), 2)
            orders.append(
                {
                    "merchant_id": m,
                    "order_id": f"o{n}",
                    "amount_minor": 10000,
                    "refunded_minor": 0,
                    "currency": "USD",
                    "occurred_at": converted_at,
                    "visitor_id": vid,
                    "status": "placed",
                    "source": "bench",
                    "created_at": now,
                    "line_items": [
                        {
                            "product_id": None,
                            "external_id": f"SKU{first}",
                            "quantity": 1,
                            "amount_minor": 6000,
                        },
                        {
                            "product_id": None,
                            "external_id": f"SKU{second}",
                            "quantity": 1,
                            "amount_minor": 4000,
                        },
                    ],
                }
            )
    async with sessions() as session:
        for table, rows in ((Visitor, visitors), (Click, clicks), (Conversion, orders)):
            for i in range(0, len(rows), 5000):
                await session.execute(insert(table), rows[i : i + 5000])
        await session.commit()
    print(
        f"seeded: {len(orders)} conversions, {len(clicks)} clicks, "
        f"{len(visitors)} visitors, 12 channels"
    )
    return m


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversions", type=int, default=2000)
    parser.add_argument("--mean-clicks", type=float, default=4.0)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.sqlite3'}"
    engine = create_engine(DatabaseSettings(url=url))
    await upgrade(engine)
    sessions = session_factory(engine)
    cfg = AttributionSettings(settle_s=0)
    now = datetime.now(UTC)
    merchant_id = await seed(sessions, args.conversions, args.mean_clicks, now)
    async with sessions() as session:
        ids = list(
            (
                await session.scalars(
                    select(Conversion.id)
                    .where(Conversion.merchant_id == merchant_id)
                    .order_by(Conversion.id)
                )
            ).all()
        )

    latencies = []
    started = time.perf_counter()
    for cid in ids:
        t0 = time.perf_counter()
        async with sessions() as session:
            await attribute_conversion(session, cfg, cid, now)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    print(f"backend: {engine.dialect.name}")
    print(
        f"attribute_conversion x{len(ids)}: {total:.2f} s, {len(ids) / total:.0f}/s; "
        f"latency p50 {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms"
    )

    t0 = time.perf_counter()
    async with sessions() as session:
        credited = await attribute_data_driven(session, cfg, merchant_id, now)
    print(
        f"data-driven batch (markov + shapley) over {credited} conversions: "
        f"{time.perf_counter() - t0:.2f} s"
    )

    today = now.date()
    period = Period(today - timedelta(days=60), today, "UTC")
    for model in ("linear", "markov"):
        t0 = time.perf_counter()
        async with sessions() as session:
            found = await report(session, merchant_id, "channel", model, period)
        print(
            f"channel report ({model}, {len(found.rows)} rows): "
            f"{(time.perf_counter() - t0) * 1000:.1f} ms; "
            f"conversions {found.total.figures.conversions:.1f}"
        )
    await engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
