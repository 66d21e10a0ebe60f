"""The citizen portal (一网通办) through the ASGI app: apply, drafts, notices, my cases.

The platform has one department besides the catalogue's agencies: a fake 公安 register that
answers the one-number profile (authoritative for name, sex and birth date) and holds the
applicants' certificates, so prefill, sources and certificate reuse are the SDK's real ones.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import itsdangerous
import pytest
from govsvc_host.auth import SESSION_KEY
from govsvc_host.context import SEEN_KEY
from govsvc_host.idp import load_directory

import govsvc

SHOP = "11230102MB1C3376104000175001001"  # 个体工商户设立登记: M02 居民身份证, M03 承诺
FOOD = "11230100013114525L3000176010001"  # 食品经营许可: M02 营业执照
PERSON = "230103198503120316"  # 张伟
ORG = "91230103MA1BX4K238"  # 哈尔滨市冰城饺子馆有限公司
PSB = "11230100003108738D"
CSRF = "csrf-token-for-tests-0001"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


class FakeRegister:
    """公安's population register, as far as the portal needs it."""

    calls: list[str]

    def __init__(self) -> None:
        self.calls = []

    def profile(self, key: govsvc.PartyKey) -> dict[str, Any] | None:
        self.calls.append(f"profile {key.number}")
        if key.number == PERSON:
            return {"name": "张伟", "sex": "male", "birth_date": "1985-03-12",
                    "address": "哈尔滨市南岗区学府路52号", "phone": "13904510316"}
        if key.number == ORG:
            return {"name": "哈尔滨市冰城饺子馆有限公司", "legal_representative": "张伟"}
        return None

    def certificates(self, key: govsvc.PartyKey) -> list[govsvc.CertificateRecord]:
        if key.number == PERSON:
            return [govsvc.CertificateRecord(
                type_name="居民身份证", number="230103198503120316", holder_name="张伟",
                holder_number=PERSON, issuer="哈尔滨市公安局南岗分局")]
        if key.number == ORG:
            return [govsvc.CertificateRecord(
                type_name="营业执照", number="91230103MA1BX4K238",
                holder_name="哈尔滨市冰城饺子馆有限公司", holder_number=ORG,
                issuer="哈尔滨市南岗区市场监督管理局")]
        return []


class RegisterPlugin:
    def __init__(self) -> None:
        self.register = FakeRegister()

    @govsvc.hookimpl
    def govsvc_departments(self) -> list[govsvc.Department]:
        return [govsvc.Department(code=PSB, name="哈尔滨市公安局", adapter=self.register,
                                  authoritative_for=("name", "sex", "birth_date"))]


@pytest.fixture
def host_plugins() -> list[Any]:
    return [RegisterPlugin()]


def _post_apply(client: Any, item: str = SHOP, *, files: dict[str, Any] | None = None,
                **fields: str) -> Any:
    data = {"csrf_token": CSRF, "p_name": "张伟", "request_id": "req-1", "action": "submit",
            **fields}
    return client.post(f"/portal/apply/{item}", data=data, files=files or {"x": ("", b"")})


def _complete_shop(client: Any, **fields: str) -> Any:
    return _post_apply(
        client, files={"file_M01": ("申请书.pdf", PDF, "application/pdf")},
        cert_M02=PERSON, consent_M02="on", commit_M03="on", **fields)


def _mine(host: Any, username: str = "zhangwei") -> list[Any]:
    return list(host.session(username).cases.mine(limit=100))


def test_the_guide_and_home_lead_to_the_portal(host: Any) -> None:
    guide = host.client().get(f"/items/{SHOP}")
    assert f'href="/portal/apply/{SHOP}">在线申请' in guide.text and "需先登录" in guide.text
    anonymous = host.client().get(f"/portal/apply/{SHOP}")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"/login?next=/portal/apply/{SHOP}"
    home = host.client("zhangwei").get("/")
    for link in ("/portal", "/portal/messages", "/portal/data-use"):
        assert f'href="{link}"' in home.text


