"""A real Synapse homeserver for the Matrix connector's tests (shared/channels/global.md §5,
"Running a real Synapse locally for tests").

`Synapse.start(workdir, port)` does everything: creates the Synapse venv when missing
(``var/synapse-venv`` at the repository root, git-ignored, never the project's ``.venv``),
generates a SQLite config, makes it offline-safe and bound to 127.0.0.1 on `port`, starts the
homeserver, waits for ``/_matrix/client/versions``, registers a user with the shared secret,
logs in and creates a room. `stop()` ends the process it started.

Run by hand: ``.venv/bin/python -m tests.contract.synapse /tmp/synapse 8448``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

__all__ = ["SYNAPSE_VERSION", "VENV", "Synapse", "SynapseUnavailable", "ensure_venv"]

SYNAPSE_VERSION = "1.163.2"  # the version global.md's observations come from
VENV = Path(__file__).resolve().parents[3] / "var" / "synapse-venv"
SERVER_NAME = "localhost"
USER, PASSWORD = "shopbot", "shopbot-password-1"
_INSTALL_TIMEOUT_S = 900
_READY_TIMEOUT_S = 90


class SynapseUnavailable(RuntimeError):
    """Synapse could not be installed or started here; the message says why."""


def _run(args: list[str], timeout_s: float, what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SynapseUnavailable(f"{what}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-15:]
        raise SynapseUnavailable(f"{what} failed (exit {done.returncode}):\n" + "\n".join(tail))


def ensure_venv(venv: Path = VENV) -> Path:
    """The Python of a venv with matrix-synapse, created and installed when missing."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import synapse.app.homeserver"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", "--clear", str(venv)], 120, "creating the Synapse venv")
    _run(
        [str(python), "-m", "pip", "install", "-q", f"matrix-synapse=={SYNAPSE_VERSION}"],
        _INSTALL_TIMEOUT_S,
        f"pip install matrix-synapse=={SYNAPSE_VERSION}",
    )
    return python


def _request(url: str, body: Any = None, token: str | None = None, method: str = "") -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@dataclass
class Synapse:
    """A running homeserver with one user who has joined one room."""

    base_url: str
    access_token: str
    room_id: str
    user_id: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(cls, workdir: Path, port: int, venv: Path = VENV) -> Synapse:
        python = ensure_venv(venv)
        data = workdir / "data"
        config = data / "homeserver.yaml"
        _run(
            [
                str(python),
                "-m",
                "synapse.app.homeserver",
                "--server-name",
                SERVER_NAME,
                "--config-path",
                str(config),
                "--generate-config",
                "--report-stats=no",
                "--data-directory",
                str(data),
            ],
            120,
            "generating the Synapse config",
        )
        settings = yaml.safe_load(config.read_text())
        settings["listeners"] = [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ]
        settings["trusted_key_servers"] = []  # offline: never reach matrix.org
        settings["suppress_key_server_warning"] = True
        settings["url_preview_enabled"] = False
        settings["rc_message"] = {"per_second": 1000, "burst_count": 1000}
        settings["rc_login"] = {"address": {"per_second": 1000, "burst_count": 1000}}
        settings.pop("log_config", None)  # log to stderr, captured in synapse.log
        config.write_text(yaml.safe_dump(settings))
        log_path = workdir / "synapse.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(python), "-m", "synapse.app.homeserver", "-c", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        base_url = f"http://127.0.0.1:{port}"
        try:
            cls._wait_ready(base_url, process, log_path)
            bin_dir = python.parent
            _run(
                [
                    str(bin_dir / "register_new_matrix_user"),
                    "-c",
                    str(config),
                    "-u",
                    USER,
                    "-p",
                    PASSWORD,
                    "--no-admin",
                    "--exists-ok",
                    base_url,
                ],
                120,
                "registering the test user",
            )
            login = _request(
                f"{base_url}/_matrix/client/v3/login",
                {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": USER},
                    "password": PASSWORD,
                },
            )
            token = str(login["access_token"])
            room = _request(f"{base_url}/_matrix/client/v3/createRoom", {"name": "shop"}, token)
        except BaseException:
            _terminate(process)
            raise
        return cls(base_url, token, str(room["room_id"]), str(login["user_id"]), process, log_path)

    @staticmethod
    def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace").splitlines()[-20:]
                raise SynapseUnavailable("Synapse exited at start:\n" + "\n".join(tail))
            try:
                _request(f"{base_url}/_matrix/client/versions")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        _terminate(process)
        raise SynapseUnavailable(f"Synapse not ready after {_READY_TIMEOUT_S} s")

    def event(self, event_id: str) -> Any:
        """An event of the room as the homeserver stores it."""
        room = quote(self.room_id, safe="")
        event = quote(event_id, safe="")
        url = f"{self.base_url}/_matrix/client/v3/rooms/{room}/event/{event}"
        return _request(url, token=self.access_token)

    def stop(self) -> None:
        _terminate(self.process)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


if __name__ == "__main__":  # pragma: no cover - manual use
    workdir, port = Path(sys.argv[1]), int(sys.argv[2])
    workdir.mkdir(parents=True, exist_ok=True)
    server = Synapse.start(workdir, port)
    print(json.dumps({"base_url": server.base_url, "room_id": server.room_id}))
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()
