"""HrssAdapter and the plugin against canned answers (pytest-httpx, strict defaults)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_hrss import plugin
from govsvc_hrss.adapter import DENIAL_BASIS, HrssAdapter, HrssConfig
from govsvc_hrss.client import DEPARTMENT
from pytest_httpx import HTTPXMock

import govsvc
from govsvc import (
    AdapterProtocolError,
    AdapterUnavailable,
    CertificateRecord,
    InvalidInput,
    IssuedResult,
    PartyKey,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
)
from govsvc.testing import clerk_for

BASE = "http://hrss.test"
ZHANG = PartyKey.of("230103198503120316")
LI_NA = PartyKey.of("230104199208090266")
DUMPLINGS = PartyKey.of("91230103MA1BX4K238")
T = TypeVar("T")

PERSON: dict[str, Any] = {
    "idNumber": ZHANG.number,
    "name": "张伟",
    "sex": "男",
    "birthDate": "1985-03-12",
    "address": "黑龙江省哈尔滨市南岗区学府路52号",
    "employer": {"creditCode": "91230103MA1BX4K238", "name": "哈尔滨市冰城饺子馆有限公司"},
    "insurances": [
        {
            "type": "110",
            "typeName": "企业职工基本养老保险",
            "status": "参保缴费",
            "since": "2016-04-01",
        },
        {"type": "210", "typeName": "失业保险", "status": "暂停缴费", "since": "2016-04-01"},
    ],
}


def card(number: str, status: str = "正常", issued_on: str = "2021-09-10") -> dict[str, Any]:
    return {
        "cardNumber": number,
        "socialSecurityNumber": ZHANG.number,
        "holderName": "张伟",
        "bank": "中国工商银行哈尔滨分行",
        "issuedOn": issued_on,
        "status": status,
    }


def page(*items: dict[str, Any]) -> dict[str, Any]:
    return {"items": list(items), "page": 1, "size": 50, "total": len(items)}


def adapter() -> HrssAdapter:
    return HrssAdapter(HrssConfig(base_url=BASE, client_id="govsvc", client_secret="secret"))


def run(call: Callable[[HrssAdapter], Awaitable[T]]) -> T:
    async def main() -> T:
        hrss = adapter()
        try:
            return await call(hrss)
        finally:
            await hrss.aclose()

    return asyncio.run(main())


def add_token(httpx_mock: HTTPXMock, **options: Any) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/oauth/token",
        match_content=b"grant_type=client_credentials&client_id=govsvc&client_secret=secret",
        json={"access_token": "tok1", "token_type": "Bearer", "expires_in": 3600},
        **options,
    )


def add_api(
    httpx_mock: HTTPXMock,
    path: str,
    *,
    method: str = "GET",
    params: dict[str, str] | None = None,
    **response: Any,
) -> None:
    headers = {"Authorization": "Bearer tok1"} | response.pop("match_headers", {})
    httpx_mock.add_response(
        method=method,
        url=httpx.URL(f"{BASE}{path}", params=params),
        match_headers=headers,
        **response,
    )


def add_cards(httpx_mock: HTTPXMock, holder: str = ZHANG.number, **response: Any) -> None:
    params = {"holder": holder, "page": "1", "size": "50"}
    add_api(httpx_mock, "/api/cards", params=params, **response)


def request(**changes: Any) -> ReviewRequest:
    fields: dict[str, Any] = {
        "task_id": "T-1",
        "case_id": "C-1",
        "tracking_code": "2301000000000001",
        "item_code": "11230100003109212K3002005001000",
        "stage": 1,
        "applicant": PartyKey.of("23011019950630088X"),
        "applicant_name": "陈静",
        "form": {"holderIdNumber": "230103202401050029", "name": "孙悦"},
        "materials": ("M01", "M02"),
    }
    return ReviewRequest(**(fields | changes))


TICKET = ReviewTicket(task_id="T-1", legacy_id="RS0000000001", case_id="C-1")
TASK = {
    "legacyTaskId": "RS0000000001",
    "taskId": "T-1",
    "status": "PENDING",
    "createdAt": "2024-01-06T09:00:00+08:00",
}


# -- profile --------------------------------------------------------------------------------


def test_profile_maps_person_insurance_and_the_card_in_use(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, f"/api/persons/{ZHANG.number}", json=PERSON)
    add_cards(
        httpx_mock,
        json=page(card("H10023456", "注销", "2012-06-15"), card("H30188412", "正常")),
    )

    attributes = run(lambda hrss: hrss.profile(ZHANG))

    assert attributes == {
        "name": "张伟",
        "sex": "male",
        "birth_date": "1985-03-12",
        "address": "黑龙江省哈尔滨市南岗区学府路52号",
        "employer": "哈尔滨市冰城饺子馆有限公司",
        "employer_credit_code": "91230103MA1BX4K238",
        "insured_status": "paying",
        "insurances": [
            {
                "type": "110",
                "name": "企业职工基本养老保险",
                "status": "paying",
                "since": "2016-04-01",
            },
            {"type": "210", "name": "失业保险", "status": "paused", "since": "2016-04-01"},
        ],
        "social_security_card": "H30188412",
        "social_security_card_status": "valid",
    }


def test_a_self_employed_person_without_a_card_in_use(httpx_mock: HTTPXMock) -> None:
    person = PERSON | {
        "employer": None,
        "insurances": [
            {
                "type": "110",
                "typeName": "企业职工基本养老保险",
                "status": "终止参保",
                "since": "2015-01-01",
            },
        ],
    }
    add_token(httpx_mock)
    add_api(httpx_mock, f"/api/persons/{ZHANG.number}", json=person)
    add_cards(httpx_mock, json=page(card("H10023456", "注销")))

    attributes = run(lambda hrss: hrss.profile(ZHANG))

    assert attributes is not None
    assert attributes["insured_status"] == "ended"
    assert "employer" not in attributes
    assert "social_security_card" not in attributes


def test_profile_of_an_unknown_person_is_none(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        f"/api/persons/{ZHANG.number}",
        status_code=404,
        json={"error": "person_not_found"},
    )

    assert run(lambda hrss: hrss.profile(ZHANG)) is None


def test_profile_of_an_employer_counts_its_insured(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    employee = {
        "idNumber": ZHANG.number,
        "name": "张伟",
        "insuranceTypes": ["110"],
        "since": "2016-04-01",
    }
    add_api(
        httpx_mock,
        f"/api/employers/{DUMPLINGS.number}/insured",
        params={"page": "1", "size": "50"},
        json=page(employee, employee | {"idNumber": LI_NA.number, "name": "李娜"}),
    )

    assert run(lambda hrss: hrss.profile(DUMPLINGS)) == {"insured_employees": 2}


def test_an_unknown_employer_and_other_documents_give_nothing(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        f"/api/employers/{DUMPLINGS.number}/insured",
        params={"page": "1", "size": "50"},
        status_code=404,
        json={"error": "not_found"},
    )
    passport = PartyKey(doc_type=govsvc.DocumentType.PASSPORT, number="E12345678")

    assert run(lambda hrss: hrss.profile(DUMPLINGS)) is None
    assert run(lambda hrss: hrss.profile(passport)) is None  # no call
    assert run(lambda hrss: hrss.certificates(DUMPLINGS)) == []  # no call


def test_an_answer_about_another_person_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, f"/api/persons/{ZHANG.number}", json=PERSON | {"idNumber": LI_NA.number})

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda hrss: hrss.profile(ZHANG))

    assert caught.value.path == "$.idNumber"
    assert ZHANG.number not in str(caught.value)


# -- certificates ---------------------------------------------------------------------------


def test_certificates_are_every_card_with_its_status(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_cards(
        httpx_mock,
        json=page(card("H10023456", "注销", "2012-06-15"), card("H30188412", "挂失")),
    )

    records = run(lambda hrss: hrss.certificates(ZHANG))

    assert records == [
        CertificateRecord(
            type_name="社会保障卡",
            number="H10023456",
            holder_name="张伟",
            holder_number=ZHANG.number,
            issuer="哈尔滨市人力资源和社会保障局",
            issued_on=dt.date(2012, 6, 15),
            status="cancelled",
            data={"bank": "中国工商银行哈尔滨分行", "status_label": "注销"},
        ),
        CertificateRecord(
            type_name="社会保障卡",
            number="H30188412",
            holder_name="张伟",
            holder_number=ZHANG.number,
            issuer="哈尔滨市人力资源和社会保障局",
            issued_on=dt.date(2021, 9, 10),
            status="reported_lost",
            data={"bank": "中国工商银行哈尔滨分行", "status_label": "挂失"},
        ),
    ]


def test_certificates_of_an_unknown_holder_are_empty(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_cards(httpx_mock, status_code=404, json={"error": "holder_not_found"})

    assert run(lambda hrss: hrss.certificates(ZHANG)) == []


def test_someone_elses_card_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_cards(
        httpx_mock,
        json=page(card("H30188412"), card("H30155630") | {"socialSecurityNumber": LI_NA.number}),
    )

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda hrss: hrss.certificates(ZHANG))

    assert caught.value.path == "$.items[1].socialSecurityNumber"
    assert caught.value.operation == "certificates"


# -- review tasks ---------------------------------------------------------------------------


def test_open_review_sends_the_idempotency_key_and_a_flat_form(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    form = {
        "holderIdNumber": "230103202401050029",
        "urgent": True,
        "note": None,
        "birthDate": dt.date(2024, 1, 5),
        "photo": {"sha256": "ab"},
    }
    add_api(
        httpx_mock,
        "/api/review-tasks",
        method="POST",
        match_headers={"Idempotency-Key": "T-1"},
        match_json={
            "taskId": "T-1",
            "caseId": "C-1",
            "itemCode": "11230100003109212K3002005001000",
            "applicantId": "23011019950630088X",
            "form": {
                "holderIdNumber": "230103202401050029",
                "urgent": "true",
                "birthDate": "2024-01-05",
                "photo": '{"sha256": "ab"}',
            },
        },
        status_code=201,
        json=TASK,
    )

    assert run(lambda hrss: hrss.open_review(request(form=form))) == "RS0000000001"


def test_open_review_answered_for_another_task_is_a_protocol_error(
    httpx_mock: HTTPXMock,
) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, "/api/review-tasks", method="POST", json=TASK | {"taskId": "T-9"})

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda hrss: hrss.open_review(request()))

    assert caught.value.path == "$.taskId"


def test_a_reused_task_id_with_other_content_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/review-tasks",
        method="POST",
        status_code=409,
        json={"error": "idempotency_conflict", "message": "任务号 T-1 已用于内容不同的申请"},
    )

    with pytest.raises(AdapterProtocolError, match="HTTP 409"):
        run(lambda hrss: hrss.open_review(request()))


def test_poll_review_pending_approved_and_denied(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    decided = {"reason": "", "decidedAt": "2024-01-07T10:00:00+08:00"}
    for answer in (
        TASK,
        TASK | decided | {"status": "APPROVED", "reason": "参保信息核验通过"},
        TASK | decided | {"status": "DENIED"},
    ):
        add_api(httpx_mock, "/api/review-tasks/RS0000000001", json=answer)

    async def three_polls(hrss: HrssAdapter) -> list[ReviewOutcome | None]:
        return [await hrss.poll_review(TICKET) for _ in range(3)]

    pending, approved, denied = run(three_polls)

    assert pending is None
    assert approved == ReviewOutcome(approved=True, reason="参保信息核验通过")
    assert denied is not None and not denied.approved
    assert "未说明理由" in denied.reason
    assert denied.basis == DENIAL_BASIS


def test_poll_review_answered_for_another_task_is_a_protocol_error(
    httpx_mock: HTTPXMock,
) -> None:
    add_token(httpx_mock)
    answer = TASK | {
        "legacyTaskId": "RS0000000002",
        "status": "APPROVED",
        "decidedAt": "2024-01-07T10:00:00+08:00",
    }
    add_api(httpx_mock, "/api/review-tasks/RS0000000001", json=answer)

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda hrss: hrss.poll_review(TICKET))

    assert caught.value.path == "$.legacyTaskId"


def test_issue_result_returns_the_card(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    newborn = card("H30200009", issued_on="2024-01-08") | {
        "socialSecurityNumber": "230103202401050029",
        "holderName": "孙悦",
    }
    add_api(httpx_mock, "/api/review-tasks/RS0000000001/issue", method="POST", json=newborn)

    assert run(lambda hrss: hrss.issue_result(TICKET)) == IssuedResult(
        name="社会保障卡",
        number="H30200009",
        data={
            "social_security_number": "230103202401050029",
            "holder_name": "孙悦",
            "bank": "中国工商银行哈尔滨分行",
            "issued_on": "2024-01-08",
            "status": "valid",
        },
    )


def test_issuing_an_undecided_task_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/review-tasks/RS0000000001/issue",
        method="POST",
        status_code=409,
        json={"error": "not_approved", "message": "申请审核中，不能制卡"},
    )

    with pytest.raises(AdapterProtocolError, match="not_approved"):
        run(lambda hrss: hrss.issue_result(TICKET))


def test_health(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", url=f"{BASE}/health", json={"status": "UP"})
    httpx_mock.add_response(method="GET", url=f"{BASE}/health", json={"status": "DOWN"})

    assert run(lambda hrss: hrss.health()) is True
    assert run(lambda hrss: hrss.health()) is False


# -- failures -------------------------------------------------------------------------------

PERSON_URL = f"{BASE}/api/persons/{ZHANG.number}"


def failing(httpx_mock: HTTPXMock, kind: str) -> None:
    if kind == "token timeout":
        httpx_mock.add_exception(
            httpx.ConnectTimeout("connect timed out"), url=f"{BASE}/oauth/token"
        )
        return
    add_token(httpx_mock)
    if kind == "timeout":
        httpx_mock.add_exception(httpx.ReadTimeout("read timed out"), url=PERSON_URL)
    elif kind == "refused":
        httpx_mock.add_exception(httpx.ConnectError("connection refused"), url=PERSON_URL)
    elif kind == "5xx":
        httpx_mock.add_response(url=PERSON_URL, status_code=502, text="Bad gateway")
    elif kind == "429":
        httpx_mock.add_response(url=PERSON_URL, status_code=429, headers={"Retry-After": "3"})
    elif kind == "4xx":
        httpx_mock.add_response(url=PERSON_URL, status_code=403, json={"error": "forbidden"})
    elif kind == "not json":
        httpx_mock.add_response(url=PERSON_URL, text="<html>maintenance</html>")
    elif kind == "missing field":
        httpx_mock.add_response(
            url=PERSON_URL, json={k: v for k, v in PERSON.items() if k != "birthDate"}
        )
    elif kind == "wrong type":
        insurances = [PERSON["insurances"][0], PERSON["insurances"][1] | {"since": 20160401}]
        httpx_mock.add_response(url=PERSON_URL, json=PERSON | {"insurances": insurances})


@pytest.mark.parametrize("kind", ["token timeout", "timeout", "refused", "5xx", "429"])
def test_an_unreachable_or_failing_api_is_unavailable(httpx_mock: HTTPXMock, kind: str) -> None:
    failing(httpx_mock, kind)

    with pytest.raises(AdapterUnavailable) as caught:
        run(lambda hrss: hrss.profile(ZHANG))

    assert caught.value.department == DEPARTMENT
    assert caught.value.operation == "profile"


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("4xx", "$"),
        ("not json", "$"),
        ("missing field", "$.birthDate"),
        ("wrong type", "$.insurances[1].since"),
    ],
)
def test_a_refused_or_malformed_answer_is_a_protocol_error_with_its_path(
    httpx_mock: HTTPXMock, kind: str, path: str
) -> None:
    failing(httpx_mock, kind)

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda hrss: hrss.profile(ZHANG))

    assert caught.value.path == path
    assert caught.value.department == DEPARTMENT
    assert caught.value.operation == "profile"


# -- configuration and event loops ----------------------------------------------------------


def test_config_from_the_environment() -> None:
    config = HrssConfig.from_env(
        {
            "GOVSVC_HRSS_URL": "https://rsj.example/api-gw",
            "GOVSVC_HRSS_CLIENT_ID": "platform",
            "GOVSVC_HRSS_CLIENT_SECRET": "s3cret",
            "GOVSVC_HRSS_TIMEOUT": "2.5",
        }
    )

    assert config == HrssConfig(
        base_url="https://rsj.example/api-gw",
        client_id="platform",
        client_secret="s3cret",
        timeout=2.5,
    )
    assert "s3cret" not in repr(config)
    assert HrssConfig.from_env({}) == HrssConfig(
        base_url="http://127.0.0.1:8103",
        client_id="govsvc",
        client_secret="hrss-sim-secret",
        timeout=5.0,
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GOVSVC_HRSS_TIMEOUT": "soon"}, "GOVSVC_HRSS_TIMEOUT must be a number of seconds"),
        ({"GOVSVC_HRSS_TIMEOUT": "-1"}, "timeout must be a number of seconds above 0"),
        ({"GOVSVC_HRSS_URL": "rsj.example"}, "base_url must be an http"),
    ],
)
def test_bad_configuration_says_what_to_fix(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        HrssConfig.from_env(environ)


def test_the_client_is_created_on_first_use_in_each_event_loop(httpx_mock: HTTPXMock) -> None:
    # Each loop has its own client, so its own token: three token requests for three loops.
    add_token(httpx_mock, is_reusable=True)
    add_cards(httpx_mock, json=page(card("H30188412")), is_reusable=True)
    hrss = adapter()
    assert not hrss._clients  # building the adapter opens nothing

    assert len(asyncio.run(hrss.certificates(ZHANG))) == 1
    assert len(asyncio.run(hrss.certificates(ZHANG))) == 1
    found: list[int] = []
    thread = threading.Thread(
        target=lambda: found.append(len(asyncio.run(hrss.certificates(ZHANG))))
    )
    thread.start()
    thread.join(10)

    assert found == [1]
    tokens = [r for r in httpx_mock.get_requests() if r.url.path == "/oauth/token"]
    assert len(tokens) == 3


# -- the plugin -----------------------------------------------------------------------------


def test_the_plugin_is_declared_as_a_govsvc_entry_point() -> None:
    (entry,) = [ep for ep in metadata.entry_points(group="govsvc") if ep.name == "hrss"]

    assert entry.value == "govsvc_hrss.plugin"
    assert entry.load() is plugin


def test_the_plugin_declares_the_bureau_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVSVC_HRSS_URL", "http://10.0.0.8:9000")
    monkeypatch.setenv("GOVSVC_HRSS_CLIENT_SECRET", "from-env")
    monkeypatch.setenv("GOVSVC_HRSS_TIMEOUT", "4")

    (department,) = plugin.govsvc_departments()

    assert department.code == DEPARTMENT
    assert department.name == "哈尔滨市人力资源和社会保障局"
    assert department.division == "230100"
    assert department.authoritative_for == ("social_security_card", "insured_status")
    assert department.timeout == 4.0
    assert isinstance(department.adapter, HrssAdapter)
    assert department.adapter.config.base_url == "http://10.0.0.8:9000"
    assert department.adapter.config.client_secret == "from-env"
    assert department.operations == (
        "profile",
        "certificates",
        "open_review",
        "poll_review",
        "issue_result",
        "health",
    )


def test_a_platform_with_the_plugin_identifies_from_the_bureau(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOVSVC_HRSS_URL", BASE)
    monkeypatch.setenv("GOVSVC_HRSS_CLIENT_SECRET", "secret")
    add_token(httpx_mock)
    add_api(httpx_mock, f"/api/persons/{ZHANG.number}", json=PERSON)
    add_cards(httpx_mock, json=page(card("H30188412")))

    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'govsvc.db'}", plugins=[plugin], load_entry_points=False
    ) as platform:
        assert DEPARTMENT in platform.departments
        clerk = platform.session(clerk_for(DEPARTMENT))
        profile = clerk.parties.identify(ZHANG.number, purpose="社会保障卡申领")
        log = platform.system().departments.exchange_log(department=DEPARTMENT)

    assert profile["social_security_card"] == "H30188412"
    assert profile.attributes["social_security_card"].source == DEPARTMENT
    assert profile.attributes["social_security_card"].authoritative
    assert profile.attributes["insured_status"].authoritative
    assert profile["employer"] == "哈尔滨市冰城饺子馆有限公司"
    assert not profile.attributes["address"].authoritative  # 公安 is the source of truth
    assert [(r.operation, r.outcome) for r in log] == [("profile", "ok")]
    assert httpx_mock.get_requests()[-1].url.params["holder"] == ZHANG.number
