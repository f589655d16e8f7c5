"""The ``hub`` command."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hub.config import ConfigError, Settings, load
from hub.security import Vault, new_secret
from hub.storage import migrate as migrations
from hub.storage.db import create_engine, session_factory

__all__ = ["main"]

T = TypeVar("T")


def _settings(ctx: click.Context) -> Settings:
    obj: dict[str, Any] = ctx.ensure_object(dict)
    if "settings" not in obj:
        try:
            obj["settings"] = load(obj.get("config"))
        except ConfigError as exc:
            click.echo(f"hub: {exc}", err=True)
            ctx.exit(2)
    settings: Settings = obj["settings"]
    return settings


def _run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def wrapper() -> T:
        return await coro_fn()

    return asyncio.run(wrapper())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Settings file (default ./config.yaml, or $HUB_CONFIG).",
)
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Omnichannel social sharing and traffic attribution for merchants."""
    ctx.ensure_object(dict)["config"] = config_path


@main.command()
@click.option("--host", default=None, help="Address to listen on (server.host).")
@click.option("--port", type=int, default=None, help="Port to listen on (server.port).")
@click.pass_context
def run(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Everything in one process: API, edge, dashboard and the task runner."""
    from hub.serving import serve
    from hub.web import create_app

    settings = _settings(ctx)
    serve(create_app, settings, host or settings.server.host, _port(port, settings))


@main.command()
@click.option("--host", default=None, help="Address to listen on (server.host).")
@click.option("--port", type=int, default=None, help="Port to listen on (server.port).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes on one port (server.workers).",
)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """The web processes only (API, edge, dashboard); tasks go to `hub worker`."""
    from hub.serving import serve as serve_one
    from hub.serving import serve_many
    from hub.web import create_app

    settings = _settings(ctx)
    count = workers or settings.server.workers
    host = host or settings.server.host
    if count == 1:
        serve_one(create_app, settings, host, _port(port, settings))
    else:
        serve_many(create_app, settings, host, _port(port, settings), count)


def _port(port: int | None, settings: Settings) -> int:
    return settings.server.port if port is None else port


@main.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--queues",
    "-Q",
    default=None,
    help="Comma-separated queues (default: all of publish,clicks,attribution,webhooks,default).",
)
@click.option("--concurrency", "-c", type=int, default=None, help="Worker processes.")
@click.option(
    "--beat", is_flag=True, help="Also run the periodic scheduler (one process per deployment)."
)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def worker(
    ctx: click.Context,
    queues: str | None,
    concurrency: int | None,
    beat: bool,
    celery_args: tuple[str, ...],
) -> None:
    """A Celery worker running the hub's tasks (production profile)."""
    from hub.tasks.broker import DEFAULT_QUEUES

    settings = _settings(ctx)
    if settings.tasks.runner != "celery":
        click.echo(
            "hub: tasks.runner is 'inprocess'; `hub worker` needs the celery runner "
            "(set HUB_PROFILE=production or tasks.runner: celery)",
            err=True,
        )
        ctx.exit(2)
    config = ctx.ensure_object(dict).get("config")
    env = dict(os.environ)
    if config is not None:
        env["HUB_CONFIG"] = str(config)
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "-Q",
        queues or DEFAULT_QUEUES,
        "--loglevel",
        settings.logging.level,
    ]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    if beat:
        schedule = settings.data_dir / "celerybeat-schedule"
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", "--schedule", str(schedule)]
    os.execve(sys.executable, [*argv, *celery_args], env)


@main.command()
@click.argument("direction", type=click.Choice(["up", "down", "status"]), default="up")
@click.option("--revision", default=None, help="Target revision (default: head / base).")
@click.pass_context
def migrate(ctx: click.Context, direction: str, revision: str | None) -> None:
    """Apply (up), revert (down) or show (status) database migrations."""
    settings = _settings(ctx)

    async def go() -> str | None:
        engine = create_engine(settings.database)
        try:
            if direction == "up":
                await migrations.upgrade(engine, revision or "head")
            elif direction == "down":
                await migrations.downgrade(engine, revision or "base")
            return await migrations.current_revision(engine)
        finally:
            await engine.dispose()

    current = _run(go)
    click.echo(
        f"database at revision {current or 'base (empty)'}; head is {migrations.head_revision()}"
    )


@main.group()
def merchant() -> None:
    """Merchants and their API keys."""


