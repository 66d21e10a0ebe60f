"""Alembic environment for govsvc. Run through :func:`govsvc.store.migrate.upgrade`
(``Platform.open`` does it) or ``govsvc db upgrade URL``; a connection and an optional
PostgreSQL schema come in through ``config.attributes``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from govsvc.store.tables import metadata

config = context.config


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is None:  # pragma: no cover - only used by the bare `alembic` command
        from sqlalchemy import create_engine

        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection: Connection) -> None:
    schema = config.attributes.get("schema")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # pragma: no cover
    raise SystemExit("govsvc migrations run online only: use `govsvc db upgrade URL`")
run_migrations_online()
