"""The host's pages through the ASGI app: what each role sees and does, and bad input."""

from __future__ import annotations

import re
from typing import Any

import govsvc

FOOD = "11230100013114525L3000176010001"
SHOP = "11230102MB1C3376104000175001001"
CSRF = "csrf-token-for-tests-0001"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


def test_home_and_catalogue_are_public_and_in_chinese(host: Any) -> None:
    client = host.client()
    home = client.get("/")
    assert home.status_code == 200
    assert 'lang="zh-Hans"' in home.text and "统一身份认证" in home.text
    assert "<script" not in home.text  # every page works without JavaScript
    assert "script-src 'none'" in home.headers["content-security-policy"]
    items = client.get("/items")
    assert "食品经营许可（新办）" in items.text
    guide = client.get(f"/items/{FOOD}")
    assert guide.status_code == 200 and "容缺后补" in guide.text


def test_english_comes_from_the_catalogue(host: Any) -> None:
    client = host.client()
    switched = client.get("/lang/en?next=/items")
    assert switched.status_code == 303 and switched.headers["location"] == "/items"
    page = client.get("/items")
    assert 'lang="en"' in page.text and "Service guides" in page.text
    assert client.get("/", headers={"accept-language": "en-GB"}).status_code == 200


def test_static_assets_are_served_locally(host: Any) -> None:
    client = host.client()
    css = client.get("/static/host.css")
    assert css.status_code == 200 and "font-family" in css.text and "http" not in css.text
    assert client.get("/static/print.css").status_code == 200


def test_pages_that_need_a_login_send_the_browser_to_it(host: Any) -> None:
    client = host.client()
    response = client.get("/window")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/window"


def test_clerk_takes_a_walk_in_application_through_to_acceptance(host: Any) -> None:
    client = host.client("wangfang")
    # Find the applicant by their number (一号): not registered yet.
    found = client.get("/window", params={"number": "230104199208090266"})
    assert found.status_code == 200 and "登记新申请人" in found.text
    registered = client.post("/window/applicants", data={
        "csrf_token": CSRF, "number": "230104199208090266", "name": "李娜", "phone": "13845100266",
    })
    assert registered.status_code == 303
    page = client.get(registered.headers["location"])
    assert "李娜" in page.text and "户口迁移（市内跨区迁移）" in page.text
    move = "11230100003108738D3000716002003"
    form = client.get(f"/window/apply/{move}", params={"applicant": "230104199208090266"})
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    created = client.post(
        f"/window/apply/{move}",
        data={"csrf_token": CSRF, "applicant": "230104199208090266",
              "how_M01": "shared", "how_M02": "ecert", "how_M03": "upload", "how_M04": "none",
              "how_M05": "none", "form": "迁入地址：南岗区学府路52号"},
        files={"file_M03": ("房产证.pdf", PDF, "application/pdf")},
    )
    assert created.status_code == 303, created.text
    case_path = created.headers["location"]
    case_page = client.get(case_path)
    assert "已收件" in case_page.text and "房产证.pdf" in case_page.text
    code = case_path.rsplit("/", 1)[1]
    case = host.session("wangfang").cases.get(code)
    assert case.channel == govsvc.Channel.WINDOW.value
    assert case.materials[2].reference.startswith("sha256:")
    # The scan is viewable, served as what its content is.
    scan = client.get(f"{case_path}/materials/M03")
    assert scan.status_code == 200 and scan.content == PDF
    assert scan.headers["content-type"] == "application/pdf"
    # Pre-review: the one-time notice lists what is missing, printable with the QR code.
    version = f'name="version" value="{case.version}"'
    assert version in case_page.text
    pre = client.post(f"{case_path}/do/prereview", data={"csrf_token": CSRF,
                                                          "version": str(case.version)})
    assert pre.status_code == 303
    notice = client.get(f"{case_path}/receipt")
    assert "一次性告知书" in notice.text and "<svg" in notice.text
    # Accepting without 容缺 is refused with a field message; with it, accepted.
    case = host.session("wangfang").cases.get(code)
    refused = client.post(f"{case_path}/do/accept", data={"csrf_token": CSRF,
                                                           "version": str(case.version)})
    assert refused.status_code == 422 and "容缺受理" in refused.text
    accepted = client.post(f"{case_path}/do/accept", data={
        "csrf_token": CSRF, "version": str(case.version), "tolerate": "on"})
    assert accepted.status_code == 303
    receipt = client.get(f"{case_path}/receipt")
    assert "受理通知书" in receipt.text and "补交" in receipt.text
    assert host.session("wangfang").cases.get(code).state is govsvc.CaseState.IN_REVIEW


