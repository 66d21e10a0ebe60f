"""PsbAdapter and the plugin against canned SOAP answers (pytest-httpx, strict defaults)."""

from __future__ import annotations

import asyncio
import threading
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_psb import plugin
from govsvc_psb.adapter import DENIAL_BASIS, PsbAdapter, PsbConfig
from govsvc_psb.client import DEPARTMENT, SERVICE_NS, SOAP_ENV
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

BASE = "http://psb.test"
URL = f"{BASE}/ws"
ZHANG = PartyKey.of("230103198503120316")
T = TypeVar("T")

PERSON = """<hk:person>
  <hk:idNumber>230103198503120316</hk:idNumber><hk:name>张伟</hk:name><hk:sex>1</hk:sex>
  <hk:birthDate>1985-03-12</hk:birthDate><hk:ethnicity>汉族</hk:ethnicity>
  <hk:address>黑龙江省哈尔滨市南岗区学府路52号</hk:address>
  <hk:householdNumber>230103000152</hk:householdNumber><hk:relationToHead>户主</hk:relationToHead>
</hk:person>"""

HOUSEHOLD = """<hk:QueryHouseholdResponse><hk:household>
  <hk:householdNumber>230103000152</hk:householdNumber>
  <hk:address>黑龙江省哈尔滨市南岗区学府路52号</hk:address><hk:kind>家庭户</hk:kind>
  <hk:members><hk:member><hk:idNumber>230103198503120316</hk:idNumber><hk:name>张伟</hk:name>
  <hk:relationToHead>户主</hk:relationToHead></hk:member></hk:members>
</hk:household></hk:QueryHouseholdResponse>"""

ENTRY = """<hk:IssueResultResponse><hk:householdEntry>
  <hk:entryNumber>HKDJ202401080001</hk:entryNumber><hk:kind>出生登记</hk:kind>
  <hk:idNumber>230103202401050029</hk:idNumber><hk:name>孙悦</hk:name><hk:sex>2</hk:sex>
  <hk:birthDate>2024-01-05</hk:birthDate><hk:ethnicity>汉族</hk:ethnicity>
  <hk:address>黑龙江省哈尔滨市南岗区西大直街74号</hk:address>
  <hk:householdNumber>230103000074</hk:householdNumber><hk:relationToHead>孙女</hk:relationToHead>
  <hk:registeredOn>2024-01-08</hk:registeredOn>
</hk:householdEntry></hk:IssueResultResponse>"""


def envelope(payload: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:hk="{SERVICE_NS}">'
        f"<soap:Body>{payload}</soap:Body></soap:Envelope>"
    ).encode()


def fault(kind: str, code: str, message: str = "出错了") -> bytes:
    return envelope(
        f"<soap:Fault><faultcode>soap:{kind}</faultcode><faultstring>{message}</faultstring>"
        f"<detail><hk:error><hk:code>{code}</hk:code><hk:message>{message}</hk:message>"
        "</hk:error></detail></soap:Fault>"
    )


def review_task(status: str, legacy: str = "GAJ00000001", extra: str = "") -> str:
    return (
        f"<hk:reviewTask><hk:legacyTaskId>{legacy}</hk:legacyTaskId><hk:taskId>T-1</hk:taskId>"
        f"<hk:status>{status}</hk:status><hk:createdAt>2024-01-06T09:00:00+08:00</hk:createdAt>"
        f"{extra}</hk:reviewTask>"
    )


def add_xml(
    httpx_mock: HTTPXMock, content: bytes, *, action: str, status: int = 200, **options: Any
) -> None:
    httpx_mock.add_response(
        method="POST",
        url=URL,
        status_code=status,
        content=content,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        match_headers={"SOAPAction": f'"{SERVICE_NS}/{action}"'},
        **options,
    )


def adapter() -> PsbAdapter:
    return PsbAdapter(PsbConfig(base_url=BASE, username="govsvc", password="secret"))


def run(call: Callable[[PsbAdapter], Awaitable[T]]) -> T:
    async def main() -> T:
        psb = adapter()
        try:
            return await call(psb)
        finally:
            await psb.aclose()

    return asyncio.run(main())


