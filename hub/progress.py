"""Progress of long command-line operations (import, backfill, recompute), written to stderr.

The work reports through a plain callback, ``on_progress(phase, done, total)``, called after
each item with the counts so far; a new ``phase`` starts a new count. :class:`Progress` is that
callback for the command line:

- on a terminal, a live bar (``click.progressbar``): done/total, percent, rate and ETA;
- elsewhere (a log file, CI, a pipe), one plain line each time another tenth of the phase is
  done or ``interval_s`` has passed since the last line, whichever comes first — never a line
  per item — and a closing line per phase with its time and rate.

Results belong on stdout; this writes only to its stream (stderr by default).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

import click

__all__ = ["Progress", "ProgressCallback", "format_duration"]

ProgressCallback = Callable[[str, int, int], None]


def format_duration(seconds: float) -> str:
    """``3725.0`` → ``"1:02:05"``."""
    whole = max(int(round(seconds)), 0)
    return f"{whole // 3600}:{whole // 60 % 60:02}:{whole % 60:02}"


def _rate(done: int, elapsed_s: float) -> float:
    return done / elapsed_s if elapsed_s > 0 else 0.0


class Progress:
    """A ``ProgressCallback`` that draws a bar on a terminal and writes sparse lines elsewhere."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval_s: float = 5.0,
        steps: int = 10,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(interval_s) and interval_s > 0) or steps < 1:
            raise ValueError("interval_s must be positive and steps at least 1")
        self._stream: TextIO = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty() if tty is None else tty
        self._interval_s = interval_s
        self._steps = steps
        self._clock = clock
        self._phase: str | None = None
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._last_line_at = 0.0
        self._last_step = 0
        self._bar: Any = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self._phase:
            self.close()
            self._start(phase, total)
        self._total = max(total, 0)
        delta, self._done = done - self._done, done
        if self._bar is not None:
            self._bar.length = self._total
            if delta > 0:
                self._bar.update(delta, self._rate_text())
            return
        self._maybe_line()

    def close(self) -> None:
        """End the current phase: finish the bar, or write its closing line."""
        if self._phase is None:
            return
        elapsed = self._clock() - self._started
        if self._bar is not None:
            self._bar.render_finish()
            self._bar = None
        summary = f"{self._phase}: {self._done}/{self._total} in {format_duration(elapsed)}"
        if self._done:
            summary += f", {_rate(self._done, elapsed):.1f}/s"
        self._write(summary)
        self._phase = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- inside ---------------------------------------------------------------------------

    def _start(self, phase: str, total: int) -> None:
        self._phase, self._total, self._done, self._last_step = phase, max(total, 0), 0, 0
        self._started = self._last_line_at = self._clock()
        if self._tty and total > 0:
            self._bar = click.progressbar(
                length=total,
                label=phase,
                file=self._stream,
                show_pos=True,
                show_percent=True,
                show_eta=True,
                item_show_func=lambda text: text,
            )
            self._bar.render_progress()

    def _rate_text(self) -> str:
        return f"{_rate(self._done, self._clock() - self._started):.1f}/s"

    def _maybe_line(self) -> None:
        if self._total <= 0 or self._done >= self._total or self._done <= 0:
            return  # the closing line says it
        now = self._clock()
        step = self._done * self._steps // self._total
        if step <= self._last_step and now - self._last_line_at < self._interval_s:
            return
        self._last_step, self._last_line_at = max(step, self._last_step), now
        elapsed = now - self._started
        rate = _rate(self._done, elapsed)
        line = (
            f"{self._phase}: {self._done}/{self._total} "
            f"({100 * self._done // self._total}%), {rate:.1f}/s"
        )
        if rate > 0:
            line += f", eta {format_duration((self._total - self._done) / rate)}"
        self._write(line)

    def _write(self, line: str) -> None:
        click.echo(line, file=self._stream)
