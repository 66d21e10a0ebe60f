"""Async client for the health commission's legacy API (卫生健康信息系统).

The legacy system answers in the style of many Java back offices:
``{"code": 200, "msg": "操作成功", "data": ...}`` for one object and
``{"code": 200, "msg": "查询成功", "total": n, "rows": [...]}`` for a page of a list; an optional
bearer token guards it. The client hands back frozen records and maps failures to govsvc
errors:

- timeout, refused connection, HTTP 5xx or 429 → :class:`~govsvc.errors.AdapterUnavailable`;
- a body that is not JSON, lacks a field or has a wrong type, any other 4xx, or an error
  ``code`` inside a 200 answer → :class:`~govsvc.errors.AdapterProtocolError` (``path`` names
  the bad field);
- "nothing found" (HTTP 404 with code 404) → ``None`` or an empty list.

::

    async with HealthClient("http://127.0.0.1:8104") as health:
        [certificate] = await health.certificates("230103202401050029")
"""

from __future__ import annotations

import datetime as dt
import enum
import json as jsonlib
import re
from collections.abc import Mapping
from typing import Any, Final, Literal, overload
from urllib.parse import quote

import attrs
import httpx

from govsvc import AdapterError
from govsvc.adapterkit import BEIJING, JsonNode, LegacyClient, LegacySystem, excerpt

__all__ = [
    "BEIJING",
    "DEPARTMENT_CREDIT_CODE",
    "DEPARTMENT_NAME",
    "SYSTEM",
    "BirthCertificateRecord",
    "HealthClient",
    "ParentRecord",
    "PersonRecord",
    "ReviewDecision",
    "ReviewKind",
    "ReviewTicket",
    "Sex",
]

DEPARTMENT_NAME = "哈尔滨市卫生健康委员会"
DEPARTMENT_CREDIT_CODE = "11230100MB1935270B"
SYSTEM: Final = LegacySystem(department=DEPARTMENT_CREDIT_CODE, name=DEPARTMENT_NAME)
"""The commission's system as named in every error the client raises."""

_OK = 200
_NOT_FOUND = 404
_CERTIFICATE_NUMBER = re.compile(r"[A-Z][0-9]{9}")
_TASK_STATUSES = ("PENDING", "APPROVED", "REJECTED", "ISSUED", "CANCELLED")
_STATUS_LIST = ", ".join(_TASK_STATUSES)


class ReviewKind(enum.Enum):
    """What a review task asks of the commission (``taskType``)."""

    CERTIFICATE = "CERTIFICATE"
    """Review an application for a birth medical certificate, then issue it."""
    OPINION = "OPINION"
    """Give the commission's opinion only (审核意见), e.g. in a joint review (会审) of another
    department's application; nothing is issued."""


class Sex(enum.Enum):
    """Sex as printed on certificates (性别)."""

    MALE = "男"
    FEMALE = "女"