def request(**changes: Any) -> ReviewRequest:
    fields: dict[str, Any] = {
        "task_id": "T-1",
        "case_id": "C-1",
        "tracking_code": "2301000000000001",
        "item_code": "11230100003108738D3000716001000",
        "stage": 1,
        "applicant": PartyKey.of("23011019950630088X"),
        "applicant_name": "陈静",
        "form": {"registrationType": "出生登记", "name": "孙悦"},
        "materials": ("M01",),
    }
    return ReviewRequest(**(fields | changes))


TICKET = ReviewTicket(task_id="T-1", legacy_id="GAJ00000001", case_id="C-1")


# -- profile --------------------------------------------------------------------------------


def test_profile_maps_the_registered_person_to_canonical_attributes(
    httpx_mock: HTTPXMock,
) -> None:
    add_xml(
        httpx_mock,
        envelope(f"<hk:QueryPersonResponse>{PERSON}</hk:QueryPersonResponse>"),
        action="QueryPerson",
    )

    attributes = run(lambda psb: psb.profile(ZHANG))

    assert attributes == {
        "name": "张伟",
        "sex": "male",
        "birth_date": "1985-03-12",
        "ethnicity": "汉族",
        "address": "黑龙江省哈尔滨市南岗区学府路52号",
        "household_number": "230103000152",
        "relation_to_head": "户主",
    }
    sent = ET.fromstring(httpx_mock.get_request().content)  # type: ignore[union-attr]
    assert sent.findtext(f".//{{{SERVICE_NS}}}idNumber") == ZHANG.number


def test_profile_of_an_unregistered_person_is_none(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("Client", "PERSON_NOT_FOUND"), action="QueryPerson", status=500)

    assert run(lambda psb: psb.profile(ZHANG)) is None


def test_an_organisation_is_not_in_the_register_and_costs_no_call() -> None:
    company = PartyKey.of("91230103MA1BX4K238")

    assert run(lambda psb: psb.profile(company)) is None
    assert run(lambda psb: psb.certificates(company)) == []


def test_an_answer_about_another_person_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    other = PERSON.replace("230103198503120316", "230102197905210428")
    add_xml(
        httpx_mock,
        envelope(f"<hk:QueryPersonResponse>{other}</hk:QueryPersonResponse>"),
        action="QueryPerson",
    )

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda psb: psb.profile(ZHANG))

    assert caught.value.path == "/Envelope/Body/QueryPersonResponse/person/idNumber"
    assert ZHANG.number not in str(caught.value)  # masked in messages and logs


# -- certificates ---------------------------------------------------------------------------


def test_certificates_are_the_household_register_booklet(httpx_mock: HTTPXMock) -> None:
    add_xml(
        httpx_mock,
        envelope(f"<hk:QueryPersonResponse>{PERSON}</hk:QueryPersonResponse>"),
        action="QueryPerson",
    )
    add_xml(httpx_mock, envelope(HOUSEHOLD), action="QueryHousehold")

    records = run(lambda psb: psb.certificates(ZHANG))

    assert records == [
        CertificateRecord(
            type_name="居民户口簿",
            number="230103000152",
            holder_name="张伟",
            holder_number=ZHANG.number,
            issuer="哈尔滨市公安局",
            data={
                "household_address": "黑龙江省哈尔滨市南岗区学府路52号",
                "household_kind": "家庭户",
                "head_of_household": "张伟",
                "relation_to_head": "户主",
            },
        )
    ]


def test_certificates_of_an_unregistered_person_are_empty(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("Client", "PERSON_NOT_FOUND"), action="QueryPerson", status=500)

    assert run(lambda psb: psb.certificates(ZHANG)) == []


def test_a_person_in_a_missing_household_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_xml(
        httpx_mock,
        envelope(f"<hk:QueryPersonResponse>{PERSON}</hk:QueryPersonResponse>"),
        action="QueryPerson",
    )
    add_xml(httpx_mock, fault("Client", "HOUSEHOLD_NOT_FOUND"), action="QueryHousehold", status=500)

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda psb: psb.certificates(ZHANG))

    assert caught.value.path == "/Envelope/Body/QueryPersonResponse/person/householdNumber"
    assert caught.value.operation == "certificates"


