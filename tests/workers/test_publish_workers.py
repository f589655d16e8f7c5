"""Publishing on the production profile: two real `hub worker` processes and a beat process on
Redis and PostgreSQL, against contract servers on 127.0.0.1 run by this test's event loop.

The same scenarios as the embedded profile (tests/hub/publishing/flows.py), and a worker killed
with SIGKILL while its post is in flight: no duplicate post, and the target still settles."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.config import Settings
from hub.tasks.broker import make_celery
from tests.conftest import SECRET, ClientFactory, bearer, make_settings
from tests.hub.publishing.flows import FLOWS, Flow
from tests.hub.publishing.scenarios import POLICY_OFF, PUBLISHING_FAST, Hub, contract_servers

pytestmark = pytest.mark.slow

LEASE_S = 5.0
VISIBILITY_S = 8


@dataclass
class Deployment:
    settings: Settings
    workers: list[subprocess.Popen[bytes]]
    beat: subprocess.Popen[bytes]
    logs: Path

    def worker_of(self, pid: int) -> subprocess.Popen[bytes] | None:
        """The worker whose process group holds `pid` (a prefork child)."""
        try:
            group = os.getpgid(pid)
        except ProcessLookupError:
            return None
        return next((w for w in self.workers if w.pid == group), None)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))


def _sections() -> dict[str, Any]:
    return {
        "policy": POLICY_OFF,
        "publishing": {**PUBLISHING_FAST, "lease_s": LEASE_S},
        "tasks": {"visibility_timeout_s": VISIBILITY_S},
    }


def _spawn(argv: list[str], config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_CONFIG"] = str(config)
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            cwd=config.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def production_config(
    home: Path, database_url: str, redis_url: str, sections: dict[str, Any]
) -> Path:
    """A production config.yaml in ``home`` for the hub processes a test starts."""
    config = home / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "profile": "production",
                "data_dir": str(home),
                "database": {"url": database_url},
                "redis": {"url": redis_url},
                "security": {"secret_key": SECRET},
                "logging": {"format": "console", "access_log": False},
                **sections,
            }
        )
    )
    return config


@pytest.fixture
def deployment(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[Deployment]:
    sections = _sections()
    settings = make_settings(
        tmp_path, database_url=pg_url, redis_url=redis_url, profile="production", **sections
    )
    config = production_config(tmp_path, pg_url, redis_url, sections)
    hub = str(Path(sys.executable).with_name("hub"))
    workers = [
        _spawn(
            [hub, "worker", "--concurrency", "2", "-Q", "publish,default", "-n", f"w{i}@%h"],
            config,
            tmp_path / f"worker{i}.log",
        )
        for i in (1, 2)
    ]
    beat = _spawn(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.app",
            "beat",
            "-s",
            str(tmp_path / "beat-schedule"),
        ],
        config,
        tmp_path / "beat.log",
    )
    made = Deployment(settings, workers, beat, tmp_path)
    try:
        _await_workers(made, count=2)
        yield made
    finally:
        for proc in (beat, *workers):
            _stop(proc)


def _await_workers(made: Deployment, count: int) -> None:
    app = make_celery(made.settings, "test-control")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for proc in (*made.workers, made.beat):
                assert proc.poll() is None, made.log_text()
            if len(app.control.ping(timeout=1.0) or []) >= count:
                return
        raise AssertionError("workers did not answer:\n" + made.log_text())
    finally:
        app.close()


@pytest.fixture
async def hub(
    deployment: Deployment, client_for: ClientFactory, new_merchant: Any
) -> AsyncIterator[Hub]:
    async with contract_servers() as channels:
        client = await client_for(deployment.settings)
        made = await new_merchant(client)
        yield Hub(client, bearer(made.api_key.token), channels)


@pytest.mark.parametrize("flow", FLOWS.values(), ids=list(FLOWS))
async def test_production(hub: Hub, flow: Flow, deployment: Deployment) -> None:
    try:
        await flow(hub)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- logs ---\n{deployment.log_text()[-6000:]}") from None


async def _kill_mid_publish(hub: Hub, deployment: Deployment, kind: str) -> dict[str, Any]:
    account = await hub.channel(kind)
    hub.channels.slow_after_post_s[kind] = 60.0  # stored at once, answered a minute later
    state = hub.channels.wh if kind == "webhook" else hub.channels.tg
    share = await hub.share(await hub.product(), [account])
    deadline = time.monotonic() + 30
    while not state.posts:
        assert time.monotonic() < deadline, "the post never reached the channel"
        await asyncio.sleep(0.05)
    target = (await hub.get(share["id"]))["targets"][0]
    assert target["state"] == "publishing"
    owner = target["events"][-1]["details"]["lease_owner"]
    victim = deployment.worker_of(int(owner.split(":")[1]))
    assert victim is not None, owner
    os.killpg(victim.pid, signal.SIGKILL)  # the worker and its pool, mid-request
    victim.wait(timeout=10)
    return await hub.wait(share["id"], timeout_s=60)


async def test_sigkill_mid_publish_with_an_idempotency_key_publishes_once(
    hub: Hub, deployment: Deployment
) -> None:
    done = await _kill_mid_publish(hub, deployment, "webhook")
    target = done["targets"][0]
    assert target["state"] == "published", (target, deployment.log_text()[-4000:])
    assert len(hub.channels.wh.posts) == 1  # the receiver saw the same webhook-id twice
    sent = [r for r in hub.channels.wh.requests if r.method == "POST"]
    assert len(sent) == 2 and len({r.headers["webhook-id"] for r in sent}) == 1
    reasons = [e["reason"] or "" for e in target["events"]]
    assert any("same idempotency key" in r for r in reasons)


async def test_sigkill_mid_publish_without_an_idempotency_key_never_posts_twice(
    hub: Hub, deployment: Deployment
) -> None:
    done = await _kill_mid_publish(hub, deployment, "telegram")
    target = done["targets"][0]
    assert target["state"] == "unknown", target
    await asyncio.sleep(2)
    assert len(hub.channels.tg.posts) == 1
    assert len([r for r in hub.channels.tg.requests if "sendmessage" in r.path.lower()]) == 1
    path = f"/shares/{done['id']}/targets/{target['id']}/confirm"
    confirmed = await hub.call("POST", path, json={"published": True})
    assert confirmed["targets"][0]["state"] == "published"
