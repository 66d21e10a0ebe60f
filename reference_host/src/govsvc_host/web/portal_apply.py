"""在线申请: a citizen or an organisation's agent applies online (一网通办).

The form is prefilled from the one-number profile (一数一源, ``session.parties.identify``):
each attribute shows the department it came from, and one whose source is authoritative
(公安 for a name, 市场监管 for an enterprise's) is read-only — posted back changed, it is
refused, and the case always gets the authoritative value. Materials are uploaded (size
and type checked by content, stored in the host's material store), or given as an
e-certificate the departments hold for the applicant, after the applicant consented to its
use (用证授权), or as a commitment (告知承诺) where the guide allows one. Every missing
material is listed at once, as one notice (一次性告知), before anything is sent.

The applicant may save a draft (草稿, a case in the SDK's ``draft`` state) and continue
later; an expired login keeps what was typed (the host's drafts across re-login,
:func:`govsvc_host.web.common.logged_in`). Each form carries a request id that is the SDK's
idempotency key: a double-posted form makes one case.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import attrs
from fastapi import APIRouter, Request
from starlette.responses import Response

import govsvc
from govsvc import Action, Case, CaseState, Principal, Resource, Session
from govsvc.ecert import load_certificate_types
from govsvc.vocabulary import VOCABULARY
from govsvc_host.context import Host
from govsvc_host.web.cases import FormInvalid, parse_lines, upload_material
from govsvc_host.web.common import CheckedForm, Form, Me, flash, host_of, redirect, take_draft

__all__ = ["PREFILL_PURPOSE", "CertificateOffer", "Prefilled", "own_key", "router"]

router = APIRouter(prefix="/portal")

PREFILL_PURPOSE = "在线申请预填"
CERTIFICATE_PURPOSE = "在线申请用证"
_SCALARS = (str, int, float)
_TYPES = load_certificate_types()


@attrs.frozen(kw_only=True)
class Prefilled:
    """One form line from the profile: its value, where it came from, whether it is locked."""

    name: str
    label: str
    value: str  # as shown (a coded value by its Chinese name: 男, not male)
    raw: Any  # as the department gave it (what the case's form records)
    source: str  # the department's name
    authoritative: bool


@attrs.frozen(kw_only=True)
class CertificateOffer:
    """A certificate a department holds for the applicant, offered for one material."""

    id: str  # what the form posts (the certificate number)
    material: str  # the material code it can stand for
    type_name: str
    number: str
    issuer: str
    valid_until: str
    library: bool = False  # offered by the SDK's certificate library (else a department)


def own_key(session: Session) -> govsvc.PartyKey:
    """Whom the portal applies for: the organisation an agent acts for, else the person.

    A principal without a party (staff) has no portal: the policy is asked for the
    landing (a refusal is recorded), and an allowed member of staff is told where to go.
    """
    me = session.principal
    key = me.acting_for or me.party
    if key is None:
        session.authorize(Action.CASE_LIST, Resource.platform())
        raise govsvc.InvalidInput(
            "网上申请须以申请人本人或单位经办人身份登录；窗口工作人员请在“一窗受理”代为申请"
        )
    return key


def prefill(profile: govsvc.Profile) -> list[Prefilled]:
    """The profile's plain attributes as form lines, known attributes first, by name."""
    lines = []
    for name, attr in profile.attributes.items():
        if not isinstance(attr.value, _SCALARS) or isinstance(attr.value, bool):
            continue  # lists and records (参保险种, 企业) are not form lines
        known = VOCABULARY.get(name)
        value = str(attr.value)
        if known is not None and known.values and value in known.values:
            value = str(known.values[value])
        lines.append(Prefilled(
            name=name, label=known.label if known else name, value=value, raw=attr.value,
            source=attr.source_name, authoritative=attr.authoritative,
        ))
    return sorted(lines, key=lambda p: (name_order(p.name), p.name))


def name_order(name: str) -> int:
    order = list(VOCABULARY)
    return order.index(name) if name in order else len(order)


