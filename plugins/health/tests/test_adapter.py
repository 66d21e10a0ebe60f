"""HealthAdapter and the plugin against canned answers (pytest-httpx, strict defaults)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_health import plugin
from govsvc_health.adapter import (
    BIRTH_CERTIFICATE_ITEM,
    CANCEL_REASON,
    DEFAULT_URL,
    DENIAL_BASIS,
    OPINION_DENIAL_BASIS,
    HealthAdapter,
    HealthConfig,
)
from govsvc_health.client import DEPARTMENT_CREDIT_CODE
from pytest_httpx import HTTPXMock

import govsvc
from govsvc import (
    AdapterProtocolError,
    AdapterUnavailable,
    DocumentType,
    InvalidInput,
    IssuedResult,
    PartyKey,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
)
from govsvc.testing import clerk_for

BASE = "http://health.test"
TOKEN = "wj-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SUN_YUE = "230103202401050029"
CHEN_JING = "23011019950630088X"
LIU_YANG = "230109198801150175"
WANG_XIUYING = "230102197905210428"
FOOD_LICENCE = "11230100013114525L3000176010001"
LEGACY = "WJRW00000003"
TICKET = ReviewTicket(task_id="task-1", legacy_id=LEGACY, case_id="case-1")
CERTIFICATES = f"{BASE}/api/v1/birth-certificates"
T = TypeVar("T")


def run(action: Callable[[HealthAdapter], Awaitable[T]]) -> T:
    async def go() -> T:
        adapter = HealthAdapter(HealthConfig(base_url=BASE, token=TOKEN, timeout=1.0))
        try:
            return await action(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(go())


def ok(data: Any) -> dict[str, Any]:
    return {"code": 200, "msg": "操作成功", "data": data}


def page(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"code": 200, "msg": "查询成功", "total": len(rows), "rows": rows}


NOT_FOUND = {"code": 404, "msg": "未查询到"}


def person_json(**changes: Any) -> dict[str, Any]:
    data = {"idCard": SUN_YUE, "name": "孙悦", "sex": "女", "birthDate": "2024-01-05"}
    data.update(changes)
    return data


def certificate_json(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "certNo": "Q230123456",
        "newbornName": "孙悦",
        "newbornSex": "女",
        "newbornIdCard": SUN_YUE,
        "birthTime": "2024-01-05 08:26:00",
        "birthPlace": "黑龙江省哈尔滨市南岗区",
        "hospital": "哈尔滨医科大学附属第一医院",
        "gestationalWeeks": 39,
        "weight": 3250,
        "length": 50,
        "motherName": "陈静",
        "motherIdCard": CHEN_JING,
        "fatherName": "刘洋",
        "fatherIdCard": LIU_YANG,
        "issueOrg": "哈尔滨医科大学附属第一医院",
        "issueDate": "2024-01-08",
    }
    data.update(changes)
    return data


def task_json(status: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "taskId": LEGACY,
        "idempotencyKey": "task-1",
        "caseId": "case-1",
        "itemCode": BIRTH_CERTIFICATE_ITEM,
        "applicantIdCard": CHEN_JING,
        "taskType": "CERTIFICATE",
        "status": status,
        "createTime": "2026-03-02 09:00:00",
        "remark": None,
        "auditor": None,
        "auditTime": None,
        "certNo": None,
    }
    if status != "PENDING":
        data.update(remark="核验无误", auditor="王审核", auditTime="2026-03-02 10:00:00")
    data.update(changes)
    return data


def expect_person(httpx_mock: HTTPXMock, number: str, **response: Any) -> None:
    httpx_mock.add_response(
        method="GET", url=f"{BASE}/api/v1/persons/{number}", match_headers=AUTH, **response
    )


def expect_births(httpx_mock: HTTPXMock, number: str, **response: Any) -> None:
    httpx_mock.add_response(
        method="GET",
        url=httpx.URL(CERTIFICATES, params={"newbornIdCard": number, "pageNum": 1, "pageSize": 50}),
        match_headers=AUTH,
        **response,
    )


def review_request(item_code: str, **form: Any) -> ReviewRequest:
    return ReviewRequest(
        task_id="task-1",
        case_id="case-1",
        tracking_code="HRB202603020001",
        item_code=item_code,
        stage=1,
        applicant=PartyKey.of(CHEN_JING),
        applicant_name="陈静",
        form=form,
        materials=("M01", "M02"),
    )


# -- profile ---------------------------------------------------------------------------------


def test_profile_of_a_child_includes_the_birth_certificate(httpx_mock: HTTPXMock) -> None:
    expect_person(httpx_mock, SUN_YUE, json=ok(person_json()))
    expect_births(httpx_mock, SUN_YUE, json=page([certificate_json()]))
    assert run(lambda a: a.profile(PartyKey.of(SUN_YUE))) == {
        "name": "孙悦",
        "sex": "female",
        "birth_date": "2024-01-05",
        "birth_certificate": "Q230123456",
    }


def test_profile_keeps_the_commission_s_own_spelling(httpx_mock: HTTPXMock) -> None:
    record = person_json(idCard=WANG_XIUYING, name="王秀瑛", birthDate="1979-05-21")
    expect_person(httpx_mock, WANG_XIUYING, json=ok(record))
    expect_births(httpx_mock, WANG_XIUYING, json=page([]))
    assert run(lambda a: a.profile(PartyKey.of(WANG_XIUYING))) == {
        "name": "王秀瑛",
        "sex": "female",
        "birth_date": "1979-05-21",
    }


def test_profile_from_the_certificate_alone(httpx_mock: HTTPXMock) -> None:
    expect_person(httpx_mock, SUN_YUE, status_code=404, json=NOT_FOUND)
    expect_births(httpx_mock, SUN_YUE, json=page([certificate_json()]))
    profile = run(lambda a: a.profile(PartyKey.of(SUN_YUE)))
    assert profile == {
        "name": "孙悦",
        "sex": "female",
        "birth_date": "2024-01-05",
        "birth_certificate": "Q230123456",
    }


def test_profile_of_an_unknown_person_is_none(httpx_mock: HTTPXMock) -> None:
    expect_person(httpx_mock, CHEN_JING, status_code=404, json=NOT_FOUND)
    expect_births(httpx_mock, CHEN_JING, status_code=404, json=NOT_FOUND)
    assert run(lambda a: a.profile(PartyKey.of(CHEN_JING))) is None


@pytest.mark.parametrize(
    "key",
    [PartyKey.of("91230103MA1BX4K238"), PartyKey(DocumentType.PASSPORT, "E12345678")],
    ids=["credit-code", "passport"],
)
def test_organisations_and_passports_are_unknown_without_a_call(key: PartyKey) -> None:
    assert run(lambda a: a.profile(key)) is None
    assert run(lambda a: a.certificates(key)) == []


def test_an_answer_about_another_person_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    expect_person(httpx_mock, SUN_YUE, json=ok(person_json(idCard=CHEN_JING)))
    expect_births(httpx_mock, SUN_YUE, json=page([]))
    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda a: a.profile(PartyKey.of(SUN_YUE)))
    assert caught.value.path == "$.data.idCard"
    assert caught.value.department == DEPARTMENT_CREDIT_CODE


# -- certificates ----------------------------------------------------------------------------


def test_certificates_are_the_person_s_birth_certificates(httpx_mock: HTTPXMock) -> None:
    expect_births(httpx_mock, SUN_YUE, json=page([certificate_json()]))
    [record] = run(lambda a: a.certificates(PartyKey.of(SUN_YUE)))
    assert (record.type_name, record.number, record.holder_name, record.holder_number) == (
        "出生医学证明",
        "Q230123456",
        "孙悦",
        SUN_YUE,
    )
    assert (record.issuer, record.issued_on, record.valid_until, record.status) == (
        "哈尔滨医科大学附属第一医院",
        dt.date(2024, 1, 8),
        None,
        "valid",
    )
    assert record.data["母亲姓名"] == "陈静"
    assert record.data["出生时间"] == "2024年01月05日08时26分"


def test_no_certificates_is_empty(httpx_mock: HTTPXMock) -> None:
    expect_births(httpx_mock, CHEN_JING, json=page([]))
    assert run(lambda a: a.certificates(PartyKey.of(CHEN_JING))) == []


def test_a_certificate_of_another_child_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    other = certificate_json(certNo="Q230123999", newbornIdCard=None)
    expect_births(httpx_mock, SUN_YUE, json=page([certificate_json(), other]))
    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda a: a.certificates(PartyKey.of(SUN_YUE)))
    assert caught.value.path == "$.rows[1].newbornIdCard"


# -- review tasks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item_code, task_type",
    [(BIRTH_CERTIFICATE_ITEM, "CERTIFICATE"), (FOOD_LICENCE, "OPINION")],
    ids=["own-item", "joint-review"],
)
def test_open_review_chooses_the_task_type_by_item(
    httpx_mock: HTTPXMock, item_code: str, task_type: str
) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks",
        match_headers={**AUTH, "Idempotency-Key": "task-1"},
        match_json={
            "caseId": "case-1",
            "itemCode": item_code,
            "applicantIdCard": CHEN_JING,
            "taskType": task_type,
            "form": {"newbornName": "刘小雨", "birthDay": "2026-02-26"},
        },
        status_code=201,
        json=ok(task_json("PENDING", taskType=task_type)),
    )
    request = review_request(item_code, newbornName="刘小雨", birthDay=dt.date(2026, 2, 26))
    assert run(lambda a: a.open_review(request)) == LEGACY


def test_certificate_items_can_be_configured() -> None:
    config = HealthConfig.from_env({"GOVSVC_HEALTH_CERTIFICATE_ITEMS": " a1, B2 ,"})
    assert config.certificate_items == ("A1", "B2")
    assert HealthConfig().certificate_items == (BIRTH_CERTIFICATE_ITEM,)


def test_open_review_with_an_incomplete_form_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=400, json={"code": 400, "msg": "表单缺少字段：hospital"})
    with pytest.raises(AdapterProtocolError, match="hospital"):
        run(lambda a: a.open_review(review_request(BIRTH_CERTIFICATE_ITEM)))


def test_poll_review_pending_is_none(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/review-tasks/{LEGACY}",
        match_headers=AUTH,
        json=ok(task_json("PENDING")),
    )
    assert run(lambda a: a.poll_review(TICKET)) is None


def test_poll_review_approval(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok(task_json("APPROVED")))
    assert run(lambda a: a.poll_review(TICKET)) == ReviewOutcome(
        approved=True, reason="核验无误", decided_by="王审核"
    )


@pytest.mark.parametrize(
    "task_type, basis", [("CERTIFICATE", DENIAL_BASIS), ("OPINION", OPINION_DENIAL_BASIS)]
)
def test_poll_review_rejection_gets_a_basis_for_its_kind(
    httpx_mock: HTTPXMock, task_type: str, basis: str
) -> None:
    answer = task_json("REJECTED", remark="出生信息与医院记录不符", taskType=task_type)
    httpx_mock.add_response(json=ok(answer))
    assert run(lambda a: a.poll_review(TICKET)) == ReviewOutcome(
        approved=False, reason="出生信息与医院记录不符", basis=basis, decided_by="王审核"
    )


def test_poll_review_of_a_withdrawn_task_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok(task_json("CANCELLED")))
    with pytest.raises(AdapterProtocolError, match="withdrawn") as caught:
        run(lambda a: a.poll_review(TICKET))
    assert caught.value.path == "$.data.status"


def test_poll_review_answered_for_another_task_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok(task_json("APPROVED", taskId="WJRW00000099")))
    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda a: a.poll_review(TICKET))
    assert caught.value.path == "$.data.taskId"


def test_issue_result_returns_the_certificate(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks/{LEGACY}/issue",
        match_headers=AUTH,
        status_code=201,
        json=ok(certificate_json(certNo="Q230123457", newbornIdCard=None)),
    )
    issued = run(lambda a: a.issue_result(TICKET))
    assert isinstance(issued, IssuedResult)
    assert (issued.name, issued.number, issued.valid_until) == ("出生医学证明", "Q230123457", None)
    assert issued.data["出生证编号"] == "Q230123457"
    assert issued.data["父亲姓名"] == "刘洋"


@pytest.mark.parametrize("status", ["CANCELLED", "APPROVED"])
def test_cancel_review_withdraws_or_accepts_a_decided_task(
    httpx_mock: HTTPXMock, status: str
) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks/{LEGACY}/cancel",
        match_headers=AUTH,
        match_json={"remark": CANCEL_REASON},
        json=ok(task_json(status)),
    )
    assert run(lambda a: a.cancel_review(TICKET)) is None


def test_health(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/health", json=ok({"status": "UP"}))
    httpx_mock.add_response(url=f"{BASE}/health", status_code=503, text="<html>503</html>")
    assert run(lambda a: a.health()) is True
    assert run(lambda a: a.health()) is False


# -- mapped failures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("read timed out"), httpx.ConnectError("connection refused"), 503, 429],
    ids=["timeout", "refused", "503", "429"],
)
def test_an_unreachable_or_overloaded_system_is_unavailable(
    httpx_mock: HTTPXMock, failure: Exception | int
) -> None:
    if isinstance(failure, Exception):
        httpx_mock.add_exception(failure, url=f"{BASE}/api/v1/review-tasks/{LEGACY}")
    else:
        httpx_mock.add_response(status_code=failure, text="<html>nginx</html>")
    with pytest.raises(AdapterUnavailable) as caught:
        run(lambda a: a.poll_review(TICKET))
    assert caught.value.department == DEPARTMENT_CREDIT_CODE
    assert caught.value.operation == "poll_review"


@pytest.mark.parametrize(
    "response, path, message",
    [
        ({"status_code": 401, "json": {"code": 401, "msg": "认证失败"}}, "$", "bearer token"),
        ({"status_code": 409, "json": {"code": 409, "msg": "状态冲突"}}, "$", "HTTP 409"),
        ({"text": "<html>not json</html>"}, "$", "not JSON"),
        ({"json": ok(task_json("APPROVED", auditor=None))}, "$.data.auditor", "missing"),
        ({"json": ok(task_json("DONE"))}, "$.data.status", "unknown task status"),
        ({"json": ok(task_json("APPROVED", taskType="X"))}, "$.data.taskType", "OPINION"),
        ({"json": {"code": 500, "msg": "系统异常"}}, "$.code", "500"),
    ],
    ids=["401", "409", "not-json", "missing-field", "bad-status", "bad-type", "error-code"],
)
def test_a_refused_or_malformed_answer_is_a_protocol_error_with_its_path(
    httpx_mock: HTTPXMock, response: dict[str, Any], path: str, message: str
) -> None:
    httpx_mock.add_response(**response)
    with pytest.raises(AdapterProtocolError, match=message) as caught:
        run(lambda a: a.poll_review(TICKET))
    assert caught.value.path == path
    assert caught.value.department == DEPARTMENT_CREDIT_CODE


def test_a_malformed_certificate_row_names_its_field(httpx_mock: HTTPXMock) -> None:
    expect_births(httpx_mock, SUN_YUE, json=page([certificate_json(weight="3250g")]))
    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda a: a.certificates(PartyKey.of(SUN_YUE)))
    assert caught.value.path == "$.rows[0].weight"


# -- configuration and the plugin ------------------------------------------------------------


def test_config_from_the_environment_has_a_short_default_timeout() -> None:
    assert HealthConfig.from_env({}) == HealthConfig(base_url=DEFAULT_URL, token=None, timeout=2.0)
    config = HealthConfig.from_env(
        {
            "GOVSVC_HEALTH_URL": "https://wjw.example/legacy",
            "GOVSVC_HEALTH_TOKEN": "t-1",
            "GOVSVC_HEALTH_TIMEOUT": "0.5",
        }
    )
    assert (config.base_url, config.token, config.timeout) == (
        "https://wjw.example/legacy",
        "t-1",
        0.5,
    )
    assert "t-1" not in repr(config)
    assert HealthConfig.from_env({"GOVSVC_HEALTH_TOKEN": "  "}).token is None


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"GOVSVC_HEALTH_TIMEOUT": "2s"}, "GOVSVC_HEALTH_TIMEOUT must be a number"),
        ({"GOVSVC_HEALTH_TIMEOUT": "-1"}, "above 0"),
        ({"GOVSVC_HEALTH_URL": "127.0.0.1:8104"}, "http"),
    ],
)
def test_bad_configuration_says_what_to_fix(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        HealthConfig.from_env(environ)


def test_the_client_is_created_on_first_use_in_each_event_loop(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/health", json=ok({"status": "UP"}), is_reusable=True)
    adapter = HealthAdapter(HealthConfig(base_url=BASE))
    assert not adapter._clients

    async def twice() -> tuple[bool, int]:
        first = await adapter.health()
        await adapter.health()
        count = len(adapter._clients)
        await adapter.aclose()
        return first, count

    assert asyncio.run(twice()) == (True, 1)
    assert asyncio.run(twice()) == (True, 1)
    assert len(httpx_mock.get_requests()) == 4


def test_the_plugin_is_declared_as_a_govsvc_entry_point() -> None:
    [entry] = [ep for ep in metadata.entry_points(group="govsvc") if ep.name == "health"]
    assert entry.value == "govsvc_health.plugin"
    assert entry.load() is plugin


def test_the_plugin_declares_the_commission_with_a_short_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GOVSVC_HEALTH_TIMEOUT", raising=False)
    monkeypatch.setenv("GOVSVC_HEALTH_URL", "http://10.0.0.8:9000")
    [department] = plugin.govsvc_departments()
    assert department.code == DEPARTMENT_CREDIT_CODE
    assert department.name == "哈尔滨市卫生健康委员会"
    assert department.timeout == 2.0
    assert department.authoritative_for == ("birth_certificate",)
    assert department.items == (BIRTH_CERTIFICATE_ITEM,)
    assert set(department.operations) == {
        "profile",
        "certificates",
        "open_review",
        "poll_review",
        "issue_result",
        "cancel_review",
        "health",
    }
    assert isinstance(department.adapter, HealthAdapter)
    assert department.adapter.config.base_url == "http://10.0.0.8:9000"


def test_a_platform_with_the_plugin_identifies_from_the_commission(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOVSVC_HEALTH_URL", BASE)
    monkeypatch.setenv("GOVSVC_HEALTH_TOKEN", TOKEN)
    expect_person(httpx_mock, SUN_YUE, json=ok(person_json()))
    expect_births(httpx_mock, SUN_YUE, json=page([certificate_json()]))
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'govsvc.db'}", plugins=[plugin], load_entry_points=False
    ) as platform:
        assert DEPARTMENT_CREDIT_CODE in platform.departments
        clerk = platform.session(clerk_for(DEPARTMENT_CREDIT_CODE))
        profile = clerk.parties.identify(SUN_YUE, purpose="出生登记核验")
        certificate = profile.attributes["birth_certificate"]
        assert (certificate.value, certificate.source, certificate.authoritative) == (
            "Q230123456",
            DEPARTMENT_CREDIT_CODE,
            True,
        )
        assert profile["sex"] == "female"
        assert profile.unavailable == {}
        departments = platform.system().departments
        [record] = departments.exchange_log(department=DEPARTMENT_CREDIT_CODE)
        assert (record.operation, record.outcome) == ("profile", "ok")
        assert departments.verify_exchange_log().ok
