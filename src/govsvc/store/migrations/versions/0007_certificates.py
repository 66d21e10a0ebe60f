"""e-certificates (电子证照): certificates, their chained trail, status lists, consents

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

``certificates`` holds the aggregate as JSON with its signed credential; the unique
``(issuer, status_list, status_index)`` is the status list allocation (an index is handed out
once). ``certificate_status_lists`` keeps each department's bits per purpose and the signed
list credential. ``certificate_consents`` records a holder's consent to reuse a certificate
as an application material.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text = sqlmodel.sql.sqltypes.AutoString
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", Text(length=140), nullable=False),
        sa.Column("type_code", Text(length=21), nullable=False),
        sa.Column("issuer", Text(length=18), nullable=False),
        sa.Column("holder_type", Text(length=3), nullable=False),
        sa.Column("holder_number", Text(length=40), nullable=False),
        sa.Column("status", Text(length=12), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("case_id", Text(length=32), nullable=True),
        sa.Column("status_list", sa.Integer(), nullable=False),
        sa.Column("status_index", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("credential", sa.Text(), nullable=False),
        sa.Column("key_id", Text(length=100), nullable=False),
        sa.Column("signed_at", When, nullable=False),
        sa.Column("trail_head", Text(length=64), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "issuer", "status_list", "status_index", name="uq_certificates_status_index"
        ),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_certificates_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_certificates_holder", ["holder_type", "holder_number", "type_code"], unique=False
        )
        batch_op.create_index("ix_certificates_expiry", ["status", "valid_until"], unique=False)

    op.create_table(
        "certificate_events",
        sa.Column("id", BigInt, nullable=False),
        sa.Column("certificate_id", Text(length=140), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", Text(length=20), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("actor_kind", Text(length=20), nullable=False),
        sa.Column("actor_id", Text(length=100), nullable=False),
        sa.Column("actor_name", Text(length=100), nullable=False),
        sa.Column("actor_agency", Text(length=18), nullable=True),
        sa.Column("data", Json, nullable=False),
        sa.Column("prev_hash", Text(length=64), nullable=False),
        sa.Column("hash", Text(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("certificate_id", "seq", name="uq_certificate_events_seq"),
    )

    op.create_table(
        "certificate_status_lists",
        sa.Column("issuer", Text(length=18), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("purpose", Text(length=12), nullable=False),
        sa.Column("bits", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("credential", sa.Text(), nullable=True),
        sa.Column("signed_version", sa.Integer(), nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.PrimaryKeyConstraint("issuer", "number", "purpose"),
    )

    op.create_table(
        "certificate_consents",
        sa.Column("id", Text(length=32), nullable=False),
        sa.Column("certificate_id", Text(length=140), nullable=False),
        sa.Column("holder_type", Text(length=3), nullable=False),
        sa.Column("holder_number", Text(length=40), nullable=False),
        sa.Column("item_code", Text(length=36), nullable=False),
        sa.Column("material", Text(length=20), nullable=False),
        sa.Column("case_id", Text(length=32), nullable=True),
        sa.Column("purpose", Text(length=200), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("actor_kind", Text(length=20), nullable=False),
        sa.Column("actor_id", Text(length=100), nullable=False),
        sa.Column("actor_name", Text(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("certificate_consents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certificate_consents_certificate_id"), ["certificate_id"], unique=False
        )
        batch_op.create_index("ix_certificate_consents_case", ["case_id", "material"], unique=False)


def downgrade() -> None:
    op.drop_table("certificate_consents")
    op.drop_table("certificate_status_lists")
    op.drop_table("certificate_events")
    op.drop_table("certificates")
