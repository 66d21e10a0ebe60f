"""SamrAdapter and the plugin against canned answers (pytest-httpx, strict defaults)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_samr import plugin
from govsvc_samr.adapter import (
    CANCEL_REASON,
    DEFAULT_API_KEY,
    DEFAULT_URL,
    DENIAL_BASIS,
    SamrAdapter,
    SamrConfig,
)
from govsvc_samr.client import DEPARTMENT_CREDIT_CODE
from pytest_httpx import HTTPXMock

import govsvc
from govsvc import (
    AdapterProtocolError,
    AdapterUnavailable,
    CertificateRecord,
    DocumentType,
    InvalidInput,
    IssuedResult,
    PartyKey,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
)
from govsvc.testing import clerk_for

BASE = "http://samr.test"
KEY = "secret-key"
AUTH = {"X-Api-Key": KEY}
DUMPLINGS = "91230103MA1BX4K238"
GRAIN_OIL = "91230102MA19QW7R1Q"
ZHANG_WEI = "230103198503120316"
ITEM = "11230100013114525L3000176010001"
LEGACY = "SCJG0000000007"
TICKET = ReviewTicket(task_id="task-1", legacy_id=LEGACY, case_id="case-1")
T = TypeVar("T")


def run(action: Callable[[SamrAdapter], Awaitable[T]]) -> T:
    async def go() -> T:
        adapter = SamrAdapter(SamrConfig(base_url=BASE, api_key=KEY, timeout=1.0))
        try:
            return await action(adapter)
        finally:
            await adapter.aclose()

    return asyncio.run(go())


def ok(data: Any) -> dict[str, Any]:
    return {"code": "0000", "msg": "成功", "data": data}


def not_found() -> dict[str, Any]:
    return {"code": "2001", "msg": "未查询到", "data": None}


def enterprise_json(**changes: Any) -> dict[str, Any]:
    data = {
        "uniscid": DUMPLINGS,
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


def licence_json(**changes: Any) -> dict[str, Any]:
    data = {
        "licType": "食品经营许可证",
        "licNo": "JY22301030012345",
        "holderName": "哈尔滨市冰城饺子馆有限公司",
        "holderCode": DUMPLINGS,
        "issueOrg": "哈尔滨市市场监督管理局",
        "issueDate": "2023-05-20",
        "validFrom": "2023-05-20",
        "validTo": "2028-05-19",
        "licState": "有效",
        "items": ["热食类食品制售"],
        "face": {"经营者名称": "哈尔滨市冰城饺子馆有限公司", "许可证编号": "JY22301030012345"},
    }
    data.update(changes)
    return data


def task_json(status: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "taskId": LEGACY,
        "bizKey": "task-1",
        "caseId": "case-1",
        "itemCode": ITEM,
        "applicantId": DUMPLINGS,
        "status": status,
        "statusName": "",
        "createTime": "2026-03-02 09:00:00",
        "opinion": None,
        "reviewer": None,
        "decideTime": None,
    }
    if status not in ("01",):
        data.update(opinion="准予许可", reviewer="李审查", decideTime="2026-03-03 15:30:00")
    data.update(changes)
    return data


def review_request(**form: Any) -> ReviewRequest:
    return ReviewRequest(
        task_id="task-1",
        case_id="case-1",
        tracking_code="HRB202603020001",
        item_code=ITEM,
        stage=1,
        applicant=PartyKey.of(DUMPLINGS),
        applicant_name="哈尔滨市冰城饺子馆有限公司",
        form=form,
        materials=("M01", "M02"),
    )


# -- profile ---------------------------------------------------------------------------------


def test_profile_of_an_enterprise_uses_canonical_names(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="GET",
        url=f"{BASE}/api/v1/enterprises/{DUMPLINGS}",
        match_headers=AUTH,
        json=ok(enterprise_json()),
    )
    profile = run(lambda a: a.profile(PartyKey.of(DUMPLINGS)))
    assert profile == {
        "name": "哈尔滨市冰城饺子馆有限公司",
        "address": "黑龙江省哈尔滨市南岗区红军街15号",
        "enterprise_type": "有限责任公司（自然人独资）",
        "legal_representative": "张伟",
        "registered_capital": "50万元人民币",
        "established_on": "2019-04-18",
        "registration_status": "存续",
        "registration_authority": "哈尔滨市南岗区市场监督管理局",
        "business_scope": "餐饮服务。",
    }


def test_profile_of_a_person_lists_the_enterprises_they_represent(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/persons/{ZHANG_WEI}/enterprises",
        match_headers=AUTH,
        json=ok({"cerno": ZHANG_WEI, "name": "张伟", "enterprises": [enterprise_json()]}),
    )
    profile = run(lambda a: a.profile(PartyKey.of(ZHANG_WEI)))
    assert profile == {
        "name": "张伟",
        "enterprises": [
            {
                "credit_code": DUMPLINGS,
                "name": "哈尔滨市冰城饺子馆有限公司",
                "registration_status": "存续",
                "role": "法定代表人",
            }
        ],
    }


@pytest.mark.parametrize(
    "number, path",
    [(DUMPLINGS, f"enterprises/{DUMPLINGS}"), (ZHANG_WEI, f"persons/{ZHANG_WEI}/enterprises")],
)
def test_profile_of_an_unknown_party_is_none(httpx_mock: HTTPXMock, number: str, path: str) -> None:
    httpx_mock.add_response(url=f"{BASE}/api/v1/{path}", status_code=404, json=not_found())
    assert run(lambda a: a.profile(PartyKey.of(number))) is None


def test_other_documents_are_unknown_without_a_call() -> None:
    passport = PartyKey(DocumentType.PASSPORT, "E12345678")
    assert run(lambda a: a.profile(passport)) is None
    assert run(lambda a: a.certificates(passport)) == []
    assert run(lambda a: a.certificates(PartyKey.of(ZHANG_WEI))) == []


def test_an_answer_about_another_enterprise_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok(enterprise_json(uniscid=GRAIN_OIL)))
    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda a: a.profile(PartyKey.of(DUMPLINGS)))
    assert caught.value.path == "$.data.uniscid"
    assert caught.value.department == DEPARTMENT_CREDIT_CODE


# -- certificates ----------------------------------------------------------------------------


def test_certificates_are_records_with_their_face(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="GET",
        url=f"{BASE}/api/v1/licences?holder={DUMPLINGS}",
        match_headers=AUTH,
        json=ok({"total": 2, "list": [licence_json(), licence_json(licNo="JY2", licState="吊销")]}),
    )
    records = run(lambda a: a.certificates(PartyKey.of(DUMPLINGS)))
    assert records[0] == CertificateRecord(
        type_name="食品经营许可证",
        number="JY22301030012345",
        holder_name="哈尔滨市冰城饺子馆有限公司",
        holder_number=DUMPLINGS,
        issuer="哈尔滨市市场监督管理局",
        issued_on=dt.date(2023, 5, 20),
        valid_until=dt.date(2028, 5, 19),
        status="valid",
        data={"经营者名称": "哈尔滨市冰城饺子馆有限公司", "许可证编号": "JY22301030012345"},
    )
    assert records[1].status == "revoked"


def test_no_licences_is_empty(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=404, json=not_found())
    assert run(lambda a: a.certificates(PartyKey.of(GRAIN_OIL))) == []


def test_a_licence_of_another_holder_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    other = licence_json(holderCode=GRAIN_OIL)
    httpx_mock.add_response(json=ok({"total": 2, "list": [licence_json(), other]}))
    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda a: a.certificates(PartyKey.of(DUMPLINGS)))
    assert caught.value.path == "$.data.list[1].holderCode"


# -- review tasks ----------------------------------------------------------------------------


def test_open_review_sends_the_task_id_as_idempotency_key(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks",
        match_headers={**AUTH, "Idempotency-Key": "task-1"},
        match_json={
            "caseId": "case-1",
            "itemCode": ITEM,
            "applicantId": DUMPLINGS,
            "form": {"businessItems": ["热食类食品制售"], "openedOn": "2026-03-02"},
        },
        status_code=201,
        json=ok(task_json("01")),
    )
    request = review_request(businessItems=["热食类食品制售"], openedOn=dt.date(2026, 3, 2))
    assert run(lambda a: a.open_review(request)) == LEGACY


def test_open_review_refused_by_the_bureau_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        status_code=422, json={"code": "2002", "msg": "申请人已注销，不能申请许可", "data": None}
    )
    with pytest.raises(AdapterProtocolError, match=r"HTTP 422.*已注销"):
        run(lambda a: a.open_review(review_request()))


def test_poll_review_pending_is_none(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/review-tasks/{LEGACY}", match_headers=AUTH, json=ok(task_json("01"))
    )
    assert run(lambda a: a.poll_review(TICKET)) is None


@pytest.mark.parametrize("status", ["02", "04"])
def test_poll_review_approval(httpx_mock: HTTPXMock, status: str) -> None:
    httpx_mock.add_response(json=ok(task_json(status)))
    outcome = run(lambda a: a.poll_review(TICKET))
    assert outcome == ReviewOutcome(approved=True, reason="准予许可", decided_by="李审查")


def test_poll_review_denial_gets_a_basis(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok(task_json("03", opinion="经营场所与申请不符")))
    outcome = run(lambda a: a.poll_review(TICKET))
    assert outcome == ReviewOutcome(
        approved=False, reason="经营场所与申请不符", basis=DENIAL_BASIS, decided_by="李审查"
    )


def test_poll_review_of_a_withdrawn_task_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok(task_json("05", opinion="申请已撤回")))
    with pytest.raises(AdapterProtocolError, match="withdrawn") as caught:
        run(lambda a: a.poll_review(TICKET))
    assert caught.value.path == "$.data.status"


def test_poll_review_answered_for_another_task_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok(task_json("02", taskId="SCJG0000000099")))
    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda a: a.poll_review(TICKET))
    assert caught.value.path == "$.data.taskId"


def test_issue_result_returns_the_licence(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks/{LEGACY}/issue",
        match_headers=AUTH,
        status_code=201,
        json=ok(licence_json()),
    )
    assert run(lambda a: a.issue_result(TICKET)) == IssuedResult(
        name="食品经营许可证",
        number="JY22301030012345",
        data={"经营者名称": "哈尔滨市冰城饺子馆有限公司", "许可证编号": "JY22301030012345"},
        valid_until=dt.date(2028, 5, 19),
    )


@pytest.mark.parametrize("status", ["05", "02"])
def test_cancel_review_withdraws_or_accepts_a_decided_task(
    httpx_mock: HTTPXMock, status: str
) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/v1/review-tasks/{LEGACY}/cancel",
        match_headers=AUTH,
        match_json={"reason": CANCEL_REASON},
        json=ok(task_json(status)),
    )
    assert run(lambda a: a.cancel_review(TICKET)) is None


def test_cancel_review_still_pending_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(json=ok(task_json("01")))
    with pytest.raises(AdapterProtocolError, match="still pending") as caught:
        run(lambda a: a.cancel_review(TICKET))
    assert caught.value.path == "$.data.status"


def test_health(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/health", json=ok({"status": "UP"}))
    httpx_mock.add_response(url=f"{BASE}/health", status_code=503, text="down")
    assert run(lambda a: a.health()) is True
    assert run(lambda a: a.health()) is False


# -- mapped failures -------------------------------------------------------------------------

PROFILE = PartyKey.of(DUMPLINGS)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("connection refused"),
        503,
        502,
        429,
    ],
    ids=["timeout", "refused", "503", "502", "429"],
)
def test_an_unreachable_or_overloaded_system_is_unavailable(
    httpx_mock: HTTPXMock, failure: Exception | int
) -> None:
    if isinstance(failure, Exception):
        httpx_mock.add_exception(failure)
    else:
        httpx_mock.add_response(status_code=failure, text="<html>Bad Gateway</html>")
    with pytest.raises(AdapterUnavailable) as caught:
        run(lambda a: a.profile(PROFILE))
    assert caught.value.department == DEPARTMENT_CREDIT_CODE
    assert caught.value.operation == "enterprise"


@pytest.mark.parametrize(
    "response, path, message",
    [
        ({"status_code": 401, "json": {"code": "1001", "msg": "API Key无效"}}, "$", "X-Api-Key"),
        ({"status_code": 400, "text": "bad request"}, "$", "HTTP 400"),
        ({"text": "<html>not json</html>"}, "$", "not JSON"),
        ({"json": ok(enterprise_json(entname=None))}, "$.data.entname", "missing"),
        ({"json": ok(enterprise_json(estdate="18.04.2019"))}, "$.data.estdate", "YYYY-MM-DD"),
        ({"json": ok(enterprise_json(regstate="休眠"))}, "$.data.regstate", "休眠"),
        ({"json": {"code": "9999", "msg": "系统繁忙", "data": None}}, "$.code", "9999"),
    ],
    ids=["401", "400", "not-json", "missing-field", "bad-date", "bad-enum", "business-error"],
)
def test_a_refused_or_malformed_answer_is_a_protocol_error_with_its_path(
    httpx_mock: HTTPXMock, response: dict[str, Any], path: str, message: str
) -> None:
    httpx_mock.add_response(**response)
    with pytest.raises(AdapterProtocolError, match=message) as caught:
        run(lambda a: a.profile(PROFILE))
    assert caught.value.path == path
    assert caught.value.department == DEPARTMENT_CREDIT_CODE


# -- configuration and the plugin ------------------------------------------------------------


def test_config_from_the_environment() -> None:
    assert SamrConfig.from_env({}) == SamrConfig(
        base_url=DEFAULT_URL, api_key=DEFAULT_API_KEY, timeout=5.0
    )
    config = SamrConfig.from_env(
        {
            "GOVSVC_SAMR_URL": "https://samr.example:8443/gateway",
            "GOVSVC_SAMR_API_KEY": "k-123",
            "GOVSVC_SAMR_TIMEOUT": "3.5",
        }
    )
    assert (config.base_url, config.api_key, config.timeout) == (
        "https://samr.example:8443/gateway",
        "k-123",
        3.5,
    )
    assert "k-123" not in repr(config)


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"GOVSVC_SAMR_TIMEOUT": "five"}, "GOVSVC_SAMR_TIMEOUT must be a number"),
        ({"GOVSVC_SAMR_TIMEOUT": "0"}, "above 0"),
        ({"GOVSVC_SAMR_URL": "samr.example"}, "http"),
        ({"GOVSVC_SAMR_API_KEY": " "}, "GOVSVC_SAMR_API_KEY"),
    ],
)
def test_bad_configuration_says_what_to_fix(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        SamrConfig.from_env(environ)


def test_the_client_is_created_on_first_use_in_each_event_loop(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/health", json=ok({"status": "UP"}), is_reusable=True)
    adapter = SamrAdapter(SamrConfig(base_url=BASE, api_key=KEY))
    assert not adapter._clients  # nothing is created before the first call

    async def twice() -> tuple[bool, int]:
        first = await adapter.health()
        await adapter.health()
        count = len(adapter._clients)
        await adapter.aclose()
        return first, count

    # Two loops in a row (as a platform restart would): each gets its own client.
    assert asyncio.run(twice()) == (True, 1)
    assert asyncio.run(twice()) == (True, 1)
    assert len(httpx_mock.get_requests()) == 4


def test_the_plugin_is_declared_as_a_govsvc_entry_point() -> None:
    [entry] = [ep for ep in metadata.entry_points(group="govsvc") if ep.name == "samr"]
    assert entry.value == "govsvc_samr.plugin"
    assert entry.load() is plugin


def test_the_plugin_declares_the_bureau_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVSVC_SAMR_URL", "http://10.0.0.7:9000")
    monkeypatch.setenv("GOVSVC_SAMR_TIMEOUT", "3")
    [department] = plugin.govsvc_departments()
    assert department.code == DEPARTMENT_CREDIT_CODE
    assert department.name == "哈尔滨市市场监督管理局"
    assert department.division == "230100"
    assert department.timeout == 3.0
    assert "enterprises" in department.authoritative_for
    assert department.items == ("11230100013114525L3000176010001",)
    assert set(department.operations) == {
        "profile",
        "certificates",
        "prereview",
        "open_review",
        "poll_review",
        "issue_result",
        "cancel_review",
        "health",
    }
    assert isinstance(department.adapter, SamrAdapter)
    assert department.adapter.config.base_url == "http://10.0.0.7:9000"


def test_a_platform_with_the_plugin_identifies_from_the_bureau(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOVSVC_SAMR_URL", BASE)
    monkeypatch.setenv("GOVSVC_SAMR_API_KEY", KEY)
    httpx_mock.add_response(
        url=f"{BASE}/api/v1/enterprises/{DUMPLINGS}",
        match_headers=AUTH,
        json=ok(enterprise_json()),
    )
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'govsvc.db'}", plugins=[plugin], load_entry_points=False
    ) as platform:
        assert DEPARTMENT_CREDIT_CODE in platform.departments
        clerk = platform.session(clerk_for(DEPARTMENT_CREDIT_CODE))
        profile = clerk.parties.identify(DUMPLINGS, purpose="食品经营许可受理核验")
        assert profile["legal_representative"] == "张伟"
        attribute = profile.attributes["registration_status"]
        assert (attribute.value, attribute.source, attribute.authoritative) == (
            "存续",
            DEPARTMENT_CREDIT_CODE,
            True,
        )
        assert profile.attributes["name"].source_name == "哈尔滨市市场监督管理局"
        assert profile.unavailable == {}
        system = platform.system()
        [record] = system.departments.exchange_log(department=DEPARTMENT_CREDIT_CODE)
        assert (record.operation, record.outcome, record.purpose) == (
            "profile",
            "ok",
            "食品经营许可受理核验",
        )
        assert system.departments.verify_exchange_log().ok
