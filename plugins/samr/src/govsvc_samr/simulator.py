"""A stand-in for the market regulation bureau's legacy system (市场监管业务系统).

REST/JSON behind an API key (header ``X-Api-Key``). Every answer is wrapped the way many
Chinese government systems do it: ``{"code": "0000", "msg": "成功", "data": ...}``, with a
non-``"0000"`` code (and a matching HTTP status) for errors:

====  ======  ==========================================
code  status  meaning
====  ======  ==========================================
0000  200/201 成功
1001  401     API key missing or wrong
1002  400     bad request (names the field)
2001  404     nothing found (enterprise, person, task)
2002  422     applicant cannot hold the licence
3001  409     the task's state does not allow the action
3002  422     Idempotency-Key reused for another request
====  ======  ==========================================

Review task status codes (审查任务状态): ``01`` 待审查, ``02`` 审查通过, ``03`` 不予许可,
``04`` 已发证, ``05`` 已撤销 (withdrawn because the application was withdrawn or denied
elsewhere).

Endpoints::

    GET  /health                                   (no key needed)
    GET  /api/v1/enterprises/{credit_code}
    GET  /api/v1/persons/{id_number}/enterprises   enterprises the person represents legally
    GET  /api/v1/licences?holder={credit_code}     营业执照 and 食品经营许可证
    POST /api/v1/review-tasks                      header Idempotency-Key; body caseId,
                                                   itemCode, applicantId, form
    GET  /api/v1/review-tasks/{task_id}
    POST /api/v1/review-tasks/{task_id}/decision   simulator control: {"result": "approve" |
                                                   "deny", "reason": ..., "reviewer": ...}
    POST /api/v1/review-tasks/{task_id}/issue      issues a new 食品经营许可证
    POST /api/v1/review-tasks/{task_id}/cancel     withdraw a pending task: {"reason": ...};
                                                   a decided task is answered as it is

Review tasks live in memory. Run alone with
``python -m govsvc_samr.simulator --port 8101 [--api-key KEY] [--auto-decide-after SECONDS]``.

Faults (off by default): ``create_app(faults=FaultSettings(failure_rate=0.3, late_rate=0.05,
late_delay=3, seed=1))``, or the environment ``GOVSVC_SAMR_SIM_FAILURE_RATE``,
``_LATE_RATE``, ``_LATE_DELAY`` (seconds), ``_LATENCY`` and ``_SEED`` when ``faults`` is not
given (see :mod:`govsvc.faultkit`). Every call is recorded; ``GET /_faults/calls`` lists them
with the platform task and case each was for.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from govsvc.faultkit import FaultInjector, FaultSettings, rest_review_classifier
from govsvc_samr import seed
from govsvc_samr.client import DEPARTMENT_NAME, EnterpriseStatus
from govsvc_samr.seed import Enterprise, Licence

DEFAULT_API_KEY = "samr-demo-key"

_BEIJING = dt.timezone(dt.timedelta(hours=8))
_AUTO_REVIEWER = "系统自动审查"
_AUTO_OPINION = "材料齐全，符合法定形式，准予许可"

# Legacy status codes of a review task (审查任务状态).
PENDING, APPROVED, DENIED, ISSUED, CANCELLED = "01", "02", "03", "04", "05"
_STATUS_NAMES = {
    PENDING: "待审查",
    APPROVED: "审查通过",
    DENIED: "不予许可",
    ISSUED: "已发证",
    CANCELLED: "已撤销",
}

# 主体业态 → the digit after "JY" in a food business licence number.
_BUSINESS_FORMAT_DIGITS = {"食品销售经营者": "1", "餐饮服务经营者": "2", "单位食堂": "3"}


class _Problem(Exception):
    """A business error answered as ``{"code": ..., "msg": ...}``."""

    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def _now() -> dt.datetime:
    return dt.datetime.now(_BEIJING).replace(microsecond=0)


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _ok(data: object, status: int = 200, msg: str = "成功") -> JSONResponse:
    return JSONResponse({"code": "0000", "msg": msg, "data": data}, status_code=status)


def _error(problem: _Problem) -> JSONResponse:
    return JSONResponse(
        {"code": problem.code, "msg": problem.msg, "data": None}, status_code=problem.status
    )


def enterprise_json(enterprise: Enterprise) -> dict[str, Any]:
    """An enterprise in the legacy field names (those of the public credit information system)."""
    return {
        "uniscid": enterprise.credit_code,
        "entname": enterprise.name,
        "enttype": enterprise.kind,
        "lerep": enterprise.legal_representative,
        "lerepCerno": enterprise.legal_representative_id,
        "regcap": f"{enterprise.registered_capital:.6f}",
        "regcapcur": enterprise.capital_currency,
        "dom": enterprise.address,
        "estdate": enterprise.established_on.isoformat(),
        "regstate": enterprise.status.value,
        "regorg": enterprise.registration_authority,
        "opscope": enterprise.business_scope,
    }


def licence_json(licence: Licence) -> dict[str, Any]:
    """A licence in the legacy field names; ``validTo`` null means long-term (长期)."""
    return {
        "licType": licence.kind.value,
        "licNo": licence.number,
        "holderName": licence.holder_name,
        "holderCode": licence.holder_credit_code,
        "issueOrg": licence.issuer,
        "issueDate": licence.issued_on.isoformat(),
        "validFrom": licence.valid_from.isoformat(),
        "validTo": None if licence.valid_until is None else licence.valid_until.isoformat(),
        "licState": licence.status.value,
        "items": list(licence.business_items),
        "face": dict(licence.face),
    }


@attrs.define
class _ReviewTask:
    task_id: str
    idempotency_key: str
    request: dict[str, Any]
    created_at: dt.datetime
    created_monotonic: float
    status: str = PENDING
    opinion: str | None = None
    reviewer: str | None = None
    decided_at: dt.datetime | None = None
    licence: Licence | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id,
            "bizKey": self.idempotency_key,
            "caseId": self.request["caseId"],
            "itemCode": self.request["itemCode"],
            "applicantId": self.request["applicantId"],
            "status": self.status,
            "statusName": _STATUS_NAMES[self.status],
            "createTime": _stamp(self.created_at),
            "opinion": self.opinion,
            "reviewer": self.reviewer,
            "decideTime": None if self.decided_at is None else _stamp(self.decided_at),
            "licNo": None if self.licence is None else self.licence.number,
        }


@attrs.define
class SamrLegacySystem:
    """The simulator's state and request handlers; :func:`create_app` wires them to routes."""

    api_key: str
    auto_decide_after: float | None
    enterprises: dict[str, Enterprise]
    licences: list[Licence]
    tasks: dict[str, _ReviewTask] = attrs.field(factory=dict)
    tasks_by_key: dict[str, _ReviewTask] = attrs.field(factory=dict)
    next_task_serial: int = 1
    next_licence_serial: int = 100001

    # -- lookups ---------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return _ok({"status": "UP", "system": DEPARTMENT_NAME})

    async def enterprise(self, request: Request) -> Response:
        code = request.path_params["credit_code"].upper()
        found = self.enterprises.get(code)
        if found is None:
            raise _Problem(404, "2001", f"未查询到统一社会信用代码为{code}的企业")
        return _ok(enterprise_json(found))

    async def person_enterprises(self, request: Request) -> Response:
        id_number = request.path_params["id_number"].upper()
        represented = [
            e for e in self.enterprises.values() if e.legal_representative_id == id_number
        ]
        if not represented:
            raise _Problem(404, "2001", f"未查询到身份证号{id_number}担任法定代表人的企业")
        return _ok(
            {
                "cerno": id_number,
                "name": represented[0].legal_representative,
                "enterprises": [enterprise_json(e) for e in represented],
            }
        )

    async def licences_of(self, request: Request) -> Response:
        holder = request.query_params.get("holder", "").upper()
        if not holder:
            raise _Problem(400, "1002", "缺少参数holder（持证主体统一社会信用代码）")
        held = [lic for lic in self.licences if lic.holder_credit_code == holder]
        if not held and holder not in self.enterprises:
            raise _Problem(404, "2001", f"未查询到持证主体{holder}")
        return _ok({"total": len(held), "list": [licence_json(lic) for lic in held]})

    # -- review tasks ----------------------------------------------------------------------

    async def open_task(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            raise _Problem(400, "1002", "缺少请求头Idempotency-Key")
        body = await _json_object(request)
        fields = {}
        for name in ("caseId", "itemCode", "applicantId"):
            value = body.get(name)
            if not isinstance(value, str) or not value.strip():
                raise _Problem(400, "1002", f"参数{name}缺失或不是字符串")
            fields[name] = value.strip()
        form = body.get("form", {})
        if not isinstance(form, dict):
            raise _Problem(400, "1002", "参数form必须是对象")
        wanted = {**fields, "applicantId": fields["applicantId"].upper(), "form": form}

        existing = self.tasks_by_key.get(key)
        if existing is not None:
            if existing.request != wanted:
                raise _Problem(
                    422, "3002", f"幂等键{key}已用于另一个请求，请勿用同一幂等键提交不同内容"
                )
            return _ok(existing.to_json())

        self._holder(wanted)  # reject at once what could never be issued
        task = _ReviewTask(
            task_id=f"SCJG{self.next_task_serial:010d}",
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
        result = body.get("result")
        reason = body.get("reason") or ""
        reviewer = body.get("reviewer") or "模拟审查员"
        if result not in ("approve", "deny"):
            raise _Problem(400, "1002", "参数result必须是approve或deny")
        if not isinstance(reason, str) or not isinstance(reviewer, str):
            raise _Problem(400, "1002", "参数reason和reviewer必须是字符串")
        if result == "deny" and not reason.strip():
            raise _Problem(400, "1002", "不予许可必须说明理由（reason）")
        status = APPROVED if result == "approve" else DENIED
        if task.status == PENDING:
            task.status = status
            task.opinion = reason.strip() or _AUTO_OPINION
            task.reviewer = reviewer
            task.decided_at = _now()
        elif status != task.status:
            raise _Problem(
                409, "3001", f"审查任务{task.task_id}已是{_STATUS_NAMES[task.status]}状态，不能再改"
            )
        return _ok(task.to_json())

    async def cancel_task(self, request: Request) -> Response:
        task = self._task(request)
        body = await _json_object(request)
        reason = body.get("reason") or "申请已撤回"
        if not isinstance(reason, str):
            raise _Problem(400, "1002", "参数reason必须是字符串")
        if task.status == PENDING:
            task.status = CANCELLED
            task.opinion = reason.strip() or "申请已撤回"
            task.reviewer = "政务服务平台"
            task.decided_at = _now()
            return _ok(task.to_json(), msg="审查任务已撤销")
        if task.status == CANCELLED:  # withdrawing again changes nothing
            return _ok(task.to_json(), msg="审查任务已撤销")
        # A decided task has nothing left to withdraw; say so and show it as it is.
        return _ok(task.to_json(), msg=f"审查任务已是{_STATUS_NAMES[task.status]}状态，无需撤销")

    async def issue(self, request: Request) -> Response:
        task = self._task(request)
        if task.licence is not None:  # issuing again hands out the same licence
            return _ok(licence_json(task.licence))
        if task.status != APPROVED:
            raise _Problem(
                409,
                "3001",
                f"审查任务{task.task_id}为{_STATUS_NAMES[task.status]}状态，审查通过后才能发证",
            )
        task.licence = self._new_food_licence(task)
        task.status = ISSUED
        self.licences.append(task.licence)
        return _ok(licence_json(task.licence), status=201)

    # -- helpers ---------------------------------------------------------------------------

    def _task(self, request: Request) -> _ReviewTask:
        task_id = request.path_params["task_id"]
        task = self.tasks.get(task_id)
        if task is None:
            raise _Problem(404, "2001", f"未查询到审查任务{task_id}")
        if (
            task.status == PENDING
            and self.auto_decide_after is not None
            and time.monotonic() - task.created_monotonic >= self.auto_decide_after
        ):
            task.status = APPROVED
            task.opinion = _AUTO_OPINION
            task.reviewer = _AUTO_REVIEWER
            task.decided_at = _now()
        return task

    def _holder(self, request: Mapping[str, Any]) -> Enterprise:
        """The enterprise a licence would be issued to: registered, or named in the form."""
        applicant: str = request["applicantId"]
        registered = self.enterprises.get(applicant)
        if registered is not None:
            if registered.status is not EnterpriseStatus.ACTIVE:
                raise _Problem(
                    422, "2002", f"申请人{registered.name}已{registered.status.value}，不能申请许可"
                )
            return registered
        form: Mapping[str, Any] = request["form"]
        name = form.get("holderName")
        if not isinstance(name, str) or not name.strip():
            raise _Problem(
                422,
                "2002",
                f"申请人{applicant}未在本系统登记；请在form中填写holderName（经营者名称）等信息",
            )
        return Enterprise(
            credit_code=applicant,
            name=name.strip(),
            kind=str(form.get("entType", "有限责任公司")),
            legal_representative=str(form.get("legalRepresentative", "")),
            legal_representative_id=str(form.get("legalRepresentativeId", "")),
            registered_capital=Decimal(0),
            capital_currency="人民币",
            address=str(form.get("address", form.get("premises", ""))),
            established_on=_now().date(),
            status=EnterpriseStatus.ACTIVE,
            registration_authority=DEPARTMENT_NAME,
            business_scope="",
        )

    def _new_food_licence(self, task: _ReviewTask) -> Licence:
        holder = self._holder(task.request)
        form: Mapping[str, Any] = task.request["form"]
        business_format = str(form.get("businessFormat", "餐饮服务经营者"))
        digit = next(
            (
                d
                for prefix, d in _BUSINESS_FORMAT_DIGITS.items()
                if business_format.startswith(prefix)
            ),
            "2",
        )
        county = holder.credit_code[2:8] if holder.credit_code[2:8].isdigit() else "230100"
        serial = f"{self.next_licence_serial:06d}"
        self.next_licence_serial += 1
        body = f"{digit}{county}{serial}"
        # The national check-digit rule is not published; a digit sum stands in for it.
        number = f"JY{body}{sum(int(c) for c in body) % 10}"
        items = form.get("businessItems", ["热食类食品制售"])
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            items = ["热食类食品制售"]
        issued_on = _now().date()
        valid_until = _years_later(issued_on, 5) - dt.timedelta(days=1)
        return seed.food_business_licence(
            holder,
            number=number,
            business_format=business_format,
            business_items=tuple(items),
            premises=str(form.get("premises", holder.address)),
            issued_on=issued_on,
            valid_until=valid_until,
            supervisor=DEPARTMENT_NAME,
        )


def _years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, month=3, day=1)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Problem(400, "1002", "请求体不是合法的JSON") from None
    if not isinstance(body, dict):
        raise _Problem(400, "1002", "请求体必须是JSON对象")
    return body


Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    *,
    api_key: str = DEFAULT_API_KEY,
    auto_decide_after: float | None = None,
    faults: FaultSettings | None = None,
) -> Starlette:
    """The simulated system as an ASGI app, seeded with :mod:`govsvc_samr.seed`.

    ``api_key`` is the key clients must send as ``X-Api-Key``; ``auto_decide_after`` approves
    a pending review task once it is that many seconds old (checked when the task is read).
    ``faults``: failed and late answers to inject (default: ``GOVSVC_SAMR_SIM_*``, else none);
    the injector is ``app.state.faults`` and keeps every call in ``app.state.faults.calls``.
    """
    system = SamrLegacySystem(
        api_key=api_key,
        auto_decide_after=auto_decide_after,
        enterprises={e.credit_code: e for e in seed.ENTERPRISES},
        licences=list(seed.LICENCES),
    )

    def guarded(handler: Handler, *, needs_key: bool = True) -> Handler:
        async def endpoint(request: Request) -> Response:
            if needs_key and request.headers.get("X-Api-Key") != system.api_key:
                return _error(_Problem(401, "1001", "API Key缺失或无效，请在请求头X-Api-Key中提供"))
            try:
                return await handler(request)
            except _Problem as problem:
                return _error(problem)

        return endpoint

    routes = [
        Route("/health", guarded(system.health, needs_key=False)),
        Route("/api/v1/enterprises/{credit_code}", guarded(system.enterprise)),
        Route("/api/v1/persons/{id_number}/enterprises", guarded(system.person_enterprises)),
        Route("/api/v1/licences", guarded(system.licences_of)),
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
        others={"/api/v1/enterprises": "lookup", "/api/v1/persons": "lookup",
                "/api/v1/licences": "certificates", "/health": "health"},
    )
    settings = faults if faults is not None else FaultSettings.from_env("GOVSVC_SAMR_SIM")
    injector = FaultInjector(settings=settings, classify=classify)
    app = Starlette(routes=routes, middleware=[Middleware(injector.wrap)])
    app.state.system = system
    app.state.faults = injector
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the simulator on 127.0.0.1 until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m govsvc_samr.simulator", description=f"Simulated {DEPARTMENT_NAME} system"
    )
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--auto-decide-after", type=float, default=None, metavar="SECONDS")
    args = parser.parse_args(argv)
    app = create_app(api_key=args.api_key, auto_decide_after=args.auto_decide_after)
    uvicorn.run(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
