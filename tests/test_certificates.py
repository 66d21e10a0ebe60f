"""E-certificates on the platform (电子证照库): issued with an approved case's result, retried
durably when signing fails, managed by the issuer with events, listed in the holder's
library, reused as a material with consent, verified against the platform's keys and status
lists — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
import importlib.resources
import json
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from joserfc import jws as jose_jws
from joserfc.jwk import KeySet

import govsvc
from govsvc import CaseState, IssuedResult, MaterialKind, PermissionDenied, ReviewTicket
from govsvc.ecert import (
    EDDSA,
    CertificateId,
    CertificateStatus,
    EcertUrls,
    KeyRing,
    Reason,
    ReissueKind,
    StatusOutcome,
    canonical_json,
    issue_credential,
    offline_payload,
    online_payload,
)
from govsvc.testing import applicant_of, approver_of, clerk_for, reviewer_of
from tests.conftest import FakeClock
from tests.departments import HEALTH, HRSS, SAMR, ZHANG, FakeLegacy, plugin_for
from tests.test_departments import FAST, accepted_food_case

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")

MakePlatform = Callable[..., govsvc.Platform]
FOOD_TYPE = "11100000MB0143028R006"
RENEWAL_ITEM = "11230100013114525L3000176010004"  # a test item reusing the food licence
LI = "230102199001011230"


class LicensingLegacy(FakeLegacy):
    """The bureau's system, issuing food business licences with their printed face."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.numbers = 0

    def issue_result(self, ticket: ReviewTicket) -> IssuedResult:
        self.calls.append("issue_result")
        self.issued[ticket.task_id] += 1
        number = f"JY2230103{int(ticket.legacy_id[-5:]):07d}"
        return IssuedResult(
            name="食品经营许可证",
            number=number,
            data={
                "经营者名称": "张伟",
                "统一社会信用代码（身份证号码）": ZHANG,
                "法定代表人（负责人）": "张伟",
                "住所": "黑龙江省哈尔滨市南岗区学府路52号",
                "经营场所": "黑龙江省哈尔滨市南岗区红军街15号",
                "主体业态": "餐饮服务经营者（小型餐馆）",
                "经营项目": "热食类食品制售",
                "日常监督管理机构": "哈尔滨市南岗区市场监督管理局",
                "许可证编号": number,  # printed too; not a face field of the type
            },
        )


def departments() -> dict[str, FakeLegacy]:
    hrss = FakeLegacy(HRSS, {ZHANG: {"name": "张伟"}})
    return {SAMR: LicensingLegacy(SAMR), HEALTH: FakeLegacy(HEALTH), HRSS: hrss}


def renewal_item() -> list[tuple[govsvc.ServiceItem, list[govsvc.ItemVersion]]]:
    """A service item of the bureau whose material M02 is satisfied by a food licence."""
    text = (importlib.resources.files("govsvc") / "data" / "items" / "harbin.json").read_text(
        encoding="utf-8"
    )
    data = json.loads(text)
    [entry] = [e for e in data["items"] if e["item"]["name"] == "食品经营许可（新办）"]
    entry["item"].update(catalogue_code="000176010004", name="食品经营许可（延续）")
    version = entry["versions"][-1]
    version.update(item_code=RENEWAL_ITEM, version=1, name="食品经营许可（延续）")
    version["review_stages"] = [{"name": "审查", "departments": [SAMR]}]
    m02 = next(m for m in version["materials"] if m["code"] == "M02")
    m02.update(name="原食品经营许可证", ecert_type=FOOD_TYPE, shared_from=None)
    version["materials"] = [m for m in version["materials"] if m["code"] in ("M01", "M02")]
    data["items"] = [{"item": entry["item"], "versions": [version]}]
    return govsvc.import_json(json.dumps(data, ensure_ascii=False), source="renewal.json")


def open_platform(
    make_platform: MakePlatform, clock: FakeClock, **options: Any
) -> tuple[govsvc.Platform, dict[str, FakeLegacy]]:
    legacies = departments()
    p = make_platform(plugin_for(legacies), call_policy=FAST, **options)
    return p, legacies


