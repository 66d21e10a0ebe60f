"""The outbox's SQL: leased claims of department work, settling it, and the poll schedule.

Work for a department (deliver a review task, withdraw one, fetch an approved case's result)
is an outbox row. A worker **claims** rows with a lease (``claimed_by``, ``claimed_until``) in
a short transaction and commits before it calls anyone; it settles each row afterwards only
if the lease is still its own. Two workers therefore never send the same row at once, and a
worker killed mid-call leaves a row whose lease expires and which the next worker takes —
the task id the department gets is the idempotency key that makes that second send safe.
Claims are made per department, a slice at a time, so one department's backlog never starves
the others.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from govsvc.store.tables import deliveries_t, outbox_t

__all__ = [
    "backoff",
    "claim",
    "claim_polls",
    "due_departments",
    "due_poll_departments",
    "record_delivery",
    "release",
    "renew",
    "retry_later",
    "schedule_poll",
    "settle",
]


def backoff(attempts: int, *, base: float, cap: float) -> dt.timedelta:
    """Exponential backoff with jitter (0.5–1.5 ×), so retries of many rows spread out."""
    seconds = min(cap, base * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=seconds * (0.5 + random.random()))


def _due(now: dt.datetime) -> Any:
    return sa.and_(
        outbox_t.c.delivered_at.is_(None),
        outbox_t.c.available_at <= now,
        sa.or_(outbox_t.c.claimed_until.is_(None), outbox_t.c.claimed_until < now),
    )


def due_departments(conn: sa.Connection, topics: Sequence[str], now: dt.datetime) -> list[str]:
    """The departments that have due, unclaimed work of ``topics``."""
    rows = conn.execute(
        sa.select(outbox_t.c.department)
        .where(outbox_t.c.topic.in_(list(topics)), _due(now), outbox_t.c.department.is_not(None))
        .distinct()
    ).scalars()
    return sorted(rows)


def claim(
    conn: sa.Connection,
    topics: Sequence[str],
    *,
    department: str,
    worker: str,
    now: dt.datetime,
    lease_until: dt.datetime,
    limit: int,
) -> list[Any]:
    """Lease up to ``limit`` due rows of one department's ``topics``, oldest first."""
    pick = (
        sa.select(outbox_t.c.id)
        .where(outbox_t.c.topic.in_(list(topics)), outbox_t.c.department == department, _due(now))
        .order_by(outbox_t.c.created_at, outbox_t.c.id)
        .limit(limit)
    )
    ids = _pick(conn, pick)
    if not ids:
        return []
    conn.execute(
        sa.update(outbox_t)
        .where(outbox_t.c.id.in_(ids))
        .values(claimed_by=worker, claimed_until=lease_until)
    )
    rows = conn.execute(sa.select(outbox_t).where(outbox_t.c.id.in_(ids))).all()
    order = {row_id: n for n, row_id in enumerate(ids)}
    return sorted(rows, key=lambda r: order[r.id])


def settle(
    conn: sa.Connection,
    row: Any,
    *,
    worker: str,
    now: dt.datetime,
    note: str | None = None,
    attempted: bool = False,
) -> bool:
    """Mark a claimed row done (delivered, or settled without a call with ``note``).

    False when the lease was no longer ``worker``'s (it expired and another worker took the
    row): then that worker settles it.
    """
    values: dict[str, Any] = {
        "delivered_at": now,
        "last_error": note[:2000] if note else None,
        "claimed_by": None,
        "claimed_until": None,
    }
    if attempted:
        values["attempts"] = row.attempts + 1
    done = conn.execute(
        sa.update(outbox_t)
        .where(outbox_t.c.id == row.id, outbox_t.c.claimed_by == worker)
        .values(**values)
    ).rowcount
    return bool(done)


def renew(conn: sa.Connection, rows: Sequence[Any], *, worker: str, until: dt.datetime) -> int:
    """Extend ``worker``'s leases on ``rows`` (those it still holds) to ``until`` (a lease
    already longer stays as it is); returns how many it still held. A pass renews what it
    has yet to settle, so its settlement may take longer than what was left of the claim
    without another worker taking the rows."""
    if not rows:
        return 0
    return conn.execute(
        sa.update(outbox_t)
        .where(
            outbox_t.c.id.in_([row.id for row in rows]),
            outbox_t.c.claimed_by == worker,
            outbox_t.c.delivered_at.is_(None),
        )
        # Only ever later: a renewal never shortens what the claim had left.
        .values(
            claimed_until=sa.case(
                (outbox_t.c.claimed_until < until, until), else_=outbox_t.c.claimed_until
            )
        )
    ).rowcount


