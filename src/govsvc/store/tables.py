"""The database schema: SQLModel tables, owned by alembic migrations.

A case is stored as one row whose ``data`` column holds the whole aggregate as JSON (through
the SDK's cattrs converter); the other columns and the material, task and event tables are
projections for queries and for the trail. Rows map to and from the domain only through
named functions (``CaseRow.values_from_domain(case)``, ``case_from_data(row.data)``,
``event_from_row(row)``), so the database
shape never leaks into the domain.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from govsvc.cases import Case
from govsvc.store import documents

__all__ = [
    "AccessLogRow",
    "CalendarYearRow",
    "CaseEventRow",
    "CaseMaterialRow",
    "CaseRow",
    "CatalogueSearchRow",
    "CatalogueTagRow",
    "CertificateConsentRow",
    "CertificateEventRow",
    "CertificateRow",
    "DeliveryRow",
    "ExchangeLogRow",
    "IdempotencyKeyRow",
    "ItemVersionRow",
    "LogCheckpointRow",
    "OutboxRow",
    "PartyRow",
    "RatingEventRow",
    "RatingRow",
    "RectificationRuleRow",
    "ReviewTaskRow",
    "ServiceItemRow",
    "StaffRow",
    "StatusListRow",
    "metadata",
]

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
metadata = SQLModel.metadata


def _json(nullable: bool = False) -> Any:
    return Field(sa_type=JSONType, nullable=nullable)


def _when(nullable: bool = True, index: bool = False) -> Any:
    return Field(sa_type=sa.DateTime(timezone=True), nullable=nullable, index=index)


class ServiceItemRow(SQLModel, table=True):
    """A service item's stable identity (事项)."""

    __tablename__ = "service_items"
    implementation_code: str = Field(primary_key=True, max_length=36)
    catalogue_code: str = Field(index=True, max_length=12)
    agency: str = Field(index=True, max_length=18)
    name: str = Field(max_length=200)
    item_type: str = Field(max_length=2)
    data: dict[str, Any] = _json()


class ItemVersionRow(SQLModel, table=True):
    """An immutable published version of an item with its full service guide."""

    __tablename__ = "item_versions"
    item_code: str = Field(primary_key=True, max_length=36)
    version: int = Field(primary_key=True)
    name: str = Field(max_length=200)
    published_at: dt.datetime = _when(nullable=False)
    data: dict[str, Any] = _json()


class PartyRow(SQLModel, table=True):
    """A person or organisation, keyed by document type and number (一号), never a login."""

    __tablename__ = "parties"
    doc_type: str = Field(primary_key=True, max_length=3)
    number: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    is_organisation: bool
    updated_at: dt.datetime = _when(nullable=False)
    data: dict[str, Any] = _json()


class CaseRow(SQLModel, table=True):
    """A case (办件): the aggregate as JSON plus the columns queries need."""

    __tablename__ = "cases"
    # Supervision's overdue list: running cases in review by promised due date.
    __table_args__ = (
        sa.Index("ix_cases_overdue", "state", "suspended", "due_promised"),
        # Supervision's warnings: running cases by their stored light (sweep_lights).
        sa.Index("ix_cases_light", "state", "light"),
    )
    id: str = Field(primary_key=True, max_length=32)
    tracking_code: str = Field(unique=True, max_length=11)
    item_code: str = Field(index=True, max_length=36)
    item_version: int
    agency: str = Field(index=True, max_length=18)
    applicant_type: str = Field(max_length=3)
    applicant_number: str = Field(index=True, max_length=40)
    applicant_name: str = Field(max_length=200)
    agent_type: str | None = Field(default=None, max_length=3)
    agent_number: str | None = Field(default=None, index=True, max_length=40)
    division: str = Field(index=True, max_length=12)
    channel: str = Field(max_length=2)
    state: str = Field(index=True, max_length=20)
    version: int
    created_at: dt.datetime = _when(nullable=False)
    submitted_at: dt.datetime | None = _when()
    accepted_at: dt.datetime | None = _when()
    closed_at: dt.datetime | None = _when()
    due_promised: dt.date | None = Field(default=None, index=True)
    due_statutory: dt.date | None = None
    due_provisional: bool = False
    suspended: bool = False
    # The warning light the last sweep computed (sweep_lights), and on which day: derived,
    # so never part of the aggregate, and written without a new case version.
    light: str | None = Field(default=None, max_length=6)
    light_on: dt.date | None = None
    data: dict[str, Any] = _json()

    @staticmethod
    def values_from_domain(case: Case) -> dict[str, Any]:
        """Column values for a case, for Core statements on the hot path."""
        deadline = case.deadline
        agent = case.agent
        return {
            "id": case.id,
            "tracking_code": case.tracking_code,
            "item_code": case.item_code,
            "item_version": case.item_version,
            "agency": case.agency,
            "applicant_type": case.applicant.doc_type.value,
            "applicant_number": case.applicant.number,
            "applicant_name": case.applicant_name,
            "agent_type": agent.key.doc_type.value if agent else None,
            "agent_number": agent.key.number if agent else None,
            "division": case.division,
            "channel": case.channel,
            "state": case.state.value,
            "version": case.version,
            "created_at": case.created_at,
            "submitted_at": case.submitted_at,
            "accepted_at": case.accepted_at,
            "closed_at": case.closed_at,
            "due_promised": deadline.promised if deadline else None,
            "due_statutory": deadline.statutory if deadline else None,
            "due_provisional": bool(deadline and deadline.provisional),
            "suspended": case.is_suspended,
            "data": documents.dump("case", case),
        }


