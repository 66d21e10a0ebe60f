"""The case page's 制作结果 form as a 制证 form: the certificate type's face fields, prefilled
from the case, checked field by field, sent as the result's data so the e-certificate is
issued with the result."""

from __future__ import annotations

import datetime as dt
import re

import pytest

import govsvc
from govsvc.ecert import EDDSA

from .conftest import HostKit
from .test_host_pages import CSRF

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")

SAMR = "11230100013114525L"
REVIEWERS = {SAMR: "liming", "11230100MB1935270B": "zhaomin"}
FACE = {
    "face_legalRepresentative": "张伟",
    "face_address": "黑龙江省哈尔滨市南岗区学府路52号",
    "face_businessFormat": "餐饮服务经营者（小型餐馆）",
    "face_businessItems": "热食类食品制售",
    "face_supervisor": "哈尔滨市南岗区市场监督管理局",
}


def approved(host: HostKit) -> govsvc.Case:
    """冰城饺子馆's food licence, both reviews approved in the host, SAMR able to sign."""
    host.platform.certificate_keys.generate(
        SAMR, EDDSA, key_id="samr-1", activated_at=host.platform.now() - dt.timedelta(days=1)
    )
    case = host.food_case()
    while case.state is govsvc.CaseState.IN_REVIEW:
        task = case.open_tasks[0]
        case = host.session(REVIEWERS[task.department]).reviews.decide(case, task.id, approve=True)
    return case


def value_of(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no input {name} on the page"
    return found.group(1)


def test_the_form_shows_the_face_fields_prefilled_from_the_case(host: HostKit) -> None:
    case = approved(host)
    page = host.client("liming").get(f"/cases/{case.tracking_code}").text
    assert "照面信息" in page and "食品经营许可证" in page
    assert value_of(page, "face_operatorName") == "哈尔滨市冰城饺子馆有限公司"  # the applicant
    assert value_of(page, "face_creditCode") == "91230103MA1BX4K238"
    assert value_of(page, "face_premises") == "南岗区学府路52号"  # the application form
    assert value_of(page, "face_supervisor") == ""  # unknown to the case: the clerk types it
    assert "日常监督管理机构 <abbr" in page  # required fields are marked
    assert 'name="data"' not in page  # no free-text lines for a certificate type


def test_a_missing_face_field_is_refused_by_name_and_changes_nothing(host: HostKit) -> None:
    case = approved(host)
    form = {"csrf_token": CSRF, "version": str(case.version), "name": "食品经营许可证",
            "number": "JY12301030012345", "face_operatorName": "哈尔滨市冰城饺子馆有限公司",
            "face_creditCode": "91230103MA1BX4K238", "face_premises": "南岗区学府路52号",
            **FACE, "face_supervisor": ""}
    bad = host.client("liming").post(f"/cases/{case.tracking_code}/do/issue_result", data=form)
    assert bad.status_code == 422
    assert "请填写日常监督管理机构" in bad.text
    assert value_of(bad.text, "face_address") == FACE["face_address"]  # what was typed is kept
    wrong = host.client("liming").post(f"/cases/{case.tracking_code}/do/issue_result",
                                       data={**form, **FACE, "face_creditCode": "12345"})
    assert wrong.status_code == 422 and "统一社会信用代码（身份证号码）“12345”格式不正确" in wrong.text
    after = host.session("liming").cases.get(case.tracking_code)
    assert after.version == case.version and after.result is None
    assert host.platform.system().certificates.of_case(case.id) == []


def test_a_complete_form_issues_a_certificate_that_verifies(host: HostKit) -> None:
    case = approved(host)
    client = host.client("liming")
    page = client.get(f"/cases/{case.tracking_code}").text
    prefilled = {n: value_of(page, n)
                 for n in ("face_operatorName", "face_creditCode", "face_premises")}
    made = client.post(f"/cases/{case.tracking_code}/do/issue_result", data={
        "csrf_token": CSRF, "version": str(case.version), "name": "食品经营许可证",
        "number": "JY12301030012345", **prefilled, **FACE})
    assert made.status_code == 303, made.text
    [certificate] = host.platform.system().certificates.of_case(case.id)
    assert certificate.certificate.face["supervisor"] == FACE["face_supervisor"]
    assert certificate.certificate.face["operatorName"] == "哈尔滨市冰城饺子馆有限公司"
    assert host.platform.system().certificates.pending() == []
    verdict = host.client().post("/api/v1/certificates/verify",
                                 json={"document": certificate.credential}).json()
    assert verdict["valid"] is True and verdict["status"] == "valid"
