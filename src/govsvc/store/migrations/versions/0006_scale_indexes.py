"""indexes that keep the work passes and lists flat as finished cases pile up

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Measured with ``bench/scale.py`` (1,000 against 100,000 stored cases): the outbox keeps every
message it ever delivered, and queries for *pending* work chose the ``(topic, …)`` index and
walked every ``result.fetch`` or ``applicant.notify`` row ever written; the poll pass's
``DISTINCT department … WHERE next_poll_at <= now`` read the whole ``(department,
next_poll_at)`` index, every task ever delivered. Both indexes are now partial: they hold only
the rows still to be done (undelivered messages, tasks still to be asked about), so they stay
as small as the work in hand and are cheap to build even on a large database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = sa.text("delivered_at IS NULL")
TO_ASK = sa.text("next_poll_at IS NOT NULL")


def upgrade() -> None:
    # Replaced by the partial index: with both present SQLite (no statistics) picked the
    # full one and read every delivered message of a topic.
    op.drop_index("ix_outbox_work", table_name="outbox")
    op.create_index(
        "ix_outbox_open",
        "outbox",
        ["topic", "department", "created_at", "id"],
        unique=False,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["department", "next_poll_at"],
        unique=False,
        sqlite_where=TO_ASK,
        postgresql_where=TO_ASK,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["department", "next_poll_at"])
    op.drop_index("ix_outbox_open", table_name="outbox")
    op.create_index(
        "ix_outbox_work",
        "outbox",
        ["topic", "department", "delivered_at", "available_at"],
        unique=False,
    )
