"""The share target state machine, in one place.

::

    scheduled ──► deferred ──► publishing ──► published ──► retracted
        │  ▲         │  ▲        (lease)  ├──► retrying ──► (publishing again, up to max tries)
        │  └─────────┘  │                 ├──► unknown ──► published | failed   (merchant confirms)
        │               │                 ├──► deferred   (rate limited, account paused)
        └──► cancelled ◄┘                 └──► failed

Every change goes through `move` (or `claim`), which is a compare-and-set on the current
state: ``UPDATE share_targets SET … WHERE id = :id AND state = :seen`` (and, for the lease,
``AND (lease_until IS NULL OR lease_until < :now)``), so two workers can never both win, and
each change writes one ``share_target_events`` row with its time, reason and details.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hub.storage.models import ShareTarget, ShareTargetEvent
from hub.storage.types import utcnow

__all__ = [
    "FINAL",
    "PAUSED",
    "TRANSITIONS",
    "WAITING",
    "InvalidTransition",
    "TargetState",
    "claim",
    "hold_account",
    "move",
    "pause_account",
    "resume_account",
]


class TargetState(StrEnum):
    SCHEDULED = "scheduled"
    DEFERRED = "deferred"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    RETRYING = "retrying"
    UNKNOWN = "unknown"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRACTED = "retracted"


S = TargetState
WAITING = frozenset({S.SCHEDULED, S.DEFERRED, S.RETRYING})
FINAL = frozenset({S.FAILED, S.CANCELLED, S.RETRACTED})
PAUSED = "paused"  # reason prefix of targets held while their account needs a person

TRANSITIONS: dict[TargetState, frozenset[TargetState]] = {
    S.SCHEDULED: frozenset({S.SCHEDULED, S.DEFERRED, S.PUBLISHING, S.CANCELLED, S.FAILED}),
    S.DEFERRED: frozenset({S.SCHEDULED, S.DEFERRED, S.PUBLISHING, S.CANCELLED, S.FAILED}),
    S.RETRYING: frozenset(
        {S.SCHEDULED, S.DEFERRED, S.RETRYING, S.PUBLISHING, S.CANCELLED, S.FAILED}
    ),
    S.PUBLISHING: frozenset(
        {S.PUBLISHING, S.PUBLISHED, S.RETRYING, S.DEFERRED, S.UNKNOWN, S.FAILED}
    ),
    S.UNKNOWN: frozenset({S.PUBLISHED, S.FAILED, S.CANCELLED}),
    S.PUBLISHED: frozenset({S.RETRACTED}),
    S.FAILED: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.CANCELLED: frozenset(),
    S.RETRACTED: frozenset(),
}


class InvalidTransition(ValueError):
    """A target cannot go from its state to the one asked for."""


async def _record(
    session: AsyncSession,
    target_id: int,
    seen: str | None,
    to: TargetState,
    reason: str | None,
    details: dict[str, Any] | None,
    at: datetime,
) -> None:
    session.add(
        ShareTargetEvent(
            target_id=target_id,
            at=at,
            from_state=seen,
            to_state=to.value,
            reason=reason,
            details=details or {},
        )
    )


async def move(
    session: AsyncSession,
    target_id: int,
    to: TargetState,
    *,
    reason: str | None,
    details: dict[str, Any] | None = None,
    allowed_from: Iterable[TargetState] | None = None,
    lease_owner: str | None = None,
    now: datetime | None = None,
    **values: Any,
) -> TargetState | None:
    """Move a target to `to` if it is (still) in one of `allowed_from` (default: every state
    that may go to `to`) and, with `lease_owner`, still leased by that owner. Returns the
    state it left, or ``None`` when it was not in a state to move (someone else moved it).

    The caller commits; `values` are extra columns to set in the same UPDATE.
    """
    now = now or utcnow()
    sources = (
        set(allowed_from)
        if allowed_from is not None
        else {s for s, targets in TRANSITIONS.items() if to in targets}
    )
    for source in sources:
        if to not in TRANSITIONS[source]:
            raise InvalidTransition(f"{source} → {to} is not a transition")
    seen = await session.scalar(select(ShareTarget.state).where(ShareTarget.id == target_id))
    if seen is None or seen not in sources:
        return None
    query = update(ShareTarget).where(ShareTarget.id == target_id, ShareTarget.state == seen)
    if lease_owner is not None:
        query = query.where(ShareTarget.lease_owner == lease_owner)
    if to is not S.PUBLISHING:
        values.setdefault("lease_owner", None)
        values.setdefault("lease_until", None)
    result = await session.execute(
        query.values(state=to.value, reason=reason, **values).execution_options(
            synchronize_session=False
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    await _record(session, target_id, seen, to, reason, details, now)
    return TargetState(seen)


async def claim(
    session: AsyncSession,
    target_id: int,
    owner: str,
    lease_s: float,
    *,
    stale: bool = False,
    now: datetime | None = None,
    details: dict[str, Any] | None = None,
    **values: Any,
) -> bool:
    """Take the lease: only one worker wins. With `stale`, take over a ``publishing`` target
    whose lease expired (only when resending is safe: the channel has an idempotency key).
    `values` are more columns set by the same UPDATE."""
    now = now or utcnow()
    sources = [S.PUBLISHING.value] if stale else [s.value for s in WAITING]
    seen = await session.scalar(select(ShareTarget.state).where(ShareTarget.id == target_id))
    if seen not in sources:
        return False
    result = await session.execute(
        update(ShareTarget)
        .where(
            ShareTarget.id == target_id,
            ShareTarget.state.in_(sources),
            or_(ShareTarget.lease_until.is_(None), ShareTarget.lease_until < now),
        )
        .values(
            state=S.PUBLISHING.value,
            lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_s),
            attempts=ShareTarget.attempts + 1,
            reason=None,
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    reason = "lease expired; resending with the same idempotency key" if stale else None
    await _record(
        session,
        target_id,
        seen,
        S.PUBLISHING,
        reason,
        {**(details or {}), "lease_owner": owner},
        now,
    )
    return True


async def pause_account(
    session: AsyncSession, account_id: int, why: str, *, now: datetime | None = None
) -> int:
    """Hold every waiting target of an account (its credentials need a person)."""
    now = now or utcnow()
    ids = await session.scalars(
        select(ShareTarget.id).where(
            ShareTarget.channel_account_id == account_id,
            ShareTarget.state.in_([s.value for s in WAITING]),
        )
    )
    moved = 0
    for target_id in list(ids):
        if await move(
            session,
            target_id,
            S.DEFERRED,
            reason=f"{PAUSED}: {why}",
            allowed_from=WAITING,
            now=now,
        ):
            moved += 1
    return moved


async def hold_account(
    session: AsyncSession,
    account_id: int,
    why: str,
    until: datetime,
    *,
    now: datetime | None = None,
) -> int:
    """Defer every waiting target of an account due before `until` to then (the channel takes
    no post before: a quota used up, a temporary block). The account itself stays active, and
    targets paused for it (`pause_account`) stay paused."""
    now = now or utcnow()
    ids = await session.scalars(
        select(ShareTarget.id).where(
            ShareTarget.channel_account_id == account_id,
            ShareTarget.state.in_([s.value for s in WAITING]),
            ShareTarget.due_at < until,
            or_(ShareTarget.reason.is_(None), ShareTarget.reason.not_like(f"{PAUSED}:%")),
        )
    )
    moved = 0
    for target_id in list(ids):
        if await move(
            session,
            target_id,
            S.DEFERRED,
            reason=why,
            allowed_from=WAITING,
            now=now,
            due_at=until,
            enqueued_at=None,
            details={"resumes_at": until.isoformat()},
        ):
            moved += 1
    return moved


async def resume_account(
    session: AsyncSession, account_id: int, *, now: datetime | None = None
) -> int:
    """Release the targets `pause_account` held; they are due again at once (or later)."""
    now = now or utcnow()
    rows = (
        await session.execute(
            select(ShareTarget.id, ShareTarget.due_at).where(
                ShareTarget.channel_account_id == account_id,
                ShareTarget.state == S.DEFERRED.value,
                ShareTarget.reason.like(f"{PAUSED}:%"),
            )
        )
    ).all()
    for target_id, due_at in rows:
        await move(
            session,
            target_id,
            S.SCHEDULED,
            reason="account resumed",
            allowed_from={S.DEFERRED},
            now=now,
            due_at=max(due_at, now),
            enqueued_at=None,
        )
    return len(rows)
