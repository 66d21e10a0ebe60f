"""Alembic owns the schema: migrating up must give exactly the schema the models describe."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from govsvc.platform import create_engine
from govsvc.store import migrate, search
from govsvc.store.tables import metadata


def test_migrating_up_gives_the_models_schema(database: tuple[str, str | None]) -> None:
    url, schema = database
    engine = create_engine(url, schema=schema)
    try:
        migrate.upgrade(engine, schema=schema)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as conn:
            # The search index's FTS5 tables and GIN indexes are beyond what the models can
            # declare (tests/test_search.py checks they exist).
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": search.is_unmodelled}
            )
            diff = compare_metadata(context, metadata)
        assert diff == [], f"migrations and models differ: {diff}"
        tables = set(sa.inspect(engine).get_table_names())
        assert set(metadata.tables) <= tables
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(database: tuple[str, str | None]) -> None:
    url, schema = database
    engine = create_engine(url, schema=schema)
    try:
        migrate.upgrade(engine, schema=schema)
        migrate.upgrade(engine, schema=schema)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