def _nonempty(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be empty")


@attrs.frozen
class PersonRecord:
    """Basic person data from the resident health records (居民电子健康档案).

    The spelling of ``name`` is the health system's own and may differ from 公安's.
    """

    id_number: str = attrs.field(validator=_nonempty)
    name: str = attrs.field(validator=_nonempty)
    sex: Sex
    birth_date: dt.date


@attrs.frozen
class ParentRecord:
    """A parent as printed on a birth medical certificate."""

    name: str = attrs.field(validator=_nonempty)
    id_number: str = attrs.field(validator=_nonempty)


def _certificate_number(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _CERTIFICATE_NUMBER.fullmatch(value):
        raise ValueError(
            f"{attribute.name} {value!r} is not a birth certificate number "
            f"(one capital letter for the edition, then 9 digits, e.g. Q230123456)"
        )


@attrs.frozen
class BirthCertificateRecord:
    """A birth medical certificate (出生医学证明).

    ``newborn_id`` is None until 公安 registers the child and the number is filled in;
    ``father`` is None when the certificate leaves the father blank.
    """

    number: str = attrs.field(validator=_certificate_number)
    newborn_name: str = attrs.field(validator=_nonempty)
    newborn_sex: Sex
    newborn_id: str | None
    born_at: dt.datetime
    birth_place: str
    hospital: str = attrs.field(validator=_nonempty)
    gestational_weeks: int
    weight_grams: int
    length_cm: int
    mother: ParentRecord
    father: ParentRecord | None
    issuer: str = attrs.field(validator=_nonempty)
    issued_on: dt.date = attrs.field()

    @issued_on.validator
    def _issued_after_birth(self, _: attrs.Attribute[Any], value: dt.date) -> None:
        if value < self.born_at.date():
            raise ValueError(f"certificate issued ({value}) before the birth ({self.born_at})")

    @property
    def face(self) -> tuple[tuple[str, str], ...]:
        """The printed fields in order, as (label, value) pairs."""
        fields = [
            ("新生儿姓名", self.newborn_name),
            ("性别", self.newborn_sex.value),
            ("出生时间", self.born_at.strftime("%Y年%m月%d日%H时%M分")),
            ("出生孕周", f"{self.gestational_weeks}周"),
            ("出生体重", f"{self.weight_grams}克"),
            ("出生身长", f"{self.length_cm}厘米"),
            ("出生地点", self.birth_place),
            ("医疗机构名称", self.hospital),
            ("母亲姓名", self.mother.name),
            ("母亲有效身份证件号码", self.mother.id_number),
            ("父亲姓名", "" if self.father is None else self.father.name),
            ("父亲有效身份证件号码", "" if self.father is None else self.father.id_number),
            ("出生证编号", self.number),
            ("签发机构", self.issuer),
            ("签发日期", self.issued_on.strftime("%Y年%m月%d日")),
        ]
        return tuple(fields)


@attrs.frozen
class ReviewTicket:
    """A review task opened in the legacy system (审核任务)."""

    legacy_task_id: str = attrs.field(validator=_nonempty)
    task_id: str = attrs.field(validator=_nonempty)
    opened_at: dt.datetime


@attrs.frozen
class ReviewDecision:
    """The commission's decision on a review task. A rejection always carries its reason."""

    legacy_task_id: str
    approved: bool
    reason: str = attrs.field()
    reviewer: str
    decided_at: dt.datetime
    kind: ReviewKind = ReviewKind.CERTIFICATE

    @reason.validator
    def _rejection_has_reason(self, _: attrs.Attribute[Any], value: str) -> None:
        if not self.approved and not value.strip():
            raise ValueError("a rejection must state its reason")


class HealthClient(LegacyClient):
    """Client for the legacy health commission API; one connection pool per object.

    ``token``, when given, is sent as ``Authorization: Bearer <token>``. Lists are read page
    by page, ``page_size`` rows at a time.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        page_size: int = 50,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self._page_size = page_size
        super().__init__(base_url, timeout=timeout, transport=transport, headers=headers)

    # -- lookups -----------------------------------------------------------------------------

    async def profile(self, id_number: str) -> PersonRecord | None:
        """Name, sex and birth date the health records hold for a citizen ID, or None."""
        person = id_number.strip().upper()
        root = await self._call(
            "profile", "GET", f"/api/v1/persons/{quote(person, safe='')}", missing_ok=True
        )
        if root is None:
            return None
        data = root["data"]
        return data.build(
            PersonRecord,
            id_number=data["idCard"].text(),
            name=data["name"].text(),
            sex=_sex(data["sex"]),
            birth_date=data["birthDate"].date(),
        )

    async def certificates(self, holder_id: str) -> list[BirthCertificateRecord]:
        """Birth medical certificates of a child, by the child's citizen ID ([] if none)."""
        rows = await self._rows("certificates", {"newbornIdCard": holder_id.strip().upper()})
        return [_birth_certificate(row) for row in rows]

    async def certificates_as_parent(self, parent_id: str) -> list[BirthCertificateRecord]:
        """Birth medical certificates naming a person as mother or father ([] if none)."""
        rows = await self._rows(
            "certificates_as_parent", {"parentIdCard": parent_id.strip().upper()}
        )
        return [_birth_certificate(row) for row in rows]

    async def certificate(self, number: str) -> BirthCertificateRecord | None:
        """One birth medical certificate by its number (出生证编号), or None."""
        root = await self._call(
            "certificate",
            "GET",
            f"/api/v1/birth-certificates/{quote(number.strip().upper(), safe='')}",
            missing_ok=True,
        )
        return None if root is None else _birth_certificate(root["data"])

    # -- review tasks ------------------------------------------------------------------------

    async def open_review(
        self,
        task_id: str,
        case_id: str,
        item_code: str,
        applicant_id: str,
        form: Mapping[str, Any],
        *,
        kind: ReviewKind = ReviewKind.CERTIFICATE,
    ) -> ReviewTicket:
        """Open a review task; ``task_id`` (the govsvc task id) is the idempotency key.

        ``kind`` OPINION asks only for the commission's opinion (e.g. in a joint review, 会审)
        and takes any form. For a birth medical certificate (CERTIFICATE) the form carries
        ``newbornName``, ``newbornSex`` (男/女), ``birthTime`` (``YYYY-MM-DD HH:MM``),
        ``birthPlace``, ``hospital``, ``motherName``, ``motherIdCard`` and optionally
        ``fatherName``, ``fatherIdCard``, ``gestationalWeeks``, ``weight`` (grams) and
        ``length`` (cm).
        """
        root = await self._call(
            "open_review",
            "POST",
            "/api/v1/review-tasks",
            headers={"Idempotency-Key": task_id},
            json={
                "caseId": case_id,
                "itemCode": item_code,
                "applicantIdCard": applicant_id,
                "taskType": kind.value,
                "form": dict(form),
            },
        )
        data = root["data"]
        if data["idempotencyKey"].text() != task_id:
            data["idempotencyKey"].fail(
                f"the task belongs to another idempotency key than {task_id!r}"
            )
        return data.build(
            ReviewTicket,
            legacy_task_id=data["taskId"].text(),
            task_id=task_id,
            opened_at=data["createTime"].datetime(),
        )

    async def poll_review(self, legacy_task_id: str) -> ReviewDecision | None:
        """The decision on a review task, or None while it is pending."""
        root = await self._call("poll_review", "GET", _task_path(legacy_task_id))
        return _decision(root["data"])

    async def decide_review(
        self, legacy_task_id: str, *, approve: bool, reason: str = "", reviewer: str = "模拟审核员"
    ) -> ReviewDecision:
        """Decide a pending task. Simulator control: the real commission decides elsewhere."""
        root = await self._call(
            "decide_review",
            "POST",
            _task_path(legacy_task_id) + "/decision",
            json={"approved": approve, "remark": reason, "auditor": reviewer},
        )
        decision = _decision(root["data"])
        if decision is None:
            root["data"]["status"].fail("the task is still pending after the decision was sent")
        return decision

    async def issue_result(self, legacy_task_id: str) -> BirthCertificateRecord:
        """Issue the birth medical certificate of an approved task; again → the same one."""
        root = await self._call("issue_result", "POST", _task_path(legacy_task_id) + "/issue")
        return _birth_certificate(root["data"])

    async def cancel_review(self, legacy_task_id: str, *, reason: str) -> bool:
        """Withdraw a pending review task (撤销), e.g. because the application was withdrawn.

        True when the task is withdrawn (now or before: asking again is harmless), False when
        it had already been decided, so there was nothing left to withdraw.
        """
        root = await self._call(
            "cancel_review",
            "POST",
            _task_path(legacy_task_id) + "/cancel",
            json={"remark": reason},
        )
        status = root["data"]["status"]
        if status.text() not in _TASK_STATUSES:
            status.fail(f"unknown task status {status.value!r}; expected one of {_STATUS_LIST}")
        if status.text() == "PENDING":
            status.fail("the task is still pending after it was withdrawn")
        return status.text() == "CANCELLED"

    async def health(self) -> bool:
        """True when the system answers its health check with status UP."""
        try:
            root = await self._call("health", "GET", "/health")
            return root["data"]["status"].text() == "UP"
        except AdapterError:
            return False

    # -- plumbing ----------------------------------------------------------------------------

    async def _rows(self, operation: str, params: Mapping[str, str]) -> list[JsonNode]:
        """Every row of a paged list, page after page until ``total`` rows have arrived."""
        rows: list[JsonNode] = []
        page = 1
        while True:
            root = await self._call(
                operation,
                "GET",
                "/api/v1/birth-certificates",
                params={**params, "pageNum": str(page), "pageSize": str(self._page_size)},
                missing_ok=True,
            )
            if root is None:
                return rows
            total = root["total"].integer()
            batch = root["rows"].elements()
            rows.extend(batch)
            if len(rows) >= total:
                return rows
            if not batch:
                root["rows"].fail(
                    f"page {page} is empty although only {len(rows)} of {total} rows arrived"
                )
            page += 1

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
        """Send one request; the body's root node, or None for "not found" if allowed."""
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
                401: "; check the bearer token configured for this department",
                404: "; check the base URL and the identifier",
            }.get(status, "")
            raise SYSTEM.protocol_error(
                operation,
                f"refused {operation} with HTTP {status} "
                f"(code {code or '?'}: {msg or excerpt(response.content)}){hint}",
            )

        root = SYSTEM.read_json(response.content, operation)
        code = root["code"].integer()
        if code != _OK:
            if code == _NOT_FOUND and missing_ok:
                return None
            message = root.optional("msg")
            root["code"].fail(
                f"error code {code}: {message.value if message is not None else 'no message'}"
            )
        return root


def _task_path(legacy_task_id: str) -> str:
    return f"/api/v1/review-tasks/{quote(legacy_task_id, safe='')}"


def _envelope_error(body: bytes) -> tuple[int | None, str | None]:
    """``code`` and ``msg`` of an error envelope, if the body is one."""
    try:
        parsed = jsonlib.loads(body)
    except (UnicodeDecodeError, jsonlib.JSONDecodeError):
        return None, None
    if not isinstance(parsed, dict):
        return None, None
    code, msg = parsed.get("code"), parsed.get("msg")
    return (
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        msg if isinstance(msg, str) else None,
    )


def _sex(node: JsonNode) -> Sex:
    text = node.text()
    for member in Sex:
        if member.value == text:
            return member
    node.fail(f"expected '男' or '女', got {text!r}")


def _parent(node: JsonNode, role: str, *, required: bool) -> ParentRecord | None:
    name, id_card = node.optional(f"{role}Name"), node.optional(f"{role}IdCard")
    if name is None and id_card is None and not required:
        return None
    return node.build(
        ParentRecord,
        name=node[f"{role}Name"].text(),
        id_number=node[f"{role}IdCard"].text(),
    )


def _birth_certificate(node: JsonNode) -> BirthCertificateRecord:
    newborn_id = node.optional("newbornIdCard")
    return node.build(
        BirthCertificateRecord,
        number=node["certNo"].text(
            _CERTIFICATE_NUMBER, what="a birth certificate number such as Q230123456"
        ),
        newborn_name=node["newbornName"].text(),
        newborn_sex=_sex(node["newbornSex"]),
        newborn_id=None if newborn_id is None else newborn_id.text(),
        born_at=node["birthTime"].datetime(),
        birth_place=node["birthPlace"].text(),
        hospital=node["hospital"].text(),
        gestational_weeks=node["gestationalWeeks"].integer(),
        weight_grams=node["weight"].integer(),
        length_cm=node["length"].integer(),
        mother=_parent(node, "mother", required=True),
        father=_parent(node, "father", required=False),
        issuer=node["issueOrg"].text(),
        issued_on=node["issueDate"].date(),
    )


def _decision(node: JsonNode) -> ReviewDecision | None:
    status = node["status"].text()
    if status == "PENDING":
        return None
    if status == "CANCELLED":
        node["status"].fail(
            "the task was withdrawn (CANCELLED) in the commission's system and will never be "
            "decided"
        )
    if status not in _TASK_STATUSES:
        node["status"].fail(f"unknown task status {status!r}; expected one of {_STATUS_LIST}")
    approved = status != "REJECTED"
    # A rejection must say why; an approval may come without a remark.
    remark = node.optional("remark") if approved else node["remark"]
    reason = "" if remark is None else remark.string() if approved else remark.text()
    task_type = node.optional("taskType")
    return node.build(
        ReviewDecision,
        legacy_task_id=node["taskId"].text(),
        approved=approved,
        reason=reason,
        reviewer=node["auditor"].text(),
        decided_at=node["auditTime"].datetime(),
        # Answers from before task types existed are certificate reviews.
        kind=ReviewKind.CERTIFICATE if task_type is None else task_type.enum(ReviewKind),
    )
