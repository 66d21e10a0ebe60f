"""What a department plugs in: the :class:`Department` record and its adapter's operations.

A department keeps its legacy system and plugs it in through an *adapter*: any object with
some of these methods (plain functions or coroutines; a department implements what its items
need)::

    profile(key: PartyKey) -> Mapping[str, Any] | None         # what it holds about a party
    certificates(key: PartyKey) -> Sequence[CertificateRecord]  # licences it issued to a holder
    prereview(request: PrereviewRequest) -> Sequence[Finding]   # automated checks of materials
    open_review(request: ReviewRequest) -> str                  # push a task; returns legacy id
    poll_review(ticket: ReviewTicket) -> ReviewOutcome | None   # decision, or None if pending
    issue_result(ticket: ReviewTicket) -> IssuedResult          # licence number and face data
    cancel_review(ticket: ReviewTicket) -> None                 # task withdrawn/denied elsewhere
    health() -> bool

``open_review`` must be idempotent on ``request.task_id``: the platform retries a delivery
that may have reached the legacy system before a crash, and the task id is the key that
stops a second task being created. Results must be of the declared types; anything else
raises :class:`AdapterProtocolError` and is recorded in the exchange log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from govsvc._text import check_text, check_texts
from govsvc.catalogue import ItemVersion, ServiceItem
from govsvc.errors import InvalidInput
from govsvc.identity import CreditCode, PartyKey

__all__ = [
    "ADAPTER_OPERATIONS",
    "OPERATIONS",
    "CertificateRecord",
    "DeliveryProvider",
    "Department",
    "Finding",
    "IdentityProvider",
    "IssuedResult",
    "ItemBundle",
    "PaymentProvider",
    "PrereviewRequest",
    "ReviewOutcome",
    "ReviewRequest",
    "ReviewTicket",
]

OPERATIONS = (
    "profile",
    "certificates",
    "prereview",
    "open_review",
    "poll_review",
    "issue_result",
    "cancel_review",
    "health",
)
"""The adapter operations the platform knows, in the order the docs list them."""

ADAPTER_OPERATIONS = OPERATIONS  # the public name (govsvc.ADAPTER_OPERATIONS)


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise InvalidInput(f"give a list of names, not the single string {values!r}")
    return tuple(values)


def _credit_code(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    # Strict, like the catalogue's agencies and review stages: a department must be nameable
    # by a service item. InvalidIdentifier says what is wrong.
    CreditCode.parse(value)


@attrs.frozen(kw_only=True)
class Department:
    """A department (部门) and the adapter to its legacy system.

    ``code`` is the department's unified social credit code. ``authoritative_for`` names the
    profile attributes this department is the source of truth for (一数一源: e.g. 公安 for
    name, sex, birth date and address). ``timeout`` is the per-call limit in seconds (a
    timed-out call is not retried: more calls would only add to a slow system's load);
    ``max_in_flight`` caps the calls the platform makes to it at once — more wait their turn,
    so a burst of applications neither overloads a legacy system nor its HTTP pool.
    """

    code: str = attrs.field(validator=_credit_code)
    name: str
    division: str = ""
    adapter: Any
    items: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    authoritative_for: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    timeout: float = 5.0
    max_in_flight: int = 10

    @property
    def operations(self) -> tuple[str, ...]:
        """The operations its adapter implements."""
        return tuple(op for op in OPERATIONS if callable(getattr(self.adapter, op, None)))

    def offers(self, operation: str) -> bool:
        return callable(getattr(self.adapter, operation, None))


def _versions(values: Iterable[ItemVersion]) -> tuple[ItemVersion, ...]:
    return tuple(values)


@attrs.frozen
class ItemBundle:
    """A service item with its guide versions (oldest first), as a plugin provides them."""

    item: ServiceItem
    versions: tuple[ItemVersion, ...] = attrs.field(converter=_versions)


@attrs.frozen(kw_only=True)
class IdentityProvider:
    """A login provider: ``verify(token)`` returns the verified :class:`PartyKey` or None."""

    name: str
    label: str
    verify: Callable[[str], PartyKey | None]


@attrs.frozen(kw_only=True)
class PaymentProvider:
    """A fee payment channel: ``create_payment(case_id, amount_yuan)`` returns a payment id."""

    name: str
    label: str
    create_payment: Callable[[str, str], str]


@attrs.frozen(kw_only=True)
class DeliveryProvider:
    """A delivery channel: ``ship(case_id, address)`` returns a tracking number."""

    name: str
    label: str
    ship: Callable[[str, str], str]


@attrs.frozen(kw_only=True)
class CertificateRecord:
    """A licence or certificate a department issued to a holder (证照), as it reports it."""

    type_name: str  # e.g. 营业执照
    number: str  # the printed certificate number
    holder_name: str
    holder_number: str
    issuer: str
    issued_on: dt.date | None = None
    valid_until: dt.date | None = None  # None: long-term (长期)
    status: str = "valid"
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class PrereviewRequest:
    """What an automated pre-review sees of an application."""

    case_id: str
    item_code: str
    applicant: PartyKey
    applicant_name: str
    form: Mapping[str, Any]
    materials: tuple[str, ...]  # the material codes provided


@attrs.frozen(kw_only=True)
class Finding:
    """A problem an automated check found with one material (goes into the one-time notice)."""

    material: str
    problem: str


@attrs.frozen(kw_only=True)
class ReviewRequest:
    """A review task pushed to a department's legacy system. ``task_id`` is the idempotency key."""

    task_id: str
    case_id: str
    tracking_code: str
    item_code: str
    stage: int
    applicant: PartyKey
    applicant_name: str
    form: Mapping[str, Any]
    materials: tuple[str, ...]


@attrs.frozen(kw_only=True)
class ReviewTicket:
    """A review task as the legacy system knows it."""

    task_id: str
    legacy_id: str
    case_id: str


@attrs.frozen(kw_only=True)
class ReviewOutcome:
    """A decision reported by the legacy system."""

    approved: bool
    reason: str = ""
    basis: str = ""
    remedies: str = ""
    decided_by: str = ""

    def __attrs_post_init__(self) -> None:
        for name in ("reason", "basis", "remedies", "decided_by"):
            check_text(getattr(self, name), f"ReviewOutcome.{name}")
        if not self.approved and not (self.reason and self.basis):
            raise InvalidInput("a denial reported by a department needs a reason and a basis")


@attrs.frozen(kw_only=True)
class IssuedResult:
    """A licence issued on approval: its number and face data (证照照面信息)."""

    name: str
    number: str
    data: Mapping[str, Any] = attrs.field(factory=dict)
    valid_until: dt.date | None = None

    def __attrs_post_init__(self) -> None:
        check_text(self.name, "IssuedResult.name")
        check_text(self.number, "IssuedResult.number")
        check_texts(self.data, "IssuedResult.data")
