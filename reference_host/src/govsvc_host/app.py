"""The application factory: ``create_app(platform, settings) -> FastAPI``.

The app is a thin web layer over one :class:`govsvc.Platform`: every page and API call
builds the caller's :class:`govsvc.Principal`, binds it with ``platform.session(...)`` and
calls the SDK's services; refusals come back from the SDK's policy as
:class:`govsvc.PermissionDenied` and become 403 here (a page, or RFC 9457 problem+json under
``/api``), already written to the SDK's access log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

import govsvc
from govsvc import Platform
from govsvc_host import api
from govsvc_host.auth import SESSION_KEY, LoginFailed, LoginResult, RelyingParty, login_router
from govsvc_host.context import EXPIRED_KEY, SEEN_KEY, Host, NotLoggedIn
from govsvc_host.materials import FilesystemMaterialStore, MaterialStore
from govsvc_host.metrics import Metrics, MetricsMiddleware
from govsvc_host.notifications import Notifications, SmsProvider
from govsvc_host.problems import problem_response, status_of
from govsvc_host.security import CSRF_FIELD, RateLimiter, client_address, rotate_csrf, valid_csrf
from govsvc_host.settings import Settings
from govsvc_host.store import HostStore
from govsvc_host.web import (
    account,
    backoffice,
    cases,
    certificates,
    portal,
    portal_apply,
    public,
    ratings,
    supervision,
    window,
)
from govsvc_host.web.common import DRAFTS_KEY, CsrfFailed

__all__ = ["create_app", "relying_party"]

SESSION_COOKIE = "govsvc_host"

# What a person reads first on an error page; the SDK's own message follows under 详细说明.
EXPLAIN = {
    403: "您无权查看或办理此项内容。本次访问已记入访问日志；如有疑问请联系本单位管理员。",
    404: "未找到您要的内容，请核对办件编码或链接。",
    409: "办件状态已变化或不允许此操作，请返回办件页面刷新后查看可办理的操作。",
    503: "相关部门业务系统暂不可用，请稍后再试。",
}


def relying_party(settings: Settings) -> RelyingParty:
    ident = settings.identity
    base = settings.base_url.rstrip("/")
    return RelyingParty(
        issuer=ident.issuer,
        client_id=ident.client_id,
        client_secret=ident.client_secret,
        name=ident.name,
        redirect_uri=f"{base}/auth/callback",
        post_logout_redirect_uri=f"{base}/logout/callback",
    )


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(
    platform: Platform,
    settings: Settings,
    *,
    rp: RelyingParty | None = None,
    materials: MaterialStore | None = None,
    sms: SmsProvider | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The host as an ASGI application over ``platform`` (see ``docs/host.md``).

    ``rp`` defaults to a relying party for ``settings.identity``; ``materials`` to a
    content-addressed filesystem store in ``settings.materials_dir``; ``clock`` (seconds)
    decides login idle time; ``sms`` is the SMS gateway of the applicant notifications
    (default: the demo's outbox, shown at ``/portal/sms``).
    """
    rp = rp or relying_party(settings)
    store = HostStore(platform)
    store.create()
    host = Host(
        platform,
        settings,
        rp=rp,
        store=store,
        materials=materials or FilesystemMaterialStore(settings.materials_dir),
        limiter=RateLimiter(),
        clock=clock,
    )
    app = FastAPI(
        title="govsvc 参考宿主 API",
        version="1.0.0",
        description=(
            "REST API for channels (mobile app, kiosk, 12345 hotline) and department systems. "
            "Authenticate with a bearer token: an OAuth2 client-credentials access token from "
            "the identity provider, or a hashed API token configured in the host. Errors are "
            "RFC 9457 problem+json with field-level details."
        ),
        docs_url=None,
        redoc_url=None,
        # A request body is refused (413) past ten uploads' worth: the multipart parser would
        # otherwise spool any size to disk before a handler could look at it.
        max_body_size=settings.uploads.max_bytes * 10 + 1024 * 1024,
    )
    app.state.host = host
    catalogue = platform.public().catalogue
    notifications = Notifications(
        platform, sms, item_name=lambda code: catalogue.item(code).name
    )
    notifications.subscribe()
    app.state.notifications = host.notifications = notifications
    metrics = Metrics(platform)
    app.state.metrics = metrics

    async def on_login(request: Request, result: LoginResult) -> Response:
        # A fresh session at login: nothing set before it (by anyone) survives but the
        # drafts kept across an expired login (the language is a cookie of its own).
        record = request.session.get(SESSION_KEY, {})
        drafts = request.session.get(DRAFTS_KEY, {})
        request.session.clear()
        claims = host.staff_claims(record.get("claims", {}))
        request.session[SESSION_KEY] = {**record, "claims": claims}
        request.session[SEEN_KEY] = host.clock()
        if drafts:
            request.session[DRAFTS_KEY] = drafts
        rotate_csrf(request)
        return RedirectResponse(result.return_to, status_code=303)

    async def on_error(request: Request, error: LoginFailed) -> Response:
        return host.render(
            request, "error.html", status=400, title="登录失败",
            detail=f"{error}（{error.reason}）", login=True,
        )

    # The API first: routes are matched in order, and machine callers are the busiest; the
    # public look-up first of all, on its fast path (api.fast_track).
    app.router.routes.append(api.TRACK_ROUTE)
    app.include_router(api.router)
    app.include_router(api.ops_router)
    app.include_router(certificates.api_router)
    async def logout_csrf(request: Request) -> None:
        # A logout posted from another site must not log the person out.
        if request.method == "POST" and request.url.path == "/logout":
            async with request.form() as form:
                token = form.get(CSRF_FIELD)
            if not isinstance(token, str) or not valid_csrf(request, token):
                raise CsrfFailed()

    login_routes = login_router(rp, on_login=on_login, on_error=on_error, after_logout="/")
    app.include_router(login_routes, include_in_schema=False,
                       dependencies=[Depends(logout_csrf)])
    for router in (public.router, account.router, window.router, cases.router,
                   backoffice.router, supervision.router, ratings.router, portal_apply.router,
                   portal.router, certificates.router):
        app.include_router(router, include_in_schema=False)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            app.openapi_schema = api.tidy_openapi(
                get_openapi(title=app.title, version=app.version,
                            description=app.description, routes=app.routes)
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    static = resources.files("govsvc_host") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    # --- errors ----------------------------------------------------------------------------

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        if _is_api(request):
            return problem_response(
                401, "unauthenticated", "需要登录或访问令牌",
                "send Authorization: Bearer <token> (client credentials or an API token)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        page = exc.args[0] if exc.args else request.url.path
        expired = bool(request.session.get(EXPIRED_KEY))
        query = f"?next={quote(page)}" + ("&expired=1" if expired else "")
        return RedirectResponse(f"/login{query}", status_code=303)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return host.render(
            request, "error.html", status=403, title="表单已失效",
            detail="页面表单的安全令牌不符（页面过旧或来自其他网站）。请返回上一页、刷新后重新提交。",
            login=False,
        )

    @app.exception_handler(govsvc.GovsvcError)
    async def sdk_error(request: Request, exc: govsvc.GovsvcError) -> Response:
        status, slug, title = status_of(exc)
        rule = getattr(exc, "rule", None) if isinstance(exc, govsvc.PermissionDenied) else None
        if _is_api(request):
            return problem_response(
                status, slug, title, str(exc), instance=request.url.path, rule=rule
            )
        try:
            me = host.principal(request)
        except NotLoggedIn:
            me = None
        return host.render(
            request, "error.html", status=status, principal=me, title=title, detail=str(exc),
            login=False, explain=EXPLAIN.get(status, ""),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            (".".join(str(p) for p in e.get("loc", ())), str(e.get("msg", "")))
            for e in exc.errors()
        ]
        if _is_api(request):
            return problem_response(
                422, "invalid-request", "请求内容有误",
                "the request does not match the schema; see errors",
                instance=request.url.path, errors=errors,
            )
        return host.render(
            request, "error.html", status=422, title="请求有误",
            detail="；".join(f"{f}: {m}" for f, m in errors), login=False,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or request.url.path in ("/healthz", "/metrics"):
            return problem_response(
                exc.status_code, "http", str(exc.detail), instance=request.url.path,
                headers=dict(exc.headers) if exc.headers else None,
            )
        titles = {404: "页面不存在", 405: "不支持的请求方式"}
        return host.render(
            request, "error.html", status=exc.status_code,
            title=titles.get(exc.status_code, "请求失败"), detail=str(exc.detail), login=False,
        )

    # --- middleware (the last added runs first) ----------------------------------------------

    class LoginLimit:
        """Login attempts per client address (pure ASGI: nothing for other paths)."""

        def __init__(self, inner: ASGIApp) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            path = scope.get("path", "") if scope["type"] == "http" else ""
            if path in ("/login", "/auth/callback"):
                request = Request(scope)
                who = client_address(request)
                if not host.limiter.test(settings.rate_login, "login", who):
                    page = host.render(
                        request, "error.html", status=429, title="尝试过于频繁",
                        detail="登录尝试过于频繁，请一分钟后再试。", login=False,
                    )
                    await page(scope, receive, send)
                    return
                if path == "/login":
                    host.limiter.hit(settings.rate_login, "login", who)
            await self.inner(scope, receive, send)

    app.add_middleware(LoginLimit)
    app.add_middleware(api.StorableParameters)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret,
        session_cookie=SESSION_COOKIE,
        max_age=14 * 24 * 3600,  # the cookie; the login itself ends after the idle time
        same_site="lax",
        https_only=settings.secure_cookies,
    )
    return app


def problem_for(exc: Exception) -> JSONResponse:
    """The problem+json answer of an SDK error (for callers outside a request)."""
    status, slug, title = status_of(exc)
    return problem_response(status, slug, title, str(exc))
