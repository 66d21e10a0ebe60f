"""A stand-in for the health commission's legacy system (卫生健康信息系统).

REST/JSON, optionally behind a bearer token. Answers look like a typical Java back office:
``{"code": 200, "msg": "操作成功", "data": ...}``; lists come a page at a time as
``{"code": 200, "msg": "查询成功", "total": n, "rows": [...]}``; errors carry the HTTP status
as ``code`` (400 bad request, 401 no or wrong token, 404 nothing found, 409 state conflict,
422 idempotency key reused for another request).

Endpoints::

    GET  /health
    GET  /api/v1/persons/{id_card}                       basic person data
    GET  /api/v1/birth-certificates?newbornIdCard=...    出生医学证明 of a child, paged
    GET  /api/v1/birth-certificates?parentIdCard=...     ... naming a mother or father, paged
         (&pageNum=1&pageSize=10)
    GET  /api/v1/birth-certificates/{cert_no}
    POST /api/v1/review-tasks                            header Idempotency-Key; body caseId,
                                                         itemCode, applicantIdCard, form,
                                                         taskType (CERTIFICATE | OPINION)
    GET  /api/v1/review-tasks/{task_id}
    POST /api/v1/review-tasks/{task_id}/decision         simulator control: {"approved": bool,
                                                         "remark": ..., "auditor": ...}
    POST /api/v1/review-tasks/{task_id}/issue            issues a new 出生医学证明
    POST /api/v1/review-tasks/{task_id}/cancel           withdraw a pending task: {"remark": ...};
                                                         a decided task is answered as it is

Review tasks come in two types: ``CERTIFICATE`` (the default) reviews an application for a
birth medical certificate, whose form must describe the birth, and can be issued; ``OPINION``
asks only for the commission's opinion (审核意见), e.g. in a joint review (会审) of another
department's application such as a food business licence, takes any form and issues nothing.
Statuses: ``PENDING``, ``APPROVED``, ``REJECTED``, ``ISSUED``, ``CANCELLED`` (withdrawn).

Options to exercise an adapter's resilience: ``latency`` seconds are added to every answer,
``failure_rate`` of the requests (drawn from ``random.Random(seed)``, so a run repeats) get
the gateway's HTML ``503`` page instead of an answer, and ``late_rate`` of them are answered
only after ``late_delay`` seconds (the work done first). Or pass ``faults=FaultSettings(...)``;
without either, the environment's ``GOVSVC_HEALTH_SIM_FAILURE_RATE``, ``_LATE_RATE``,
``_LATE_DELAY``, ``_LATENCY`` and ``_SEED`` apply (see :mod:`govsvc.faultkit`; all off by
default). Every call is recorded; ``GET /_faults/calls`` lists them with the platform task
and case each was for.

Run alone with ``python -m govsvc_health.simulator --port 8104 [--token T] [--latency S]
[--failure-rate P] [--seed N] [--auto-decide-after S]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from govsvc.faultkit import FaultInjector, FaultSettings, rest_review_classifier
from govsvc_health import seed as seed_data
from govsvc_health.client import BEIJING, DEPARTMENT_NAME, Sex
from govsvc_health.seed import BirthCertificate, Person

_AUTO_AUDITOR = "系统自动审核"
_AUTO_REMARK = "出生信息核验无误，同意签发"

PENDING, APPROVED, REJECTED, ISSUED = "PENDING", "APPROVED", "REJECTED", "ISSUED"
CANCELLED = "CANCELLED"
CERTIFICATE, OPINION = "CERTIFICATE", "OPINION"  # task types: 出生医学证明, 审核意见 only

# What the form of a birth certificate task must carry, and what it may.
_REQUIRED_FORM = (
    "newbornName",
    "newbornSex",
    "birthTime",
    "birthPlace",
    "hospital",
    "motherName",
    "motherIdCard",
)

# What an nginx gateway in front of the legacy system sends when the back end is down.
class _Problem(Exception):
    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg


def _now() -> dt.datetime:
    return dt.datetime.now(BEIJING).replace(microsecond=0)


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _ok(data: object, status: int = 200, msg: str = "操作成功") -> JSONResponse:
    return JSONResponse({"code": 200, "msg": msg, "data": data}, status_code=status)


def _error(problem: _Problem) -> JSONResponse:
    return JSONResponse({"code": problem.status, "msg": problem.msg}, status_code=problem.status)


def person_json(person: Person) -> dict[str, Any]:
    return {
        "idCard": person.id_number,
        "name": person.name,
        "sex": person.sex.value,
        "birthDate": person.birth_date.isoformat(),
        "source": "居民电子健康档案",
    }


def birth_certificate_json(certificate: BirthCertificate) -> dict[str, Any]:
    return {
        "certNo": certificate.number,
        "newbornName": certificate.newborn_name,
        "newbornSex": certificate.newborn_sex.value,
        "newbornIdCard": certificate.newborn_id,
        "birthTime": _stamp(certificate.born_at),
        "birthPlace": certificate.birth_place,
        "hospital": certificate.hospital,
        "gestationalWeeks": certificate.gestational_weeks,
        "weight": certificate.weight_grams,
        "length": certificate.length_cm,
        "motherName": certificate.mother_name,
        "motherIdCard": certificate.mother_id,
        "fatherName": certificate.father_name,
        "fatherIdCard": certificate.father_id,
        "issueOrg": certificate.issuer,
        "issueDate": certificate.issued_on.isoformat(),
    }


@attrs.define
class _ReviewTask:
    task_id: str
    idempotency_key: str
    request: dict[str, Any]
    created_at: dt.datetime
    created_monotonic: float
    status: str = PENDING
    remark: str | None = None
    auditor: str | None = None
    audited_at: dt.datetime | None = None
    certificate: BirthCertificate | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id,
            "idempotencyKey": self.idempotency_key,
            "caseId": self.request["caseId"],
            "itemCode": self.request["itemCode"],
            "applicantIdCard": self.request["applicantIdCard"],
            "taskType": self.request["taskType"],
            "status": self.status,
            "createTime": _stamp(self.created_at),
            "remark": self.remark,
            "auditor": self.auditor,
            "auditTime": None if self.audited_at is None else _stamp(self.audited_at),
            "certNo": None if self.certificate is None else self.certificate.number,
        }


@attrs.define
class HealthLegacySystem:
    """The simulator's state and request handlers; :func:`create_app` wires them to routes."""

    auto_decide_after: float | None
    persons: dict[str, Person]
    certificates: list[BirthCertificate]
    tasks: dict[str, _ReviewTask] = attrs.field(factory=dict)
    tasks_by_key: dict[str, _ReviewTask] = attrs.field(factory=dict)
    next_task_serial: int = 1
    next_certificate_serial: int = 230123457

    async def health(self, request: Request) -> Response:
        return _ok({"status": "UP", "system": DEPARTMENT_NAME})

    async def person(self, request: Request) -> Response:
        id_card = request.path_params["id_card"].upper()
        found = self.persons.get(id_card)
        if found is None:
            raise _Problem(404, f"未查询到身份证号为{id_card}的居民健康档案")
        return _ok(person_json(found))

    async def list_certificates(self, request: Request) -> Response:
        query = request.query_params
        newborn, parent = query.get("newbornIdCard"), query.get("parentIdCard")
        if (newborn is None) == (parent is None):
            raise _Problem(400, "请提供newbornIdCard或parentIdCard其中之一")
        try:
            page = int(query.get("pageNum", "1"))
            size = int(query.get("pageSize", "10"))
        except ValueError:
            raise _Problem(400, "pageNum和pageSize必须是整数") from None
        if page < 1 or not 1 <= size <= 100:
            raise _Problem(400, "pageNum从1开始，pageSize在1到100之间")
        if newborn is not None:
            matches = [c for c in self.certificates if c.newborn_id == newborn.upper()]
        else:
            wanted = (parent or "").upper()
            matches = [c for c in self.certificates if wanted in (c.mother_id, c.father_id)]
        rows = matches[(page - 1) * size : page * size]
        return JSONResponse(
            {
                "code": 200,
                "msg": "查询成功",
                "total": len(matches),
                "rows": [birth_certificate_json(c) for c in rows],
            }
        )

    async def certificate(self, request: Request) -> Response:
        number = request.path_params["cert_no"].upper()
        for certificate in self.certificates:
            if certificate.number == number:
                return _ok(birth_certificate_json(certificate))
        raise _Problem(404, f"未查询到编号为{number}的出生医学证明")

    async def open_task(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            raise _Problem(400, "缺少请求头Idempotency-Key")
        body = await _json_object(request)
        fields = {}
        for name in ("caseId", "itemCode", "applicantIdCard"):
            value = body.get(name)
            if not isinstance(value, str) or not value.strip():
                raise _Problem(400, f"参数{name}缺失或不是字符串")
            fields[name] = value.strip()
        form = body.get("form")
        if not isinstance(form, dict):
            raise _Problem(400, "参数form缺失或不是对象")
        task_type = body.get("taskType", CERTIFICATE)
        if task_type not in (CERTIFICATE, OPINION):
            raise _Problem(400, f"参数taskType必须是{CERTIFICATE}或{OPINION}")
        wanted = {**fields, "taskType": task_type, "form": form}

        existing = self.tasks_by_key.get(key)
        if existing is not None:
            if existing.request != wanted:
                raise _Problem(422, f"幂等键{key}已用于另一个请求，请勿用同一幂等键提交不同内容")
            return _ok(existing.to_json())

        if task_type == CERTIFICATE:
            _birth_from_form(form)  # reject at once a form that could never be issued
        task = _ReviewTask(
            task_id=f"WJRW{self.next_task_serial:08d}",
            idempotency_key=key,
            request=wanted,
            created_at=_now(),
            created_monotonic=time.monotonic(),
        )
        self.next_task_serial += 1
        self.tasks[task.task_id] = task
        self.tasks_by_key[key] = task
        return _ok(task.to_json(), status=201)

    async def get_task(self, request: Request) -> Response:
        return _ok(self._task(request).to_json())

    async def decide_task(self, request: Request) -> Response:
        task = self._task(request)
        body = await _json_object(request)
        approved = body.get("approved")
        remark = body.get("remark") or ""
        auditor = body.get("auditor") or "模拟审核员"
        if not isinstance(approved, bool):
            raise _Problem(400, "参数approved必须是true或false")
        if not isinstance(remark, str) or not isinstance(auditor, str):
            raise _Problem(400, "参数remark和auditor必须是字符串")
        if not approved and not remark.strip():
            raise _Problem(400, "不予签发必须填写原因（remark）")
        status = APPROVED if approved else REJECTED
        if task.status == PENDING:
            task.status = status
            task.remark = remark.strip() or _AUTO_REMARK
            task.auditor = auditor
            task.audited_at = _now()
        elif status != task.status:
            raise _Problem(409, f"审核任务{task.task_id}状态为{task.status}，不能再改")
        return _ok(task.to_json())

    async def issue(self, request: Request) -> Response:
        task = self._task(request)
        if task.certificate is not None:  # issuing again hands out the same certificate
            return _ok(birth_certificate_json(task.certificate))
        if task.request["taskType"] != CERTIFICATE:
            raise _Problem(409, f"审核任务{task.task_id}只出具审核意见，不签发证明")
        if task.status != APPROVED:
            raise _Problem(409, f"审核任务{task.task_id}状态为{task.status}，审核通过后才能签发")
        number = f"Q{self.next_certificate_serial:09d}"
        self.next_certificate_serial += 1
        task.certificate = attrs.evolve(_birth_from_form(task.request["form"]), number=number)
        task.status = ISSUED
        self.certificates.append(task.certificate)
        return _ok(birth_certificate_json(task.certificate), status=201)

    async def cancel_task(self, request: Request) -> Response:
        task = self._task(request)
        body = await _json_object(request)
        remark = body.get("remark") or "申请已撤回"
        if not isinstance(remark, str):
            raise _Problem(400, "参数remark必须是字符串")
        if task.status == PENDING:
            task.status = CANCELLED
            task.remark = remark.strip() or "申请已撤回"
            task.auditor = "政务服务平台"
            task.audited_at = _now()
        if task.status == CANCELLED:  # withdrawing again changes nothing
            return _ok(task.to_json(), msg="审核任务已撤销")
        # A decided task has nothing left to withdraw; say so and show it as it is.
        return _ok(task.to_json(), msg=f"审核任务状态为{task.status}，无需撤销")

    def _task(self, request: Request) -> _ReviewTask:
        task_id = request.path_params["task_id"]
        task = self.tasks.get(task_id)
        if task is None:
            raise _Problem(404, f"未查询到审核任务{task_id}")
        if (
            task.status == PENDING
            and self.auto_decide_after is not None
            and time.monotonic() - task.created_monotonic >= self.auto_decide_after
        ):
            task.status = APPROVED
            task.remark = _AUTO_REMARK
            task.auditor = _AUTO_AUDITOR
            task.audited_at = _now()
        return task


def _birth_from_form(form: dict[str, Any]) -> BirthCertificate:
    """The certificate a form describes (number still blank), or a 400 naming what is wrong."""
    missing = [k for k in _REQUIRED_FORM if not isinstance(form.get(k), str) or not form[k].strip()]
    if missing:
        raise _Problem(400, f"表单缺少或错误的字段：{', '.join(missing)}")
    try:
        sex = Sex(form["newbornSex"])
    except ValueError:
        raise _Problem(400, "newbornSex必须是“男”或“女”") from None
    try:
        born_at = dt.datetime.fromisoformat(form["birthTime"])
    except ValueError:
        raise _Problem(400, "birthTime格式应为YYYY-MM-DD HH:MM") from None
    born_at = born_at if born_at.tzinfo is not None else born_at.replace(tzinfo=BEIJING)
    if born_at > _now() + dt.timedelta(minutes=5):
        raise _Problem(400, "birthTime不能晚于当前时间")
    numbers = {}
    for name, default in (("gestationalWeeks", 39), ("weight", 3300), ("length", 50)):
        value = form.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise _Problem(400, f"{name}必须是正整数")
        numbers[name] = value
    father_name, father_id = form.get("fatherName"), form.get("fatherIdCard")
    if (father_name is None) != (father_id is None):
        raise _Problem(400, "fatherName和fatherIdCard须同时填写或同时不填")
    return BirthCertificate(
        number="",
        newborn_name=form["newbornName"].strip(),
        newborn_sex=sex,
        newborn_id=None,
        born_at=born_at,
        birth_place=form["birthPlace"].strip(),
        hospital=form["hospital"].strip(),
        gestational_weeks=numbers["gestationalWeeks"],
        weight_grams=numbers["weight"],
        length_cm=numbers["length"],
        mother_name=form["motherName"].strip(),
        mother_id=form["motherIdCard"].strip().upper(),
        father_name=None if father_name is None else str(father_name).strip(),
        father_id=None if father_id is None else str(father_id).strip().upper(),
        issuer=form["hospital"].strip(),
        issued_on=max(_now().date(), born_at.date()),
    )


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Problem(400, "请求体不是合法的JSON") from None
    if not isinstance(body, dict):
        raise _Problem(400, "请求体必须是JSON对象")
    return body


Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    *,
    token: str | None = None,
    latency: float = 0.0,
    failure_rate: float = 0.0,
    seed: int = 0,
    auto_decide_after: float | None = None,
    late_rate: float = 0.0,
    late_delay: float = 10.0,
    faults: FaultSettings | None = None,
) -> Starlette:
    """The simulated system as an ASGI app, seeded with :mod:`govsvc_health.seed`.

    ``token``: when set, every ``/api`` request needs ``Authorization: Bearer <token>``.
    ``latency``: seconds added to every answer. ``failure_rate`` (0..1): share of requests
    answered with HTTP 503, drawn from ``random.Random(seed)``. ``auto_decide_after``:
    approve a pending review task once it is that many seconds old (checked when read).
    ``late_rate`` (0..1): share of requests answered after ``late_delay`` seconds. ``faults``
    replaces these five; when none is set, ``GOVSVC_HEALTH_SIM_*`` applies. The injector is
    ``app.state.faults`` and keeps every call in ``app.state.faults.calls``.
    """
    given = FaultSettings(
        latency=latency,
        failure_rate=failure_rate,
        late_rate=late_rate,
        late_delay=late_delay,
        seed=seed,
    )
    settings = faults or (
        given if given != FaultSettings() else FaultSettings.from_env("GOVSVC_HEALTH_SIM")
    )
    system = HealthLegacySystem(
        auto_decide_after=auto_decide_after,
        persons={p.id_number: p for p in seed_data.PERSONS},
        certificates=list(seed_data.BIRTH_CERTIFICATES),
    )

    def guarded(handler: Handler, *, needs_token: bool = True) -> Handler:
        async def endpoint(request: Request) -> Response:
            if (
                needs_token
                and token is not None
                and request.headers.get("Authorization") != f"Bearer {token}"
            ):
                return _error(_Problem(401, "认证失败，无法访问系统资源"))
            try:
                return await handler(request)
            except _Problem as problem:
                return _error(problem)

        return endpoint

    routes = [
        Route("/health", guarded(system.health, needs_token=False)),
        Route("/api/v1/persons/{id_card}", guarded(system.person)),
        Route("/api/v1/birth-certificates", guarded(system.list_certificates)),
        Route("/api/v1/birth-certificates/{cert_no}", guarded(system.certificate)),
        Route("/api/v1/review-tasks", guarded(system.open_task), methods=["POST"]),
        Route("/api/v1/review-tasks/{task_id}", guarded(system.get_task)),
        Route(
            "/api/v1/review-tasks/{task_id}/decision",
            guarded(system.decide_task),
            methods=["POST"],
        ),
        Route("/api/v1/review-tasks/{task_id}/issue", guarded(system.issue), methods=["POST"]),
        Route(
            "/api/v1/review-tasks/{task_id}/cancel", guarded(system.cancel_task), methods=["POST"]
        ),
    ]
    def task_of(legacy_id: str) -> tuple[str, str] | None:
        task = system.tasks.get(legacy_id)
        return (task.idempotency_key, task.request["caseId"]) if task else None

    classify = rest_review_classifier(
        "/api/v1/review-tasks",
        task_of,
        others={"/api/v1/persons": "profile", "/api/v1/birth-certificates": "certificates",
                "/health": "health"},
    )
    injector = FaultInjector(settings=settings, classify=classify)
    app = Starlette(routes=routes, middleware=[Middleware(injector.wrap)])
    app.state.system = system
    app.state.faults = injector
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the simulator on 127.0.0.1 until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m govsvc_health.simulator", description=f"Simulated {DEPARTMENT_NAME} system"
    )
    parser.add_argument("--port", type=int, default=8104)
    parser.add_argument("--token", default=None, help="require this bearer token on /api")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--failure-rate", type=float, default=0.0, metavar="P")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--auto-decide-after", type=float, default=None, metavar="SECONDS")
    args = parser.parse_args(argv)
    app = create_app(
        token=args.token,
        latency=args.latency,
        failure_rate=args.failure_rate,
        seed=args.seed,
        auto_decide_after=args.auto_decide_after,
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
