"""``hub key create|list|revoke``: keys made on the command line work, and stop working."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner, Result

from hub.cli import main
from hub.config import Settings
from tests.conftest import ClientFactory, MerchantFactory, bearer


def config_file(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'var'}\n"
        f"database:\n  url: {database_url}\n"
        "logging:\n  format: console\n  access_log: false\n",
        encoding="utf-8",
    )
    return path


async def hub(cfg: Path, *args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, ["--config", str(cfg), *args])


async def test_keys_from_the_command_line(
    tmp_path: Path, settings: Settings, client_for: ClientFactory, new_merchant: MerchantFactory
) -> None:
    client = await client_for(settings)
    made = await new_merchant(client)
    cfg = config_file(tmp_path, settings.database.url)
    result = await hub(
        cfg,
        "key",
        "create",
        "--merchant",
        str(made.merchant_id),
        "--name",
        "approver",
        "--scope",
        "approve",
        "--scope",
        "reports:read",
    )
    assert result.exit_code == 0, result.output
    token = next(
        line.split(": ", 1)[1] for line in result.output.splitlines() if line.startswith("api key")
    )
    prefix = token.rsplit("_", 1)[0]
    assert (await client.get("/api/v1/products", headers=bearer(token))).status == 200
    resp = await client.get("/api/v1/keys", headers=bearer(token))
    assert resp.status == 403  # approve + reports:read is not admin
    listed = await hub(cfg, "key", "list", "--merchant", str(made.merchant_id))
    assert listed.exit_code == 0, listed.output
    assert prefix in listed.output and "approve,reports:read" in listed.output
    assert token not in listed.output
    revoked = await hub(cfg, "key", "revoke", prefix)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert (await client.get("/api/v1/products", headers=bearer(token))).status == 401
    listed = await hub(cfg, "key", "list", "--merchant", str(made.merchant_id))
    assert "revoked" in next(line for line in listed.output.splitlines() if prefix in line)
    assert (await client.get("/api/v1/products", headers=bearer(made.api_key.token))).status == 200


async def test_key_commands_refuse_bad_input(tmp_path: Path) -> None:
    cfg = config_file(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'h.sqlite3'}")
    result = await hub(cfg, "key", "create", "--merchant", "1", "--name", "x", "--scope", "root")
    assert result.exit_code == 2 and "root" in result.output
    result = await hub(cfg, "key", "create", "--merchant", "7", "--name", "x", "--scope", "admin")
    assert result.exit_code == 1 and "no merchant 7" in result.output
    result = await hub(cfg, "key", "revoke", "hub_nothing")
    assert result.exit_code == 1 and "no API key" in result.output
