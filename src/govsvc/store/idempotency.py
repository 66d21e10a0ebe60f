"""Idempotency keys of creating requests: a retried ``apply`` returns the case it created.

A channel (a portal, a hall's queueing system, a mobile back end) sends a request id with
each application. The key is stored in the transaction that creates the case, with a
fingerprint of the request, so a retry after a lost answer (the process was killed after the
commit, the connection dropped) finds the case instead of creating a second one. Keys are per
principal: two channels cannot collide.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from govsvc.store.tables import idempotency_t

__all__ = ["find", "fingerprint", "remember"]


def fingerprint(request: Mapping[str, Any]) -> str:
    """The SHA-256 of a request's canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(
        request, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find(conn: sa.Connection, principal: str, key: str) -> tuple[str, str] | None:
    """``(fingerprint, case_id)`` stored for the key, or None."""
    row = conn.execute(
        sa.select(idempotency_t.c.fingerprint, idempotency_t.c.case_id).where(
            idempotency_t.c.principal == principal, idempotency_t.c.key == key
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def remember(
    conn: sa.Connection, principal: str, key: str, digest: str, case_id: str, now: dt.datetime
) -> None:
    """Store the key; a concurrent request with the same key fails with IntegrityError (and,
    on PostgreSQL, waits for the first to commit or roll back before it does)."""
    conn.execute(
        sa.insert(idempotency_t).values(
            principal=principal, key=key, fingerprint=digest, case_id=case_id, created_at=now
        )
    )
