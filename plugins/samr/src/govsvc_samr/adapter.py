"""The govsvc department adapter for 哈尔滨市市场监督管理局 (market regulation bureau).

:class:`SamrAdapter` wraps :class:`~govsvc_samr.client.SamrClient` and speaks the platform's
types: a :class:`govsvc.PartyKey` in; a profile mapping, :class:`govsvc.CertificateRecord`,
:class:`govsvc.ReviewOutcome` and :class:`govsvc.IssuedResult` out. Its configuration is a
:class:`SamrConfig`, usually read from the environment (``GOVSVC_SAMR_*``)::

    adapter = SamrAdapter(SamrConfig.from_env())
    company = await adapter.profile(govsvc.PartyKey.of("91230103MA1BX4K238"))
    company["legal_representative"]   # '张伟'

The platform calls adapters on its own background event loop, and an ``httpx.AsyncClient``
must be used on the loop it was created on, so the adapter creates its client lazily, on first
use, inside the running loop (one client per loop).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

import attrs
import httpx

from govsvc import (
    AdapterProtocolError,
    CertificateRecord,
    DocumentType,
    Finding,
    InvalidInput,
    IssuedResult,
    PartyKey,
    PrereviewRequest,
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
from govsvc_samr.client import (
    DEPARTMENT_CREDIT_CODE,
    DEPARTMENT_NAME,
    EnterpriseRecord,
    EnterpriseStatus,
    LicenceRecord,
    LicenceStatus,
    SamrClient,
)

__all__ = [
    "CANCEL_REASON",
    "DEFAULT_API_KEY",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "DENIAL_BASIS",
    "SamrAdapter",
    "SamrConfig",
]

DEFAULT_URL: Final = "http://127.0.0.1:8101"

FOOD_LICENCE_ITEM: Final = "11230100013114525L3000176010001"
"""食品经营许可（新办） in the sample catalogue; its material M02 is the 营业执照."""
BUSINESS_LICENCE_MATERIAL: Final = "M02"
"""Where the adapter looks for the bureau's system unless ``GOVSVC_SAMR_URL`` says otherwise."""

DEFAULT_API_KEY: Final = "samr-demo-key"
"""The simulator's API key; set ``GOVSVC_SAMR_API_KEY`` for a real system."""

DEFAULT_TIMEOUT: Final = 5.0

DENIAL_BASIS: Final = "《中华人民共和国行政许可法》第三十八条第二款；《食品经营许可和备案管理办法》"
"""Legal basis reported with a denial: the bureau's system records a reason but no basis."""

CANCEL_REASON: Final = "申请人已撤回申请或其他部门不予许可，政务服务平台撤销本审查任务"
"""The reason sent with a withdrawal (the platform's ticket does not say which it was)."""

_LICENCE_STATUS: Final = {
    LicenceStatus.VALID: "valid",
    LicenceStatus.CANCELLED: "cancelled",
    LicenceStatus.REVOKED: "revoked",
    LicenceStatus.EXPIRED: "expired",
}


