"""REST API v1 (``/api/v1``) for channels and department systems, and ``/healthz``, ``/metrics``.

Every operation resolves the caller to a :class:`govsvc.Principal` and calls the SDK through
a session bound to it; the SDK's policy answers every permission question. Callers
authenticate with ``Authorization: Bearer``:

* an access token from the identity provider's client-credentials grant (department
  systems, channel apps: RFC 9068 JWTs verified with the provider's published keys);
* a host API token (``gst_…``) configured hashed in the settings (``[[api_tokens]]``);
* or, from a logged-in browser, the session cookie plus ``X-CSRF-Token`` on unsafe methods.

Errors are RFC 9457 problem details (``application/problem+json``) with field-level
``errors``. ``POST /api/v1/applications`` honours ``Idempotency-Key``: a retried request
with the same key and body answers the first response and creates nothing.
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

import govsvc
from govsvc import Assurance, Authentication, Principal
from govsvc_host.auth import LoginFailed
from govsvc_host.context import Host, NotLoggedIn
from govsvc_host.problems import Problem, problem_response
from govsvc_host.security import (
    API_TOKEN_PREFIX,
    CSRF_HEADER,
    client_address,
    hash_api_token,
    valid_csrf,
)
from govsvc_host.store import IdempotencyConflict, request_hash

__all__ = ["TRACK_ROUTE", "StorableParameters", "fast_track", "ops_router", "router"]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


COMMON: dict[int | str, dict[str, Any]] = {
    401: _problem("no or invalid credentials"),
    403: _problem("refused by the SDK's policy (recorded in the access log)"),
    422: _problem("invalid input, with field-level errors"),
}
CASE_ERRORS: dict[int | str, dict[str, Any]] = {
    **COMMON,
    404: _problem("no such case"),
    409: _problem("the case's state does not allow this, or it changed meanwhile"),
    502: _problem("a department system answered with an error"),
    503: _problem("a department system is unavailable"),
}

def _storable(value: str) -> str | None:
    """Why ``value`` cannot be stored as text (PostgreSQL refuses NUL), or None."""
    if "\x00" in value:
        return "must not contain NUL (\\u0000)"
    if any("\ud800" <= ch <= "\udfff" for ch in value):
        return "must not contain lone surrogates"
    return None


class StorableParameters:
    """Refuse (422) a path or query string carrying NUL, which PostgreSQL cannot store.

    A pure ASGI check before routing, for pages and API alike: cheaper than a dependency on
    every route. (Percent-decoded URLs cannot carry lone surrogates: invalid UTF-8 decodes to
    U+FFFD.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")
        ):
            where = "path" if "\x00" in scope.get("path", "") else "query string"
            response = problem_response(
                422, "invalid-input", "输入有误",
                f"the {where} contains NUL (\\u0000), which cannot be stored; remove it",
                instance=scope.get("path", ""),
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


router = APIRouter(prefix="/api/v1", tags=["api v1"], responses=COMMON)
ops_router = APIRouter(tags=["operations"])


def host_of(request: Request) -> Host:
    host: Host = request.app.state.host
    return host


# --- who is calling ------------------------------------------------------------------------


class Unauthenticated(NotLoggedIn):
    pass


PROVIDER_HEADER = "X-Identity-Provider"


def _plugin_principal(host: Host, name: str, token: str) -> Principal:
    """An applicant vouched for by an identity-provider plugin (``govsvc_identity_providers``).

    The plugin's ``verify(token)`` answers the person's key (一号) or None. A provider plugged
    into the platform is trusted to have checked the real name (assurance L2); the name is the
    one the platform has registered for the key, else the masked number.
    """
    provider = host.platform.registry.identity_providers.get(name)
    if provider is None:
        raise Unauthenticated()
    try:
        key = provider.verify(token)
    except Exception:  # a provider that fails is a failed login, not a server error
        key = None
    if key is None:
        raise Unauthenticated()
    party = host.platform.system().parties.get(key)
    auth = Authentication(provider=name, assurance=Assurance.L2, subject=key.number)
    return Principal.applicant(key, party.name if party else key.masked(), auth=auth)


async def caller(request: Request) -> Principal:
    """The principal behind the request's bearer token (or browser session), else 401."""
    host = host_of(request)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
        provider = request.headers.get(PROVIDER_HEADER)
        if provider:
            return await run_in_threadpool(_plugin_principal, host, provider, token)
        if token.startswith(API_TOKEN_PREFIX):
            digest = hash_api_token(token)
            for entry in host.settings.api_tokens:
                if hmac.compare_digest(entry.hash, digest):
                    auth = Authentication(
                        provider="host-api-token", assurance=Assurance.L1, subject=entry.name
                    )
                    if entry.role == "department_system":
                        return Principal.department_system(entry.department, entry.name, auth=auth)
                    return Principal.channel(entry.name, entry.name, scopes=entry.scopes, auth=auth)
            raise Unauthenticated()
        try:
            return await host.rp.machine_principal(
                token, audience=host.settings.identity.api_audience
            )
        except LoginFailed:
            raise Unauthenticated() from None
    principal = host.principal(request)
    if principal is None:
        raise Unauthenticated()
    if request.method not in ("GET", "HEAD", "OPTIONS") and not valid_csrf(
        request, request.headers.get(CSRF_HEADER)
    ):
        raise Unauthenticated()
    return principal


async def maybe_caller(request: Request) -> Principal:
    """The caller, or the anonymous public principal when no credentials came."""
    if "authorization" not in request.headers and "cookie" not in request.headers:
        return Principal.public()
    try:
        return await caller(request)
    except NotLoggedIn:
        return Principal.public()


Caller = Annotated[Principal, Depends(caller)]
MaybeCaller = Annotated[Principal, Depends(maybe_caller)]


# --- models --------------------------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=5000)

    @field_validator("*", mode="after")
    @classmethod
    def _text_is_storable(cls, value: Any) -> Any:
        texts = (
            [value] if isinstance(value, str)
            else [*value.keys(), *value.values()] if isinstance(value, dict)
            else []
        )
        for text in texts:
            problem = _storable(text) if isinstance(text, str) else None
            if problem:
                raise ValueError(f"text {problem}")
        return value


class MaterialOut(BaseModel):
    code: str
    name: str
    necessity: str
    formats: list[str]
    commitment_allowed: bool
    ecert_type: str | None


class ItemOut(BaseModel):
    """A published item; in search and browse results (``q``, ``department``, ``theme``,
    ``life_stage``) only what a list shows — the guide fields are null there, and
    ``GET /api/v1/items/{code}`` gives them."""

    code: str = Field(description="implementation code (实施编码)")
    name: str
    agency: str
    agency_code: str
    item_type: str | None = Field(default=None, description="item type (事项类型), e.g. 行政许可")
    version: int | None = None
    promised_limit: str | None = None
    statutory_limit: str | None = None
    online_depth: str | None = None
    visits: int | None = None
    materials: list[MaterialOut] = Field(default_factory=list)
    themes: list[str] = Field(default_factory=list, description="themes (主题) it is filed under")
    life_stages: list[str] = Field(
        default_factory=list, description="life stages (人生阶段) it is filed under"
    )
    match: str | None = Field(
        default=None,
        description="how it matched the search (exact, prefix, name, keyword); null when listed",
    )


class ItemList(BaseModel):
    items: list[ItemOut]
    next: str | None = Field(
        default=None,
        description="pass as `after` (with the same q and filters) for the following page; "
        "null at the end or when every item was listed",
    )


def _item_out(item: govsvc.ServiceItem, version: govsvc.ItemVersion) -> ItemOut:
    return ItemOut(
        code=item.implementation_code,
        name=item.name,
        agency=item.agency.name,
        agency_code=item.agency.credit_code,
        item_type=item.item_type.label,
        version=version.version,
        promised_limit=str(version.promised_limit),
        statutory_limit=str(version.statutory_limit),
        online_depth=version.online_depth.name,
        visits=version.visits,
        materials=[
            MaterialOut(
                code=m.code,
                name=m.name,
                necessity=m.necessity.value,
                formats=list(m.formats),
                commitment_allowed=m.commitment_allowed,
                ecert_type=m.ecert_type,
            )
            for m in version.materials
        ],
    )


class MaterialKindIn(enum.Enum):
    upload = "upload"
    paper = "paper"
    ecert = "ecert"
    shared = "shared"
    commitment = "commitment"


class ChannelIn(enum.Enum):
    window = "window"
    pc = "pc"
    mobile = "mobile"
    express = "express"


_CHANNELS = {
    ChannelIn.window: govsvc.Channel.WINDOW,
    ChannelIn.pc: govsvc.Channel.PC,
    ChannelIn.mobile: govsvc.Channel.MOBILE,
    ChannelIn.express: govsvc.Channel.EXPRESS,
}


class ProvidedMaterialIn(Strict):
    code: str = Field(min_length=1, max_length=20)
    kind: MaterialKindIn = MaterialKindIn.upload
    reference: str = Field(default="", max_length=500)
    filename: str = Field(default="", max_length=200)
    media_type: str = Field(default="", max_length=100)


class PartyIn(Strict):
    number: str = Field(min_length=1, max_length=40, description="citizen ID or credit code (一号)")
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    address: str | None = Field(default=None, max_length=300)
    legal_representative: str | None = Field(default=None, max_length=100)


class PersonIn(Strict):
    number: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=100)


