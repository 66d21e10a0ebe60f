"""What queries and worker passes return: lists' rows, pages, reports (frozen values)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

import attrs

from govsvc._frozen import freeze
from govsvc.adapters import CertificateRecord
from govsvc.cases import Case, CaseState, ReviewTask
from govsvc.deadlines import Light
from govsvc.errors import InvalidInput
from govsvc.identity import PartyKey
from govsvc.masking import mask_id_number, mask_name

if TYPE_CHECKING:
    from govsvc.store.cases import SummaryColumns

__all__ = [
    "CaseLights",
    "CaseSummary",
    "DeliveryReport",
    "HolderCertificates",
    "OutboxEntry",
    "Page",
    "PollReport",
    "ResultReport",
    "TaskView",
]

T = TypeVar("T")


@attrs.frozen
class Page(Sequence[T], Generic[T]):
    """One page of a list, oldest or newest first as the query says; ``next`` continues it.

    Pages are keyset pages (no OFFSET, no exact count over a huge set): pass ``next`` as the
    ``after`` argument of the same query to get the following page; None means the end.
    """

    items: tuple[T, ...] = attrs.field(converter=tuple)
    next: str | None = None

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...
    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        return self.items[index]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Page):
            return self.items == other.items and self.next == other.next
        if isinstance(other, list | tuple):
            return list(self.items) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def encode_cursor(*values: Any) -> str:
    """An opaque keyset cursor (the sort key of the last row of a page)."""
    text = json.dumps([v.isoformat() if hasattr(v, "isoformat") else v for v in values])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The sort key in a cursor made by :func:`encode_cursor`; InvalidInput if it is not one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"page cursor {cursor!r} is not one this list gave out; start from the first page"
        ) from exc
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput(
            f"page cursor {cursor!r} is not one this list gave out; start from the first page"
        )
    return values


@attrs.frozen(kw_only=True)
class CaseSummary:
    """A case as lists show it: the applicant's number masked, and for staff the name too.

    ``problem`` is set when the case's dates cannot be shown (e.g. a year without calendar
    data): the row is flagged instead of taking the whole list down.
    """

    id: str
    tracking_code: str
    item_code: str
    item_version: int
    applicant_name: str
    applicant_masked: str
    agent_name: str | None
    state: CaseState
    submitted_at: dt.datetime | None
    due_promised: dt.date | None
    due_provisional: bool
    suspended: bool
    problem: str = ""

    @classmethod
    def of(cls, case: Case, *, mask_names: bool = False) -> CaseSummary:
        name = case.applicant_name
        agent = case.agent.name if case.agent else None
        return cls(
            id=case.id,
            tracking_code=case.tracking_code,
            item_code=case.item_code,
            item_version=case.item_version,
            applicant_name=mask_name(name) if mask_names else name,
            applicant_masked=case.applicant.masked(),
            agent_name=(mask_name(agent) if mask_names and agent else agent),
            state=case.state,
            submitted_at=case.submitted_at,
            due_promised=case.deadline.promised if case.deadline else None,
            due_provisional=bool(case.deadline and case.deadline.provisional),
            suspended=case.is_suspended,
        )


    @classmethod
    def of_columns(cls, row: SummaryColumns, *, mask_names: bool = False) -> CaseSummary:
        """The same summary from the case's columns (``store.cases.summaries``), without
        parsing its document."""
        name, agent = row.applicant_name, row.agent_name
        return cls(
            id=row.id,
            tracking_code=row.tracking_code,
            item_code=row.item_code,
            item_version=row.item_version,
            applicant_name=mask_name(name) if mask_names else name,
            applicant_masked=f"{row.applicant_type}:{mask_id_number(row.applicant_number)}",
            agent_name=(mask_name(agent) if mask_names and agent else agent),
            state=CaseState(row.state),
            submitted_at=row.submitted_at,
            due_promised=row.due_promised,
            due_provisional=row.due_provisional,
            suspended=row.suspended,
        )


@attrs.frozen(kw_only=True)
class TaskView:
    """A review task in a department's queue, with just enough of its case."""

    task: ReviewTask
    case: CaseSummary
    light: Light | None
    legacy_id: str | None = None  # the task's id in the department's own system, once delivered
    problem: str = ""  # why the light could not be computed (the row is still listed)


@attrs.frozen(kw_only=True)
class CaseLights:
    """Warning lights (红黄绿灯) for a case and each of its open tasks; None before acceptance."""

    case: Light | None
    tasks: Mapping[str, Light]
    workdays_left: int | None
    suspended: bool


@attrs.frozen(kw_only=True)
class LightsReport:
    """What one warning-light sweep found: open cases by light, how many changed, how many
    turned yellow or red (each with a ``supervision.warning`` outbox message), and the
    cases whose light could not be computed (``problems``: case id → why)."""

    on: dt.date
    green: int = 0
    yellow: int = 0
    red: int = 0
    changed: int = 0
    warned: int = 0
    problems: Mapping[str, str] = attrs.field(factory=dict, converter=freeze)


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """An outbox message waiting for delivery."""

    id: str
    case_id: str
    topic: str
    payload: Mapping[str, Any] = attrs.field(converter=freeze)
    created_at: dt.datetime
    attempts: int
    last_error: str | None

    @classmethod
    def of(cls, row: Any) -> OutboxEntry:
        created = row.created_at
        return cls(
            id=row.id,
            case_id=row.case_id,
            topic=row.topic,
            payload=row.payload,
            created_at=created if created.tzinfo else created.replace(tzinfo=dt.UTC),
            attempts=row.attempts,
            last_error=row.last_error,
        )


@attrs.frozen(kw_only=True)
class HolderCertificates:
    """Certificates departments issued to a holder; ``unavailable`` names departments down."""

    key: PartyKey
    records: tuple[CertificateRecord, ...]
    unavailable: Mapping[str, str]


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """What one outbox pass did: review tasks delivered, left for retry, handled manually."""

    delivered: int = 0
    retrying: int = 0
    manual: int = 0
    errors: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PollReport:
    """What one polling pass found: decisions recorded, tasks still pending, failures."""

    decided: int = 0
    pending: int = 0
    errors: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ResultReport:
    """What one result-fetching pass did: results recorded, left for retry, left to a clerk."""

    issued: int = 0
    retrying: int = 0
    manual: int = 0
    errors: tuple[str, ...] = ()
