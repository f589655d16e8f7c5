"""``POST /hooks/v1/shares?merchant=<id>``: a share created by an external marketing system.

Signed the Standard Webhooks way with the merchant's webhook secret (see ``_signed``); the
body is the same as ``POST /api/v1/shares``. Idempotent by the event id (``webhook-id``),
kept as ``shares.source_event_id``: the first delivery answers 201 with the share, every
later delivery of the same event 200 with the same share and ``"created": false``.
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hub.publishing.jobs import enqueue_targets
from hub.publishing.reads import get_share
from hub.publishing.shares import InvalidShare, NotFound, ShareIn, create_share
from hub.storage.models import Share
from hub.storage.types import utcnow
from hub.web.errors import ApiError, ErrorCode
from hub.web.hooks._signed import parse_body, standard_signed
from hub.web.keys import SESSIONS, SETTINGS, TASKS

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/shares")
async def shares(request: web.Request) -> web.Response:
    merchant_id, body = await standard_signed(request)
    event_id = request.headers["webhook-id"].strip()
    data = parse_body(body, ShareIn).model_copy(update={"source_event_id": event_id})
    settings = request.config_dict[SETTINGS]
    async with request.config_dict[SESSIONS]() as session:
        existing = await session.scalar(
            select(Share.id).where(
                Share.merchant_id == merchant_id, Share.source_event_id == event_id
            )
        )
        if existing is None:
            try:
                out = await create_share(session, merchant_id, data, settings=settings)
                due = [t.id for t in out.targets if t.due_at <= utcnow()]
                await session.commit()
            except NotFound as exc:
                raise ApiError.not_found(exc.what) from None
            except InvalidShare as exc:
                raise ApiError(
                    ErrorCode.VALIDATION_FAILED,
                    "request is invalid",
                    {
                        "fields": [
                            {"field": exc.field, "message": exc.message, "type": "value_error"}
                        ]
                    },
                ) from None
            except IntegrityError:  # the same event delivered twice at once
                await session.rollback()
                existing = await session.scalar(
                    select(Share.id).where(
                        Share.merchant_id == merchant_id, Share.source_event_id == event_id
                    )
                )
            else:
                await enqueue_targets(request.config_dict[TASKS], due)
                body_out = {**out.model_dump(mode="json"), "created": True}
                return web.json_response(body_out, status=201)
        assert existing is not None
        again = await get_share(session, merchant_id, existing, settings=settings)
    assert again is not None
    return web.json_response({**again.model_dump(mode="json"), "created": False})
