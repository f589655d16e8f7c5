"""The hub command run in process (CliRunner) on each database backend."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hub.cli import main
from hub.config import Settings
from hub.security import Vault
from hub.storage.db import SessionFactory
from hub.tenancy import create_merchant
from tests.conftest import SECRET


def write_config(tmp_path: Path, database_url: str, extra: str = "") -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"data_dir: {tmp_path / 'var'}\n"
        f"database:\n  url: {database_url}\n"
        f"security:\n  secret_key: {SECRET}\n"
        "logging:\n  format: console\n  access_log: false\n" + extra,
        encoding="utf-8",
    )
    return path


@dataclass
class Hub:
    """``hub --config <this test's config> ...`` in a thread (the CLI runs its own loop)."""

    config: Path

    async def __call__(self, *args: str) -> Result:
        runner = CliRunner()
        return await asyncio.to_thread(
            runner.invoke, main, ["--config", str(self.config), *args], catch_exceptions=False
        )

    def reconfigure(self, database_url: str, extra: str) -> None:
        write_config(self.config.parent, database_url, extra)


@pytest.fixture
def hub(tmp_path: Path, settings: Settings) -> Hub:
    return Hub(write_config(tmp_path, settings.database.url))



async def add_merchant(
    sessions: SessionFactory, name: str = "Shop", storefront: str = "https://shop.test/"
) -> int:
    async with sessions() as session:
        made = await create_merchant(session, Vault(SECRET), name=name, storefront_url=storefront)
        await session.commit()
        return int(made.merchant_id)


def progress_lines(stderr: str, phase: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"{phase}: ")]
