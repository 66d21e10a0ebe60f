"""The govsvc department adapter for 哈尔滨市卫生健康委员会 (health commission).

:class:`HealthAdapter` wraps :class:`~govsvc_health.client.HealthClient` and speaks the
platform's types: a :class:`govsvc.PartyKey` in; a profile mapping,
:class:`govsvc.CertificateRecord`, :class:`govsvc.ReviewOutcome` and
:class:`govsvc.IssuedResult` out. Its configuration is a :class:`HealthConfig`, usually read
from the environment (``GOVSVC_HEALTH_*``)::

    adapter = HealthAdapter(HealthConfig.from_env())
    child = await adapter.profile(govsvc.PartyKey.of("230103202401050029"))
    child["birth_certificate"]   # 'Q230123456'

The commission's system is slow and sometimes down (its simulator can be told to be), so the
default time limit is short: :data:`DEFAULT_TIMEOUT` seconds. A call that takes longer fails
as :class:`govsvc.AdapterUnavailable` and the platform goes on without the commission.

The platform calls adapters on its own background event loop, and an ``httpx.AsyncClient``
must be used on the loop it was created on, so the adapter creates its client lazily, on first
use, inside the running loop (one client per loop).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any, Final

import attrs
import httpx

from govsvc import (
    AdapterProtocolError,
    CertificateRecord,
    DocumentType,
    InvalidInput,
    IssuedResult,
    PartyKey,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
)
from govsvc.adapterkit import (
    PerLoopClient,
    is_http_url,
    is_positive_seconds,
    json_form,
    seconds_from_env,
)
from govsvc_health.client import (
    DEPARTMENT_CREDIT_CODE,
    DEPARTMENT_NAME,
    BirthCertificateRecord,
    HealthClient,
    ReviewKind,
    Sex,
)

__all__ = [
    "BIRTH_CERTIFICATE",
    "BIRTH_CERTIFICATE_ITEM",
    "CANCEL_REASON",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "DENIAL_BASIS",
    "OPINION_DENIAL_BASIS",
    "HealthAdapter",
    "HealthConfig",
]

DEFAULT_URL: Final = "http://127.0.0.1:8104"
"""Where the adapter looks for the commission's system unless ``GOVSVC_HEALTH_URL`` says so."""

DEFAULT_TIMEOUT: Final = 2.0
"""Seconds per call: short, so a slow commission costs the platform little."""

BIRTH_CERTIFICATE: Final = "出生医学证明"

BIRTH_CERTIFICATE_ITEM: Final = "11230100MB1935270B3002009010001"
"""Implementation code of 出生医学证明办理（首次签发） in the sample catalogue."""

DENIAL_BASIS: Final = "《中华人民共和国母婴保健法》第二十三条"
"""Legal basis reported when the commission refuses a birth medical certificate (the system
records a remark but no basis)."""

OPINION_DENIAL_BASIS: Final = "《中华人民共和国行政许可法》第二十六条、第三十八条"
"""Legal basis reported when the commission objects in an opinion-only review, such as a
joint review (会审) of another department's application."""

CANCEL_REASON: Final = "申请人已撤回申请或其他部门不予许可，政务服务平台撤销本审核任务"
"""The remark sent with a withdrawal (the platform's ticket does not say which it was)."""

_SEX: Final = {Sex.MALE: "male", Sex.FEMALE: "female"}


