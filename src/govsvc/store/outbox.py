"""The outbox's SQL: claiming work for delivery, settling it, and the deliveries it made."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from govsvc.store.tables import deliveries_t, outbox_t

__all__ = ["claim", "record_delivery", "retry_later", "settle"]


def claim(conn: sa.Connection, topics: Sequence[str], *, now: dt.datetime, limit: int) -> list[Any]:
    """Pending messages of ``topics`` that are due, oldest first (locked on PostgreSQL)."""
    return list(
        conn.execute(
            sa.select(outbox_t)
            .where(
                outbox_t.c.topic.in_(list(topics)),
                outbox_t.c.delivered_at.is_(None),
                outbox_t.c.available_at <= now,
            )
            .order_by(outbox_t.c.created_at, outbox_t.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
    )


def settle(
    conn: sa.Connection,
    message_id: str,
    *,
    now: dt.datetime,
    note: str | None = None,
    attempts: int | None = None,
) -> None:
    """Mark a message done (delivered, or settled without a call with ``note``)."""
    values: dict[str, Any] = {"delivered_at": now, "last_error": note}
    if attempts is not None:
        values["attempts"] = attempts
    conn.execute(sa.update(outbox_t).where(outbox_t.c.id == message_id).values(**values))


def retry_later(conn: sa.Connection, row: Any, *, now: dt.datetime, error: str) -> None:
    """Count a failed attempt and make the message due again after exponential backoff."""
    attempts = row.attempts + 1
    retry_at = now + dt.timedelta(seconds=min(3600, 5 * 2**attempts))
    conn.execute(
        sa.update(outbox_t)
        .where(outbox_t.c.id == row.id)
        .values(attempts=attempts, available_at=retry_at, last_error=error[:2000])
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
    """Remember the legacy system's id for a delivered review task."""
    conn.execute(sa.delete(deliveries_t).where(deliveries_t.c.task_id == task_id))
    conn.execute(
        sa.insert(deliveries_t).values(
            task_id=task_id,
            case_id=case_id,
            department=department,
            legacy_id=legacy_id[:100],
            delivered_at=now,
        )
    )
