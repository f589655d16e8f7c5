"""The job registry and the embedded profile's ticker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hub.config import Settings
from hub.tasks.context import TaskContext, open_context
from hub.tasks.dispatch import InProcessQueue
from hub.tasks.registry import Job, job
from hub.tasks.ticker import Ticker

RUNS: list[float] = []


async def _tick(ctx: TaskContext) -> None:
    RUNS.append(asyncio.get_running_loop().time())


def test_periodic_job_needs_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="every_s"):
        job("test.bad", every_s=0)


async def test_ticker_runs_periodic_jobs_until_stopped(settings: Settings) -> None:
    tick = Job("test.tick", _tick, "default", 0, 0.05)
    RUNS.clear()
    async with open_context(settings) as ctx:
        queue = InProcessQueue(ctx, concurrency=1, jobs={tick.name: tick})
        ticker = Ticker(queue, [tick])
        ticker.start()
        await asyncio.sleep(0.4)
        await ticker.stop()
        count = len(RUNS)
        await asyncio.sleep(0.15)
        await queue.close()
    assert 3 <= count <= 9
    assert len(RUNS) == count  # nothing after stop


async def test_in_process_failures_reach_the_caller(settings: Settings) -> None:
    async def boom(ctx: TaskContext, **_: Any) -> None:
        raise RuntimeError("boom")

    async with open_context(settings) as ctx:
        queue = InProcessQueue(ctx, concurrency=1, jobs={"test.boom": Job("test.boom", boom,
                                                                          "default", 0)})
        try:
            task_id = await queue.enqueue("test.boom")
            with pytest.raises(RuntimeError, match="boom"):
                await queue.result(task_id, timeout_s=5)
        finally:
            await queue.close()
