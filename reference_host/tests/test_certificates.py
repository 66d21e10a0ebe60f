"""E-certificate pages and routes: the key set, status lists, the verification API and page,
the page a scanned QR code opens, a certificate's page with print view and PDF, 我的证照."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pytest
from joserfc import jws as jose_jws
from joserfc.jwk import KeySet

import govsvc
from govsvc.ecert import EDDSA

from .conftest import FOOD, HostKit, all_materials

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")

SAMR = "11230100013114525L"
HEALTH = "11230100MB1935270B"
ZHANG = "230103198503120316"


class Legacy:
    """A department's system in process: tasks approved at once, licences issued."""

    def __init__(self) -> None:
        self.numbers = itertools.count(1)
        self.tasks: dict[str, str] = {}

    def open_review(self, request: govsvc.ReviewRequest) -> str:
        return self.tasks.setdefault(request.task_id, f"L{len(self.tasks) + 1:05d}")

    def poll_review(self, ticket: govsvc.ReviewTicket) -> govsvc.ReviewOutcome:
        return govsvc.ReviewOutcome(approved=True, reason="符合条件", decided_by="科员")

    def issue_result(self, ticket: govsvc.ReviewTicket) -> govsvc.IssuedResult:
        number = f"JY22301030{next(self.numbers):06d}"
        return govsvc.IssuedResult(
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
            },
        )


class Departments:
    @govsvc.hookimpl
    def govsvc_departments(self) -> list[govsvc.Department]:
        return [
            govsvc.Department(code=code, name=code, division="230100", adapter=Legacy())
            for code in (SAMR, HEALTH)
        ]


@pytest.fixture
def host_plugins() -> list[Any]:
    return [Departments()]


def issued(host: HostKit) -> govsvc.IssuedCertificate:
    """张伟's food licence, applied for online, approved and issued with a signed certificate."""
    platform = host.platform
    platform.certificate_keys.generate(
        SAMR, EDDSA, key_id="samr-1", activated_at=platform.now() - dt.timedelta(days=1)
    )
    person = govsvc.Person(key=govsvc.PartyKey.of(ZHANG), name="张伟")
    case = host.session("zhangwei").cases.apply(
        FOOD, person, materials=all_materials(platform, FOOD)
    )
    host.session("wangfang").cases.accept(case)
    system = platform.system().departments
    system.deliver()
    system.poll()
    assert system.fetch_results().issued == 1
    [certificate] = platform.system().certificates.of_case(case.id)
    return certificate


def test_key_set_and_status_lists_are_published(host: HostKit) -> None:
    certificate = issued(host)
    client = host.client()
    keys = client.get("/.well-known/jwks.json")
    assert keys.status_code == 200 and keys.headers["cache-control"].startswith("public")
    key_set = KeySet.import_key_set(keys.json())
    verified = jose_jws.deserialize_compact(certificate.credential, key_set, algorithms=["EdDSA"])
    document = json.loads(verified.payload)
    assert client.get(f"/ecert/issuers/{SAMR}/jwks.json").json() == keys.json()
    assert client.get(f"/ecert/issuers/{HEALTH}/jwks.json").status_code == 404
    url = document["credentialStatus"][0]["statusListCredential"]
    listed = client.get(url.removeprefix("http://127.0.0.1:8000"))
    assert listed.status_code == 200 and listed.headers["content-type"] == "application/vc+jwt"
    assert jose_jws.deserialize_compact(listed.text, key_set, algorithms=["EdDSA"])
    assert client.get(f"/ecert/status/{SAMR}/0/nonsense").status_code == 404
    assert client.get(f"/ecert/status/{SAMR}/x/revocation").status_code == 404


def test_the_verification_api_answers_every_input(host: HostKit) -> None:
    certificate = issued(host)
    client = host.client()
    ok = client.post("/api/v1/certificates/verify", json={"document": certificate.credential})
    assert ok.status_code == 200 and ok.json()["valid"] is True
    assert ok.json()["status"] == "valid" and ok.json()["label"] == "核验通过"
    header, payload, signature = certificate.credential.split(".")
    forged = f"{header}.{payload}.{'A' + signature[1:]}"
    bad = client.post("/api/v1/certificates/verify", json={"document": forged}).json()
    assert bad["valid"] is False and bad["reason"] == "signature_invalid"
    other = client.post("/api/v1/certificates/verify", json={"document": "WIFI:S:cafe;;"}).json()
    assert other["valid"] is False and other["reason"] == "not_recognised"
    by_id = client.post("/api/v1/certificates/verify", json={"document": str(certificate.id)})
    assert by_id.json()["valid"] is True and by_id.json()["certificate_id"] == str(certificate.id)
    assert client.post("/api/v1/certificates/verify", json={}).status_code == 422


def test_the_public_page_and_a_scanned_qr_code(host: HostKit) -> None:
    certificate = issued(host)
    client = host.client()
    page = client.get("/verify", params={"q": str(certificate.id)})
    assert page.status_code == 200 and "核验通过" in page.text and "食品经营许可证" in page.text
    assert client.get("/verify").status_code == 200
    broken = client.get("/verify", params={"q": "EC1:%%%"})
    assert broken.status_code == 200 and "二维码已损坏" in broken.text
    scanned = certificate.qr_payload.removeprefix("HTTP://127.0.0.1:8000")
    assert scanned.startswith("/ECERT/V/")
    assert "核验通过" in client.get(scanned).text
    approver = host.platform.session(
        govsvc.Principal.approver("a-1", "孙丽", department=SAMR, auth=_login())
    )
    approver.certificates.revoke(certificate.id, reason="以欺骗手段取得许可")
    after = client.get(f"/ecert/v/{certificate.id}")  # the lower-case form routes too
    assert "已吊销或注销" in after.text and "核验通过" not in after.text


def test_the_holders_pages(host: HostKit) -> None:
    certificate = issued(host)
    zhang = host.client("zhangwei")
    mine = zhang.get("/account/certificates")
    assert mine.status_code == 200 and certificate.certificate.number in mine.text
    page = zhang.get(f"/certificates/{certificate.id}")
    assert page.status_code == 200 and "<svg" in page.text and "经营场所" in page.text
    printed = zhang.get(f"/certificates/{certificate.id}/print")
    assert printed.status_code == 200 and certificate.certificate.number in printed.text
    pdf = zhang.get(f"/certificates/{certificate.id}/pdf")
    assert (pdf.status_code, pdf.headers["content-type"].split(";")[0]) in (
        (200, "application/pdf"),
        (503, "text/html"),
    )
    if pdf.status_code == 200:
        assert pdf.content.startswith(b"%PDF")
    other = host.client("lina")
    assert other.get(f"/certificates/{certificate.id}").status_code == 403
    assert host.client().get(f"/certificates/{certificate.id}").status_code in (302, 303, 401)


def test_a_server_without_a_chinese_font_says_so_and_offers_the_print_page(
    host: HostKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found on a fresh machine without fonts: the 503 page itself failed to render (500)."""
    from govsvc_host.web import certificates as pages

    def no_font(*_args: object, **_kw: object) -> bytes:
        raise govsvc.ecert.FontMissing("no CJK font found for the PDF: install one")

    monkeypatch.setattr(pages, "render_pdf", no_font)
    certificate = issued(host)
    pdf = host.client("zhangwei").get(f"/certificates/{certificate.id}/pdf")
    assert pdf.status_code == 503, pdf.text[:300]
    assert "请使用打印页面" in pdf.text and "install one" in pdf.text


def _login() -> govsvc.Authentication:
    return govsvc.Authentication(provider="test", assurance=govsvc.Assurance.L3)