def retry_later(
    conn: sa.Connection,
    row: Any,
    *,
    worker: str,
    now: dt.datetime,
    error: str,
    base: float,
    cap: float,
) -> None:
    """Count a failed attempt (the department failed) and make the row due again later."""
    attempts = row.attempts + 1
    conn.execute(
        sa.update(outbox_t)
        .where(outbox_t.c.id == row.id, outbox_t.c.claimed_by == worker)
        .values(
            attempts=attempts,
            available_at=now + backoff(attempts, base=base, cap=cap),
            last_error=error[:2000],
            claimed_by=None,
            claimed_until=None,
        )
    )


def release(
    conn: sa.Connection, row: Any, *, worker: str, available_at: dt.datetime, note: str
) -> None:
    """Give a claimed row back without counting an attempt (it was not sent: e.g. the
    department's circuit opened, or the platform's own queue was full)."""
    conn.execute(
        sa.update(outbox_t)
        .where(outbox_t.c.id == row.id, outbox_t.c.claimed_by == worker)
        .values(
            available_at=available_at, last_error=note[:2000], claimed_by=None, claimed_until=None
        )
    )


def record_delivery(
    conn: sa.Connection,
    *,
    task_id: str,
    case_id: str,
    department: str,
    legacy_id: str,
    now: dt.datetime,
) -> None:
    """Remember the legacy system's id for a delivered review task; it is due to be polled."""
    conn.execute(sa.delete(deliveries_t).where(deliveries_t.c.task_id == task_id))
    conn.execute(
        sa.insert(deliveries_t).values(
            task_id=task_id,
            case_id=case_id,
            department=department,
            legacy_id=legacy_id[:100],
            delivered_at=now,
            next_poll_at=now,
            polls=0,
        )
    )


def due_poll_departments(conn: sa.Connection, now: dt.datetime) -> list[str]:
    """The departments with delivered tasks due to be asked about."""
    rows = conn.execute(
        sa.select(deliveries_t.c.department).where(deliveries_t.c.next_poll_at <= now).distinct()
    ).scalars()
    return sorted(rows)


def claim_polls(
    conn: sa.Connection,
    *,
    department: str,
    now: dt.datetime,
    lease_until: dt.datetime,
    limit: int,
) -> list[Any]:
    """Lease up to ``limit`` of a department's tasks due to be polled (longest due first):
    their next poll moves to ``lease_until``, so a poller that dies leaves them due again."""
    pick = (
        sa.select(deliveries_t.c.task_id)
        .where(deliveries_t.c.department == department, deliveries_t.c.next_poll_at <= now)
        .order_by(deliveries_t.c.next_poll_at, deliveries_t.c.task_id)
        .limit(limit)
    )
    ids = _pick(conn, pick)
    if not ids:
        return []
    conn.execute(
        sa.update(deliveries_t)
        .where(deliveries_t.c.task_id.in_(ids))
        .values(next_poll_at=lease_until)
    )
    return list(conn.execute(sa.select(deliveries_t).where(deliveries_t.c.task_id.in_(ids))))


def schedule_poll(
    conn: sa.Connection, row: Any, *, now: dt.datetime, base: float, cap: float
) -> None:
    """The task was asked about (still pending, or the call failed): ask again later, each
    time a little later (so an undecided task is not asked thousands of times)."""
    polls = row.polls + 1
    conn.execute(
        sa.update(deliveries_t)
        .where(deliveries_t.c.task_id == row.task_id, deliveries_t.c.next_poll_at.is_not(None))
        .values(
            next_poll_at=now + backoff(polls, base=base, cap=cap),
            polls=polls,
            last_polled_at=now,
        )
    )


def _pick(conn: sa.Connection, pick: sa.Select[Any]) -> list[Any]:
    """The ids ``pick`` selects; on PostgreSQL rows locked by another worker are skipped
    (``FOR UPDATE SKIP LOCKED``). SQLite serialises writers, so there is nothing to skip."""
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return list(conn.execute(pick).scalars())