def test_apply_form_is_prefilled_with_sources_and_locks_authoritative_fields(host: Any) -> None:
    page = host.client("zhangwei").get(f"/portal/apply/{SHOP}")
    assert page.status_code == 200, page.text
    name = re.search(r'<input id="f-p_name" name="p_name" value="张伟" readonly', page.text)
    assert name, "the authoritative name is shown read-only"
    address = re.search(r'<input id="f-p_address" name="p_address" value="([^"]+)" maxlength',
                        page.text)
    assert address and address.group(1) == "哈尔滨市南岗区学府路52号"  # editable
    assert "哈尔滨市公安局" in page.text and "权威来源，不可修改" in page.text
    assert "性别" in page.text and "男" in page.text  # vocabulary labels and values
    # The held ID card is offered for M02, with a consent box.
    assert 'name="cert_M02" value="230103198503120316"' in page.text
    assert "我同意本次申请调用该电子证照" in page.text


def test_online_application_with_prefill_certificate_and_commitment(host: Any) -> None:
    client = host.client("zhangwei")
    response = _complete_shop(client, p_address="哈尔滨市道里区中央大街1号",
                              other="经营场所：道里区中央大街1号")
    assert response.status_code == 303, response.text
    code = response.headers["location"].rsplit("/", 1)[-1]
    case = host.session("zhangwei").cases.get(code)
    assert case.state is govsvc.CaseState.SUBMITTED and case.channel == "2"
    assert case.form["name"] == "张伟" and case.form["address"] == "哈尔滨市道里区中央大街1号"
    assert case.form["经营场所"] == "道里区中央大街1号" and case.form["birth_date"] == "1985-03-12"
    assert case.form["sex"] == "male"  # recorded as the source gave it, shown as 男
    kinds = {m.code: m.kind for m in case.materials}
    assert kinds == {"M01": govsvc.MaterialKind.UPLOAD, "M02": govsvc.MaterialKind.ECERT,
                     "M03": govsvc.MaterialKind.COMMITMENT}
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and "申请已提交" in page.text and "办理过程" in page.text


def test_a_tampered_authoritative_field_is_refused_and_nothing_is_created(
    host: Any, host_plugins: list[Any]
) -> None:
    register = host_plugins[0].register
    response = _complete_shop(host.client("zhangwei"), p_name="李四", p_sex="女")
    assert register.calls == [f"profile {PERSON}"]  # asked once, for the check and the page
    assert response.status_code == 422
    assert "“姓名（名称）”来自哈尔滨市公安局（权威来源），不能在此修改" in response.text
    assert "“性别”来自哈尔滨市公安局" in response.text
    assert _mine(host) == []


def test_uploads_are_checked_for_size_and_content(host: Any) -> None:
    client = host.client("zhangwei")
    big = _post_apply(client, files={"file_M01": ("a.pdf", PDF + b"0" * 70 * 1024, "application/pdf")})
    assert big.status_code == 422 and "文件超过大小上限 64 KB" in big.text
    fake = _post_apply(client, files={"file_M01": ("a.pdf", b"MZ\x90\x00 exe", "application/pdf")})
    assert fake.status_code == 422 and "本材料只接受：pdf、jpg、png" in fake.text
    assert _mine(host) == []


def test_missing_materials_come_back_as_one_notice(host: Any) -> None:
    response = _post_apply(host.client("zhangwei"))
    assert response.status_code == 422
    notice = re.search(r'<section class="card notice".*?</section>', response.text, re.S)
    assert notice, "one notice section"
    for code in ("M01", "M02", "M03"):
        assert code in notice.group(0)
    assert "M04" not in notice.group(0)  # optional
    assert _mine(host) == []


def test_a_certificate_is_used_only_with_consent(host: Any) -> None:
    client = host.client("zhangwei")
    response = _post_apply(client, files={"file_M01": ("a.pdf", PDF, "application/pdf")},
                           cert_M02=PERSON, commit_M03="on")
    assert response.status_code == 422 and "须勾选同意" in response.text
    foreign = _post_apply(client, files={"file_M01": ("a.pdf", PDF, "application/pdf")},
                          cert_M02="230104199208090266", consent_M02="on", commit_M03="on")
    assert foreign.status_code == 422 and "不在您名下" in foreign.text
    assert _mine(host) == []