def with_key(p: govsvc.Platform, clock: FakeClock) -> None:
    p.certificate_keys.generate(
        SAMR, EDDSA, key_id="samr-1", activated_at=clock() - dt.timedelta(days=1)
    )


def approved(p: govsvc.Platform, legacies: dict[str, FakeLegacy], clock: FakeClock) -> govsvc.Case:
    case = accepted_food_case(p)
    p.system().departments.deliver()
    for task in case.tasks:
        legacies[task.department].decide(task.id)
    clock.advance(minutes=1)
    assert p.system().departments.poll().decided == 2
    return p.system().cases.get(case.id)


def issued_case(
    p: govsvc.Platform, legacies: dict[str, FakeLegacy], clock: FakeClock
) -> tuple[govsvc.Case, govsvc.IssuedCertificate]:
    case = approved(p, legacies, clock)
    report = p.system().departments.fetch_results()
    assert report.issued == 1, report.errors
    case = p.system().cases.get(case.id)
    [certificate] = p.system().certificates.of_case(case)
    return case, certificate


def holder(p: govsvc.Platform) -> govsvc.Session:
    return p.session(applicant_of(govsvc.Person(key=govsvc.PartyKey.of(ZHANG), name="张伟")))


# --- issuance -----------------------------------------------------------------------------


