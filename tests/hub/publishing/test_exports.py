"""The public names of `hub.publishing`, pinned (httpx's test_exported_members)."""

from __future__ import annotations

import hub.publishing

EXPECTED = {
    "Candidate",
    "Decision",
    "Outcome",
    "RecentPost",
    "Rules",
    "ShareIn",
    "ShareOut",
    "TargetOut",
    "TargetState",
    "claim",
    "create_share",
    "decide",
    "get_share",
    "move",
    "publish_target",
}


def test_public_names_are_pinned_and_importable() -> None:
    assert set(hub.publishing.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(hub.publishing, name) is not None


def test_every_transition_targets_a_state_and_final_states_are_final() -> None:
    from hub.publishing.states import FINAL, TRANSITIONS, TargetState

    assert set(TRANSITIONS) == set(TargetState)
    for state in FINAL - {TargetState.FAILED}:
        assert TRANSITIONS[state] == frozenset()
    assert TRANSITIONS[TargetState.PUBLISHED] == {TargetState.RETRACTED}
