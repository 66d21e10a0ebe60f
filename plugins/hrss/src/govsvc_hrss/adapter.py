"""The govsvc department adapter for 哈尔滨市人力资源和社会保障局 (social security, 人社).

:class:`HrssAdapter` wraps :class:`~govsvc_hrss.client.HrssClient` and speaks the platform's
types: a :class:`govsvc.PartyKey` in, a profile mapping, :class:`govsvc.CertificateRecord`,
:class:`govsvc.ReviewOutcome` and :class:`govsvc.IssuedResult` out. Its configuration is an
:class:`HrssConfig`, usually read from the environment (``GOVSVC_HRSS_*``)::

    adapter = HrssAdapter(HrssConfig.from_env())
    person = await adapter.profile(govsvc.PartyKey.of("230103198503120316"))
    person["social_security_card"]   # 'H30188412'

The platform calls adapters on its own background event loop, and an ``httpx.AsyncClient``
must be used on the loop it was created on, so the adapter creates its client lazily, on first
use, inside the running loop (one client, with its cached OAuth token, per loop).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
import httpx

from govsvc import (
    AdapterProtocolError,
    CertificateRecord,
    DocumentType,
    IssuedResult,
    PartyKey,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
)
from govsvc.adapterkit import (
    PerLoopClient,
    flat_form,
    is_http_url,
    is_positive_seconds,
    seconds_from_env,
)
from govsvc_hrss.client import (
    DEPARTMENT,
    CardStatus,
    HrssClient,
    InsuranceStatus,
    InsuredPerson,
    Sex,
    SocialSecurityCard,
)
from govsvc_hrss.seed import DEPARTMENT_NAME

__all__ = ["DEFAULT_URL", "DENIAL_BASIS", "HrssAdapter", "HrssConfig"]

DEFAULT_URL: Final = "http://127.0.0.1:8103"
"""Where the adapter looks for the bureau's API unless ``GOVSVC_HRSS_URL`` says otherwise."""

DENIAL_BASIS: Final = "《社会保障卡管理办法》（人社部发〔2011〕47号）"
"""Legal basis reported with a denial: the API reports a reason but no basis."""

CARD: Final = "社会保障卡"

_SEX: Final = {Sex.MALE: "male", Sex.FEMALE: "female"}
_CARD_STATUS: Final = {
    CardStatus.NORMAL: "valid",
    CardStatus.REPORTED_LOST: "reported_lost",
    CardStatus.CANCELLED: "cancelled",
}
_INSURANCE_STATUS: Final = {
    InsuranceStatus.PAYING: "paying",
    InsuranceStatus.PAUSED: "paused",
    InsuranceStatus.ENDED: "ended",
}


@attrs.frozen(kw_only=True)
class HrssConfig:
    """How to reach the bureau's API: address, OAuth 2.0 client credentials and time limit.

    ``timeout`` (seconds) bounds each HTTP exchange and is also the platform's per-call limit
    for the department. ``transport`` is the test seam; leave it ``None`` in production (and
    under pytest-httpx).
    """

    base_url: str = attrs.field(default=DEFAULT_URL, validator=is_http_url)
    client_id: str = "govsvc"
    client_secret: str = attrs.field(default="hrss-sim-secret", repr=False)
    timeout: float = attrs.field(default=5.0, converter=float, validator=is_positive_seconds)
    transport: httpx.AsyncBaseTransport | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HrssConfig:
        """Read ``GOVSVC_HRSS_URL``, ``_CLIENT_ID``, ``_CLIENT_SECRET`` and ``_TIMEOUT``.

        Unset variables keep the loopback defaults, which match the simulator
        (``python -m govsvc_hrss.simulator``).
        """
        env = os.environ if environ is None else environ
        return cls(
            base_url=env.get("GOVSVC_HRSS_URL", DEFAULT_URL),
            client_id=env.get("GOVSVC_HRSS_CLIENT_ID", "govsvc"),
            client_secret=env.get("GOVSVC_HRSS_CLIENT_SECRET", "hrss-sim-secret"),
            timeout=seconds_from_env(env, "GOVSVC_HRSS_TIMEOUT", 5.0),
        )