def case_from_data(data: Any) -> Case:
    """The domain case stored in a row's ``data`` column (older documents upcast)."""
    return documents.load("case", data, Case)


class CaseMaterialRow(SQLModel, table=True):
    """A material provided with a case (projection of the aggregate, for queries and audits)."""

    __tablename__ = "case_materials"
    case_id: str = Field(primary_key=True, max_length=32)
    code: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=12)
    reference: str = Field(max_length=500)
    filename: str = Field(max_length=255)
    media_type: str = Field(max_length=100)
    size: int


class ReviewTaskRow(SQLModel, table=True):
    """A department's review task: the department queue reads this table."""

    __tablename__ = "review_tasks"
    # A department's queue: its open tasks, oldest first, read in keyset pages.
    __table_args__ = (sa.Index("ix_review_tasks_queue", "department", "status", "opened_at", "id"),)
    id: str = Field(primary_key=True, max_length=32)
    case_id: str = Field(index=True, max_length=32)
    stage: int
    department: str = Field(max_length=18)
    status: str = Field(max_length=12)
    opened_at: dt.datetime = _when(nullable=False)
    decided_at: dt.datetime | None = _when()


class DeliveryRow(SQLModel, table=True):
    """A review task delivered to a department's legacy system (not a projection: the
    department's answer, kept beside the aggregate so a delivery never bumps the case)."""

    __tablename__ = "deliveries"
    # Polls are fair: each department's due tasks, by when each is next due. Only tasks
    # still to be asked about (decided and closed ones have no next poll), so it stays as
    # small as the work in hand however many tasks were ever delivered (0006).
    __table_args__ = (
        sa.Index(
            "ix_deliveries_due",
            "department",
            "next_poll_at",
            sqlite_where=sa.text("next_poll_at IS NOT NULL"),
            postgresql_where=sa.text("next_poll_at IS NOT NULL"),
        ),
    )
    task_id: str = Field(primary_key=True, max_length=32)
    case_id: str = Field(index=True, max_length=32)
    department: str = Field(max_length=18)
    legacy_id: str = Field(max_length=100)  # the task's id in the department's system
    delivered_at: dt.datetime = _when(nullable=False)
    # When to ask the department about the task next (None: decided or closed, never again);
    # a poller claims a task by moving this forward by its lease, so a dead poller's task
    # comes due again by itself.
    next_poll_at: dt.datetime | None = _when()
    polls: int = 0
    last_polled_at: dt.datetime | None = _when()


