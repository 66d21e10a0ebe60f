"""Async client for the market regulation bureau's legacy API (市场监管业务系统).

The client speaks the legacy dialect (``X-Api-Key``, the ``{"code": "0000", "data": ...}``
envelope, field names such as ``uniscid`` and ``lerepCerno``) and hands back small frozen
records in the domain's words. Failures become govsvc errors:

- timeout, refused connection, HTTP 5xx or 429 → :class:`~govsvc.errors.AdapterUnavailable`
  (worth retrying later);
- a body that is not JSON, lacks a field or has a wrong type, any other 4xx, or a business
  error code → :class:`~govsvc.errors.AdapterProtocolError` whose ``path`` names the bad field;
- "nothing found" (HTTP 404 with code ``2001``) → ``None`` or an empty list.

Use it as an async context manager, or call :meth:`SamrClient.aclose`::

    async with SamrClient("http://127.0.0.1:8101", api_key="samr-demo-key") as samr:
        licences = await samr.certificates("91230103MA1BX4K238")
"""

from __future__ import annotations

import datetime as dt
import enum
import json as jsonlib
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final, Literal, overload
from urllib.parse import quote

import attrs
import httpx

from govsvc import AdapterError
from govsvc.adapterkit import JsonNode, LegacyClient, LegacySystem, excerpt

DEPARTMENT_NAME = "哈尔滨市市场监督管理局"
DEPARTMENT_CREDIT_CODE = "11230100013114525L"
SYSTEM: Final = LegacySystem(department=DEPARTMENT_CREDIT_CODE, name=DEPARTMENT_NAME)
"""The bureau's system as named in every error the client raises."""

_OK = "0000"
_NOT_FOUND = "2001"
# Review task status codes: 待审查, 审查通过, 不予许可, 已发证, 已撤销.
_PENDING, _CANCELLED = "01", "05"
_TASK_STATUSES = ("01", "02", "03", "04", "05")
_CREDIT_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")
_CREDIT_CODE_WHAT = "a unified social credit code"
_CITIZEN_ID = re.compile(
    r"[0-9]{6}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]"
)


class EnterpriseStatus(enum.Enum):
    """Registration status (登记状态)."""

    ACTIVE = "存续"
    CANCELLED = "注销"


class LicenceKind(enum.Enum):
    """The kinds of licence the bureau issues."""

    BUSINESS_LICENCE = "营业执照"
    FOOD_BUSINESS_LICENCE = "食品经营许可证"


class LicenceStatus(enum.Enum):
    """Status of a licence (证照状态)."""

    VALID = "有效"
    CANCELLED = "注销"
    REVOKED = "吊销"
    EXPIRED = "过期"


