"""Hash-chained, append-only logs (the exchange log and the access log).

Each record's ``hash`` is SHA-256 over the previous record's hash and the record's own
fields (canonical JSON), X-Road's message log being the model: altering or deleting a record
breaks the chain from there on, and :func:`verify` names the first bad record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

__all__ = [
    "GENESIS",
    "ChainReport",
    "append",
    "as_utc",
    "canonical_text",
    "digest",
    "lock_chain",
    "lock_of",
    "verify",
    "walk_trail",
]

GENESIS = "0" * 64

# One advisory lock key per chained table: appenders of one chain queue, other chains don't.
_LOCKS = {"exchange_log": 71123001, "access_log": 71123002}


def lock_of(table: sa.Table) -> int:
    """The advisory lock key that serialises appends to ``table`` on PostgreSQL (paired
    with the schema's, see :func:`lock_chain`)."""
    return _LOCKS[table.name]


def lock_chain(conn: sa.Connection, table: sa.Table) -> None:
    """Take the transaction-scoped lock that serialises appends to ``table`` (PostgreSQL;
    SQLite's write transactions already serialise). The lock is the table's key paired with
    the schema's: platforms in other schemas of the same database (a region per schema, or
    test runs side by side) have chains of their own and must not queue on this one, nor
    be drawn into its lock waits."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text(
                "SELECT pg_advisory_xact_lock(CAST(:key AS integer), hashtext(current_schema()))"
            ),
            {"key": lock_of(table)},
        )


def as_utc(moment: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (SQLite returns naive UTC)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return as_utc(value).isoformat()
    if isinstance(value, float):
        return f"{value:.3f}"
    return value


def digest(
    record: Mapping[str, Any],
    fields: Sequence[str],
    prev_hash: str,
    optional: Sequence[str] = (),
) -> str:
    """The SHA-256 hash of ``record`` (its ``fields``) chained to ``prev_hash``.

    ``optional`` fields are hashed only when set, so a field added to a log later leaves the
    hashes of the records written before it unchanged.
    """
    text = canonical_text(record, fields, optional)
    return hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()


def canonical_text(
    record: Mapping[str, Any], fields: Sequence[str], optional: Sequence[str] = ()
) -> str:
    """The canonical JSON of ``record`` that :func:`digest` hashes after the previous hash."""
    payload = {k: _canonical(record[k]) for k in fields}
    payload.update({k: _canonical(record[k]) for k in optional if record.get(k) is not None})
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def append(
    conn: sa.Connection,
    table: sa.Table,
    rows: Iterable[Mapping[str, Any]],
    fields: Sequence[str],
    optional: Sequence[str] = (),
) -> list[int]:
    """Append ``rows`` to a chained table inside the caller's transaction; returns their seqs.

    The chain needs one appender at a time: on PostgreSQL a transaction-scoped advisory lock
    serialises them; on SQLite the platform's write transactions are ``BEGIN IMMEDIATE``.
    """
    pending = list(rows)
    if not pending:
        return []
    lock_chain(conn, table)
    last = conn.execute(
        sa.select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    values = []
    for record in pending:
        seq += 1
        row = {**record, "seq": seq}
        row["at"] = as_utc(row["at"])
        row["prev_hash"] = prev
        row["hash"] = prev = digest(row, fields, prev, optional)
        values.append(row)
    conn.execute(sa.insert(table), values)
    return [v["seq"] for v in values]


@attrs.frozen
class ChainReport:
    """Result of verifying a chained log: ``first_bad`` is the first altered record's seq.

    ``anchored`` is the seq of the newest keyed checkpoint the chain was found to match (0
    when there is none): records up to it are vouched for by the key, records after it only
    by the chain until the next checkpoint.
    """

    checked: int
    first_bad: int | None = None
    reason: str = ""
    anchored: int = 0

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def verify(
    conn: sa.Connection,
    table: sa.Table,
    fields: Sequence[str],
    *,
    optional: Sequence[str] = (),
    batch: int = 5000,
) -> ChainReport:
    """Recompute the chain; report the first record whose content or link was altered."""
    prev, expected_seq, checked = GENESIS, 1, 0
    last_seq = 0
    while True:
        rows = conn.execute(
            sa.select(table).where(table.c.seq > last_seq).order_by(table.c.seq).limit(batch)
        ).all()
        if not rows:
            return ChainReport(checked)
        for r in rows:
            row = dict(r._mapping)
            if row["seq"] != expected_seq:
                return ChainReport(checked, expected_seq, f"record {expected_seq} is missing")
            if row["prev_hash"] != prev:
                return ChainReport(checked, row["seq"], "its link to the previous record is broken")
            if digest(row, fields, prev, optional) != row["hash"]:
                return ChainReport(checked, row["seq"], "its content does not match its hash")
            prev = row["hash"]
            expected_seq += 1
            checked += 1
            last_seq = row["seq"]


def walk_trail(rows: Iterable[Any], fields: Sequence[str]) -> tuple[ChainReport | None, int, str]:
    """Walk one aggregate's trail (event rows in ``seq`` order, each with ``prev_hash`` and
    ``hash``): ``(report of the first broken event, or None; events checked; last hash)``."""
    prev, checked = GENESIS, 0
    for expected_seq, r in enumerate(rows, start=1):
        row = dict(r._mapping)
        if row["seq"] != expected_seq:
            return (
                ChainReport(checked, expected_seq, f"event {expected_seq} is missing"),
                checked,
                prev,
            )
        if row["prev_hash"] != prev:
            report = ChainReport(checked, row["seq"], "its link to the previous event is broken")
            return report, checked, prev
        if digest(row, fields, prev) != row["hash"]:
            report = ChainReport(checked, row["seq"], "its content does not match its hash")
            return report, checked, prev
        prev = row["hash"]
        checked += 1
    return None, checked, prev
