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


def upgrade(engine: sa.Engine, schema: str | None = None, revision: str = "head") -> None:
    """Bring the database up to ``revision`` (default: the newest)."""
    from alembic import command

    with engine.begin() as connection:
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