@merchant.command("create")
@click.argument("name")
@click.option("--storefront", required=True, help="The storefront's entry URL.")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    help="Another origin tracked links may lead to (repeatable).",
)
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone.")
@click.option("--currency", default="USD", show_default=True, help="Default currency.")
@click.pass_context
def merchant_create(
    ctx: click.Context,
    name: str,
    storefront: str,
    origins: tuple[str, ...],
    timezone: str,
    currency: str,
) -> None:
    """Create a merchant and print its first API key (shown once)."""
    from hub.tenancy import create_merchant

    settings = _settings(ctx)

    async def go() -> Any:
        engine = create_engine(settings.database)
        try:
            await _ensure_schema(engine, settings)
            async with session_factory(engine)() as session:
                made = await create_merchant(
                    session,
                    Vault(settings.security.secret_key.get_secret_value()),
                    name=name,
                    storefront_url=storefront,
                    extra_origins=origins,
                    timezone=timezone,
                    currency=currency,
                )
                await session.commit()
                return made
        finally:
            await engine.dispose()

    try:
        made = _run(go)
    except ValueError as exc:
        click.echo(f"hub: {exc}", err=True)
        ctx.exit(2)
    click.echo(f"merchant {made.merchant_id} created")
    click.echo(f"api key (shown once): {made.api_key.token}")
    click.echo(f"webhook signing secret: {made.webhook_secret}")


@merchant.command("platform-secret")
@click.argument("merchant_id", type=int)
@click.argument("platform", type=click.Choice(["shopify", "woocommerce"]))
@click.option(
    "--secret",
    prompt=True,
    hide_input=True,
    envvar="HUB_PLATFORM_SECRET",
    help="The platform's webhook signing secret (prompted; or $HUB_PLATFORM_SECRET).",
)
@click.pass_context
def merchant_platform_secret(
    ctx: click.Context, merchant_id: int, platform: str, secret: str
) -> None:
    """Store the signing secret of a storefront platform's order webhooks (encrypted)."""
    from attribution.conversions.keys import set_platform_secret
    from hub.storage.models import Merchant

    settings = _settings(ctx)

    async def go() -> bool:
        engine = create_engine(settings.database)
        try:
            await _ensure_schema(engine, settings)
            async with session_factory(engine)() as session:
                if await session.get(Merchant, merchant_id) is None:
                    return False
                vault = Vault(settings.security.secret_key.get_secret_value())
                await set_platform_secret(
                    session,
                    vault,
                    merchant_id,
                    platform,  # type: ignore[arg-type]
                    secret.strip(),
                )
                await session.commit()
                return True
        finally:
            await engine.dispose()

    try:
        found = _run(go)
    except ValueError as exc:
        click.echo(f"hub: {exc}", err=True)
        ctx.exit(2)
    if not found:
        click.echo(f"hub: merchant {merchant_id} not found", err=True)
        ctx.exit(2)
    click.echo(
        f"{platform} webhook secret stored for merchant {merchant_id}; point the "
        f"webhook at /hooks/v1/{platform}/orders?merchant={merchant_id}"
    )


@main.group()
def key() -> None:
    """API keys: create (shown once), list, revoke."""


def _scopes() -> list[Any]:
    from hub.tenancy import Scope

    return list(Scope)


