"""E-certificates' SQL: the certificate rows, their chained trail, status lists, consents.

A certificate is one row: the aggregate as a JSON document, its current signed credential
(compact JWS) and the columns the holder's library (``holder_type``, ``holder_number``),
the expiry sweep (``status``, ``valid_until``) and the status list allocation (the unique
``issuer, status_list, status_index``) query. Its events are chained like a case's trail:
each event's SHA-256 covers the previous one's, the head is kept in the certificate row.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

import attrs
import sqlalchemy as sa

from govsvc.ecert import (
    MIN_LIST_SIZE,
    Certificate,
    CertificateEvent,
    CertificateEventKind,
    CertificateId,
    CertificateStatus,
    StatusList,
    StatusPurpose,
)
from govsvc.errors import ConcurrentUpdate, StatusListFull
from govsvc.identity import DocumentType, PartyKey
from govsvc.principals import Actor, PrincipalKind
from govsvc.store import chain, documents
from govsvc.store.tables import certificate_events_t, certificates_t, consents_t, status_lists_t

__all__ = [
    "EVENT_FIELDS",
    "StoredRow",
    "add_consent",
    "allocate",
    "by_holder",
    "consents_of_case",
    "due_expiry",
    "due_reminders",
    "events_of",
    "insert",
    "load",
    "load_list",
    "of_case",
    "save_signed_list",
    "update",
    "update_bits",
    "verify_trail",
]

EVENT_FIELDS = (
    "certificate_id",
    "seq",
    "kind",
    "at",
    "actor_kind",
    "actor_id",
    "actor_name",
    "actor_agency",
    "data",
)


@attrs.frozen
class StoredRow:
    """A certificate as stored: the aggregate, its current credential, and who signed it."""

    certificate: Certificate
    credential: str
    key_id: str
    signed_at: dt.datetime
    trail_head: str


def _certificate(data: Any) -> Certificate:
    return documents.load("certificate", data, Certificate)


def _row(row: Any) -> StoredRow:
    return StoredRow(
        certificate=_certificate(row.data),
        credential=row.credential,
        key_id=row.key_id,
        signed_at=chain.as_utc(row.signed_at),
        trail_head=row.trail_head,
    )


def _values(certificate: Certificate) -> dict[str, Any]:
    assert certificate.status_index is not None, "a stored certificate has its status index"
    return {
        "type_code": certificate.type_code,
        "issuer": certificate.issuer.credit_code,
        "holder_type": certificate.holder.doc_type.value,
        "holder_number": certificate.holder.number,
        "status": certificate.status.value,
        "valid_until": certificate.valid_until,
        "case_id": certificate.case_id,
        "status_list": certificate.status_list,
        "status_index": certificate.status_index,
        "version": certificate.seq,
        "data": documents.dump("certificate", certificate),
    }


def _event_values(event: CertificateEvent, prev: str) -> dict[str, Any]:
    actor = event.actor
    values: dict[str, Any] = {
        "certificate_id": str(event.certificate_id),
        "seq": event.seq,
        "kind": event.kind.value,
        "at": event.at,
        "actor_kind": actor.kind.value,
        "actor_id": actor.id[:100],
        "actor_name": actor.name[:100],
        "actor_agency": actor.agency,
        "data": dict(event.data),
        "prev_hash": prev,
    }
    values["hash"] = chain.digest(values, EVENT_FIELDS, prev)
    return values


# --- certificates -------------------------------------------------------------------------


def allocate(conn: sa.Connection, issuer: str, *, tries: int = 64) -> tuple[int, int]:
    """A random unused ``(list number, index)`` of the issuer's status lists.

    Random probing against the unique index (never a full read of the used indexes): a
    list is full for probing once ``tries`` random indexes in a row are taken, and the
    next list number opens. The unique constraint on insert is the final word against a
    racing writer (it then raises, and the command is retried as a whole).
    """
    number = (
        conn.execute(
            sa.select(sa.func.max(certificates_t.c.status_list)).where(
                certificates_t.c.issuer == issuer
            )
        ).scalar()
        or 0
    )
    for list_number in (number, number + 1):
        for _ in range(tries):
            index = secrets.randbelow(MIN_LIST_SIZE)
            taken = conn.execute(
                sa.select(sa.literal(1)).where(
                    certificates_t.c.issuer == issuer,
                    certificates_t.c.status_list == list_number,
                    certificates_t.c.status_index == index,
                )
            ).first()
            if taken is None:
                return list_number, index
    raise StatusListFull(  # pragma: no cover - needs two lists nearly full
        f"status lists {number} and {number + 1} of {issuer} have no free index found by "
        "probing; open a new list number"
    )


def insert(
    conn: sa.Connection,
    certificate: Certificate,
    event: CertificateEvent,
    *,
    credential: str,
    key_id: str,
    signed_at: dt.datetime,
) -> str:
    """Store a new certificate with its first event; returns the trail head."""
    event_values = _event_values(event, chain.GENESIS)
    conn.execute(
        sa.insert(certificates_t).values(
            id=str(certificate.id),
            credential=credential,
            key_id=key_id,
            signed_at=signed_at,
            trail_head=event_values["hash"],
            **_values(certificate),
        )
    )
    conn.execute(sa.insert(certificate_events_t).values(**event_values))
    return str(event_values["hash"])


def update(
    conn: sa.Connection,
    stored: StoredRow,
    certificate: Certificate,
    event: CertificateEvent,
    *,
    credential: str | None = None,
    key_id: str | None = None,
    signed_at: dt.datetime | None = None,
) -> StoredRow:
    """Store a transition (only if nobody changed the certificate since ``stored``)."""
    event_values = _event_values(event, stored.trail_head)
    values = _values(certificate)
    values["trail_head"] = event_values["hash"]
    if credential is not None:
        values.update(credential=credential, key_id=key_id, signed_at=signed_at)
    done = conn.execute(
        sa.update(certificates_t)
        .where(
            certificates_t.c.id == str(certificate.id),
            certificates_t.c.version == stored.certificate.seq,
        )
        .values(**values)
    ).rowcount
    if done != 1:
        raise ConcurrentUpdate(
            f"certificate {certificate.id} was changed by someone else meanwhile; reload it "
            "and try again"
        )
    conn.execute(sa.insert(certificate_events_t).values(**event_values))
    return StoredRow(
        certificate=certificate,
        credential=credential or stored.credential,
        key_id=key_id or stored.key_id,
        signed_at=signed_at or stored.signed_at,
        trail_head=str(event_values["hash"]),
    )


def load(conn: sa.Connection, certificate_id: CertificateId | str) -> StoredRow | None:
    row = conn.execute(
        sa.select(certificates_t).where(certificates_t.c.id == str(certificate_id))
    ).first()
    return None if row is None else _row(row)


def of_case(conn: sa.Connection, case_id: str) -> list[StoredRow]:
    rows = conn.execute(
        sa.select(certificates_t)
        .where(certificates_t.c.case_id == case_id)
        .order_by(certificates_t.c.signed_at, certificates_t.c.id)
    )
    return [_row(r) for r in rows]


def by_holder(
    conn: sa.Connection,
    holder: PartyKey,
    *,
    type_code: str | None = None,
    statuses: Sequence[CertificateStatus] | None = None,
    limit: int = 500,
) -> list[StoredRow]:
    """The holder's certificates (the library's index), newest first."""
    t = certificates_t.c
    where = [t.holder_type == holder.doc_type.value, t.holder_number == holder.number]
    if type_code is not None:
        where.append(t.type_code == type_code)
    if statuses is not None:
        where.append(t.status.in_([s.value for s in statuses]))
    rows = conn.execute(
        sa.select(certificates_t).where(*where).order_by(t.signed_at.desc(), t.id).limit(limit)
    )
    return [_row(r) for r in rows]


def due_expiry(conn: sa.Connection, day: dt.date, *, limit: int) -> list[StoredRow]:
    """Valid or suspended certificates whose last valid day is before ``day``."""
    t = certificates_t.c
    rows = conn.execute(
        sa.select(certificates_t)
        .where(t.status.in_(["valid", "suspended"]), t.valid_until < day)
        .order_by(t.valid_until, t.id)
        .limit(limit)
    )
    return [_row(r) for r in rows]


def due_reminders(
    conn: sa.Connection, day: dt.date, *, days_before: int, limit: int
) -> list[StoredRow]:
    """Valid or suspended certificates ending within ``days_before`` days of ``day`` (those
    already reminded for that end date are filtered by the caller, from the document)."""
    t = certificates_t.c
    rows = conn.execute(
        sa.select(certificates_t)
        .where(
            t.status.in_(["valid", "suspended"]),
            t.valid_until >= day,
            t.valid_until <= day + dt.timedelta(days=days_before),
        )
        .order_by(t.valid_until, t.id)
        .limit(limit)
    )
    return [_row(r) for r in rows]


def events_of(conn: sa.Connection, certificate_id: CertificateId | str) -> list[CertificateEvent]:
    rows = conn.execute(
        sa.select(certificate_events_t)
        .where(certificate_events_t.c.certificate_id == str(certificate_id))
        .order_by(certificate_events_t.c.seq)
    )
    return [_event(r) for r in rows]


def _event(row: Any) -> CertificateEvent:
    try:
        actor_kind = PrincipalKind(row.actor_kind)
    except ValueError:
        actor_kind = PrincipalKind.UNKNOWN
    return CertificateEvent(
        certificate_id=CertificateId.parse(row.certificate_id),
        seq=row.seq,
        kind=CertificateEventKind(row.kind),
        at=chain.as_utc(row.at),
        actor=Actor(kind=actor_kind, id=row.actor_id, name=row.actor_name, agency=row.actor_agency),
        data=dict(row.data),
    )


def verify_trail(conn: sa.Connection, stored: StoredRow) -> chain.ChainReport:
    """Recompute a certificate's event chain; the first event altered, missing or added."""
    rows = conn.execute(
        sa.select(certificate_events_t)
        .where(certificate_events_t.c.certificate_id == str(stored.certificate.id))
        .order_by(certificate_events_t.c.seq)
    ).all()
    broken, checked, prev = chain.walk_trail(rows, EVENT_FIELDS)
    if broken is not None:
        return broken
    if checked != stored.certificate.seq or prev != stored.trail_head:
        return chain.ChainReport(
            checked, checked + 1, "events after this one were removed (the head does not match)"
        )
    return chain.ChainReport(checked)