def _is_key(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise InvalidInput(
            f"{attribute.name} is empty; set GOVSVC_SAMR_API_KEY to the key the bureau issued"
        )


@attrs.frozen(kw_only=True)
class SamrConfig:
    """How to reach the bureau's system: address, API key (``X-Api-Key``) and time limit.

    ``timeout`` (seconds) bounds each HTTP exchange and is also the platform's per-call limit
    for the department. ``transport`` is the test seam; leave it ``None`` in production (and
    under pytest-httpx).
    """

    base_url: str = attrs.field(default=DEFAULT_URL, validator=is_http_url)
    api_key: str = attrs.field(default=DEFAULT_API_KEY, validator=_is_key, repr=False)
    timeout: float = attrs.field(
        default=DEFAULT_TIMEOUT, converter=float, validator=is_positive_seconds
    )
    transport: httpx.AsyncBaseTransport | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SamrConfig:
        """Read ``GOVSVC_SAMR_URL``, ``GOVSVC_SAMR_API_KEY`` and ``GOVSVC_SAMR_TIMEOUT``.

        Unset variables keep the loopback defaults, which match the simulator
        (``python -m govsvc_samr.simulator``).
        """
        env = os.environ if environ is None else environ
        return cls(
            base_url=env.get("GOVSVC_SAMR_URL", DEFAULT_URL),
            api_key=env.get("GOVSVC_SAMR_API_KEY", DEFAULT_API_KEY),
            timeout=seconds_from_env(env, "GOVSVC_SAMR_TIMEOUT", DEFAULT_TIMEOUT),
        )


class SamrAdapter:
    """Department adapter for 哈尔滨市市场监督管理局: enterprises, licences, review, result.

    The bureau is the source of truth (一数一源) for enterprise registrations. It knows
    enterprises by credit code and people as their legal representatives (法定代表人); keys
    of other document types get ``None`` / an empty list without a call.
    """

    def __init__(self, config: SamrConfig | None = None) -> None:
        self.config = config or SamrConfig()
        self._clients = PerLoopClient(self._new_client)

    def __repr__(self) -> str:
        return f"SamrAdapter(base_url={self.config.base_url!r})"

    def _new_client(self) -> SamrClient:
        return SamrClient(
            self.config.base_url,
            self.config.api_key,
            timeout=self.config.timeout,
            transport=self.config.transport,
        )

    def _client(self) -> SamrClient:
        return self._clients.get()

    async def aclose(self) -> None:
        """Close the connection pool this event loop uses (the next call opens a new one)."""
        await self._clients.aclose()

    # -- operations -----------------------------------------------------------------------

    async def profile(self, key: PartyKey) -> dict[str, Any] | None:
        """What the bureau holds about an enterprise or a person, or ``None`` if nothing.

        An enterprise (credit code): ``name``, ``address`` (住所), ``enterprise_type``,
        ``legal_representative``, ``registered_capital`` (e.g. ``"50万元人民币"``),
        ``established_on`` (ISO), ``registration_status`` (登记状态, e.g. ``"存续"``),
        ``registration_authority`` and ``business_scope``.

        A person (citizen ID): ``name`` and ``enterprises``, a list of
        ``{"credit_code", "name", "registration_status", "role"}`` for every enterprise they
        represent legally (cancelled ones included, with their status).
        """
        if key.doc_type is DocumentType.CREDIT_CODE:
            enterprise = await self._client().enterprise(key.number)
            if enterprise is None:
                return None
            if enterprise.credit_code != key.number:
                raise self._someone_else(key, "profile", "$.data.uniscid")
            return _enterprise_profile(enterprise)
        if key.doc_type is DocumentType.RESIDENT_ID:
            person = await self._client().enterprises_of(key.number)
            if person is None:
                return None
            if person.id_number.upper() != key.number:
                raise self._someone_else(key, "profile", "$.data.cerno")
            return {
                "name": person.name,
                "enterprises": [
                    {
                        "credit_code": e.credit_code,
                        "name": e.name,
                        "registration_status": e.status.value,
                        "role": "法定代表人",
                    }
                    for e in person.enterprises
                ],
            }
        return None

    async def prereview(self, request: PrereviewRequest) -> list[Finding]:
        """Automated pre-review of a food business licence application (受理预审).

        The applicant must be a market entity registered here and still in business (存续):
        an enterprise by its credit code, or a person who represents one. A problem becomes a
        finding on the business-licence material (M02), which the platform puts in the
        one-time notice. Other items: no automated checks (``[]``, without a call).
        """
        if request.item_code != FOOD_LICENCE_ITEM:
            return []
        key = request.applicant
        if key.doc_type is DocumentType.CREDIT_CODE:
            enterprise = await self._client().enterprise(key.number)
            if enterprise is None:
                problem = "申请人未在市场监管部门登记，请先办理营业执照"
            elif enterprise.status is not EnterpriseStatus.ACTIVE:
                problem = f"申请人登记状态为“{enterprise.status.value}”，不能申请食品经营许可"
            else:
                return []
        elif key.doc_type is DocumentType.RESIDENT_ID:
            person = await self._client().enterprises_of(key.number)
            active = [
                e
                for e in (person.enterprises if person else ())
                if e.status is EnterpriseStatus.ACTIVE
            ]
            if active:
                return []
            problem = "申请人名下无存续的市场主体，请以持有营业执照的企业或个体工商户名义申请"
        else:
            return []
        return [Finding(material=BUSINESS_LICENCE_MATERIAL, problem=problem)]

    async def certificates(self, key: PartyKey) -> list[CertificateRecord]:
        """The licences issued to an enterprise: 营业执照 and 食品经营许可证.

        ``data`` holds the printed face fields (照面信息). A person holds no licence of the
        bureau's: ``[]``, without a call.
        """
        if key.doc_type is not DocumentType.CREDIT_CODE:
            return []
        licences = await self._client().certificates(key.number)
        for index, licence in enumerate(licences):
            if licence.holder_credit_code != key.number:
                raise AdapterProtocolError(
                    f"{DEPARTMENT_NAME} answered a query on {key.number} with licence "
                    f"{licence.number} of {licence.holder_credit_code}; report it to the bureau",
                    path=f"$.data.list[{index}].holderCode",
                    department=DEPARTMENT_CREDIT_CODE,
                    operation="certificates",
                )
        return [_certificate(licence) for licence in licences]

    async def open_review(self, request: ReviewRequest) -> str:
        """Open a review task (e.g. 食品经营许可) and return the bureau's task id.

        The govsvc task id is the idempotency key: delivering the same task again returns the
        same legacy id and creates nothing. The form goes as JSON; the bureau reads
        ``businessFormat`` (主体业态), ``businessItems`` (经营项目), ``premises`` (经营场所)
        and, for an applicant it has not registered, ``holderName``.
        """
        ticket = await self._client().open_review(
            request.task_id,
            request.case_id,
            request.item_code,
            request.applicant.number,
            json_form(request.form),
        )
        return ticket.legacy_task_id

    async def poll_review(self, ticket: ReviewTicket) -> ReviewOutcome | None:
        """The bureau's decision, or ``None`` while the task is pending.

        Every denial cites :data:`DENIAL_BASIS`, since the bureau's system records none.
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
        return ReviewOutcome(
            approved=False,
            reason=decision.reason,
            basis=DENIAL_BASIS,
            decided_by=decision.reviewer,
        )

    async def issue_result(self, ticket: ReviewTicket) -> IssuedResult:
        """Issue the licence of an approved task: its number, validity and face fields.

        Issuing again returns the same licence.
        """
        licence = await self._client().issue_result(ticket.legacy_id)
        return IssuedResult(
            name=licence.kind.value,
            number=licence.number,
            data=dict(licence.face),
            valid_until=licence.valid_until,
        )

    async def cancel_review(self, ticket: ReviewTicket) -> None:
        """Withdraw a task cancelled on the platform (withdrawal, or a denial elsewhere).

        A task the bureau has already decided has nothing left to withdraw; that is not an
        error (the platform no longer waits for its decision).
        """
        await self._client().cancel_review(ticket.legacy_id, reason=CANCEL_REASON)

    async def health(self) -> bool:
        """Whether the system answers its health check with status UP."""
        return await self._client().health()

    # -- checks -----------------------------------------------------------------------------

    @staticmethod
    def _someone_else(key: PartyKey, operation: str, path: str) -> AdapterProtocolError:
        # An answer about another party must never reach a profile.
        return AdapterProtocolError(
            f"{DEPARTMENT_NAME} answered a query on {key.masked()} with the record of another "
            "party; report it to the bureau",
            path=path,
            department=DEPARTMENT_CREDIT_CODE,
            operation=operation,
        )


def _enterprise_profile(enterprise: EnterpriseRecord) -> dict[str, Any]:
    capital = enterprise.registered_capital.normalize()
    return {
        "name": enterprise.name,
        "address": enterprise.address,
        "enterprise_type": enterprise.kind,
        "legal_representative": enterprise.legal_representative,
        "registered_capital": f"{capital:f}万元{enterprise.capital_currency}",
        "established_on": enterprise.established_on.isoformat(),
        "registration_status": enterprise.status.value,
        "registration_authority": enterprise.registration_authority,
        "business_scope": enterprise.business_scope,
    }


def _certificate(licence: LicenceRecord) -> CertificateRecord:
    return CertificateRecord(
        type_name=licence.kind.value,
        number=licence.number,
        holder_name=licence.holder_name,
        holder_number=licence.holder_credit_code,
        issuer=licence.issuer,
        issued_on=licence.issued_on,
        valid_until=licence.valid_until,
        status=_LICENCE_STATUS[licence.status],
        data=dict(licence.face),
    )

