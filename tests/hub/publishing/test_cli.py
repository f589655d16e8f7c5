"""``hub share create|list|cancel`` against the database of a running hub."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from hub.cli import main
from hub.config import Settings
from tests.conftest import ClientFactory, bearer
from tests.hub.publishing.scenarios import contract_servers


def _config(tmp_path: Path, settings: Settings) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'var'}\n"
        f"database:\n  url: {settings.database.url}\n"
        f"security:\n  secret_key: {settings.security.secret_key.get_secret_value()}\n"
        "logging:\n  format: console\n  access_log: false\n",
        encoding="utf-8",
    )
    return path


async def _cli(cfg: Path, *args: str) -> str:
    result = await asyncio.to_thread(CliRunner().invoke, main, ["--config", str(cfg), *args])
    assert result.exit_code == 0, result.output
    return result.output


async def test_share_create_list_cancel(
    tmp_path: Path, settings: Settings, client_for: ClientFactory, new_merchant: Any
) -> None:
    async with contract_servers() as channels:
        client = await client_for(settings)
        made = await new_merchant(client)
        auth = bearer(made.api_key.token)
        product = await (
            await client.post(
                "/api/v1/products",
                headers=auth,
                json={"title": "Mug", "url": "https://shop.test/p/1"},
            )
        ).json()
        channel = await (
            await client.post(
                "/api/v1/channels",
                headers=auth,
                json={
                    "kind": "discord",
                    "name": "d",
                    "config": {
                        "webhook_url": "https://discord.com/api/webhooks/1/x",
                        "base_url": channels.urls["discord"],
                    },
                },
            )
        ).json()
        cfg = _config(tmp_path, settings)
        m = str(made.merchant_id)
        created = await _cli(
            cfg,
            "share",
            "create",
            "--merchant",
            m,
            "--product",
            str(product["id"]),
            "--channel",
            str(channel["id"]),
            "--at",
            "2099-01-01T09:00:00+01:00",
        )
        assert "share 1 scheduled for 2099-01-01T08:00:00+00:00" in created
        assert "discord:d  scheduled" in created
        listed = await _cli(cfg, "share", "list", "--merchant", m, "--state", "scheduled")
        assert listed.startswith("1  product 1") and "discord:scheduled" in listed
        cancelled = await _cli(cfg, "share", "cancel", "1", "--merchant", m)
        assert "target 1: cancelled" in cancelled
        other = await asyncio.to_thread(
            CliRunner().invoke,
            main,
            ["--config", str(cfg), "share", "cancel", "1", "--merchant", "999"],
        )
        assert other.exit_code == 1 and "no share 1" in other.output
