"""Benchmark of the report endpoints on PostgreSQL at scale (issue 8).

Seeds a database of its own (``--database``, default ``hub_bench_reports`` on
postgres@127.0.0.1:5432), migrated with the hub's migrations, with one merchant at scale and
three small ones (so the tenant filters have rows to skip):

- 12 channel kinds x 3 accounts, 40 campaigns, 2,000 products and 3,000 links, each link
  published at a moment of the last 90 days (a few links take most clicks);
- ``--clicks`` clicks (default 10,000,000) over the 90 days: each falls after its link's
  publication, most of them soon after; 5 % bots; visitors drawn from a pool of 3 million,
  a few of whom come back often; ``is_unique`` set as the drain's unique gate would (the
  first click of a visitor on a link, again after 24 hours without one);
- ``--conversions`` orders (default 200,000) of one or two products, 3 % partly refunded,
  1 % cancelled, 4 % in EUR, with the credits of all seven models over one to five clicked
  links, split by product, as the attribution job stores them.

Seeding runs in the server (``INSERT ... SELECT`` over ``generate_series``, the secondary
indexes of the big tables dropped and built again afterwards) and prints its progress.
``--reuse`` keeps a database that already holds the data.

Then the hub app is served on 127.0.0.1 (the real web app, on that database) and every
report is requested through the HTTP API with an API key (aiohttp client, one request at a
time): by channel, account, campaign, product, link and day (a page of 100 rows, as the API
answers by default, and the top ten by revenue, as the dashboard asks), the model
comparison, the daily series and the CSV exports (every row), for the last 7, 30 and 90
days, ``--repeat`` times each after ``--warmup`` requests. Baselines measured in the same
run: ``GET /healthz`` and ``GET /api/v1/campaigns/{id}`` (auth and one row by key). The
table gives p50, p95 and max in ms, the rows of the answer and p95 as a multiple of the API
baseline's p95. The app is set up as ``hub serve`` sets it up (``hub.serving``).

    .venv/bin/python bench/reports.py                         # 10M clicks, 200k orders
    .venv/bin/python bench/reports.py --clicks 1000000 --conversions 20000 --repeat 20
    .venv/bin/python bench/reports.py --reuse                 # keep the seeded database
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
from aiohttp import web
from sqlalchemy import text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hub.config import DatabaseSettings, Settings  # noqa: E402
from hub.security import Vault  # noqa: E402
from hub.storage.db import create_engine, session_factory  # noqa: E402
from hub.storage.migrate import upgrade  # noqa: E402
from hub.tenancy import Scope, create_api_key, create_merchant  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-reports-secret-key-0123456789abcdef"
KINDS = ["telegram", "wecom", "weibo", "mastodon", "email", "x", "facebook", "line",
         "whatsapp", "reddit", "pinterest", "discord"]  # fmt: skip
MODELS = ["first_touch", "last_touch", "linear", "time_decay", "position_based", "markov",
          "shapley"]  # fmt: skip
DAYS = 90
ROLLUPS = ["click_days", "click_weeks", "credit_days", "credit_product_days", "credit_link_days",
           "credit_weeks", "credit_product_weeks", "credit_link_weeks"]  # fmt: skip
VISITORS = 3_000_000
CHUNK = 1_000_000
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"


def log(message: str, started: float) -> None:
    print(f"  [{time.perf_counter() - started:7.1f} s] {message}", flush=True)


async def _drop_indexes(conn: asyncpg.Connection, table: str) -> list[str]:
    """Drops the table's secondary indexes; returns the statements that build them again."""
    rows = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "WHERE i.tablename = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conname = i.indexname)",
        table,
    )
    for row in rows:
        await conn.execute(f'DROP INDEX "{row["indexname"]}"')
    return [row["indexdef"] for row in rows]


