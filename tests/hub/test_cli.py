"""The ``hub`` command, in process and as the README runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.config import Settings
from hub.storage.migrate import head_revision
from tests.conftest import REPO, ClientFactory, bearer, free_port


def config_file(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'var'}\n"
        f"database:\n  url: {database_url}\n"
        "logging:\n  format: console\n  access_log: false\n",
        encoding="utf-8",
    )
    return path


async def test_merchant_create_prints_a_key_that_works(
    tmp_path: Path, settings: Settings, client_for: ClientFactory
) -> None:
    cfg = config_file(tmp_path, settings.database.url)
    result = await asyncio.to_thread(CliRunner().invoke, main, [
        "--config", str(cfg), "merchant", "create", "Tea House",
        "--storefront", "https://tea.test/shop", "--origin", "https://cdn.tea.test",
        "--timezone", "Asia/Shanghai"])
    assert result.exit_code == 0, result.output
    token = next(line.split(": ", 1)[1] for line in result.output.splitlines()
                 if line.startswith("api key"))
    client = await client_for(settings)
    resp = await client.post("/api/v1/products", headers=bearer(token), json={
        "title": "Longjing", "url": "https://cdn.tea.test/p/1"})
    assert resp.status == 201, await resp.text()
    resp = await client.get("/api/v1/products", headers=bearer(token))
    assert [p["title"] for p in (await resp.json())["data"]] == ["Longjing"]


def test_merchant_create_refuses_bad_input(tmp_path: Path) -> None:
    cfg = config_file(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}")
    for args, message in (
        (["--storefront", "ftp://x.test"], "storefront"),
        (["--storefront", "https://x.test", "--timezone", "Mars/Base"], "timezone"),
    ):
        result = CliRunner().invoke(main, ["--config", str(cfg), "merchant", "create", "X",
                                           *args])
        assert result.exit_code == 2 and message in result.output


def test_migrate_status_down_up(tmp_path: Path) -> None:
    cfg = config_file(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}")
    runner = CliRunner()
    out = runner.invoke(main, ["--config", str(cfg), "migrate", "status"]).output
    assert "base (empty)" in out
    out = runner.invoke(main, ["--config", str(cfg), "migrate"]).output
    assert f"database at revision {head_revision()}; head is {head_revision()}" in out
    out = runner.invoke(main, ["--config", str(cfg), "migrate", "down"]).output
    assert "base (empty)" in out


def test_demo_seeds_a_merchant(tmp_path: Path) -> None:
    cfg = config_file(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}")
    result = CliRunner().invoke(main, ["--config", str(cfg), "demo"])
    assert result.exit_code == 0, result.output
    assert "demo merchant 1 with products 1, 2, 3" in result.output


def test_secret_prints_a_usable_key() -> None:
    result = CliRunner().invoke(main, ["secret"])
    assert result.exit_code == 0 and len(result.output.strip()) >= 40


@pytest.mark.slow
def test_hub_run_serves_healthz_and_stops_on_sigterm(tmp_path: Path) -> None:
    """What ``./dev run`` ends in: the installed ``hub run`` on the shipped config.yaml."""
    (tmp_path / "config.yaml").write_bytes((REPO / "config.yaml").read_bytes())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    hub = Path(sys.executable).with_name("hub")
    proc = subprocess.Popen([str(hub), "run", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"hub (embedded) listening on http://127.0.0.1:{port}" in line
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200 and b'"ok"' in r.read()
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert (tmp_path / "var" / "hub.sqlite3").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        proc.stdout.close()  # type: ignore[union-attr]
    assert code == 0


def test_platform_secret_is_stored_encrypted_and_usable(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    cfg = config_file(tmp_path, f"sqlite+aiosqlite:///{db}")
    runner = CliRunner()
    made = runner.invoke(main, ["--config", str(cfg), "merchant", "create", "S",
                                "--storefront", "https://s.test"])
    assert made.exit_code == 0, made.output
    result = runner.invoke(main, ["--config", str(cfg), "merchant", "platform-secret", "1",
                                  "shopify"], input="shpss_topsecret\n")
    assert result.exit_code == 0, result.output
    assert "/hooks/v1/shopify/orders?merchant=1" in result.output
    assert b"shpss_topsecret" not in db.read_bytes()
    missing = runner.invoke(main, ["--config", str(cfg), "merchant", "platform-secret", "9",
                                   "woocommerce", "--secret", "x"])
    assert missing.exit_code == 2 and "merchant 9 not found" in missing.output

    from attribution.conversions.keys import platform_secret
    from hub.config import load
    from hub.security import Vault
    from hub.storage.db import create_engine, session_factory

    settings = load(cfg)

    async def read() -> str | None:
        engine = create_engine(settings.database)
        try:
            async with session_factory(engine)() as session:
                vault = Vault(settings.security.secret_key.get_secret_value())
                return await platform_secret(session, vault, 1, "shopify")
        finally:
            await engine.dispose()

    assert asyncio.run(read()) == "shpss_topsecret"
