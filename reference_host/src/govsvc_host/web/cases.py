"""One case, for everyone who may see it: detail, trail, materials, receipts and commands.

The page shows a form only for the commands the principal may press now
(``session.cases.commands(case)``: the case's state and the SDK's policy); posting a command
runs it through the same session, so a button that should not have been there still ends in
the policy's 403. The case's ``version`` travels in every form: a command on a case someone
else changed meanwhile is refused (409) rather than applied to what the clerk did not see.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

import govsvc
from govsvc import Action, Case, CaseState, Principal, Session
from govsvc.ecert import CertificateType, FieldKind
from govsvc.vocabulary import VOCABULARY
from govsvc_host.context import Host
from govsvc_host.materials import MEDIA_TYPES, UploadRejected, check_upload
from govsvc_host.web.common import (
    CheckedForm,
    Form,
    Me,
    flash,
    host_of,
    redirect,
    take_draft,
)

router = APIRouter(prefix="/cases")

DEFAULT_REMEDIES = (
    "如不服本决定，可自收到本决定之日起六十日内依法申请行政复议，或者六个月内依法提起行政诉讼。"
)
DELIVERY = {"window": "窗口领取", "post": "邮寄送达", "electronic": "电子送达"}
_LINE = re.compile(r"^\s*([^:：]{1,50})\s*[:：]\s*(.{1,500}?)\s*$")


class FormInvalid(Exception):
    """Field-level problems of a posted form (messages in Chinese)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_lines(text: str, field: str) -> dict[str, str]:
    """"字段：内容" lines → a dict; FormInvalid names the first bad line."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise FormInvalid(
                {field: f"第 {n} 行应为“字段名：内容”，例如“经营场所：道里区中央大街1号”"}
            )
        out[match.group(1)] = match.group(2)
    return out


def upload_material(
    host: Host, form: Form, field: str, code: str, version: govsvc.ItemVersion
) -> govsvc.ProvidedMaterial | None:
    """The uploaded file of ``field`` as a provided material (None when no file was chosen)."""
    upload = form.file(field)
    if upload is None:
        return None
    spec = next((m for m in version.materials if m.code == code), None)
    formats = spec.formats if spec else host.settings.uploads.allowed
    accepted = tuple(f for f in formats if f in host.settings.uploads.allowed) or tuple(formats)
    try:
        data, extension = check_upload(
            upload.file,
            max_bytes=host.settings.uploads.max_bytes,
            accepted=accepted,
            filename=upload.filename or "",
        )
    except UploadRejected as exc:
        raise FormInvalid({field: str(exc)}) from None
    media = MEDIA_TYPES.get(extension, "application/octet-stream")
    stored = host.materials.put(data, media_type=media, extension=extension)
    name = (upload.filename or f"{code}.{extension}").rsplit("/", 1)[-1][:200]
    return govsvc.ProvidedMaterial(
        code=code,
        kind=govsvc.MaterialKind.UPLOAD,
        reference=stored.reference,
        filename=name,
        media_type=media,
        size=stored.size,
    )


# Face fields that name the holder: filled from the case's applicant when the form lacks them.
_HOLDER_NAME = ("operatorName", "entityName", "name")
_HOLDER_NUMBER = ("creditCode", "idNumber", "socialSecurityNumber")


def face_prefill(ctype: CertificateType, case: Case) -> dict[str, str]:
    """What the case already knows of ``ctype``'s face: the application form's value whose
    key or Chinese label is the field's, else, for the holder's name and number, the
    applicant's. Fields the case does not answer are left out (the clerk types them)."""
    out: dict[str, str] = {}
    for spec in ctype.fields:
        found = next(
            (str(case.form[n]).strip() for n in (spec.key, spec.label)
             if str(case.form.get(n) or "").strip()),
            "",
        )
        if not found and spec.key in _HOLDER_NAME:
            found = case.applicant_name
        if not found and spec.key in _HOLDER_NUMBER:
            found = case.applicant.number
        if found and spec.problem(found)[1] is None:
            out[spec.key] = found
    return out


def _face_problem(spec: govsvc.ecert.FaceField, text: str) -> str:
    """The Chinese message for a face value ``spec.problem`` refuses."""
    if spec.kind is FieldKind.DATE:
        return f"{spec.label}应为日期，格式如 2026-12-01"
    if spec.kind is FieldKind.NUMBER:
        return f"{spec.label}应为数字"
    if spec.kind is FieldKind.ENUM:
        return f"{spec.label}应为以下之一：{'、'.join(spec.choices)}"
    if spec.max_length is not None and len(text) > spec.max_length:
        return f"{spec.label}最多 {spec.max_length} 个字，现为 {len(text)} 个"
    return f"{spec.label}“{text}”格式不正确，请按证照上的格式填写"


