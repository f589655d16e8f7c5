"""Shared scaffolding for contract servers: state, fault injection and a runner on 127.0.0.1.

A contract module (``tests/contract/<channel>.py``) exports ``create_app(state)`` and
``ERROR_REPLIES``: for every key of the connector's error table, a function building the
documented reply. A test calls ``state.fail_next.append(key)`` to make the next request fail
that way, or sets ``state.delay_s`` to answer the next request late (outcome-unknown tests).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorReplies = Mapping[int | str, Callable[[], web.Response]]


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ContractState:
    """What a contract server remembers; tests read and steer it."""

    fail_next: list[int | str] = field(default_factory=list)
    delay_s: float = 0.0
    rate: tuple[int, float] | None = None  # (count, window_s) per bucket, None = unlimited
    requests: list[Recorded] = field(default_factory=list)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    idempotency: dict[str, Any] = field(default_factory=dict)
    next_id: int = 1000
    _hits: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def retry_after(self, bucket: str) -> float | None:
        """Seconds to wait when `bucket` is over `rate`, else record the hit and return None."""
        if self.rate is None:
            return None
        count, window_s = self.rate
        now = time.monotonic()
        hits = self._hits[bucket]
        while hits and now - hits[0] >= window_s:
            hits.popleft()
        if len(hits) >= count:
            return max(1.0, window_s - (now - hits[0]))
        hits.append(now)
        return None


STATE = web.AppKey("contract_state", ContractState)
REPLIES = web.AppKey("contract_error_replies", dict)


@web.middleware
async def _faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    body = await request.read()
    state.requests.append(
        Recorded(request.method, request.path, request.query_string, dict(request.headers), body)
    )
    if state.delay_s:
        delay, state.delay_s = state.delay_s, 0.0
        await asyncio.sleep(delay)
    if state.fail_next:
        key = state.fail_next.pop(0)
        return request.app[REPLIES][key]()  # type: ignore[no-any-return]
    return await handler(request)


def make_app(state: ContractState, replies: ErrorReplies) -> web.Application:
    app = web.Application(middlewares=[_faults])
    app[STATE] = state
    app[REPLIES] = dict(replies)
    return app


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run `app` on 127.0.0.1 on a free port; yield its base URL."""
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def json_reply(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=dict(headers or {}))


def text_reply(status: int, body: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=body, headers=dict(headers or {}))
