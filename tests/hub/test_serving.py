"""hub.serving: what `hub serve` does to a process once its app has started."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_settle_takes_the_started_app_out_of_full_collections() -> None:
    """After settle, a full collection no longer walks the objects made at start-up (the
    modules, models and routes of the app): in a fresh process, so that this one keeps its
    collector as it was."""
    script = textwrap.dedent(
        """
        import gc, json
        from hub.config import Settings
        from hub.serving import settle
        from hub.web import create_app

        app = create_app(Settings(profile="embedded"))
        tracked = len(gc.get_objects())
        settle()
        print(json.dumps([tracked, gc.get_freeze_count(), len(gc.get_objects())]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    tracked, frozen, left = (int(n) for n in out.stdout.strip().splitlines()[-1][1:-1].split(","))
    assert tracked > 50_000  # what a full collection walked before
    assert frozen >= tracked * 0.9
    assert left < tracked / 20
