"""The outbox service: work committed with commands and delivered after them."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from govsvc.errors import InvalidInput
from govsvc.policy import Action, Resource
from govsvc.services._base import Service
from govsvc.services.views import OutboxEntry
from govsvc.store.tables import outbox_t

__all__ = ["OutboxService"]


class OutboxService(Service):
    """Pending outbox messages (for the platform's workers and operators)."""

    def pending(self, *, topic: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Outbox messages committed but not yet delivered, oldest first.

        Topics: ``review.open`` and ``review.cancel`` (delivered by the department worker),
        ``applicant.notify`` (notices for the applicant: one-time notice, suspension,
        decision — a host sends them by SMS or in the portal and marks them with
        :meth:`mark_delivered`) and ``commitment.verify`` (告知承诺 verification work).
        """
        self._arg(topic, "topic", optional=True)
        self._authorize(Action.OUTBOX_READ, Resource.platform())
        stmt = sa.select(outbox_t).where(outbox_t.c.delivered_at.is_(None))
        if topic is not None:
            stmt = stmt.where(outbox_t.c.topic == topic)
        stmt = stmt.order_by(outbox_t.c.created_at, outbox_t.c.id).limit(limit)
        with self._rt.read() as conn:
            return [OutboxEntry.of(r) for r in conn.execute(stmt)]

    def mark_delivered(self, ids: Sequence[str]) -> int:
        """Mark outbox messages handled (e.g. notices sent); returns how many were pending."""
        if isinstance(ids, str):
            raise InvalidInput("give a list of outbox message ids, not one string")
        ids = [self._arg(i, "outbox message id", max_length=32) for i in ids]
        self._authorize(Action.OUTBOX_MARK, Resource.platform())
        with self._rt.write() as conn:
            return conn.execute(
                sa.update(outbox_t)
                .where(outbox_t.c.id.in_(list(ids)), outbox_t.c.delivered_at.is_(None))
                .values(delivered_at=self._rt.now())
            ).rowcount
