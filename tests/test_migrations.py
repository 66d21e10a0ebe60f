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


_OPEN_AT_ONCE = """
import sys, time
import govsvc
url, schema, start = sys.argv[1], sys.argv[2] or None, float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))  # all processes open together
from govsvc.testing import make_item
p = govsvc.Platform.open(url, schema=schema, load_entry_points=False)
try:
    item, version = make_item("11230100013114525L", agency_name="哈尔滨市市场监督管理局")
    # every process publishes the same items, as plugin items are published at start-up
    p.system().catalogue.import_items([(item, [version])])
finally:
    p.close()
print("ok")
"""


def test_processes_opening_a_fresh_database_at_once_all_succeed(
    database: tuple[str, str | None],
) -> None:
    """Four processes open one fresh database and publish the same items at once: migrations
    take a lock (PostgreSQL advisory lock, SQLite's writer lock), publishing is idempotent."""
    import subprocess
    import sys
    import time

    url, schema = database
    start = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT_ONCE, url, schema or "", str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    failures = [
        next(line for line in err.splitlines()[::-1] if "Error" in line) if err else "no output"
        for out, err in results
        if out.strip() != "ok"
    ]
    assert failures == []
    engine = create_engine(url, schema=schema)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as conn:
            versions = conn.execute(
                sa.select(sa.func.count()).select_from(metadata.tables["item_versions"])
            ).scalar()
        assert versions == 1
    finally:
        engine.dispose()
