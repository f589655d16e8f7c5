"""Jobs by name: plain async functions ``fn(ctx, **ids)`` and the queue each belongs to.

Both runners carry the same functions: Celery (``workers``) in production and the in-process
runner (``hub.tasks.dispatch``) on the embedded profile. Arguments are ids and primitives only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from hub.tasks.context import TaskContext

__all__ = ["JOB_MODULES", "QUEUES", "Job", "all_jobs", "get", "job", "periodic_jobs"]

Queue = Literal["publish", "clicks", "attribution", "webhooks", "default"]
QUEUES: tuple[Queue, ...] = ("publish", "clicks", "attribution", "webhooks", "default")

# Modules whose import registers jobs; the runners load them all.
JOB_MODULES: tuple[str, ...] = (
    "hub.tasks.jobs", "hub.webhooks.jobs", "attribution.jobs", "hub.publishing.jobs",
    "attribution.clicks.jobs",
)

JobFn = Callable[..., Coroutine[Any, Any, Any]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    fn: JobFn
    queue: Queue
    max_retries: int
    # Periodic jobs take no arguments and run every ``every_s`` seconds: Celery beat in
    # production (``hub worker --beat`` or ``hub beat``), a ticker in the embedded process.
    every_s: float | None = None


_JOBS: dict[str, Job] = {}


def job(
    name: str, *, queue: Queue = "default", max_retries: int = 5, every_s: float | None = None
) -> Callable[[JobFn], JobFn]:
    """Register ``fn`` under ``name``; with ``every_s`` it also runs on a schedule."""
    if every_s is not None and every_s <= 0:
        raise ValueError("every_s must be positive")

    def register(fn: JobFn) -> JobFn:
        if name in _JOBS and _JOBS[name].fn is not fn:
            raise ValueError(f"job {name!r} registered twice")
        _JOBS[name] = Job(name, fn, queue, max_retries, every_s)
        return fn

    return register


def periodic_jobs() -> list[Job]:
    return [j for j in all_jobs().values() if j.every_s is not None]


def all_jobs() -> dict[str, Job]:
    for module in JOB_MODULES:
        importlib.import_module(module)
    return dict(_JOBS)


def get(name: str) -> Job:
    jobs = all_jobs()
    if name not in jobs:
        raise KeyError(f"unknown job {name!r}; known: {', '.join(sorted(jobs))}")
    return jobs[name]


async def run(ctx: TaskContext, name: str, kwargs: dict[str, Any]) -> Any:
    return await get(name).fn(ctx, **kwargs)
