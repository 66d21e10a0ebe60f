"""A simulator of 哈尔滨市公安局's household register (户籍) SOAP service.

Run it alone with ``python -m govsvc_psb.simulator --port 8102``; the WSDL is at
``GET /ws?wsdl`` and every operation is a SOAP 1.1 POST to ``/ws``. Review tasks live in
memory; move one on with ``POST /admin/review-tasks/{legacyTaskId}/decision`` and a JSON body
``{"approve": true, "reason": "材料齐全"}``, or start the simulator with ``auto_decide_after``.

Faults (off by default): ``create_app(faults=FaultSettings(failure_rate=0.3, late_rate=0.05,
late_delay=3, seed=1))``, or the environment ``GOVSVC_PSB_SIM_FAILURE_RATE``,
``_LATE_RATE``, ``_LATE_DELAY`` (seconds), ``_LATENCY`` and ``_SEED`` when ``faults`` is not
given (see :mod:`govsvc.faultkit`); ``/admin`` controls are never faulted. Every call is
recorded; ``GET /_faults/calls`` lists them with the platform task and case each was for.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs
import defusedxml
import defusedxml.ElementTree as DET
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from govsvc.faultkit import FaultInjector, FaultSettings
from govsvc_psb import seed
from govsvc_psb.client import PASSWORD_TEXT, SERVICE_NS, SOAP_ENV, WSSE_NS

CST = dt.timezone(dt.timedelta(hours=8), "CST")
OPERATIONS = ("QueryPerson", "QueryHousehold", "CreateReviewTask", "QueryReviewTask", "IssueResult")
REGISTRATION_TYPES = ("出生登记", "户口迁移")
_XML = "text/xml; charset=utf-8"
_CHECK_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


class SoapFault(Exception):
    """Raised by an operation; becomes a SOAP 1.1 fault (HTTP 500) with a business code."""

    def __init__(self, kind: Literal["Client", "Server"], code: str, message: str) -> None:
        self.kind = kind
        self.code = code
        self.message = message
        super().__init__(message)


@attrs.define
class Resident:
    """A resident in the simulated register (mutable: a move changes the household)."""

    id_number: str
    name: str
    sex: str
    birth_date: dt.date
    ethnicity: str
    household_number: str
    relation_to_head: str

    @classmethod
    def from_seed(cls, person: seed.SeedPerson) -> Resident:
        return cls(**attrs.asdict(person))


@attrs.define
class ReviewTask:
    """A review task in the simulated system."""

    legacy_task_id: str
    task_id: str
    request: tuple[str, str, str, tuple[tuple[str, str], ...]]
    form: dict[str, str]
    created_at: dt.datetime
    created_tick: float
    status: str = "PENDING"
    reason: str = ""
    decided_at: dt.datetime | None = None
    entry: dict[str, str] | None = None


@attrs.define
class RegisterState:
    """Everything the simulated bureau holds; tests may inspect it as ``app.state.register``."""

    username: str
    password: str
    auto_decide_after: float | None
    fail_operations: frozenset[str]
    clock: Callable[[], float]
    households: dict[str, seed.SeedHousehold]
    residents: dict[str, Resident]
    tasks: dict[str, ReviewTask] = attrs.Factory(dict)
    task_by_key: dict[str, str] = attrs.Factory(dict)
    entries_issued: int = 0

    def now(self) -> dt.datetime:
        return dt.datetime.now(CST).replace(microsecond=0)

    def decide(self, task: ReviewTask, approve: bool, reason: str) -> None:
        task.status = "APPROVED" if approve else "DENIED"
        task.reason = reason
        task.decided_at = self.now()

    def settle(self, task: ReviewTask) -> None:
        """Approve a pending task automatically once ``auto_decide_after`` seconds passed."""
        if (
            task.status == "PENDING"
            and self.auto_decide_after is not None
            and self.clock() - task.created_tick >= self.auto_decide_after
        ):
            self.decide(task, True, "自动审核通过")


# -- XML helpers --------------------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{SERVICE_NS}}}{name}"


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _add(parent: ET.Element, name: str, value: str | Mapping[str, Any]) -> ET.Element:
    element = ET.SubElement(parent, _q(name))
    if isinstance(value, str):
        element.text = value
    else:
        for key, inner in value.items():
            if isinstance(inner, list):
                container = ET.SubElement(element, _q(key))
                for item_name, item in inner:
                    _add(container, item_name, item)
            else:
                _add(element, key, inner)
    return element


def _envelope(payload: ET.Element) -> bytes:
    envelope = ET.Element(f"{{{SOAP_ENV}}}Envelope")
    ET.SubElement(envelope, f"{{{SOAP_ENV}}}Body").append(payload)
    data: bytes = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
    return data


def _fault_response(fault: SoapFault) -> Response:
    element = ET.Element(f"{{{SOAP_ENV}}}Fault")
    # faultcode/faultstring/detail are unqualified, as SOAP 1.1 defines them.
    ET.SubElement(element, "faultcode").text = f"soap:{fault.kind}"
    ET.SubElement(element, "faultstring").text = fault.message
    detail = ET.SubElement(element, "detail")
    _add(detail, "error", {"code": fault.code, "message": fault.message})
    return Response(_envelope(element), status_code=500, media_type=_XML)


def _text(request: ET.Element, name: str, *, required: bool = True) -> str:
    for child in request:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    if required:
        raise SoapFault("Client", "MISSING_ELEMENT", f"请求缺少元素 <{name}>")
    return ""


def _check_digit(first17: str) -> str:
    total = sum(int(a) * w for a, w in zip(first17, _CHECK_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


# -- operations ---------------------------------------------------------------------------


def _person_payload(state: RegisterState, person: Resident) -> dict[str, str]:
    return {
        "idNumber": person.id_number,
        "name": person.name,
        "sex": person.sex,
        "birthDate": person.birth_date.isoformat(),
        "ethnicity": person.ethnicity,
        "address": state.households[person.household_number].address,
        "householdNumber": person.household_number,
        "relationToHead": person.relation_to_head,
    }


def _query_person(state: RegisterState, request: ET.Element) -> ET.Element:
    id_number = _text(request, "idNumber").upper()
    if not re.fullmatch(r"\d{17}[\dX]", id_number):
        raise SoapFault("Client", "INVALID_ID_NUMBER", f"身份证号码格式错误: {id_number}")
    person = state.residents.get(id_number)
    if person is None:
        raise SoapFault("Client", "PERSON_NOT_FOUND", f"未查询到该人员户籍信息: {id_number}")
    response = ET.Element(_q("QueryPersonResponse"))
    _add(response, "person", _person_payload(state, person))
    return response


def _query_household(state: RegisterState, request: ET.Element) -> ET.Element:
    number = _text(request, "householdNumber")
    household = state.households.get(number)
    if household is None:
        raise SoapFault("Client", "HOUSEHOLD_NOT_FOUND", f"未查询到该户: {number}")
    members = [
        ("member", {"idNumber": p.id_number, "name": p.name, "relationToHead": p.relation_to_head})
        for p in state.residents.values()
        if p.household_number == number
    ]
    response = ET.Element(_q("QueryHouseholdResponse"))
    _add(
        response,
        "household",
        {
            "householdNumber": number,
            "address": household.address,
            "kind": household.kind,
            "members": members,
        },
    )
    return response


def _require(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise SoapFault("Client", "INVALID_FORM", f"表单缺少字段 {name}")
    return value


def _validate_form(state: RegisterState, form: Mapping[str, str]) -> None:
    kind = _require(form, "registrationType")
    if kind not in REGISTRATION_TYPES:
        allowed = "/".join(REGISTRATION_TYPES)
        raise SoapFault("Client", "INVALID_FORM", f"不支持的登记类型 {kind}，应为 {allowed}")
    household = _require(form, "householdNumber")
    if household not in state.households:
        raise SoapFault("Client", "INVALID_FORM", f"户号不存在: {household}")
    _require(form, "relationToHead")
    if kind == "出生登记":
        _require(form, "name")
        _require(form, "ethnicity")
        if _require(form, "sex") not in ("1", "2"):
            raise SoapFault("Client", "INVALID_FORM", "性别代码应为 1 (男) 或 2 (女)")
        try:
            born = dt.date.fromisoformat(_require(form, "birthDate"))
        except ValueError:
            raise SoapFault("Client", "INVALID_FORM", "出生日期格式应为 YYYY-MM-DD") from None
        if born > state.now().date():
            raise SoapFault("Client", "INVALID_FORM", "出生日期不能晚于今天")
    elif _require(form, "idNumber") not in state.residents:
        raise SoapFault("Client", "INVALID_FORM", f"迁移人员无户籍记录: {form['idNumber']}")


def _ticket(response_name: str, task: ReviewTask, extra: Mapping[str, str]) -> ET.Element:
    response = ET.Element(_q(response_name))
    _add(
        response,
        "reviewTask",
        {
            "legacyTaskId": task.legacy_task_id,
            "taskId": task.task_id,
            "status": task.status,
            "createdAt": task.created_at.isoformat(),
            **extra,
        },
    )
    return response


def _create_review_task(state: RegisterState, request: ET.Element) -> ET.Element:
    task_id = _text(request, "taskId")
    form: dict[str, str] = {}
    for child in request:
        if _local(child.tag) == "form":
            for field in child:
                form[field.get("name", "")] = (field.text or "").strip()
    key = (
        _text(request, "caseId"),
        _text(request, "itemCode"),
        _text(request, "applicantId"),
        tuple(sorted(form.items())),
    )
    existing = state.task_by_key.get(task_id)
    if existing is not None:
        task = state.tasks[existing]
        if task.request != key:
            raise SoapFault(
                "Client", "TASK_ID_REUSED", f"任务号 {task_id} 已用于内容不同的审核任务"
            )
        return _ticket("CreateReviewTaskResponse", task, {})
    _validate_form(state, form)
    legacy_id = f"GAJ{len(state.tasks) + 1:08d}"
    task = ReviewTask(legacy_id, task_id, key, form, state.now(), state.clock())
    state.tasks[legacy_id] = task
    state.task_by_key[task_id] = legacy_id
    return _ticket("CreateReviewTaskResponse", task, {})


def _task(state: RegisterState, request: ET.Element) -> ReviewTask:
    legacy_id = _text(request, "legacyTaskId")
    task = state.tasks.get(legacy_id)
    if task is None:
        raise SoapFault("Client", "TASK_NOT_FOUND", f"审核任务不存在: {legacy_id}")
    state.settle(task)
    return task


def _query_review_task(state: RegisterState, request: ET.Element) -> ET.Element:
    task = _task(state, request)
    extra: dict[str, str] = {}
    if task.decided_at is not None:
        extra = {"reason": task.reason, "decidedAt": task.decided_at.isoformat()}
    return _ticket("QueryReviewTaskResponse", task, extra)


def _new_id_number(state: RegisterState, household: str, born: dt.date, sex: str) -> str:
    prefix = household[:6] + born.strftime("%Y%m%d")
    # GB 11643: the sequence is odd for men and even for women.
    for sequence in range(1 if sex == "1" else 2, 1000, 2):
        first17 = f"{prefix}{sequence:03d}"
        if not any(n.startswith(first17) for n in state.residents):
            return first17 + _check_digit(first17)
    raise SoapFault("Server", "SEQUENCE_EXHAUSTED", "当日顺序码已用尽")


def _register(state: RegisterState, task: ReviewTask) -> dict[str, str]:
    form = task.form
    household = form["householdNumber"]
    if form["registrationType"] == "出生登记":
        born = dt.date.fromisoformat(form["birthDate"])
        id_number = _new_id_number(state, household, born, form["sex"])
        person = Resident(
            id_number,
            form["name"],
            form["sex"],
            born,
            form["ethnicity"],
            household,
            form["relationToHead"],
        )
        state.residents[id_number] = person
    else:
        person = state.residents[form["idNumber"]]
        person.household_number = household
        person.relation_to_head = form["relationToHead"]
    state.entries_issued += 1
    today = state.now().date()
    return {
        "entryNumber": f"HKDJ{today:%Y%m%d}{state.entries_issued:04d}",
        "kind": form["registrationType"],
        **_person_payload(state, person),
        "registeredOn": today.isoformat(),
    }


def _issue_result(state: RegisterState, request: ET.Element) -> ET.Element:
    task = _task(state, request)
    if task.status != "APPROVED":
        state_name = "审核中" if task.status == "PENDING" else "未通过"
        raise SoapFault("Client", "TASK_NOT_APPROVED", f"审核任务{state_name}，不能登记")
    if task.entry is None:
        task.entry = _register(state, task)
    response = ET.Element(_q("IssueResultResponse"))
    _add(response, "householdEntry", task.entry)
    return response


_HANDLERS: dict[str, Callable[[RegisterState, ET.Element], ET.Element]] = {
    "QueryPerson": _query_person,
    "QueryHousehold": _query_household,
    "CreateReviewTask": _create_review_task,
    "QueryReviewTask": _query_review_task,
    "IssueResult": _issue_result,
}


# -- HTTP ---------------------------------------------------------------------------------


def _authenticate(state: RegisterState, envelope: ET.Element) -> None:
    token = envelope.find(
        f"{{{SOAP_ENV}}}Header/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken"
    )
    if token is None:
        raise SoapFault("Client", "AUTH_FAILED", "缺少 WS-Security UsernameToken")
    username = token.findtext(f"{{{WSSE_NS}}}Username", "")
    password = token.find(f"{{{WSSE_NS}}}Password")
    if (
        username != state.username
        or password is None
        or password.get("Type", PASSWORD_TEXT) != PASSWORD_TEXT
        or password.text != state.password
    ):
        raise SoapFault("Client", "AUTH_FAILED", "用户名或密码错误")


async def _soap(request: Request) -> Response:
    state: RegisterState = request.app.state.register
    if not request.headers.get("content-type", "").startswith("text/xml"):
        return Response(
            "SOAP 1.1 expects Content-Type: text/xml", status_code=415, media_type="text/plain"
        )
    try:
        soap_action = request.headers.get("soapaction")
        if soap_action is None:
            raise SoapFault("Client", "MISSING_SOAPACTION", "缺少 SOAPAction 请求头")
        try:
            envelope = DET.fromstring(await request.body(), forbid_dtd=True)
        except (defusedxml.DefusedXmlException, ET.ParseError) as exc:
            raise SoapFault("Client", "MALFORMED_REQUEST", f"请求不是合法的 XML: {exc}") from None
        body = envelope.find(f"{{{SOAP_ENV}}}Body")
        if envelope.tag != f"{{{SOAP_ENV}}}Envelope" or body is None or len(body) != 1:
            raise SoapFault("Client", "MALFORMED_REQUEST", "请求不是 SOAP 1.1 信封")
        operation_element = body[0]
        operation = _local(operation_element.tag)
        if operation_element.tag != _q(operation) or operation not in _HANDLERS:
            raise SoapFault("Client", "UNKNOWN_OPERATION", f"未知操作: {operation_element.tag}")
        if soap_action.strip('"') not in ("", f"{SERVICE_NS}/{operation}"):
            raise SoapFault("Client", "SOAPACTION_MISMATCH", f"SOAPAction 与操作 {operation} 不符")
        _authenticate(state, envelope)
        if operation in state.fail_operations:
            raise SoapFault("Server", "DB_UNAVAILABLE", "人口信息库连接失败，请稍后重试")
        payload = _HANDLERS[operation](state, operation_element)
    except SoapFault as fault:
        return _fault_response(fault)
    return Response(_envelope(payload), media_type=_XML)


async def _wsdl(request: Request) -> Response:
    if "wsdl" not in request.query_params:
        return Response(
            "人口户籍查询服务: POST SOAP 1.1 envelopes here; the WSDL is at ?wsdl",
            media_type="text/plain; charset=utf-8",
        )
    location = str(request.url.replace(query=""))
    return Response(wsdl(location), media_type=_XML)


async def _decide(request: Request) -> Response:
    state: RegisterState = request.app.state.register
    task = state.tasks.get(request.path_params["legacy_task_id"])
    if task is None:
        return JSONResponse({"error": "no such review task"}, status_code=404)
    try:
        decision = await request.json()
        approve = decision["approve"]
        reason = decision.get("reason", "")
        if not isinstance(approve, bool) or not isinstance(reason, str):
            raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError):
        return JSONResponse(
            {"error": 'send {"approve": true|false, "reason": "..."}'}, status_code=400
        )
    if task.status != "PENDING":
        return JSONResponse({"error": f"task already {task.status}"}, status_code=409)
    state.decide(task, approve, reason)
    return JSONResponse({"legacyTaskId": task.legacy_task_id, "status": task.status})


def create_app(
    *,
    username: str = "govsvc",
    password: str = "hukou-sim",
    auto_decide_after: float | None = None,
    newborn_registered: bool = False,
    fail_operations: Iterable[str] = (),
    clock: Callable[[], float] = time.monotonic,
    faults: FaultSettings | None = None,
) -> Starlette:
    """The simulated bureau as an ASGI app.

    ``auto_decide_after`` approves a pending review task once that many seconds (by ``clock``)
    have passed since it was opened, checked whenever the task is read. ``newborn_registered``
    starts with 孙悦 already registered. ``fail_operations`` names SOAP operations that answer
    with a ``soap:Server`` fault, to rehearse an outage. ``faults``: failed and late answers
    to inject (default: ``GOVSVC_PSB_SIM_*``, else none); the injector is
    ``app.state.faults`` and keeps every call in ``app.state.faults.calls``.
    """
    failing = frozenset(fail_operations)
    unknown = failing - set(OPERATIONS)
    if unknown:
        raise ValueError(f"unknown operations {sorted(unknown)}; choose from {OPERATIONS}")
    people = seed.PEOPLE + ((seed.NEWBORN,) if newborn_registered else ())
    state = RegisterState(
        username=username,
        password=password,
        auto_decide_after=auto_decide_after,
        fail_operations=failing,
        clock=clock,
        households={h.household_number: h for h in seed.HOUSEHOLDS},
        residents={p.id_number: Resident.from_seed(p) for p in people},
    )
    settings = faults if faults is not None else FaultSettings.from_env("GOVSVC_PSB_SIM")
    injector = FaultInjector(settings=settings, classify=_classifier(state))
    app = Starlette(
        routes=[
            Route("/ws", _wsdl, methods=["GET"]),
            Route("/ws", _soap, methods=["POST"]),
            Route("/admin/review-tasks/{legacy_task_id}/decision", _decide, methods=["POST"]),
        ],
        middleware=[Middleware(injector.wrap)],
    )
    app.state.register = state
    app.state.faults = injector
    return app


_OPERATION_NAMES = {
    "CreateReviewTask": "open_review",
    "QueryReviewTask": "poll_review",
    "IssueResult": "issue_result",
    "QueryPerson": "profile",
    "QueryHousehold": "profile",
}


def _soap_field(body: str, name: str) -> str | None:
    found = re.search(rf"<(?:\w+:)?{name}>([^<]*)</(?:\w+:)?{name}>", body)
    return found.group(1).strip() if found else None


def _classifier(state: RegisterState) -> Callable[..., tuple[str, str | None, str | None]]:
    """Names a SOAP call in the platform's terms, for the fault injector's records."""

    def classify(
        method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[str, str | None, str | None]:
        if method != "POST" or path != "/ws":
            return "wsdl" if path == "/ws" else "other", None, None
        text = body.decode("utf-8", "replace")
        action = headers.get("soapaction", "").strip('"').rsplit("/", 1)[-1]
        operation = _OPERATION_NAMES.get(action, "other")
        if operation == "open_review":
            return operation, _soap_field(text, "taskId"), _soap_field(text, "caseId")
        task = state.tasks.get(_soap_field(text, "legacyTaskId") or "")
        if task is not None:
            return operation, task.task_id, task.request[0]
        return operation, None, None

    return classify


def wsdl(location: str) -> str:
    """The service's WSDL 1.1 description, with the endpoint address ``location``."""
    simple = {
        "QueryPerson": ["idNumber"],
        "QueryHousehold": ["householdNumber"],
        "QueryReviewTask": ["legacyTaskId"],
        "IssueResult": ["legacyTaskId"],
    }
    person = "idNumber name sex birthDate ethnicity address householdNumber relationToHead"
    types = "".join(
        f'<xs:element name="{op}"><xs:complexType><xs:sequence>'
        + "".join(f'<xs:element name="{f}" type="xs:string"/>' for f in fields)
        + "</xs:sequence></xs:complexType></xs:element>"
        for op, fields in simple.items()
    )
    types += (
        '<xs:complexType name="Person"><xs:sequence>'
        + "".join(f'<xs:element name="{f}" type="xs:string"/>' for f in person.split())
        + "</xs:sequence></xs:complexType>"
        '<xs:complexType name="Member"><xs:sequence><xs:element name="idNumber" type="xs:string"/>'
        '<xs:element name="name" type="xs:string"/>'
        '<xs:element name="relationToHead" type="xs:string"/></xs:sequence></xs:complexType>'
        '<xs:complexType name="ReviewTask"><xs:sequence>'
        '<xs:element name="legacyTaskId" type="xs:string"/>'
        '<xs:element name="taskId" type="xs:string"/>'
        '<xs:element name="status" type="tns:ReviewStatus"/>'
        '<xs:element name="createdAt" type="xs:dateTime"/>'
        '<xs:element name="reason" type="xs:string" minOccurs="0"/>'
        '<xs:element name="decidedAt" type="xs:dateTime" minOccurs="0"/>'
        "</xs:sequence></xs:complexType>"
        '<xs:simpleType name="ReviewStatus"><xs:restriction base="xs:string">'
        '<xs:enumeration value="PENDING"/><xs:enumeration value="APPROVED"/>'
        '<xs:enumeration value="DENIED"/></xs:restriction></xs:simpleType>'
        '<xs:element name="CreateReviewTask"><xs:complexType><xs:sequence>'
        '<xs:element name="taskId" type="xs:string"/><xs:element name="caseId" type="xs:string"/>'
        '<xs:element name="itemCode" type="xs:string"/>'
        '<xs:element name="applicantId" type="xs:string"/>'
        '<xs:element name="form"><xs:complexType><xs:sequence>'
        '<xs:element name="field" maxOccurs="unbounded"><xs:complexType><xs:simpleContent>'
        '<xs:extension base="xs:string"><xs:attribute name="name" type="xs:string"/>'
        "</xs:extension></xs:simpleContent></xs:complexType></xs:element>"
        "</xs:sequence></xs:complexType></xs:element>"
        "</xs:sequence></xs:complexType></xs:element>"
        '<xs:element name="QueryPersonResponse"><xs:complexType><xs:sequence>'
        '<xs:element name="person" type="tns:Person"/></xs:sequence></xs:complexType></xs:element>'
        '<xs:element name="QueryHouseholdResponse"><xs:complexType><xs:sequence>'
        '<xs:element name="household"><xs:complexType><xs:sequence>'
        '<xs:element name="householdNumber" type="xs:string"/>'
        '<xs:element name="address" type="xs:string"/><xs:element name="kind" type="xs:string"/>'
        '<xs:element name="members"><xs:complexType><xs:sequence>'
        '<xs:element name="member" type="tns:Member" minOccurs="0" maxOccurs="unbounded"/>'
        "</xs:sequence></xs:complexType></xs:element>"
        "</xs:sequence></xs:complexType></xs:element>"
        "</xs:sequence></xs:complexType></xs:element>"
        '<xs:element name="CreateReviewTaskResponse"><xs:complexType><xs:sequence>'
        '<xs:element name="reviewTask" type="tns:ReviewTask"/>'
        "</xs:sequence></xs:complexType></xs:element>"
        '<xs:element name="QueryReviewTaskResponse"><xs:complexType><xs:sequence>'
        '<xs:element name="reviewTask" type="tns:ReviewTask"/>'
        "</xs:sequence></xs:complexType></xs:element>"
        '<xs:element name="IssueResultResponse"><xs:complexType><xs:sequence>'
        '<xs:element name="householdEntry"><xs:complexType><xs:sequence>'
        '<xs:element name="entryNumber" type="xs:string"/>'
        '<xs:element name="kind" type="xs:string"/>'
        + "".join(f'<xs:element name="{f}" type="xs:string"/>' for f in person.split())
        + '<xs:element name="registeredOn" type="xs:date"/>'
        "</xs:sequence></xs:complexType></xs:element>"
        "</xs:sequence></xs:complexType></xs:element>"
        '<xs:element name="error"><xs:complexType><xs:sequence>'
        '<xs:element name="code" type="xs:string"/><xs:element name="message" type="xs:string"/>'
        "</xs:sequence></xs:complexType></xs:element>"
    )
    messages = "".join(
        f'<wsdl:message name="{op}Request"><wsdl:part name="parameters" element="tns:{op}"/>'
        f"</wsdl:message>"
        f'<wsdl:message name="{op}Response">'
        f'<wsdl:part name="parameters" element="tns:{op}Response"/></wsdl:message>'
        for op in OPERATIONS
    )
    messages += (
        '<wsdl:message name="ServiceFault"><wsdl:part name="error" element="tns:error"/>'
        "</wsdl:message>"
    )
    port_ops = "".join(
        f'<wsdl:operation name="{op}"><wsdl:input message="tns:{op}Request"/>'
        f'<wsdl:output message="tns:{op}Response"/>'
        f'<wsdl:fault name="ServiceFault" message="tns:ServiceFault"/></wsdl:operation>'
        for op in OPERATIONS
    )
    binding_ops = "".join(
        f'<wsdl:operation name="{op}"><soap:operation soapAction="{SERVICE_NS}/{op}"/>'
        '<wsdl:input><soap:body use="literal"/></wsdl:input>'
        '<wsdl:output><soap:body use="literal"/></wsdl:output>'
        '<wsdl:fault name="ServiceFault"><soap:fault name="ServiceFault" use="literal"/>'
        "</wsdl:fault></wsdl:operation>"
        for op in OPERATIONS
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
        'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:tns="{SERVICE_NS}" targetNamespace="{SERVICE_NS}" name="HukouService">'
        "<wsdl:documentation>哈尔滨市公安局 人口户籍信息服务 (simulated)</wsdl:documentation>"
        f'<wsdl:types><xs:schema targetNamespace="{SERVICE_NS}" '
        f'elementFormDefault="qualified">{types}</xs:schema></wsdl:types>'
        f'{messages}<wsdl:portType name="HukouPortType">{port_ops}</wsdl:portType>'
        '<wsdl:binding name="HukouBinding" type="tns:HukouPortType">'
        '<soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>'
        f"{binding_ops}</wsdl:binding>"
        '<wsdl:service name="HukouService"><wsdl:port name="HukouPort" '
        f'binding="tns:HukouBinding"><soap:address location="{location}"/></wsdl:port>'
        "</wsdl:service></wsdl:definitions>\n"
    )


def main(argv: list[str] | None = None) -> None:
    """Run the simulator on 127.0.0.1 (``python -m govsvc_psb.simulator --port 8102``)."""
    parser = argparse.ArgumentParser(description="Simulated 哈尔滨市公安局 household register")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    parser.add_argument("--username", default="govsvc")
    parser.add_argument("--password", default="hukou-sim")
    parser.add_argument(
        "--auto-decide-after", type=float, default=None, metavar="SECONDS",
        help="approve pending review tasks automatically after this many seconds",
    )
    parser.add_argument(
        "--newborn-registered", action="store_true", help="start with 孙悦 already registered"
    )
    args = parser.parse_args(argv)
    app = create_app(
        username=args.username,
        password=args.password,
        auto_decide_after=args.auto_decide_after,
        newborn_registered=args.newborn_registered,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
