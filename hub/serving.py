"""Running the web app: one process, or N processes sharing one port."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import signal
import socket
import sys
from collections.abc import Callable

from aiohttp import web

from attribution.edge import edge_first
from hub.config import Settings
from hub.logs import AccessLogger, configure

__all__ = ["install_edge_first", "serve", "serve_many", "settle"]


def _loop_policy() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


AppFactory = Callable[[Settings], web.Application]


def install_edge_first(runner: web.AppRunner) -> None:
    """Redirects answered before routing (see `attribution.edge.edge_first`); call it after
    ``runner.setup()`` and before the first connection."""
    server = runner.server
    assert server is not None, "install_edge_first needs a set-up runner"
    server.request_handler = edge_first(runner.app, server.request_handler)


def settle() -> None:
    """Once the app has started: collect, then freeze every object made so far out of the
    garbage collector's view (``gc.freeze``). They live as long as the process, yet each full
    collection walked all of them (about 190,000 modules, classes, models and routes): 100 ms
    on a 2-core machine, stalling every request in flight, once every few hundred report
    requests. Frozen, a full collection takes under 2 ms."""
    gc.collect()
    gc.freeze()


async def _serve(
    factory: AppFactory,
    settings: Settings,
    host: str,
    port: int,
    reuse_port: bool,
    announce: Callable[[str], None],
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(
        factory(settings),
        access_log_class=AccessLogger,
        access_log=logging.getLogger("aiohttp.access") if settings.logging.access_log else None,
        shutdown_timeout=settings.server.shutdown_timeout_s,
        handle_signals=False,
    )
    await runner.setup()
    install_edge_first(runner)
    settle()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024)
    await site.start()
    for address in runner.addresses:
        if isinstance(address, tuple):
            shown = f"[{address[0]}]" if ":" in str(address[0]) else address[0]
            announce(f"http://{shown}:{address[1]}")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(
    factory: AppFactory,
    settings: Settings,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    announce: Callable[[str], None] | None = None,
) -> None:
    configure(settings.logging)
    _loop_policy()

    def say(url: str) -> None:
        print(f"hub ({settings.profile.value}) listening on {url}", flush=True)

    asyncio.run(_serve(factory, settings, host, port, reuse_port, announce or say))


def _child(factory: AppFactory, settings: Settings, host: str, port: int) -> None:
    serve(factory, settings, host, port, reuse_port=True, announce=lambda url: None)


def serve_many(factory: AppFactory, settings: Settings, host: str, port: int, workers: int) -> None:
    """``workers`` processes on one port (SO_REUSEPORT); the kernel spreads connections."""
    if not hasattr(socket, "SO_REUSEPORT"):
        sys.exit("--workers needs SO_REUSEPORT, which this platform lacks")
    if port == 0:
        sys.exit("--workers needs a fixed --port")
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_child, args=(factory, settings, host, port), daemon=False)
        for _ in range(workers)
    ]
    for proc in procs:
        proc.start()
    print(
        f"hub ({settings.profile.value}) listening on http://{host}:{port} "
        f"with {workers} processes",
        flush=True,
    )

    def forward(signum: int, _frame: object) -> None:
        for proc in procs:
            if proc.pid is not None and proc.is_alive():
                proc.terminate()

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    for proc in procs:
        proc.join()
    codes = [p.exitcode for p in procs]
    if any(code not in (0, -signal.SIGTERM) for code in codes):
        sys.exit(1)
