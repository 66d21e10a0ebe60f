"""一窗受理: the clerk's window — find or register an applicant, take an application.

A walk-in applicant is found by their number (一号: citizen ID or credit code); the clerk
registers them if the platform does not know them yet, takes the application on their behalf
(channel 窗口, the clerk recorded as the actor, and for an organisation the person standing
at the window recorded as its agent), with scanned materials. The case page then offers
pre-review, acceptance (容缺 included), refusal, receipts and, at the end, the hand-out.
Which items a clerk may take is the SDK's answer (``session.can(cases.apply, …)``): the
agencies the hall serves.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

import govsvc
from govsvc import Action, Principal, Resource
from govsvc_host.context import Host
from govsvc_host.web.cases import FormInvalid, parse_lines, upload_material
from govsvc_host.web.common import (
    CheckedForm,
    Me,
    flash,
    host_of,
    redirect,
    take_draft,
)

router = APIRouter(prefix="/window")

HOW = {
    "none": "未提供",
    "upload": "扫描上传",
    "paper": "纸质原件已核",
    "ecert": "电子证照",
    "shared": "部门共享数据",
    "commitment": "告知承诺",
}


def _key(number: str) -> govsvc.PartyKey:
    try:
        return govsvc.PartyKey.of(number)
    except govsvc.InvalidInput as exc:
        raise FormInvalid({"number": f"证件号码有误：{exc}"}) from None


def _items_for(
    host: Host, session: govsvc.Session, key: govsvc.PartyKey
) -> list[govsvc.ServiceItem]:
    today = host.platform.today()
    return [
        item
        for item in host.platform.public().catalogue.items()
        if session.can(
            Action.CASE_APPLY,
            Resource.application(
                key,
                agency=item.agency.credit_code,
                item_code=item.implementation_code,
                division=item.agency.credit_code[2:8],
                today=today,
            ),
        )
    ]


@router.get("", name="window")
def window(
    request: Request,
    me: Me,
    number: str = "",
    after: str | None = None,
) -> Response:
    host = host_of(request)
    session = host.session(me)
    errors: dict[str, str] = {}
    party = cases = items = None
    key = None
    status = 200
    # The window is for those the policy lets list cases by applicant (clerks; supervisors
    # in their division): asked of the SDK, which records a refusal.
    session.authorize(Action.CASE_LIST, Resource.platform())
    if number.strip():
        try:
            key = _key(number.strip())
        except FormInvalid as exc:
            errors, status = exc.errors, 422
    if key is not None:
        party = session.parties.get(key)
        cases = session.cases.of_applicant(key, after=after, limit=20)
        items = _items_for(host, session, key)
    return host.render(
        request,
        "window.html",
        status=status,
        principal=me,
        number=number,
        key=key,
        party=party,
        cases=cases,
        items=items or [],
        errors=errors,
        values=take_draft(request, "/window"),
        item_names={
            i.implementation_code: i.name for i in host.platform.public().catalogue.items()
        },
    )


@router.post("/applicants", name="window_register")
def register(
    request: Request, me: Me, form: CheckedForm
) -> Response:
    """Register (or update) a walk-in applicant: a person or an organisation (一号)."""
    host = host_of(request)
    session = host.session(me)
    values = form.texts()
    errors: dict[str, str] = {}
    key = None
    try:
        key = _key(form.text("number"))
    except FormInvalid as exc:
        errors.update(exc.errors)
    if not form.text("name"):
        errors["name"] = "请填写姓名或单位名称"
    if errors:
        return host.render(
            request, "window.html", status=422, principal=me, number=form.text("number"),
            key=None, party=None, cases=None, items=[], errors=errors, values=values,
            flash="", item_names={},
        )
    assert key is not None
    party: govsvc.Party
    try:
        if key.doc_type is govsvc.DocumentType.CREDIT_CODE:
            party = govsvc.Organisation(
                key=key,
                name=form.text("name"),
                legal_representative=form.text("legal_representative") or None,
                phone=form.text("phone") or None,
                address=form.text("address") or None,
            )
        else:
            party = govsvc.Person(
                key=key,
                name=form.text("name"),
                phone=form.text("phone") or None,
                address=form.text("address") or None,
            )
    except govsvc.InvalidInput as exc:
        return host.render(
            request, "window.html", status=422, principal=me, number=form.text("number"),
            key=None, party=None, cases=None, items=[], errors={"name": str(exc)},
            values=values, flash="", item_names={},
        )
    session.parties.register(party)
    flash(request, f"已登记申请人 {party.name}")
    return redirect("/window", number=key.number)


def _apply_page(
    request: Request,
    me: Principal,
    item_code: str,
    applicant: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    host = host_of(request)
    session = host.session(me)
    key = _key(applicant)
    party = session.parties.get(key)
    if party is None:
        raise govsvc.NotFound(f"申请人 {key.masked()} 尚未登记，请先在一窗受理页面登记")
    version = host.platform.public().catalogue.version(item_code)
    draft = take_draft(request, f"/window/apply/{item_code}")
    return host.render(
        request,
        "apply.html",
        status=status,
        principal=me,
        party=party,
        version=version,
        how=HOW,
        errors=errors or {},
        values={**draft, **(values or {})},
        max_mb=host.settings.uploads.max_bytes / 1024 / 1024,
    )


@router.get("/apply/{item_code}", name="window_apply")
def apply_form(
    request: Request, item_code: str, applicant: str, me: Me
) -> Response:
    return _apply_page(request, me, item_code, applicant)


@router.post("/apply/{item_code}", name="window_apply_post")
def apply(
    request: Request,
    item_code: str,
    me: Me,
    form: CheckedForm,
) -> Response:
    host = host_of(request)
    session = host.session(me)
    applicant = form.text("applicant")
    values = form.texts()
    try:
        key = _key(applicant)
        party = session.parties.get(key)
        if party is None:
            raise govsvc.NotFound(f"申请人 {key.masked()} 尚未登记，请先登记")
        version = host.platform.public().catalogue.version(item_code)
        errors: dict[str, str] = {}
        agent = None
        if isinstance(party, govsvc.Organisation):
            agent_number, agent_name = form.text("agent_number"), form.text("agent_name")
            if not agent_name:
                errors["agent_name"] = "单位申请须登记到窗口办理的经办人姓名"
            try:
                agent_key = govsvc.PartyKey.of(agent_number)
                if agent_name:
                    agent = govsvc.Person(key=agent_key, name=agent_name)
            except govsvc.InvalidInput as exc:
                errors["agent_number"] = f"经办人证件号码有误：{exc}"
        materials: list[govsvc.ProvidedMaterial] = []
        for spec in version.materials:
            how = form.text(f"how_{spec.code}", "none")
            field = f"file_{spec.code}"
            try:
                if how == "upload":
                    found = upload_material(host, form, field, spec.code, version)
                    if found is None:
                        errors[field] = "选择了扫描上传，请选择文件"
                    else:
                        materials.append(found)
                elif how == "paper":
                    materials.append(govsvc.ProvidedMaterial(
                        code=spec.code, kind=govsvc.MaterialKind.PAPER,
                        reference=f"纸质原件已核（{me.name}）"))
                elif how == "ecert":
                    reference = form.text(f"ref_{spec.code}") or (
                        f"1.2.156.3005.2.{spec.ecert_type}" if spec.ecert_type else "")
                    if not reference:
                        errors[f"ref_{spec.code}"] = "请填写电子证照标识"
                    else:
                        materials.append(govsvc.ProvidedMaterial(
                            code=spec.code, kind=govsvc.MaterialKind.ECERT, reference=reference))
                elif how == "shared":
                    materials.append(govsvc.ProvidedMaterial(
                        code=spec.code, kind=govsvc.MaterialKind.SHARED,
                        reference=spec.shared_from or "部门共享"))
                elif how == "commitment":
                    materials.append(govsvc.ProvidedMaterial(
                        code=spec.code, kind=govsvc.MaterialKind.COMMITMENT,
                        reference=f"告知承诺书（{govsvc.TrackingCode.new()[:6]}）"))
            except FormInvalid as exc:
                errors.update(exc.errors)
        try:
            data = parse_lines(form.text("form"), "form")
        except FormInvalid as exc:
            errors.update(exc.errors)
            data = {}
        if errors:
            return _apply_page(
                request, me, item_code, applicant, errors=errors, values=values, status=422
            )
        case = session.cases.apply(
            item_code, party, materials=materials, form=data, channel=govsvc.Channel.WINDOW,
            agent=agent,
        )
    except FormInvalid as exc:
        return _apply_page(
            request, me, item_code, applicant, errors=exc.errors, values=values, status=422
        )
    except govsvc.InvalidInput as exc:  # e.g. an item not for this kind of applicant
        return _apply_page(
            request, me, item_code, applicant, errors={"_": str(exc)}, values=values, status=422
        )
    flash(request, f"已收件，办件编码 {govsvc.TrackingCode.display(case.tracking_code)}；请预审")
    return redirect(f"/cases/{case.tracking_code}")