# --- status lists ---------------------------------------------------------------------------


@attrs.frozen
class StoredList:
    """A department's status list of one purpose as stored."""

    issuer: str
    number: int
    purpose: StatusPurpose
    bits: StatusList
    version: int
    credential: str | None
    signed_version: int | None
    updated_at: dt.datetime


def load_list(
    conn: sa.Connection, issuer: str, number: int, purpose: StatusPurpose
) -> StoredList | None:
    t = status_lists_t.c
    row = conn.execute(
        sa.select(status_lists_t).where(
            t.issuer == issuer, t.number == number, t.purpose == purpose.value
        )
    ).first()
    if row is None:
        return None
    return StoredList(
        issuer=row.issuer,
        number=row.number,
        purpose=purpose,
        bits=StatusList(purpose, bytes(row.bits)),
        version=row.version,
        credential=row.credential,
        signed_version=row.signed_version,
        updated_at=chain.as_utc(row.updated_at),
    )


def update_bits(conn: sa.Connection, certificate: Certificate, *, now: dt.datetime) -> None:
    """Set or clear the certificate's bit in both of its issuer's lists to match its status
    (in the transaction of the transition; the list is re-signed when next served)."""
    assert certificate.status_index is not None
    issuer, number = certificate.issuer.credit_code, certificate.status_list
    wanted = {
        StatusPurpose.REVOCATION: certificate.revoked_bit,
        StatusPurpose.SUSPENSION: certificate.suspended_bit,
    }
    for purpose, bit in wanted.items():
        found = load_list(conn, issuer, number, purpose)
        current = found.bits if found else StatusList.empty(purpose)
        if current.get(certificate.status_index) == bit:
            continue
        changed = (
            current.set(certificate.status_index)
            if bit
            else current.clear(certificate.status_index)
        )
        t = status_lists_t.c
        if found is None:
            conn.execute(
                sa.insert(status_lists_t).values(
                    issuer=issuer,
                    number=number,
                    purpose=purpose.value,
                    bits=changed.bits,
                    version=1,
                    updated_at=now,
                )
            )
        else:
            conn.execute(
                sa.update(status_lists_t)
                .where(t.issuer == issuer, t.number == number, t.purpose == purpose.value)
                .values(bits=changed.bits, version=t.version + 1, updated_at=now)
            )


