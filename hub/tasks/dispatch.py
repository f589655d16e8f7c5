"""Sending jobs: to Celery workers (production) or to the in-process runner (embedded).

The in-process runner keeps its queue in memory: work that must survive a crash is recorded
in the database first and found again by the periodic scans, never only in this queue.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from hub.tasks.context import TaskContext
from hub.tasks.registry import Job, all_jobs, get

__all__ = ["CeleryQueue", "InProcessQueue", "TaskQueue"]

log = structlog.get_logger("hub.tasks")


class TaskQueue(Protocol):
    async def enqueue(self, name: str, **kwargs: Any) -> str: ...

    async def result(self, task_id: str, timeout_s: float) -> Any: ...

    async def close(self) -> None: ...


class InProcessQueue:
    """Runs jobs on this event loop with bounded concurrency; drains on close."""

    def __init__(
        self,
        ctx: TaskContext,
        concurrency: int,
        keep_results: int = 1000,
        jobs: Mapping[str, Job] | None = None,
    ) -> None:
        self._ctx = ctx
        self._jobs = all_jobs() if jobs is None else dict(jobs)
        self._queue: asyncio.Queue[tuple[str, str, dict[str, Any]] | None] = asyncio.Queue()
        self._results: OrderedDict[str, asyncio.Future[Any]] = OrderedDict()
        self._keep = keep_results
        self._workers = [
            asyncio.get_running_loop().create_task(self._work(), name=f"hub-task-{i}")
            for i in range(concurrency)
        ]

    async def enqueue(self, name: str, **kwargs: Any) -> str:
        self._job(name)  # unknown names fail at the call site
        task_id = uuid.uuid4().hex
        self._results[task_id] = asyncio.get_running_loop().create_future()
        while len(self._results) > self._keep:
            self._results.popitem(last=False)
        await self._queue.put((task_id, name, kwargs))
        return task_id

    async def result(self, task_id: str, timeout_s: float) -> Any:
        future = self._results.get(task_id)
        if future is None:
            raise KeyError(f"unknown or expired task {task_id}")
        return await asyncio.wait_for(asyncio.shield(future), timeout_s)

    async def close(self) -> None:
        for _ in self._workers:
            await self._queue.put(None)
        await asyncio.gather(*self._workers, return_exceptions=True)

    def _job(self, name: str) -> Job:
        if name not in self._jobs:
            raise KeyError(f"unknown job {name!r}; known: {', '.join(sorted(self._jobs))}")
        return self._jobs[name]

    async def _work(self) -> None:
        while (item := await self._queue.get()) is not None:
            task_id, name, kwargs = item
            future = self._results.get(task_id)
            try:
                value = await self._job(name).fn(self._ctx, **kwargs)
            except Exception as exc:
                log.exception("task_failed", task=name, task_id=task_id)
                if future is not None and not future.done():
                    future.set_exception(exc)
            else:
                if future is not None and not future.done():
                    future.set_result(value)


class CeleryQueue:
    """Sends jobs by name to the Celery workers' queues (publishing is a blocking call)."""

    def __init__(self, celery: Any) -> None:
        self._celery = celery

    async def enqueue(self, name: str, **kwargs: Any) -> str:
        job = get(name)
        result = await asyncio.to_thread(
            self._celery.send_task, name, kwargs=kwargs, queue=job.queue
        )
        return str(result.id)

    async def result(self, task_id: str, timeout_s: float) -> Any:
        async_result = self._celery.AsyncResult(task_id)
        return await asyncio.to_thread(async_result.get, timeout=timeout_s)

    async def close(self) -> None:
        await asyncio.to_thread(self._celery.close)
