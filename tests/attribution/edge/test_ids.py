"""Click and visitor ids: well-formed, never repeated, never shared with a forked child."""

from __future__ import annotations

import os
import re

from attribution.edge.ids import new_id, new_id_pair, read_cookie

_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def test_pairs_are_well_formed_and_never_repeat_across_draws() -> None:
    seen: set[str] = set()
    for _ in range(3 * 256 + 7):  # past several bulk draws, and part of one
        click_id, visitor_id = new_id_pair()
        assert _ID.fullmatch(click_id) and _ID.fullmatch(visitor_id)
        seen.update((click_id, visitor_id))
    assert len(seen) == 2 * (3 * 256 + 7)
    assert _ID.fullmatch(new_id())


def test_a_forked_child_draws_its_own_ids() -> None:
    new_id_pair()  # the parent holds a stock of drawn ids
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next ids and leave at once
        os.close(read_end)
        os.write(write_end, "".join(new_id_pair() + new_id_pair()).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = "".join(new_id_pair() + new_id_pair())
    assert len(child) == len(parent) == 88
    assert child != parent


def test_cookie_value_read_only_when_well_formed() -> None:
    good = "A" * 22
    assert read_cookie(f"x=1; hub_vid={good}; y=2", "hub_vid=") == good
    assert read_cookie(f'hub_vid="{good}"', "hub_vid=") == good
    assert read_cookie(f"not_hub_vid={good}", "hub_vid=") is None
    assert read_cookie("hub_vid=short", "hub_vid=") is None
    assert read_cookie("hub_vid=<script>alert(1)</script>AAAAAAAA", "hub_vid=") is None
    assert read_cookie(None, "hub_vid=") is None
