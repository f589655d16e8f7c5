"""The Celery app: every job of ``hub.tasks.registry`` as a task, on its own queue.

Start with ``hub worker`` (or ``celery -A workers.app worker``). Settings come from
``hub.config.load()`` (``$HUB_CONFIG``, then ``./config.yaml``, then ``HUB_*`` variables).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_shutdown, worker_shutdown

from hub.config import ConfigError, Settings, load
from hub.logs import configure
from hub.tasks.broker import make_celery
from hub.tasks.registry import Job, all_jobs
from workers.runtime import Runtime

__all__ = ["celery", "create_celery"]

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def _get_runtime(settings: Settings) -> Runtime:
    """The process's runtime, made on first use (after the fork of a prefork child)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = Runtime(settings)
        return _runtime


def _close_runtime(**_: Any) -> None:
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            _runtime.close()
            _runtime = None


def _register(app: Celery, settings: Settings, job: Job) -> None:
    @app.task(  # type: ignore[untyped-decorator]
        name=job.name, bind=True, acks_late=True, max_retries=job.max_retries
    )
    def run(self: Task, **kwargs: Any) -> Any:
        runtime = _get_runtime(settings)
        return runtime.call(job.fn(runtime.ctx, **kwargs))


def create_celery(settings: Settings) -> Celery:
    app = make_celery(settings, "hub-worker")
    for job in all_jobs().values():
        _register(app, settings, job)
    worker_process_shutdown.connect(_close_runtime, weak=False)
    worker_shutdown.connect(_close_runtime, weak=False)
    return app


def _load() -> Settings:
    try:
        return load()
    except ConfigError as exc:
        print(f"hub worker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


_settings = _load()
configure(_settings.logging)
celery = create_celery(_settings)