def _no_blank_token(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _codes(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    return tuple(code.strip().upper() for code in items if code.strip())


def _is_page_size(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 1 <= value <= 100:
        raise InvalidInput(f"{attribute.name} must be between 1 and 100 rows, got {value!r}")


@attrs.frozen(kw_only=True)
class HealthConfig:
    """How to reach the commission's system: address, bearer token and time limit.

    ``token`` None (or blank) sends no ``Authorization`` header. ``timeout`` (seconds) bounds
    each HTTP exchange and is also the platform's per-call limit for the department.
    ``certificate_items`` are the implementation codes whose review ends in a birth medical
    certificate; review tasks of any other item ask for the commission's opinion only.
    ``page_size`` is how many rows a list request asks for. ``transport`` is the test seam;
    leave it ``None`` in production (and under pytest-httpx).
    """

    base_url: str = attrs.field(default=DEFAULT_URL, validator=is_http_url)
    token: str | None = attrs.field(default=None, converter=_no_blank_token, repr=False)
    timeout: float = attrs.field(
        default=DEFAULT_TIMEOUT, converter=float, validator=is_positive_seconds
    )
    certificate_items: tuple[str, ...] = attrs.field(
        default=(BIRTH_CERTIFICATE_ITEM,), converter=_codes
    )
    page_size: int = attrs.field(default=50, validator=_is_page_size)
    transport: httpx.AsyncBaseTransport | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HealthConfig:
        """Read ``GOVSVC_HEALTH_URL``, ``_TOKEN``, ``_TIMEOUT`` and ``_CERTIFICATE_ITEMS``.

        Unset variables keep the loopback defaults, which match the simulator
        (``python -m govsvc_health.simulator``, no token).
        """
        env = os.environ if environ is None else environ
        return cls(
            base_url=env.get("GOVSVC_HEALTH_URL", DEFAULT_URL),
            token=env.get("GOVSVC_HEALTH_TOKEN"),
            timeout=seconds_from_env(env, "GOVSVC_HEALTH_TIMEOUT", DEFAULT_TIMEOUT),
            certificate_items=env.get("GOVSVC_HEALTH_CERTIFICATE_ITEMS", BIRTH_CERTIFICATE_ITEM),
        )


class HealthAdapter:
    """Department adapter for 哈尔滨市卫生健康委员会: persons, birth certificates, review.

    The commission is the source of truth (一数一源) for birth medical certificates. It knows
    people by citizen ID only; other keys get ``None`` / an empty list without a call.

    Review tasks of the items in ``config.certificate_items`` (出生医学证明办理) are
    certificate reviews that can be issued; tasks of any other item, such as a food business
    licence reviewed together with 市场监管 (会审), ask for the commission's opinion only.
    """

    def __init__(self, config: HealthConfig | None = None) -> None:
        self.config = config or HealthConfig()
        self._clients = PerLoopClient(self._new_client)

    def __repr__(self) -> str:
        return f"HealthAdapter(base_url={self.config.base_url!r})"

    def _new_client(self) -> HealthClient:
        return HealthClient(
            self.config.base_url,
            token=self.config.token,
            timeout=self.config.timeout,
            transport=self.config.transport,
            page_size=self.config.page_size,
        )

    def _client(self) -> HealthClient:
        return self._clients.get()

    async def aclose(self) -> None:
        """Close the connection pool this event loop uses (the next call opens a new one)."""
        await self._clients.aclose()

    # -- operations -----------------------------------------------------------------------

    async def profile(self, key: PartyKey) -> dict[str, Any] | None:
        """What the health records hold about a person, or ``None`` if nothing.

        Attributes: ``name`` (the commission's own spelling), ``sex`` (``male``/``female``),
        ``birth_date`` (ISO) and, for someone born with a certificate the commission issued,
        ``birth_certificate`` (its number, 出生证编号). The person record and the certificates
        are asked for at once.
        """
        if key.doc_type is not DocumentType.RESIDENT_ID:
            return None
        client = self._client()
        person, births = await asyncio.gather(
            client.profile(key.number), self._own_certificates(client, key, "profile")
        )
        if person is not None and person.id_number.upper() != key.number:
            raise AdapterProtocolError(
                f"{DEPARTMENT_NAME} answered a query on {key.masked()} with the record of "
                "another person; report it to the commission",
                path="$.data.idCard",
                department=DEPARTMENT_CREDIT_CODE,
                operation="profile",
            )
        birth = max(births, key=lambda c: c.issued_on, default=None)
        if person is None and birth is None:
            return None
        attributes: dict[str, Any] = {}
        if person is not None:
            attributes.update(
                name=person.name,
                sex=_SEX[person.sex],
                birth_date=person.birth_date.isoformat(),
            )
        elif birth is not None:  # registered at birth, no health record yet
            attributes.update(
                name=birth.newborn_name,
                sex=_SEX[birth.newborn_sex],
                birth_date=birth.born_at.date().isoformat(),
            )
        if birth is not None:
            attributes["birth_certificate"] = birth.number
        return attributes

    async def certificates(self, key: PartyKey) -> list[CertificateRecord]:
        """The person's own birth medical certificates (出生医学证明), with their face data."""
        if key.doc_type is not DocumentType.RESIDENT_ID:
            return []
        births = await self._own_certificates(self._client(), key, "certificates")
        return [_certificate(c) for c in births]

    async def open_review(self, request: ReviewRequest) -> str:
        """Open a review task and return the commission's task id.

        The govsvc task id is the idempotency key: delivering the same task again returns the
        same legacy id and creates nothing. For a birth medical certificate the form must use
        the commission's field names (``newbornName``, ``birthTime``, ``motherIdCard`` …, see
        :meth:`HealthClient.open_review`); an opinion-only review takes any form.
        """
        ticket = await self._client().open_review(
            request.task_id,
            request.case_id,
            request.item_code,
            request.applicant.number,
            json_form(request.form),
            kind=(
                ReviewKind.CERTIFICATE
                if request.item_code.upper() in self.config.certificate_items
                else ReviewKind.OPINION
            ),
        )
        return ticket.legacy_task_id

    async def poll_review(self, ticket: ReviewTicket) -> ReviewOutcome | None:
        """The commission's decision, or ``None`` while the task is pending.

        A rejection cites :data:`DENIAL_BASIS` (a certificate) or :data:`OPINION_DENIAL_BASIS`
        (an opinion-only review), since the system records a remark but no legal basis.
        """
        decision = await self._client().poll_review(ticket.legacy_id)
        if decision is None:
            return None
        if decision.legacy_task_id != ticket.legacy_id:
            raise AdapterProtocolError(
                f"{DEPARTMENT_NAME} answered a query on task {ticket.legacy_id} with task "
                f"{decision.legacy_task_id}",
                path="$.data.taskId",
                department=DEPARTMENT_CREDIT_CODE,
                operation="poll_review",
            )
        if decision.approved:
            return ReviewOutcome(
                approved=True, reason=decision.reason, decided_by=decision.reviewer
            )
        opinion = decision.kind is ReviewKind.OPINION
        return ReviewOutcome(
            approved=False,
            reason=decision.reason,
            basis=OPINION_DENIAL_BASIS if opinion else DENIAL_BASIS,
            decided_by=decision.reviewer,
        )

    async def issue_result(self, ticket: ReviewTicket) -> IssuedResult:
        """Issue the birth medical certificate of an approved task: number and face fields.

        Issuing again returns the same certificate.
        """
        certificate = await self._client().issue_result(ticket.legacy_id)
        return IssuedResult(
            name=BIRTH_CERTIFICATE, number=certificate.number, data=dict(certificate.face)
        )

    async def cancel_review(self, ticket: ReviewTicket) -> None:
        """Withdraw a task cancelled on the platform (withdrawal, or a denial elsewhere).

        A task the commission has already decided has nothing left to withdraw; that is not
        an error (the platform no longer waits for its decision).
        """
        await self._client().cancel_review(ticket.legacy_id, reason=CANCEL_REASON)

    async def health(self) -> bool:
        """Whether the system answers its health check with status UP."""
        return await self._client().health()

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    async def _own_certificates(
        client: HealthClient, key: PartyKey, operation: str
    ) -> list[BirthCertificateRecord]:
        births = await client.certificates(key.number)
        for index, birth in enumerate(births):
            # A certificate of someone else must never be reported as this person's.
            if (birth.newborn_id or "").upper() != key.number:
                raise AdapterProtocolError(
                    f"{DEPARTMENT_NAME} answered a query on {key.masked()} with certificate "
                    f"{birth.number} of another child; report it to the commission",
                    path=f"$.rows[{index}].newbornIdCard",
                    department=DEPARTMENT_CREDIT_CODE,
                    operation=operation,
                )
        return births


def _certificate(birth: BirthCertificateRecord) -> CertificateRecord:
    return CertificateRecord(
        type_name=BIRTH_CERTIFICATE,
        number=birth.number,
        holder_name=birth.newborn_name,
        holder_number=birth.newborn_id or "",
        issuer=birth.issuer,
        issued_on=birth.issued_on,
        valid_until=None,  # a birth certificate does not expire (长期)
        data=dict(birth.face),
    )

