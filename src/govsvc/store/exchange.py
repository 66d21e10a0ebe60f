"""The exchange log's SQL: every call to a department, hash-chained (X-Road's message log)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from govsvc.exchange import ExchangeRecord
from govsvc.store import chain
from govsvc.store.tables import exchange_t

__all__ = ["FIELDS", "OPTIONAL", "append", "one_per_call", "records", "verify"]

FIELDS = (
    "seq",
    "at",
    "requester",
    "department",
    "operation",
    "on_behalf_of",
    "case_id",
    "purpose",
    "outcome",
    "detail",
    "duration_ms",
)
OPTIONAL = ("attempt",)  # added after the first records: hashed only when set


def _values(record: ExchangeRecord) -> dict[str, Any]:
    values = attrs.asdict(record)
    values.pop("seq")  # given by the chain
    values["duration_ms"] = round(float(values["duration_ms"]), 3)
    values["detail"] = values["detail"][:2000]
    values["requester"] = values["requester"][:100]
    return values


def append(conn: sa.Connection, records: Iterable[ExchangeRecord]) -> list[ExchangeRecord]:
    """Append exchange records to the chain in the caller's transaction; returns them with
    their seqs (an attempt's seq is what its outcome record names)."""
    pending = list(records)
    seqs = chain.append(conn, exchange_t, [_values(r) for r in pending], FIELDS, OPTIONAL)
    return [attrs.evolve(r, seq=seq) for r, seq in zip(pending, seqs, strict=True)]


_OUTCOMES = exchange_t.alias("outcomes")


def one_per_call() -> Any:
    """A filter keeping one record per call: its outcome, or its attempt while the outcome is
    unknown (the platform stopped between the two)."""
    settled = sa.exists().where(_OUTCOMES.c.attempt == exchange_t.c.seq)
    return sa.or_(exchange_t.c.outcome != "attempted", ~settled)


def records(
    conn: sa.Connection, where: Sequence[Any] = (), *, limit: int = 100
) -> list[ExchangeRecord]:
    """Exchange records matching ``where``, newest first, as domain values."""
    stmt = sa.select(exchange_t).where(*where).order_by(exchange_t.c.seq.desc()).limit(limit)
    return [
        ExchangeRecord(
            seq=r.seq,
            at=chain.as_utc(r.at),
            requester=r.requester,
            department=r.department,
            operation=r.operation,
            on_behalf_of=r.on_behalf_of,
            case_id=r.case_id,
            purpose=r.purpose,
            outcome=r.outcome,
            detail=r.detail,
            duration_ms=r.duration_ms,
            attempt=r.attempt,
        )
        for r in conn.execute(stmt)
    ]


def verify(conn: sa.Connection) -> chain.ChainReport:
    return chain.verify(conn, exchange_t, FIELDS, optional=OPTIONAL)