def _library(session: Session) -> Any:
    """The SDK's certificate library (``session.certificates``) when this SDK has one with
    offers and consent (免提交), else None: the departments' records are offered instead."""
    library = getattr(session, "certificates", None)
    if callable(getattr(library, "offer", None)) and callable(getattr(library, "consent", None)):
        return library
    return None


def _valid_until(value: Any) -> str:
    return value.isoformat() if value is not None else "长期"


def offers(
    session: Session, key: govsvc.PartyKey, version: govsvc.ItemVersion
) -> dict[str, list[CertificateOffer]]:
    """Certificates held for ``key``, per material of ``version`` they can stand for.

    With the SDK's certificate library: its ``offer`` (the holder's valid e-certificates of
    the type each material names; the read recorded with its purpose). Without it (SEAM,
    SDK_REQUESTS.md §6): the certificates the departments report
    (``session.parties.certificates``, recorded likewise), matched to a material by the name
    of the certificate type the guide names.
    """
    library = _library(session)
    if library is not None:
        found: dict[str, list[CertificateOffer]] = {}
        for offer in library.offer(version.item_code, key, purpose=CERTIFICATE_PURPOSE):
            for issued in offer.certificates:
                cert = issued.certificate
                found.setdefault(offer.material, []).append(CertificateOffer(
                    id=str(cert.id), material=offer.material, type_name=cert.type_name,
                    number=cert.number, issuer=getattr(cert.issuer, "name", str(cert.issuer)),
                    valid_until=_valid_until(cert.valid_until), library=True,
                ))
        return found
    wanted = {m.code: m.ecert_type for m in version.materials if m.ecert_type}
    if not wanted:
        return {}
    names = {}
    for code, type_code in wanted.items():
        try:
            names[code] = _TYPES.get(type_code).name
        except (KeyError, govsvc.GovsvcError):
            continue
    held = session.parties.certificates(key, purpose=CERTIFICATE_PURPOSE)
    reported: dict[str, list[CertificateOffer]] = {}
    for record in held.records:
        if record.status != "valid":
            continue
        for code, type_name in names.items():
            if record.type_name == type_name:
                reported.setdefault(code, []).append(CertificateOffer(
                    id=record.number, material=code, type_name=record.type_name,
                    number=record.number, issuer=record.issuer,
                    valid_until=_valid_until(record.valid_until),
                ))
    return reported


def consented(
    session: Session, version: govsvc.ItemVersion, offer: CertificateOffer
) -> govsvc.ProvidedMaterial:
    """The material a consented certificate becomes: through the SDK library's ``consent``
    (the consent recorded there), else an ``ecert`` reference to the reported certificate."""
    library = _library(session)
    if offer.library and library is not None:
        material: govsvc.ProvidedMaterial = library.consent(
            offer.id, item_code=version.item_code, material=offer.material)
        return material
    spec = version.material(offer.material)
    return govsvc.ProvidedMaterial(
        code=offer.material, kind=govsvc.MaterialKind.ECERT,
        reference=f"{spec.ecert_type}:{offer.number}",
        filename=f"{offer.type_name}（{offer.number}，已授权调用）")


def _draft_case(session: Session, ref: str, item_code: str) -> Case | None:
    if not ref:
        return None
    case = session.cases.get(ref)
    if case.item_code != item_code:
        raise govsvc.InvalidInput(f"草稿 {ref} 不是本事项的申请，请从“我的办件”打开")
    return case