def test_reviewers_decide_their_own_tasks_and_the_clerk_hands_out_by_post(host: Any) -> None:
    case = host.food_case()
    code = case.tracking_code
    liming, zhaomin = host.client("liming"), host.client("zhaomin")
    queue = liming.get("/backoffice")
    assert code[:4] in queue.text and "绿灯" in queue.text
    page = liming.get(f"/cases/{code}")
    samr_task = next(t for t in case.open_tasks if t.department == "11230100013114525L")
    assert f'value="{samr_task.id}"' in page.text  # only his own department's task has a form
    health_task = next(t for t in case.open_tasks if t.department != samr_task.department)
    assert f'value="{health_task.id}"' not in page.text
    # A denial needs its reason and basis: field-level messages, what was typed is kept.
    bad = liming.post(f"/cases/{code}/do/decide", data={
        "csrf_token": CSRF, "version": str(case.version), "task_id": samr_task.id,
        "outcome": "deny", "reason": "经营场所不符"})
    assert bad.status_code == 422
    assert "不予许可须写明法律依据" in bad.text and "经营场所不符" in bad.text
    ok = liming.post(f"/cases/{code}/do/decide", data={
        "csrf_token": CSRF, "version": str(case.version), "task_id": samr_task.id,
        "outcome": "approve", "reason": "材料齐全"})
    assert ok.status_code == 303
    # The health commission suspends for an on-site inspection, then resumes and approves.
    case = host.session("zhaomin").cases.get(code)
    suspended = zhaomin.post(f"/cases/{code}/do/suspend", data={
        "csrf_token": CSRF, "version": str(case.version), "reason": "现场勘验",
        "notice": "需现场核查经营场所"})
    assert suspended.status_code == 303
    case = host.session("zhaomin").cases.get(code)
    assert case.is_suspended
    zhaomin.post(f"/cases/{code}/do/resume", data={"csrf_token": CSRF,
                                                    "version": str(case.version)})
    case = host.session("zhaomin").cases.get(code)
    zhaomin.post(f"/cases/{code}/do/decide", data={
        "csrf_token": CSRF, "version": str(case.version), "task_id": health_task.id,
        "outcome": "approve"})
    case = host.session("liming").cases.get(code)
    assert case.state is govsvc.CaseState.APPROVED
    made = liming.post(f"/cases/{code}/do/issue_result", data={
        "csrf_token": CSRF, "version": str(case.version), "name": "食品经营许可证",
        "number": "JY12301030000001", "face_operatorName": "哈尔滨市冰城饺子馆有限公司",
        "face_creditCode": "91230103MA1BX4K238", "face_legalRepresentative": "张伟",
        "face_address": "南岗区学府路52号", "face_premises": "南岗区学府路52号",
        "face_businessFormat": "餐饮服务经营者", "face_businessItems": "热食类食品制售",
        "face_supervisor": "南岗区市场监督管理局"})
    assert made.status_code == 303
    clerk = host.client("wangfang")
    case = host.session("wangfang").cases.get(code)
    missing = clerk.post(f"/cases/{code}/do/complete", data={
        "csrf_token": CSRF, "version": str(case.version), "delivery": "post",
        "courier": "demo-courier"})
    assert missing.status_code == 422 and "请填写邮寄地址" in missing.text
    done = clerk.post(f"/cases/{code}/do/complete", data={
        "csrf_token": CSRF, "version": str(case.version), "delivery": "post",
        "courier": "demo-courier", "address": "哈尔滨市南岗区学府路52号"})
    assert done.status_code == 303
    case = host.session("wangfang").cases.get(code)
    assert case.state is govsvc.CaseState.COMPLETED
    trail = host.session("wangfang").cases.trail(code)
    assert "运单号 YZ" in str(trail[-1].payload)