def test_approval_issues_a_signed_certificate_in_the_result_transaction(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    p, legacies = open_platform(make_platform, clock)
    with_key(p, clock)
    seen: list[str] = []
    p.subscribe_certificates(lambda event, cert: seen.append(event.kind.value))
    case, issued = issued_case(p, legacies, clock)

    assert case.state is CaseState.RESULT_READY
    assert case.result is not None and case.result.ecert_id == str(issued.id)
    cert = issued.certificate
    assert cert.type_code == FOOD_TYPE and cert.number == case.result.number
    assert cert.holder == govsvc.PartyKey.of(ZHANG) and cert.case_id == case.id
    assert cert.face["premises"] == "黑龙江省哈尔滨市南岗区红军街15号"
    assert cert.valid_until == dt.date(2031, 3, 1)  # 5 years from the day of issue
    assert cert.status_index is not None and 0 <= cert.status_index < 131_072
    assert seen == ["issued"]
    [event] = p.system().certificates.trail(issued.id)
    assert event.actor.kind is govsvc.PrincipalKind.DEPARTMENT_SYSTEM and event.actor.agency == SAMR
    assert p.system().certificates.verify_trail(issued.id).ok

    result = holder(p).certificates.verify(issued.credential)
    assert result.valid, result.summary
    assert result.status is StatusOutcome.VALID
    # the QR payloads: online (the identifier, looked up) and offline (the whole credential)
    assert p.public().certificates.verify(issued.qr_payload).valid
    assert issued.qr_payload == online_payload(issued.id, EcertUrls("http://127.0.0.1:8000/ecert"))
    assert p.public().certificates.verify(issued.offline_payload, online=False).valid
    assert p.system().departments.fetch_results().issued == 0  # once
    assert p.system().certificates.pending() == []


def test_a_result_recorded_by_hand_issues_the_certificate_too(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    """Decided in the back office and recorded at the platform (no department system to
    fetch from): the same certificate, signed in the same transaction, by that person."""
    p, legacies = open_platform(make_platform, clock)
    with_key(p, clock)
    case = approved(p, legacies, clock)
    approver = p.session(approver_of(SAMR))
    printed = LicensingLegacy(SAMR).issue_result(
        ReviewTicket(task_id="t-by-hand", legacy_id="L00042", case_id=case.id)
    )
    result = govsvc.CaseResult(name=printed.name, number=printed.number, data=printed.data)

    case = approver.cases.issue_result(case, result)

    assert case.state is CaseState.RESULT_READY
    [issued] = p.system().certificates.of_case(case)
    assert case.result is not None and case.result.ecert_id == str(issued.id)
    [event] = p.system().certificates.trail(issued.id)
    assert event.actor.kind is govsvc.PrincipalKind.APPROVER and event.actor.agency == SAMR
    assert holder(p).certificates.verify(issued.credential).valid
    assert p.system().certificates.pending() == []


def test_a_result_by_hand_without_a_face_is_recorded_and_an_incomplete_face_refused(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    p, legacies = open_platform(make_platform, clock)
    with_key(p, clock)
    case = approved(p, legacies, clock)
    approver = p.session(approver_of(SAMR))
    half = govsvc.CaseResult(name="食品经营许可证", number="JY22301030000777",
                             data={"经营者名称": "张伟", "住所": "南岗区学府路52号"})

    with pytest.raises(govsvc.InvalidInput, match="legalRepresentative") as refused:
        approver.cases.issue_result(case, half)
    assert "法定代表人" in str(refused.value)
    assert p.system().cases.get(case.id).state is case.state  # nothing changed
    assert p.system().certificates.of_case(case) == []

    paper = govsvc.CaseResult(name="食品经营许可证", number="JY22301030000777")
    case = approver.cases.issue_result(case, paper)
    assert case.state is CaseState.RESULT_READY and case.result is not None
    assert case.result.ecert_id is None
    assert p.system().certificates.of_case(case) == []
    assert p.system().certificates.pending() == []  # nothing queued that could never succeed


def test_joserfc_verifies_an_issued_certificate_against_jwks(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    p, legacies = open_platform(make_platform, clock)
    with_key(p, clock)
    _, issued = issued_case(p, legacies, clock)
    key_set = KeySet.import_key_set(p.public().certificates.jwks())
    verified = jose_jws.deserialize_compact(issued.credential, key_set, algorithms=["EdDSA"])
    document = json.loads(verified.payload)
    assert document["ecert"]["identifier"] == str(issued.id)
    assert document["credentialSubject"]["holderCode"] == ZHANG
    status = document["credentialStatus"][0]["statusListCredential"]
    issuer, number, purpose = status.rsplit("/", 3)[1:]
    listed = p.public().certificates.status_list(issuer, int(number), purpose)
    assert jose_jws.deserialize_compact(listed, key_set, algorithms=["EdDSA"]).payload


def test_a_signer_failure_is_retried_durably_and_visible(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    p, legacies = open_platform(make_platform, clock)
    case = approved(p, legacies, clock)  # no key for the bureau yet
    assert p.system().departments.fetch_results().issued == 1
    case = p.system().cases.get(case.id)
    assert case.state is CaseState.RESULT_READY  # the result is never held back
    assert case.result is not None and case.result.ecert_id is not None
    [pending] = p.system().certificates.pending()
    assert pending.case_id == case.id and "no current signing key" in pending.last_error
    with pytest.raises(govsvc.CertificateNotFound):
        p.system().certificates.get(case.result.ecert_id)
    with pytest.raises(PermissionDenied):
        holder(p).certificates.pending()

    # a retired key signs nothing either
    ring = p.certificate_keys
    ring.generate(SAMR, EDDSA, key_id="old", activated_at=clock() - dt.timedelta(days=9))
    ring.retire("old", at=clock() - dt.timedelta(days=1))
    clock.advance(hours=1)
    report = p.system().certificates.issue_pending()
    assert (report.issued, report.retrying) == (0, 1)
    [pending] = p.system().certificates.pending()
    assert pending.attempts == 2 and "no current signing key" in pending.last_error

    ring.generate(SAMR, EDDSA, key_id="new", activated_at=clock() - dt.timedelta(minutes=1))
    clock.advance(hours=2)
    assert p.system().certificates.issue_pending().issued == 1
    assert p.system().certificates.pending() == []
    issued = p.system().certificates.get(case.result.ecert_id)
    assert issued.key_id == "new"
    assert p.public().certificates.verify(issued.credential).valid


# --- lifecycle ------------------------------------------------------------------------------


def test_lifecycle_commands_events_and_status_lists(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    p, legacies = open_platform(make_platform, clock)
    with_key(p, clock)
    _, issued = issued_case(p, legacies, clock)
    bureau = p.session(approver_of(SAMR))
    public = p.public().certificates
    seen: list[str] = []
    p.subscribe_certificates(lambda event, cert: seen.append(event.kind.value))

    clock.advance(hours=1)
    bureau.certificates.suspend(issued.id, reason="责令停产停业整顿")
    result = public.verify(issued.credential)
    assert not result.valid and result.status is StatusOutcome.SUSPENDED
    bureau.certificates.resume(issued.id, note="整改完成")
    assert public.verify(issued.credential).valid

    clock.advance(hours=1)
    second = bureau.certificates.reissue(issued.id, ReissueKind.REPLACEMENT, reason="遗失补发")
    assert second.id.version_number == 2 and second.certificate.predecessor == issued.id
    assert second.certificate.number == issued.certificate.number
    old = public.verify(issued.credential)
    assert not old.valid and old.status is StatusOutcome.REVOKED  # superseded
    assert public.verify(second.credential).valid
    assert p.system().certificates.get(issued.id).certificate.status is CertificateStatus.CANCELLED

    bureau.certificates.revoke(second.id, reason="以欺骗手段取得许可")
    revoked = public.verify(second.qr_payload)
    assert not revoked.valid and revoked.reason.reason is Reason.REVOKED
    assert seen == ["suspended", "resumed", "superseded", "issued", "revoked"]

    kinds = [e.kind.value for e in p.system().certificates.trail(issued.id)]
    assert kinds == ["issued", "suspended", "resumed", "superseded"]
    actor = p.system().certificates.trail(issued.id)[1].actor
    assert actor.kind is govsvc.PrincipalKind.APPROVER and actor.agency == SAMR
    assert p.system().certificates.verify_trail(second.id).ok
    with pytest.raises(govsvc.InvalidTransition):
        bureau.certificates.resume(second.id)
    with pytest.raises(govsvc.InvalidInput, match="reason"):
        bureau.certificates.suspend(second.id, reason=" ")


def test_expiry_sweep_reminds_then_expires(make_platform: MakePlatform, clock: FakeClock) -> None:
    p, legacies = open_platform(make_platform, clock)
    with_key(p, clock)
    _, issued = issued_case(p, legacies, clock)
    reminders: list[tuple[str, Any]] = []
    p.subscribe_certificates(
        lambda event, cert: reminders.append((event.kind.value, event.data.get("days_left")))
    )
    work = p.system().certificates
    assert work.sweep_expiry(on=dt.date(2031, 1, 1)) == govsvc.ExpirySweep(
        on=dt.date(2031, 1, 1), expired=(), reminded=()
    )
    swept = work.sweep_expiry(on=dt.date(2031, 2, 10))
    assert swept.reminded == (str(issued.id),) and reminders == [("reminded", 19)]
    assert work.sweep_expiry(on=dt.date(2031, 2, 11)).reminded == ()  # once per end date
    assert work.sweep_expiry(on=dt.date(2031, 3, 2)).expired == (str(issued.id),)
    assert work.get(issued.id).certificate.status is CertificateStatus.EXPIRED
    with pytest.raises(PermissionDenied):
        holder(p).certificates.sweep_expiry()


# --- policy -----------------------------------------------------------------------------


def test_who_may_read_manage_and_share(make_platform: MakePlatform, clock: FakeClock) -> None:
    p, legacies = open_platform(make_platform, clock)
    with_key(p, clock)
    _, issued = issued_case(p, legacies, clock)
    cid = issued.id
    li = p.session(applicant_of(govsvc.Person(key=govsvc.PartyKey.of(LI), name="李娜")))
    for session in (
        p.session(reviewer_of(SAMR)),  # reviewers do not manage certificates
        p.session(approver_of(HEALTH)),  # another department's approver
        holder(p),  # the holder cannot revoke their own licence
        li,
    ):
        with pytest.raises(PermissionDenied):
            session.certificates.revoke(cid, reason="测试")
    with pytest.raises(PermissionDenied, match="purpose"):
        p.session(clerk_for(SAMR)).certificates.get(cid)
    with pytest.raises(PermissionDenied):
        li.certificates.get(cid)
    with pytest.raises(PermissionDenied):
        li.certificates.share(cid, purpose="贷款", expires=clock() + dt.timedelta(days=3))
    assert holder(p).certificates.get(cid).id == cid
    p.session(clerk_for(SAMR), purpose="窗口受理").certificates.get(cid)
    log = p.session(govsvc.testing.supervisor_of("230100")).supervision.access_log(limit=20)
    assert any(r.action == "certificates.read" and r.purpose == "窗口受理" for r in log)
    assert p.system().certificates.get(cid).certificate.status is CertificateStatus.VALID

    copy = holder(p).certificates.share(
        cid, purpose="银行贷款审查", expires=clock() + dt.timedelta(days=7), recipient="某银行"
    )
    checked = p.public().certificates.verify(copy)
    assert checked.valid and checked.shared_copy is not None
    assert checked.shared_copy.purpose == "银行贷款审查"
    clock.advance(days=8)
    assert not p.public().certificates.verify(copy).valid


# --- the holder's library -------------------------------------------------------------------


def test_library_joins_issued_and_department_certificates(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    p, legacies = open_platform(make_platform, clock)
    with_key(p, clock)
    _, issued = issued_case(p, legacies, clock)
    with pytest.raises(govsvc.InvalidInput, match="purpose"):
        holder(p).certificates.library(ZHANG)
    library = holder(p).certificates.library(ZHANG, purpose="查看我的证照")
    assert [c.id for c in library.issued] == [issued.id]
    assert {r.type_name for r in library.reported} == {"社会保障卡"}
    assert library.unavailable == {}
    uses = holder(p).parties.data_use(ZHANG)
    assert any(u.source == "exchange" and u.purpose == "查看我的证照" for u in uses)
    clerk = p.session(clerk_for(SAMR), purpose="受理核验")
    assert len(clerk.certificates.library(ZHANG).issued) == 1
    assert any(
        u.source == "access" and u.purpose == "受理核验" for u in holder(p).parties.data_use(ZHANG)
    )


# --- reuse with consent (免提交) --------------------------------------------------------------


def test_a_certificate_is_reused_as_a_material_with_consent(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    p, legacies = open_platform(make_platform, clock)
    p.system().catalogue.import_items(renewal_item())
    with_key(p, clock)
    _, issued = issued_case(p, legacies, clock)
    me = holder(p)
    [offer] = me.certificates.offer(RENEWAL_ITEM, ZHANG)
    assert offer.material == "M02" and [c.id for c in offer.certificates] == [issued.id]

    person = govsvc.Person(key=govsvc.PartyKey.of(ZHANG), name="张伟")
    draft = me.cases.new_application(
        RENEWAL_ITEM, person, materials=[govsvc.ProvidedMaterial(code="M01", filename="申请书.pdf")]
    )
    with pytest.raises(govsvc.InvalidInput, match="satisfied by"):
        me.certificates.attach(draft, issued.id, material="M01")
    draft = me.certificates.attach(draft, issued.id, material="M02")
    [m02] = [m for m in draft.materials if m.code == "M02"]
    assert m02.kind is MaterialKind.ECERT and m02.reference == str(issued.id)
    case = me.cases.submit(draft)

    clerk = p.session(clerk_for(SAMR), purpose="受理审查")
    [attached] = clerk.certificates.attached(case)
    assert attached.usable and attached.trust_level == "A"
    assert attached.consent is not None and attached.consent.actor.id == str(person.key)
    assert attached.verification.valid

    # consent before applying, for a channel that builds the application itself
    material = me.certificates.consent(issued.id, item_code=RENEWAL_ITEM, material="M02")
    assert material.kind is MaterialKind.ECERT

    p.session(approver_of(SAMR)).certificates.revoke(issued.id, reason="吊销许可")
    [attached] = clerk.certificates.attached(case)
    assert not attached.usable and attached.verification.status is StatusOutcome.REVOKED
    assert me.certificates.offer(RENEWAL_ITEM, ZHANG)[0].certificates == ()
    with pytest.raises(govsvc.InvalidInput, match="valid certificate"):
        me.certificates.consent(issued.id, item_code=RENEWAL_ITEM, material="M02")
    other = p.session(applicant_of(govsvc.Person(key=govsvc.PartyKey.of(LI), name="李娜")))
    with pytest.raises(PermissionDenied):
        other.certificates.consent(issued.id, item_code=RENEWAL_ITEM, material="M02")


# --- bad input, through the service -------------------------------------------------------------


def _tampered(jws: str, where: str) -> str:
    header, payload, signature = jws.split(".")
    if where == "payload":
        doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        doc["credentialSubject"]["premises"] = "别处"
        payload = base64.urlsafe_b64encode(canonical_json(doc)).rstrip(b"=").decode()
    else:
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[0] ^= 1
        signature = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def test_every_bad_input_gives_a_precise_reason_never_valid(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    ring = KeyRing(clock=clock)
    p, legacies = open_platform(make_platform, clock, keys=ring)
    ring.generate(SAMR, EDDSA, key_id="samr-1", activated_at=clock() - dt.timedelta(days=1))
    _, issued = issued_case(p, legacies, clock)
    verify = p.public().certificates.verify
    cert = issued.certificate

    def reason(document: str, **options: Any) -> Reason:
        result = verify(document, **options)
        assert not result.valid
        return result.reason.reason

    assert reason(_tampered(issued.credential, "payload")) is Reason.SIGNATURE_INVALID
    assert reason(_tampered(issued.credential, "signature")) is Reason.SIGNATURE_INVALID
    assert reason("not.a.jws!") is Reason.MALFORMED_JWS
    assert reason("HTTPS://OTHER.EXAMPLE/QR/123") is Reason.NOT_RECOGNISED  # another system
    assert reason("EC1:%%%") is Reason.MALFORMED_QR

    # unknown key id, unknown issuer: signed by keys the platform does not hold
    stranger = KeyRing(clock=clock)
    stranger.generate(SAMR, EDDSA, key_id="stolen", activated_at=clock() - dt.timedelta(days=1))
    forged = issue_credential(cert, stranger.signer_for(SAMR), p._runtime.ecert.urls, at=clock())
    assert reason(forged) is Reason.KEY_UNKNOWN
    health = KeyRing(clock=clock)
    health.generate(HEALTH, EDDSA, activated_at=clock() - dt.timedelta(days=1))
    theirs = attrs.evolve(
        cert,
        id=CertificateId.new(cert.type_code, HEALTH, "X1"),
        issuer=govsvc.Agency(name="卫健委", credit_code=HEALTH),
    )
    unknown = issue_credential(theirs, health.signer_for(HEALTH), p._runtime.ecert.urls, at=clock())
    assert reason(unknown) is Reason.ISSUER_UNKNOWN

    # a status list that cannot be fetched (not this platform's URL)
    elsewhere = issue_credential(
        cert, ring.signer_for(SAMR), EcertUrls("https://x.example/e"), at=clock()
    )
    assert reason(elsewhere) is Reason.STATUS_UNAVAILABLE

    # a retired key: what it signed before stays valid, what it signs after is refused
    clock.advance(minutes=1)
    ring.generate(SAMR, EDDSA, key_id="samr-2")  # rotation retires samr-1 now
    assert verify(issued.credential).valid
    clock.advance(minutes=5)
    late = issue_credential(cert, _LateSigner(ring, "samr-1"), p._runtime.ecert.urls, at=clock())
    assert reason(late) is Reason.KEY_RETIRED

    # expired, suspended, revoked
    bureau = p.session(approver_of(SAMR)).certificates
    bureau.suspend(cert.id, reason="暂扣")
    assert reason(issued.credential) is Reason.SUSPENDED
    bureau.revoke(cert.id, reason="吊销")
    assert reason(issued.credential) is Reason.REVOKED
    clock.set_local_date(dt.date(2031, 3, 5))
    assert reason(issued.credential) is Reason.EXPIRED
    # an identifier the platform never issued
    assert reason(online_payload(cert.id.next_version(), p._runtime.ecert.urls)) is Reason.NOT_FOUND
    assert offline_payload(issued.credential).startswith("EC1:")


class _LateSigner:
    """A thief's signer: the retired key's private part used after its retirement."""

    algorithm = EDDSA

    def __init__(self, ring: KeyRing, key_id: str) -> None:
        self._signer = ring._entries[key_id].signer
        self.key_id = key_id

    def sign(self, data: bytes) -> bytes:
        assert self._signer is not None
        return self._signer.sign(data)

    def public_jwk(self) -> dict[str, str]:
        assert self._signer is not None
        return self._signer.public_jwk()


def test_keys_from_a_configuration_file(tmp_path: Any, clock: FakeClock) -> None:
    from govsvc.ecert import load_key_config, write_demo_keys

    config = write_demo_keys(tmp_path / "keys", [SAMR, HEALTH], algorithms={HEALTH: "SM2SM3"})
    ring = load_key_config(config, clock=clock)
    assert ring.signer_for(SAMR).algorithm == EDDSA
    assert ring.signer_for(HEALTH).algorithm == "SM2SM3"
    assert (tmp_path / "keys" / f"{SAMR}-1.pem").stat().st_mode & 0o077 == 0
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"format": "govsvc.ecert-keys/1", "issuers": {SAMR: [{"pem": "x.pem"}]}})
    )
    with pytest.raises(govsvc.InvalidInput, match="cannot read the private key file"):
        load_key_config(bad)


def test_hook_govsvc_signers(make_platform: MakePlatform, clock: FakeClock) -> None:
    from govsvc.ecert import Ed25519Signer

    class Signers:
        @govsvc.hookimpl
        def govsvc_signers(self) -> list[govsvc.DepartmentSigner]:
            return [
                govsvc.DepartmentSigner(
                    issuer=SAMR,
                    signer=Ed25519Signer.generate("hsm-1"),
                    activated_at=clock() - dt.timedelta(days=1),
                )
            ]

    legacies = departments()
    p = make_platform(plugin_for(legacies), Signers(), call_policy=FAST)
    _, issued = issued_case(p, legacies, clock)
    assert issued.key_id == "hsm-1"
    assert [k["kid"] for k in p.public().certificates.jwks(SAMR)["keys"]] == ["hsm-1"]


def test_hook_govsvc_certificate_face(make_platform: MakePlatform, clock: FakeClock) -> None:
    class OddWording(LicensingLegacy):
        def issue_result(self, ticket: ReviewTicket) -> IssuedResult:
            plain = super().issue_result(ticket)
            return IssuedResult(
                name=plain.name, number=plain.number, data={"all": dict(plain.data)}
            )

    class Faces:
        @govsvc.hookimpl
        def govsvc_certificate_face(
            self, certificate_type: Any, result: IssuedResult, case: govsvc.Case
        ) -> dict[str, Any] | None:
            if certificate_type.code != FOOD_TYPE:
                return None
            printed = result.data["all"]
            return {f.key: printed[f.label] for f in certificate_type.fields}

    legacies = departments()
    legacies[SAMR] = OddWording(SAMR)
    p = make_platform(plugin_for(legacies), Faces(), call_policy=FAST)
    with_key(p, clock)
    _, issued = issued_case(p, legacies, clock)
    assert issued.certificate.face["supervisor"] == "哈尔滨市南岗区市场监督管理局"


def test_hook_govsvc_certificate_event(make_platform: MakePlatform, clock: FakeClock) -> None:
    heard: list[tuple[str, str]] = []

    class Sms:
        @govsvc.hookimpl
        def govsvc_certificate_event(self, event: Any, certificate: Any) -> None:
            heard.append((event.kind.value, certificate.number))

    class Broken:
        @govsvc.hookimpl
        def govsvc_certificate_event(self, event: Any, certificate: Any) -> None:
            raise RuntimeError("the SMS gateway is down")

    legacies = departments()
    p = make_platform(plugin_for(legacies), Sms(), Broken(), call_policy=FAST)
    with_key(p, clock)
    _, issued = issued_case(p, legacies, clock)
    p.session(approver_of(SAMR)).certificates.suspend(issued.id, reason="暂扣")
    assert heard == [
        ("issued", issued.certificate.number),
        ("suspended", issued.certificate.number),
    ]


# --- the reference departments' results become certificates ---------------------------------


@pytest.mark.parametrize(
    ("plugin", "type_code", "result"),
    [
        (
            "govsvc_hrss",
            "1110000071783888XL001",
            IssuedResult(
                name="社会保障卡",
                number="A12345678",
                data={
                    "social_security_number": ZHANG,
                    "holder_name": "张伟",
                    "bank": "中国工商银行哈尔滨分行",
                    "issued_on": "2026-03-02",
                    "status": "valid",
                },
            ),
        ),
        (
            "govsvc_psb",
            "111000000000193186002",
            IssuedResult(
                name="居民户口簿（户口迁移）",
                number="HK2026000123",
                data={
                    "registration_type": "户口迁移",
                    "id_number": ZHANG,
                    "name": "张伟",
                    "sex": "男",
                    "birth_date": "1985-03-12",
                    "ethnicity": "汉族",
                    "address": "黑龙江省哈尔滨市南岗区学府路52号",
                    "household_number": "230103001234",
                    "relation_to_head": "户主",
                    "registered_on": "2026-03-02",
                },
            ),
        ),
        (
            "govsvc_health",
            "11100000MB1613028M001",
            IssuedResult(
                name="出生医学证明",
                number="P230012345",
                data={
                    "新生儿姓名": "张小宝",
                    "性别": "男",
                    "出生时间": "2024年01月05日08时26分",
                    "出生孕周": "39周",
                    "出生体重": "3250克",
                    "出生身长": "50厘米",
                    "出生地点": "黑龙江省哈尔滨市南岗区",
                    "医疗机构名称": "哈尔滨医科大学附属第一医院",
                    "母亲姓名": "李娜",
                    "母亲有效身份证件号码": LI,
                    "父亲姓名": "",
                    "父亲有效身份证件号码": "",
                    "出生证编号": "P230012345",
                },
            ),
        ),
    ],
)
def test_reference_results_have_faces_their_type_accepts(
    plugin: str, type_code: str, result: IssuedResult
) -> None:
    module = pytest.importorskip(f"{plugin}.plugin", reason="the reference plugins come with make")
    from govsvc.ecert import load_certificate_types

    certificate_type = load_certificate_types().get(type_code)
    face = module.govsvc_certificate_face(
        certificate_type=certificate_type, result=result, case=None
    )
    checked = certificate_type.check_face(face)  # StructureError names any gap
    assert set(checked) >= {f.key for f in certificate_type.fields if f.required}
    other = load_certificate_types().get(FOOD_TYPE)
    assert module.govsvc_certificate_face(certificate_type=other, result=result, case=None) is None


def test_the_food_licence_face_is_found_by_its_printed_labels() -> None:
    from govsvc.ecert import load_certificate_types
    from govsvc.services._ecert import generic_face

    printed = LicensingLegacy(SAMR).issue_result(
        ReviewTicket(task_id="t", legacy_id="L00001", case_id="c")
    )
    food = load_certificate_types().get(FOOD_TYPE)
    assert food.check_face(generic_face(food, printed.data))["premises"].endswith("红军街15号")


def test_an_altered_certificate_event_is_found(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    import sqlalchemy as sa

    from govsvc.store.tables import certificate_events_t

    p, legacies = open_platform(make_platform, clock)
    with_key(p, clock)
    _, issued = issued_case(p, legacies, clock)
    p.session(approver_of(SAMR)).certificates.suspend(issued.id, reason="暂扣")
    assert p.system().certificates.verify_trail(issued.id).ok
    with p.engine.begin() as conn:  # someone with database access rewrites the reason
        conn.execute(
            sa.update(certificate_events_t)
            .where(certificate_events_t.c.seq == 2)
            .values(data={"reason": "无"})
        )
    report = p.system().certificates.verify_trail(issued.id)
    assert not report.ok and report.first_bad == 2
