"""What every request handler shares: the platform, settings, relying party, stores, pages.

One :class:`Host` lives on ``app.state.host``. It answers the two questions every handler
asks — *who is this?* (:meth:`Host.principal`) and *bind them* (:meth:`Host.session`) — and
renders pages. It decides nothing about permissions: that is the SDK's policy, asked by every
service call the handlers make.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
import segno
from starlette.requests import Request
from starlette.responses import HTMLResponse

import govsvc
from govsvc import Platform, Principal, PrincipalKind
from govsvc_host import i18n
from govsvc_host.auth import SESSION_KEY, ClaimsError, RelyingParty, principal_from_claims
from govsvc_host.materials import MaterialStore
from govsvc_host.notifications import Notifications, keys_of
from govsvc_host.security import CSRF_FIELD, RateLimiter, csrf_token
from govsvc_host.settings import Settings
from govsvc_host.store import HostStore

__all__ = ["DISPLAYS", "DISPLAY_COOKIE", "Host", "LoginExpired", "NotLoggedIn"]

SEEN_KEY = "govsvc_host.seen"
# Seconds between refreshes of a login's last-seen time (idle logout is counted in minutes).
SEEN_EVERY = 60
# 长辈模式 (elderly mode, 适老化): "elder" for large text and high contrast, else the standard
# look; a cookie of its own like the language, so it outlives logins (web.public.display).
DISPLAY_COOKIE = "govsvc_display"
DISPLAYS = ("standard", "elder")
EXPIRED_KEY = "govsvc_host.expired"

ROLE_LABELS = {
    PrincipalKind.APPLICANT: "申请人",
    PrincipalKind.AGENT: "经办人",
    PrincipalKind.CLERK: "窗口工作人员",
    PrincipalKind.REVIEWER: "审查人员",
    PrincipalKind.APPROVER: "审批负责人",
    PrincipalKind.SUPERVISOR: "电子监察人员",
    PrincipalKind.CATALOGUE_ADMIN: "事项管理员",
    PrincipalKind.SYSTEM_ADMIN: "系统管理员",
    PrincipalKind.DEPARTMENT_SYSTEM: "部门业务系统",
    PrincipalKind.CHANNEL: "渠道应用",
    PrincipalKind.PLATFORM: "政务服务平台",
    PrincipalKind.PUBLIC: "访客",
}

PURPOSES = {
    PrincipalKind.CLERK: "窗口受理",
    PrincipalKind.REVIEWER: "办件审查",
    PrincipalKind.APPROVER: "办件审批",
    PrincipalKind.SUPERVISOR: "电子监察",
    PrincipalKind.DEPARTMENT_SYSTEM: "部门业务系统办理",
}


class NotLoggedIn(Exception):
    """The page needs a login: the handler answers with a redirect to /login."""


class LoginExpired(NotLoggedIn):
    """The login was idle too long (the draft of an unsafe request is kept)."""


class Host:
    def __init__(
        self,
        platform: Platform,
        settings: Settings,
        *,
        rp: RelyingParty,
        store: HostStore,
        materials: MaterialStore,
        limiter: RateLimiter,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.rp = rp
        self.store = store
        self.materials = materials
        self.limiter = limiter
        self.clock = clock
        self._envs = {lang: self._environment(lang) for lang in i18n.LANGUAGES}
        self.departments = {code: d.name for code, d in platform.departments.items()}
        self.divisions = govsvc.DivisionRegistry.default()
        self.notifications: Notifications | None = None  # set by create_app
        self._principal_of = functools.lru_cache(maxsize=4096)(self._build_principal)

    # --- who is this ---------------------------------------------------------------------------

    def principal(self, request: Request) -> Principal | None:
        """The logged-in principal of a browser request, or None (anonymous).

        Raises :class:`LoginExpired` when the login was idle longer than allowed; the login
        record is dropped then, so the next request is anonymous.
        """
        session: dict[str, Any] = request.session
        record = session.get(SESSION_KEY)
        if not record or "claims" not in record:
            return None
        now = self.clock()
        seen = session.get(SEEN_KEY, 0)
        if now - float(seen) > self.settings.session_idle_minutes * 60:
            session.pop(SESSION_KEY, None)
            session[EXPIRED_KEY] = True
            raise LoginExpired()
        if now - float(seen) >= SEEN_EVERY:
            # Refreshed at most once a minute: a changed session re-signs and re-sends the
            # cookie, which on every request was a tenth of a look-up's time.
            session[SEEN_KEY] = now
        try:
            return self._principal_of(json.dumps(record["claims"], sort_keys=True))
        except ClaimsError:
            session.pop(SESSION_KEY, None)
            return None

    def _build_principal(self, claims: str) -> Principal:
        # Principals are immutable and a function of the verified claims alone, so one built
        # for a login serves its next requests (building checks every credit code and
        # division in the claims: a fifth of a clerk's POST, bench/host_http.py).
        return principal_from_claims(
            json.loads(claims), provider=self.rp.name, acr_values=self.rp.acr_values
        )

    def require(self, request: Request) -> Principal:
        principal = self.principal(request)
        if principal is None:
            raise NotLoggedIn()
        return principal

    def session(self, principal: Principal, purpose: str | None = None) -> govsvc.Session:
        """The SDK session for one request; staff get their role's purpose of use."""
        why = PURPOSES.get(principal.kind, "") if purpose is None else purpose
        return self.platform.session(principal, purpose=why)

    def staff_claims(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        """Claims of a login, with the staff directory's record for the subject applied.

        A province's provider knows people, not the host's roles: a subject listed in the
        host's staff directory (``govsvc-host users add``) logs in as that member of staff.
        """
        record = self.store.staff(f"{self.rp.name}:{claims.get('sub', '')}")
        if record is None:
            return dict(claims)
        kept = {k: v for k, v in claims.items() if k in ("sub", "acr", "auth_time", "amr")}
        return {**kept, **record.claims()}

    # --- pages ---------------------------------------------------------------------------------

    def _environment(self, language: str) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("govsvc_host", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        catalogue = i18n.translations(language)
        env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
        env.filters["local"] = _local_time
        env.filters["code"] = govsvc.TrackingCode.display
        env.globals.update(
            ROLE_LABELS=ROLE_LABELS,
            LANGUAGES=i18n.LANGUAGES,
            language=language,
            qr_svg=_qr_svg,
        )
        return env

    def render(
        self,
        request: Request,
        template: str,
        *,
        status: int = 200,
        principal: Principal | None = None,
        **context: Any,
    ) -> HTMLResponse:
        language = i18n.language_of(request, self.settings.language)
        env = self._envs.get(language, self._envs[i18n.DEFAULT])
        base = {
            "request": request,
            "me": principal,
            "csrf_field": CSRF_FIELD,
            "csrf": csrf_token(request),
            "calendar_notice": self.calendar_notice(principal),
            "departments": self.departments,
            "demo": self.settings.demo,
            "idp_label": self.settings.identity.label,
            "flash": str(request.session.pop("govsvc_host.flash", "")),
            "unread": self.unread(principal),
            "display": request.cookies.get(DISPLAY_COOKIE, "standard"),
        }
        base.update(context)
        html = env.get_template(template).render(**base)
        return HTMLResponse(
            html,
            status_code=status,
            headers={
                "Cache-Control": "no-store",
                "X-Frame-Options": "DENY",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin",
                # No script at all: every page works without JavaScript, and none may run.
                "Content-Security-Policy": "default-src 'self'; script-src 'none'; "
                "img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; "
                "form-action 'self' http: https:",
            },
        )

    def unread(self, principal: Principal | None) -> int:
        """Unread portal messages of an applicant (the header's 我的消息 count)."""
        keys = keys_of(principal) if principal is not None else ()
        if self.notifications is None or not keys:
            return 0
        return self.notifications.unread(keys)

    def calendar_notice(self, principal: Principal | None) -> str:
        """The staff banner of provisional-calendar mode, or ''."""
        if principal is None or not principal.kind.is_staff:
            return ""
        today = self.platform.today()
        calendar = self.platform.calendar
        missing = [y for y in (today.year, today.year + 1) if not calendar.has_data(y)]
        if not missing:
            return ""
        years = "、".join(str(y) for y in missing)
        return (
            f"{years} 年的国务院节假日安排尚未导入：落在这些年份的办理期限按规则暂定（标“暂定”），"
            "导入后自动重算（govsvc-host calendar import FILE）。"
        )


def _local_time(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        china = dt.timezone(dt.timedelta(hours=8))
        return value.astimezone(china).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _qr_svg(text: str) -> str:
    # An <svg> element inline (no file, no script); the template marks it safe.
    return str(segno.make(text, error="m").svg_inline(scale=3, border=2))
