"""The access log's SQL: appending chained records and reading them back as domain values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from govsvc.audit import AccessRecord
from govsvc.principals import Actor, PrincipalKind
from govsvc.store import chain
from govsvc.store.tables import access_t

__all__ = ["FIELDS", "append", "records", "verify"]

FIELDS = (
    "seq",
    "at",
    "principal_kind",
    "principal_id",
    "principal_name",
    "principal_agency",
    "action",
    "outcome",
    "rule",
    "subject",
    "case_id",
    "purpose",
    "detail",
)


def _values(record: AccessRecord) -> dict[str, Any]:
    actor = record.actor
    return {
        "at": record.at,
        "principal_kind": actor.kind.value,
        "principal_id": actor.id[:100],
        "principal_name": actor.name[:100],
        "principal_agency": actor.agency,
        "action": record.action,
        "outcome": record.outcome,
        "rule": record.rule[:60],
        "subject": record.subject,
        "case_id": record.case_id,
        "purpose": record.purpose[:500],
        "detail": record.detail[:2000],
    }


def append(conn: sa.Connection, records: Iterable[AccessRecord]) -> list[int]:
    """Append access records to the chain in the caller's transaction; returns their seqs."""
    return chain.append(conn, access_t, [_values(r) for r in records], FIELDS)


def _record(row: Any) -> AccessRecord:
    try:
        kind = PrincipalKind(row.principal_kind)
    except ValueError:
        kind = PrincipalKind.UNKNOWN
    return AccessRecord(
        seq=row.seq,
        at=chain.as_utc(row.at),
        actor=Actor(
            kind=kind, id=row.principal_id, name=row.principal_name, agency=row.principal_agency
        ),
        action=row.action,
        outcome=row.outcome,
        rule=row.rule,
        subject=row.subject,
        case_id=row.case_id,
        purpose=row.purpose,
        detail=row.detail,
    )


def records(
    conn: sa.Connection, where: Sequence[Any] = (), *, limit: int = 100
) -> list[AccessRecord]:
    """Access records matching ``where``, newest first."""
    stmt = sa.select(access_t).where(*where).order_by(access_t.c.seq.desc()).limit(limit)
    return [_record(r) for r in conn.execute(stmt)]


def verify(conn: sa.Connection) -> chain.ChainReport:
    return chain.verify(conn, access_t, FIELDS)
