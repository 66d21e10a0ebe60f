"""Query plans of what the platform runs: which SELECTs scan a whole table.

For the scale benchmark (``bench/scale.py --explain``) and the test that keeps the list
queries and the empty work passes on indexes (``tests/test_scale.py``): :func:`capture`
records the statements a block of platform calls sends through SQLAlchemy, :func:`plan`
asks the database how it runs one (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on
PostgreSQL) and :func:`full_scans` names the tables it reads whole.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import sqlalchemy as sa

__all__ = ["Captured", "capture", "full_scans", "partial_indexes", "plan"]


@attrs.frozen
class Captured:
    """One statement as the driver got it, with its parameters."""

    sql: str
    parameters: Any


@contextmanager
def capture(engine: sa.Engine) -> Iterator[list[Captured]]:
    """Collect the SELECTs sent through ``engine`` inside the block (not ``executemany``)."""
    found: list[Captured] = []

    def listen(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if not many and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            found.append(Captured(statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield found
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def plan(conn: sa.Connection, statement: Captured, *, prefer_indexes: bool = False) -> list[str]:
    """The database's plan for ``statement``, one line per step.

    ``prefer_indexes`` (PostgreSQL): plan as if sequential scans were dear (``SET
    enable_seqscan = off``), so a test's small tables show the index the planner can use
    on a large one; a ``Seq Scan`` left in such a plan means no index serves the query.
    SQLite plans without statistics (the platform does not ``ANALYZE``) alike at any size.
    """
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement.sql, statement.parameters)
        return [str(r[-1]) for r in rows]
    if prefer_indexes:
        conn.exec_driver_sql("SET enable_seqscan = off")
    try:
        rows = conn.exec_driver_sql("EXPLAIN " + statement.sql, statement.parameters)
        lines = [str(r[0]) for r in rows]
    finally:
        if prefer_indexes:
            conn.exec_driver_sql("RESET enable_seqscan")
    return lines


# "SCAN t" reads the table whole, "SCAN t USING [COVERING] INDEX i" the whole index (the
# same growth); "SEARCH t USING INDEX i (col=?)" is what a list query should do.
_SQLITE_SCAN = re.compile(r"^SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?")
_PG_SCAN = re.compile(r"Seq Scan on (\w+)")


def partial_indexes(metadata: sa.MetaData) -> frozenset[str]:
    """The indexes that hold only live work (a ``WHERE`` clause: pending messages, tasks
    still to be asked about); reading one whole costs the work in hand, not the history."""
    return frozenset(
        index.name
        for table in metadata.tables.values()
        for index in table.indexes
        if index.name and index.dialect_options["sqlite"].get("where") is not None
    )


def full_scans(
    lines: Sequence[str],
    dialect: str,
    tables: Collection[str],
    bounded: Collection[str] = frozenset(),
) -> list[str]:
    """The tables among ``tables`` that the plan ``lines`` read whole (row by row, or a
    whole index other than one of the ``bounded`` ones, see :func:`partial_indexes`)."""
    found = []
    for line in lines:
        if dialect == "sqlite":
            match = _SQLITE_SCAN.search(line.strip())
            if match and match.group(1) in tables and match.group(2) not in bounded:
                found.append(match.group(1))
        else:
            match = _PG_SCAN.search(line)
            if match and match.group(1) in tables:
                found.append(match.group(1))
    return found
