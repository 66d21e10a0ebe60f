"""A simulator of 哈尔滨市人力资源和社会保障局's REST API (social security, 人社).

Run it alone with ``python -m govsvc_hrss.simulator --port 8103``. Get a token with
``POST /oauth/token`` (form: ``grant_type=client_credentials&client_id=govsvc&
client_secret=hrss-sim-secret``) and send it as ``Authorization: Bearer ...``. Review tasks
live in memory; move one on with ``POST /admin/review-tasks/{legacyTaskId}/decision`` and a
JSON body ``{"approve": true, "reason": "..."}``, or start with ``auto_decide_after``.

Faults (off by default): ``create_app(faults=FaultSettings(failure_rate=0.3, late_rate=0.05,
late_delay=3, seed=1))``, or the environment ``GOVSVC_HRSS_SIM_FAILURE_RATE``,
``_LATE_RATE``, ``_LATE_DELAY`` (seconds), ``_LATENCY`` and ``_SEED`` when ``faults`` is not
given (see :mod:`govsvc.faultkit`); ``/admin`` controls are never faulted. Every call is
recorded; ``GET /_faults/calls`` lists them with the platform task and case each was for.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import secrets
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from govsvc.faultkit import FaultInjector, FaultSettings, rest_review_classifier
from govsvc_hrss import seed

CST = dt.timezone(dt.timedelta(hours=8), "CST")
Handler = Callable[[Request], Any]


@attrs.define
class Person:
    """An insured person in the simulated system (mutable: a card issue may add one)."""

    id_number: str
    name: str
    sex: str
    birth_date: dt.date
    address: str
    employer: str | None
    insurances: tuple[seed.SeedInsurance, ...]


@attrs.define
class Card:
    """A social security card in the simulated system (its status changes)."""

    card_number: str
    holder_id: str
    bank: str
    issued_on: dt.date
    status: str


@attrs.define
class ReviewTask:
    """A review task (e.g. 社会保障卡申领) in the simulated system."""

    legacy_task_id: str
    task_id: str
    request: dict[str, Any]
    created_at: dt.datetime
    created_tick: float
    status: str = "PENDING"
    reason: str = ""
    decided_at: dt.datetime | None = None
    card_number: str | None = None


@attrs.define
class SocialSecurityState:
    """Everything the simulated bureau holds; tests may inspect it as ``app.state.hrss``."""

    client_id: str
    client_secret: str
    token_ttl: float
    auto_decide_after: float | None
    max_page_size: int
    unavailable: bool
    clock: Callable[[], float]
    persons: dict[str, Person]
    employers: dict[str, seed.SeedEmployer]
    cards: list[Card]
    tokens: dict[str, float] = attrs.Factory(dict)
    tokens_issued: int = 0
    tasks: dict[str, ReviewTask] = attrs.Factory(dict)
    task_by_key: dict[str, str] = attrs.Factory(dict)

    def now(self) -> dt.datetime:
        return dt.datetime.now(CST).replace(microsecond=0)

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + self.token_ttl
        self.tokens_issued += 1
        return token

    def token_valid(self, token: str) -> bool:
        expires = self.tokens.get(token)
        return expires is not None and self.clock() < expires

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


def _state(request: Request) -> SocialSecurityState:
    state: SocialSecurityState = request.app.state.hrss
    return state


def _error(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)


# -- OAuth 2.0 ----------------------------------------------------------------------------


async def _token(request: Request) -> Response:
    state = _state(request)
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))

    def field(name: str) -> str:
        return form.get(name, [""])[0]

    if field("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type", "only client_credentials is supported")
    if (field("client_id"), field("client_secret")) != (state.client_id, state.client_secret):
        return _error(401, "invalid_client", "客户端身份验证失败")
    ttl = state.token_ttl
    return JSONResponse(
        {
            "access_token": state.issue_token(),
            "token_type": "Bearer",
            "expires_in": int(ttl) if ttl == math.floor(ttl) else ttl,
        },
        headers={"Cache-Control": "no-store"},
    )


def _protected(handler: Handler) -> Handler:
    """Wrap an API handler: 503 when unavailable, 401 ``invalid_token`` without a valid token."""

    async def guarded(request: Request) -> Response:
        state = _state(request)
        if state.unavailable:
            return JSONResponse(
                {"error": "service_unavailable", "message": "系统维护中"},
                status_code=503,
                headers={"Retry-After": "30"},
            )
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return JSONResponse(
                {"error": "unauthorized", "message": "缺少访问令牌"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="hrss"'},
            )
        if not state.token_valid(token):
            return JSONResponse(
                {"error": "invalid_token", "message": "访问令牌无效或已过期"},
                status_code=401,
                headers={
                    "WWW-Authenticate": 'Bearer realm="hrss", error="invalid_token", '
                    'error_description="The access token expired or was revoked"'
                },
            )
        response: Response = await handler(request)
        return response

    return guarded


# -- queries ------------------------------------------------------------------------------


def _page(request: Request, items: Sequence[dict[str, Any]]) -> Response:
    state = _state(request)
    try:
        page = int(request.query_params.get("page", "1"))
        size = int(request.query_params.get("size", "20"))
    except ValueError:
        return _error(400, "invalid_request", "page and size must be whole numbers")
    if page < 1 or not 1 <= size <= state.max_page_size:
        return _error(
            400, "invalid_request", f"page ≥ 1 and 1 ≤ size ≤ {state.max_page_size} required"
        )
    start = (page - 1) * size
    return JSONResponse(
        {"items": list(items[start : start + size]), "page": page, "size": size,
         "total": len(items)}
    )


def _card_json(state: SocialSecurityState, card: Card) -> dict[str, Any]:
    return {
        "cardNumber": card.card_number,
        "socialSecurityNumber": card.holder_id,
        "holderName": state.persons[card.holder_id].name,
        "bank": card.bank,
        "issuedOn": card.issued_on.isoformat(),
        "status": card.status,
    }


async def _person(request: Request) -> Response:
    state = _state(request)
    person = state.persons.get(request.path_params["id_number"].upper())
    if person is None:
        return _error(404, "person_not_found", "未查询到该人员参保信息")
    employer = state.employers.get(person.employer) if person.employer else None
    return JSONResponse(
        {
            "idNumber": person.id_number,
            "name": person.name,
            "sex": person.sex,
            "birthDate": person.birth_date.isoformat(),
            "address": person.address,
            "employer": None
            if employer is None
            else {"creditCode": employer.credit_code, "name": employer.name},
            "insurances": [
                {
                    "type": i.type_code,
                    "typeName": seed.INSURANCE_TYPES[i.type_code],
                    "status": i.status,
                    "since": i.since.isoformat(),
                }
                for i in person.insurances
            ],
        }
    )


async def _cards(request: Request) -> Response:
    state = _state(request)
    holder = request.query_params.get("holder", "").upper()
    if not holder:
        return _error(400, "invalid_request", "holder (社会保障号码) is required")
    if holder not in state.persons:
        return _error(404, "holder_not_found", "未查询到该持卡人")
    cards = sorted((c for c in state.cards if c.holder_id == holder), key=lambda c: c.issued_on)
    return _page(request, [_card_json(state, c) for c in cards])


async def _insured(request: Request) -> Response:
    state = _state(request)
    code = request.path_params["credit_code"].upper()
    if code not in state.employers:
        return _error(404, "employer_not_found", "未查询到该参保单位")
    employees = sorted(
        (p for p in state.persons.values() if p.employer == code), key=lambda p: p.id_number
    )
    return _page(
        request,
        [
            {
                "idNumber": p.id_number,
                "name": p.name,
                "insuranceTypes": [i.type_code for i in p.insurances],
                "since": min(i.since for i in p.insurances).isoformat(),
            }
            for p in employees
        ],
    )


# -- review tasks -------------------------------------------------------------------------


def _ticket(task: ReviewTask) -> dict[str, Any]:
    result: dict[str, Any] = {
        "legacyTaskId": task.legacy_task_id,
        "taskId": task.task_id,
        "status": task.status,
        "createdAt": task.created_at.isoformat(),
    }
    if task.decided_at is not None:
        result |= {"reason": task.reason, "decidedAt": task.decided_at.isoformat()}
    return result


def _form_problem(state: SocialSecurityState, request: dict[str, Any]) -> tuple[str, str] | None:
    form = request.get("form")
    if not isinstance(form, dict):
        return "form", "form must be an object"
    holder = str(form.get("holderIdNumber") or request.get("applicantId") or "").upper()
    if holder in state.persons:
        return None
    for name in ("name", "sex", "birthDate", "address"):
        if not str(form.get(name) or "").strip():
            return name, f"持卡人无参保记录，表单须填写 {name}"
    if form["sex"] not in ("男", "女"):
        return "sex", "性别应为 男 或 女"
    try:
        dt.date.fromisoformat(str(form["birthDate"]))
    except ValueError:
        return "birthDate", "出生日期格式应为 YYYY-MM-DD"
    return None


async def _open_task(request: Request) -> Response:
    state = _state(request)
    key = request.headers.get("idempotency-key", "")
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "invalid_request", "body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "invalid_request", "body must be a JSON object")
    if not key or body.get("taskId") != key:
        return _error(400, "invalid_request", "Idempotency-Key must be sent and equal taskId")
    for name in ("caseId", "itemCode", "applicantId"):
        if not isinstance(body.get(name), str) or not body[name]:
            return _error(422, "invalid_request", f"{name} is required", field=name)
    existing = state.task_by_key.get(key)
    if existing is not None:
        task = state.tasks[existing]
        if task.request != body:
            return _error(409, "idempotency_conflict", f"任务号 {key} 已用于内容不同的申请")
        return JSONResponse(_ticket(task))
    problem = _form_problem(state, body)
    if problem is not None:
        return _error(422, "invalid_form", problem[1], field=problem[0])
    legacy_id = f"RS{len(state.tasks) + 1:010d}"
    task = ReviewTask(legacy_id, key, body, state.now(), state.clock())
    state.tasks[legacy_id] = task
    state.task_by_key[key] = legacy_id
    return JSONResponse(_ticket(task), status_code=201)


def _find_task(request: Request) -> ReviewTask | None:
    state = _state(request)
    task = state.tasks.get(request.path_params["legacy_task_id"])
    if task is not None:
        state.settle(task)
    return task


async def _get_task(request: Request) -> Response:
    task = _find_task(request)
    if task is None:
        return _error(404, "task_not_found", "审核任务不存在")
    return JSONResponse(_ticket(task))


async def _issue(request: Request) -> Response:
    state = _state(request)
    task = _find_task(request)
    if task is None:
        return _error(404, "task_not_found", "审核任务不存在")
    if task.status != "APPROVED":
        where = "审核中" if task.status == "PENDING" else "未通过审核"
        return _error(409, "not_approved", f"申请{where}，不能制卡")
    if task.card_number is None:
        form = task.request["form"]
        holder = str(form.get("holderIdNumber") or task.request["applicantId"]).upper()
        if holder not in state.persons:
            state.persons[holder] = Person(
                holder,
                form["name"],
                form["sex"],
                dt.date.fromisoformat(form["birthDate"]),
                form["address"],
                None,
                (),
            )
        for card in state.cards:
            if card.holder_id == holder and card.status != "注销":
                card.status = "注销"  # a new card replaces every earlier one
        number = f"H3{len(state.cards) + 200_000:07d}"
        bank = str(form.get("bank") or "中国工商银行哈尔滨分行")
        state.cards.append(Card(number, holder, bank, state.now().date(), "正常"))
        task.card_number = number
    card = next(c for c in state.cards if c.card_number == task.card_number)
    return JSONResponse(_card_json(state, card))


# -- simulator controls -------------------------------------------------------------------


async def _decide(request: Request) -> Response:
    state = _state(request)
    task = state.tasks.get(request.path_params["legacy_task_id"])
    if task is None:
        return _error(404, "task_not_found", "no such review task")
    try:
        decision = await request.json()
        approve, reason = decision["approve"], decision.get("reason", "")
        if not isinstance(approve, bool) or not isinstance(reason, str):
            raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError):
        return _error(400, "invalid_request", 'send {"approve": true|false, "reason": "..."}')
    if task.status != "PENDING":
        return _error(409, "already_decided", f"task already {task.status}")
    state.decide(task, approve, reason)
    return JSONResponse(_ticket(task))


async def _revoke(request: Request) -> Response:
    state = _state(request)
    revoked = len(state.tokens)
    state.tokens.clear()
    return JSONResponse({"revoked": revoked})


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "DOWN" if _state(request).unavailable else "UP"})


def create_app(
    *,
    client_id: str = "govsvc",
    client_secret: str = "hrss-sim-secret",
    token_ttl: float = 3600.0,
    auto_decide_after: float | None = None,
    max_page_size: int = 100,
    unavailable: bool = False,
    clock: Callable[[], float] = time.monotonic,
    faults: FaultSettings | None = None,
) -> Starlette:
    """The simulated bureau as an ASGI app.

    ``token_ttl`` is the access-token lifetime in seconds (by ``clock``, a monotonic clock);
    make it small to force expiry. ``auto_decide_after`` approves a pending review task once
    that many seconds have passed, checked whenever the task is read. ``unavailable`` makes
    every API call answer 503, to rehearse an outage. ``faults``: failed and late answers to
    inject (default: ``GOVSVC_HRSS_SIM_*``, else none); the injector is ``app.state.faults``
    and keeps every call in ``app.state.faults.calls``.
    """
    if token_ttl < 0 or max_page_size < 1:
        raise ValueError("token_ttl must be ≥ 0 and max_page_size ≥ 1")
    state = SocialSecurityState(
        client_id=client_id,
        client_secret=client_secret,
        token_ttl=token_ttl,
        auto_decide_after=auto_decide_after,
        max_page_size=max_page_size,
        unavailable=unavailable,
        clock=clock,
        persons={p.id_number: Person(**attrs.asdict(p, recurse=False)) for p in seed.PEOPLE},
        employers={e.credit_code: e for e in seed.EMPLOYERS},
        cards=[Card(**attrs.asdict(c)) for c in seed.CARDS],
    )
    def task_of(legacy_id: str) -> tuple[str, str] | None:
        task = state.tasks.get(legacy_id)
        return (task.task_id, str(task.request.get("caseId"))) if task else None

    classify = rest_review_classifier(
        "/api/review-tasks",
        task_of,
        others={"/oauth/token": "token", "/api/persons": "profile", "/api/cards": "certificates",
                "/api/employers": "lookup", "/health": "health"},
    )
    settings = faults if faults is not None else FaultSettings.from_env("GOVSVC_HRSS_SIM")
    injector = FaultInjector(settings=settings, classify=classify)
    app = Starlette(
        routes=[
            Route("/oauth/token", _token, methods=["POST"]),
            Route("/health", _health, methods=["GET"]),
            Route("/api/persons/{id_number}", _protected(_person), methods=["GET"]),
            Route("/api/cards", _protected(_cards), methods=["GET"]),
            Route(
                "/api/employers/{credit_code}/insured", _protected(_insured), methods=["GET"]
            ),
            Route("/api/review-tasks", _protected(_open_task), methods=["POST"]),
            Route("/api/review-tasks/{legacy_task_id}", _protected(_get_task), methods=["GET"]),
            Route(
                "/api/review-tasks/{legacy_task_id}/issue", _protected(_issue), methods=["POST"]
            ),
            Route("/admin/review-tasks/{legacy_task_id}/decision", _decide, methods=["POST"]),
            Route("/admin/tokens/revoke", _revoke, methods=["POST"]),
        ],
        middleware=[Middleware(injector.wrap)],
    )
    app.state.hrss = state
    app.state.faults = injector
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the simulator on 127.0.0.1 (``python -m govsvc_hrss.simulator --port 8103``)."""
    parser = argparse.ArgumentParser(description="Simulated 哈尔滨市人社局 REST API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8103)
    parser.add_argument("--client-id", default="govsvc")
    parser.add_argument("--client-secret", default="hrss-sim-secret")
    parser.add_argument("--token-ttl", type=float, default=3600.0, metavar="SECONDS")
    parser.add_argument(
        "--auto-decide-after", type=float, default=None, metavar="SECONDS",
        help="approve pending review tasks automatically after this many seconds",
    )
    args = parser.parse_args(argv)
    app = create_app(
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_ttl=args.token_ttl,
        auto_decide_after=args.auto_decide_after,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