def _with_session(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    async def go() -> T:
        engine = create_engine(settings.database)
        try:
            await _ensure_schema(engine, settings)
            async with session_factory(engine)() as session:
                return await fn(session)
        finally:
            await engine.dispose()

    return _run(go)


@key.command("create")
@click.option("--merchant", "merchant_id", type=int, required=True, help="The merchant's id.")
@click.option("--name", required=True, help="What the key is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice([s.value for s in _scopes()]),
    help="A scope of the key (repeatable).",
)
@click.pass_context
def key_create(ctx: click.Context, merchant_id: int, name: str, scopes: tuple[str, ...]) -> None:
    """Create an API key and print it (shown once)."""
    from hub.storage.models import Merchant
    from hub.tenancy import Scope, create_api_key

    async def go(session: Any) -> Any:
        if await session.get(Merchant, merchant_id) is None:
            return None
        issued = await create_api_key(
            session, merchant_id, name=name, scopes=[Scope(s) for s in scopes]
        )
        await session.commit()
        return issued

    issued = _with_session(_settings(ctx), go)
    if issued is None:
        click.echo(f"hub: no merchant {merchant_id}", err=True)
        ctx.exit(1)
    click.echo(f"key {issued.prefix} created with scopes {', '.join(sorted(set(scopes)))}")
    click.echo(f"api key (shown once): {issued.token}")


@key.command("list")
@click.option("--merchant", "merchant_id", type=int, required=True, help="The merchant's id.")
@click.pass_context
def key_list(ctx: click.Context, merchant_id: int) -> None:
    """List a merchant's API keys (never their secrets)."""
    from hub.tenancy import list_api_keys

    async def go(session: Any) -> Any:
        return await list_api_keys(session, merchant_id, limit=10_000)

    for k in _with_session(_settings(ctx), go):
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
        click.echo(f"{k.prefix}  {k.name!r}  {','.join(k.scopes)}  last used {used}  {state}")


@key.command("revoke")
@click.argument("prefix")
@click.pass_context
def key_revoke(ctx: click.Context, prefix: str) -> None:
    """Revoke the API key with PREFIX (e.g. hub_abcd2345)."""
    from hub.tenancy import revoke_api_key

    async def go(session: Any) -> Any:
        found = await revoke_api_key(session, prefix=prefix)
        await session.commit()
        return found

    found = _with_session(_settings(ctx), go)
    if found is None:
        click.echo(f"hub: no API key with prefix {prefix!r}", err=True)
        ctx.exit(1)
    click.echo(f"key {found.prefix} revoked")


@main.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Seed a demo merchant with products; prints its API key."""
    from hub.demo import seed

    settings = _settings(ctx)

    async def go() -> Any:
        engine = create_engine(settings.database)
        try:
            await _ensure_schema(engine, settings)
            return await seed(
                session_factory(engine), Vault(settings.security.secret_key.get_secret_value())
            )
        finally:
            await engine.dispose()

    summary = _run(go)
    for line in summary:
        click.echo(line)


def _add_share_commands() -> None:
    from hub.publishing.cli import share

    main.add_command(share)


_add_share_commands()


@main.command()
def channels() -> None:
    """Print the table of channel kinds and what each supports (Markdown)."""
    from connectors.overview import markdown_table

    click.echo(markdown_table())


@main.command()
def secret() -> None:
    """Print a new random value for security.secret_key."""
    click.echo(new_secret(prefix=""))


# -- Long operations: products import, conversions backfill, attribution recompute ---------
# The work is in hub.catalog.batch and attribution.conversions.backfill/recompute. Progress
# goes to stderr (hub.progress), results and the summary to stdout. Exit status: 0 all done,
# 1 some items failed (each one reported), 2 bad arguments, unknown merchant or unreadable
# file (nothing changed), 130 interrupted (what was done is kept; the same command continues).


def _long_run(
    ctx: click.Context,
    work: Callable[[Any, Any], Awaitable[T]],
    errors: tuple[type[Exception], ...] = (LookupError,),
) -> T:
    from hub.progress import Progress

    settings = _settings(ctx)

    async def go() -> T:
        engine = create_engine(settings.database)
        try:
            await _ensure_schema(engine, settings)
            with Progress() as progress:
                return await work(session_factory(engine), progress)
        finally:
            await engine.dispose()

    try:
        return _run(go)
    except errors as exc:
        click.echo(f"hub: {exc}", err=True)
        ctx.exit(2)
    except KeyboardInterrupt:
        click.echo("hub: interrupted; what was done is kept, run it again to go on", err=True)
        ctx.exit(130)


def _aware(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from datetime import UTC, datetime

    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_MERCHANT = click.option(
    "--merchant", "merchant_id", type=int, required=True, help="The merchant's id."
)


@main.group("products")
def products_group() -> None:
    """Product cards of a merchant."""


@products_group.command("import")
@_MERCHANT
@click.option(
    "--file",
    "url_file",
    type=click.File(encoding="utf-8"),
    help="Product page URLs, one a line ('-' is stdin; '#' starts a comment line).",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Pages fetched at a time.",
)
@click.argument("urls", nargs=-1)
@click.pass_context
def products_import(
    ctx: click.Context, merchant_id: int, url_file: Any, concurrency: int, urls: tuple[str, ...]
) -> None:
    """Import product cards from their pages (Open Graph, JSON-LD, microdata).

    A page whose product the merchant has (same URL) updates it. Prints a line per URL:
    created/updated/unchanged/failed, the product id, the URL and why it failed.
    """
    import aiohttp

    from hub.catalog.batch import import_options, import_products

    given = list(urls)
    if url_file is not None:
        given += [ln.strip() for ln in url_file if ln.strip() and not ln.lstrip().startswith("#")]
    if not given:
        raise click.UsageError("give product page URLs, or --file FILE")
    options = import_options(_settings(ctx).product_import)

    async def work(sessions: Any, progress: Any) -> Any:
        async with aiohttp.ClientSession() as http:
            return await import_products(
                sessions,
                merchant_id,
                given,
                http,
                options,
                concurrency=concurrency,
                on_progress=progress,
            )

    report = _long_run(ctx, work)
    for o in report.outcomes:
        click.echo("\t".join([o.status, str(o.product_id or "-"), o.url, o.reason or ""]).rstrip())
    counts = ", ".join(f"{report.count(s)} {s}" for s in ("created", "updated", "unchanged"))
    click.echo(f"{len(report.outcomes)} URLs: {counts}, {len(report.failed)} failed")
    if report.failed:
        ctx.exit(1)


@main.group("conversions")
def conversions_group() -> None:
    """Conversions (orders) of a merchant."""


@conversions_group.command("backfill")
@_MERCHANT
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default=None,
    help="The file's format (default: CSV for a .csv file, else JSON Lines).",
)
@click.option(
    "--no-attribute",
    is_flag=True,
    help="Only record the orders (then run `hub attribution recompute`).",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def conversions_backfill(
    ctx: click.Context, merchant_id: int, fmt: Any, no_attribute: bool, file: Path
) -> None:
    """Load past orders from FILE, each in the shape of the conversion hook's body.

    Orders already recorded (same order id) are not recorded twice. Bad lines are reported
    with their line number and skipped; then the orders are attributed.
    """
    from attribution.conversions.backfill import BackfillFileError, backfill
    from hub.storage.types import utcnow

    cfg = _settings(ctx).attribution

    async def work(sessions: Any, progress: Any) -> Any:
        return await backfill(
            sessions,
            cfg,
            merchant_id,
            file,
            utcnow(),
            fmt=fmt,
            attribute=not no_attribute,
            on_progress=progress,
        )

    out = _long_run(ctx, work, (LookupError, BackfillFileError))
    for bad in out.bad:
        click.echo(f"line {bad.line}: {bad.reason}")
    click.echo(
        f"{out.records} records: {out.created} new, {out.changed} changed, "
        f"{out.unchanged} unchanged, {len(out.bad)} bad"
    )
    if no_attribute:
        click.echo(f"not attributed: run `hub attribution recompute --merchant {merchant_id}`")
    else:
        click.echo(
            f"attributed {out.attributed} conversions ({out.credits} rule-based credits); "
            f"data-driven credits for {out.data_driven}"
        )
    if out.bad:
        ctx.exit(1)


@main.group("attribution")
def attribution_group() -> None:
    """Attribution of conversions to channels, campaigns and products."""


@attribution_group.command("recompute")
@click.option(
    "--merchant",
    "merchant_id",
    type=int,
    default=None,
    help="Only this merchant's conversions (default: every merchant's).",
)
@click.option(
    "--since",
    metavar="DATE",
    callback=_aware,
    default=None,
    help="Only conversions from this ISO 8601 date or time on (UTC unless it says).",
)
@click.pass_context
def attribution_recompute(ctx: click.Context, merchant_id: int | None, since: Any) -> None:
    """Attribute stored conversions again, replacing their credits (safe to run again).

    After a change of the attribution settings, or when identity links came in late.
    """
    from attribution.conversions.recompute import recompute
    from hub.storage.types import utcnow

    cfg = _settings(ctx).attribution

    async def work(sessions: Any, progress: Any) -> Any:
        return await recompute(
            sessions, cfg, utcnow(), merchant_id=merchant_id, since=since, on_progress=progress
        )

    out = _long_run(ctx, work)
    click.echo(
        f"attributed {out.conversions} conversions of {out.merchants} merchants again "
        f"({out.credits} rule-based credits); data-driven credits for {out.data_driven}"
    )


async def _ensure_schema(engine: Any, settings: Settings) -> None:
    if settings.database.auto_migrate:
        await migrations.upgrade(engine)
    elif await migrations.current_revision(engine) != migrations.head_revision():
        raise click.ClickException("the database is not at the latest schema: run `hub migrate`")
