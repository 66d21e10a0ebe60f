"""Schema migrations: alembic owns the schema; the scripts ship inside the package.

alembic is imported when a migration runs, not with ``import govsvc``: an integrator's
process that only reads pays nothing for it.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config


def alembic_config(connection: sa.Connection | None = None, schema: str | None = None) -> Config:
    """An alembic configuration pointing at the migrations packaged with govsvc."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("govsvc.store") / "migrations"))
    cfg.attributes["connection"] = connection
    cfg.attributes["schema"] = schema
    return cfg


# The advisory lock key migrations take on PostgreSQL (the catalogue's publishing lock and
# the chains' locks are other keys).
MIGRATION_LOCK = 71123000


def upgrade(engine: sa.Engine, schema: str | None = None, revision: str = "head") -> None:
    """Bring the database up to ``revision`` (default: the newest).

    Safe when several processes start at once on a fresh database: the migration runs in one
    transaction holding a lock — a transaction-scoped advisory lock on PostgreSQL (DDL is
    transactional there, so the second process waits, then finds the schema at head), the
    writer lock on SQLite (``BEGIN IMMEDIATE``: a deferred transaction that read the version
    table first could not upgrade to a writer and would fail with "database is locked").
    """
    from alembic import command

    with engine.connect() as plain:
        connection = plain.execution_options(govsvc_write=True)
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            command.upgrade(alembic_config(connection, schema), revision)


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version of govsvc."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