def test_an_agent_applies_for_the_organisation_reusing_its_licence(host: Any) -> None:
    client = host.client("zhangwei.bingcheng")
    page = client.get(f"/portal/apply/{FOOD}")
    assert page.status_code == 200 and 'name="cert_M02" value="91230103MA1BX4K238"' in page.text
    response = _post_apply(client, FOOD, p_name="哈尔滨市冰城饺子馆有限公司",
                           cert_M02=ORG, consent_M02="on", action="draft")
    assert response.status_code == 303, response.text
    code = re.search(r"draft=([A-Z0-9]+)", response.headers["location"])
    assert code
    case = host.session("zhangwei.bingcheng").cases.get(code.group(1))
    assert case.applicant.number == ORG and case.agent and case.agent.key.number == PERSON
    assert case.state is govsvc.CaseState.DRAFT
    assert next(m for m in case.materials if m.code == "M02").reference.endswith(ORG)


def test_double_submit_makes_one_case(host: Any) -> None:
    client = host.client("zhangwei")
    first = _complete_shop(client)
    second = _complete_shop(client)  # the same form (same request id) posted again
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(_mine(host)) == 1


def test_a_draft_is_saved_and_continued_later(host: Any) -> None:
    client = host.client("zhangwei")
    saved = _post_apply(client, files={"file_M01": ("申请书.pdf", PDF, "application/pdf")},
                        p_address="哈尔滨市道里区友谊路1号", action="draft")
    assert saved.status_code == 303
    page = client.get(saved.headers["location"])
    assert "正在继续填写草稿" in page.text and "已提供：申请书.pdf" in page.text
    assert 'value="哈尔滨市道里区友谊路1号"' in page.text
    draft = re.search(r'name="draft" value="([^"]+)"', page.text)
    assert draft
    listed = client.get("/portal")
    assert "继续填写" in listed.text and "草稿" in listed.text
    done = _post_apply(client, draft=draft.group(1), cert_M02=PERSON, consent_M02="on",
                       commit_M03="on", p_address="哈尔滨市道里区友谊路1号", request_id="req-2")
    assert done.status_code == 303 and done.headers["location"].startswith("/portal/cases/")
    cases = _mine(host)
    assert len(cases) == 1 and cases[0].state is govsvc.CaseState.SUBMITTED
    case = host.session("zhangwei").cases.get(cases[0].tracking_code)
    assert {m.code for m in case.materials} == {"M01", "M02", "M03"}  # the draft's M01 kept
    again = _post_apply(client, draft=draft.group(1), request_id="req-2")
    assert again.status_code == 303 and "已提交" in client.get(again.headers["location"]).text


def _read_cookie(client: Any) -> dict[str, Any]:
    signer = itsdangerous.TimestampSigner("host-test-secret-0123456789")
    data: dict[str, Any] = json.loads(base64.b64decode(
        signer.unsign(client.cookies.get("govsvc_host"), max_age=None)))
    return data


def _write_cookie(client: Any, data: dict[str, Any]) -> None:
    signer = itsdangerous.TimestampSigner("host-test-secret-0123456789")
    client.cookies.set("govsvc_host", signer.sign(base64.b64encode(
        json.dumps(data).encode())).decode(), domain="127.0.0.1")


def test_what_was_typed_survives_an_expired_login(host: Any) -> None:
    client = host.client("zhangwei")
    page = f"/portal/apply/{SHOP}"
    host.seconds.now += 31 * 60
    response = client.post(page, data={
        "csrf_token": CSRF, "p_address": "哈尔滨市香坊区和平路8号", "other": "经营场所：香坊区",
        "request_id": "req-x", "action": "submit"}, headers={"referer": f"http://127.0.0.1:8000{page}"})
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/login?next={page}")
    assert _mine(host) == []
    session = _read_cookie(client)
    user = load_directory().user("zhangwei")
    assert user is not None
    session[SESSION_KEY] = {"claims": {**user.claims_for("openid profile phone govsvc"),
                                       "acr": user.acr}, "id_token": "", "provider": "x"}
    session[SEEN_KEY] = host.seconds.now
    _write_cookie(client, session)
    again = client.get(page)
    assert again.status_code == 200
    assert 'value="哈尔滨市香坊区和平路8号"' in again.text and "经营场所：香坊区" in again.text
    assert 'name="request_id" value="req-x"' in again.text  # the same submission, still once


