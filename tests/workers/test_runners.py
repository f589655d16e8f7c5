"""The same job through a real Celery worker on Redis and through the in-process runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from celery.exceptions import TimeoutError

from hub.config import Settings
from hub.tasks.broker import make_celery
from hub.tasks.context import open_context
from hub.tasks.dispatch import CeleryQueue, InProcessQueue
from tests.conftest import SECRET, make_settings


@pytest.mark.slow
async def test_celery_worker_process_runs_the_job(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    settings = make_settings(tmp_path, database_url=pg_url, redis_url=redis_url,
                             profile="production")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({
        "HUB_PROFILE": "production",
        "HUB_DATABASE__URL": pg_url,
        "HUB_REDIS__URL": redis_url,
        "HUB_SECURITY__SECRET_KEY": SECRET,
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_LOGGING__FORMAT": "console",
    })
    hub = Path(sys.executable).with_name("hub")
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen([str(hub), "worker", "--concurrency", "1"], cwd=tmp_path,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    queue = CeleryQueue(make_celery(settings, "test-sender"))
    try:
        task_id = await queue.enqueue("hub.ping", token="through-redis")
        for _ in range(60):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            try:
                result = await queue.result(task_id, timeout_s=1)
                break
            except TimeoutError:
                continue
        assert result["token"] == "through-redis"
        assert result["database"] == "ok"
        assert result["profile"] == "production"
        assert result["pid"] not in (os.getpid(), worker.pid)  # a prefork child ran it
    finally:
        await queue.close()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
        log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()


async def test_in_process_runner_runs_the_same_job(settings: Settings) -> None:
    async with open_context(settings) as ctx:
        queue = InProcessQueue(ctx, concurrency=2)
        try:
            ids = [await queue.enqueue("hub.ping", token=f"t{i}") for i in range(5)]
            results = [await queue.result(i, timeout_s=10) for i in ids]
        finally:
            await queue.close()
    assert [r["token"] for r in results] == [f"t{i}" for i in range(5)]
    assert {r["pid"] for r in results} == {os.getpid()}
    assert all(r["database"] == "ok" for r in results)


async def test_unknown_job_is_refused_at_the_call_site(settings: Settings) -> None:
    async with open_context(settings) as ctx:
        queue = InProcessQueue(ctx, concurrency=1)
        try:
            with pytest.raises(KeyError, match="unknown job 'hub.nope'"):
                await queue.enqueue("hub.nope")
        finally:
            await queue.close()