def test_extension_requested_by_a_reviewer_is_approved_by_the_approver(host: Any) -> None:
    case = host.food_case()
    code = case.tracking_code
    zhaomin, linxia = host.client("zhaomin"), host.client("linxia")
    asked = zhaomin.post(f"/cases/{code}/do/request_extension", data={
        "csrf_token": CSRF, "version": str(case.version), "workdays": "abc", "reason": ""})
    assert asked.status_code == 422 and "1 到 60" in asked.text
    asked = zhaomin.post(f"/cases/{code}/do/request_extension", data={
        "csrf_token": CSRF, "version": str(case.version), "workdays": "3",
        "reason": "需补充核查"})
    assert asked.status_code == 303
    case = host.session("linxia").cases.get(code)
    page = linxia.get(f"/cases/{code}")
    assert "批准延期" in page.text
    approved = linxia.post(f"/cases/{code}/do/extend", data={"csrf_token": CSRF,
                                                              "version": str(case.version)})
    assert approved.status_code == 303
    assert host.session("linxia").cases.get(code).extensions[-1].workdays == 3


def test_a_stale_form_is_refused_with_409(host: Any) -> None:
    case = host.food_case(accept=False)
    client = host.client("wangfang")
    host.session("wangfang").cases.prereview(case, automated=False)  # someone else acted
    stale = client.post(f"/cases/{case.tracking_code}/do/accept",
                        data={"csrf_token": CSRF, "version": str(case.version)})
    assert stale.status_code == 409 and "刷新页面" in stale.text


def test_forms_without_the_csrf_token_are_refused(host: Any) -> None:
    case = host.food_case(accept=False)
    client = host.client("wangfang")
    forged = client.post(f"/cases/{case.tracking_code}/do/accept",
                         data={"csrf_token": "forged", "version": str(case.version)})
    assert forged.status_code == 403 and "表单已失效" in forged.text
    assert host.session("wangfang").cases.get(case.id).state is govsvc.CaseState.SUBMITTED


def test_session_cookie_is_http_only_and_lax(host: Any) -> None:
    client = host.client()
    client.cookies.clear()  # a first visit: the session (and its CSRF token) is made now
    cookie = client.get("/").headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http on loopback; https_only behind TLS


def test_ids_are_masked_in_lists(host: Any) -> None:
    host.food_case()
    page = host.client("liming").get("/backoffice")
    assert "91230103MA1BX4K238" not in page.text and "9123**********K238" in page.text


# --- bad input -------------------------------------------------------------------------------


def _apply_form(client: Any, **files: Any) -> Any:
    return client.post(
        f"/window/apply/{FOOD}",
        data={"csrf_token": CSRF, "applicant": "91230103MA1BX4K238", "agent_name": "",
              "agent_number": "2301", "how_M01": "upload", "form": "经营场所 南岗区"},
        files=files or {"file_M01": ("申请书.pdf", PDF, "application/pdf")},
    )


def test_window_form_errors_are_per_field_in_chinese_and_keep_what_was_typed(host: Any) -> None:
    org = govsvc.Organisation(key=govsvc.PartyKey.of("91230103MA1BX4K238"), name="冰城饺子馆")
    host.session("wangfang").parties.register(org)
    response = _apply_form(host.client("wangfang"))
    assert response.status_code == 422
    assert "单位申请须登记到窗口办理的经办人姓名" in response.text
    assert "经办人证件号码有误" in response.text
    assert "第 1 行应为“字段名：内容”" in response.text
    assert "经营场所 南岗区" in response.text  # the textarea keeps what was typed
    assert 'aria-invalid="true"' in response.text
    assert host.session("wangfang").cases.of_applicant("91230103MA1BX4K238") == []


def test_oversized_and_wrong_type_uploads_are_refused_with_the_limit(host: Any) -> None:
    org = govsvc.Organisation(key=govsvc.PartyKey.of("91230103MA1BX4K238"), name="冰城饺子馆")
    host.session("wangfang").parties.register(org)
    client = host.client("wangfang")
    big = _apply_form(client, file_M01=("申请书.pdf", PDF + b"0" * 70 * 1024, "application/pdf"))
    assert big.status_code == 422 and "文件超过大小上限 64 KB" in big.text
    fake = _apply_form(client, file_M01=("申请书.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"))
    assert fake.status_code == 422 and "本材料只接受：pdf、jpg、png" in fake.text
    png_for_pdf_only = client.post(
        f"/window/apply/{FOOD}",
        data={"csrf_token": CSRF, "applicant": "91230103MA1BX4K238", "agent_name": "张伟",
              "agent_number": "230103198503120316", "how_M04": "upload"},
        files={"file_M04": ("布局.pdf", PNG, "application/pdf")},
    )
    assert png_for_pdf_only.status_code == 422
    assert "文件内容为 PNG 格式，本材料只接受：pdf" in png_for_pdf_only.text


