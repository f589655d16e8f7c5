"""Celery's configuration, from the settings; shared by the senders and the workers."""

from __future__ import annotations

from typing import Any

from celery import Celery

from hub.config import Settings
from hub.tasks.registry import QUEUES, all_jobs, periodic_jobs

__all__ = ["celery_config", "make_celery"]


def celery_config(settings: Settings) -> dict[str, Any]:
    routes = {name: {"queue": j.queue} for name, j in all_jobs().items()}
    return {
        "broker_url": settings.broker_url,
        "result_backend": settings.result_backend,
        "result_expires": settings.tasks.result_expires_s,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "enable_utc": True,
        # A task is acknowledged after it ran; a worker lost mid-task gets it redelivered.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": "default",
        "task_create_missing_queues": True,
        "task_routes": routes,
        "broker_connection_retry_on_startup": True,
        # Redelivery of unacknowledged tasks; longer than any one task may run.
        "broker_transport_options": {
            "visibility_timeout": settings.tasks.visibility_timeout_s
        },
        "result_backend_transport_options": {"retry_policy": {"timeout": 5.0}},
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "task_ignore_result": False,
        # Periodic scans (due targets, click draining...): enqueue work, never long ETAs.
        "beat_schedule": {
            j.name: {
                "task": j.name,
                "schedule": j.every_s,
                "options": {"queue": j.queue, "expires": j.every_s},
            }
            for j in periodic_jobs()
        },
    }


def make_celery(settings: Settings, name: str = "hub") -> Celery:
    app = Celery(name, set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


DEFAULT_QUEUES = ",".join(QUEUES)
