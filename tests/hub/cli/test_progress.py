"""``hub.progress``: a bar on a terminal, a few plain lines anywhere else."""

from __future__ import annotations

import io

import pytest

from hub.progress import Progress, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(progress: Progress, clock: Clock, total: int, step_s: float, phase: str = "work") -> None:
    progress(phase, 0, total)  # as the work does when a phase starts
    for done in range(1, total + 1):
        clock.now += step_s
        progress(phase, done, total)


def test_not_a_terminal_gets_a_line_per_tenth_not_per_item() -> None:
    out, clock = io.StringIO(), Clock()
    with Progress(out, clock=clock, interval_s=5.0) as progress:
        _run(progress, clock, 10_000, 0.0001)
    lines = out.getvalue().splitlines()
    assert len(lines) == 10  # 10%, 20%, ... 90% and the closing line
    assert lines[0] == "work: 1000/10000 (10%), 10000.0/s, eta 0:00:01"
    assert lines[4].startswith("work: 5000/10000 (50%)")
    assert lines[-1] == "work: 10000/10000 in 0:00:01, 10000.0/s"
    assert "\r" not in out.getvalue()


def test_a_slow_phase_gets_a_line_every_interval() -> None:
    out, clock = io.StringIO(), Clock()
    with Progress(out, clock=clock, interval_s=5.0) as progress:
        _run(progress, clock, 1000, 1.0)  # 1000 s: far more than ten lines' worth
    lines = out.getvalue().splitlines()
    assert 195 <= len(lines) <= 201
    assert lines[0] == "work: 5/1000 (0%), 1.0/s, eta 0:16:35"


def test_each_phase_is_counted_on_its_own() -> None:
    out, clock = io.StringIO(), Clock()
    with Progress(out, clock=clock) as progress:
        _run(progress, clock, 3, 0.1, "read")
        progress("write", 0, 0)
    lines = out.getvalue().splitlines()
    assert lines[-2].startswith("read: 3/3 in ")
    assert lines[-1] == "write: 0/0 in 0:00:00"


def test_a_terminal_gets_a_live_bar_with_rate_and_eta() -> None:
    out, clock = Terminal(), Clock()
    with Progress(out, clock=clock) as progress:
        _run(progress, clock, 50, 0.5)
    text = out.getvalue()
    assert "\r" in text and "[####" in text  # redrawn in place
    assert "25/50" in text and "2.0/s" in text
    assert text.splitlines()[-1] == "work: 50/50 in 0:00:25, 2.0/s"


def test_durations_and_bad_settings() -> None:
    assert format_duration(3725.4) == "1:02:05"
    assert format_duration(-1) == "0:00:00"
    with pytest.raises(ValueError):
        Progress(io.StringIO(), interval_s=0)