def save_signed_list(
    conn: sa.Connection,
    issuer: str,
    number: int,
    purpose: StatusPurpose,
    *,
    credential: str,
    version: int,
    now: dt.datetime,
) -> None:
    """Keep the signed credential of a list's bits at ``version`` (a list without a row yet,
    all zeros, is stored at version 0)."""
    t = status_lists_t.c
    where = (t.issuer == issuer, t.number == number, t.purpose == purpose.value)
    done = conn.execute(
        sa.update(status_lists_t)
        .where(*where, t.version == version)
        .values(credential=credential, signed_version=version)
    ).rowcount
    if not done and version == 0:
        with conn.begin_nested():
            exists = conn.execute(sa.select(t.version).where(*where)).first()
            if exists is None:
                conn.execute(
                    sa.insert(status_lists_t).values(
                        issuer=issuer,
                        number=number,
                        purpose=purpose.value,
                        bits=StatusList.empty(purpose).bits,
                        version=0,
                        credential=credential,
                        signed_version=0,
                        updated_at=now,
                    )
                )


# --- consents ---------------------------------------------------------------------------------


@attrs.frozen
class Consent:
    """A holder's recorded consent to use a certificate as an application material."""

    id: str
    certificate_id: str
    holder: PartyKey
    item_code: str
    material: str
    case_id: str | None
    purpose: str
    at: dt.datetime
    actor: Actor


