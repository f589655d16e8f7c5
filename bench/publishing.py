"""Benchmark of scheduled publishing (issue 5): many targets, few accounts, two real workers.

What it runs, on loopback: Telegram and Discord contract servers (tests/contract/) in this
process, each request answered after a random latency (``--latency-ms``, default 50-250 ms,
about what those APIs take from a server in the same region); a fresh PostgreSQL database and
Redis database 15; two ``hub worker`` processes (``--concurrency`` each, production profile)
and one Celery beat process running the due scan. ``--targets`` targets (default 10,000) are
made through the real share code (``create_share``: one share per product over all
``--accounts`` accounts, each target with its own tracked link), far in the future; once the
workers are up every target is made due at the same instant T0, and the clock runs until every
target is settled.

Every account has its own shared rate limit (``--rate`` posts per second, bursts of 1; policy
rules off), so the ideal time is ``targets per account / rate``: the best any number of
workers could do. Reported:

- targets per second (targets / (last publication - T0)) and the ratio to the ideal time;
- the share of time waiting on rate limits: over all targets, the time spent waiting for a
  token (slept in the task, or deferred until the bucket had one) divided by the time from T0
  to publication;
- the most posts any account made in any rate window (must not exceed rate x window + burst);
- duplicates (a tracked link accepted by a channel more than once) and lost targets (not
  published, or published without the channel having its link): both must be zero.

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379. Run
from the repository root:

    .venv/bin/python bench/publishing.py                         # 10,000 targets, 10 accounts
    .venv/bin/python bench/publishing.py --targets 2000 --rate 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/15"
SECRET = "bench-secret-" + "y" * 40


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--rate", type=float, default=10.0, help="posts/s per account")
    parser.add_argument("--concurrency", type=int, default=8, help="tasks per worker")
    parser.add_argument("--latency-ms", default="50-250", help="channel latency range")
    parser.add_argument("--timeout", type=float, default=1800.0)
    return parser.parse_args()


async def _admin(sql: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _latency_middleware(
    low_s: float, high_s: float, accepted: Counter[str], arrivals: dict[str, float]
) -> Any:
    from aiohttp import web

    @web.middleware
    async def latency(request: web.Request, handler: Any) -> web.StreamResponse:
        arrived = time.time()
        await asyncio.sleep(random.uniform(low_s, high_s) / 2)
        body = await request.read()
        response = await handler(request)
        if response.status == 200 and request.method == "POST" and body:
            link = _link_of(json.loads(body))
            if link:
                accepted[link] += 1
                arrivals.setdefault(link, arrived)
        await asyncio.sleep(random.uniform(low_s, high_s) / 2)
        return response  # type: ignore[no-any-return]

    return latency


def _link_of(body: dict[str, Any]) -> str | None:
    preview = body.get("link_preview_options")
    if isinstance(preview, dict):
        return str(preview.get("url"))
    embeds = body.get("embeds")
    if isinstance(embeds, list) and embeds:
        return str(embeds[0].get("url"))
    return None


def _spawn(argv: list[str], config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_CONFIG"] = str(config)
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            cwd=config.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def _seed(settings: Any, args: argparse.Namespace, urls: dict[str, str]) -> list[int]:
    from connectors import config_to_dict  # noqa: F401  (connectors registered on import)
    from hub.catalog.products import ProductIn, create_product
    from hub.channels.accounts import ChannelIn, create_account
    from hub.publishing.shares import ShareIn, create_share
    from hub.security import Vault
    from hub.storage.db import create_engine, session_factory
    from hub.tenancy import create_merchant
    from tests.contract import discord as dc
    from tests.contract import telegram as tg

    engine = create_engine(settings.database)
    sessions = session_factory(engine)
    vault = Vault(SECRET)
    policy = {"rate_count": max(1, round(args.rate * 10)), "rate_window_s": 10.0, "rate_burst": 1}
    try:
        async with sessions() as session:
            made = await create_merchant(
                session, vault, name="Bench", storefront_url="https://shop.bench/"
            )
            await session.commit()
        accounts: list[int] = []
        for i in range(args.accounts):
            kind = "telegram" if i % 2 == 0 else "discord"
            config = (
                {"token": tg.TOKEN, "chat_id": tg.CHANNEL_ID, "base_url": urls[kind]}
                if kind == "telegram"
                else {"webhook_url": dc.webhook_url(), "base_url": urls[kind]}
            )
            async with sessions() as session:
                out = await create_account(
                    session,
                    vault,
                    made.merchant_id,
                    ChannelIn(kind=kind, name=f"{kind}-{i}", config=config, policy=policy),
                )
            accounts.append(out.id)
        shares = -(-args.targets // args.accounts)
        started = time.monotonic()
        for n in range(shares):
            async with sessions() as session:
                product = await create_product(
                    session,
                    made.merchant_id,
                    ProductIn(
                        title=f"Bench product {n}",
                        url=f"https://shop.bench/p/{n}",
                        description=f"Item {n} of the benchmark catalogue.",
                    ),
                )
                count = min(args.accounts, args.targets - n * args.accounts)
                await create_share(
                    session,
                    made.merchant_id,
                    ShareIn(
                        product_id=product.id,
                        channel_ids=accounts[:count],
                        at="2099-01-01T00:00:00+00:00",
                    ),
                    settings=settings,
                )
                await session.commit()
            if n and n % 200 == 0:
                print(
                    f"  seeded {n * args.accounts} targets ({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
        return accounts
    finally:
        await engine.dispose()


async def _count(settings: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from hub.storage.db import create_engine, session_factory
    from hub.storage.models import ShareTarget

    engine = create_engine(settings.database)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(ShareTarget.state, func.count()).group_by(ShareTarget.state)
            )
            return {state: int(n) for state, n in rows}
    finally:
        await engine.dispose()


async def _sql(settings: Any, fn: Any) -> Any:
    from hub.storage.db import create_engine, session_factory

    engine = create_engine(settings.database)
    try:
        async with session_factory(engine)() as session:
            return await fn(session)
    finally:
        await engine.dispose()


async def _make_due(settings: Any) -> datetime:
    from sqlalchemy import update

    from hub.storage.models import ShareTarget

    t0 = datetime.now(UTC)

    async def go(session: Any) -> None:
        await session.execute(update(ShareTarget).values(due_at=t0, enqueued_at=None))
        await session.commit()

    await _sql(settings, go)
    return t0


async def _report(
    settings: Any,
    args: argparse.Namespace,
    t0: datetime,
    accepted: Counter[str],
    arrivals: dict[str, float],
) -> None:
    from sqlalchemy import select

    from hub.publishing import links
    from hub.storage.models import ShareTarget, ShareTargetEvent

    async def go(session: Any) -> Any:
        targets = (
            await session.execute(
                select(
                    ShareTarget.id,
                    ShareTarget.channel_account_id,
                    ShareTarget.state,
                    ShareTarget.published_at,
                )
            )
        ).all()
        events = (
            await session.execute(
                select(
                    ShareTargetEvent.target_id,
                    ShareTargetEvent.at,
                    ShareTargetEvent.to_state,
                    ShareTargetEvent.reason,
                    ShareTargetEvent.details,
                ).order_by(ShareTargetEvent.id)
            )
        ).all()
        urls = await links.link_urls(session, [t.id for t in targets], links.base_url(settings))
        return targets, events, urls

    targets, events, urls = await _sql(settings, go)
    published = [t for t in targets if t.state == "published"]
    last = max(t.published_at for t in published)
    elapsed = (last - t0).total_seconds()
    per_account = Counter(t.channel_account_id for t in targets)
    ideal = max(n / args.rate for n in per_account.values())
    waiting = 0.0
    by_target: dict[int, list[Any]] = defaultdict(list)
    for e in events:
        by_target[e.target_id].append(e)
    for history in by_target.values():
        for before, after in zip(history, history[1:], strict=False):
            if before.to_state == "deferred" and (before.reason or "").startswith("rate_limit"):
                waiting += (after.at - before.at).total_seconds()
            if after.to_state == "publishing":
                waiting += float((after.details or {}).get("rate_wait_s", 0.0))
    latency = sum((t.published_at - t0).total_seconds() for t in published)
    # Calls per account in any window, as the channel saw them arrive: the bucket allows
    # rate x window + burst; one more is tolerated for the jitter between a token and the
    # request reaching the server (scheduling on a loaded machine).
    window = 10.0
    allowed = args.rate * window + 1 + 1
    worst = 0
    for account in per_account:
        times = sorted(
            arrivals[urls[t.id]]
            for t in published
            if t.channel_account_id == account and urls.get(t.id) in arrivals
        )
        j = 0
        for i, moment in enumerate(times):
            while moment - times[j] >= window:
                j += 1
            worst = max(worst, i - j + 1)
    duplicates = sum(n - 1 for n in accepted.values() if n > 1)
    lost = [
        t.id for t in targets if t.state != "published" or accepted.get(urls.get(t.id, "?"), 0) == 0
    ]
    print()
    print(f"targets                {len(targets):>10,} over {len(per_account)} accounts")
    states = dict(Counter(t.state for t in targets))
    print(f"published              {len(published):>10,}  states {states}")
    print(f"elapsed (T0 → last)    {elapsed:>10.1f} s")
    print(f"targets per second     {len(published) / elapsed:>10.1f}")
    print(f"ideal time (rate)      {ideal:>10.1f} s   ratio actual/ideal {elapsed / ideal:.3f}")
    print(f"waiting on rate limits {waiting / latency:>10.1%} of target time (T0 → published)")
    print(f"most posts per account in any {window:g} s: {worst} (allowed {allowed:g})")
    print(f"duplicates             {duplicates:>10}")
    print(f"lost                   {len(lost):>10}")
    if duplicates or lost or worst > allowed:
        raise SystemExit("FAILED: duplicates, lost targets or a rate limit broken")


async def main() -> None:
    args = _args()
    import redis as redis_sync
    import yaml

    from hub.config import Settings
    from hub.storage.db import create_engine
    from hub.storage.migrate import upgrade
    from hub.tasks.broker import make_celery
    from tests.contract import discord as dc
    from tests.contract import telegram as tg
    from tests.contract._server import ContractState, serve

    low, high = (float(x) / 1000 for x in args.latency_ms.split("-"))
    database = f"bench_publishing_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{database}"')
    db_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    redis_sync.Redis.from_url(REDIS_URL).flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-publishing-"))
    sections: dict[str, Any] = {
        "policy": {
            "max_posts_per_24h": 0,
            "min_gap_s": 0,
            "quiet_hours": "",
            "same_product_days": 0,
            "near_duplicate_bits": -1,
            "kinds": {},
        },
        "publishing": {
            "lease_s": 60,
            "scan_batch": 2000,
            "requeue_after_s": 120,
            "max_inline_wait_s": 0.5,
        },
        "tasks": {"visibility_timeout_s": 300},
        "database": {"url": db_url, "pool_size": 4, "max_overflow": 4},
        "redis": {"url": REDIS_URL},
    }
    settings = Settings(
        profile="production",
        data_dir=tmp,
        security={"secret_key": SECRET},
        logging={"format": "console", "access_log": False, "level": "WARNING"},
        **sections,
    )
    config = tmp / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "profile": "production",
                "data_dir": str(tmp),
                "security": {"secret_key": SECRET},
                "logging": {"format": "console", "access_log": False, "level": "WARNING"},
                **sections,
            }
        )
    )
    engine = create_engine(settings.database)
    await upgrade(engine)
    await engine.dispose()
    accepted: Counter[str] = Counter()
    arrivals: dict[str, float] = {}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with (
            serve(_app(tg, ContractState(), low, high, accepted, arrivals)) as tg_url,
            serve(_app(dc, ContractState(), low, high, accepted, arrivals)) as dc_url,
        ):
            print(f"seeding {args.targets:,} targets over {args.accounts} accounts ...", flush=True)
            await _seed(settings, args, {"telegram": tg_url, "discord": dc_url})
            hub = str(Path(sys.executable).with_name("hub"))
            procs = [
                _spawn(
                    [
                        hub,
                        "worker",
                        "--concurrency",
                        str(args.concurrency),
                        "-Q",
                        "publish",
                        "-n",
                        f"bench{i}@%h",
                    ],
                    config,
                    tmp / f"worker{i}.log",
                )
                for i in (1, 2)
            ]
            procs.append(
                _spawn(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "workers.app",
                        "beat",
                        "-s",
                        str(tmp / "beat-schedule"),
                    ],
                    config,
                    tmp / "beat.log",
                )
            )
            control = make_celery(settings, "bench-control")
            while len(await asyncio.to_thread(control.control.ping, timeout=1.0) or []) < 2:
                assert all(p.poll() is None for p in procs), f"a process died; see {tmp}"
            control.close()
            t0 = await _make_due(settings)
            print(f"workers up; all targets due at {t0.isoformat()}", flush=True)
            deadline = time.monotonic() + args.timeout
            while True:
                await asyncio.sleep(2)
                counts = await _count(settings)
                settled = sum(counts.get(s, 0) for s in ("published", "failed", "unknown"))
                print(
                    f"  {time.monotonic() - (deadline - args.timeout):6.0f} s  {counts}", flush=True
                )
                if settled >= args.targets or time.monotonic() > deadline:
                    break
            await _report(settings, args, t0, accepted, arrivals)
    finally:
        _stop(procs)
        await _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        redis_sync.Redis.from_url(REDIS_URL).flushdb()


def _app(
    module: Any,
    state: Any,
    low: float,
    high: float,
    accepted: Counter[str],
    arrivals: dict[str, float],
) -> Any:
    app = module.create_app(state)
    app.middlewares.append(_latency_middleware(low, high, accepted, arrivals))
    return app


if __name__ == "__main__":
    asyncio.run(main())