class ApplicationIn(Strict):
    item_code: str = Field(min_length=24, max_length=36, pattern=r"^[0-9A-Z]+$")
    applicant: PartyIn
    agent: PersonIn | None = Field(
        default=None, description="the person at the window for an organisation (clerks)"
    )
    materials: list[ProvidedMaterialIn] = Field(default_factory=list, max_length=50)
    form: dict[str, str] = Field(default_factory=dict, max_length=100)
    channel: ChannelIn | None = None
    draft: bool = Field(default=False, description="start a draft instead of submitting")


class TaskOut(BaseModel):
    id: str
    stage: int
    stage_name: str
    department: str
    status: str
    opened_at: dt.datetime
    decided_at: dt.datetime | None


class NoticeItemOut(BaseModel):
    code: str
    name: str
    problem: str
    detail: str
    tolerable: bool


class ResultOut(BaseModel):
    name: str
    number: str
    data: dict[str, Any]


class CaseOut(BaseModel):
    id: str
    tracking_code: str
    tracking_display: str
    version: int
    state: str
    state_label: str
    item_code: str
    item_version: int
    agency: str
    applicant: str = Field(description="document type and masked number")
    applicant_name: str
    agent_name: str | None
    channel: str
    created_at: dt.datetime
    submitted_at: dt.datetime | None
    accepted_at: dt.datetime | None
    closed_at: dt.datetime | None
    due_promised: dt.date | None
    due_statutory: dt.date | None
    due_provisional: bool
    suspended: bool
    tasks: list[TaskOut]
    notice: list[NoticeItemOut]
    outstanding_materials: list[str]
    result: ResultOut | None