def _page(
    request: Request,
    me: Principal,
    item_code: str,
    *,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    notice: list[str] | None = None,
    status: int = 200,
    asked: tuple[govsvc.Profile, dict[str, list[CertificateOffer]]] | None = None,
) -> Response:
    """The form; ``asked`` is the profile and offers a POST already fetched (not asked
    of the departments twice)."""
    host = host_of(request)
    session = host.session(me, purpose=PREFILL_PURPOSE)
    key = own_key(session)
    version = host.platform.public().catalogue.version(item_code)
    restored = take_draft(request, f"/portal/apply/{item_code}")
    shown = {**restored, **(values or {})}
    draft = _draft_case(session, shown.get("draft") or request.query_params.get("draft", ""),
                        item_code)
    if draft is not None and draft.state is not CaseState.DRAFT:
        flash(request, "该申请已提交，无需重复提交")
        return redirect(f"/portal/cases/{draft.tracking_code}")
    profile, held = asked or (
        session.parties.identify(key, purpose=PREFILL_PURPOSE), offers(session, key, version))
    lines = prefill(profile)
    if draft is not None:
        shown.setdefault("other", "\n".join(
            f"{k}：{v}" for k, v in draft.form.items() if not any(p.name == k for p in lines)))
        for p in lines:
            if not p.authoritative and p.name in draft.form:
                shown.setdefault(f"p_{p.name}", str(draft.form[p.name]))
    return host.render(
        request,
        "portal/apply.html",
        status=status,
        principal=me,
        version=version,
        key=key,
        lines=lines,
        profile=profile,
        offers=held,
        draft=draft,
        given={m.code: m for m in draft.materials} if draft else {},
        errors=dict(errors or {}),
        notice=notice or [],
        values=shown,
        request_id=shown.get("request_id") or secrets.token_urlsafe(18),
        max_mb=host.settings.uploads.max_bytes / 1024 / 1024,
        allowed=host.settings.uploads.allowed,
    )


@router.get("/apply/{item_code}", name="portal_apply")
def apply_form(request: Request, item_code: str, me: Me) -> Response:
    return _page(request, me, item_code)


def _form_data(
    form: Form, lines: list[Prefilled], errors: dict[str, str]
) -> dict[str, Any]:
    """The case's form: profile lines (authoritative ones as the source says) + the rest."""
    data: dict[str, Any] = {}
    for p in lines:
        posted = form.text(f"p_{p.name}")
        if p.authoritative:
            if posted and posted != p.value:
                errors[f"p_{p.name}"] = (
                    f"“{p.label}”来自{p.source}（权威来源），不能在此修改；"
                    "如信息有误，请向该部门申请更正"
                )
            data[p.name] = p.raw
        elif posted:
            data[p.name] = posted
        elif f"p_{p.name}" not in form.data:  # a client that left the line out: as shared
            data[p.name] = p.raw
    try:
        for k, v in parse_lines(form.text("other"), "other").items():
            data.setdefault(k, v)
    except FormInvalid as exc:
        errors.update(exc.errors)
    return data


def _materials(
    host: Host,
    form: Form,
    version: govsvc.ItemVersion,
    held: dict[str, list[CertificateOffer]],
    draft: Case | None,
    errors: dict[str, str],
) -> tuple[list[govsvc.ProvidedMaterial], list[CertificateOffer]]:
    """Uploaded, kept and committed materials, and the certificates chosen with consent
    (turned into materials by :func:`consented` once the whole form is valid)."""
    kept = {m.code: m for m in draft.materials} if draft else {}
    out: list[govsvc.ProvidedMaterial] = []
    chosen_offers: list[CertificateOffer] = []
    for spec in version.materials:
        field = f"file_{spec.code}"
        try:
            uploaded = upload_material(host, form, field, spec.code, version)
        except FormInvalid as exc:
            errors.update(exc.errors)
            continue
        chosen = form.text(f"cert_{spec.code}")
        if uploaded is not None:
            out.append(uploaded)
        elif chosen:
            offer = next((o for o in held.get(spec.code, []) if o.id == chosen), None)
            if offer is None:
                errors[f"cert_{spec.code}"] = "所选电子证照不在您名下或已失效，请重新选择或上传材料"
            elif not form.checked(f"consent_{spec.code}"):
                errors[f"consent_{spec.code}"] = (
                    f"使用电子证照“{offer.type_name}”须勾选同意，授权本次申请调用"
                )
            else:
                chosen_offers.append(offer)
        elif form.checked(f"commit_{spec.code}") and spec.commitment_allowed:
            out.append(govsvc.ProvidedMaterial(
                code=spec.code, kind=govsvc.MaterialKind.COMMITMENT,
                reference="告知承诺书（网上签署）"))
        elif spec.code in kept:
            out.append(kept[spec.code])
    return out, chosen_offers


