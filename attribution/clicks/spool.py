"""The local append-only spool: where click batches go when their sink cannot take them.

One file per process in ``<data_dir>/spool/``, held with an exclusive ``flock`` while the
process lives; one encoded batch per line. :meth:`Spool.replay` sends the complete lines of
this process's file and of every file no live process holds (a process that died), then
truncates or removes them. A line sent twice (a crash between sending and truncating) is
harmless: clicks are stored ``ON CONFLICT (click_id) DO NOTHING``.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

__all__ = ["Spool"]

log = structlog.get_logger("attribution.clicks")

Send = Callable[[bytes], Awaitable[None]]


class Spool:
    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._fd: int | None = None
        self._path: Path | None = None
        # Something may be waiting: this process wrote lines, or a dead one left a file.
        self.pending = self._foreign_or_own_data()

    def append(self, line: bytes) -> None:
        """Appends one batch; durable against a crash of this process once it returns."""
        fd = self._own()
        data = line.rstrip(b"\n") + b"\n"
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        self.pending = True

    async def replay(self, send: Send) -> int:
        """Sends every complete spooled line; returns how many. Stops at the first failure."""
        sent = 0
        for path in sorted(self._dir.glob("*.spool")) if self._dir.exists() else []:
            if path == self._path:
                assert self._fd is not None
                sent += await self._send_lines(path, send)
                os.ftruncate(self._fd, 0)
                continue
            fd = _try_lock(path)
            if fd is None:
                continue  # a live process holds it
            try:
                sent += await self._send_lines(path, send)
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)
        self.pending = False
        if sent:
            log.info("spool_replayed", batches=sent)
        return sent

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if self._path is not None and self._path.exists() and not self._path.stat().st_size:
                self._path.unlink(missing_ok=True)

    def _own(self) -> int:
        if self._fd is None:
            self._dir.mkdir(parents=True, exist_ok=True)
            path = self._dir / f"clicks-{os.getpid()}-{secrets.token_hex(4)}.spool"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._fd, self._path = fd, path
        return self._fd

    async def _send_lines(self, path: Path, send: Send) -> int:
        data = path.read_bytes()
        lines = data.split(b"\n")
        if lines and lines[-1]:
            log.warning("spool_partial_line_dropped", file=path.name, bytes=len(lines[-1]))
        count = 0
        for line in lines[:-1]:
            if line:
                await send(line)
                count += 1
        return count

    def _foreign_or_own_data(self) -> bool:
        if not self._dir.exists():
            return False
        return any(p.stat().st_size for p in self._dir.glob("*.spool"))


def _try_lock(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
