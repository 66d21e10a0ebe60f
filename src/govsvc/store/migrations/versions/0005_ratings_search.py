"""ratings (好差评) with their trail and rectification deadlines; the catalogue search index

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

The search index is a table SQLAlchemy describes (``catalogue_search``, ``catalogue_tags``)
plus objects it cannot: FTS5 virtual tables on SQLite, pg_trgm and GIN indexes on PostgreSQL
(``govsvc.store.search.create_indexes``). Items published before this revision are indexed
here, from ``service_items``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text = sqlmodel.sql.sqltypes.AutoString
BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
KeyText = sa.String(length=200).with_variant(sa.String(length=200, collation="C"), "postgresql")
Grams = sa.Text().with_variant(postgresql.ARRAY(sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", Text(length=32), nullable=False),
        sa.Column("matter", Text(length=120), nullable=False),
        sa.Column("basis", Text(length=10), nullable=False),
        sa.Column("case_id", Text(length=32), nullable=True),
        sa.Column("occasion", Text(length=64), nullable=True),
        sa.Column("item_code", Text(length=36), nullable=True),
        sa.Column("agency", Text(length=18), nullable=False),
        sa.Column("department", Text(length=18), nullable=False),
        sa.Column("division", Text(length=12), nullable=False),
        sa.Column("party_type", Text(length=3), nullable=True),
        sa.Column("party_number", Text(length=40), nullable=True),
        sa.Column("rater_type", Text(length=3), nullable=True),
        sa.Column("rater_number", Text(length=40), nullable=True),
        sa.Column("level", Text(length=20), nullable=False),
        sa.Column("current_level", Text(length=20), nullable=False),
        sa.Column("bad", sa.Boolean(), nullable=False),
        sa.Column("channel", Text(length=16), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rated_on", sa.Date(), nullable=False),
        sa.Column("rated_month", Text(length=7), nullable=False),
        sa.Column("rect_status", Text(length=10), nullable=True),
        sa.Column("rect_due", sa.Date(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_on_time", sa.Boolean(), nullable=True),
        sa.Column("excluded", Text(length=10), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("matter"),
    )
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        for column in (
            "agency",
            "case_id",
            "division",
            "item_code",
            "party_number",
            "rated_on",
            "rater_number",
        ):
            batch_op.create_index(batch_op.f(f"ix_ratings_{column}"), [column], unique=False)
        batch_op.create_index(
            "ix_ratings_queue", ["department", "rect_status", "rect_due", "id"], unique=False
        )

    op.create_table(
        "rating_events",
        sa.Column("id", BigInt, nullable=False),
        sa.Column("rating_id", Text(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", Text(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", Text(length=20), nullable=False),
        sa.Column("actor_id", Text(length=100), nullable=False),
        sa.Column("actor_name", Text(length=100), nullable=False),
        sa.Column("actor_agency", Text(length=18), nullable=True),
        sa.Column("data", Json, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rating_id", "seq", name="uq_rating_events_rating_seq"),
    )

    op.create_table(
        "rectification_rules",
        sa.Column("region", Text(length=12), nullable=False),
        sa.Column("workdays", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", Text(length=100), nullable=False),
        sa.PrimaryKeyConstraint("region"),
    )

    op.create_table(
        "catalogue_search",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", Text(length=36), nullable=False),
        sa.Column("name", Text(length=200), nullable=False),
        sa.Column("name_key", KeyText, nullable=False),
        sa.Column("keywords", Text(length=2000), nullable=False),
        sa.Column("agency", Text(length=18), nullable=False),
        sa.Column("agency_name", Text(length=200), nullable=False),
        sa.Column("item_type", Text(length=2), nullable=False),
        sa.Column("themes", Text(length=500), nullable=False),
        sa.Column("life_stages", Text(length=500), nullable=False),
        sa.Column("name_grams", Grams, nullable=True),
        sa.Column("keyword_grams", Grams, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    with op.batch_alter_table("catalogue_search", schema=None) as batch_op:
        batch_op.create_index("ix_catalogue_search_agency", ["agency", "name_key", "id"])
        batch_op.create_index("ix_catalogue_search_name_key", ["name_key", "id"])

    op.create_table(
        "catalogue_tags",
        sa.Column("kind", Text(length=12), nullable=False),
        sa.Column("tag", Text(length=40), nullable=False),
        sa.Column("name_key", KeyText, nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "tag", "name_key", "item_id"),
    )

    from govsvc.store import search

    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        # Into public where it exists, not the platform's schema: an extension belongs to
        # one schema per database, and dropping that schema (a region moved out, a test run
        # cleaned up) drops it with every other schema's trigram indexes (CASCADE), as
        # bench/scale.py's cleanup once did. The indexes name its schema, wherever it is.
        public = connection.exec_driver_sql(
            "SELECT 1 FROM pg_namespace WHERE nspname = 'public'"
        ).scalar()
        where = " SCHEMA public" if public else ""
        connection.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS pg_trgm{where}")
    search.create_indexes(connection)
    # Items published before this revision; later ones are indexed by their publishing
    # transaction. (This reads the tables as this release describes them.)
    search.rebuild(connection)


def downgrade() -> None:
    from govsvc.store import search

    search.drop_indexes(op.get_bind())
    op.drop_table("catalogue_tags")
    op.drop_table("catalogue_search")
    op.drop_table("rectification_rules")
    op.drop_table("rating_events")
    op.drop_table("ratings")