def test_notice_then_supplement_and_the_messages(host: Any) -> None:
    client = host.client("zhangwei")
    code = _complete_shop(client).headers["location"].rsplit("/", 1)[-1]
    clerk = host.session("sunli")
    case = clerk.cases.get(code)
    clerk.cases.prereview(case, defects={"M01": "申请书未签名"})
    page = client.get(f"/portal/cases/{code}")
    assert page.status_code == 200
    assert "一次性告知书" in page.text and "申请书未签名" in page.text
    assert "需补正材料（一次性告知）" in page.text  # the message of this case
    assert "1 条未读" in page.text
    missing = client.post(f"/portal/cases/{code}/supplement", data={"csrf_token": CSRF},
                          files={"x": ("", b"")})
    assert missing.status_code == 422 and "请上传" in missing.text
    done = client.post(f"/portal/cases/{code}/supplement", data={"csrf_token": CSRF},
                       files={"file_M01": ("签名申请书.pdf", PDF + b"%signed", "application/pdf")})
    assert done.status_code == 303
    case = host.session("zhangwei").cases.get(code)
    assert case.state is govsvc.CaseState.SUBMITTED
    assert next(m for m in case.materials if m.code == "M01").filename == "签名申请书.pdf"
    clerk.cases.accept(clerk.cases.prereview(clerk.cases.get(code)))
    messages = client.get("/portal/messages")
    assert "需补正材料" in messages.text and "已受理" in messages.text
    assert "2 条未读" in messages.text
    assert client.post("/portal/messages/read", data={"csrf_token": CSRF}).status_code == 303
    assert "条未读" not in client.get("/portal/messages").text


def test_each_event_is_notified_once_by_message_and_sms(host: Any) -> None:
    code = _complete_shop(host.client("zhangwei")).headers["location"].rsplit("/", 1)[-1]
    clerk = host.session("sunli")
    case = clerk.cases.prereview(clerk.cases.get(code), defects={"M01": "申请书未签名"})
    notes = host.app.state.notifications
    event = host.session("zhangwei").cases.trail(code)[-1]
    assert event.kind is govsvc.EventKind.SUPPLEMENT_REQUESTED
    notes.handle(event, case)  # delivered again (a re-run, another process): nothing new
    found, _ = notes.messages([govsvc.PartyKey.of(PERSON)])
    assert [m.kind for m in found] == ["supplement_requested"]
    outbox = notes.outbox()
    assert len(outbox) == 1 and outbox[0]["status"] == "sent"
    assert outbox[0]["phone"] == "139****0316" and "申请书未签名" in outbox[0]["text"]
    admin = host.client("zhenghao").get("/portal/sms")
    assert admin.status_code == 200 and "139****0316" in admin.text and "演示网关" in admin.text
    citizen = host.client("zhangwei").get("/portal/sms")
    assert citizen.status_code == 403


def test_a_failing_sms_gateway_keeps_the_sms_for_the_next_pass(host: Any) -> None:
    notes = host.app.state.notifications

    class Down:
        name = "down"

        def send(self, phone: str, text: str) -> Any:
            raise OSError("gateway unreachable")

    working, notes.provider = notes.provider, Down()
    key = govsvc.PartyKey.of(PERSON)
    assert notes.notify(key, event="cert-1", kind="certificate_expiring", title="证照即将到期",
                        body="营业执照将于下月到期", phone="13904510316")
    assert not notes.notify(key, event="cert-1", kind="certificate_expiring", title="x", body="x")
    assert notes.outbox()[0]["status"] == "pending" and "unreachable" in notes.outbox()[0]["error"]
    notes.provider = working
    from govsvc_host import worker

    assert worker.run_job(host.platform, "send_sms") == {"sent": 1}  # the retrying job
    assert notes.outbox()[0]["status"] == "sent" and notes.outbox()[0]["attempts"] == 2


def test_my_cases_in_keyset_pages(host: Any) -> None:
    zhang = host.session("zhangwei")
    person = govsvc.Person(key=govsvc.PartyKey.of(PERSON), name="张伟")
    made = [zhang.cases.new_application(SHOP, person) for _ in range(21)]
    client = host.client("zhangwei")
    first = client.get("/portal")
    assert first.status_code == 200
    assert first.text.count('href="/portal/apply/') >= 20
    more = re.search(r'href="/portal\?after=([^"]+)"', first.text)
    assert more
    second = client.get(f"/portal?after={more.group(1)}")
    assert made[0].tracking_code in second.text and made[0].tracking_code not in first.text


