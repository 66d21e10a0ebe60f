"""一网通办 for applicants: 我的办件, one case, 补正, 我的数据使用, 我的消息, 短信发件箱.

Every page asks the SDK through the logged-in person's session: their cases
(``cases.mine``, keyset pages), one case (``cases.get`` — another person's case is the
policy's 403, recorded), the trail, the warning light, the supplement after a one-time
notice (``cases.resubmit``), and every use of their data (``parties.data_use``: who read it
here with which purpose, and what the platform asked which department). Messages and SMS
are the host's own tables (:mod:`govsvc_host.notifications`), shown after the policy's
answer for the person's own cases (``cases.list`` on their number). Applying is in
:mod:`govsvc_host.web.portal_apply`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

import govsvc
from govsvc import Action, Principal, Resource, Session
from govsvc.events import Suspended
from govsvc_host.notifications import Notifications, keys_of
from govsvc_host.web.cases import FormInvalid, lights_of, upload_material
from govsvc_host.web.common import CheckedForm, Me, flash, host_of, redirect

__all__ = ["router"]

router = APIRouter(prefix="/portal")

CHANNELS = {"1": "窗口", "2": "网上", "3": "移动端", "4": "快递"}


def notifications_of(request: Request) -> Notifications:
    found: Notifications = request.app.state.notifications
    return found


def _landing(session: Session) -> list[govsvc.PartyKey]:
    """The person's own keys, after the policy's answer for listing their cases.

    A principal without a party (staff) is asked about the platform's lists: those the
    policy lets through see an empty personal area, the rest its recorded 403.
    """
    me = session.principal
    if me.party is None:
        session.authorize(Action.CASE_LIST, Resource.platform())
        return []
    session.authorize(Action.CASE_LIST, Resource.of_party(me.party))
    return list(keys_of(me))


def _item_names(request: Request) -> dict[str, str]:
    host = host_of(request)
    return {i.implementation_code: i.name for i in host.platform.public().catalogue.items()}


@router.get("", name="portal")
def my_cases(request: Request, me: Me, after: str | None = None) -> Response:
    """我的办件: newest first, keyset pages (``after`` is the page's cursor)."""
    host = host_of(request)
    session = host.session(me)
    keys = _landing(session)
    cases = session.cases.mine(after=after, limit=20) if keys else None
    return host.render(
        request, "portal/cases.html", principal=me, cases=cases, item_names=_item_names(request),
        unread=notifications_of(request).unread(keys) if keys else 0,
    )


def _render_case(
    request: Request, me: Principal, session: Session, case: govsvc.Case, *,
    errors: dict[str, str] | None = None, status: int = 200,
) -> Response:
    host = host_of(request)
    version = host.platform.public().catalogue.version(case.item_code, case.item_version)
    lights = lights_of(session, case)
    trail = session.cases.trail(case)
    # Written notices to the applicant on the trail: suspensions with their notice.
    notices = [
        (e.at, e.kind.label, f"{e.payload.reason}：{e.payload.notice}")
        for e in trail
        if isinstance(e.payload, Suspended) and e.payload.notice
    ]
    messages, _ = notifications_of(request).messages(keys_of(me), limit=100)
    return host.render(
        request,
        "portal/case.html",
        status=status,
        principal=me,
        case=case,
        version=version,
        trail=trail,
        lights=lights,
        commands=session.cases.commands(case),
        notices=notices,
        messages=[m for m in messages if m.case_id == case.id],
        errors=errors or {},
        channels=CHANNELS,
        max_mb=host.settings.uploads.max_bytes / 1024 / 1024,
    )


@router.get("/cases/{ref}", name="portal_case")
def my_case(request: Request, ref: str, me: Me) -> Response:
    host = host_of(request)
    session = host.session(me)
    return _render_case(request, me, session, session.cases.get(ref))


@router.post("/cases/{ref}/supplement", name="portal_supplement")
def supplement(request: Request, ref: str, me: Me, form: CheckedForm) -> Response:
    """补正: every material the one-time notice named, in one submission."""
    host = host_of(request)
    session = host.session(me)
    case = session.cases.get(ref)
    if form.text("version") and form.text("version") != str(case.version):
        raise govsvc.ConcurrentUpdate(
            f"办件 {case.tracking_code} 已变化（版本 {case.version}），请刷新页面后再提交补正"
        )
    version = host.platform.public().catalogue.version(case.item_code, case.item_version)
    errors: dict[str, str] = {}
    materials = []
    items = case.notice.items if case.notice else ()
    for item in items:
        field = f"file_{item.code}"
        try:
            found = upload_material(host, form, field, item.code, version)
        except FormInvalid as exc:
            errors.update(exc.errors)
            continue
        if found is None:
            errors[field] = f"请上传“{item.name}”：{item.detail}"
        else:
            materials.append(found)
    if errors:
        return _render_case(request, me, session, case, errors=errors, status=422)
    session.cases.resubmit(case, materials)
    flash(request, "补正材料已提交，请等待窗口审核")
    return redirect(f"/portal/cases/{case.tracking_code}")


@router.get("/data-use", name="portal_data_use")
def data_use(request: Request, me: Me) -> Response:
    """我的数据使用: who used my data (and my organisation's), when, where, for what."""
    host = host_of(request)
    session = host.session(me)
    keys = _landing(session)
    uses = sorted(
        (entry for key in keys for entry in session.parties.data_use(key, limit=200)),
        key=lambda e: e.at, reverse=True,
    )
    return host.render(request, "portal/data_use.html", principal=me, uses=uses,
                       item_names=_item_names(request))


@router.get("/messages", name="portal_messages")
def messages(request: Request, me: Me, before: str | None = None) -> Response:
    """我的消息: the notifications of my cases, newest first."""
    host = host_of(request)
    keys = _landing(host.session(me))
    found, cursor = notifications_of(request).messages(keys, before=before) if keys else ([], None)
    return host.render(request, "portal/messages.html", principal=me, messages=found,
                       cursor=cursor)


@router.post("/messages/read", name="portal_messages_read")
def messages_read(request: Request, me: Me, form: CheckedForm) -> Response:
    host = host_of(request)
    keys = _landing(host.session(me))
    done = notifications_of(request).mark_read(keys) if keys else 0
    flash(request, f"已将 {done} 条消息标为已读")
    return redirect("/portal/messages")


@router.get("/sms", name="portal_sms")
def sms_outbox(request: Request, me: Me) -> Response:
    """短信发件箱: the SMS the host sent or is sending (operators; the demo's gateway)."""
    host = host_of(request)
    host.session(me).authorize(Action.OUTBOX_READ, Resource.platform())
    notes = notifications_of(request)
    return host.render(request, "portal/sms.html", principal=me, sms=notes.outbox(),
                       provider=notes.provider.name)