def _case_out(case: govsvc.Case) -> CaseOut:
    d = case.deadline
    return CaseOut(
        id=case.id,
        tracking_code=case.tracking_code,
        tracking_display=govsvc.TrackingCode.display(case.tracking_code),
        version=case.version,
        state=case.state.value,
        state_label=case.state.label,
        item_code=case.item_code,
        item_version=case.item_version,
        agency=case.agency,
        applicant=case.applicant.masked(),
        applicant_name=case.applicant_name,
        agent_name=case.agent.name if case.agent else None,
        channel=case.channel,
        created_at=case.created_at,
        submitted_at=case.submitted_at,
        accepted_at=case.accepted_at,
        closed_at=case.closed_at,
        due_promised=d.promised if d else None,
        due_statutory=d.statutory if d else None,
        due_provisional=bool(d and d.provisional),
        suspended=case.is_suspended,
        tasks=[
            TaskOut(
                id=t.id, stage=t.stage, stage_name=t.stage_name, department=t.department,
                status=t.status.value, opened_at=t.opened_at, decided_at=t.decided_at,
            )
            for t in case.tasks
        ],
        notice=[
            NoticeItemOut(code=i.code, name=i.name, problem=i.problem, detail=i.detail,
                          tolerable=i.tolerable)
            for i in (case.notice.items if case.notice else ())
        ],
        outstanding_materials=[t.code for t in case.outstanding_materials],
        result=ResultOut(name=case.result.name, number=case.result.number,
                         data=dict(case.result.data))
        if case.result
        else None,
    )


