"""The import rules between the four packages (ARCHITECTURE.md), checked by import-linter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_only_the_config_loader_reads_the_environment() -> None:
    offenders = []
    for package in ("hub", "connectors", "attribution", "workers"):
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if ("os.environ" in text or "os.getenv" in text) and path.name != "config.py":
                if path.relative_to(REPO).as_posix() not in {"hub/cli.py"}:
                    offenders.append(path.relative_to(REPO).as_posix())
    assert offenders == []