class HrssAdapter:
    """Department adapter for 哈尔滨市人力资源和社会保障局: profile, cards, review, card issue.

    The bureau is the source of truth (一数一源) for the social security card and the
    insured status; the name, sex, birth date and address it holds are not authoritative
    (its address for 李娜 is an old one). For an employer (统一社会信用代码) it reports how many
    people the employer insures.
    """

    def __init__(self, config: HrssConfig | None = None) -> None:
        self.config = config or HrssConfig()
        self._clients = PerLoopClient(self._new_client)

    def __repr__(self) -> str:
        return f"HrssAdapter(base_url={self.config.base_url!r})"

    def _new_client(self) -> HrssClient:
        return HrssClient(
            self.config.base_url,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            timeout=self.config.timeout,
            transport=self.config.transport,
        )

    def _client(self) -> HrssClient:
        return self._clients.get()

    async def aclose(self) -> None:
        """Close the connection pool this event loop uses (the next call opens a new one)."""
        await self._clients.aclose()

    # -- operations -----------------------------------------------------------------------

    async def profile(self, key: PartyKey) -> dict[str, Any] | None:
        """What the bureau holds about a person or employer, or ``None`` if it knows neither.

        For a person: ``name``, ``sex`` (``male``/``female``), ``birth_date`` (ISO),
        ``address`` (not authoritative), ``employer`` and ``employer_credit_code`` (absent for
        the self-employed), ``insured_status`` (``paying`` if any insurance is paid, else
        ``paused``, ``ended`` or ``none``), ``insurances`` (type, name, status, since), and
        ``social_security_card`` / ``social_security_card_status`` for the newest card that
        is not cancelled. For an employer: ``insured_employees`` (how many it insures).
        """
        if key.doc_type is DocumentType.CREDIT_CODE:
            employees = await self._client().insured_employees(key.number)
            return {"insured_employees": len(employees)} if employees else None
        if key.doc_type is not DocumentType.RESIDENT_ID:
            return None
        client = self._client()
        person = await client.profile(key.number)
        if person is None:
            return None
        if person.id_number != key.number:
            raise self._other_person(key, "profile", "$.idNumber")
        cards = await client.certificates(key.number)
        self._check_holder(key, cards, "profile")
        return _person_attributes(person, cards)

    async def certificates(self, key: PartyKey) -> list[CertificateRecord]:
        """Every social security card (社会保障卡) issued to the person, whatever its status.

        ``status`` is ``valid`` (正常), ``reported_lost`` (挂失) or ``cancelled`` (注销).
        """
        if key.doc_type is not DocumentType.RESIDENT_ID:
            return []
        cards = await self._client().certificates(key.number)
        self._check_holder(key, cards, "certificates")
        return [_card_record(card) for card in cards]

    async def open_review(self, request: ReviewRequest) -> str:
        """Open a review task (社会保障卡申领) and return the bureau's task id.

        The govsvc task id is sent as the ``Idempotency-Key``: delivering the same task again
        returns the same legacy id and creates nothing. Form values that are not text, whole
        numbers or dates are sent as their JSON text.
        """
        ticket = await self._client().open_review(
            request.task_id,
            request.case_id,
            request.item_code,
            request.applicant.number,
            flat_form(request.form),
        )
        if ticket.task_id != request.task_id:
            raise AdapterProtocolError(
                f"{DEPARTMENT_NAME} answered task {request.task_id} with the receipt of task "
                f"{ticket.task_id}; the delivery is not confirmed and will be retried",
                path="$.taskId",
                department=DEPARTMENT,
                operation="open_review",
            )
        return ticket.legacy_task_id

    async def poll_review(self, ticket: ReviewTicket) -> ReviewOutcome | None:
        """The bureau's decision, or ``None`` while the task is pending.

        A denial without a stated reason gets a generic one, and every denial cites
        :data:`DENIAL_BASIS`, since the API does not report a legal basis.
        """
        decision = await self._client().poll_review(ticket.legacy_id)
        if decision is None:
            return None
        if decision.legacy_task_id != ticket.legacy_id:
            raise AdapterProtocolError(
                f"{DEPARTMENT_NAME} answered a query on task {ticket.legacy_id} with task "
                f"{decision.legacy_task_id}",
                path="$.legacyTaskId",
                department=DEPARTMENT,
                operation="poll_review",
            )
        if decision.approved:
            return ReviewOutcome(approved=True, reason=decision.reason)
        return ReviewOutcome(
            approved=False,
            reason=decision.reason
            or f"{DEPARTMENT_NAME}审核不予通过（未说明理由，请拨打12333咨询）",
            basis=DENIAL_BASIS,
        )

    async def issue_result(self, ticket: ReviewTicket) -> IssuedResult:
        """Issue the card an approved application asked for: card number and face data.

        Issuing again returns the same card.
        """
        card = await self._client().issue_result(ticket.legacy_id)
        return IssuedResult(
            name=CARD,
            number=card.card_number,
            data={
                "social_security_number": card.social_security_number,
                "holder_name": card.holder_name,
                "bank": card.bank,
                "issued_on": card.issued_on.isoformat(),
                "status": _CARD_STATUS[card.status],
            },
        )

    async def health(self) -> bool:
        """Whether the API answers ``GET /health`` with ``UP``."""
        return await self._client().health()

    # -- checks -----------------------------------------------------------------------------

    @staticmethod
    def _other_person(key: PartyKey, operation: str, path: str) -> AdapterProtocolError:
        return AdapterProtocolError(
            f"{DEPARTMENT_NAME} answered a query on {key.masked()} with the record of another "
            "person",
            path=path,
            department=DEPARTMENT,
            operation=operation,
        )

    def _check_holder(
        self, key: PartyKey, cards: Sequence[SocialSecurityCard], operation: str
    ) -> None:
        # Someone else's card must never be shown as this person's.
        for index, card in enumerate(cards):
            if card.social_security_number != key.number:
                raise self._other_person(key, operation, f"$.items[{index}].socialSecurityNumber")