class SummaryOut(BaseModel):
    tracking_code: str
    tracking_display: str
    item_code: str
    state: str
    state_label: str
    applicant_name: str
    applicant: str
    submitted_at: dt.datetime | None
    due_promised: dt.date | None
    due_provisional: bool
    suspended: bool


class SummaryPage(BaseModel):
    items: list[SummaryOut]
    next: str | None = Field(description="pass as ?after= for the next page")


def _summary_out(s: govsvc.CaseSummary) -> SummaryOut:
    return SummaryOut(
        tracking_code=s.tracking_code,
        tracking_display=govsvc.TrackingCode.display(s.tracking_code),
        item_code=s.item_code,
        state=s.state.value,
        state_label=s.state.label,
        applicant_name=s.applicant_name,
        applicant=s.applicant_masked,
        submitted_at=s.submitted_at,
        due_promised=s.due_promised,
        due_provisional=s.due_provisional,
        suspended=s.suspended,
    )


class ActorOut(BaseModel):
    kind: str
    label: str


class EventOut(BaseModel):
    seq: int
    kind: str
    label: str
    at: dt.datetime
    actor: ActorOut


class Trail(BaseModel):
    tracking_code: str
    events: list[EventOut]


class Command(enum.Enum):
    prereview = "prereview"
    accept = "accept"
    refuse = "refuse"
    suspend = "suspend"
    resume = "resume"
    request_extension = "request_extension"
    extend = "extend"
    decline_extension = "decline_extension"
    verify_commitment = "verify_commitment"
    issue_result = "issue_result"
    complete = "complete"
    withdraw = "withdraw"
    submit = "submit"
    supply = "supply"
    resubmit = "resubmit"


class ResultIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    number: str = Field(min_length=1, max_length=100)
    data: dict[str, str] = Field(default_factory=dict, max_length=100)


class CommandIn(Strict):
    """The arguments of a case command; each command uses the fields it needs."""

    version: int | None = Field(
        default=None, ge=0, description="the case version the caller decided on (409 if stale)"
    )
    tolerate: bool = Field(default=False, description="accept: 容缺受理")
    defects: dict[str, str] = Field(default_factory=dict, max_length=50,
                                    description="prereview: material code → problem")
    reason: str = Field(default="", max_length=2000)
    basis: str = Field(default="", max_length=2000)
    suspension_reason: str = Field(
        default="", max_length=20, description="suspend: 听证, 现场勘验, …"
    )
    notice: str = Field(default="", max_length=2000, description="suspend: notice to the applicant")
    workdays: int | None = Field(default=None, ge=1, le=60)
    material_code: str = Field(default="", max_length=20)
    truthful: bool | None = None
    note: str = Field(default="", max_length=2000)
    result: ResultIn | None = None
    delivery: str = Field(default="", max_length=200, description="complete: 窗口领取, 邮寄送达, …")
    materials: list[ProvidedMaterialIn] = Field(default_factory=list, max_length=50)


class DecisionIn(Strict):
    approve: bool
    reason: str = Field(default="", max_length=2000)
    basis: str = Field(default="", max_length=2000)
    remedies: str = Field(default="", max_length=2000)
    version: int | None = Field(default=None, ge=0)


class CallbackDecisionIn(Strict):
    task_id: str = Field(min_length=1, max_length=64)
    approved: bool
    reason: str = Field(default="", max_length=2000)
    basis: str = Field(default="", max_length=2000)
    remedies: str = Field(default="", max_length=2000)
    decided_by: str = Field(default="", max_length=100)


class CallbackResultIn(Strict):
    case: str = Field(min_length=1, max_length=40, description="tracking code or case id")
    result: ResultIn


class QueueEntry(BaseModel):
    task: TaskOut
    case: SummaryOut
    light: str | None


class QueuePage(BaseModel):
    items: list[QueueEntry]
    next: str | None


class Health(BaseModel):
    status: str = Field(description="ok, or degraded when a department is down")
    database: str
    departments: dict[str, str]


# --- helpers -------------------------------------------------------------------------------


def _material(m: ProvidedMaterialIn) -> govsvc.ProvidedMaterial:
    return govsvc.ProvidedMaterial(
        code=m.code,
        kind=govsvc.MaterialKind(m.kind.value),
        reference=m.reference,
        filename=m.filename,
        media_type=m.media_type,
    )


