"""Pages anyone may open: home, the catalogue (办事指南), progress lookup, language, display."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

import govsvc
from govsvc import Principal, PrincipalKind
from govsvc_host import i18n
from govsvc_host.api import filed_under
from govsvc_host.context import DISPLAY_COOKIE, DISPLAYS
from govsvc_host.security import client_address
from govsvc_host.web.common import Anyone, host_of

router = APIRouter()


def _home_links(me: Principal | None) -> list[tuple[str, str, str]]:
    """(path, title, what it is for) of the areas this principal's role works in."""
    if me is None:
        return []
    kind = me.kind
    links: list[tuple[str, str, str]] = []
    if kind is PrincipalKind.CLERK:
        links.append(
            ("/window", "一窗受理", "查找或登记申请人，代为申请，预审、受理、出具回执，结果发放")
        )
    if kind in (PrincipalKind.REVIEWER, PrincipalKind.APPROVER):
        links.append(("/backoffice", "审查任务", "本部门的审查任务、预警灯、审查决定、挂起与延期"))
    if kind is PrincipalKind.SUPERVISOR:
        links.append(("/supervision", "电子监察", "超期办件、各部门统计、拒绝访问记录"))
    if kind is PrincipalKind.SYSTEM_ADMIN:
        links.append(("/admin", "运维", "部门系统健康、待投递消息、交换日志校验、工作日历"))
    if kind in (PrincipalKind.APPLICANT, PrincipalKind.AGENT):
        links.append(("/portal", "我的办件", "查看本人（本单位）的办件、进度、一次性告知与补正"))
        links.append(("/portal/messages", "我的消息", "受理、补正、挂起、审批结果等办件通知"))
        links.append(("/portal/data-use", "我的数据使用", "谁在何时、出于什么用途使用了您的信息"))
    links.append(("/items", "办事指南", "所有已发布事项的办事指南"))
    return links


@router.get("/", name="home")
def home(request: Request, me: Anyone) -> Response:
    host = host_of(request)
    return host.render(
        request,
        "home.html",
        principal=me,
        links=_home_links(me),
        expired=bool(request.session.pop("govsvc_host.expired", False)),
    )


_QUERY_MOST = 200  # characters of a search the portal passes on (as the API's q)
_SHORTER_TRIES = 4  # beginnings of a query that found nothing tried in its place, longest first


@router.get("/items", name="items")
def items(
    request: Request,
    me: Anyone,
    q: str = "",
    department: str = "",
    theme: str = "",
    life_stage: str = "",
    after: str = "",
) -> Response:
    """办事指南: search (搜索事项) and browse by department, theme (主题), life stage (人生阶段)."""
    host = host_of(request)
    catalogue = host.platform.public().catalogue
    q = q.strip()
    filters = {"department": department.strip() or None, "theme": theme.strip() or None,
               "life_stage": life_stage.strip() or None}
    error = None  # which message items.html shows: "too_long" or "stale_page"
    page: govsvc.Page[govsvc.ItemSummary] | None = None
    shorter = None  # the beginning of q whose results are shown, when q itself found nothing
    try:
        if len(q) > _QUERY_MOST:
            error = "too_long"
        elif q:
            page = catalogue.search(q, limit=20, after=after or None)
            # Nothing for the whole text (typed on past a name: 食品经营许可申 for the item
            # 食品经营许可（新办）): offer what its shorter beginnings find, and say so. (The
            # licence's own name, 食品经营许可证, is found directly: the SDK indexes the
            # names of what each item hands out.)
            for size in range(len(q) - 1, max(1, len(q) - _SHORTER_TRIES - 1), -1):
                if len(page) or after:
                    break
                page, shorter = catalogue.search(q[:size], limit=20), q[:size]
            page = govsvc.Page(items=filed_under(page, **filters), next=page.next)
        else:
            page = catalogue.browse(limit=50, after=after or None, **filters)
    except govsvc.InvalidInput:  # only a cursor that is not one of ours gets here
        error = "stale_page"
    return host.render(request, "items.html", status=422 if error else 200, principal=me,
                       page=page, q=q, filters=filters, facets=catalogue.facets(),
                       error=error, query_most=_QUERY_MOST, shorter=shorter)


@router.get("/items/{code}", name="item")
def item(request: Request, code: str, me: Anyone) -> Response:
    host = host_of(request)
    catalogue = host.platform.public().catalogue
    found = catalogue.item(code)
    version = catalogue.version(code)
    return host.render(request, "item.html", principal=me, item=found, version=version)


@router.get("/track", name="track")
def track(
    request: Request, me: Anyone, code: str = "", suffix: str = ""
) -> Response:
    """Public progress lookup (办件进度查询): tracking code + last 4 of the ID number."""
    host = host_of(request)
    errors: dict[str, str] = {}
    summary = None
    status = 200
    if code or suffix:
        if not code.strip():
            errors["code"] = "请输入回执上的办件编码（全程一码）"
        if len(suffix.strip()) != 4:
            errors["suffix"] = "请输入申请人证件号码的后 4 位"
        if not errors:
            who = client_address(request)
            # Misses are what guessing produces: they are counted, and too many refused.
            if not host.limiter.test(host.settings.rate_lookup, "track", who):
                errors["code"] = "查询过于频繁，请一分钟后再试"
                status = 429
            else:
                try:
                    summary = host.platform.public().cases.track(code, id_suffix=suffix)
                except (govsvc.CaseNotFound, govsvc.InvalidInput):
                    host.limiter.hit(host.settings.rate_lookup, "track", who)
                    errors["code"] = "未找到与该编码和证件号后 4 位相符的办件，请核对回执"
                    status = 404
        else:
            status = 422
    return host.render(
        request,
        "track.html",
        status=status,
        principal=me,
        summary=summary,
        errors=errors,
        values={"code": code, "suffix": suffix},
        item_names={i.implementation_code: i.name for i in host.platform.public().catalogue.items()}
        if summary
        else {},
    )


@router.get("/lang/{language}", name="language")
def language(request: Request, language: str, next: str = "/") -> Response:
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if language in i18n.LANGUAGES:
        host = host_of(request)
        response.set_cookie(
            i18n.COOKIE,
            language,
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=host.settings.secure_cookies,
        )
    return response


@router.get("/display/{mode}", name="display")
def display(request: Request, mode: str, next: str = "/") -> Response:
    """长辈模式 on or off (``elder`` / ``standard``): a cookie, so a plain link does it, no JS."""
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    response = RedirectResponse(target, status_code=303)
    if mode in DISPLAYS:
        response.set_cookie(
            DISPLAY_COOKIE,
            mode,
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=host_of(request).settings.secure_cookies,
        )
    return response