# -- review tasks ---------------------------------------------------------------------------


def test_open_review_sends_the_task_id_and_a_flat_form(httpx_mock: HTTPXMock) -> None:
    add_xml(
        httpx_mock,
        envelope(
            f"<hk:CreateReviewTaskResponse>{review_task('PENDING')}</hk:CreateReviewTaskResponse>"
        ),
        action="CreateReviewTask",
    )
    form = {"registrationType": "出生登记", "twins": False, "note": None, "parents": ["陈静"]}

    legacy = run(lambda psb: psb.open_review(request(form=form)))

    assert legacy == "GAJ00000001"
    sent = ET.fromstring(httpx_mock.get_request().content)  # type: ignore[union-attr]
    task = sent.find(f"{{{SOAP_ENV}}}Body/{{{SERVICE_NS}}}CreateReviewTask")
    assert task is not None
    assert task.findtext(f"{{{SERVICE_NS}}}taskId") == "T-1"
    assert task.findtext(f"{{{SERVICE_NS}}}caseId") == "C-1"
    assert task.findtext(f"{{{SERVICE_NS}}}applicantId") == "23011019950630088X"
    fields = {f.get("name"): f.text for f in task.iter(f"{{{SERVICE_NS}}}field")}
    assert fields == {"registrationType": "出生登记", "twins": "false", "parents": '["陈静"]'}


def test_open_review_answered_for_another_task_is_a_protocol_error(
    httpx_mock: HTTPXMock,
) -> None:
    other = review_task("PENDING").replace("T-1", "T-9")
    add_xml(
        httpx_mock,
        envelope(f"<hk:CreateReviewTaskResponse>{other}</hk:CreateReviewTaskResponse>"),
        action="CreateReviewTask",
    )

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda psb: psb.open_review(request()))

    assert caught.value.path == "/Envelope/Body/CreateReviewTaskResponse/reviewTask/taskId"


def test_a_reused_task_id_with_other_content_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("Client", "TASK_ID_REUSED"), action="CreateReviewTask", status=500)

    with pytest.raises(AdapterProtocolError, match="TASK_ID_REUSED"):
        run(lambda psb: psb.open_review(request()))


def query_answer(task: str) -> bytes:
    return envelope(f"<hk:QueryReviewTaskResponse>{task}</hk:QueryReviewTaskResponse>")


def test_poll_review_pending_is_none(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, query_answer(review_task("PENDING")), action="QueryReviewTask")

    assert run(lambda psb: psb.poll_review(TICKET)) is None


def test_poll_review_approval(httpx_mock: HTTPXMock) -> None:
    decided = (
        "<hk:reason>材料齐全</hk:reason><hk:decidedAt>2024-01-07T10:00:00+08:00</hk:decidedAt>"
    )
    add_xml(
        httpx_mock, query_answer(review_task("APPROVED", extra=decided)), action="QueryReviewTask"
    )

    assert run(lambda psb: psb.poll_review(TICKET)) == ReviewOutcome(
        approved=True, reason="材料齐全"
    )


def test_poll_review_denial_gets_a_reason_and_a_basis(httpx_mock: HTTPXMock) -> None:
    decided = "<hk:reason></hk:reason><hk:decidedAt>2024-01-07T10:00:00+08:00</hk:decidedAt>"
    add_xml(
        httpx_mock, query_answer(review_task("DENIED", extra=decided)), action="QueryReviewTask"
    )

    outcome = run(lambda psb: psb.poll_review(TICKET))

    assert outcome is not None
    assert not outcome.approved
    assert "未说明理由" in outcome.reason
    assert outcome.basis == DENIAL_BASIS


def test_poll_review_answered_for_another_task_is_a_protocol_error(
    httpx_mock: HTTPXMock,
) -> None:
    add_xml(
        httpx_mock,
        query_answer(review_task("PENDING", legacy="GAJ00000002")),
        action="QueryReviewTask",
    )
    add_xml(
        httpx_mock,
        query_answer(
            review_task(
                "APPROVED",
                legacy="GAJ00000002",
                extra="<hk:decidedAt>2024-01-07T10:00:00+08:00</hk:decidedAt>",
            )
        ),
        action="QueryReviewTask",
    )

    assert run(lambda psb: psb.poll_review(TICKET)) is None  # pending says nothing to check
    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda psb: psb.poll_review(TICKET))

    assert caught.value.path == "/Envelope/Body/QueryReviewTaskResponse/reviewTask/legacyTaskId"


