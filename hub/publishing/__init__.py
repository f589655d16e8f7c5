"""Scheduled publishing: shares fanned out into targets, the policy gate, shared rate limits
and exactly-once posts (see `hub.publishing.publisher` for the flow and its one window)."""

from __future__ import annotations

from hub.publishing.policy import Candidate, Decision, RecentPost, Rules, decide
from hub.publishing.publisher import Outcome, publish_target
from hub.publishing.reads import ShareOut, TargetOut, get_share
from hub.publishing.shares import ShareIn, create_share
from hub.publishing.states import TargetState, claim, move

__all__ = [
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
]