class CaseEventRow(SQLModel, table=True):
    """The append-only trail. ``(case_id, seq)`` is unique: a second writer cannot interleave."""

    __tablename__ = "case_events"
    __table_args__ = (sa.UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),)
    id: int | None = Field(
        default=None, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    case_id: str = Field(max_length=32)
    seq: int
    kind: str = Field(max_length=40)
    at: dt.datetime = _when(nullable=False)
    actor_kind: str = Field(max_length=20)
    actor_id: str = Field(max_length=100)
    actor_name: str = Field(max_length=100)
    actor_agency: str | None = Field(default=None, max_length=18)
    data: dict[str, Any] = _json()
    # Each case's events are hash-chained (the case keeps the head): a rewritten or deleted
    # event is found by store.cases.verify_trail.
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class OutboxRow(SQLModel, table=True):
    """Work committed with a command and delivered after it (review tasks, notices)."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_pending", "delivered_at", "available_at"),
        # Pending work by topic and department (workers take a slice per department; the
        # host's notifier its notices): partial, so delivered messages, which the outbox
        # keeps for good, never enter it and it stays as small as the work in hand (0006).
        sa.Index(
            "ix_outbox_open",
            "topic",
            "department",
            "created_at",
            "id",
            sqlite_where=sa.text("delivered_at IS NULL"),
            postgresql_where=sa.text("delivered_at IS NULL"),
        ),
    )
    id: str = Field(primary_key=True, max_length=32)
    case_id: str = Field(index=True, max_length=32)
    topic: str = Field(max_length=40)
    department: str | None = Field(default=None, max_length=18)  # whose work it is
    # A lease: the worker that claimed the message and until when; expired, anyone may take it.
    claimed_by: str | None = Field(default=None, max_length=60)
    claimed_until: dt.datetime | None = _when()
    payload: dict[str, Any] = _json()
    created_at: dt.datetime = _when(nullable=False)
    available_at: dt.datetime = _when(nullable=False)
    attempts: int = 0
    delivered_at: dt.datetime | None = _when()
    last_error: str | None = Field(default=None, max_length=2000)


class CalendarYearRow(SQLModel, table=True):
    """Working-day data loaded by an operator (``govsvc calendar load``) for one region-year."""

    __tablename__ = "calendar_years"
    region: str = Field(primary_key=True, max_length=10)
    year: int = Field(primary_key=True)
    source: str = Field(max_length=500)
    loaded_at: dt.datetime = _when(nullable=False)
    data: dict[str, Any] = _json()


class ExchangeLogRow(SQLModel, table=True):
    """One data exchange with a department (X-Road's message log as the model).

    ``hash`` chains every record to the previous one (SHA-256 over the record and the
    previous hash), so altering or deleting a record breaks the chain from there on.
    """

    __tablename__ = "exchange_log"
    seq: int = Field(primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"))
    at: dt.datetime = _when(nullable=False)
    requester: str = Field(max_length=100)
    department: str = Field(index=True, max_length=18)
    operation: str = Field(max_length=40)
    on_behalf_of: str = Field(index=True, max_length=60)
    case_id: str | None = Field(default=None, index=True, max_length=32)
    purpose: str = Field(max_length=500)
    outcome: str = Field(max_length=40)
    detail: str = Field(max_length=2000)
    duration_ms: float
    # An outcome names the attempt it closes (written before the call, outcome "attempted").
    attempt: int | None = Field(
        default=None, index=True, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    )

    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class AccessLogRow(SQLModel, table=True):
    """Who read whose personal data, why, and every refused attempt (PIPL accountability).

    A sibling of the exchange log: the same SHA-256 chain, its own sequence.
    """

    __tablename__ = "access_log"
    seq: int = Field(primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"))
    at: dt.datetime = _when(nullable=False)
    principal_kind: str = Field(max_length=20)
    principal_id: str = Field(max_length=100)
    principal_name: str = Field(max_length=100)
    principal_agency: str | None = Field(default=None, max_length=18)
    action: str = Field(max_length=40)
    outcome: str = Field(max_length=10)  # read | denied
    rule: str = Field(max_length=60)
    subject: str | None = Field(default=None, index=True, max_length=60)  # "111:2301…"
    case_id: str | None = Field(default=None, index=True, max_length=32)
    purpose: str = Field(max_length=500)
    detail: str = Field(max_length=2000)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class IdempotencyKeyRow(SQLModel, table=True):
    """A creating request's idempotency key (a channel's request id) and what it created."""

    __tablename__ = "idempotency_keys"
    principal: str = Field(primary_key=True, max_length=120)  # kind:id of who sent it
    key: str = Field(primary_key=True, max_length=200)
    fingerprint: str = Field(max_length=64)  # SHA-256 of the request, to refuse a changed one
    case_id: str = Field(max_length=32)
    created_at: dt.datetime = _when(nullable=False)


class LogCheckpointRow(SQLModel, table=True):
    """A keyed checkpoint of a chained log's head (to give an outside witness)."""

    __tablename__ = "log_checkpoints"
    log: str = Field(primary_key=True, max_length=20)  # exchange_log | access_log
    seq: int = Field(primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"))
    head: str = Field(max_length=64)
    at: dt.datetime = _when(nullable=False)
    key_id: str = Field(max_length=40)
    mac: str = Field(max_length=64)


class StaffRow(SQLModel, table=True):
    """A member of staff: who a login is, for identity providers without role claims."""

    __tablename__ = "staff"
    id: str = Field(primary_key=True, max_length=100)
    provider: str = Field(max_length=60)
    subject: str = Field(index=True, max_length=200)  # the identity provider's id (OIDC sub)
    kind: str = Field(max_length=20)
    name: str = Field(max_length=100)
    agency: str | None = Field(default=None, max_length=18)
    division: str | None = Field(default=None, max_length=12)
    active: bool = True
    updated_at: dt.datetime = _when(nullable=False)
    data: dict[str, Any] = _json()


# Core table handles for the SQL of each resource (store/cases.py, store/catalogue.py, …).
cases_t: sa.Table = CaseRow.__table__  # type: ignore[attr-defined]
events_t: sa.Table = CaseEventRow.__table__  # type: ignore[attr-defined]
materials_t: sa.Table = CaseMaterialRow.__table__  # type: ignore[attr-defined]
tasks_t: sa.Table = ReviewTaskRow.__table__  # type: ignore[attr-defined]
deliveries_t: sa.Table = DeliveryRow.__table__  # type: ignore[attr-defined]
outbox_t: sa.Table = OutboxRow.__table__  # type: ignore[attr-defined]
parties_t: sa.Table = PartyRow.__table__  # type: ignore[attr-defined]
items_t: sa.Table = ServiceItemRow.__table__  # type: ignore[attr-defined]
versions_t: sa.Table = ItemVersionRow.__table__  # type: ignore[attr-defined]
calendar_t: sa.Table = CalendarYearRow.__table__  # type: ignore[attr-defined]
exchange_t: sa.Table = ExchangeLogRow.__table__  # type: ignore[attr-defined]
access_t: sa.Table = AccessLogRow.__table__  # type: ignore[attr-defined]
idempotency_t: sa.Table = IdempotencyKeyRow.__table__  # type: ignore[attr-defined]
checkpoints_t: sa.Table = LogCheckpointRow.__table__  # type: ignore[attr-defined]
staff_t: sa.Table = StaffRow.__table__  # type: ignore[attr-defined]


# --- ratings (好差评) ---------------------------------------------------------------------------


class RatingRow(SQLModel, table=True):
    """A rating (好差评): the aggregate as JSON plus the columns the queue and statistics read.

    ``matter`` is what is rated once (``case:<id>``, ``occasion:<agency>:<occasion>``): the
    unique constraint makes a second rating of one matter impossible even for a racing writer.
    """

    __tablename__ = "ratings"
    __table_args__ = (sa.Index("ix_ratings_queue", "department", "rect_status", "rect_due", "id"),)
    id: str = Field(primary_key=True, max_length=32)
    matter: str = Field(unique=True, max_length=120)
    basis: str = Field(max_length=10)
    case_id: str | None = Field(default=None, index=True, max_length=32)
    occasion: str | None = Field(default=None, max_length=64)
    item_code: str | None = Field(default=None, index=True, max_length=36)
    agency: str = Field(index=True, max_length=18)
    department: str = Field(max_length=18)
    division: str = Field(index=True, max_length=12)
    party_type: str | None = Field(default=None, max_length=3)
    party_number: str | None = Field(default=None, index=True, max_length=40)
    rater_type: str | None = Field(default=None, max_length=3)
    rater_number: str | None = Field(default=None, index=True, max_length=40)
    level: str = Field(max_length=20)  # the RatingLevel's name, e.g. VERY_SATISFIED
    current_level: str = Field(max_length=20)
    bad: bool
    channel: str = Field(max_length=16)
    rated_at: dt.datetime = _when(nullable=False)
    rated_on: dt.date = Field(index=True)  # the day in China: periods and deadlines
    rated_month: str = Field(max_length=7)  # "2026-03": statistics per month without date SQL
    rect_status: str | None = Field(default=None, max_length=10)
    rect_due: dt.date | None = None
    answered_at: dt.datetime | None = _when()
    answered_on_time: bool | None = None
    excluded: str | None = Field(default=None, max_length=10)
    version: int
    data: dict[str, Any] = _json()


class RatingEventRow(SQLModel, table=True):
    """The append-only trail of a rating; ``(rating_id, seq)`` is unique."""

    __tablename__ = "rating_events"
    __table_args__ = (sa.UniqueConstraint("rating_id", "seq", name="uq_rating_events_rating_seq"),)
    id: int | None = Field(
        default=None, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    rating_id: str = Field(max_length=32)
    seq: int
    kind: str = Field(max_length=40)
    at: dt.datetime = _when(nullable=False)
    actor_kind: str = Field(max_length=20)
    actor_id: str = Field(max_length=100)
    actor_name: str = Field(max_length=100)
    actor_agency: str | None = Field(default=None, max_length=18)
    data: dict[str, Any] = _json()


class RectificationRuleRow(SQLModel, table=True):
    """A rectification deadline (整改时限) in working days: the platform's (region "") or a
    division's, set by an operator (``session.ratings.configure``)."""

    __tablename__ = "rectification_rules"
    region: str = Field(primary_key=True, max_length=12)
    workdays: int
    updated_at: dt.datetime = _when(nullable=False)
    updated_by: str = Field(max_length=100)


# --- catalogue search ---------------------------------------------------------------------------

# Text compared by code point on PostgreSQL too (name prefixes and keyset order), whatever the
# database's collation; SQLite compares TEXT that way already.
_KEY_TEXT = sa.String(200).with_variant(sa.String(200, collation="C"), "postgresql")
# The character bigrams of a text, for two-character queries on PostgreSQL (a GIN index over
# the array; SQLite keeps its bigrams in FTS5 tables and leaves these NULL).
_GRAMS = sa.Text().with_variant(ARRAY(sa.Text()), "postgresql")


class CatalogueSearchRow(SQLModel, table=True):
    """One published service item as the search index sees it (a projection of
    ``service_items``, written by the publishing transaction; see ``store/search.py``).

    ``name_key`` and ``keywords`` are normalised (NFKC, case folded): the full-text indexes
    (FTS5 on SQLite, pg_trgm and GIN on PostgreSQL, created by migration 0005) cover them.
    """

    __tablename__ = "catalogue_search"
    __table_args__ = (
        sa.Index("ix_catalogue_search_name_key", "name_key", "id"),
        sa.Index("ix_catalogue_search_agency", "agency", "name_key", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=36)
    name: str = Field(max_length=200)
    name_key: str = Field(sa_type=_KEY_TEXT)
    keywords: str = Field(max_length=2000)
    agency: str = Field(max_length=18)
    agency_name: str = Field(max_length=200)
    item_type: str = Field(max_length=2)
    themes: str = Field(max_length=500)  # the tags, separated by ";" (no JSON on the hot path)
    life_stages: str = Field(max_length=500)
    name_grams: list[str] | None = Field(default=None, sa_type=_GRAMS, nullable=True)
    keyword_grams: list[str] | None = Field(default=None, sa_type=_GRAMS, nullable=True)


class CatalogueTagRow(SQLModel, table=True):
    """A browsing tag of a published item (``kind`` theme or life_stage), in name order."""

    __tablename__ = "catalogue_tags"
    kind: str = Field(primary_key=True, max_length=12)
    tag: str = Field(primary_key=True, max_length=40)
    name_key: str = Field(primary_key=True, sa_type=_KEY_TEXT)
    item_id: int = Field(primary_key=True)


ratings_t: sa.Table = RatingRow.__table__  # type: ignore[attr-defined]
rating_events_t: sa.Table = RatingEventRow.__table__  # type: ignore[attr-defined]
rectification_rules_t: sa.Table = RectificationRuleRow.__table__  # type: ignore[attr-defined]
search_t: sa.Table = CatalogueSearchRow.__table__  # type: ignore[attr-defined]
tags_t: sa.Table = CatalogueTagRow.__table__  # type: ignore[attr-defined]


# --- e-certificates (电子证照) -------------------------------------------------------------------

# GB/T 36904 identifiers: prefix, 21-char type code, 18-char issuer, a serial of up to 64,
# a 3-digit version and the check character, with dots.
_CERT_ID = 140


class CertificateRow(SQLModel, table=True):
    """An e-certificate: the aggregate as JSON, its signed credential, and what the holder's
    library, the expiry sweep and the status lists query.

    ``(issuer, status_list, status_index)`` is unique: an index of a department's status list
    is handed out once, ever (the allocation is this constraint, in the issuing transaction).
    """

    __tablename__ = "certificates"
    __table_args__ = (
        sa.UniqueConstraint(
            "issuer", "status_list", "status_index", name="uq_certificates_status_index"
        ),
        sa.Index("ix_certificates_holder", "holder_type", "holder_number", "type_code"),
        sa.Index("ix_certificates_expiry", "status", "valid_until"),
    )
    id: str = Field(primary_key=True, max_length=_CERT_ID)
    type_code: str = Field(max_length=21)
    issuer: str = Field(max_length=18)
    holder_type: str = Field(max_length=3)
    holder_number: str = Field(max_length=40)
    status: str = Field(max_length=12)
    valid_until: dt.date | None = None
    case_id: str | None = Field(default=None, index=True, max_length=32)
    status_list: int
    status_index: int
    version: int
    credential: str = Field(sa_type=sa.Text)  # the compact JWS of the current version
    key_id: str = Field(max_length=100)
    signed_at: dt.datetime = _when(nullable=False)
    trail_head: str = Field(max_length=64)  # the hash of the last event (the trail's chain)
    data: dict[str, Any] = _json()


class CertificateEventRow(SQLModel, table=True):
    """The append-only, hash-chained trail of a certificate; ``(certificate_id, seq)`` unique."""

    __tablename__ = "certificate_events"
    __table_args__ = (
        sa.UniqueConstraint("certificate_id", "seq", name="uq_certificate_events_seq"),
    )
    id: int | None = Field(
        default=None, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True
    )
    certificate_id: str = Field(max_length=_CERT_ID)
    seq: int
    kind: str = Field(max_length=20)
    at: dt.datetime = _when(nullable=False)
    actor_kind: str = Field(max_length=20)
    actor_id: str = Field(max_length=100)
    actor_name: str = Field(max_length=100)
    actor_agency: str | None = Field(default=None, max_length=18)
    data: dict[str, Any] = _json()
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class StatusListRow(SQLModel, table=True):
    """One department's status list of one purpose: its bits, and the signed credential of
    the bits as they were at ``signed_version`` (re-signed when first served after a change)."""

    __tablename__ = "certificate_status_lists"
    issuer: str = Field(primary_key=True, max_length=18)
    number: int = Field(primary_key=True)
    purpose: str = Field(primary_key=True, max_length=12)
    bits: bytes = Field(sa_type=sa.LargeBinary)
    version: int
    credential: str | None = Field(default=None, sa_type=sa.Text)
    signed_version: int | None = None
    updated_at: dt.datetime = _when(nullable=False)


class CertificateConsentRow(SQLModel, table=True):
    """A holder's consent to use a certificate as a material (免提交), with who gave it."""

    __tablename__ = "certificate_consents"
    __table_args__ = (sa.Index("ix_certificate_consents_case", "case_id", "material"),)
    id: str = Field(primary_key=True, max_length=32)
    certificate_id: str = Field(index=True, max_length=_CERT_ID)
    holder_type: str = Field(max_length=3)
    holder_number: str = Field(max_length=40)
    item_code: str = Field(max_length=36)
    material: str = Field(max_length=20)
    case_id: str | None = Field(default=None, max_length=32)
    purpose: str = Field(max_length=200)
    at: dt.datetime = _when(nullable=False)
    actor_kind: str = Field(max_length=20)
    actor_id: str = Field(max_length=100)
    actor_name: str = Field(max_length=100)


certificates_t: sa.Table = CertificateRow.__table__  # type: ignore[attr-defined]
certificate_events_t: sa.Table = CertificateEventRow.__table__  # type: ignore[attr-defined]
status_lists_t: sa.Table = StatusListRow.__table__  # type: ignore[attr-defined]
consents_t: sa.Table = CertificateConsentRow.__table__  # type: ignore[attr-defined]