def test_issue_result_returns_the_register_entry(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, envelope(ENTRY), action="IssueResult")

    issued = run(lambda psb: psb.issue_result(TICKET))

    assert issued == IssuedResult(
        name="居民户口簿（出生登记）",
        number="HKDJ202401080001",
        data={
            "registration_type": "出生登记",
            "id_number": "230103202401050029",
            "name": "孙悦",
            "sex": "female",
            "birth_date": "2024-01-05",
            "ethnicity": "汉族",
            "address": "黑龙江省哈尔滨市南岗区西大直街74号",
            "household_number": "230103000074",
            "relation_to_head": "孙女",
            "registered_on": "2024-01-08",
        },
    )


def test_issuing_an_undecided_task_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("Client", "TASK_NOT_APPROVED"), action="IssueResult", status=500)

    with pytest.raises(AdapterProtocolError, match="TASK_NOT_APPROVED"):
        run(lambda psb: psb.issue_result(TICKET))


def test_health(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", url=f"{URL}?wsdl", content=b"<wsdl:definitions/>")
    httpx_mock.add_response(method="GET", url=f"{URL}?wsdl", status_code=503)

    assert run(lambda psb: psb.health()) is True
    assert run(lambda psb: psb.health()) is False


# -- failures -------------------------------------------------------------------------------


def failing(httpx_mock: HTTPXMock, kind: str) -> None:
    if kind == "timeout":
        httpx_mock.add_exception(httpx.ReadTimeout("read timed out"), method="POST", url=URL)
    elif kind == "refused":
        httpx_mock.add_exception(httpx.ConnectError("connection refused"), method="POST", url=URL)
    elif kind == "5xx":
        httpx_mock.add_response(method="POST", url=URL, status_code=503, text="Bad gateway")
    elif kind == "server fault":
        add_xml(httpx_mock, fault("Server", "DB_UNAVAILABLE"), action="QueryPerson", status=500)
    elif kind == "4xx":
        httpx_mock.add_response(method="POST", url=URL, status_code=403, text="Forbidden by WAF")
    elif kind == "not xml":
        add_xml(httpx_mock, b"<html>oops", action="QueryPerson")
    elif kind == "missing field":
        person = PERSON.replace("<hk:name>张伟</hk:name>", "")
        add_xml(
            httpx_mock,
            envelope(f"<hk:QueryPersonResponse>{person}</hk:QueryPersonResponse>"),
            action="QueryPerson",
        )
    elif kind == "bad value":
        person = PERSON.replace("<hk:sex>1</hk:sex>", "<hk:sex>M</hk:sex>")
        add_xml(
            httpx_mock,
            envelope(f"<hk:QueryPersonResponse>{person}</hk:QueryPersonResponse>"),
            action="QueryPerson",
        )


@pytest.mark.parametrize("kind", ["timeout", "refused", "5xx", "server fault"])
def test_an_unreachable_or_failing_register_is_unavailable(
    httpx_mock: HTTPXMock, kind: str
) -> None:
    failing(httpx_mock, kind)

    with pytest.raises(AdapterUnavailable) as caught:
        run(lambda psb: psb.profile(ZHANG))

    assert caught.value.department == DEPARTMENT
    assert caught.value.operation == "profile"


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("4xx", "/"),
        ("not xml", "/"),
        ("missing field", "/Envelope/Body/QueryPersonResponse/person/name"),
        ("bad value", "/Envelope/Body/QueryPersonResponse/person/sex"),
    ],
)
def test_a_refused_or_malformed_answer_is_a_protocol_error_with_its_path(
    httpx_mock: HTTPXMock, kind: str, path: str
) -> None:
    failing(httpx_mock, kind)

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda psb: psb.profile(ZHANG))

    assert caught.value.path == path
    assert caught.value.department == DEPARTMENT
    assert caught.value.operation == "profile"


# -- configuration and event loops ----------------------------------------------------------


