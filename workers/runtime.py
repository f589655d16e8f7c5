"""One event loop per worker process, running the hub's async jobs for Celery's threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from typing import Any, TypeVar

from hub.config import Settings
from hub.tasks.context import TaskContext, open_context

__all__ = ["Runtime"]

T = TypeVar("T")


class Runtime:
    """A background loop thread owning the process's engine, Redis and HTTP session."""

    def __init__(self, settings: Settings) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hub-runtime",
                                        daemon=True)
        self._thread.start()
        self._stack = AsyncExitStack()
        self.ctx: TaskContext = self.call(self._open(settings))

    async def _open(self, settings: Settings) -> TaskContext:
        return await self._stack.enter_async_context(open_context(settings))

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        if not self._loop.is_running():
            return
        self.call(self._stack.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
