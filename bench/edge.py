"""Benchmark of the attribution edge ``GET /{code}`` (issue 6).

What it runs, on loopback, in one go (so the ratios compare setups measured together):

- ``bare``      a bare aiohttp handler returning the same 302 (same headers) with no work,
                one process, uvloop, no access log;
- ``bare x2``   the same in 2 processes on one port (SO_REUSEPORT);
- ``hub``       ``hub serve`` on the production profile, one process: the real edge
                (memory cache hit, user-agent classification, visitor cookie, click id, the
                click event batched into the Redis stream);
- ``hub x2``    ``hub serve --workers 2``;
- ``nginx``     nginx ``return 302``, 1 worker, when nginx is installed.

Each setup: 2 s warm-up, then ``wrk -t1 -c64 -d<duration> --latency`` with a browser
User-Agent and no cookie (every request is a new visitor: the costliest person path).
Rounds go through the setups in turn; the table gives the median of the rounds, the
server's CPU µs per request (from /proc), and the ratio to the bare handler
(``hub`` to ``bare``, ``hub x2`` to ``bare x2``).

Then the click check: the hub servers are stopped (SIGTERM: they flush their batches),
the stream is drained into PostgreSQL with the production drain, and the stored clicks of
each hub setup are compared with the redirects wrk counted. wrk does not count the requests
in flight when it stops (at most 64 per run), which the server did serve and record, so
``stored - counted`` must be between 0 and 64 x runs. Then an exact check: 19,968 requests
(``--exact``, 64 connections) from a closed-loop client against ``hub x2`` on a link of its
own must give exactly as many stored clicks.

Needs: PostgreSQL on 127.0.0.1:5432 (user postgres, trust), ``redis-server`` (a private one
is started on a free port, so nothing else flushes the stream during the run), and ``wrk``
(Debian package; installed with apt-get when missing and running as root).
Run from the repository root:

    .venv/bin/python bench/edge.py                       # -d10s, 3 rounds, 64 connections
    .venv/bin/python bench/edge.py --duration 5 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing Debian's wrk with apt-get", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("wrk")
    if not found:
        sys.exit("bench/edge.py needs wrk: apt-get install wrk")
    return found


# The bare handler --------------------------------------------------------------------------


def bare_server(port: int, location: str) -> None:
    """One process of the bare handler (started by this script with --bare)."""
    import uvloop
    from aiohttp import web

    headers = {
        "Location": location,
        "Cache-Control": "no-store",
        "Set-Cookie": "hub_vid=AAAAAAAAAAAAAAAAAAAAAA; Max-Age=63072000; Path=/; HttpOnly; "
        "SameSite=Lax",
    }

    async def handle(request: web.Request) -> web.Response:
        return web.Response(status=302, headers=headers)

    app = web.Application()
    app.router.add_get("/{code}", handle)
    uvloop.install()
    web.run_app(
        app, host="127.0.0.1", port=port, access_log=None, reuse_port=True, print=None, backlog=1024
    )


# Processes ------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    argv: list[str]
    port: int
    path: str
    env: dict[str, str] = field(default_factory=dict)
    processes: int = 1
    link_id: int | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    served: int = 0
    probes: int = 0

    def start(self, log_dir: Path) -> None:
        for i in range(self.processes if self.name.startswith("bare") else 1):
            out = (log_dir / f"{self.name.replace(' ', '_')}-{i}.log").open("ab")
            self.procs.append(
                subprocess.Popen(
                    self.argv,
                    env={**os.environ, **self.env},
                    cwd=REPO,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            out.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                status = probe(self.port, self.path)
                if status in (301, 302):
                    self.probes += 1
                    if self.name.startswith("bare") and len(self.procs) > 1:
                        time.sleep(0.5)
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                sys.exit(f"{self.name} did not start; see {log_dir}")
            time.sleep(0.1)

    def pids(self) -> list[int]:
        out: list[int] = []
        for proc in self.procs:
            out.append(proc.pid)
            out += _children(proc.pid)
        return out

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(x) for x in text.split()]
    return kids + [g for k in kids for g in _children(k)]


def cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def probe(port: int, path: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {UA}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        head = sock.recv(64).decode("latin-1")
    return int(head.split()[1])


# wrk --------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(wrk: str, server: Server, seconds: float, connections: int) -> Result:
    url = f"http://127.0.0.1:{server.port}{server.path}"
    before = cpu_seconds(server.pids())
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "--timeout",
            "5s",
            "-H",
            f"User-Agent: {UA}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = cpu_seconds(server.pids()) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non3xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non3xx.group(1)) if non3xx else 0
    if sock_err:
        errors += sum(int(x) for x in sock_err.groups())
    server.served += requests
    return Result(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        requests=requests,
        errors=errors,
        cpu_us=cpu / requests * 1e6 if requests else 0.0,
    )


# Data --------------------------------------------------------------------------------------


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def seed(settings: Any) -> tuple[list[tuple[str, int]], str]:
    """Migrates; makes a merchant, a product and four links; returns (code, id) and a URL."""
    from decimal import Decimal

    from hub.catalog.products import ProductIn, create_product
    from hub.links import create_link
    from hub.security import Vault
    from hub.storage.db import create_engine, session_factory
    from hub.storage.migrate import upgrade
    from hub.tenancy import create_merchant

    engine = create_engine(settings.database)
    await upgrade(engine)
    links: list[tuple[str, int]] = []
    try:
        async with session_factory(engine)() as session:
            made = await create_merchant(
                session, Vault(SECRET), name="Bench", storefront_url="https://shop.test/"
            )
            await session.commit()
            product = await create_product(
                session,
                made.merchant_id,
                ProductIn(
                    title="Mug",
                    url="https://shop.test/p/mug",
                    price=Decimal("9.90"),
                    currency="EUR",
                ),
            )  # type: ignore[arg-type]
            for _ in range(4):
                out = await create_link(
                    session,
                    made.merchant_id,
                    product_id=product.id,
                    channel_kind="telegram",
                    settings=settings.links,
                )
                links.append((out.code, out.id))
            await session.commit()
            destination = out.destination_url
    finally:
        await engine.dispose()
    return links, destination


async def drain_and_count(settings: Any) -> dict[int, int]:
    from redis.asyncio import Redis
    from sqlalchemy import func, select

    from attribution.clicks import RedisUniqueGate, drain, stream_status
    from hub.storage.db import create_engine, session_factory
    from hub.storage.models import Click

    redis = Redis.from_url(settings.redis.url)
    engine = create_engine(settings.database)
    sessions = session_factory(engine)
    edge = settings.edge.model_copy(update={"drain_count": 200})
    started = time.perf_counter()
    drained = 0
    try:
        while True:
            report = await drain(
                redis, sessions, edge, RedisUniqueGate(redis, 86400), consumer="bench", max_s=30
            )
            drained += report.clicks
            status = await stream_status(redis, edge)
            if status.length == 0:
                break
        took = time.perf_counter() - started
        print(f"drained {drained:,} clicks in {took:.1f} s ({drained / max(took, 1e-9):,.0f}/s)")
        async with sessions() as session:
            rows = await session.execute(
                select(Click.link_id, func.count()).group_by(Click.link_id)
            )
            return {int(link): int(n) for link, n in rows}
    finally:
        await redis.aclose()
        await engine.dispose()


async def exact_check(port: int, code: str, total: int) -> int:
    import aiohttp

    sent = 0
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:

        async def worker(n: int) -> int:
            ok = 0
            for _ in range(n):
                async with session.get(
                    f"http://127.0.0.1:{port}/{code}",
                    allow_redirects=False,
                    headers={"User-Agent": UA},
                ) as resp:
                    ok += resp.status == 302
            return ok

        per = total // 64
        sent = sum(await asyncio.gather(*(worker(per) for _ in range(64))))
    return sent


# Main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--exact", type=int, default=20_000)
    parser.add_argument("--bare", nargs=2, metavar=("PORT", "LOCATION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        bare_server(int(args.bare[0]), args.bare[1])
        return
    wrk = ensure_wrk()

    import redis as sync_redis

    from hub.config import Settings

    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    database = f"hub_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{database}"'))
    redis_port = free_port()
    redis_proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
    )
    REDIS_URL = f"redis://127.0.0.1:{redis_port}/0"
    for _ in range(100):
        try:
            sync_redis.Redis.from_url(REDIS_URL).ping()
            break
        except sync_redis.ConnectionError:
            time.sleep(0.05)
    env = {
        "HUB_PROFILE": "production",
        "HUB_DATA_DIR": str(tmp),
        "HUB_DATABASE__URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "HUB_DATABASE__AUTO_MIGRATE": "false",
        "HUB_REDIS__URL": REDIS_URL,
        "HUB_SECURITY__SECRET_KEY": SECRET,
        "HUB_LOGGING__ACCESS_LOG": "false",
        "HUB_LOGGING__LEVEL": "WARNING",
        "HUB_CONFIG": str(tmp / "none.yaml"),
    }
    (tmp / "none.yaml").write_text("{}\n")
    settings = Settings(
        profile="production",
        data_dir=tmp,
        database={"url": env["HUB_DATABASE__URL"], "auto_migrate": False},
        redis={"url": REDIS_URL},
        security={"secret_key": SECRET},
    )
    links, destination = asyncio.run(seed(settings))
    location = destination + "&hub_cid=AAAAAAAAAAAAAAAAAAAAAA"
    hub_bin = str(REPO / ".venv" / "bin" / "hub")
    py = sys.executable
    servers: list[Server] = []
    port = free_port()
    servers.append(
        Server("bare", [py, __file__, "--bare", str(port), location], port, f"/{links[0][0]}")
    )
    port = free_port()
    servers.append(
        Server(
            "bare x2",
            [py, __file__, "--bare", str(port), location],
            port,
            f"/{links[0][0]}",
            processes=2,
        )
    )
    port = free_port()
    servers.append(
        Server(
            "hub",
            [hub_bin, "serve", "--host", "127.0.0.1", "--port", str(port)],
            port,
            f"/{links[1][0]}",
            env=env,
            link_id=links[1][1],
        )
    )
    port = free_port()
    servers.append(
        Server(
            "hub x2",
            [hub_bin, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            port,
            f"/{links[2][0]}",
            env=env,
            processes=2,
            link_id=links[2][1],
        )
    )
    nginx = shutil.which("nginx") or (
        Path("/usr/sbin/nginx") if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx:
        port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(
            f"worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx.err;\n"
            "events { worker_connections 4096; }\n"
            f"http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp};\n"
            f"  fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};\n"
            f"  server {{ listen 127.0.0.1:{port};\n"
            f"    location / {{ return 302 '{location}'; }} }} }}\n"
        )
        servers.append(
            Server("nginx", [str(nginx), "-c", str(conf), "-p", str(tmp)], port, f"/{links[0][0]}")
        )
    results: dict[str, list[Result]] = {s.name: [] for s in servers}
    try:
        for s in servers:
            s.start(tmp)
        for s in servers:
            run_wrk(wrk, s, 2, args.connections)  # warm-up (counted in served)
        for r in range(args.rounds):
            for s in servers:
                result = run_wrk(wrk, s, args.duration, args.connections)
                results[s.name].append(result)
                print(
                    f"round {r + 1} {s.name:8s} {result.rps:>10,.0f} req/s  "
                    f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
                    f"{result.cpu_us:.1f} µs CPU/req  errors {result.errors}",
                    flush=True,
                )
    finally:
        for s in servers:
            s.stop()

    def med(name: str, attr: str) -> float:
        return statistics.median(getattr(x, attr) for x in results[name])

    print()
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration:g}s, medians of {args.rounds} rounds, "
        f"{os.cpu_count()} cores shared with wrk"
    )
    print("| setup | req/s | p50 ms | p99 ms | server CPU µs/req | vs bare |")
    print("| --- | --- | --- | --- | --- | --- |")
    base = {"hub": "bare", "hub x2": "bare x2"}
    for s in servers:
        ratio = ""
        if s.name in base:
            ratio = f"{med(s.name, 'rps') / med(base[s.name], 'rps'):.0%}"
        print(
            f"| {s.name} | {med(s.name, 'rps'):,.0f} | {med(s.name, 'p50_ms'):.2f} | "
            f"{med(s.name, 'p99_ms'):.2f} | {med(s.name, 'cpu_us'):.1f} | {ratio} |"
        )

    # Every redirect served is a stored click.
    hub_x2 = next(s for s in servers if s.name == "hub x2")
    hub_x2.procs = []
    hub_x2.start(tmp)
    exact = asyncio.run(exact_check(hub_x2.port, links[3][0], args.exact))
    hub_x2.stop()
    counts = asyncio.run(drain_and_count(settings))
    print()
    print(
        "| setup | redirects counted by wrk (+ probes, + exact) | clicks stored | "
        "stored - counted (requests in flight when wrk stopped) |"
    )
    print("| --- | --- | --- | --- |")
    ok = True
    runs = args.rounds + 1
    for s in servers:
        if s.link_id is None:
            continue
        counted = s.served + s.probes
        stored = counts.get(s.link_id, 0)
        within = 0 <= stored - counted <= args.connections * runs
        ok = ok and within
        print(
            f"| {s.name} | {counted:,} | {stored:,} | {stored - counted:+,} "
            f"({'ok' if within else 'NOT OK'}, bound {args.connections * runs}) |"
        )
    stored_exact = counts.get(links[3][1], 0)
    ok = ok and stored_exact == exact == args.exact // 64 * 64
    print(
        f"exact check (closed-loop client, hub x2, link of its own): {exact:,} redirects "
        f"served, {stored_exact:,} clicks stored: {'ok' if stored_exact == exact else 'NOT OK'}"
    )
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    redis_proc.terminate()
    redis_proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