def test_config_from_the_environment() -> None:
    config = PsbConfig.from_env(
        {
            "GOVSVC_PSB_URL": "https://hukou.example:8443",
            "GOVSVC_PSB_USERNAME": "platform",
            "GOVSVC_PSB_PASSWORD": "s3cret",
            "GOVSVC_PSB_TIMEOUT": "2.5",
        }
    )

    assert config == PsbConfig(
        base_url="https://hukou.example:8443", username="platform", password="s3cret", timeout=2.5
    )
    assert "s3cret" not in repr(config)
    assert PsbConfig.from_env({}) == PsbConfig(
        base_url="http://127.0.0.1:8102", username="govsvc", password="hukou-sim", timeout=5.0
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"GOVSVC_PSB_TIMEOUT": "soon"}, "GOVSVC_PSB_TIMEOUT must be a number of seconds"),
        ({"GOVSVC_PSB_TIMEOUT": "0"}, "timeout must be a number of seconds above 0"),
        ({"GOVSVC_PSB_URL": "127.0.0.1:8102"}, "base_url must be an http"),
    ],
)
def test_bad_configuration_says_what_to_fix(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PsbConfig.from_env(environ)


def test_the_client_is_created_on_first_use_in_each_event_loop(httpx_mock: HTTPXMock) -> None:
    answer = envelope(f"<hk:QueryPersonResponse>{PERSON}</hk:QueryPersonResponse>")
    add_xml(httpx_mock, answer, action="QueryPerson", is_reusable=True)
    psb = adapter()
    assert not psb._clients  # building the adapter opens nothing

    # Two loops one after the other (the second would fail on the first loop's pool) ...
    assert asyncio.run(psb.profile(ZHANG)) is not None
    assert asyncio.run(psb.profile(ZHANG)) is not None

    # ... and a loop in another thread, as the platform runs adapters.
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.append(asyncio.run(psb.profile(ZHANG))))
    thread.start()
    thread.join(10)
    assert found and found[0] is not None
    assert len(httpx_mock.get_requests()) == 3


# -- the plugin -----------------------------------------------------------------------------


def test_the_plugin_is_declared_as_a_govsvc_entry_point() -> None:
    (entry,) = [ep for ep in metadata.entry_points(group="govsvc") if ep.name == "psb"]

    assert entry.value == "govsvc_psb.plugin"
    assert entry.load() is plugin


def test_the_plugin_declares_the_bureau_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVSVC_PSB_URL", "http://10.0.0.7:9000")
    monkeypatch.setenv("GOVSVC_PSB_TIMEOUT", "3")

    (department,) = plugin.govsvc_departments()

    assert department.code == DEPARTMENT
    assert department.name == "哈尔滨市公安局"
    assert department.division == "230100"
    assert department.authoritative_for == ("name", "sex", "birth_date", "address", "ethnicity")
    assert department.timeout == 3.0
    assert isinstance(department.adapter, PsbAdapter)
    assert department.adapter.config.base_url == "http://10.0.0.7:9000"
    assert department.operations == (
        "profile",
        "certificates",
        "open_review",
        "poll_review",
        "issue_result",
        "health",
    )


def test_a_platform_with_the_plugin_identifies_from_the_register(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOVSVC_PSB_URL", BASE)
    add_xml(
        httpx_mock,
        envelope(f"<hk:QueryPersonResponse>{PERSON}</hk:QueryPersonResponse>"),
        action="QueryPerson",
    )

    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'govsvc.db'}", plugins=[plugin], load_entry_points=False
    ) as platform:
        assert DEPARTMENT in platform.departments
        clerk = platform.session(clerk_for(DEPARTMENT))
        profile = clerk.parties.identify(ZHANG.number, purpose="户籍信息核验")
        log = platform.system().departments.exchange_log(department=DEPARTMENT)

    assert profile["address"] == "黑龙江省哈尔滨市南岗区学府路52号"
    assert profile.attributes["address"].source == DEPARTMENT
    assert profile.attributes["address"].authoritative
    assert profile.attributes["household_number"].source_name == "哈尔滨市公安局"
    assert not profile.attributes["household_number"].authoritative
    assert [(r.operation, r.outcome) for r in log] == [("profile", "ok")]
