"""``/login``, ``/auth/callback``, ``/logout``: the relying party as a mountable APIRouter."""

from __future__ import annotations

import html
import inspect
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from govsvc import Principal
from govsvc_host.auth._claims import LoginFailed, principal_from_claims
from govsvc_host.auth._rp import LoginResult, PendingLogin, RelyingParty

__all__ = ["SESSION_KEY", "current_principal", "login_router"]

SESSION_KEY = "govsvc_auth"
"""Where the router keeps its record in ``request.session`` (see :func:`login_router`)."""

_MAX_PENDING = 5  # logins started in other tabs stay valid, up to this many

LoginHandler = Callable[[Request, LoginResult], Response | Awaitable[Response]]
LogoutHandler = Callable[[Request], Awaitable[None] | None]
ErrorHandler = Callable[[Request, LoginFailed], Response | Awaitable[Response]]


def _local_path(value: str | None) -> str:
    # Only a path on this site: "next=https://evil.example" or "//evil.example" must not turn
    # the login into an open redirect.
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


async def _call(handler: Callable[..., Any], *args: Any) -> Any:
    result = handler(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


def _session(request: Request) -> dict[str, Any]:
    if "session" not in request.scope:
        raise RuntimeError(
            "the login router keeps the login in request.session: add "
            "starlette.middleware.sessions.SessionMiddleware (or your own) to the app"
        )
    session: dict[str, Any] = request.session
    return session


def _default_error(request: Request, error: LoginFailed) -> Response:
    body = (
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        "<title>登录失败</title></head><body><h1>登录失败</h1>"
        f"<p>{html.escape(str(error))}</p>"
        f"<p><a href=\"{html.escape(str(request.url_for('govsvc_auth_login')))}\">重新登录</a>"
        "</p></body></html>"
    )
    return HTMLResponse(body, status_code=400, headers={"Cache-Control": "no-store"})


def current_principal(request: Request, rp: RelyingParty) -> Principal | None:
    """The principal of the login the router stored in this session, or None.

    Rebuilt from the stored verified claims each time (a pure function, cheap), so the
    session holds plain JSON rather than a pickled object.
    """
    record = request.session.get(SESSION_KEY) if "session" in request.scope else None
    if not record or "claims" not in record:
        return None
    return principal_from_claims(record["claims"], provider=rp.name, acr_values=rp.acr_values)


def login_router(
    rp: RelyingParty,
    *,
    on_login: LoginHandler | None = None,
    on_logout: LogoutHandler | None = None,
    on_error: ErrorHandler | None = None,
    after_logout: str = "/",
) -> APIRouter:
    """Routes that log people in through ``rp`` and out again; mount with ``include_router``.

    * ``GET /login?next=/path`` — sends the browser to the provider; remembers ``next``
      (a local path only) to return to.
    * ``GET /auth/callback`` — completes the login. The router stores
      ``{"claims", "id_token", "provider"}`` under :data:`SESSION_KEY` in
      ``request.session`` (needs ``SessionMiddleware`` or an equivalent), then calls
      ``on_login(request, result)`` — the place to keep ``result.principal`` your own way,
      rotate the session id, write an audit entry — and returns its response (default: a
      303 to ``next``).
    * ``GET|POST /logout`` — forgets the login, calls ``on_logout(request)``, then sends the
      browser to the provider's end-session endpoint (RP-initiated logout), which returns
      it to ``/logout/callback`` and from there to ``after_logout``.

    Failures call ``on_error(request, error)`` (default: a 400 page saying what failed).
    Register ``<base>/auth/callback`` and ``<base>/logout/callback`` with the provider.
    """
    router = APIRouter()

    async def fail(request: Request, error: LoginFailed) -> Response:
        response: Response = await _call(on_error or _default_error, request, error)
        return response

    @router.get("/login", name="govsvc_auth_login")
    async def login(request: Request, next: str | None = None) -> Response:
        session = _session(request)
        redirect_uri = rp.redirect_uri or str(request.url_for("govsvc_auth_callback"))
        try:
            url, pending = await rp.begin(return_to=_local_path(next), redirect_uri=redirect_uri)
        except LoginFailed as error:
            return await fail(request, error)
        waiting: dict[str, Any] = dict(session.get(f"{SESSION_KEY}.pending", {}))
        waiting[pending.state] = pending.to_dict()
        # Oldest first out, so a session that starts many logins stays small.
        session[f"{SESSION_KEY}.pending"] = dict(list(waiting.items())[-_MAX_PENDING:])
        return RedirectResponse(url, status_code=302)

    @router.get("/auth/callback", name="govsvc_auth_callback")
    async def callback(request: Request) -> Response:
        session = _session(request)
        params = dict(request.query_params)
        waiting: dict[str, Any] = dict(session.get(f"{SESSION_KEY}.pending", {}))
        stored = waiting.pop(params.get("state", ""), None)
        session[f"{SESSION_KEY}.pending"] = waiting  # a state is good for one callback only
        try:
            pending = PendingLogin.from_dict(stored) if stored is not None else None
            result = await rp.complete(pending, params)
        except LoginFailed as error:
            return await fail(request, error)
        session[SESSION_KEY] = {
            "claims": dict(result.claims),
            "id_token": result.id_token,
            "provider": rp.name,
        }
        if on_login is not None:
            response: Response = await _call(on_login, request, result)
            return response
        return RedirectResponse(result.return_to, status_code=303)

    async def logout(request: Request) -> Response:
        session = _session(request)
        record = session.pop(SESSION_KEY, None) or {}
        if on_logout is not None:
            await _call(on_logout, request)
        id_token = record.get("id_token")
        if not id_token:
            return RedirectResponse(after_logout, status_code=303)
        state = secrets.token_urlsafe(16)
        session[f"{SESSION_KEY}.logout"] = state
        target = rp.post_logout_redirect_uri or str(request.url_for("govsvc_auth_logged_out"))
        try:
            url = await rp.logout_url(
                id_token_hint=id_token, state=state, post_logout_redirect_uri=target
            )
        except LoginFailed as error:
            return await fail(request, error)
        return RedirectResponse(url, status_code=303)

    router.add_api_route(
        "/logout", logout, methods=["GET", "POST"], name="govsvc_auth_logout"
    )

    @router.get("/logout/callback", name="govsvc_auth_logged_out")
    async def logged_out(request: Request, state: str = "") -> Response:
        expected = _session(request).pop(f"{SESSION_KEY}.logout", "")
        # Logged out either way; a wrong state only means this landing was not ours, so it
        # gets no special treatment beyond not being trusted with a redirect target.
        if not (expected and secrets.compare_digest(expected, state)):
            return RedirectResponse("/", status_code=303)
        return RedirectResponse(after_logout, status_code=303)

    return router
