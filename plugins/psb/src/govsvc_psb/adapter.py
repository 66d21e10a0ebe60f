"""The govsvc department adapter for 哈尔滨市公安局's household register (户籍).

:class:`PsbAdapter` wraps :class:`~govsvc_psb.client.PsbClient` and speaks the platform's
types: a :class:`govsvc.PartyKey` in, a profile mapping, :class:`govsvc.CertificateRecord`,
:class:`govsvc.ReviewOutcome` and :class:`govsvc.IssuedResult` out. Its configuration is a
:class:`PsbConfig`, usually read from the environment (``GOVSVC_PSB_*``)::

    adapter = PsbAdapter(PsbConfig.from_env())
    person = await adapter.profile(govsvc.PartyKey.of("230103198503120316"))
    person["address"]   # '黑龙江省哈尔滨市南岗区学府路52号'

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
from govsvc_psb.client import DEPARTMENT, HouseholdEntry, Person, PsbClient, Sex
from govsvc_psb.seed import DEPARTMENT_NAME

__all__ = ["DEFAULT_URL", "DENIAL_BASIS", "PsbAdapter", "PsbConfig"]

DEFAULT_URL: Final = "http://127.0.0.1:8102"
"""Where the adapter looks for the bureau's service unless ``GOVSVC_PSB_URL`` says otherwise."""

DENIAL_BASIS: Final = "《中华人民共和国户口登记条例》"
"""Legal basis reported with a denial: the register's decisions carry a reason but no basis."""

HOUSEHOLD_BOOKLET: Final = "居民户口簿"

_SEX: Final = {Sex.MALE: "male", Sex.FEMALE: "female"}


@attrs.frozen(kw_only=True)
class PsbConfig:
    """How to reach the household register: address, WS-Security account and time limit.

    ``timeout`` (seconds) bounds each HTTP exchange and is also the platform's per-call limit
    for the department. ``transport`` is the test seam; leave it ``None`` in production (and
    under pytest-httpx).
    """

    base_url: str = attrs.field(default=DEFAULT_URL, validator=is_http_url)
    username: str = "govsvc"
    password: str = attrs.field(default="hukou-sim", repr=False)
    timeout: float = attrs.field(default=5.0, converter=float, validator=is_positive_seconds)
    transport: httpx.AsyncBaseTransport | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PsbConfig:
        """Read ``GOVSVC_PSB_URL``, ``_USERNAME``, ``_PASSWORD`` and ``_TIMEOUT``.

        Unset variables keep the loopback defaults, which match the simulator
        (``python -m govsvc_psb.simulator``).
        """
        env = os.environ if environ is None else environ
        return cls(
            base_url=env.get("GOVSVC_PSB_URL", DEFAULT_URL),
            username=env.get("GOVSVC_PSB_USERNAME", "govsvc"),
            password=env.get("GOVSVC_PSB_PASSWORD", "hukou-sim"),
            timeout=seconds_from_env(env, "GOVSVC_PSB_TIMEOUT", 5.0),
        )


