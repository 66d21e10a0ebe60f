"""principals: agents, structured actors, deliveries, the access log

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text = sqlmodel.sql.sqltypes.AutoString
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Cases: who applied for the applicant, and the division (from the agency's credit code).
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agent_type", Text(length=3), nullable=True))
        batch_op.add_column(sa.Column("agent_number", Text(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("division", Text(length=12), nullable=False, server_default="")
        )
    op.execute("UPDATE cases SET division = substr(agency, 3, 6)")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column("division", server_default=None)
        batch_op.create_index(batch_op.f("ix_cases_agent_number"), ["agent_number"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_division"), ["division"], unique=False)

    # Events name a structured actor. Wave 1 wrote free text: kept as the name, kind unknown.
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.alter_column(
            "actor", new_column_name="actor_name", existing_type=sa.String(length=100)
        )
        batch_op.add_column(
            sa.Column("actor_kind", Text(length=20), nullable=False, server_default="unknown")
        )
        batch_op.add_column(
            sa.Column("actor_id", Text(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("actor_agency", Text(length=18), nullable=True))
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.alter_column("actor_kind", server_default=None)
        batch_op.alter_column("actor_id", server_default=None)

    # Deliveries: the legacy id moves out of the review_tasks projection.
    op.create_table(
        "deliveries",
        sa.Column("task_id", Text(length=32), nullable=False),
        sa.Column("case_id", Text(length=32), nullable=False),
        sa.Column("department", Text(length=18), nullable=False),
        sa.Column("legacy_id", Text(length=100), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_case_id"), ["case_id"], unique=False)
    op.execute(
        "INSERT INTO deliveries (task_id, case_id, department, legacy_id, delivered_at) "
        "SELECT id, case_id, department, legacy_id, opened_at FROM review_tasks "
        "WHERE legacy_id IS NOT NULL"
    )
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.drop_column("legacy_id")

    # "Who used my data": exchanges are found by the party they were about.
    with op.batch_alter_table("exchange_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_exchange_log_on_behalf_of"), ["on_behalf_of"], unique=False
        )

    op.create_table(
        "access_log",
        sa.Column("seq", BigInt, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal_kind", Text(length=20), nullable=False),
        sa.Column("principal_id", Text(length=100), nullable=False),
        sa.Column("principal_name", Text(length=100), nullable=False),
        sa.Column("principal_agency", Text(length=18), nullable=True),
        sa.Column("action", Text(length=40), nullable=False),
        sa.Column("outcome", Text(length=10), nullable=False),
        sa.Column("rule", Text(length=60), nullable=False),
        sa.Column("subject", Text(length=60), nullable=True),
        sa.Column("case_id", Text(length=32), nullable=True),
        sa.Column("purpose", Text(length=500), nullable=False),
        sa.Column("detail", Text(length=2000), nullable=False),
        sa.Column("prev_hash", Text(length=64), nullable=False),
        sa.Column("hash", Text(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_log_subject"), ["subject"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_log_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_table("access_log")
    with op.batch_alter_table("exchange_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_log_on_behalf_of"))
    with op.batch_alter_table("review_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("legacy_id", Text(length=100), nullable=True))
    op.execute(
        "UPDATE review_tasks SET legacy_id = (SELECT legacy_id FROM deliveries "
        "WHERE deliveries.task_id = review_tasks.id)"
    )
    op.drop_table("deliveries")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_column("actor_agency")
        batch_op.drop_column("actor_id")
        batch_op.drop_column("actor_kind")
        batch_op.alter_column(
            "actor_name", new_column_name="actor", existing_type=sa.String(length=100)
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_division"))
        batch_op.drop_index(batch_op.f("ix_cases_agent_number"))
        batch_op.drop_column("division")
        batch_op.drop_column("agent_number")
        batch_op.drop_column("agent_type")