def _missing(version: govsvc.ItemVersion, materials: list[govsvc.ProvidedMaterial]) -> list[str]:
    """Every required material not given, as the lines of one notice (一次性告知)."""
    given = {m.code for m in materials}
    return [
        f"{m.code} {m.name}（{m.necessity.value}，格式：{'、'.join(m.formats) or '不限'}）"
        for m in version.materials
        if m.necessity is govsvc.Necessity.REQUIRED and m.code not in given
    ]


def _applicant(me: Principal, key: govsvc.PartyKey, data: Mapping[str, Any]) -> govsvc.Party:
    """The applicant as the case records it (an agent is recorded by the SDK itself)."""
    phone = str(data.get("phone", "")) or None
    address = str(data.get("address", "")) or None
    if me.acting_for is not None:
        return govsvc.Organisation(
            key=key, name=str(data.get("name") or data.get("enterprise_name") or me.name),
            legal_representative=str(data.get("legal_representative", "")) or None,
            phone=phone, address=address,
        )
    return govsvc.Person(key=key, name=str(data.get("name") or me.name), phone=phone,
                         address=address)


@router.post("/apply/{item_code}", name="portal_apply_post")
def apply(request: Request, item_code: str, me: Me, form: CheckedForm) -> Response:
    host = host_of(request)
    session = host.session(me, purpose=PREFILL_PURPOSE)
    key = own_key(session)
    values = form.texts()
    version = host.platform.public().catalogue.version(item_code)
    draft = _draft_case(session, form.text("draft"), item_code)
    if draft is not None and draft.state is not CaseState.DRAFT:
        flash(request, "该申请已提交，无需重复提交")  # the same form posted twice
        return redirect(f"/portal/cases/{draft.tracking_code}")
    errors: dict[str, str] = {}
    profile = session.parties.identify(key, purpose=PREFILL_PURPOSE)
    data = _form_data(form, prefill(profile), errors)
    held = offers(session, key, version)
    materials, chosen = _materials(host, form, version, held, draft, errors)
    submitting = form.text("action", "submit") != "draft"
    given = [*materials, *(govsvc.ProvidedMaterial(code=o.material, kind=govsvc.MaterialKind.ECERT)
                           for o in chosen)]
    notice = _missing(version, given) if submitting else []
    if errors or notice:
        return _page(request, me, item_code, errors=errors, values=values, notice=notice,
                     status=422, asked=(profile, held))
    request_id = form.text("request_id") or None
    try:
        materials += [consented(session, version, offer) for offer in chosen]
        applicant = _applicant(me, key, data)
        if draft is not None:
            case = session.cases.update_draft(draft, materials=materials, form=data)
            if submitting:
                case = session.cases.submit(case)
        else:
            start = session.cases.apply if submitting else session.cases.new_application
            case = start(
                item_code, applicant, materials=materials, form=data,
                channel=govsvc.Channel.PC,
                idempotency_key=f"{request_id}:{'submit' if submitting else 'draft'}"
                if request_id else None,
            )
    except govsvc.IdempotencyConflict as exc:
        return _page(request, me, item_code, values=values, status=409, errors={
            "_": f"此表单已提交过另一份申请（{exc}）。如需再次申请，请重新打开申请页面。"})
    except govsvc.InvalidInput as exc:
        return _page(request, me, item_code, errors={"_": str(exc)}, values=values, status=422)
    code = govsvc.TrackingCode.display(case.tracking_code)
    if submitting:
        flash(request, f"申请已提交，办件编码 {code}；受理结果将通过站内消息和短信通知您")
        return redirect(f"/portal/cases/{case.tracking_code}")
    flash(request, f"草稿已保存（{code}），可随时在“我的办件”中继续填写")
    return redirect(f"/portal/apply/{item_code}", draft=case.tracking_code)
