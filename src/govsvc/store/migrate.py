"""Schema migrations: alembic owns the schema; the scripts ship inside the package."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory


def alembic_config(connection: sa.Connection | None = None, schema: str | None = None) -> Config:
    """An alembic configuration pointing at the migrations packaged with govsvc."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("govsvc.store") / "migrations"))
    cfg.attributes["connection"] = connection
    cfg.attributes["schema"] = schema
    return cfg


def upgrade(engine: sa.Engine, schema: str | None = None, revision: str = "head") -> None:
    """Bring the database up to ``revision`` (default: the newest)."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection, schema), revision)


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