def test_another_citizens_case_is_403_and_recorded(host: Any) -> None:
    code = _complete_shop(host.client("zhangwei")).headers["location"].rsplit("/", 1)[-1]
    lina = host.principal("lina")
    before = host.denied(lina)
    response = host.client("lina").get(f"/portal/cases/{code}")
    assert response.status_code == 403 and "无权进行此操作" in response.text
    assert host.denied(lina) == before + 1
    supplement = host.client("lina").post(f"/portal/cases/{code}/supplement",
                                          data={"csrf_token": CSRF}, files={"x": ("", b"")})
    assert supplement.status_code == 403 and host.denied(lina) == before + 2


def test_my_data_use_shows_who_used_my_data_where_and_why(host: Any) -> None:
    client = host.client("zhangwei")
    client.get(f"/portal/apply/{SHOP}")  # the prefill asks 公安
    code = _complete_shop(client).headers["location"].rsplit("/", 1)[-1]
    host.session("sunli").cases.get(code)  # a clerk reads the case (窗口受理)
    page = client.get("/portal/data-use")
    assert page.status_code == 200
    rows = re.findall(r"<tr><td>.*?</tr>", page.text, re.S)
    exchange = [r for r in rows if "哈尔滨市公安局" in r and "部门数据交换" in r]
    assert exchange and any("在线申请预填" in r for r in exchange)
    assert any("在线申请用证" in r for r in exchange)  # the certificate look-up
    assert any("窗口受理" in r and "查阅" in r for r in rows)
    assert "李娜" not in page.text


def test_progress_lookup_says_only_not_found(host: Any) -> None:
    code = _complete_shop(host.client("zhangwei")).headers["location"].rsplit("/", 1)[-1]
    client = host.client()
    wrong_suffix = client.get("/track", params={"code": code, "suffix": "9999"})
    no_such_code = client.get("/track", params={"code": "1" * len(code), "suffix": "0316"})
    assert wrong_suffix.status_code == no_such_code.status_code == 404

    def message(page: Any) -> str:
        found = re.findall(r'class="error-text"[^>]*>([^<]+)<', page.text)
        return "|".join(found)

    assert message(wrong_suffix) == message(no_such_code) != ""
    assert "张伟" not in wrong_suffix.text and "个体工商户" not in wrong_suffix.text
    api = client.get("/api/v1/track", params={"code": code, "suffix": "9999"})
    assert api.status_code == 404 and api.json()["title"] == "未找到办件"


def test_staff_have_no_personal_portal(host: Any) -> None:
    reviewer = host.principal("liming")
    before = host.denied(reviewer)
    assert host.client("liming").get("/portal").status_code == 403
    assert host.denied(reviewer) == before + 1
    clerk = host.client("sunli").get("/portal")
    assert clerk.status_code == 200 and "没有本人办件" in clerk.text
    applying = host.client("sunli").get(f"/portal/apply/{SHOP}")
    assert applying.status_code == 422 and "一窗受理" in applying.text


class FakeLibrary:
    """The SDK's certificate library as the portal uses it (offer, consent): the seam's
    other side, until ``session.certificates`` is merged."""

    def __init__(self) -> None:
        self.consents: list[tuple[str, str, str]] = []

    def offer(self, item_code: str, holder: govsvc.PartyKey, *, purpose: str) -> list[Any]:
        from types import SimpleNamespace as NS

        assert purpose == "在线申请用证"
        card = NS(id="ecert-0001", type_name="居民身份证", number=holder.number,
                  issuer=NS(name="哈尔滨市公安局"), valid_until=None)
        return [NS(material="M02", certificates=(NS(certificate=card),))]

    def consent(self, ref: str, *, item_code: str, material: str) -> govsvc.ProvidedMaterial:
        self.consents.append((ref, item_code, material))
        return govsvc.ProvidedMaterial(code=material, kind=govsvc.MaterialKind.ECERT,
                                       reference=ref)


