"""click_weeks: the key's index carries no counts, so that updates are heap-only

0009 gave ``click_weeks`` a primary key carrying ``clicks`` and ``unique_clicks`` (INCLUDE),
so that reports would read it alone. Every click statement updates a week row per link it
touches, and an update that changes a column of an index makes a new index entry: none of
them could be heap-only (0 of 3,330 in ``bench/rollup_writes.py``), and the hot rows of the
current week left dead index entries behind until vacuumed. Reports did not read the index
alone anyway (a quarter's weeks are read by a sequential scan). The key is made again without
the counts, as ``click_days`` has it. PostgreSQL only: SQLite ignores INCLUDE.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25 21:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_KEY = "merchant_id, timezone, day, link_id"


def _key(include: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE click_weeks DROP CONSTRAINT pk_click_weeks, "
        f"ADD CONSTRAINT pk_click_weeks PRIMARY KEY ({_KEY}){include}"
    )


def upgrade() -> None:
    _key("")


def downgrade() -> None:
    _key(" INCLUDE (clicks, unique_clicks)")
