"""The host's own small tables, next to the SDK's in the same database.

The SDK keeps cases, parties, the catalogue and the logs. The host keeps only what is the
web application's business: idempotency keys of API calls (until the SDK has
``cases.apply(..., idempotency_key=...)``, see ``reference_host/SDK_REQUESTS.md``), the staff
directory (until ``session.staff``), drafts kept across an expired login, and the portal's
messages and SMS (declared in :mod:`govsvc_host.notifications`). The tables are
created additively (``CREATE TABLE IF NOT EXISTS``) by ``govsvc-host db upgrade`` and at
start, so a rolling upgrade never needs them dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from govsvc import Platform

__all__ = [
    "HostStore",
    "IdempotencyConflict",
    "IdempotentResponse",
    "StaffRecord",
    "metadata",
]

metadata = sa.MetaData()

idempotency_t = sa.Table(
    "host_idempotency",
    metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=True),  # None while the first request runs
    sa.Column("body", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

staff_t = sa.Table(
    "host_staff",
    metadata,
    sa.Column("subject", sa.String(300), primary_key=True),  # "<provider>:<sub>"
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("staff_id", sa.String(100), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),  # agency, serves, hall, division
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

drafts_t = sa.Table(
    "host_drafts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("path", sa.String(500), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class IdempotencyConflict(Exception):
    """The key was used for another request, or its first request is still running."""

    def __init__(self, message: str, *, running: bool) -> None:
        super().__init__(message)
        self.running = running


@attrs.frozen
class IdempotentResponse:
    status: int
    body: str


@attrs.frozen(kw_only=True)
class StaffRecord:
    """A member of staff as the host's directory maps an identity-provider subject."""

    subject: str
    role: str
    staff_id: str
    name: str
    agency: str = ""
    serves: tuple[str, ...] = ()
    hall: str = ""
    division: str = ""

    def claims(self) -> dict[str, Any]:
        """The staff claims of the contract (:mod:`govsvc_host.claims`) this record stands for."""
        from govsvc_host import claims as C

        out: dict[str, Any] = {C.ROLE: self.role, C.STAFF_ID: self.staff_id, "name": self.name}
        for key, value in (
            (C.AGENCY, self.agency),
            (C.SERVES, list(self.serves)),
            (C.HALL, self.hall),
            (C.DIVISION, self.division),
        ):
            if value:
                out[key] = value
        return out


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class HostStore:
    """The host's tables on the platform's engine (same database, same schema)."""

    def __init__(self, platform: Platform) -> None:
        self.engine = platform.engine
        self.clock = platform.now

    def create(self) -> None:
        """Create the host's tables if missing (additive: never drops or alters)."""
        # The notification tables are declared with their module, on the same metadata.
        import govsvc_host.notifications  # noqa: F401

        metadata.create_all(self.engine, checkfirst=True)

    # --- idempotency keys --------------------------------------------------------------------

    def begin_idempotent(
        self, owner: str, key: str, digest: str
    ) -> IdempotentResponse | None:
        """Claim ``key`` for ``owner``; the stored response when it was used before.

        Raises :class:`IdempotencyConflict` when the key came with another request, or when
        its first request has not finished.
        """
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(idempotency_t).where(
                    idempotency_t.c.owner == owner, idempotency_t.c.key == key
                )
            ).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            idempotency_t.insert().values(
                                owner=owner, key=key, request_hash=digest, created_at=self.clock()
                            )
                        )
                except sa.exc.IntegrityError:
                    raise IdempotencyConflict(
                        "a request with this Idempotency-Key is still being processed; retry "
                        "in a moment",
                        running=True,
                    ) from None
                return None
        if row.request_hash != digest:
            raise IdempotencyConflict(
                "this Idempotency-Key was used for a different request; use a new key for a "
                "new request",
                running=False,
            )
        if row.status is None:
            raise IdempotencyConflict(
                "a request with this Idempotency-Key is still being processed; retry in a moment",
                running=True,
            )
        return IdempotentResponse(row.status, row.body or "")

    def finish_idempotent(self, owner: str, key: str, status: int, body: str) -> None:
        with self.engine.begin() as conn:
            if status >= 500 or status == 409:
                # Nothing was created: the key may be used again for the same request.
                conn.execute(
                    idempotency_t.delete().where(
                        idempotency_t.c.owner == owner, idempotency_t.c.key == key
                    )
                )
                return
            conn.execute(
                idempotency_t.update()
                .where(idempotency_t.c.owner == owner, idempotency_t.c.key == key)
                .values(status=status, body=body)
            )

    # --- staff directory (a seam until the SDK's session.staff) ------------------------------

    def add_staff(self, record: StaffRecord) -> None:
        data = {
            "agency": record.agency,
            "serves": list(record.serves),
            "hall": record.hall,
            "division": record.division,
        }
        with self.engine.begin() as conn:
            conn.execute(staff_t.delete().where(staff_t.c.subject == record.subject))
            conn.execute(
                staff_t.insert().values(
                    subject=record.subject,
                    role=record.role,
                    staff_id=record.staff_id,
                    name=record.name,
                    data=data,
                    created_at=self.clock(),
                )
            )

    def staff(self, subject: str) -> StaffRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(staff_t).where(staff_t.c.subject == subject)).first()
        return _staff(row) if row else None

    def list_staff(self) -> list[StaffRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(staff_t).order_by(staff_t.c.staff_id)).all()
        return [_staff(r) for r in rows]

    # --- drafts kept across an expired login -------------------------------------------------

    def save_draft(self, path: str, fields: Mapping[str, Sequence[str]]) -> str:
        draft_id = secrets.token_urlsafe(24)
        with self.engine.begin() as conn:
            # Drafts are for a login's round trip: anything a day old is abandoned.
            conn.execute(
                drafts_t.delete().where(
                    drafts_t.c.created_at < self.clock() - dt.timedelta(days=1)
                )
            )
            conn.execute(
                drafts_t.insert().values(
                    id=draft_id,
                    path=path,
                    fields={k: list(v) for k, v in fields.items()},
                    created_at=self.clock(),
                )
            )
        return draft_id

    def take_draft(self, draft_id: str, path: str) -> dict[str, list[str]] | None:
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(drafts_t).where(drafts_t.c.id == draft_id, drafts_t.c.path == path)
            ).first()
            if row is None:
                return None
            conn.execute(drafts_t.delete().where(drafts_t.c.id == draft_id))
        fields = row.fields if isinstance(row.fields, dict) else json.loads(row.fields)
        return {str(k): [str(x) for x in v] for k, v in fields.items()}


def _staff(row: Any) -> StaffRecord:
    data = row.data if isinstance(row.data, dict) else json.loads(row.data)
    return StaffRecord(
        subject=row.subject,
        role=row.role,
        staff_id=row.staff_id,
        name=row.name,
        agency=data.get("agency", ""),
        serves=tuple(data.get("serves", ())),
        hall=data.get("hall", ""),
        division=data.get("division", ""),
    )