def _party(p: PartyIn) -> govsvc.Party:
    key = govsvc.PartyKey.of(p.number)
    if key.doc_type is govsvc.DocumentType.CREDIT_CODE:
        return govsvc.Organisation(
            key=key, name=p.name, legal_representative=p.legal_representative,
            phone=p.phone, address=p.address,
        )
    return govsvc.Person(key=key, name=p.name, phone=p.phone, address=p.address)


def _loaded(session: govsvc.Session, ref: str, version: int | None) -> govsvc.Case | str:
    """The case to act on: the loaded copy when the caller named a version (409 if stale)."""
    if version is None:
        return ref
    case = session.cases.get(ref)
    if case.version != version:
        raise govsvc.ConcurrentUpdate(
            f"case {case.tracking_code} is at version {case.version}, not {version}; reload it"
        )
    return case


# --- public look-up --------------------------------------------------------------------------


async def _track(request: Request, me: Principal, code: str, suffix: str) -> Response:
    # The busiest public call runs on the event loop, not the thread pool: it is one indexed
    # read (WAL readers never wait on SQLite; a point query on PostgreSQL), which costs less
    # than the hop to a worker thread and back (bench/host_http.py measures the difference).
    host = host_of(request)
    who = client_address(request)
    # Misses are what an attacker guessing codes produces: count those, refuse when too many
    # (a lookup that matches costs the guesser nothing to learn).
    if not host.limiter.test(host.settings.rate_lookup, "track", who):
        return problem_response(429, "rate-limited", "查询过于频繁", "retry in a minute",
                                headers={"Retry-After": "60"})
    session = host.platform.session(me) if me.kind.value != "public" else host.platform.public()
    try:
        summary = session.cases.track(code, id_suffix=suffix)
    except (govsvc.CaseNotFound, govsvc.InvalidInput):
        host.limiter.hit(host.settings.rate_lookup, "track", who)
        return problem_response(
            404, "case-not-found", "未找到办件",
            "no case matches this tracking code and ID number suffix; check both on the receipt",
            instance=request.url.path,
        )
    # Serialized once here (the response model documents it; FastAPI need not check it again).
    return Response(_summary_out(summary).model_dump_json(), media_type="application/json")


@router.get("/track", response_model=SummaryOut, summary="Progress look-up (办件进度查询)",
            responses={404: _problem("no case matches"), 429: _problem("too many look-ups")})
async def track(
    request: Request,
    code: Annotated[str, Query(min_length=1, max_length=20)],
    suffix: Annotated[str, Query(min_length=4, max_length=4)],
    me: MaybeCaller,
) -> Response:
    """Documents the look-up in the OpenAPI; :func:`fast_track` answers it (same behaviour)."""
    return await _track(request, me, code, suffix)


async def fast_track(request: Request) -> Response:
    """``GET /api/v1/track`` without FastAPI's dependency machinery (a plain Starlette route
    placed before the documented one): the same checks by hand, a fifth less time a call."""
    request.scope.setdefault("route", TRACK_ROUTE)  # the metrics label by route template
    params = request.query_params
    errors = []
    code, suffix = params.get("code"), params.get("suffix")
    if code is None or not 1 <= len(code) <= 20:
        errors.append(("query.code", "required, 1 to 20 characters"))
    if suffix is None or len(suffix) != 4:
        errors.append(("query.suffix", "required, exactly 4 characters"))
    if errors:
        return problem_response(
            422, "invalid-request", "请求内容有误",
            "the request does not match the schema; see errors",
            instance=request.url.path, errors=errors,
        )
    assert code is not None and suffix is not None
    try:
        me = await maybe_caller(request)
    except NotLoggedIn:
        me = Principal.public()
    return await _track(request, me, code, suffix)


TRACK_ROUTE = Route("/api/v1/track", fast_track, methods=["GET"])


# --- catalogue -----------------------------------------------------------------------------


def filed_under(hits: Iterable[govsvc.ItemSummary], *, department: str | None,
                theme: str | None, life_stage: str | None) -> list[govsvc.ItemSummary]:
    """The search hits of this department, theme and life stage (None: any)."""
    return [h for h in hits if department in (None, h.agency)
            and (theme is None or theme in h.themes)
            and (life_stage is None or life_stage in h.life_stages)]