class PsbAdapter:
    """Department adapter for 哈尔滨市公安局 (户籍): profile, certificates, review, result.

    The bureau is the source of truth (一数一源) for name, sex, birth date, address and
    ethnicity. Its register knows residents only: keys that are not a 居民身份证 number get
    ``None`` / an empty list without a call.
    """

    def __init__(self, config: PsbConfig | None = None) -> None:
        self.config = config or PsbConfig()
        self._clients = PerLoopClient(self._new_client)

    def __repr__(self) -> str:
        return f"PsbAdapter(base_url={self.config.base_url!r})"

    def _new_client(self) -> PsbClient:
        return PsbClient(
            self.config.base_url,
            username=self.config.username,
            password=self.config.password,
            timeout=self.config.timeout,
            transport=self.config.transport,
        )

    def _client(self) -> PsbClient:
        return self._clients.get()

    async def aclose(self) -> None:
        """Close the connection pool this event loop uses (the next call opens a new one)."""
        await self._clients.aclose()

    # -- operations -----------------------------------------------------------------------

    async def profile(self, key: PartyKey) -> dict[str, Any] | None:
        """What the register holds about a resident, or ``None`` if nobody is registered.

        Attributes: ``name``, ``sex`` (``male``/``female``), ``birth_date`` (ISO),
        ``ethnicity``, ``address`` (户籍地址), ``household_number`` (户号) and
        ``relation_to_head`` (与户主关系).
        """
        if key.doc_type is not DocumentType.RESIDENT_ID:
            return None
        person = await self._client().profile(key.number)
        if person is None:
            return None
        self._same_person(person, key, "profile", "/Envelope/Body/QueryPersonResponse/person")
        return {
            "name": person.name,
            "sex": _SEX[person.sex],
            "birth_date": person.birth_date.isoformat(),
            "ethnicity": person.ethnicity,
            "address": person.address,
            "household_number": person.household_number,
            "relation_to_head": person.relation_to_head,
        }

    async def certificates(self, key: PartyKey) -> list[CertificateRecord]:
        """The resident's household register booklet (居民户口簿), or nothing if unregistered.

        The booklet's number is the household number (户号); its face data lists the household
        address, kind (家庭户 / 集体户), head of household and the holder's relation to them.
        """
        if key.doc_type is not DocumentType.RESIDENT_ID:
            return []
        client = self._client()
        person = await client.profile(key.number)
        if person is None:
            return []
        path = "/Envelope/Body/QueryPersonResponse/person"
        self._same_person(person, key, "certificates", path)
        household = await client.household(person.household_number)
        if household is None:
            raise AdapterProtocolError(
                f"{DEPARTMENT_NAME} lists {key.masked()} in household {person.household_number}"
                ", but has no such household; report the inconsistency to the bureau",
                path=f"{path}/householdNumber",
                department=DEPARTMENT,
                operation="certificates",
            )
        head = next((m.name for m in household.members if m.relation_to_head == "户主"), "")
        return [
            CertificateRecord(
                type_name=HOUSEHOLD_BOOKLET,
                number=household.household_number,
                holder_name=person.name,
                holder_number=person.id_number,
                issuer=DEPARTMENT_NAME,
                data={
                    "household_address": household.address,
                    "household_kind": household.kind,
                    "head_of_household": head,
                    "relation_to_head": person.relation_to_head,
                },
            )
        ]

    async def open_review(self, request: ReviewRequest) -> str:
        """Open a review task (出生登记, 户口迁移) and return the bureau's task id.

        The govsvc task id is the idempotency key: delivering the same task again returns the
        same legacy id and creates nothing. The form goes field by field; values that are not
        text, whole numbers or dates are sent as their JSON text.
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
                path="/Envelope/Body/CreateReviewTaskResponse/reviewTask/taskId",
                department=DEPARTMENT,
                operation="open_review",
            )
        return ticket.legacy_task_id

    async def poll_review(self, ticket: ReviewTicket) -> ReviewOutcome | None:
        """The bureau's decision, or ``None`` while the task is pending.

        A denial without a stated reason gets a generic one, and every denial cites
        :data:`DENIAL_BASIS`, since the register does not report a legal basis.
        """
        decision = await self._client().poll_review(ticket.legacy_id)
        if decision is None:
            return None
        if decision.legacy_task_id != ticket.legacy_id:
            raise AdapterProtocolError(
                f"{DEPARTMENT_NAME} answered a query on task {ticket.legacy_id} with task "
                f"{decision.legacy_task_id}",
                path="/Envelope/Body/QueryReviewTaskResponse/reviewTask/legacyTaskId",
                department=DEPARTMENT,
                operation="poll_review",
            )
        if decision.approved:
            return ReviewOutcome(approved=True, reason=decision.reason)
        return ReviewOutcome(
            approved=False,
            reason=decision.reason
            or f"{DEPARTMENT_NAME}审核不予通过（未说明理由，请向户籍窗口咨询）",
            basis=DENIAL_BASIS,
        )

    async def issue_result(self, ticket: ReviewTicket) -> IssuedResult:
        """Write the approved registration into the register; the booklet page it produces.

        ``number`` is the bureau's entry number; ``data`` holds the face fields of the
        household booklet page (for a birth registration, the newborn's new citizen ID).
        Issuing again returns the same entry.
        """
        entry = await self._client().issue_result(ticket.legacy_id)
        return IssuedResult(
            name=f"{HOUSEHOLD_BOOKLET}（{entry.kind}）",
            number=entry.entry_number,
            data=_entry_face(entry),
        )

    async def health(self) -> bool:
        """Whether the service answers (it publishes its WSDL)."""
        return await self._client().health()

    # -- checks -----------------------------------------------------------------------------

    @staticmethod
    def _same_person(person: Person, key: PartyKey, operation: str, path: str) -> None:
        # A register that answers with someone else's record must never reach a profile.
        if person.id_number != key.number:
            raise AdapterProtocolError(
                f"{DEPARTMENT_NAME} answered a query on {key.masked()} with the record of "
                "another person",
                path=f"{path}/idNumber",
                department=DEPARTMENT,
                operation=operation,
            )


def _entry_face(entry: HouseholdEntry) -> dict[str, str]:
    return {
        "registration_type": entry.kind,
        "id_number": entry.id_number,
        "name": entry.name,
        "sex": _SEX[entry.sex],
        "birth_date": entry.birth_date.isoformat(),
        "ethnicity": entry.ethnicity,
        "address": entry.address,
        "household_number": entry.household_number,
        "relation_to_head": entry.relation_to_head,
        "registered_on": entry.registered_on.isoformat(),
    }
