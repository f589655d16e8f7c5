from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.config import ConfigError, Profile, load
from tests.conftest import REPO


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads_the_embedded_profile(config_dir: Path) -> None:
    settings = load()
    assert settings.profile is Profile.EMBEDDED
    assert settings.database.url == "sqlite+aiosqlite:///var/hub.sqlite3"
    assert settings.tasks.runner == "inprocess"
    assert settings.logging.format == "console"  # the embedded overlay applied


def test_embedded_secret_is_generated_once_and_kept(config_dir: Path) -> None:
    first = load().security.secret_key.get_secret_value()
    second = load().security.secret_key.get_secret_value()
    assert len(first) >= 32 and first == second
    assert (config_dir / "var" / "secret.key").stat().st_mode & 0o777 == 0o600


def test_environment_overrides_file_and_profile(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_SERVER__PORT", "9100")
    monkeypatch.setenv("HUB_PROFILE", "production")
    monkeypatch.setenv("HUB_SECURITY__SECRET_KEY", "s" * 40)
    monkeypatch.setenv("HUB_DATABASE__URL", "postgresql+asyncpg://u@db.internal/hub")
    settings = load()
    assert settings.server.port == 9100
    assert settings.profile is Profile.PRODUCTION
    assert settings.database.url == "postgresql+asyncpg://u@db.internal/hub"
    assert settings.database.auto_migrate is False  # from the production overlay
    assert settings.tasks.runner == "celery"
    assert settings.broker_url == "redis://127.0.0.1:6379/0"


def test_production_without_secret_names_the_key(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_PROFILE", "production")
    with pytest.raises(ConfigError, match=r"security\.secret_key"):
        load()


def test_wrong_type_names_key_value_and_variable(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_SERVER__PORT", "eighty")
    with pytest.raises(ConfigError) as err:
        load()
    text = str(err.value)
    assert "server.port" in text and "'eighty'" in text and "HUB_SERVER__PORT" in text
    assert "integer" in text


def test_unknown_key_and_unknown_profile_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.prot"):
        load(write(tmp_path / "a.yaml", "server:\n  prot: 80\n"))
    with pytest.raises(ConfigError, match="profile: expected one of"):
        load(write(tmp_path / "b.yaml", "profile: staging\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(write(tmp_path / "c.yaml", "server: [\n"))
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "missing.yaml")


def test_cli_exits_2_with_the_key_on_a_bad_setting(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", "server:\n  port: 70000\n")
    result = CliRunner().invoke(main, ["--config", str(bad), "migrate", "status"])
    assert result.exit_code == 2
    assert "server.port" in result.output and "65535" in result.output