async def seed_merchant(
    conn: asyncpg.Connection,
    merchant_id: int,
    *,
    clicks: int,
    conversions: int,
    links: int,
    products: int,
    now: datetime,
    started: float,
) -> None:
    m = merchant_id
    start = now - timedelta(days=DAYS)
    await conn.execute(
        "INSERT INTO products (merchant_id, title, description, url, tags, created_at, "
        "external_id) SELECT $1, 'Product ' || i, '', 'https://shop.test/p/' || i, '[]', "
        "$2, 'SKU' || i FROM generate_series(1, $3) i",
        m, start, products,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO campaigns (merchant_id, name, utm_template, created_at) "
        "SELECT $1, 'Campaign ' || i, '{}', $2 FROM generate_series(1, 40) i",
        m, start,
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO channel_accounts (merchant_id, kind, name, settings, "
        "credentials_encrypted, status, created_at) "
        "SELECT $1, k.kind, k.kind || ' ' || a, '{}', '', 'active', $2 "
        "FROM unnest($3::text[]) k(kind), generate_series(1, 3) a",
        m, start, KINDS,
    )  # fmt: skip
    # Links: product i, account i, a campaign for 70 %; published within the 90 days.
    await conn.execute(
        """
        INSERT INTO links (merchant_id, code, destination_url, product_id, campaign_id,
                           channel_account_id, channel_kind, enabled, created_at)
        SELECT $1, 'b' || $1 || 'l' || i, 'https://shop.test/p', p.id,
               CASE WHEN i % 10 < 7 THEN c.id END, a.id, a.kind, true,
               $2::timestamptz + ($3::timestamptz - $2::timestamptz) * random()
        FROM generate_series(0, $4 - 1) i
        JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM products
              WHERE merchant_id = $1) p ON p.n = i % $5
        JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM campaigns
              WHERE merchant_id = $1) c ON c.n = (i * 7) % 40
        JOIN (SELECT id, kind, row_number() OVER (ORDER BY id) - 1 AS n FROM channel_accounts
              WHERE merchant_id = $1) a ON a.n = (i * 13) % 36
        """,
        m, start, now, links, products,
    )  # fmt: skip
    await conn.execute("DROP TABLE IF EXISTS bench_links")
    await conn.execute(
        "CREATE TEMP TABLE bench_links AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, "
        "created_at AS published_at, channel_kind, channel_account_id, campaign_id, product_id "
        "FROM links WHERE merchant_id = $1",
        m,
    )
    await conn.execute("CREATE UNIQUE INDEX ON bench_links (n)")
    await conn.execute("ANALYZE bench_links")

    # Clicks: link n drawn with density ~ n^(-2/3) (a few links take most clicks), time
    # after the link's publication, mostly soon after. Staged first, so that the unique flag
    # can be set as the gate sets it when they are copied into ``clicks``.
    await conn.execute("DROP TABLE IF EXISTS bench_clicks")
    await conn.execute(
        "CREATE UNLOGGED TABLE bench_clicks (g bigint, link_id bigint, visitor_id text, "
        "at timestamptz, is_bot boolean)"
    )
    done = 0
    while done < clicks:
        n = min(CHUNK, clicks - done)
        await conn.execute(
            """
            INSERT INTO bench_clicks
            SELECT g, l.id,
                   CASE WHEN r.b >= 0.05 THEN 'v' || floor(pow(r.v, 2) * $3)::bigint END,
                   l.published_at + ($4::timestamptz - l.published_at) * pow(r.t, 4),
                   r.b < 0.05
            FROM (SELECT g, floor(pow(random(), 3) * $5)::int AS li, random() AS v,
                         random() AS t, random() AS b
                  FROM generate_series($1::bigint, $2::bigint) g) r
            JOIN bench_links l ON l.n = r.li
            """,
            done + 1, done + n, VISITORS, now, links,
        )  # fmt: skip
        done += n
        log(f"merchant {m}: {done:,} / {clicks:,} clicks generated", started)
    # The gate: a person's click is unique when the same visitor's previous click on the
    # same link is 24 hours or more before it (or there is none).
    await conn.execute(
        """
        INSERT INTO clicks (click_id, merchant_id, link_id, visitor_id, at, is_bot, is_unique,
                            ip, user_agent, referrer)
        SELECT md5($1 || ':' || g), $1::bigint, link_id, visitor_id, at, is_bot,
               NOT is_bot AND visitor_id IS NOT NULL AND coalesce(
                   at - lag(at) OVER (PARTITION BY link_id, visitor_id ORDER BY at)
                   >= interval '24 hours', true),
               '203.0.113.0', $2, CASE WHEN g % 3 = 0 THEN 'https://t.me/' END
        FROM bench_clicks
        """,
        str(m), UA,
    )  # fmt: skip
    await conn.execute("DROP TABLE bench_clicks")
    log(f"merchant {m}: {clicks:,} clicks stored", started)
    await _seed_conversions(conn, m, conversions, links, products, now, started)


async def _seed_conversions(
    conn: asyncpg.Connection,
    m: int,
    conversions: int,
    links: int,
    products: int,
    now: datetime,
    started: float,
) -> None:
    start = now - timedelta(days=DAYS)
    await conn.execute("DROP TABLE IF EXISTS bench_orders")
    await conn.execute(
        """
        CREATE TEMP TABLE bench_orders AS
        SELECT g AS n, $2::timestamptz + ($3::timestamptz - $2::timestamptz) * random() AS at,
               1 + least(floor(-ln(1 - random()) * 1.3)::int, 4) AS touches,
               (1 + floor(random() * 50) * 100)::bigint * 100 AS amount,
               random() AS r, floor(random() * $4)::int AS p1,
               CASE WHEN random() < 0.4 THEN 1 + floor(random() * ($4 - 1))::int END AS p2
        FROM generate_series(1, $1) g
        """,
        conversions, start, now, products,
    )  # fmt: skip
    await conn.execute("UPDATE bench_orders SET p2 = (p1 + p2) % $1 WHERE p2 IS NOT NULL", products)
    await conn.execute(
        """
        INSERT INTO conversions (merchant_id, order_id, amount_minor, refunded_minor, currency,
                                 occurred_at, visitor_id, status, line_items, source, created_at,
                                 attributed_at)
        SELECT $1, 'o' || o.n, o.amount,
               CASE WHEN o.r < 0.03 THEN o.amount / 4 ELSE 0 END,
               CASE WHEN o.r > 0.96 THEN 'EUR' ELSE 'USD' END, o.at, 'v' || o.n,
               CASE WHEN o.r < 0.03 THEN 'refunded' WHEN o.r < 0.04 THEN 'cancelled'
                    ELSE 'placed' END,
               CASE WHEN o.p2 IS NULL THEN json_build_array(json_build_object(
                        'external_id', 'SKU' || (o.p1 + 1), 'quantity', 1,
                        'amount_minor', o.amount))
                    ELSE json_build_array(
                        json_build_object('external_id', 'SKU' || (o.p1 + 1), 'quantity', 1,
                                          'amount_minor', o.amount * 6 / 10),
                        json_build_object('external_id', 'SKU' || (o.p2 + 1), 'quantity', 1,
                                          'amount_minor', o.amount - o.amount * 6 / 10)) END,
               'bench', o.at, o.at
        FROM bench_orders o
        """,
        m,
    )  # fmt: skip
    log(f"merchant {m}: {conversions:,} conversions", started)
    await conn.execute("DROP TABLE IF EXISTS bench_touches")
    await conn.execute(
        "CREATE TEMP TABLE bench_touches AS SELECT o.n, t.t, "
        "floor(pow(random(), 3) * $1)::int AS li "
        "FROM bench_orders o, generate_series(1, o.touches) t(t)",
        links,
    )
    # Credits: every touch of every order, each model, split over the order's products
    # (60/40 for two); first and last touch credit one touch, the others all of them.
    await conn.execute(
        """
        INSERT INTO attribution_credits (merchant_id, conversion_id, model, click_id, link_id,
            channel_account_id, channel_kind, campaign_id, product_id, weight, revenue_minor,
            occurred_at)
        SELECT $1, c.id, mm.model, md5(c.id || ':' || t.t), l.id, l.channel_account_id,
               l.channel_kind, l.campaign_id, p.id,
               w.weight * s.share, w.weight * s.share * (c.amount_minor - c.refunded_minor),
               c.occurred_at
        FROM bench_orders o
        JOIN conversions c ON c.merchant_id = $1 AND c.order_id = 'o' || o.n
        JOIN bench_touches t ON t.n = o.n
        JOIN bench_links l ON l.n = t.li
        CROSS JOIN unnest($2::text[]) mm(model)
        CROSS JOIN LATERAL (SELECT CASE
            WHEN mm.model = 'first_touch' THEN (t.t = 1)::int
            WHEN mm.model = 'last_touch' THEN (t.t = o.touches)::int
            WHEN mm.model = 'position_based' AND o.touches > 2 THEN
                 CASE WHEN t.t IN (1, o.touches) THEN 0.4 ELSE 0.2 / (o.touches - 2) END
            ELSE 1.0 / o.touches END::float8 AS weight) w
        CROSS JOIN LATERAL (VALUES (o.p1, CASE WHEN o.p2 IS NULL THEN 1.0 ELSE 0.6 END),
                                   (o.p2, 0.4)) s(product, share)
        LEFT JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM products
                   WHERE merchant_id = $1) p ON p.n = s.product
        WHERE c.status <> 'cancelled' AND w.weight > 0 AND s.product IS NOT NULL
        """,
        m, MODELS,
    )  # fmt: skip
    log(f"merchant {m}: credits written", started)


async def seed(url: str, database: str, clicks: int, conversions: int, tz: str) -> int:
    started = time.perf_counter()
    admin = await asyncpg.connect(ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    engine = create_engine(DatabaseSettings(url=url))
    await upgrade(engine)
    sessions = session_factory(engine)
    ids = []
    async with sessions() as session:
        for i, zone in enumerate([tz, "UTC", "Europe/Berlin", "America/Los_Angeles"]):
            made = await create_merchant(
                session, Vault(SECRET), name="Bench" if i == 0 else f"Other {i}",
                storefront_url="https://shop.test/", timezone=zone,
            )  # fmt: skip
            ids.append(made.merchant_id)
        await session.commit()
    await engine.dispose()
    log(f"database {database} created and migrated; merchants {ids}", started)

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute("SET work_mem = '256MB'")
        rebuild = []
        for table in ("clicks", "attribution_credits", "conversions"):
            rebuild += await _drop_indexes(conn, table)
        for i, m in enumerate(ids):
            small = i > 0
            await seed_merchant(
                conn, m,
                clicks=clicks // 100 if small else clicks,
                conversions=conversions // 100 if small else conversions,
                links=100 if small else 3000, products=50 if small else 2000,
                now=now, started=started,
            )  # fmt: skip
        await conn.execute(
            "INSERT INTO visitors (merchant_id, visitor_id, first_seen_at) "
            "SELECT merchant_id, visitor_id, min(at) FROM clicks "
            "WHERE visitor_id IS NOT NULL GROUP BY 1, 2"
        )
        log("visitors written", started)
        for statement in rebuild:
            await conn.execute(statement)
        log(f"{len(rebuild)} indexes built", started)
        await conn.execute("VACUUM ANALYZE")
        log("vacuumed and analyzed", started)
    finally:
        await conn.close()
    print(f"seeding took {time.perf_counter() - started:.0f} s", flush=True)
    return ids[0]


async def existing(url: str) -> int | None:
    try:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    except asyncpg.InvalidCatalogNameError:
        return None
    try:
        return await conn.fetchval("SELECT id FROM merchants WHERE name = 'Bench'")
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def measure(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], warmup: int, repeat: int
) -> tuple[list[float], int]:
    rows = 0
    times = []
    for i in range(warmup + repeat):
        t0 = time.perf_counter()
        async with http.get(url, headers=headers) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url}: {resp.status} {body[:300]!r}")
        elapsed = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            times.append(elapsed)
        if resp.content_type == "text/csv":
            rows = body.count(b"\n") - 1
        elif resp.content_type == "application/json":
            doc = json.loads(body)
            rows = len(doc.get("rows", doc.get("channels", []))) if isinstance(doc, dict) else 0
    return times, rows


