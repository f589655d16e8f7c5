"""Rows the edge would write (links, clicks, visitors), written directly for the tests."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from standardwebhooks import Webhook

from hub.security import Vault
from hub.storage.db import SessionFactory
from hub.storage.models import (
    AttributionCredit,
    Campaign,
    ChannelAccount,
    Click,
    Conversion,
    Link,
    Product,
    Visitor,
)
from hub.tasks.context import TaskContext
from hub.tenancy import create_merchant
from hub.web.keys import HTTP, SESSIONS, SETTINGS, VAULT
from tests.conftest import SECRET

Client = TestClient[Any, Any]


def sessions_of(client: Client) -> SessionFactory:
    app = client.server.app
    assert app is not None
    return app[SESSIONS]


def context_of(client: Client) -> TaskContext:
    app = client.server.app
    assert app is not None
    return TaskContext(
        settings=app[SETTINGS], sessions=app[SESSIONS], vault=app[VAULT], http=app[HTTP], redis=None
    )


@dataclass(frozen=True)
class Channel:
    account_id: int
    kind: str
    link_id: int


async def add_channel(
    sessions: SessionFactory,
    merchant_id: int,
    kind: str,
    *,
    name: str | None = None,
    product_id: int | None = None,
    campaign_id: int | None = None,
) -> Channel:
    async with sessions() as session:
        account = ChannelAccount(merchant_id=merchant_id, kind=kind, name=name or f"{kind} main")
        session.add(account)
        await session.flush()
        link = Link(
            merchant_id=merchant_id,
            code=uuid.uuid4().hex[:10],
            destination_url="https://shop.test/p",
            channel_kind=kind,
            channel_account_id=account.id,
            product_id=product_id,
            campaign_id=campaign_id,
        )
        session.add(link)
        await session.commit()
        return Channel(account.id, kind, link.id)


async def add_merchant(sessions: SessionFactory, name: str) -> int:
    """A merchant (storefront https://shop.test/); its id."""
    async with sessions() as session:
        made = await create_merchant(
            session, Vault(SECRET), name=name, storefront_url="https://shop.test/"
        )
        await session.commit()
        return made.merchant_id


async def add_product(
    sessions: SessionFactory, merchant_id: int, title: str, external_id: str | None = None
) -> int:
    async with sessions() as session:
        product = Product(
            merchant_id=merchant_id, title=title, url="https://shop.test/p", external_id=external_id
        )
        session.add(product)
        await session.commit()
        return product.id


async def add_campaign(sessions: SessionFactory, merchant_id: int, name: str) -> int:
    async with sessions() as session:
        campaign = Campaign(merchant_id=merchant_id, name=name)
        session.add(campaign)
        await session.commit()
        return campaign.id


async def add_click(
    sessions: SessionFactory,
    merchant_id: int,
    channel: Channel,
    at: datetime,
    *,
    visitor_id: str | None,
    click_id: str | None = None,
    is_bot: bool = False,
) -> str:
    cid = click_id or uuid.uuid4().hex
    async with sessions() as session:
        session.add(
            Click(
                click_id=cid,
                merchant_id=merchant_id,
                link_id=channel.link_id,
                visitor_id=visitor_id,
                at=at,
                is_bot=is_bot,
            )
        )
        if visitor_id is not None:
            known = await session.scalar(
                select(Visitor.id).where(
                    Visitor.merchant_id == merchant_id, Visitor.visitor_id == visitor_id
                )
            )
            if known is None:
                session.add(Visitor(merchant_id=merchant_id, visitor_id=visitor_id))
        await session.commit()
    return cid


def signed(
    secret: str, payload: Any, *, at: datetime | None = None, msg_id: str | None = None
) -> tuple[str, dict[str, str]]:
    """The body and Standard Webhooks headers, signed by the independent implementation."""
    body = json.dumps(payload)
    when = at or datetime.now(UTC)
    mid = msg_id or f"msg_{uuid.uuid4().hex}"
    signature = Webhook(secret).sign(mid, when, body)
    return body, {
        "webhook-id": mid,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


async def credits_of(
    sessions: SessionFactory, conversion_id: int, model: str | None = None
) -> list[AttributionCredit]:
    async with sessions() as session:
        query = select(AttributionCredit).where(AttributionCredit.conversion_id == conversion_id)
        if model is not None:
            query = query.where(AttributionCredit.model == model)
        return list((await session.scalars(query.order_by(AttributionCredit.id))).all())


async def conversion(sessions: SessionFactory, conversion_id: int) -> Conversion:
    async with sessions() as session:
        found = await session.get(Conversion, conversion_id)
        assert found is not None
        return found


async def wait_attributed(
    sessions: SessionFactory,
    conversion_id: int,
    after: datetime | None = None,
    timeout_s: float = 10.0,
) -> Conversion:
    """Poll until the in-process runner has attributed the conversion (after ``after``)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        found = await conversion(sessions, conversion_id)
        if found.attributed_at is not None and (after is None or found.attributed_at > after):
            return found
        if loop.time() > deadline:
            raise AssertionError(f"conversion {conversion_id} was not attributed in time")
        await asyncio.sleep(0.02)
