"""The staff directory: which identity provider login is which staff principal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from govsvc import _converter
from govsvc.principals import StaffRecord
from govsvc.store.tables import staff_t

__all__ = ["by_id", "by_login", "page", "upsert"]


def _record(data: Any) -> StaffRecord:
    return _converter.structure(data, StaffRecord, what="stored staff record", lenient=True)


def upsert(conn: sa.Connection, record: StaffRecord, now: dt.datetime) -> None:
    """Store ``record`` under its staff id (replacing what that id had)."""
    values = {
        "provider": record.provider,
        "subject": record.subject,
        "kind": record.kind.value,
        "name": record.name,
        "agency": record.agency,
        "division": record.division,
        "active": record.active,
        "updated_at": now,
        "data": _converter.unstructure(record),
    }
    updated = conn.execute(
        sa.update(staff_t).where(staff_t.c.id == record.staff_id).values(**values)
    ).rowcount
    if not updated:
        conn.execute(sa.insert(staff_t).values(id=record.staff_id, **values))


def by_id(conn: sa.Connection, staff_id: str) -> StaffRecord | None:
    data = conn.execute(sa.select(staff_t.c.data).where(staff_t.c.id == staff_id)).scalar()
    return None if data is None else _record(data)


def by_login(conn: sa.Connection, provider: str, subject: str) -> list[StaffRecord]:
    """Every record of a login (normally one; the service refuses a second active one)."""
    rows = conn.execute(
        sa.select(staff_t.c.data)
        .where(staff_t.c.subject == subject, staff_t.c.provider == provider)
        .order_by(staff_t.c.id)
    ).scalars()
    return [_record(d) for d in rows]


def page(
    conn: sa.Connection, where: Sequence[Any], *, after: str | None, limit: int
) -> list[StaffRecord]:
    """Records by staff id, after ``after``, at most ``limit``."""
    stmt = sa.select(staff_t.c.data).where(*where).order_by(staff_t.c.id).limit(limit)
    if after is not None:
        stmt = stmt.where(staff_t.c.id > after)
    return [_record(d) for d in conn.execute(stmt).scalars()]
