"""The provider's web face: Starlette routes over :class:`~govsvc_host.idp._server.ProviderCore`.

Every page is rendered on the server and works without JavaScript: the login page is two
plain forms (username and password; and, in demo mode, one button per demo user).
"""

from __future__ import annotations

import functools
import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

import jinja2
from authlib.oauth2.rfc6749.errors import OAuth2Error
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from govsvc import PrincipalKind
from govsvc_host.idp._directory import DemoUser, hash_secret, verify_secret
from govsvc_host.idp._server import ProviderCore, ProviderRequest, Session

__all__ = ["SESSION_COOKIE", "build_app"]

SESSION_COOKIE = "govsvc_idp_session"
CSRF_COOKIE = "govsvc_idp_csrf"

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("govsvc_host.idp", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)

# Pages of a login provider must not be framed (clickjacking) nor cached (they carry a
# one-time CSRF token); inline styles are the only thing they load. form-action must allow
# the relying parties' origins: browsers apply it to the redirect that follows the login.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self' http: https:; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


_FAILED_LOGINS = "10 per 5 minutes"


@functools.cache
def _decoy_hash() -> str:
    return hash_secret(secrets.token_urlsafe(16))


class _Web:
    def __init__(self, core: ProviderCore, *, allow_pick: bool, name: str) -> None:
        from govsvc_host.security import RateLimiter

        self.failures = RateLimiter()
        self.core = core
        self.allow_pick = allow_pick
        self.name = name

    # helpers -------------------------------------------------------------------------------

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = _env.get_template(template).render(provider_name=self.name, **context)
        return HTMLResponse(html, status_code=status, headers=_PAGE_HEADERS)

    def message(self, title: str, *lines: str, status: int = 200, detail: str = "",
                confirm_action: str = "", confirm_fields: list[tuple[str, str]] | None = None
                ) -> HTMLResponse:
        return self.page(
            "message.html",
            status,
            title=title,
            lines=lines,
            detail=detail,
            confirm_action=confirm_action,
            confirm_fields=confirm_fields or [],
        )

    def not_ready(self) -> Response | None:
        if self.core.issuer:
            return None
        return JSONResponse(
            {"error": "temporarily_unavailable",
             "error_description": "the provider has no issuer URL yet; call bind_issuer"},
            status_code=503,
        )

    def session_of(self, request: Request) -> Session | None:
        return self.core.session(request.cookies.get(SESSION_COOKIE))

    async def oauth_request(
        self, request: Request, *, form: bool, session: Session | None = None
    ) -> ProviderRequest:
        # Build authlib's request from the issuer, not from the Host header: the URL is what
        # authlib checks for https, and a forged Host must not change what is signed. The
        # headers stay Starlette's case-insensitive mapping: authlib asks for "Authorization".
        query = list(request.query_params.multi_items())
        uri = f"{self.core.issuer}{request.url.path}"
        if request.url.query:
            uri = f"{uri}?{request.url.query}"
        body: list[tuple[str, str]] = []
        if form and request.method == "POST":
            async with request.form() as data:
                body = [(k, v) for k, v in data.multi_items() if isinstance(v, str)]
        return ProviderRequest(
            request.method, uri, request.headers, query, body, session=session
        )

    def cookie_secure(self) -> bool:
        return self.core.issuer.startswith("https://")

    def with_session_cookie(self, response: Response, session: Session) -> Response:
        response.set_cookie(
            SESSION_COOKIE,
            session.cookie,
            max_age=self.core.lifetimes.session,
            httponly=True,
            samesite="lax",
            secure=self.cookie_secure(),
        )
        return response

    # discovery -----------------------------------------------------------------------------

    async def configuration(self, request: Request) -> Response:
        return self.not_ready() or Response(
            self.core.metadata_json(), media_type="application/json"
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.core.key.public_jwks())

    # authorization -------------------------------------------------------------------------

    def authorization_error(self, error: OAuth2Error) -> Response:
        if error.redirect_uri:  # authlib sets it only once the redirect URI was verified
            return self.core.server.handle_error_response(None, error)  # type: ignore[no-any-return]
        return self.message(
            "登录请求无效",
            "发起登录的网站请求有误，无法继续登录。",
            "请返回原网站重新登录；如果问题仍然存在，请联系该网站的管理员。",
            status=400,
            detail=f"{error.error}: {error.description or ''}",
        )

    def login_page(
        self, request: ProviderRequest, *, csrf: str = "", error: str = "",
        username: str = "", status: int = 200
    ) -> HTMLResponse:
        csrf = csrf or secrets.token_urlsafe(24)
        client = self.core.directory.client(request.payload.client_id or "")
        groups: list[tuple[str, list[DemoUser]]] = []
        if self.allow_pick:
            users = self.core.directory.users
            groups = [
                ("市民", [u for u in users if u.role is PrincipalKind.APPLICANT]),
                ("法人（经办人）", [u for u in users if u.role is PrincipalKind.AGENT]),
                ("工作人员", [u for u in users if u.is_staff]),
            ]
            groups = [g for g in groups if g[1]]
        response = self.page(
            "login.html",
            status,
            action="/authorize?" + urlencode(list(request.args.items())),
            csrf=csrf,
            error=error,
            username=username,
            client_name=client.name if client else "",
            groups=groups,
        )
        response.set_cookie(
            CSRF_COOKIE, csrf, httponly=True, samesite="lax", secure=self.cookie_secure()
        )
        return response

    async def authorize(self, request: Request) -> Response:
        if (problem := self.not_ready()) is not None:
            return problem
        if request.method == "POST":
            return await self.login(request)
        session = self.session_of(request)
        oauth = await self.oauth_request(request, form=False, session=session)
        try:
            grant = self.core.server.get_consent_grant(
                oauth, end_user=session.user if session else None
            )
        except OAuth2Error as error:
            return self.authorization_error(error)
        if session is None or grant.prompt in ("login", "select_account"):
            return self.login_page(oauth)
        max_age = oauth.payload.data.get("max_age")
        if max_age and max_age.isdigit() and self.core.now() - session.auth_time > int(max_age):
            return self.login_page(oauth)
        response: Response = self.core.server.create_authorization_response(
            oauth, grant_user=session.user, grant=grant
        )
        return response

    async def login(self, request: Request) -> Response:
        async with request.form() as data:
            form = {k: v for k, v in data.items() if isinstance(v, str)}
        # The OAuth parameters travel in the form's action (the query string), the
        # credentials in the body; authlib sees only the former.
        oauth = await self.oauth_request(request, form=False)
        cookie_csrf = request.cookies.get(CSRF_COOKIE, "")
        if not cookie_csrf or not hmac.compare_digest(cookie_csrf, form.get("csrf", "")):
            return self.message(
                "登录页面已过期",
                "为保护您的账号，登录页面只能使用一次且需开启 Cookie。",
                "请返回原网站重新发起登录。",
                status=400,
                detail="csrf: the form's token does not match the cookie",
            )
        who = request.client.host if request.client else "unknown"
        name = form.get("username", "").strip()
        if "pick" not in form and not self.failures.test(_FAILED_LOGINS, who, name):
            return self.login_page(
                oauth, error="密码错误次数过多，请 5 分钟后再试。", username=name, status=429
            )
        user, amr, problem = await run_in_threadpool(self.authenticate, form)
        if user is None and "pick" not in form:
            # Failed passwords per address and account: guessing slows to a crawl, a person
            # who mistyped twice is not locked out.
            self.failures.hit(_FAILED_LOGINS, who, name)
        if user is None:
            return self.login_page(
                oauth, error=problem, username=form.get("username", ""), status=200
            )
        try:
            grant = self.core.server.get_consent_grant(oauth, end_user=user)
        except OAuth2Error as error:
            return self.authorization_error(error)
        session = self.core.start_session(user, amr)  # a fresh id at every login (fixation)
        oauth.session = session
        response: Response = self.core.server.create_authorization_response(
            oauth, grant_user=user, grant=grant
        )
        response.delete_cookie(CSRF_COOKIE)
        return self.with_session_cookie(response, session)

    def authenticate(self, form: dict[str, str]) -> tuple[DemoUser | None, tuple[str, ...], str]:
        """(user, amr, problem): a demo pick or a username and password."""
        if "pick" in form:
            if not self.allow_pick:
                return None, (), "本系统未开放演示用户登录，请使用账号密码登录。"
            user = self.core.directory.user(form["pick"])
            if user is None:
                return None, (), "演示用户不存在，请重新选择。"
            return user, ("demo",), ""
        user = self.core.directory.user(form.get("username", "").strip())
        # Verify against a real hash even for an unknown name, so timing does not tell
        # which usernames exist.
        hashed = user.password_hash if user else _decoy_hash()
        if not verify_secret(form.get("password", ""), hashed) or user is None:
            return None, (), "用户名或密码错误，请检查后重新输入。"
        return user, ("pwd",), ""

    # tokens and user information -----------------------------------------------------------

    async def token(self, request: Request) -> Response:
        if (problem := self.not_ready()) is not None:
            return problem
        oauth = await self.oauth_request(request, form=True)
        # Client secrets are checked with scrypt: off the event loop.
        response: Response = await run_in_threadpool(
            self.core.server.create_token_response, oauth
        )
        return response

    async def userinfo(self, request: Request) -> Response:
        if (problem := self.not_ready()) is not None:
            return problem
        oauth = await self.oauth_request(request, form=True)
        response: Response = self.core.server.create_endpoint_response("userinfo", oauth)
        return response

    # logout --------------------------------------------------------------------------------

    async def logout(self, request: Request) -> Response:
        if (problem := self.not_ready()) is not None:
            return problem
        session = self.session_of(request)
        oauth = await self.oauth_request(request, form=True, session=session)
        server = self.core.server
        try:
            validated = server.validate_endpoint_request("end_session", oauth)
        except OAuth2Error as error:
            return self.message(
                "退出请求无效",
                "发起退出的网站请求有误。您在本系统的登录状态未改变。",
                status=400,
                detail=f"{error.error}: {error.description or ''}",
            )
        if validated.needs_confirmation and request.method == "GET":
            # Without an ID token anybody could log a user out with a link: ask first.
            return self.message(
                "退出登录",
                "确定要退出统一身份认证吗？退出后各网站需重新登录。",
                confirm_action="/logout",
                confirm_fields=list(oauth.payload.data.items()),
            )
        response = server.create_endpoint_response("end_session", validated)
        if response is None:
            response = self.message("已退出", "您已退出统一身份认证。可以关闭此页面。")
        response.delete_cookie(SESSION_COOKIE)
        return response  # type: ignore[no-any-return]


def build_app(core: ProviderCore, *, allow_pick: bool, name: str) -> Starlette:
    """The Starlette application serving the provider's endpoints."""
    web = _Web(core, allow_pick=allow_pick, name=name)
    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", web.configuration, methods=["GET"]),
            Route("/jwks.json", web.jwks, methods=["GET"]),
            Route("/authorize", web.authorize, methods=["GET", "POST"]),
            Route("/token", web.token, methods=["POST"]),
            Route("/userinfo", web.userinfo, methods=["GET", "POST"]),
            Route("/logout", web.logout, methods=["GET", "POST"]),
        ]
    )