@router.get(
    "/items",
    response_model=ItemList,
    summary="Published service items (事项): find by name or keyword, browse by tag",
    description=(
        "With `q`: published items matching it in Chinese full text, best first (exact names, "
        "then names starting with it, then names containing every word, then keyword "
        "matches); any text is accepted and FTS syntax is never interpreted. With "
        "`department`, `theme` or `life_stage` (and no `q`): those items by name. With none "
        "of them: every published item by name (`limit` does not apply). Filters and `q` "
        "combine: search hits are kept when they carry every filter given."
    ),
    responses={422: _problem("a parameter out of range (limit 1..100, q at most 200 chars)")},
)
def list_items(
    request: Request,
    me: MaybeCaller,
    q: Annotated[str | None, Query(max_length=200, description="search text (搜索)")] = None,
    department: Annotated[
        str | None, Query(max_length=64, description="implementing agency's credit code")
    ] = None,
    theme: Annotated[str | None, Query(max_length=64, description="theme (主题)")] = None,
    life_stage: Annotated[
        str | None, Query(max_length=64, description="life stage (人生阶段), e.g. 出生")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="items per page")] = 20,
    after: Annotated[
        str | None, Query(max_length=512, description="`next` of the previous page")
    ] = None,
) -> ItemList:
    catalogue = host_of(request).platform.session(me).catalogue
    department, theme, life_stage = (
        (v.strip() or None) if v is not None else None for v in (department, theme, life_stage)
    )
    if q is None and department is None and theme is None and life_stage is None:
        return ItemList(items=[_item_out(i, catalogue.version(i.implementation_code))
                               for i in catalogue.items()])
    if q is not None:
        page = catalogue.search(q, limit=limit, after=after)
        hits = filed_under(page, department=department, theme=theme, life_stage=life_stage)
    else:
        page = catalogue.browse(department=department, theme=theme, life_stage=life_stage,
                      limit=limit, after=after)
        hits = list(page)
    out = [ItemOut(code=h.code, name=h.name, agency=h.agency_name, agency_code=h.agency,
                   item_type=h.item_type.label, themes=list(h.themes),
                   life_stages=list(h.life_stages),
                   match=h.match.value if h.match is not None else None) for h in hits]
    return ItemList(items=out, next=page.next)


@router.get("/items/{code}", response_model=ItemOut, summary="One item and its newest guide",
            responses={404: _problem("no such item")})
def get_item(request: Request, code: str, me: MaybeCaller) -> ItemOut:
    catalogue = host_of(request).platform.session(me).catalogue
    return _item_out(catalogue.item(code), catalogue.version(code))


# --- applications and cases ------------------------------------------------------------------


@router.post(
    "/applications",
    status_code=201,
    response_model=CaseOut,
    summary="Apply (申请): create and submit a case",
    responses={**CASE_ERRORS, 404: _problem("no such item"),
               409: _problem("Idempotency-Key in use or reused for another request")},
)
async def create_application(
    request: Request,
    body: ApplicationIn,
    me: Caller,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="a retried POST with the same key creates nothing"),
    ] = None,
) -> Response:
    host = host_of(request)
    raw = await request.body()
    owner = f"{me.kind.value}:{me.id}"
    if idempotency_key:
        try:
            earlier = await run_in_threadpool(
                host.store.begin_idempotent, owner, idempotency_key,
                request_hash("POST", request.url.path, raw),
            )
        except IdempotencyConflict as exc:
            return problem_response(
                409 if exc.running else 422, "idempotency-key", "幂等键冲突", str(exc),
                instance=request.url.path,
                errors=[] if exc.running else [("header.Idempotency-Key", str(exc))],
            )
        if earlier is not None:
            return Response(
                earlier.body, status_code=earlier.status, media_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )

    def apply() -> CaseOut:
        session = host.session(me)
        party = _party(body.applicant)
        agent = None
        if body.agent is not None:
            agent = govsvc.Person(key=govsvc.PartyKey.of(body.agent.number), name=body.agent.name)
        start = session.cases.new_application if body.draft else session.cases.apply
        case = start(
            body.item_code,
            party,
            materials=[_material(m) for m in body.materials],
            form=body.form,
            channel=_CHANNELS[body.channel] if body.channel else None,
            agent=agent,
        )
        return _case_out(case)

    try:
        out = await run_in_threadpool(apply)
    except BaseException:
        if idempotency_key:
            # Nothing was created: forget the key, so the same request may be tried again.
            await run_in_threadpool(host.store.finish_idempotent, owner, idempotency_key, 500, "")
        raise
    text = out.model_dump_json()
    if idempotency_key:
        await run_in_threadpool(host.store.finish_idempotent, owner, idempotency_key, 201, text)
    return Response(text, status_code=201, media_type="application/json")


