"""What the report rollups cost the writers: clicks stored by the drain and credits written
by attribution, at the head revision, at 0011 (click weeks indexed with their counts), at 0010
(before writers locked their merchants' rows) and with no rollup kept (head with the rollup
triggers of clicks and credits off), on PostgreSQL.

A scratch database per setup (``--database`` and a suffix, dropped and made again) holds one
merchant with 300 links. Each round writes
``--batches`` batches: clicks through the drain's own ``store_events`` (``--clicks`` per
batch, over the last 60 days, so that a batch touches many days and weeks), then credits
(``--credits`` per batch, over as many conversions, inserted and then replaced as the
attribution job does: the old deleted, the new inserted). The setups take turns,
``--rounds`` times, so that drift on a shared machine falls on all of them; the table gives
the median rate of each and its ratio to the setup without rollups.

    .venv/bin/python bench/rollup_writes.py
    .venv/bin/python bench/rollup_writes.py --rounds 5 --batches 40
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import delete, insert, select

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from attribution.clicks import Click, MemoryUniqueGate, store_events  # noqa: E402
from hub.config import DatabaseSettings  # noqa: E402
from hub.security import Vault  # noqa: E402
from hub.storage.db import SessionFactory, create_engine, session_factory  # noqa: E402
from hub.storage.migrate import upgrade  # noqa: E402
from hub.storage.models import AttributionCredit, Conversion, Link  # noqa: E402
from hub.tenancy import create_merchant  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-rollup-writes-secret-0123456789abcdef"
MODELS = ["first_touch", "last_touch", "linear", "time_decay", "position_based"]
# setup → (revision, the triggers it turns off: table, trigger name prefix)
SETUPS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "head": ("head", []),
    "0011 (click weeks indexed with counts)": ("0011", []),
    "0010 (no merchant lock)": ("0010", []),
    "no rollups": ("head", [("clicks", "click_buckets_"), ("attribution_credits", "credit_days_")]),
}


async def seed(url: str, database: str, revision: str) -> tuple[int, list[int]]:
    admin = await asyncpg.connect(ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    engine = create_engine(DatabaseSettings(url=url))
    await upgrade(engine, revision)
    sessions = session_factory(engine)
    async with sessions() as session:
        made = await create_merchant(
            session, Vault(SECRET), name="Bench", storefront_url="https://shop.test/",
            timezone="Europe/Berlin",
        )  # fmt: skip
        await session.commit()
        m = made.merchant_id
        kinds = ["telegram", "discord", "mastodon", "email", "x", "weibo"]
        await session.execute(
            insert(Link),
            [
                {"merchant_id": m, "code": f"rw{i}", "destination_url": "https://shop.test/p",
                 "channel_kind": kinds[i % len(kinds)]}
                for i in range(300)
            ],
        )  # fmt: skip
        await session.commit()
        links = list(await session.scalars(select(Link.id).where(Link.merchant_id == m)))
    await engine.dispose()
    return m, links


async def turn_off(url: str, off: list[tuple[str, str]]) -> None:
    """Disable the triggers named by (table, name prefix)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch(
            "SELECT tgrelid::regclass::text AS tab, tgname FROM pg_trigger WHERE NOT tgisinternal"
        )
        for row in rows:
            if any(row["tab"] == t and row["tgname"].startswith(p) for t, p in off):
                await conn.execute(f'ALTER TABLE {row["tab"]} DISABLE TRIGGER "{row["tgname"]}"')
    finally:
        await conn.close()


async def write_clicks(
    sessions: SessionFactory, m: int, links: list[int], batches: int, size: int, rng: random.Random
) -> float:
    now = time.time()
    gate = MemoryUniqueGate(86_400)
    took = 0.0
    for b in range(batches):
        clicks = [
            Click(
                click_id=f"{now}-{b}-{i}-{rng.random()}", merchant_id=m, link_id=rng.choice(links),
                visitor_id=f"v{rng.randrange(50_000)}", at=now - rng.uniform(0, 60 * 86_400),
                is_bot=False, ip=None, user_agent="Mozilla/5.0", referrer=None,
            )
            for i in range(size)
        ]  # fmt: skip
        t0 = time.perf_counter()
        await store_events(sessions, clicks, [], gate)
        took += time.perf_counter() - t0
    return batches * size / took


async def write_credits(
    sessions: SessionFactory, m: int, links: list[int], batches: int, size: int, rng: random.Random
) -> float:
    """Credits of ``size`` new conversions per batch, then replaced once (delete + insert)."""
    took = 0.0
    now = datetime.now(UTC)
    for _ in range(batches):
        async with sessions() as session, session.begin():
            ids = list(
                (
                    await session.execute(
                        insert(Conversion).returning(Conversion.id),
                        [
                            {"merchant_id": m, "order_id": f"o{rng.random()}",
                             "amount_minor": 5000, "currency": "EUR",
                             "occurred_at": now - timedelta(days=rng.uniform(0, 60))}
                            for _ in range(size)
                        ],
                    )
                ).scalars()
            )  # fmt: skip
        for replace in (False, True):
            rows = [
                {"merchant_id": m, "conversion_id": cid, "model": model,
                 "click_id": f"c{cid}", "link_id": link, "weight": 0.5,
                 "revenue_minor": 2500.0, "occurred_at": now - timedelta(days=rng.uniform(0, 60))}
                for cid in ids
                for link in rng.sample(links, 2)
                for model in MODELS
            ]  # fmt: skip
            t0 = time.perf_counter()
            async with sessions() as session, session.begin():
                if replace:
                    await session.execute(
                        delete(AttributionCredit).where(AttributionCredit.conversion_id.in_(ids))
                    )
                await session.execute(insert(AttributionCredit), rows)
            took += time.perf_counter() - t0
    return batches * size * 2 / took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="hub_bench_rollup_writes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--credits", type=int, default=50)
    args = parser.parse_args()
    setups = {}
    for i, (setup, (revision, off)) in enumerate(SETUPS.items()):
        database = f"{args.database}_{i}"
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
        m, links = await seed(url, database, revision)
        await turn_off(url, off)
        engine = create_engine(DatabaseSettings(url=url, pool_size=2))
        setups[setup] = (engine, session_factory(engine), m, links)
    rng = random.Random(1)
    rates: dict[str, dict[str, list[float]]] = {s: {"clicks": [], "credits": []} for s in SETUPS}
    try:
        for r in range(args.rounds):
            for setup, (_, sessions, m, links) in setups.items():
                c = await write_clicks(sessions, m, links, args.batches, args.clicks, rng)
                k = await write_credits(sessions, m, links, args.batches, args.credits, rng)
                rates[setup]["clicks"].append(c)
                rates[setup]["credits"].append(k)
                print(f"  round {r + 1} {setup:<16} clicks {c:8,.0f}/s  conversions {k:6,.0f}/s",
                      flush=True)  # fmt: skip
    finally:
        for engine, *_ in setups.values():
            await engine.dispose()
    base = {w: statistics.median(rates["no rollups"][w]) for w in ("clicks", "credits")}
    print(f"\n{'setup':<18}{'clicks/s':>10}{'vs none':>9}{'conversions/s':>15}{'vs none':>9}")
    for setup, found in rates.items():
        c, k = statistics.median(found["clicks"]), statistics.median(found["credits"])
        print(f"{setup:<18}{c:10,.0f}{c / base['clicks']:9.2f}{k:15,.0f}{k / base['credits']:9.2f}")


if __name__ == "__main__":
    asyncio.run(main())
