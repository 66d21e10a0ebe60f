"""SamrClient against canned answers (pytest-httpx, strict defaults)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_samr.client import (
    DEPARTMENT_CREDIT_CODE,
    EnterpriseRecord,
    EnterpriseStatus,
    LegalRepresentativeRecord,
    LicenceKind,
    LicenceStatus,
    SamrClient,
)
from pytest_httpx import HTTPXMock

from govsvc import AdapterProtocolError, AdapterUnavailable

BASE = "http://samr.test"
KEY = "secret-key"
CODE = "91230103MA1BX4K238"
ZHANG_WEI = "230103198503120316"
AUTH = {"X-Api-Key": KEY}
T = TypeVar("T")


def call(action: Callable[[SamrClient], Awaitable[T]]) -> T:
    async def go() -> T:
        async with SamrClient(BASE, KEY, timeout=1.0) as client:
            return await action(client)

    return asyncio.run(go())


def ok(data: Any) -> dict[str, Any]:
    return {"code": "0000", "msg": "成功", "data": data}


def enterprise_json(**changes: Any) -> dict[str, Any]:
    data = {
        "uniscid": CODE,
        "entname": "哈尔滨市冰城饺子馆有限公司",
        "enttype": "有限责任公司（自然人独资）",
        "lerep": "张伟",
        "lerepCerno": ZHANG_WEI,
        "regcap": "50.000000",
        "regcapcur": "人民币",
        "dom": "黑龙江省哈尔滨市南岗区红军街15号",
        "estdate": "2019-04-18",
        "regstate": "存续",
        "regorg": "哈尔滨市南岗区市场监督管理局",
        "opscope": "餐饮服务。",
    }
    data.update(changes)
    return data


def food_licence_json(**changes: Any) -> dict[str, Any]:
    data = {
        "licType": "食品经营许可证",
        "licNo": "JY22301030012345",
        "holderName": "哈尔滨市冰城饺子馆有限公司",
        "holderCode": CODE,
        "issueOrg": "哈尔滨市市场监督管理局",
        "issueDate": "2023-05-20",
        "validFrom": "2023-05-20",
        "validTo": "2028-05-19",
        "licState": "有效",
        "items": ["热食类食品制售", "冷食类食品制售"],
        "face": {"经营者名称": "哈尔滨市冰城饺子馆有限公司", "许可证编号": "JY22301030012345"},
    }
    data.update(changes)
    return data


def task_json(status: str, **changes: Any) -> dict[str, Any]:
    data = {
        "taskId": "SCJG0000000007",
        "bizKey": "task-1",
        "caseId": "case-1",
        "itemCode": "ITEM",
        "applicantId": CODE,
        "status": status,
        "statusName": "",
        "createTime": "2026-11-20 09:00:00",
        "opinion": None,
        "reviewer": None,
        "decideTime": None,
    }
    if status != "01":
        data.update(opinion="准予许可", reviewer="李审查", decideTime="2026-11-21 15:30:00")
    data.update(changes)
    return data


# -- lookups -------------------------------------------------------------------------------


def test_enterprise_is_parsed_into_a_record(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="GET",
        url=f"{BASE}/api/v1/enterprises/{CODE}",
        match_headers=AUTH,
        json=ok(enterprise_json()),
    )
    record = call(lambda c: c.enterprise(CODE.lower()))
    assert record == EnterpriseRecord(
        credit_code=CODE,
        name="哈尔滨市冰城饺子馆有限公司",
        kind="有限责任公司（自然人独资）",
        legal_representative="张伟",
        legal_representative_id=ZHANG_WEI,
        registered_capital=Decimal("50"),
        capital_currency="人民币",
        address="黑龙江省哈尔滨市南岗区红军街15号",
        established_on=dt.date(2019, 4, 18),
        status=EnterpriseStatus.ACTIVE,
        registration_authority="哈尔滨市南岗区市场监督管理局",
        business_scope="餐饮服务。",
    )


def test_enterprise_not_found_is_none(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/enterprises/{CODE}",
        status_code=404,
        json={"code": "2001", "msg": "未查询到", "data": None},
    )
    assert call(lambda c: c.enterprise(CODE)) is None


def test_not_found_code_in_a_200_answer_is_none(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/enterprises/{CODE}", json={"code": "2001", "msg": "未查询到"}
    )
    assert call(lambda c: c.enterprise(CODE)) is None


def test_404_without_the_systems_not_found_code_is_a_protocol_error(
    httpx_mock: HTTPXMock,
) -> None:
    # A wrong base URL must not look like "this enterprise has no data".
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/enterprises/{CODE}", status_code=404, text="Not Found"
    )
    with pytest.raises(AdapterProtocolError, match=r"HTTP 404.*base URL"):
        call(lambda c: c.enterprise(CODE))


def test_profile_of_a_citizen_id_asks_for_represented_enterprises(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/persons/{ZHANG_WEI}/enterprises",
        match_headers=AUTH,
        json=ok({"cerno": ZHANG_WEI, "name": "张伟", "enterprises": [enterprise_json()]}),
    )
    record = call(lambda c: c.profile(ZHANG_WEI))
    assert isinstance(record, LegalRepresentativeRecord)
    assert record.name == "张伟"
    assert [e.credit_code for e in record.enterprises] == [CODE]


def test_profile_of_a_credit_code_asks_for_the_enterprise(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/api/v1/enterprises/{CODE}", json=ok(enterprise_json()))
    record = call(lambda c: c.profile(CODE))
    assert isinstance(record, EnterpriseRecord)
    assert record.legal_representative == "张伟"


def test_profile_of_a_person_without_enterprises_is_none(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/persons/23011019950630088X/enterprises",
        status_code=404,
        json={"code": "2001", "msg": "未查询到", "data": None},
    )
    assert call(lambda c: c.profile("23011019950630088x")) is None


def test_certificates_parse_licences(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="GET",
        url=f"{BASE}/api/v1/licences",
        match_params={"holder": CODE},
        match_headers=AUTH,
        json=ok({"total": 1, "list": [food_licence_json()]}),
    )
    [licence] = call(lambda c: c.certificates(CODE))
    assert licence.kind is LicenceKind.FOOD_BUSINESS_LICENCE
    assert licence.number == "JY22301030012345"
    assert licence.valid_until == dt.date(2028, 5, 19)
    assert licence.status is LicenceStatus.VALID
    assert licence.business_items == ("热食类食品制售", "冷食类食品制售")
    assert dict(licence.face)["许可证编号"] == "JY22301030012345"


def test_long_term_licence_has_no_end(httpx_mock: HTTPXMock) -> None:
    business = food_licence_json(licType="营业执照", licNo=CODE, validTo=None, items=[])
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/licences?holder={CODE}", json=ok({"list": [business]})
    )
    [licence] = call(lambda c: c.certificates(CODE))
    assert licence.kind is LicenceKind.BUSINESS_LICENCE
    assert licence.valid_until is None


def test_certificates_of_an_unknown_holder_are_empty(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/licences?holder={CODE}",
        status_code=404,
        json={"code": "2001", "msg": "未查询到持证主体", "data": None},
    )
    assert call(lambda c: c.certificates(CODE)) == []


# -- review tasks --------------------------------------------------------------------------


def test_open_review_sends_the_task_id_as_idempotency_key(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks",
        match_headers={**AUTH, "Idempotency-Key": "task-1"},
        match_json={
            "caseId": "case-1",
            "itemCode": "ITEM",
            "applicantId": CODE,
            "form": {"businessItems": ["热食类食品制售"]},
        },
        status_code=201,
        json=ok(task_json("01")),
    )
    form = {"businessItems": ["热食类食品制售"]}
    ticket = call(lambda c: c.open_review("task-1", "case-1", "ITEM", CODE, form))
    assert ticket.legacy_task_id == "SCJG0000000007"
    assert ticket.task_id == "task-1"
    beijing = dt.timezone(dt.timedelta(hours=8))
    assert ticket.opened_at == dt.datetime(2026, 11, 20, 9, tzinfo=beijing)


def test_open_review_answered_for_another_key_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST", url=f"{BASE}/api/v1/review-tasks", json=ok(task_json("01", bizKey="x"))
    )
    with pytest.raises(AdapterProtocolError) as caught:
        call(lambda c: c.open_review("task-1", "case-1", "ITEM", CODE, {}))
    assert caught.value.path == "$.data.bizKey"


def test_poll_review_pending_is_none(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/review-tasks/SCJG0000000007", json=ok(task_json("01"))
    )
    assert call(lambda c: c.poll_review("SCJG0000000007")) is None


@pytest.mark.parametrize(("status", "approved"), [("02", True), ("03", False), ("04", True)])
def test_poll_review_decided(httpx_mock: HTTPXMock, status: str, approved: bool) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/review-tasks/SCJG0000000007", json=ok(task_json(status))
    )
    decision = call(lambda c: c.poll_review("SCJG0000000007"))
    assert decision is not None
    assert decision.approved is approved
    assert decision.reason == "准予许可"
    assert decision.reviewer == "李审查"
    assert decision.decided_at.hour == 15


def test_denial_without_opinion_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/review-tasks/SCJG0000000007", json=ok(task_json("03", opinion=None))
    )
    with pytest.raises(AdapterProtocolError) as caught:
        call(lambda c: c.poll_review("SCJG0000000007"))
    assert caught.value.path == "$.data.opinion"


def test_unknown_task_status_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/review-tasks/SCJG0000000007", json=ok(task_json("09"))
    )
    with pytest.raises(AdapterProtocolError, match="unknown task status") as caught:
        call(lambda c: c.poll_review("SCJG0000000007"))
    assert caught.value.path == "$.data.status"


def test_decide_review_sends_the_verdict(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks/SCJG0000000007/decision",
        match_json={"result": "deny", "reason": "经营场所不符合要求", "reviewer": "李审查"},
        json=ok(task_json("03", opinion="经营场所不符合要求")),
    )
    decision = call(
        lambda c: c.decide_review(
            "SCJG0000000007", approve=False, reason="经营场所不符合要求", reviewer="李审查"
        )
    )
    assert not decision.approved
    assert decision.reason == "经营场所不符合要求"


def test_issue_result_returns_the_new_licence(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks/SCJG0000000007/issue",
        status_code=201,
        json=ok(food_licence_json(licNo="JY22301031000013")),
    )
    licence = call(lambda c: c.issue_result("SCJG0000000007"))
    assert licence.number == "JY22301031000013"
    assert licence.holder_credit_code == CODE


# -- failures ------------------------------------------------------------------------------


def test_timeout_is_unavailable(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(
        httpx.ReadTimeout("timed out"), url=f"{BASE}/api/v1/enterprises/{CODE}"
    )
    with pytest.raises(AdapterUnavailable, match=r"did not answer within 1 s") as caught:
        call(lambda c: c.enterprise(CODE))
    assert caught.value.department == DEPARTMENT_CREDIT_CODE
    assert caught.value.operation == "enterprise"


def test_refused_connection_is_unavailable(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(AdapterUnavailable, match="Connection refused") as caught:
        call(lambda c: c.certificates(CODE))
    assert caught.value.operation == "certificates"


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_server_errors_and_throttling_are_unavailable(httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(status_code=status, text="<html>busy</html>")
    with pytest.raises(AdapterUnavailable, match=f"HTTP {status}") as caught:
        call(lambda c: c.poll_review("SCJG0000000007"))
    assert caught.value.operation == "poll_review"


def test_wrong_api_key_is_a_protocol_error_that_says_so(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        status_code=401, json={"code": "1001", "msg": "API Key缺失或无效", "data": None}
    )
    with pytest.raises(AdapterProtocolError, match=r"HTTP 401 \(code 1001.*check the API key"):
        call(lambda c: c.enterprise(CODE))


@pytest.mark.parametrize(
    ("status", "code", "msg"),
    [(400, "1002", "缺少请求头Idempotency-Key"), (409, "3001", "审查通过后才能发证")],
)
def test_other_client_errors_name_status_and_message(
    httpx_mock: HTTPXMock, status: int, code: str, msg: str
) -> None:
    httpx_mock.add_response(status_code=status, json={"code": code, "msg": msg, "data": None})
    with pytest.raises(AdapterProtocolError, match=f"HTTP {status} \\(code {code}: {msg}") as e:
        call(lambda c: c.issue_result("SCJG0000000007"))
    assert e.value.operation == "issue_result"


def test_business_error_in_a_200_answer_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json={"code": "9999", "msg": "系统内部错误", "data": None})
    with pytest.raises(AdapterProtocolError, match="business error 9999: 系统内部错误") as caught:
        call(lambda c: c.enterprise(CODE))
    assert caught.value.path == "$.code"


def test_body_that_is_not_json_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(text="<html>maintenance</html>")
    with pytest.raises(AdapterProtocolError, match="not JSON") as caught:
        call(lambda c: c.enterprise(CODE))
    assert caught.value.path == "$"
    assert caught.value.department == DEPARTMENT_CREDIT_CODE


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"entname": None}, "$.data.entname", "missing"),
        ({"regcap": ["50"]}, "$.data.regcap", "decimal"),
        ({"estdate": "2019/04/18"}, "$.data.estdate", "YYYY-MM-DD"),
        ({"estdate": "2019-02-30"}, "$.data.estdate", "real date"),
        ({"regstate": "在业"}, "$.data.regstate", "'存续', '注销'"),
        ({"uniscid": "91230103MA1BX4K23I"}, "$.data.uniscid", "credit code"),
        ({"lerep": 42}, "$.data.lerep", "a string"),
    ],
)
def test_malformed_enterprise_names_the_bad_field(
    httpx_mock: HTTPXMock, changes: dict[str, Any], path: str, message: str
) -> None:
    httpx_mock.add_response(json=ok(enterprise_json(**changes)))
    with pytest.raises(AdapterProtocolError, match=message) as caught:
        call(lambda c: c.enterprise(CODE))
    assert caught.value.path == path


def test_malformed_licence_in_a_list_names_its_index(httpx_mock: HTTPXMock) -> None:
    broken = food_licence_json()
    del broken["licNo"]
    httpx_mock.add_response(json=ok({"list": [food_licence_json(), broken]}))
    with pytest.raises(AdapterProtocolError) as caught:
        call(lambda c: c.certificates(CODE))
    assert caught.value.path == "$.data.list[1].licNo"


def test_licence_ending_before_it_starts_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok({"list": [food_licence_json(validTo="2020-01-01")]}))
    with pytest.raises(AdapterProtocolError, match="ends") as caught:
        call(lambda c: c.certificates(CODE))
    assert caught.value.path == "$.data.list[0]"


def test_health_is_true_when_up(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/health", json=ok({"status": "UP"}))
    assert call(lambda c: c.health()) is True


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused")],
)
def test_health_is_false_when_unreachable(httpx_mock: HTTPXMock, failure: Exception) -> None:
    httpx_mock.add_exception(failure, url=f"{BASE}/health")
    assert call(lambda c: c.health()) is False


def test_health_is_false_on_503_or_down(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/health", status_code=503)
    httpx_mock.add_response(url=f"{BASE}/health", json=ok({"status": "DOWN"}))
    assert call(lambda c: c.health()) is False
    assert call(lambda c: c.health()) is False
