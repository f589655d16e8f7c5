"""The embedded profile's clock: enqueues each periodic job every ``every_s`` seconds.

A tick is skipped while the previous run of the same job is still queued or running, so a
slow job never piles up behind itself.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from hub.tasks.dispatch import TaskQueue
from hub.tasks.registry import Job, periodic_jobs

__all__ = ["Ticker"]

log = structlog.get_logger("hub.tasks")


class Ticker:
    def __init__(self, queue: TaskQueue, jobs: list[Job] | None = None) -> None:
        self._queue = queue
        self._jobs = periodic_jobs() if jobs is None else jobs
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._tick(j), name=f"tick-{j.name}") for j in self._jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _tick(self, job: Job) -> None:
        assert job.every_s is not None
        while True:
            await asyncio.sleep(job.every_s)
            try:
                task_id = await self._queue.enqueue(job.name)
                await self._queue.result(task_id, timeout_s=max(job.every_s * 20, 60.0))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic_job_failed", job=job.name)