def test_someone_elses_case_is_403_and_recorded(host: Any) -> None:
    case = host.shop_case()
    lina = host.principal("lina")
    before = host.denied(lina)
    response = host.client("lina").get(f"/cases/{case.tracking_code}")
    assert response.status_code == 403 and "无权进行此操作" in response.text
    assert host.denied(lina) == before + 1
    other_department = host.client("gaojun").get(f"/cases/{host.food_case().tracking_code}")
    assert other_department.status_code == 403


def test_an_expired_login_returns_to_login_and_keeps_the_draft(host: Any) -> None:
    case = host.food_case(accept=False)
    client = host.client("wangfang")
    page = f"/cases/{case.tracking_code}"
    host.seconds.now += 31 * 60  # idle past session_idle_minutes
    response = client.post(
        f"{page}/do/refuse",
        data={"csrf_token": CSRF, "version": str(case.version), "command": "refuse",
              "reason": "经营场所不在本市", "basis": "行政许可法第三十二条"},
        headers={"referer": f"http://127.0.0.1:8000{page}"},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/login?next={page}")
    assert host.session("wangfang").cases.get(case.id).state is govsvc.CaseState.SUBMITTED
    # Log in again (what the login router stores), keeping the browser's session cookie.
    from govsvc_host.auth import SESSION_KEY
    from govsvc_host.context import SEEN_KEY

    session = read_cookie(client)
    assert SESSION_KEY not in session
    session[SESSION_KEY] = {"claims": host_claims("wangfang"), "id_token": "", "provider": "x"}
    session[SEEN_KEY] = host.seconds.now
    write_cookie(client, session)
    again = client.get(page)
    assert again.status_code == 200
    assert "经营场所不在本市" in again.text and "行政许可法第三十二条" in again.text
    assert re.search(r"<details open><summary>不予受理", again.text)
    assert "经营场所不在本市" not in client.get(page).text  # a draft is shown once


def read_cookie(client: Any) -> dict[str, Any]:
    import base64
    import json

    import itsdangerous

    signer = itsdangerous.TimestampSigner("host-test-secret-0123456789")
    raw = client.cookies.get("govsvc_host")
    data: dict[str, Any] = json.loads(base64.b64decode(signer.unsign(raw, max_age=None)))
    return data


def write_cookie(client: Any, data: dict[str, Any]) -> None:
    import base64
    import json

    import itsdangerous

    signer = itsdangerous.TimestampSigner("host-test-secret-0123456789")
    client.cookies.set("govsvc_host",
                       signer.sign(base64.b64encode(json.dumps(data).encode())).decode(),
                       domain="127.0.0.1")


def host_claims(username: str) -> dict[str, Any]:
    from govsvc_host.idp import load_directory

    user = load_directory().user(username)
    assert user is not None
    return {**user.claims_for("openid profile phone govsvc"), "acr": user.acr}


def test_public_lookup_is_rate_limited(host: Any) -> None:
    case = host.shop_case()
    client = host.client()
    found = client.get("/track", params={"code": case.tracking_code, "suffix": "0316"})
    assert found.status_code == 200 and "已提交" in found.text
    wrong = client.get("/track", params={"code": case.tracking_code, "suffix": "9999"})
    assert wrong.status_code == 404 and "未找到" in wrong.text
    statuses = [client.get("/track", params={"code": case.tracking_code, "suffix": "9999"})
                .status_code for _ in range(35)]
    assert statuses[-1] == 429


def test_supervision_and_admin_pages(host: Any) -> None:
    host.food_case()
    page = host.client("zhoujie").get("/supervision")
    assert page.status_code == 200 and "各实施机构统计" in page.text
    admin = host.client("zhenghao").get("/admin")
    assert admin.status_code == 200 and "review.open" in admin.text
    assert host.client("zhoujie").get("/admin").status_code == 403


def test_provisional_calendar_banner_for_staff_only(host: Any) -> None:
    calendar = host.platform.calendar
    missing = not all(calendar.has_data(y) for y in (host.platform.today().year,
                                                     host.platform.today().year + 1))
    staff = host.client("wangfang").get("/")
    citizen = host.client("zhangwei").get("/")
    assert ("暂定日历模式" in staff.text) is missing
    assert "暂定日历模式" not in citizen.text


def test_staff_pages_in_english(host: Any) -> None:
    case = host.food_case()
    client = host.client("liming")
    client.cookies.set("govsvc_lang", "en", domain="127.0.0.1")
    page = client.get(f"/cases/{case.tracking_code}")
    assert page.status_code == 200
    assert "Review decision" in page.text and "working days left" in page.text
    assert "Reviewer" in page.text  # the role label, passed through the catalogue
    queue = client.get("/backoffice")
    assert "Review tasks" in queue.text and "Open" in queue.text


def test_text_the_database_cannot_store_is_refused_on_pages(host: Any) -> None:
    client = host.client("wangfang")
    registered = client.post("/window/applicants", data={
        "csrf_token": CSRF, "number": "230104199208090266", "name": "李\x00娜"})
    assert registered.status_code == 422 and "NUL" in registered.text
    queue = host.client("liming").get("/backoffice", params={"department": "\x00"})
    assert queue.status_code == 422


def test_logout_needs_the_forms_token(host: Any) -> None:
    client = host.client("wangfang")
    forged = client.post("/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert client.get("/window").status_code == 200  # still logged in
    out = client.post("/logout", data={"csrf_token": CSRF})
    assert out.status_code == 303
    assert client.get("/window").status_code == 303  # to the login


def test_login_attempts_are_rate_limited(host: Any) -> None:
    client = host.client()
    statuses = [client.get("/login").status_code for _ in range(21)]
    assert statuses[0] == 400  # the test provider is not running: the login fails, counted
    assert statuses[-1] == 429
    assert "登录尝试过于频繁" in client.get("/auth/callback").text


def test_case_page_and_receipt_render_in_every_state(host: Any) -> None:
    clerk = host.session("wangfang")
    samr = host.session("liming")
    states: dict[str, govsvc.Case] = {}
    states["submitted"] = host.food_case(accept=False)
    waiting = host.food_case(accept=False)
    states["supplement_needed"] = clerk.cases.prereview(waiting, defects={"M01": "未签字"})
    states["not_accepted"] = clerk.cases.refuse(host.food_case(accept=False), reason="不符",
                                                basis="第三十二条")
    states["in_review"] = host.food_case()
    suspended = host.session("zhaomin").cases.suspend(
        host.food_case(), govsvc.SuspensionReason.HEARING, notice="听证")
    states["suspended"] = suspended
    denied = host.food_case()
    task = next(t for t in denied.open_tasks if t.department == "11230100013114525L")
    states["denied"] = samr.reviews.decide(denied, task.id, approve=False, reason="不符",
                                           basis="食品安全法", remedies="复议")
    states["withdrawn"] = clerk.cases.withdraw(host.food_case(), reason="申请人撤回")
    done = host.food_case()
    for t in done.open_tasks:
        reviewer = samr if t.department == "11230100013114525L" else host.session("zhaomin")
        done = reviewer.reviews.decide(done.id, t.id, approve=True)
    states["approved"] = done
    done = samr.cases.issue_result(done, govsvc.CaseResult(name="食品经营许可证", number="JY1"))
    states["result_ready"] = done
    states["completed"] = clerk.cases.complete(done, delivery="窗口领取")
    for username in ("wangfang", "liming", "zhoujie", "zhangwei.bingcheng"):
        client = host.client(username)
        for state, case in states.items():
            page = client.get(f"/cases/{case.tracking_code}")
            receipt = client.get(f"/cases/{case.tracking_code}/receipt")
            assert page.status_code == receipt.status_code == 200, (username, state, page.text[:500])
            now = host.platform.system().cases.get(case.id).state  # a case moves on
            assert now.label in page.text, (username, state)