def face_of_form(
    ctype: CertificateType, form: Form
) -> tuple[dict[str, str], dict[str, str]]:
    """``(face, errors)``: the face fields posted as ``face_<key>``, and a Chinese message,
    naming the field by its label, for each missing or ill-formed one."""
    errors: dict[str, str] = {}
    face: dict[str, str] = {}
    for spec in ctype.fields:
        name = f"face_{spec.key}"
        text = form.text(name)
        if not text:
            if spec.required:
                errors[name] = f"请填写{spec.label}"
        elif spec.problem(text)[1] is not None:
            errors[name] = _face_problem(spec, text)
        else:
            face[spec.key] = text
    return face, errors


def lights_of(session: Session, case: Case) -> govsvc.CaseLights | None:
    """The warning lights of a case under review, else None (also when they cannot be
    computed, e.g. a due year without calendar data: the page still shows)."""
    if case.state is not CaseState.IN_REVIEW:
        return None
    try:
        return session.cases.lights(case)
    except govsvc.GovsvcError:
        return None


def render_case(
    request: Request,
    host: Host,
    me: Principal,
    session: Session,
    case: Case,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    open_form: str = "",
    status: int = 200,
    profile: govsvc.Profile | None = None,
) -> Response:
    version = host.platform.public().catalogue.version(case.item_code, case.item_version)
    commands = session.cases.commands(case)
    decidable = (
        [t for t in case.open_tasks if session.can(Action.REVIEW_DECIDE, (case, t.id))]
        if "decide" in commands
        else []
    )
    lights = lights_of(session, case)
    ctype = (
        host.platform.certificate_types.of_version(version)
        if "issue_result" in commands
        else None
    )
    draft = take_draft(request, f"/cases/{request.path_params['ref']}")
    return host.render(
        request,
        "case.html",
        status=status,
        principal=me,
        case=case,
        version=version,
        trail=session.cases.trail(case),
        commands=commands,
        decidable=decidable,
        lights=lights,
        errors=errors or {},
        values={**draft, **(values or {})},
        open_form=open_form or draft.get("command", ""),
        profile=profile,
        vocabulary=VOCABULARY,
        can_profile=bool(session.can(Action.PARTY_IDENTIFY, case.applicant)),
        reasons=list(govsvc.SuspensionReason),
        delivery=DELIVERY,
        couriers=host.platform.registry.delivery_providers,
        default_remedies=DEFAULT_REMEDIES,
        pending_commitments=[c for c in case.commitments if c.verified_at is None],
        is_staff=me.kind.is_staff,
        certificate_type=ctype,
        face_prefill=face_prefill(ctype, case) if ctype else {},
        field_kinds=FieldKind,
    )


@router.get("/{ref}", name="case")
def case_page(request: Request, ref: str, me: Me) -> Response:
    host = host_of(request)
    session = host.session(me)
    case = session.cases.get(ref)
    return render_case(request, host, me, session, case)


@router.get("/{ref}/profile", name="case_profile")
def case_profile(request: Request, ref: str, me: Me) -> Response:
    """The applicant's one-number profile, each attribute with its source (一数一源)."""
    host = host_of(request)
    session = host.session(me)
    case = session.cases.get(ref)
    # Staff sessions carry their role's purpose of use; a person looking at their own data
    # states theirs here.
    profile = session.parties.identify(
        case.applicant, case=case, purpose=session.purpose or "本人查询"
    )
    return render_case(request, host, me, session, case, profile=profile)