def test_the_sdk_certificate_library_is_used_when_present(host: Any, monkeypatch: Any) -> None:
    library = FakeLibrary()
    monkeypatch.setattr(govsvc.Session, "certificates", property(lambda self: library),
                        raising=False)
    client = host.client("zhangwei")
    page = client.get(f"/portal/apply/{SHOP}")
    assert 'name="cert_M02" value="ecert-0001"' in page.text and "长期" in page.text
    refused = _post_apply(client, files={"file_M01": ("a.pdf", PDF, "application/pdf")},
                          cert_M02="ecert-0001", commit_M03="on")
    assert refused.status_code == 422 and library.consents == []  # no consent, no record
    done = _post_apply(client, files={"file_M01": ("a.pdf", PDF, "application/pdf")},
                       cert_M02="ecert-0001", consent_M02="on", commit_M03="on")
    assert done.status_code == 303, done.text
    assert library.consents == [("ecert-0001", SHOP, "M02")]
    case = host.session("zhangwei").cases.get(done.headers["location"].rsplit("/", 1)[-1])
    assert next(m for m in case.materials if m.code == "M02").reference == "ecert-0001"


def test_a_certificate_reminder_is_notified_once(host: Any) -> None:
    import datetime as dt
    from types import SimpleNamespace as NS

    notes = host.app.state.notifications
    holder = govsvc.PartyKey.of(PERSON)
    cert = NS(id="ecert-0002", name="食品经营许可证", number="JY12301030012345",
              valid_until=dt.date(2027, 1, 5), holder=holder, case_id=None)
    for _ in range(2):
        notes.certificate_event(NS(kind=NS(value="reminded"), seq=4), cert)
    notes.certificate_event(NS(kind=NS(value="issued"), seq=1), cert)  # not a reminder
    found, _ = notes.messages([holder])
    assert [(m.kind, m.title) for m in found] == [("certificate_expiring", "证照即将到期")]
    assert "“食品经营许可证”（编号 JY12301030012345）将于 2027-01-05 到期" in found[0].body
    page = host.client("zhangwei").get("/portal/messages")
    assert "证照即将到期" in page.text and "1 条未读" in page.text


def test_the_portal_in_english(host: Any) -> None:
    client = host.client("zhangwei")
    client.cookies.set("govsvc_lang", "en", domain="127.0.0.1")
    cases = client.get("/portal")
    assert "My data use" in cases.text and "My messages" in cases.text
    form = client.get(f"/portal/apply/{SHOP}")
    assert "Save a draft" in form.text and "authoritative source, locked" in form.text


def test_every_step_of_a_case_reaches_the_organisation_once(host: Any) -> None:
    case = host.food_case()  # taken at the window for 冰城饺子馆, accepted
    samr, health = host.session("liming"), host.session("zhaomin")
    task = {t.department: t.id for t in case.open_tasks}
    samr.reviews.decide(case.id, task["11230100013114525L"], approve=True, reason="材料齐全")
    health.cases.suspend(case.id, govsvc.SuspensionReason("现场勘验"), notice="需现场核查经营场所")
    health.cases.resume(case.id)
    health.reviews.decide(case.id, task["11230100MB1935270B"], approve=True)
    samr.cases.issue_result(case.id, govsvc.CaseResult(name="食品经营许可证",
                                                       number="JY12301030000001"))
    found, _ = host.app.state.notifications.messages([govsvc.PartyKey.of(ORG)])
    assert sorted(m.kind for m in found) == sorted(
        ["accepted", "suspended", "approved", "result_ready"])
    bodies = {m.kind: m.body for m in found}
    assert "现场勘验，需现场核查经营场所" in bodies["suspended"]
    assert "食品经营许可证 JY12301030000001" in bodies["result_ready"]
    page = host.client("zhangwei.bingcheng").get("/portal/messages")
    assert page.status_code == 200 and "4 条未读" in page.text and "准予许可" in page.text
    case_page = host.client("zhangwei.bingcheng").get(f"/portal/cases/{case.tracking_code}")
    assert "书面告知" in case_page.text and "需现场核查经营场所" in case_page.text


def test_the_sms_job_waits_for_the_host_tables(tmp_path: Any) -> None:
    from govsvc_host import worker

    platform = govsvc.Platform.open(f"sqlite:///{tmp_path / 'bare.db'}", load_entry_points=False)
    try:
        assert worker.run_job(platform, "send_sms") == {
            "skipped": "no host tables yet (govsvc-host db upgrade)"}
    finally:
        platform.close()
