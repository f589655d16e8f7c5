"""The credit rollups with a column triple per model (migration 0010): they name every
attribution model, the credits of any other model are refused, and the migration turns the
rows per model of 0009 into rows per key and back without changing a figure."""

from __future__ import annotations

import math
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from attribution.models import MODELS
from hub.storage.db import SessionFactory
from hub.storage.models import ROLLUP_MODELS, AttributionCredit, CreditProductDay
from tests.attribution.reports.conftest import migrate
from tests.attribution.reports.test_credit_days import (
    assert_sums_equal,
    expected_rollups,
    seed,
    stored_rollups,
)
from tests.attribution.reports.test_rollup_weeks import assert_weeks_follow_days

TABLES = ["credit_days", "credit_product_days", "credit_link_days", "credit_weeks",
          "credit_product_weeks", "credit_link_weeks"]  # fmt: skip


def test_the_rollups_keep_every_attribution_model() -> None:
    assert ROLLUP_MODELS == tuple(MODELS)
    for model in MODELS:
        for figure in ("credits", "weight", "revenue_minor"):
            assert hasattr(CreditProductDay, f"{model}_{figure}")


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_credit_of_a_model_the_rollups_do_not_know_is_refused(
    sessions: SessionFactory,
) -> None:
    await seed(sessions, "UTC")
    before = await stored_rollups(sessions)
    async with sessions() as session:
        credit = await session.scalar(select(AttributionCredit).limit(1))
        assert credit is not None
        fields = {c.key: getattr(credit, c.key) for c in AttributionCredit.__table__.columns}
        fields.update(id=None, model="lucky_guess", click_id="another-click")
        session.add(AttributionCredit(**fields))
        with pytest.raises(IntegrityError, match="ck_attribution_credits_model"):
            await session.commit()
    assert await stored_rollups(sessions) == before


async def rows_per_model(sessions: SessionFactory) -> dict[str, dict[tuple[Any, ...], Any]]:
    """Every credit rollup as 0009 keeps it (a row per model and key), read with SQL."""
    found = {}
    async with sessions() as session:
        for table in TABLES:
            rows = await session.execute(text(f"SELECT * FROM {table}"))
            names = list(rows.keys())
            at = [names.index(f) for f in ("credits", "weight", "revenue_minor")]
            found[table] = {
                tuple(v for i, v in enumerate(r) if i not in at): tuple(r[i] for i in at)
                for r in rows
            }
    return found


def assert_rows_equal(found: dict[str, Any], expected: dict[str, Any]) -> None:
    for table, rows in expected.items():
        assert set(found[table]) == set(rows), table
        for key, (credits, weight, revenue) in rows.items():
            assert found[table][key][0] == credits, (table, key)
            assert math.isclose(found[table][key][1], weight, abs_tol=1e-9), (table, key)
            assert math.isclose(found[table][key][2], revenue, abs_tol=1e-6), (table, key)


async def test_the_migration_turns_rows_per_model_into_rows_per_key_and_back(
    database: str, db_sessions: SessionFactory
) -> None:
    await migrate(database, "0009")
    await seed(db_sessions, "Asia/Kathmandu")
    per_model = await rows_per_model(db_sessions)
    assert len(per_model["credit_product_days"]) > 100
    models = {key[2] for key in per_model["credit_days"]}
    assert len(models) > 1

    await migrate(database, "head")
    stored = await stored_rollups(db_sessions)
    expected = await expected_rollups(db_sessions)
    for table in expected:
        assert_sums_equal(stored[table], expected[table])
    async with db_sessions() as session:
        keys = await session.scalar(text("SELECT count(*) FROM credit_product_days"))
    # One row per key: fewer rows than rows per model.
    assert keys < len(per_model["credit_product_days"])
    await assert_weeks_follow_days(db_sessions)

    await migrate(database, "0009", down=True)
    assert_rows_equal(await rows_per_model(db_sessions), per_model)
