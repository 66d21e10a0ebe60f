"""reliable work: leases, fair polls, attempts logged first, chained trails, idempotency keys,
log checkpoints, staff, stored warning lights

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from govsvc.store.tables import JSONType

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text = sqlmodel.sql.sqltypes.AutoString
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
GENESIS = "0" * 64
_EVENT_FIELDS = (
    "case_id",
    "seq",
    "kind",
    "at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "actor_agency",
    "data",
)


def _digest(row: dict[str, Any], prev: str) -> str:
    # A copy of store.chain.digest as it was at this revision: a migration must not change
    # when the code it once ran with does.
    def canonical(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            moment = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
            return moment.astimezone(dt.UTC).isoformat()
        if isinstance(value, float):
            return f"{value:.3f}"
        return value

    payload = {k: canonical(row[k]) for k in _EVENT_FIELDS}
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev + text).encode("utf-8")).hexdigest()


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department", Text(length=18), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", Text(length=60), nullable=True))
        batch_op.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_outbox_work", ["topic", "department", "delivered_at", "available_at"], unique=False
        )
    if postgres:
        op.execute("UPDATE outbox SET department = payload->>'department'")
    else:
        op.execute("UPDATE outbox SET department = json_extract(payload, '$.department')")

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("polls", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("last_polled_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_deliveries_due", ["department", "next_poll_at"], unique=False)
    op.execute(
        "UPDATE deliveries SET next_poll_at = delivered_at WHERE task_id IN "
        "(SELECT id FROM review_tasks WHERE status = 'open')"
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column("polls", server_default=None)

    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_review_tasks_department_status")
        batch_op.create_index(
            "ix_review_tasks_queue", ["department", "status", "opened_at", "id"], unique=False
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("light", Text(length=6), nullable=True))
        batch_op.add_column(sa.Column("light_on", sa.Date(), nullable=True))
        batch_op.create_index(
            "ix_cases_overdue", ["state", "suspended", "due_promised"], unique=False
        )
        batch_op.create_index("ix_cases_light", ["state", "light"], unique=False)

    with op.batch_alter_table("exchange_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", BigInt, nullable=True))
        batch_op.create_index(batch_op.f("ix_exchange_log_attempt"), ["attempt"], unique=False)

    # Chain every case's existing events, and store each chain's head in its case.
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("prev_hash", Text(length=64), nullable=False, server_default=GENESIS)
        )
        batch_op.add_column(
            sa.Column("hash", Text(length=64), nullable=False, server_default=GENESIS)
        )
    events = sa.table(
        "case_events",
        *(sa.column(name) for name in ("id", *_EVENT_FIELDS, "prev_hash", "hash")),
    )
    cases = sa.table("cases", sa.column("id"), sa.column("data", JSONType))
    heads: dict[str, str] = {}
    rows = bind.execute(
        sa.select(events).order_by(events.c.case_id, events.c.seq)
    ).mappings().all()
    for row in rows:
        prev = heads.get(row["case_id"], GENESIS)
        head = _digest(dict(row), prev)
        bind.execute(
            sa.update(events).where(events.c.id == row["id"]).values(prev_hash=prev, hash=head)
        )
        heads[row["case_id"]] = head
    for case_id, data in bind.execute(sa.select(cases.c.id, cases.c.data)).all():
        if case_id in heads:
            bind.execute(
                sa.update(cases)
                .where(cases.c.id == case_id)
                .values(data={**data, "trail_head": heads[case_id]})
            )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", server_default=None)
        batch_op.alter_column("hash", server_default=None)

    op.create_table(
        "idempotency_keys",
        sa.Column("principal", Text(length=120), nullable=False),
        sa.Column("key", Text(length=200), nullable=False),
        sa.Column("fingerprint", Text(length=64), nullable=False),
        sa.Column("case_id", Text(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("log", Text(length=20), nullable=False),
        sa.Column("seq", BigInt, nullable=False),
        sa.Column("head", Text(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", Text(length=40), nullable=False),
        sa.Column("mac", Text(length=64), nullable=False),
        sa.PrimaryKeyConstraint("log", "seq"),
    )
    op.create_table(
        "staff",
        sa.Column("id", Text(length=100), nullable=False),
        sa.Column("provider", Text(length=60), nullable=False),
        sa.Column("subject", Text(length=200), nullable=False),
        sa.Column("kind", Text(length=20), nullable=False),
        sa.Column("name", Text(length=100), nullable=False),
        sa.Column("agency", Text(length=18), nullable=True),
        sa.Column("division", Text(length=12), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_subject"), ["subject"], unique=False)


def downgrade() -> None:
    op.drop_table("staff")
    op.drop_table("log_checkpoints")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
    with op.batch_alter_table("exchange_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_log_attempt"))
        batch_op.drop_column("attempt")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_light")
        batch_op.drop_index("ix_cases_overdue")
        batch_op.drop_column("light_on")
        batch_op.drop_column("light")
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_review_tasks_queue")
        batch_op.create_index(
            "ix_review_tasks_department_status", ["department", "status"], unique=False
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_due")
        batch_op.drop_column("last_polled_at")
        batch_op.drop_column("polls")
        batch_op.drop_column("next_poll_at")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_work")
        batch_op.drop_column("claimed_until")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("department")