@router.get("/{ref}/materials/{code}", name="case_material")
def case_material(
    request: Request, ref: str, code: str, me: Me
) -> Response:
    """A stored scan, shown inline; reading it is a recorded read of the case."""
    host = host_of(request)
    case = host.session(me).cases.get(ref)
    material = next((m for m in case.materials if m.code == code), None)
    if material is None or not host.materials.exists(material.reference):
        raise govsvc.NotFound(
            f"办件 {case.tracking_code} 没有可查看的材料 {code}（纸质、电子证照等不在此存储）"
        )
    stream = host.materials.open(material.reference)
    media = material.media_type if material.media_type in MEDIA_TYPES.values() else (
        "application/octet-stream"
    )
    return StreamingResponse(
        stream,
        media_type=media,
        headers={
            "Content-Disposition": "inline",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'",
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/{ref}/receipt", name="case_receipt")
def case_receipt(request: Request, ref: str, me: Me) -> Response:
    """The printable receipt: acceptance receipt, one-time notice, or refusal notice."""
    host = host_of(request)
    session = host.session(me)
    case = session.cases.get(ref)
    version = host.platform.public().catalogue.version(case.item_code, case.item_version)
    base = host.settings.base_url.rstrip("/")
    return host.render(
        request,
        "receipt.html",
        principal=me,
        case=case,
        version=version,
        track_url=f"{base}/track?code={govsvc.TrackingCode.display(case.tracking_code)}",
        # 一次一评: a window visit is rated by the QR on its receipt (the visit: this version).
        rate_url=(
            f"{base}/rate/visit?case={case.tracking_code}&occasion={case.tracking_code}-v{case.version}"
            if case.channel == govsvc.Channel.WINDOW.value
            else ""
        ),
        hall=me.hall or "",
    )


# --- commands ------------------------------------------------------------------------------


def _required(form: Form, **fields: str) -> dict[str, str]:
    values = {name: form.text(name) for name in fields}
    missing = {name: message for name, message in fields.items() if not values[name]}
    if missing:
        raise FormInvalid(missing)
    return values


def _prereview(host: Host, s: Session, case: Case, form: Form) -> Case:
    defects = {
        m.code: form.text(f"defect_{m.code}")
        for m in case.materials
        if form.text(f"defect_{m.code}")
    }
    return s.cases.prereview(case, defects=defects)


def _accept(host: Host, s: Session, case: Case, form: Form) -> Case:
    try:
        return s.cases.accept(case, tolerate=form.checked("tolerate"))
    except govsvc.InvalidInput as exc:
        if "tolerate" in str(exc):
            raise FormInvalid(
                {"tolerate": "仍缺少容缺后补材料：如申请人书面承诺限期补交，请勾选“容缺受理”"}
            ) from None
        raise


def _refuse(host: Host, s: Session, case: Case, form: Form) -> Case:
    v = _required(form, reason="请填写不予受理的理由", basis="请填写法律依据")
    return s.cases.refuse(case, reason=v["reason"], basis=v["basis"])


def _decide(host: Host, s: Session, case: Case, form: Form) -> Case:
    task = form.text("task_id")
    outcome = form.text("outcome")
    if outcome not in ("approve", "deny"):
        raise FormInvalid({"outcome": "请选择“准予”或“不予”"})
    if outcome == "deny":
        v = _required(form, reason="不予许可须说明理由", basis="不予许可须写明法律依据")
        remedies = form.text("remedies") or DEFAULT_REMEDIES
        return s.reviews.decide(
            case, task, approve=False, reason=v["reason"], basis=v["basis"], remedies=remedies
        )
    return s.reviews.decide(case, task, approve=True, reason=form.text("reason"))


def _suspend(host: Host, s: Session, case: Case, form: Form) -> Case:
    errors: dict[str, str] = {}
    try:
        reason = govsvc.SuspensionReason(form.text("reason"))
    except ValueError:
        errors["reason"] = "请选择挂起原因"
    if not form.text("notice"):
        errors["notice"] = "请填写给申请人的书面告知（行政许可法第45条）"
    if errors:
        raise FormInvalid(errors)
    return s.cases.suspend(case, reason, notice=form.text("notice"))


def _workdays(form: Form) -> int:
    text = form.text("workdays")
    if not text.isdigit() or not 1 <= int(text) <= 60:
        raise FormInvalid({"workdays": "延期工作日应为 1 到 60 之间的整数"})
    return int(text)


def _request_extension(host: Host, s: Session, case: Case, form: Form) -> Case:
    days = _workdays(form)
    v = _required(form, reason="请填写延期理由")
    return s.cases.request_extension(case, days, reason=v["reason"])


def _extend(host: Host, s: Session, case: Case, form: Form) -> Case:
    if case.extension_request is not None:
        return s.cases.extend(case)
    days = _workdays(form)
    v = _required(form, reason="请填写延期理由")
    return s.cases.extend(case, days, reason=v["reason"])


def _decline_extension(host: Host, s: Session, case: Case, form: Form) -> Case:
    v = _required(form, reason="请填写不予延期的理由")
    return s.cases.decline_extension(case, reason=v["reason"])


def _verify_commitment(host: Host, s: Session, case: Case, form: Form) -> Case:
    truthful = form.text("truthful")
    if truthful not in ("yes", "no"):
        raise FormInvalid({"truthful": "请选择核查结论"})
    code = form.text("code")
    if truthful == "no" and not form.text("note"):
        raise FormInvalid({"note": "承诺不实须写明核查情况"})
    return s.cases.verify_commitment(case, code, truthful=truthful == "yes", note=form.text("note"))


def _issue_result(host: Host, s: Session, case: Case, form: Form) -> Case:
    version = host.platform.public().catalogue.version(case.item_code, case.item_version)
    ctype = host.platform.certificate_types.of_version(version)
    messages = {"name": "请填写结果名称（如证照名称）", "number": "请填写证照编号"}
    errors = {k: m for k, m in messages.items() if not form.text(k)}
    data: dict[str, Any]
    if ctype is None:
        if errors:
            raise FormInvalid(errors)
        data = parse_lines(form.text("data"), "data")
    else:  # 制证: the face by field key, so the e-certificate is issued with the result
        data, face_errors = face_of_form(ctype, form)
        if errors or face_errors:
            raise FormInvalid({**errors, **face_errors})
    return s.cases.issue_result(
        case, govsvc.CaseResult(name=form.text("name"), number=form.text("number"), data=data)
    )


def _complete(host: Host, s: Session, case: Case, form: Form) -> Case:
    how = form.text("delivery")
    if how not in DELIVERY:
        raise FormInvalid({"delivery": "请选择送达方式"})
    if how != "post":
        return s.cases.complete(case, delivery=DELIVERY[how])
    couriers = host.platform.registry.delivery_providers
    courier = couriers.get(form.text("courier"))
    errors = {}
    if courier is None:
        errors["courier"] = "请选择快递服务"
    if not form.text("address"):
        errors["address"] = "请填写邮寄地址"
    if errors:
        raise FormInvalid(errors)
    assert courier is not None
    number = courier.ship(case.id, form.text("address"))
    return s.cases.complete(case, delivery=f"邮寄送达（{courier.label}，运单号 {number}）")


def _supply(host: Host, s: Session, case: Case, form: Form) -> Case:
    version = host.platform.public().catalogue.version(case.item_code, case.item_version)
    code = form.text("code")
    material = upload_material(host, form, "file", code, version)
    if material is None:
        raise FormInvalid({"file": "请选择要补交的文件"})
    return s.cases.supply(case, material)


def _resubmit(host: Host, s: Session, case: Case, form: Form) -> Case:
    version = host.platform.public().catalogue.version(case.item_code, case.item_version)
    materials = []
    for item in case.notice.items if case.notice else ():
        found = upload_material(host, form, f"file_{item.code}", item.code, version)
        if found is not None:
            materials.append(found)
    if not materials:
        raise FormInvalid({"file": "请至少上传一份补正材料"})
    return s.cases.resubmit(case, materials)


def _withdraw(host: Host, s: Session, case: Case, form: Form) -> Case:
    return s.cases.withdraw(case, reason=form.text("reason"))


COMMANDS: dict[str, Callable[[Host, Session, Case, Form], Case]] = {
    "prereview": _prereview,
    "accept": _accept,
    "refuse": _refuse,
    "decide": _decide,
    "suspend": _suspend,
    "resume": lambda host, s, case, form: s.cases.resume(case),
    "request_extension": _request_extension,
    "extend": _extend,
    "decline_extension": _decline_extension,
    "verify_commitment": _verify_commitment,
    "issue_result": _issue_result,
    "complete": _complete,
    "supply": _supply,
    "resubmit": _resubmit,
    "withdraw": _withdraw,
}

DONE = {
    "prereview": "预审完成",
    "accept": "已受理",
    "refuse": "已作出不予受理决定",
    "decide": "审查意见已记录",
    "suspend": "已挂起，计时暂停",
    "resume": "已恢复计时",
    "request_extension": "延期申请已提交",
    "extend": "已延期",
    "decline_extension": "已不予延期",
    "verify_commitment": "承诺核查结论已记录",
    "issue_result": "结果已制作",
    "complete": "已办结",
    "supply": "补交材料已接收",
    "resubmit": "补正材料已提交",
    "withdraw": "已撤回",
}


@router.post("/{ref}/do/{command}", name="case_command")
def case_command(
    request: Request,
    ref: str,
    command: str,
    me: Me,
    form: CheckedForm,
) -> Response:
    host = host_of(request)
    session = host.session(me)
    handler = COMMANDS.get(command)
    if handler is None:
        raise govsvc.NotFound(f"没有名为 {command} 的办件操作")
    case = session.cases.get(ref)
    shown = form.text("version")
    if shown != str(case.version):
        raise govsvc.ConcurrentUpdate(
            f"办件 {govsvc.TrackingCode.display(case.tracking_code)} 在您打开页面后已被更新"
            f"（您看到的是第 {shown or '?'} 版，现为第 {case.version} 版），"
            "请刷新页面核对后重新操作"
        )
    try:
        updated = handler(host, session, case, form)
    except FormInvalid as exc:
        values: dict[str, Any] = form.texts()
        return render_case(
            request, host, me, session, case,
            errors=exc.errors, values=values, open_form=command, status=422,
        )
    except govsvc.InvalidInput as exc:
        values = form.texts()
        return render_case(
            request, host, me, session, case,
            errors={"_": str(exc)}, values=values, open_form=command, status=422,
        )
    flash(request, DONE.get(command, "已完成"))
    if command in ("accept", "refuse") or (command == "prereview" and updated.notice):
        return redirect(f"/cases/{updated.tracking_code}", printed="1")
    return redirect(f"/cases/{updated.tracking_code}")
