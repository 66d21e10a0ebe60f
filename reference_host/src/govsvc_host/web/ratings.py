"""好差评 (ratings): rate a finished case or a window visit, the department's rectification
queue, the answer, the second rating, and a supervisor's decision on an appeal.

Every page asks the SDK (``session.ratings``); a refusal by the policy is the usual 403. A
refusal by the rating's rules (an unfinished case, a second rating of one matter) comes back
as the form again, with what was typed and the reason in Chinese (409): the SDK's own words
follow for whoever needs the detail.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

import govsvc
from govsvc import Action, Exclusion, Principal, RatingLevel, RectificationStatus, Session
from govsvc_host.context import Host
from govsvc_host.web.common import CheckedForm, Form, Me, flash, host_of, redirect

router = APIRouter()

LEVELS = list(RatingLevel)
GROUNDS = {Exclusion.MISTAKEN: "误评", Exclusion.MALICIOUS: "恶意差评"}
STATUS_LABELS = {
    RectificationStatus.OPEN: "待整改",
    RectificationStatus.APPEALED: "申诉中",
    RectificationStatus.ANSWERED: "已整改回访",
    RectificationStatus.EXCLUDED: "申诉成立，不计入统计",
}
CHANNEL_LABELS = {
    "pc": "电脑端", "mobile": "移动端", "qr_code": "二维码", "hall_tablet": "大厅评价器",
    "hall_terminal": "大厅终端", "phone": "电话", "sms": "短信",
}
DONE = {
    "answer": "整改答复已发送给评价人",
    "rerate": "感谢您的再次评价",
    "appeal": "申诉已提交，等待电子监察复核",
    "decide_appeal": "申诉复核结论已记录",
}
_MAX_TEXT = 500


class FormInvalid(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _level(form: Form) -> RatingLevel:
    chosen = form.text("level")
    try:
        return RatingLevel(chosen)
    except ValueError:
        raise FormInvalid(
            {"level": "请选择满意程度（非常满意、满意、基本满意、不满意、非常不满意）"}
        ) from None


def _text(form: Form, name: str, *, required: str = "") -> str:
    text = form.text(name)
    if required and not text:
        raise FormInvalid({name: required})
    if len(text) > _MAX_TEXT:
        raise FormInvalid({name: f"不能超过 {_MAX_TEXT} 字（现为 {len(text)} 字）"})
    return text


def refusal_message(exc: govsvc.RatingRefused, case: govsvc.Case | None = None) -> str:
    """The reason a rating was refused, in Chinese (the SDK's message is for developers)."""
    if exc.command == "rate" and exc.state == "rated":
        return (
            "该事项已经评价过：一事一评、一次一评，不能重复评价。"
            "部门整改答复后，您可以再评价一次。"
        )
    if exc.command == "rate" and case is not None:
        if case.state is govsvc.CaseState.WITHDRAWN:
            return "该办件已撤回，没有可评价的办理结果；可以评价窗口服务（扫描回执上的二维码）。"
        return f"该办件尚未办结（当前状态：{case.state.label}），办结后才能评价。"
    if exc.command == "rerate":
        return "目前不能再次评价：部门答复整改后才能再评价一次，且只能一次。"
    return "当前状态下不能进行此操作，请刷新页面查看。"


# --- rating a case (一事一评) -------------------------------------------------------------------


def _rate_page(
    request: Request, host: Host, me: Principal, session: Session, case: govsvc.Case, *,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    version = host.platform.public().catalogue.version(case.item_code, case.item_version)
    return host.render(
        request, "rate.html", status=status, principal=me, case=case, version=version,
        levels=LEVELS, errors=errors or {}, values=values or {}, occasion=None,
        action=f"/cases/{case.tracking_code}/rate",
        can_rate=bool(session.can(Action.RATING_RATE, case)),
    )


@router.get("/cases/{ref}/rate", name="case_rate_form")
def rate_form(request: Request, ref: str, me: Me) -> Response:
    host = host_of(request)
    session = host.session(me)
    case = session.cases.get(ref)
    existing = session.ratings.of_case(case)
    if existing is not None:
        return redirect(f"/ratings/{existing.id}")
    return _rate_page(request, host, me, session, case)


@router.post("/cases/{ref}/rate", name="case_rate")
def rate_case(request: Request, ref: str, me: Me, form: CheckedForm) -> Response:
    host = host_of(request)
    session = host.session(me)
    case = session.cases.get(ref)
    values = form.texts()
    try:
        rating = session.ratings.rate(case, _level(form), text=_text(form, "text"))
    except FormInvalid as exc:
        return _rate_page(request, host, me, session, case, errors=exc.errors, values=values,
                          status=422)
    except govsvc.RatingRefused as exc:
        return _rate_page(request, host, me, session, case, values=values, status=409,
                          errors={"_": refusal_message(exc, case), "detail": str(exc)})
    flash(request, "感谢您的评价" + ("，部门将整改并答复您" if rating.is_bad else ""))
    return redirect(f"/ratings/{rating.id}")


# --- rating a window visit (一次一评, the receipt's QR) ------------------------------------------


def _visit_page(
    request: Request, host: Host, me: Principal, case: govsvc.Case, occasion: str, *,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    version = host.platform.public().catalogue.version(case.item_code, case.item_version)
    return host.render(
        request, "rate.html", status=status, principal=me, case=case, version=version,
        levels=LEVELS, errors=errors or {}, values=values or {}, occasion=occasion,
        action="/rate/visit", can_rate=True,
    )


def _occasion(value: str) -> str:
    if not value or len(value) > 64 or not value.replace("-", "").isalnum():
        raise govsvc.InvalidInput(
            f"二维码中的窗口服务编号 {value[:70]!r} 无效：请扫描回执上的二维码"
        )
    return value


@router.get("/rate/visit", name="rate_visit_form")
def rate_visit_form(request: Request, me: Me, case: str = "", occasion: str = "") -> Response:
    host = host_of(request)
    found = host.session(me).cases.get(case)
    return _visit_page(request, host, me, found, _occasion(occasion))


@router.post("/rate/visit", name="rate_visit")
def rate_visit(request: Request, me: Me, form: CheckedForm) -> Response:
    host = host_of(request)
    session = host.session(me)
    case = session.cases.get(form.text("case"))
    occasion = _occasion(form.text("occasion"))
    values = form.texts()
    try:
        rating = session.ratings.rate_occasion(
            occasion, _level(form), case=case, text=_text(form, "text"),
            channel=govsvc.RatingChannel.QR_CODE,
        )
    except FormInvalid as exc:
        return _visit_page(request, host, me, case, occasion, errors=exc.errors, values=values,
                           status=422)
    except govsvc.RatingRefused as exc:
        return _visit_page(request, host, me, case, occasion, values=values, status=409,
                           errors={"_": refusal_message(exc), "detail": str(exc)})
    flash(request, "感谢您对窗口服务的评价")
    return redirect(f"/ratings/{rating.id}")


# --- lists --------------------------------------------------------------------------------------


@router.get("/ratings", name="ratings_queue")
def ratings_queue(
    request: Request, me: Me, status: str = "open", department: str = "", after: str = ""
) -> Response:
    """The rectification queue (整改): a department's own; a supervisor's whole division."""
    host = host_of(request)
    session = host.session(me)
    try:
        wanted = None if status == "all" else RectificationStatus(status)
    except ValueError:
        raise govsvc.InvalidInput(
            f"状态 {status[:20]!r} 无效，可选：open、appealed、answered、excluded、all"
        ) from None
    page = session.ratings.queue(department or None, status=wanted, after=after or None)
    return host.render(
        request, "ratings.html", principal=me, page=page, wanted=status, after=after,
        department=department, status_labels=STATUS_LABELS, today=host.platform.today(),
        agencies=_agency_names(host),
    )


@router.get("/ratings/mine", name="ratings_mine")
def ratings_mine(request: Request, me: Me, after: str = "") -> Response:
    """The ratings a person gave and those of their cases, with the departments' answers."""
    host = host_of(request)
    session = host.session(me)
    if me.party is None:  # staff give no ratings of their own: the policy's refusal, recorded
        session.authorize(Action.RATING_READ, govsvc.Resource.platform())
    page = session.ratings.mine(after=after or None)
    return host.render(
        request, "ratings_mine.html", principal=me, page=page, after=after,
        status_labels=STATUS_LABELS, agencies=_agency_names(host),
    )


def _agency_names(host: Host) -> dict[str, str]:
    names = {i.agency.credit_code: i.agency.name for i in host.platform.public().catalogue.items()}
    return {**names, **host.departments}


# --- one rating: answer, second rating, appeal, decision ------------------------------------


def _rating_page(
    request: Request, host: Host, me: Principal, session: Session, rating: govsvc.Rating, *,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
    open_form: str = "", status: int = 200,
) -> Response:
    return host.render(
        request, "rating.html", status=status, principal=me, rating=rating,
        trail=session.ratings.trail(rating), commands=session.ratings.commands(rating),
        levels=LEVELS, grounds=GROUNDS, status_labels=STATUS_LABELS,
        channel_labels=CHANNEL_LABELS, errors=errors or {}, values=values or {},
        open_form=open_form, is_staff=me.kind.is_staff,
    )


@router.get("/ratings/{rating_id}", name="rating")
def rating_page(request: Request, rating_id: str, me: Me) -> Response:
    host = host_of(request)
    session = host.session(me)
    return _rating_page(request, host, me, session, session.ratings.get(rating_id))


def _answer(s: Session, r: govsvc.Rating, form: Form) -> govsvc.Rating:
    return s.ratings.answer(r, _text(form, "answer", required="请填写整改情况和给评价人的答复"))


def _rerate(s: Session, r: govsvc.Rating, form: Form) -> govsvc.Rating:
    return s.ratings.rerate(r, _level(form), text=_text(form, "text"))


def _appeal(s: Session, r: govsvc.Rating, form: Form) -> govsvc.Rating:
    try:
        ground = Exclusion(form.text("ground"))
    except ValueError:
        raise FormInvalid({"ground": "请选择申诉理由：误评或恶意差评"}) from None
    return s.ratings.appeal(r, ground, reason=_text(form, "reason", required="请写明申诉理由"))


def _decide(s: Session, r: govsvc.Rating, form: Form) -> govsvc.Rating:
    outcome = form.text("upheld")
    if outcome not in ("yes", "no"):
        raise FormInvalid({"upheld": "请选择复核结论：申诉成立或不成立"})
    return s.ratings.decide_appeal(
        r, upheld=outcome == "yes", reason=_text(form, "reason", required="请写明复核理由")
    )


COMMANDS: dict[str, Any] = {
    "answer": _answer, "rerate": _rerate, "appeal": _appeal, "decide_appeal": _decide,
}


@router.post("/ratings/{rating_id}/do/{command}", name="rating_command")
def rating_command(
    request: Request, rating_id: str, command: str, me: Me, form: CheckedForm
) -> Response:
    host = host_of(request)
    session = host.session(me)
    handler = COMMANDS.get(command)
    if handler is None:
        raise govsvc.NotFound(f"没有名为 {command} 的评价操作")
    rating = session.ratings.get(rating_id)
    shown = form.text("version")
    if shown != str(rating.version):
        raise govsvc.ConcurrentUpdate(
            f"该评价在您打开页面后已被处理（您看到的是第 {shown or '?'} 版，现为第 "
            f"{rating.version} 版），请刷新页面核对后重新操作"
        )
    values = form.texts()
    try:
        handler(session, rating, form)
    except FormInvalid as exc:
        return _rating_page(request, host, me, session, rating, errors=exc.errors,
                            values=values, open_form=command, status=422)
    except govsvc.RatingRefused as exc:
        return _rating_page(request, host, me, session, rating, values=values,
                            open_form=command, status=409,
                            errors={"_": refusal_message(exc), "detail": str(exc)})
    flash(request, DONE[command])
    return redirect(f"/ratings/{rating_id}")