@router.get("/cases", response_model=SummaryPage, summary="Cases: mine, or one applicant's (一号)")
def list_cases(
    request: Request,
    me: Caller,
    applicant: Annotated[str | None, Query(max_length=40)] = None,
    after: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SummaryPage:
    session = host_of(request).session(me)
    if applicant:
        page = session.cases.of_applicant(applicant, after=after, limit=limit)
    else:
        page = session.cases.mine(after=after, limit=limit)
    return SummaryPage(items=[_summary_out(s) for s in page], next=page.next)


@router.get("/cases/{ref}", response_model=CaseOut, summary="A case by tracking code or id",
            responses=CASE_ERRORS)
def get_case(request: Request, ref: str, me: Caller) -> CaseOut:
    return _case_out(host_of(request).session(me).cases.get(ref))


@router.get("/cases/{ref}/trail", response_model=Trail, summary="The trail (全程一码)",
            responses=CASE_ERRORS)
def get_trail(request: Request, ref: str, me: Caller) -> Trail:
    session = host_of(request).session(me)
    events = session.cases.trail(ref)
    code = govsvc.TrackingCode.normalise(ref) if govsvc.TrackingCode.looks_like(ref) else ref
    return Trail(
        tracking_code=code,
        events=[
            EventOut(seq=e.seq, kind=e.kind.value, label=e.kind.label, at=e.at,
                     actor=ActorOut(kind=e.actor.kind.value, label=e.actor.label))
            for e in events
        ],
    )


@router.post("/cases/{ref}/commands/{command}", response_model=CaseOut,
             summary="Run a case command (受理, 挂起, 办结, …)", responses=CASE_ERRORS)
def run_command(
    request: Request, ref: str, command: Command, body: CommandIn, me: Caller
) -> CaseOut:
    session = host_of(request).session(me)
    target = _loaded(session, ref, body.version)
    cases = session.cases
    c = command
    if c is Command.prereview:
        case = cases.prereview(target, defects=body.defects)
    elif c is Command.accept:
        case = cases.accept(target, tolerate=body.tolerate)
    elif c is Command.refuse:
        case = cases.refuse(target, reason=body.reason, basis=body.basis)
    elif c is Command.suspend:
        try:
            why = govsvc.SuspensionReason(body.suspension_reason)
        except ValueError:
            raise govsvc.InvalidInput(
                f"suspension_reason must be one of {[r.value for r in govsvc.SuspensionReason]}"
            ) from None
        case = cases.suspend(target, why, notice=body.notice)
    elif c is Command.resume:
        case = cases.resume(target)
    elif c is Command.request_extension:
        case = cases.request_extension(target, body.workdays or 0, reason=body.reason)
    elif c is Command.extend:
        case = cases.extend(target, body.workdays, reason=body.reason)
    elif c is Command.decline_extension:
        case = cases.decline_extension(target, reason=body.reason)
    elif c is Command.verify_commitment:
        if body.truthful is None:
            raise govsvc.InvalidInput("verify_commitment needs truthful: true or false")
        case = cases.verify_commitment(
            target, body.material_code, truthful=body.truthful, note=body.note
        )
    elif c is Command.issue_result:
        if body.result is None:
            raise govsvc.InvalidInput("issue_result needs result: {name, number, data}")
        case = cases.issue_result(
            target,
            govsvc.CaseResult(name=body.result.name, number=body.result.number,
                              data=body.result.data),
        )
    elif c is Command.complete:
        case = cases.complete(target, delivery=body.delivery)
    elif c is Command.withdraw:
        case = cases.withdraw(target, reason=body.reason)
    elif c is Command.submit:
        case = cases.submit(target)
    elif c is Command.supply:
        if len(body.materials) != 1:
            raise govsvc.InvalidInput("supply takes exactly one material in materials")
        case = cases.supply(target, _material(body.materials[0]))
    else:
        case = cases.resubmit(target, [_material(m) for m in body.materials])
    return _case_out(case)


@router.post("/cases/{ref}/tasks/{task_id}/decision", response_model=CaseOut,
             summary="A reviewer's decision on their department's task (审查意见)",
             responses=CASE_ERRORS)
def decide(request: Request, ref: str, task_id: str, body: DecisionIn, me: Caller) -> CaseOut:
    session = host_of(request).session(me)
    target = _loaded(session, ref, body.version)
    case = session.reviews.decide(
        target, task_id, approve=body.approve, reason=body.reason, basis=body.basis,
        remedies=body.remedies,
    )
    return _case_out(case)


# --- department work -------------------------------------------------------------------------


@router.get("/tasks", response_model=QueuePage, summary="A department's review tasks",
            responses=CASE_ERRORS)
def tasks(
    request: Request,
    me: Caller,
    department: Annotated[str | None, Query(max_length=18)] = None,
    status: Annotated[str, Query(pattern="^(open|approved|denied|cancelled)$")] = "open",
    after: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> QueuePage:
    session = host_of(request).session(me)
    if department is None and me.agency is None:
        session.authorize(govsvc.Action.REVIEW_QUEUE, govsvc.Resource.platform())
    page = session.reviews.queue(
        department, status=govsvc.TaskStatus(status), after=after, limit=limit
    )
    return QueuePage(
        items=[
            QueueEntry(
                task=TaskOut(
                    id=v.task.id, stage=v.task.stage, stage_name=v.task.stage_name,
                    department=v.task.department, status=v.task.status.value,
                    opened_at=v.task.opened_at, decided_at=v.task.decided_at,
                ),
                case=_summary_out(v.case),
                light=v.light.value if v.light else None,
            )
            for v in page
        ],
        next=page.next,
    )


@router.post("/callbacks/decisions", response_model=CaseOut,
             summary="A department's legacy system pushes a decision (回调)",
             responses=CASE_ERRORS)
def callback_decision(request: Request, body: CallbackDecisionIn, me: Caller) -> CaseOut:
    session = host_of(request).session(me)
    outcome = govsvc.ReviewOutcome(
        approved=body.approved, reason=body.reason, basis=body.basis, remedies=body.remedies,
        decided_by=body.decided_by,
    )
    return _case_out(session.reviews.record_decision(body.task_id, outcome))


@router.post("/callbacks/results", response_model=CaseOut,
             summary="A department's legacy system pushes the result (制证)",
             responses=CASE_ERRORS)
def callback_result(request: Request, body: CallbackResultIn, me: Caller) -> CaseOut:
    session = host_of(request).session(me)
    result = govsvc.CaseResult(name=body.result.name, number=body.result.number,
                               data=body.result.data)
    return _case_out(session.cases.issue_result(body.case, result))


# --- operations ----------------------------------------------------------------------------


@ops_router.get("/healthz", response_model=Health, summary="The database and each department",
                responses={503: {"model": Health, "description": "the database is down"}})
def healthz(request: Request) -> Response:
    host = host_of(request)
    system = host.platform.system()
    try:
        system.catalogue.items()
        database = "up"
    except Exception as exc:  # any failure to read means the database is not usable
        database = f"down: {type(exc).__name__}"
    departments = system.departments.health() if database == "up" else {}
    ok = database == "up" and all(v in ("up", "unknown") for v in departments.values())
    body = Health(status="ok" if ok else "degraded", database=database, departments=departments)
    return JSONResponse(body.model_dump(), status_code=200 if database == "up" else 503)


@ops_router.get("/metrics", summary="Prometheus metrics",
                responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    exposition: Response = request.app.state.metrics.exposition()
    return exposition


def tidy_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Problems are application/problem+json with the Problem schema, 422 included."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for defs in components["Problem"].pop("$defs", {}).items():
        components[defs[0]] = defs[1]
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = _problem("invalid input, with field-level errors")
    return schema