def add_consent(conn: sa.Connection, consent: Consent) -> None:
    conn.execute(
        sa.insert(consents_t).values(
            id=consent.id,
            certificate_id=consent.certificate_id,
            holder_type=consent.holder.doc_type.value,
            holder_number=consent.holder.number,
            item_code=consent.item_code,
            material=consent.material,
            case_id=consent.case_id,
            purpose=consent.purpose[:200],
            at=consent.at,
            actor_kind=consent.actor.kind.value,
            actor_id=consent.actor.id[:100],
            actor_name=consent.actor.name[:100],
        )
    )


def consents_of_case(conn: sa.Connection, case_id: str) -> list[Consent]:
    rows = conn.execute(
        sa.select(consents_t).where(consents_t.c.case_id == case_id).order_by(consents_t.c.at)
    )
    return [_consent(r) for r in rows]


def consents_of_certificate(conn: sa.Connection, certificate_id: str) -> list[Consent]:
    rows = conn.execute(
        sa.select(consents_t)
        .where(consents_t.c.certificate_id == certificate_id)
        .order_by(consents_t.c.at)
    )
    return [_consent(r) for r in rows]


def _consent(row: Any) -> Consent:
    try:
        kind = PrincipalKind(row.actor_kind)
    except ValueError:
        kind = PrincipalKind.UNKNOWN
    return Consent(
        id=row.id,
        certificate_id=row.certificate_id,
        holder=PartyKey(doc_type=DocumentType(row.holder_type), number=row.holder_number),
        item_code=row.item_code,
        material=row.material,
        case_id=row.case_id,
        purpose=row.purpose,
        at=chain.as_utc(row.at),
        actor=Actor(kind=kind, id=row.actor_id, name=row.actor_name),
    )
