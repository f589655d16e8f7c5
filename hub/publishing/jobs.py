"""Publishing jobs on the ``publish`` queue: the due scan and one target's publication.

The scan never takes a lease and never uses ETAs: every ``SCAN_EVERY_S`` it marks a batch of
due targets as sent (``enqueued_at``, a conditional UPDATE so two overlapping scans never both
send one) and enqueues their ids. A target whose run was lost is sent again after
``publishing.requeue_after_s``; a ``publishing`` target whose lease expired (its worker died)
is sent too, so `publish_target` can settle it. Running a target twice is harmless: the lease
and the state machine make every run after the first a no-op.
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import and_, or_, select, update

from hub.publishing.publisher import publish_target as publish
from hub.publishing.states import WAITING, TargetState
from hub.storage.models import ChannelAccount, Share, ShareTarget
from hub.storage.types import utcnow
from hub.tasks.broker import make_celery
from hub.tasks.context import TaskContext
from hub.tasks.dispatch import CeleryQueue, TaskQueue
from hub.tasks.registry import job

__all__ = ["SCAN_EVERY_S", "due_target_ids", "enqueue_targets", "publish_target", "scan_due"]

SCAN_EVERY_S = 1.0
log = structlog.get_logger("hub.publishing")


async def due_target_ids(ctx: TaskContext, *, limit: int | None = None) -> list[int]:
    """Mark and return the targets due now (waiting and due, or with an expired lease)."""
    now = utcnow()
    pub = ctx.settings.publishing
    not_sent = or_(
        ShareTarget.enqueued_at.is_(None),
        ShareTarget.enqueued_at < now - timedelta(seconds=pub.requeue_after_s),
    )
    due = or_(
        and_(ShareTarget.state.in_([s.value for s in WAITING]), ShareTarget.due_at <= now),
        and_(ShareTarget.state == TargetState.PUBLISHING.value, ShareTarget.lease_until < now),
    )
    async with ctx.sessions() as session:
        ids = list(
            await session.scalars(
                select(ShareTarget.id)
                .join(Share, Share.id == ShareTarget.share_id)
                .join(ChannelAccount, ChannelAccount.id == ShareTarget.channel_account_id)
                .where(
                    due,
                    not_sent,
                    Share.state == "scheduled",
                    or_(
                        ChannelAccount.status == "active",
                        ShareTarget.state == TargetState.PUBLISHING.value,
                    ),
                )
                .order_by(ShareTarget.due_at)
                .limit(limit or pub.scan_batch)
            )
        )
        if not ids:
            return []
        marked: list[int] = []
        for chunk in (ids[i : i + 200] for i in range(0, len(ids), 200)):
            result = await session.execute(
                update(ShareTarget)
                .where(ShareTarget.id.in_(chunk), not_sent, due)  # both again: atomically
                .values(enqueued_at=now)
                .returning(ShareTarget.id)
                .execution_options(synchronize_session=False)
            )
            marked.extend(result.scalars())
        await session.commit()
    return sorted(marked)


async def enqueue_targets(queue: TaskQueue, target_ids: list[int]) -> None:
    """Send targets to the publish queue (after their transaction committed)."""
    for target_id in target_ids:
        await queue.enqueue("publishing.publish_target", target_id=target_id)


@job("publishing.scan_due", queue="publish", every_s=SCAN_EVERY_S)
async def scan_due(ctx: TaskContext) -> dict[str, Any]:
    """Production: enqueue due targets for the Celery workers. Embedded: the scan runs inside
    the one process, so it publishes them here (bounded by ``tasks.concurrency``)."""
    ids = await due_target_ids(ctx)
    if not ids:
        return {"enqueued": 0}
    if ctx.settings.tasks.runner == "celery":
        await enqueue_targets(_celery_queue(ctx), ids)
    else:
        limit = asyncio.Semaphore(ctx.settings.tasks.concurrency)

        async def one(target_id: int) -> None:
            async with limit:
                try:
                    await publish(ctx, target_id)
                except Exception:
                    log.exception("publish_failed", target_id=target_id)

        await asyncio.gather(*(one(i) for i in ids))
    log.info("due_targets_sent", count=len(ids))
    return {"enqueued": len(ids)}


@job("publishing.publish_target", queue="publish", max_retries=0)
async def publish_target(ctx: TaskContext, target_id: int) -> dict[str, Any]:
    outcome = await publish(ctx, target_id)
    return {"target_id": outcome.target_id, "state": outcome.state, "reason": outcome.reason}


# One sender per running worker runtime (keyed by its session factory), made on first use.
_SENDERS: weakref.WeakKeyDictionary[object, CeleryQueue] = weakref.WeakKeyDictionary()


def _celery_queue(ctx: TaskContext) -> CeleryQueue:
    sender = _SENDERS.get(ctx.sessions)
    if sender is None:
        sender = _SENDERS[ctx.sessions] = CeleryQueue(make_celery(ctx.settings, "hub-scan"))
    return sender