REPORTS = [
    ("channel", "channel?model=linear"),
    ("account", "account?model=linear"),
    ("campaign", "campaign?model=linear"),
    ("product", "product?model=linear"),
    ("product top 10", "product?model=linear&sort=revenue&limit=10"),
    ("link", "link?model=linear"),
    ("link top 10", "link?model=linear&sort=revenue&limit=10"),
    ("link 1000 rows", "link?model=linear&sort=clicks&limit=1000"),
    ("day", "day?model=linear"),
    ("models by channel", "models?dimension=channel"),
    ("models by product", "models?dimension=product"),
    ("series", "series?model=linear"),
    ("channel.csv", "channel.csv?model=last_touch"),
    ("link csv (all rows)", "link?model=markov&format=csv"),
]


async def run(url: str, merchant_id: int, tz: str, warmup: int, repeat: int) -> None:
    tmp = tempfile.TemporaryDirectory()
    # The production profile: no in-process ticker running periodic jobs during the timing.
    settings = Settings(
        profile="production",
        data_dir=Path(tmp.name),
        database={"url": url, "pool_size": 4},
        redis={"url": "redis://127.0.0.1:6379/1"},
        security={"secret_key": SECRET},
        logging={"format": "console", "access_log": False, "level": "WARNING"},
        tasks={"runner": "celery"},
        # One client asking as fast as it can: the per-key limit would answer 429s.
        api={"requests_per_minute": 0},
    )
    engine = create_engine(settings.database)
    await upgrade(engine)
    # A rollup just filled by a migration is vacuumed and analyzed as autovacuum soon would
    # (without it, the weekly rollups' reads visit the heap).
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        for table in ROLLUPS:
            await conn.execute(f"VACUUM ANALYZE {table}")
    finally:
        await conn.close()
    async with session_factory(engine)() as session:
        issued = await create_api_key(session, merchant_id, name="bench", scopes=[Scope.ADMIN])
        campaign = await session.scalar(
            text("SELECT min(id) FROM campaigns WHERE merchant_id = :m"), {"m": merchant_id}
        )
        await session.commit()
    await engine.dispose()

    from hub.serving import install_edge_first, settle
    from hub.web import create_app

    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    install_edge_first(runner)
    settle()  # as `hub serve` does
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {issued.token}"}
    today = datetime.now(ZoneInfo(tz)).date()
    results: list[tuple[str, str, list[float], int]] = []
    try:
        async with aiohttp.ClientSession() as http:
            for name, path in (
                ("GET /healthz", "/healthz"),
                ("GET /campaigns/{id}", f"/api/v1/campaigns/{campaign}"),
            ):
                times, _ = await measure(http, base + path, headers, warmup, repeat)
                results.append((name, "-", times, 1))
            for days in (7, 30, 90):
                first = today - timedelta(days=days - 1)
                period = f"from={first.isoformat()}&to={today.isoformat()}"
                for name, path in REPORTS:
                    times, rows = await measure(
                        http, f"{base}/api/v1/reports/{path}&{period}", headers, warmup, repeat
                    )
                    results.append((name, f"{days} d", times, rows))
                    print(f"  {name:<20} {days:>2} d  p95 {pct(times, 95):8.1f} ms", flush=True)
    finally:
        await runner.cleanup()
        tmp.cleanup()
    base_p95 = pct(results[1][2], 95)
    print()
    print(f"{'report':<22}{'period':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'rows':>7}"
          f"{'p95/api':>9}")  # fmt: skip
    for name, period, times, rows in results:
        print(
            f"{name:<22}{period:>7}{pct(times, 50):9.1f}{pct(times, 95):9.1f}"
            f"{max(times):9.1f}{rows:7d}{pct(times, 95) / base_p95:9.1f}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=10_000_000)
    parser.add_argument("--conversions", type=int, default=200_000)
    parser.add_argument("--database", default="hub_bench_reports")
    parser.add_argument("--timezone", default="Asia/Kathmandu", help="the big merchant's zone")
    parser.add_argument("--reuse", action="store_true", help="keep a database already seeded")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{args.database}"
    merchant_id = await existing(url) if args.reuse else None
    if merchant_id is None:
        merchant_id = await seed(url, args.database, args.clicks, args.conversions, args.timezone)
    else:
        print(f"reusing {args.database} (merchant {merchant_id})")
    if not args.seed_only:
        await run(url, merchant_id, args.timezone, args.warmup, args.repeat)


if __name__ == "__main__":
    asyncio.run(main())
