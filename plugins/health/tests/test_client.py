"""HealthClient against canned answers (pytest-httpx, strict defaults)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_health.client import (
    BEIJING,
    DEPARTMENT_CREDIT_CODE,
    HealthClient,
    ParentRecord,
    PersonRecord,
    Sex,
)
from pytest_httpx import HTTPXMock

from govsvc import AdapterProtocolError, AdapterUnavailable

BASE = "http://health.test"
SUN_YUE = "230103202401050029"
CHEN_JING = "23011019950630088X"
LIU_YANG = "230109198801150175"
T = TypeVar("T")


def call(
    action: Callable[[HealthClient], Awaitable[T]], *, token: str | None = None, page_size: int = 50
) -> T:
    async def go() -> T:
        async with HealthClient(BASE, token=token, timeout=1.0, page_size=page_size) as client:
            return await action(client)

    return asyncio.run(go())


def ok(data: Any) -> dict[str, Any]:
    return {"code": 200, "msg": "操作成功", "data": data}


def page(rows: list[dict[str, Any]], total: int) -> dict[str, Any]:
    return {"code": 200, "msg": "查询成功", "total": total, "rows": rows}


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
        "taskId": "WJRW00000003",
        "idempotencyKey": "task-1",
        "caseId": "case-1",
        "itemCode": "ITEM",
        "applicantIdCard": CHEN_JING,
        "status": status,
        "createTime": "2026-11-20 09:00:00",
        "remark": None,
        "auditor": None,
        "auditTime": None,
        "certNo": None,
    }
    if status != "PENDING":
        data.update(remark="核验无误", auditor="王审核", auditTime="2026-11-21 10:00:00")
    data.update(changes)
    return data


# -- lookups -------------------------------------------------------------------------------


def test_profile_is_parsed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="GET",
        url=f"{BASE}/api/v1/persons/{CHEN_JING}",
        json=ok({"idCard": CHEN_JING, "name": "陈静", "sex": "女", "birthDate": "1995-06-30"}),
    )
    assert call(lambda c: c.profile(CHEN_JING.lower())) == PersonRecord(
        id_number=CHEN_JING, name="陈静", sex=Sex.FEMALE, birth_date=dt.date(1995, 6, 30)
    )


def test_profile_not_found_is_none(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/persons/{CHEN_JING}",
        status_code=404,
        json={"code": 404, "msg": "未查询到"},
    )
    assert call(lambda c: c.profile(CHEN_JING)) is None


def test_bearer_token_is_sent(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/persons/{CHEN_JING}",
        match_headers={"Authorization": "Bearer t0ken"},
        status_code=404,
        json={"code": 404, "msg": "未查询到"},
    )
    assert call(lambda c: c.profile(CHEN_JING), token="t0ken") is None


def test_certificates_of_a_child(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="GET",
        url=f"{BASE}/api/v1/birth-certificates",
        match_params={"newbornIdCard": SUN_YUE, "pageNum": "1", "pageSize": "50"},
        json=page([certificate_json()], total=1),
    )
    [certificate] = call(lambda c: c.certificates(SUN_YUE))
    assert certificate.number == "Q230123456"
    assert certificate.newborn_sex is Sex.FEMALE
    assert certificate.born_at == dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING)
    assert certificate.mother == ParentRecord("陈静", CHEN_JING)
    assert certificate.father == ParentRecord("刘洋", LIU_YANG)
    assert dict(certificate.face)["出生时间"] == "2024年01月05日08时26分"


def test_certificates_are_read_page_by_page(httpx_mock: HTTPXMock) -> None:
    second = certificate_json(certNo="Q230123999", newbornName="刘小雨", newbornIdCard=None)
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/birth-certificates",
        match_params={"parentIdCard": LIU_YANG, "pageNum": "1", "pageSize": "1"},
        json=page([certificate_json()], total=2),
    )
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/birth-certificates",
        match_params={"parentIdCard": LIU_YANG, "pageNum": "2", "pageSize": "1"},
        json=page([second], total=2),
    )
    certificates = call(lambda c: c.certificates_as_parent(LIU_YANG), page_size=1)
    assert [c.number for c in certificates] == ["Q230123456", "Q230123999"]
    assert certificates[1].newborn_id is None


def test_short_paging_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/birth-certificates",
        match_params={"parentIdCard": LIU_YANG, "pageNum": "1", "pageSize": "50"},
        json=page([certificate_json()], total=3),
    )
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/birth-certificates",
        match_params={"parentIdCard": LIU_YANG, "pageNum": "2", "pageSize": "50"},
        json=page([], total=3),
    )
    with pytest.raises(AdapterProtocolError, match="only 1 of 3 rows") as caught:
        call(lambda c: c.certificates_as_parent(LIU_YANG))
    assert caught.value.path == "$.rows"


def test_no_certificates_is_empty(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=page([], total=0))
    assert call(lambda c: c.certificates(CHEN_JING)) == []


def test_certificate_without_father(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/birth-certificates/Q230123456",
        json=ok(certificate_json(fatherName=None, fatherIdCard=None)),
    )
    certificate = call(lambda c: c.certificate("q230123456"))
    assert certificate is not None
    assert certificate.father is None


def test_unknown_certificate_is_none(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/birth-certificates/Q000000000",
        status_code=404,
        json={"code": 404, "msg": "未查询到"},
    )
    assert call(lambda c: c.certificate("Q000000000")) is None


# -- review tasks --------------------------------------------------------------------------


def test_open_review_sends_the_idempotency_key(httpx_mock: HTTPXMock) -> None:
    form = {"newbornName": "刘小雨", "newbornSex": "女"}
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks",
        match_headers={"Idempotency-Key": "task-1"},
        match_json={
            "caseId": "case-1",
            "itemCode": "ITEM",
            "applicantIdCard": CHEN_JING,
            "taskType": "CERTIFICATE",
            "form": form,
        },
        status_code=201,
        json=ok(task_json("PENDING")),
    )
    ticket = call(lambda c: c.open_review("task-1", "case-1", "ITEM", CHEN_JING, form))
    assert ticket.legacy_task_id == "WJRW00000003"
    assert ticket.task_id == "task-1"
    assert ticket.opened_at == dt.datetime(2026, 11, 20, 9, tzinfo=BEIJING)


def test_open_review_for_another_key_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok(task_json("PENDING", idempotencyKey="other")))
    with pytest.raises(AdapterProtocolError) as caught:
        call(lambda c: c.open_review("task-1", "case-1", "ITEM", CHEN_JING, {}))
    assert caught.value.path == "$.data.idempotencyKey"


def test_poll_pending_is_none(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/review-tasks/WJRW00000003", json=ok(task_json("PENDING"))
    )
    assert call(lambda c: c.poll_review("WJRW00000003")) is None


@pytest.mark.parametrize(
    ("status", "approved"), [("APPROVED", True), ("REJECTED", False), ("ISSUED", True)]
)
def test_poll_decided(httpx_mock: HTTPXMock, status: str, approved: bool) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/review-tasks/WJRW00000003", json=ok(task_json(status))
    )
    decision = call(lambda c: c.poll_review("WJRW00000003"))
    assert decision is not None
    assert decision.approved is approved
    assert decision.reason == "核验无误"
    assert decision.reviewer == "王审核"


def test_rejection_without_remark_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok(task_json("REJECTED", remark="")))
    with pytest.raises(AdapterProtocolError, match="non-empty") as caught:
        call(lambda c: c.poll_review("WJRW00000003"))
    assert caught.value.path == "$.data.remark"


def test_decide_review_sends_the_verdict(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks/WJRW00000003/decision",
        match_json={"approved": True, "remark": "", "auditor": "王审核"},
        json=ok(task_json("APPROVED")),
    )
    decision = call(lambda c: c.decide_review("WJRW00000003", approve=True, reviewer="王审核"))
    assert decision.approved


def test_issue_result_returns_the_certificate(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks/WJRW00000003/issue",
        status_code=201,
        json=ok(certificate_json(certNo="Q230123457", newbornIdCard=None)),
    )
    certificate = call(lambda c: c.issue_result("WJRW00000003"))
    assert certificate.number == "Q230123457"
    assert certificate.newborn_id is None


# -- failures ------------------------------------------------------------------------------


def test_timeout_is_unavailable(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"))
    with pytest.raises(AdapterUnavailable, match=r"did not answer within 1 s") as caught:
        call(lambda c: c.profile(CHEN_JING))
    assert caught.value.department == DEPARTMENT_CREDIT_CODE
    assert caught.value.operation == "profile"


def test_refused_connection_is_unavailable(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(AdapterUnavailable, match="Connection refused") as caught:
        call(lambda c: c.certificates(SUN_YUE))
    assert caught.value.operation == "certificates"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_server_errors_are_unavailable(httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(status_code=status, text="<html>503 Service Temporarily Unavailable")
    with pytest.raises(AdapterUnavailable, match=f"HTTP {status}"):
        call(lambda c: c.issue_result("WJRW00000003"))


def test_wrong_token_says_so(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        status_code=401, json={"code": 401, "msg": "认证失败，无法访问系统资源"}
    )
    with pytest.raises(AdapterProtocolError, match=r"HTTP 401 \(code 401.*bearer token"):
        call(lambda c: c.profile(CHEN_JING), token="wrong")


def test_conflict_names_status_and_message(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=409, json={"code": 409, "msg": "审核通过后才能签发"})
    with pytest.raises(AdapterProtocolError, match=r"HTTP 409 \(code 409: 审核通过后才能签发"):
        call(lambda c: c.issue_result("WJRW00000003"))


def test_error_code_inside_a_200_answer_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    # Such back offices often answer HTTP 200 and put the failure in "code".
    httpx_mock.add_response(json={"code": 500, "msg": "空指针异常"})
    with pytest.raises(AdapterProtocolError, match="error code 500: 空指针异常") as caught:
        call(lambda c: c.profile(CHEN_JING))
    assert caught.value.path == "$.code"


def test_body_that_is_not_json_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(text="<html>维护中</html>")
    with pytest.raises(AdapterProtocolError, match="not JSON") as caught:
        call(lambda c: c.certificate("Q230123456"))
    assert caught.value.path == "$"


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"certNo": "230123456"}, "$.data.certNo", "birth certificate number"),
        ({"newbornSex": "F"}, "$.data.newbornSex", "'男' or '女'"),
        ({"birthTime": "05/01/2024"}, "$.data.birthTime", "YYYY-MM-DD HH:MM:SS"),
        ({"weight": "3250"}, "$.data.weight", "an integer"),
        ({"weight": True}, "$.data.weight", "an integer"),
        ({"motherIdCard": None}, "$.data.motherIdCard", "missing"),
        ({"fatherIdCard": None}, "$.data.fatherIdCard", "missing"),
        ({"issueDate": "2023-12-31"}, "$.data", "before the birth"),
    ],
)
def test_malformed_certificate_names_the_bad_field(
    httpx_mock: HTTPXMock, changes: dict[str, Any], path: str, message: str
) -> None:
    httpx_mock.add_response(json=ok(certificate_json(**changes)))
    with pytest.raises(AdapterProtocolError, match=message) as caught:
        call(lambda c: c.certificate("Q230123456"))
    assert caught.value.path == path


def test_malformed_row_names_its_index(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=page([certificate_json(), {"certNo": 5}], total=2))
    with pytest.raises(AdapterProtocolError, match="a string") as caught:
        call(lambda c: c.certificates(SUN_YUE))
    assert caught.value.path == "$.rows[1].certNo"


def test_health(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/health", json=ok({"status": "UP"}))
    httpx_mock.add_response(url=f"{BASE}/health", status_code=503)
    httpx_mock.add_exception(httpx.ConnectTimeout("slow"), url=f"{BASE}/health")
    assert call(lambda c: c.health()) is True
    assert call(lambda c: c.health()) is False
    assert call(lambda c: c.health()) is False


def test_page_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="page_size"):
        HealthClient(BASE, page_size=0)