def _nonempty(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty")


def _credit_code(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _CREDIT_CODE.fullmatch(value):
        raise ValueError(
            f"{attribute.name} {value!r} is not a unified social credit code "
            f"(18 characters of 0-9 and A-Z without I, O, Z, S, V)"
        )


@attrs.frozen
class EnterpriseRecord:
    """An enterprise as registered (企业登记信息).

    ``registered_capital`` is in 万元 (units of 10,000) of ``capital_currency``.
    """

    credit_code: str = attrs.field(validator=_credit_code)
    name: str = attrs.field(validator=_nonempty)
    kind: str
    legal_representative: str = attrs.field(validator=_nonempty)
    legal_representative_id: str = attrs.field(validator=_nonempty)
    registered_capital: Decimal
    capital_currency: str
    address: str
    established_on: dt.date
    status: EnterpriseStatus
    registration_authority: str
    business_scope: str


@attrs.frozen
class LegalRepresentativeRecord:
    """A person as the bureau knows them: the enterprises they represent (法定代表人)."""

    name: str = attrs.field(validator=_nonempty)
    id_number: str = attrs.field(validator=_nonempty)
    enterprises: tuple[EnterpriseRecord, ...]


@attrs.frozen
class LicenceRecord:
    """A licence: 营业执照 (its number is the credit code) or 食品经营许可证.

    ``valid_until`` None means long-term (长期). ``face`` holds the printed fields in
    order as (label, value) pairs; ``dict(record.face)`` gives a mapping.
    """

    kind: LicenceKind
    number: str = attrs.field(validator=_nonempty)
    holder_name: str = attrs.field(validator=_nonempty)
    holder_credit_code: str = attrs.field(validator=_credit_code)
    issuer: str = attrs.field(validator=_nonempty)
    issued_on: dt.date
    valid_from: dt.date
    valid_until: dt.date | None = attrs.field()
    status: LicenceStatus
    business_items: tuple[str, ...] = ()
    face: tuple[tuple[str, str], ...] = ()

    @valid_until.validator
    def _ends_after_start(self, _: attrs.Attribute[Any], value: dt.date | None) -> None:
        if value is not None and value < self.valid_from:
            raise ValueError(f"licence ends ({value}) before it starts ({self.valid_from})")


@attrs.frozen
class ReviewTicket:
    """A review task opened in the legacy system (审查任务)."""

    legacy_task_id: str = attrs.field(validator=_nonempty)
    task_id: str = attrs.field(validator=_nonempty)
    opened_at: dt.datetime


@attrs.frozen
class ReviewDecision:
    """The bureau's decision on a review task. A denial always carries its reason."""

    legacy_task_id: str
    approved: bool
    reason: str = attrs.field()
    reviewer: str
    decided_at: dt.datetime

    @reason.validator
    def _denial_has_reason(self, _: attrs.Attribute[Any], value: str) -> None:
        if not self.approved and not value.strip():
            raise ValueError("a denial (不予许可) must state its reason")


def looks_like_citizen_id(value: str) -> bool:
    """True for an 18-character citizen ID shape (digits, a birth date, last digit or X)."""
    return bool(_CITIZEN_ID.fullmatch(value.strip().upper()))


class SamrClient(LegacyClient):
    """Client for the legacy market regulation API; one connection pool per object."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            timeout=timeout,
            transport=transport,
            headers={"X-Api-Key": api_key, "Accept": "application/json"},
        )

    # -- lookups -----------------------------------------------------------------------------

    async def enterprise(self, credit_code: str) -> EnterpriseRecord | None:
        """The registration data of an enterprise, or None if the bureau has none."""
        code = credit_code.strip().upper()
        data = await self._call(
            "enterprise", "GET", f"/api/v1/enterprises/{quote(code, safe='')}", missing_ok=True
        )
        return None if data is None else _enterprise(data)

    async def enterprises_of(self, id_number: str) -> LegalRepresentativeRecord | None:
        """The enterprises a person represents legally, or None if they represent none."""
        person = id_number.strip().upper()
        data = await self._call(
            "enterprises_of",
            "GET",
            f"/api/v1/persons/{quote(person, safe='')}/enterprises",
            missing_ok=True,
        )
        if data is None:
            return None
        enterprises = tuple(_enterprise(e) for e in data["enterprises"].elements())
        return data.build(
            LegalRepresentativeRecord,
            name=data["name"].text(),
            id_number=data["cerno"].text(),
            enterprises=enterprises,
        )

    async def profile(self, id_number: str) -> EnterpriseRecord | LegalRepresentativeRecord | None:
        """What the bureau holds about a person (citizen ID) or an organisation (credit code).

        A number shaped like a citizen ID (17 digits with a birth date, then a digit or X)
        is looked up as a legal representative, anything else as an enterprise.
        """
        if looks_like_citizen_id(id_number):
            return await self.enterprises_of(id_number)
        return await self.enterprise(id_number)

    async def certificates(self, holder_id: str) -> list[LicenceRecord]:
        """Licences issued to an enterprise (营业执照, 食品经营许可证); [] if it holds none."""
        holder = holder_id.strip().upper()
        data = await self._call(
            "certificates", "GET", "/api/v1/licences", params={"holder": holder}, missing_ok=True
        )
        if data is None:
            return []
        return [_licence(item) for item in data["list"].elements()]

    # -- review tasks ------------------------------------------------------------------------

    async def open_review(
        self,
        task_id: str,
        case_id: str,
        item_code: str,
        applicant_id: str,
        form: Mapping[str, Any],
    ) -> ReviewTicket:
        """Open a review task; ``task_id`` (the govsvc task id) is the idempotency key.

        Calling again with the same ``task_id`` and the same content returns the same ticket,
        so a retry after a timeout never opens a second task.
        """
        data = await self._call(
            "open_review",
            "POST",
            "/api/v1/review-tasks",
            headers={"Idempotency-Key": task_id},
            json={
                "caseId": case_id,
                "itemCode": item_code,
                "applicantId": applicant_id,
                "form": dict(form),
            },
        )
        if data["bizKey"].text() != task_id:
            data["bizKey"].fail(f"the system answered for another idempotency key than {task_id!r}")
        return data.build(
            ReviewTicket,
            legacy_task_id=data["taskId"].text(),
            task_id=task_id,
            opened_at=data["createTime"].datetime(),
        )

    async def poll_review(self, legacy_task_id: str) -> ReviewDecision | None:
        """The decision on a review task, or None while it is still pending (待审查)."""
        data = await self._call("poll_review", "GET", _task_path(legacy_task_id))
        return _decision(data)

    async def decide_review(
        self, legacy_task_id: str, *, approve: bool, reason: str = "", reviewer: str = "模拟审查员"
    ) -> ReviewDecision:
        """Decide a pending task. Simulator control: the real bureau decides in its back office."""
        data = await self._call(
            "decide_review",
            "POST",
            _task_path(legacy_task_id) + "/decision",
            json={
                "result": "approve" if approve else "deny",
                "reason": reason,
                "reviewer": reviewer,
            },
        )
        decision = _decision(data)
        if decision is None:
            data["status"].fail("the task is still pending after the decision was sent")
        return decision

    async def issue_result(self, legacy_task_id: str) -> LicenceRecord:
        """Issue the 食品经营许可证 of an approved task; asking again returns the same licence."""
        data = await self._call("issue_result", "POST", _task_path(legacy_task_id) + "/issue")
        return _licence(data)

    async def cancel_review(self, legacy_task_id: str, *, reason: str) -> bool:
        """Withdraw a pending review task (撤销), e.g. because the application was withdrawn.

        True when the task is withdrawn (now or before: asking again is harmless), False when
        it had already been decided, so there was nothing left to withdraw.
        """
        data = await self._call(
            "cancel_review",
            "POST",
            _task_path(legacy_task_id) + "/cancel",
            json={"reason": reason},
        )
        status = data["status"].text()
        if status not in _TASK_STATUSES:
            data["status"].fail(f"unknown task status {status!r}; expected one of 01 to 05")
        if status == _PENDING:
            data["status"].fail("the task is still pending after it was withdrawn")
        return status == _CANCELLED

    async def health(self) -> bool:
        """True when the system answers its health check with status UP."""
        try:
            data = await self._call("health", "GET", "/health")
            return data["status"].text() == "UP"
        except AdapterError:
            return False

    # -- plumbing ----------------------------------------------------------------------------

    @overload
    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = ...,
        json: Any = ...,
        headers: Mapping[str, str] | None = ...,
        missing_ok: Literal[False] = ...,
    ) -> JsonNode: ...

    @overload
    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = ...,
        json: Any = ...,
        headers: Mapping[str, str] | None = ...,
        missing_ok: bool,
    ) -> JsonNode | None: ...

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> JsonNode | None:
        """Send one request; the envelope's ``data`` node, or None for "not found" if allowed."""
        response = await SYSTEM.send(
            self._http, operation, method, path, params=params, json=json, headers=headers
        )
        SYSTEM.check_available(response, operation)
        status = response.status_code
        if status >= 400:
            code, msg = _envelope_error(response.content)
            if status == 404 and missing_ok and code == _NOT_FOUND:
                return None
            hint = {
                401: "; check the API key (X-Api-Key) configured for this department",
                404: "; check the base URL and the identifier",
            }.get(status, "")
            raise SYSTEM.protocol_error(
                operation,
                f"refused {operation} with HTTP {status} "
                f"(code {code or '?'}: {msg or excerpt(response.content)}){hint}",
            )

        root = SYSTEM.read_json(response.content, operation)
        code = root["code"].text()
        if code != _OK:
            if code == _NOT_FOUND and missing_ok:
                return None
            message = root.optional("msg")
            root["code"].fail(
                f"business error {code}: {message.value if message is not None else 'no message'}"
            )
        return root["data"]


def _task_path(legacy_task_id: str) -> str:
    return f"/api/v1/review-tasks/{quote(legacy_task_id, safe='')}"


def _envelope_error(body: bytes) -> tuple[str | None, str | None]:
    """``code`` and ``msg`` of an error envelope, if the body is one."""
    try:
        parsed = jsonlib.loads(body)
    except (UnicodeDecodeError, jsonlib.JSONDecodeError):
        return None, None
    if not isinstance(parsed, dict):
        return None, None
    code, msg = parsed.get("code"), parsed.get("msg")
    return (code if isinstance(code, str) else None, msg if isinstance(msg, str) else None)


def _enterprise(node: JsonNode) -> EnterpriseRecord:
    return node.build(
        EnterpriseRecord,
        credit_code=node["uniscid"].text(_CREDIT_CODE, what=_CREDIT_CODE_WHAT),
        name=node["entname"].text(),
        kind=node["enttype"].text(),
        legal_representative=node["lerep"].text(),
        legal_representative_id=node["lerepCerno"].text(),
        registered_capital=node["regcap"].decimal(),
        capital_currency=node["regcapcur"].text(),
        address=node["dom"].text(),
        established_on=node["estdate"].date(),
        status=node["regstate"].enum(EnterpriseStatus),
        registration_authority=node["regorg"].text(),
        business_scope=node.optional_text("opscope"),
    )


def _licence(node: JsonNode) -> LicenceRecord:
    valid_to = node.optional("validTo")
    items = node.optional("items")
    face = node.optional("face")
    return node.build(
        LicenceRecord,
        kind=node["licType"].enum(LicenceKind),
        number=node["licNo"].text(),
        holder_name=node["holderName"].text(),
        holder_credit_code=node["holderCode"].text(_CREDIT_CODE, what=_CREDIT_CODE_WHAT),
        issuer=node["issueOrg"].text(),
        issued_on=node["issueDate"].date(),
        valid_from=node["validFrom"].date(),
        valid_until=None if valid_to is None else valid_to.date(),
        status=node["licState"].enum(LicenceStatus),
        business_items=() if items is None else items.texts(),
        face=() if face is None else tuple(face.text_map().items()),
    )


def _decision(node: JsonNode) -> ReviewDecision | None:
    status = node["status"].text()
    if status == _PENDING:
        return None
    if status == _CANCELLED:
        node["status"].fail(
            "the task was withdrawn (05 已撤销) in the bureau's system and will never be decided"
        )
    if status not in _TASK_STATUSES:
        node["status"].fail(f"unknown task status {status!r}; expected one of 01 to 05")
    approved = status != "03"
    return node.build(
        ReviewDecision,
        legacy_task_id=node["taskId"].text(),
        approved=approved,
        reason=node["opinion"].text() if not approved else node.optional_text("opinion"),
        reviewer=node["reviewer"].text(),
        decided_at=node["decideTime"].datetime(),
    )