def _person_attributes(
    person: InsuredPerson, cards: Sequence[SocialSecurityCard]
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "name": person.name,
        "sex": _SEX[person.sex],
        "birth_date": person.birth_date.isoformat(),
        "address": person.address,
        "insured_status": _insured_status(person),
        "insurances": [
            {
                "type": i.type_code,
                "name": i.type_name,
                "status": _INSURANCE_STATUS[i.status],
                "since": i.since.isoformat(),
            }
            for i in person.insurances
        ],
    }
    if person.employer is not None:
        attributes["employer"] = person.employer.name
        attributes["employer_credit_code"] = person.employer.credit_code
    in_use = [c for c in cards if c.status is not CardStatus.CANCELLED]
    if in_use:
        newest = max(in_use, key=lambda c: c.issued_on)
        attributes["social_security_card"] = newest.card_number
        attributes["social_security_card_status"] = _CARD_STATUS[newest.status]
    return attributes


def _insured_status(person: InsuredPerson) -> str:
    statuses = {i.status for i in person.insurances}
    for status in (InsuranceStatus.PAYING, InsuranceStatus.PAUSED, InsuranceStatus.ENDED):
        if status in statuses:
            return _INSURANCE_STATUS[status]
    return "none"


def _card_record(card: SocialSecurityCard) -> CertificateRecord:
    return CertificateRecord(
        type_name=CARD,
        number=card.card_number,
        holder_name=card.holder_name,
        holder_number=card.social_security_number,
        issuer=DEPARTMENT_NAME,
        issued_on=card.issued_on,
        status=_CARD_STATUS[card.status],
        data={"bank": card.bank, "status_label": card.status.value},
    )
