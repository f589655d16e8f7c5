"""``hub share create|list|cancel``: shares from the command line (the API's twin)."""

from __future__ import annotations

from typing import Any

import aiohttp
import click
from sqlalchemy import update

from hub.publishing.manage import Busy, cancel_share
from hub.publishing.reads import ShareQuery
from hub.publishing.reads import list_shares as list_shares_of
from hub.publishing.shares import InvalidShare, NotFound, ShareIn, create_share
from hub.security import Vault
from hub.storage.models import ShareTarget

__all__ = ["share"]


def _env(ctx: click.Context) -> tuple[Any, Any]:
    from hub.cli import _settings, _with_session  # the CLI's own settings and session helpers

    return _settings(ctx), _with_session


@click.group()
def share() -> None:
    """Shares of product cards to channel accounts."""


@share.command("create")
@click.option("--merchant", "merchant_id", type=int, required=True, help="The merchant's id.")
@click.option("--product", "product_id", type=int, required=True, help="The product's id.")
@click.option(
    "--channel",
    "channel_ids",
    type=int,
    multiple=True,
    required=True,
    help="A channel account id (repeatable).",
)
@click.option(
    "--at", default="now", show_default=True, help="ISO 8601 time with its zone, 'now' or 'best'."
)
@click.option("--campaign", "campaign_id", type=int, default=None, help="A campaign id.")
@click.pass_context
def share_create(
    ctx: click.Context,
    merchant_id: int,
    product_id: int,
    channel_ids: tuple[int, ...],
    at: str,
    campaign_id: int | None,
) -> None:
    """Schedule a share; the due scan publishes it (`hub run` or `hub worker --beat`)."""
    settings, with_session = _env(ctx)
    try:
        data = ShareIn(
            product_id=product_id, channel_ids=list(channel_ids), at=at, campaign_id=campaign_id
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None

    async def go(session: Any) -> Any:
        out = await create_share(session, merchant_id, data, settings=settings)
        # Leave every target to the scan, whatever the profile: the CLI runs no worker.
        await session.execute(
            update(ShareTarget).where(ShareTarget.share_id == out.id).values(enqueued_at=None)
        )
        await session.commit()
        return out

    try:
        out = with_session(settings, go)
    except (NotFound, InvalidShare) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"share {out.id} scheduled for {out.scheduled_at.isoformat()}")
    for target in out.targets:
        click.echo(
            f"  target {target.id}  {target.channel_kind}:{target.channel_name}  "
            f"{target.state}  due {target.due_at.isoformat()}  {target.link or ''}"
        )


@share.command("list")
@click.option("--merchant", "merchant_id", type=int, required=True, help="The merchant's id.")
@click.option("--state", default=None, help="Only shares with a target in this state.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@click.pass_context
def share_list(ctx: click.Context, merchant_id: int, state: str | None, limit: int) -> None:
    """The merchant's shares, newest first, with each target's state."""
    settings, with_session = _env(ctx)
    try:
        query = ShareQuery.model_validate({"state": state, "limit": limit})
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None

    async def go(session: Any) -> Any:
        return await list_shares_of(session, merchant_id, query, settings=settings)

    for out in with_session(settings, go):
        states = ", ".join(f"{t.channel_kind}:{t.state}" for t in out.targets)
        click.echo(
            f"{out.id}  product {out.product_id}  {out.scheduled_at.isoformat()}  "
            f"{out.state}  [{states}]"
        )


@share.command("cancel")
@click.argument("share_id", type=int)
@click.option("--merchant", "merchant_id", type=int, required=True, help="The merchant's id.")
@click.pass_context
def share_cancel(ctx: click.Context, share_id: int, merchant_id: int) -> None:
    """Cancel what is not published yet and retract (delete remotely) what is."""
    settings, with_session = _env(ctx)
    vault = Vault(settings.security.secret_key.get_secret_value())

    async def go(session: Any) -> Any:
        async with aiohttp.ClientSession() as http:
            return await cancel_share(session, vault, http, merchant_id, share_id)

    try:
        settled = with_session(settings, go)
    except Busy as exc:
        raise click.ClickException(str(exc)) from None
    if settled is None:
        raise click.ClickException(f"no share {share_id} for merchant {merchant_id}")
    for item in settled:
        click.echo(
            f"  target {item.target_id}: {item.state}" + (f" ({item.error})" if item.error else "")
        )
