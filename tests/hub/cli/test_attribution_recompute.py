"""``hub attribution recompute``: credits replaced, never doubled; settings and identity apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from attribution.conversions.ingest import record_order
from attribution.conversions.orders import Order
from attribution.identity import link_visitor, upsert_customer
from hub.config import Settings
from hub.storage.db import SessionFactory
from hub.storage.models import AttributionCredit, Conversion
from tests.attribution.conversions._seed import add_channel, add_click
from tests.hub.cli.conftest import Hub, add_merchant, progress_lines

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


def _order(
    order_id: str, at: datetime, *, visitor: str | None = None, customer: str | None = None
) -> Order:
    return Order(order_id, 10_000, 0, "USD", at, "placed", None, visitor, customer, (), "api")


async def _record(sessions: SessionFactory, merchant: int, *orders: Order) -> list[int]:
    async with sessions() as session:
        ids = [(await record_order(session, merchant, o, NOW)).conversion_id for o in orders]
        await session.commit()
    return ids


async def _credits(sessions: SessionFactory, conversion_id: int) -> list[tuple[str, str, float]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                AttributionCredit.model, AttributionCredit.click_id, AttributionCredit.weight
            ).where(AttributionCredit.conversion_id == conversion_id)
        )
        return sorted((m, c, round(w, 9)) for m, c, w in rows)


async def _attributed_at(sessions: SessionFactory, conversion_id: int) -> datetime | None:
    async with sessions() as session:
        found = await session.get(Conversion, conversion_id)
        assert found is not None
        return found.attributed_at


async def test_recompute_replaces_credits_and_follows_the_settings(
    hub: Hub, sessions: SessionFactory, settings: Settings
) -> None:
    shop = await add_merchant(sessions)
    tg = await add_channel(sessions, shop, "telegram")
    dc = await add_channel(sessions, shop, "discord")
    early = await add_click(sessions, shop, tg, NOW - 10 * DAY, visitor_id="v1")
    late = await add_click(sessions, shop, dc, NOW - 2 * DAY, visitor_id="v1")
    await add_click(sessions, shop, dc, NOW - 3 * DAY, visitor_id="v2")
    [one, two] = await _record(
        sessions, shop, _order("1", NOW - DAY, visitor="v1"), _order("2", NOW - DAY, visitor="v2")
    )

    first = await hub("attribution", "recompute")
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().startswith("attributed 2 conversions of 1 merchants again")
    credits = await _credits(sessions, one)
    models = {m for m, _, _ in credits}
    assert models == {
        "first_touch",
        "last_touch",
        "linear",
        "time_decay",
        "position_based",
        "markov",
        "shapley",
    }
    assert ("first_touch", early, 1.0) in credits and ("last_touch", late, 1.0) in credits
    progress = progress_lines(first.stderr, "attribute conversions")
    assert progress[-1].startswith("attribute conversions: 2/2 in ")
    assert progress_lines(first.stderr, "data-driven models")[-1].startswith(
        "data-driven models: 1/1 in "
    )

    again = await hub("attribution", "recompute")
    assert again.exit_code == 0, again.output
    assert await _credits(sessions, one) == credits  # replaced, not doubled
    async with sessions() as session:
        count = await session.scalar(select(func.count()).select_from(AttributionCredit))
    assert count == len(credits) + len(await _credits(sessions, two))

    # a shorter lookback leaves the telegram click out of conversion 1's journey
    hub.reconfigure(settings.database.url, "attribution:\n  lookback_days: 5\n")
    shorter = await hub("attribution", "recompute", "--merchant", str(shop))
    assert shorter.exit_code == 0, shorter.output
    now_credits = await _credits(sessions, one)
    assert ("first_touch", late, 1.0) in now_credits
    assert all(click != early for _, click, _ in now_credits)


async def test_recompute_takes_in_late_identity_and_filters(
    hub: Hub, sessions: SessionFactory
) -> None:
    shop = await add_merchant(sessions)
    other = await add_merchant(sessions, "Other", "https://other.test/")
    tg = await add_channel(sessions, shop, "telegram")
    click = await add_click(sessions, shop, tg, NOW - 2 * DAY, visitor_id="phone")
    [bought, old] = await _record(
        sessions,
        shop,
        _order("1", NOW - DAY, customer="alice"),
        _order("2", NOW - 40 * DAY, customer="bob"),
    )
    [elsewhere] = await _record(sessions, other, _order("1", NOW - DAY, customer="carol"))

    since = (NOW - 7 * DAY).date().isoformat()
    result = await hub("attribution", "recompute", "--merchant", str(shop), "--since", since)
    assert result.exit_code == 0, result.output
    assert "attributed 1 conversions of 1 merchants again (0 rule-based credits)" in result.stdout
    assert await _credits(sessions, bought) == []  # alice's clicks are not known yet
    assert await _attributed_at(sessions, old) is None  # before --since
    assert await _attributed_at(sessions, elsewhere) is None  # another merchant

    async with sessions() as session:  # later: the phone's visitor turns out to be alice
        alice = await upsert_customer(session, shop, "alice", NOW)
        await link_visitor(session, shop, "phone", alice, NOW, overwrite=False)
        await session.commit()
    result = await hub("attribution", "recompute", "--merchant", str(shop), "--since", since)
    assert result.exit_code == 0, result.output
    assert ("first_touch", click, 1.0) in await _credits(sessions, bought)


async def test_recompute_refuses_bad_arguments(hub: Hub, sessions: SessionFactory) -> None:
    await add_merchant(sessions)
    unknown = await hub("attribution", "recompute", "--merchant", "404")
    assert unknown.exit_code == 2 and "merchant 404 not found" in unknown.stderr
    bad = await hub("attribution", "recompute", "--since", "last tuesday")
    assert bad.exit_code == 2 and "not an ISO 8601 date" in bad.output
