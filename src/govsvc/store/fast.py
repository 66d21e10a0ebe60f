"""Core statements compiled once, executed on the driver cursor of the current transaction.

Why by hand: on the case-command hot path SQLAlchemy's per-execution machinery (cache-key
lookup, execution context, parameter processing) costs ~35 µs a statement against ~3 µs for
the sqlite3 call itself; with 4–5 statements per command it was ~45 % of a command's time
(bench/pipeline.py, profiled). No library offers "compile once, run many" for Core. This
module keeps Core as the single source of the SQL and of the type conversion: each
statement is compiled by SQLAlchemy for the connection's dialect, its bind processors are
SQLAlchemy's own (datetime format on SQLite, JSON serialisation, casts for psycopg), and it
runs inside the SQLAlchemy transaction the platform opened, so commit and rollback are
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine.interfaces import Dialect

__all__ = ["Bound", "FastStatement", "Sent", "pipeline"]

Processor = Callable[[Any], Any] | None


@attrs.frozen
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Processor, ...]
    positional: bool
    result_processors: tuple[Processor, ...]
    constants: Mapping[str, Any]  # binds the statement carries a value for (e.g. a JSON path)


class FastStatement:
    """A Core statement compiled per dialect for the given parameter names."""

    def __init__(self, statement: sa.ClauseElement, keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.keys = list(keys) if keys is not None else None
        self._compiled: dict[str, _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=self.keys)
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup) if positional else tuple(compiled.binds)
        processors = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        constants = {
            name: compiled.binds[name].effective_value
            for name in names
            if compiled.binds[name].value is not None and not compiled.binds[name].required
        }
        result_processors: tuple[Processor, ...] = ()
        if isinstance(self.statement, sa.Select):
            result_processors = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
        found = _Compiled(
            sql=compiled.string,
            names=names,
            processors=processors,
            positional=positional,
            result_processors=result_processors,
            constants=constants,
        )
        self._compiled[dialect.name] = found
        return found

    def _params(self, c: _Compiled, values: Mapping[str, Any]) -> Any:
        if c.constants:
            values = {**c.constants, **values}
        converted = [
            proc(values[name]) if proc is not None else values[name]
            for name, proc in zip(c.names, c.processors, strict=True)
        ]
        return tuple(converted) if c.positional else dict(zip(c.names, converted, strict=True))

    def execute(self, conn: sa.Connection, values: Mapping[str, Any]) -> int:
        """Run with one set of values; returns the row count."""
        c = self._for(conn.dialect)
        cursor = _cursor(conn)
        try:
            cursor.execute(c.sql, self._params(c, values))
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def bind(self, dialect: Dialect, rows: Sequence[Mapping[str, Any]]) -> Bound:
        """The statement with its parameters converted for ``dialect``, to run later
        (:meth:`Bound.run`): the conversion (JSON serialisation, timestamps) can then be done
        before a transaction, not while it holds the database's writer lock."""
        c = self._for(dialect)
        return Bound(c.sql, [self._params(c, row) for row in rows])

    def send(self, conn: sa.Connection, values: Mapping[str, Any]) -> Sent:
        """Run with one set of values inside :func:`pipeline`; the row count is read from
        what this returns once the pipeline has ended (outside one, at once)."""
        c = self._for(conn.dialect)
        cursor = _cursor(conn)
        try:
            cursor.execute(c.sql, self._params(c, values))
        except BaseException:
            cursor.close()
            raise
        return Sent(cursor)

    def executemany(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per set of values (the driver's executemany)."""
        if not rows:
            return
        if len(rows) == 1:
            # psycopg runs executemany in pipeline mode: four round trips for one row where
            # execute takes one (30 µs a statement on loopback, bench/pipeline.py).
            self.execute(conn, rows[0])
            return
        c = self._for(conn.dialect)
        cursor = _cursor(conn)
        try:
            cursor.executemany(c.sql, [self._params(c, row) for row in rows])
        finally:
            cursor.close()

    def first(self, conn: sa.Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a SELECT, with SQLAlchemy's result processing, or None."""
        c = self._for(conn.dialect)
        cursor = _cursor(conn)
        try:
            cursor.execute(c.sql, self._params(c, values))
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        return tuple(
            proc(value) if proc is not None else value
            for value, proc in zip(row, c.result_processors, strict=True)
        )


    def all(self, conn: sa.Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of a SELECT, with SQLAlchemy's result processing."""
        c = self._for(conn.dialect)
        cursor = _cursor(conn)
        try:
            cursor.execute(c.sql, self._params(c, values))
            found = cursor.fetchall()
        finally:
            cursor.close()
        procs = c.result_processors
        if not any(procs):
            return [tuple(row) for row in found]  # plain text and numbers: as the driver gives
        return [
            tuple(p(v) if p is not None else v for v, p in zip(row, procs, strict=True))
            for row in found
        ]


class Bound:
    """A statement and its converted parameters (one set per row), made by
    :meth:`FastStatement.bind`."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: list[Any]) -> None:
        self.sql = sql
        self.params = params

    def run(self, conn: sa.Connection) -> None:
        if not self.params:
            return
        cursor = _cursor(conn)
        try:
            if len(self.params) == 1:  # see FastStatement.executemany
                cursor.execute(self.sql, self.params[0])
            else:
                cursor.executemany(self.sql, self.params)
        finally:
            cursor.close()


class Sent:
    """A statement sent by :meth:`FastStatement.send`: its row count, once results are in."""

    __slots__ = ("_count", "_cursor")

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._count: int | None = None

    @property
    def rowcount(self) -> int:
        if self._count is None:
            self._count = int(self._cursor.rowcount)
            self._cursor.close()
        return self._count


@contextmanager
def pipeline(conn: sa.Connection) -> Iterator[None]:
    """Send the statements run inside together and wait once, at the end, where the driver
    can: psycopg's pipeline mode on PostgreSQL. Elsewhere (SQLite, in process) they run one
    by one as usual.

    Why: a command's writes (case, event, outbox, tasks) need no answer from each other, and
    on PostgreSQL each statement sent alone costs a round trip and a wake-up of both
    processes (bench/pipeline.py: ~0.2 ms a statement on loopback, ~25 statements a case).
    Inside, :meth:`FastStatement.execute` cannot know its row count: use :meth:`send` and
    read ``rowcount`` after the block. An error in any statement is raised when the block
    ends (the transaction is then rolled back by its owner, as for any error).
    """
    dbapi: Any = conn.connection.dbapi_connection
    if conn.dialect.name != "postgresql" or not hasattr(dbapi, "pipeline"):
        yield
        return
    if dbapi.pgconn.pipeline_status:  # nested: ride the outer one (psycopg would sync here)
        yield
        return
    with dbapi.pipeline():
        yield


def _cursor(conn: sa.Connection) -> Any:
    # The DBAPI connection under the SQLAlchemy connection: same transaction.
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
