"""PsbClient against canned SOAP answers (pytest-httpx, strict defaults)."""

from __future__ import annotations

import asyncio
import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_psb.client import (
    DEPARTMENT,
    SERVICE_NS,
    SOAP_ENV,
    WSSE_NS,
    Household,
    HouseholdMember,
    Person,
    PsbClient,
    Sex,
)
from pytest_httpx import HTTPXMock

from govsvc import AdapterProtocolError, AdapterUnavailable, InvalidInput

BASE = "http://psb.test"
URL = f"{BASE}/ws"
T = TypeVar("T")

PERSON = """<hk:person>
  <hk:idNumber>230103198503120316</hk:idNumber><hk:name>张伟</hk:name><hk:sex>1</hk:sex>
  <hk:birthDate>1985-03-12</hk:birthDate><hk:ethnicity>汉族</hk:ethnicity>
  <hk:address>黑龙江省哈尔滨市南岗区学府路52号</hk:address>
  <hk:householdNumber>230103000152</hk:householdNumber><hk:relationToHead>户主</hk:relationToHead>
</hk:person>"""


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


def person_answer(person: str = PERSON) -> bytes:
    return envelope(f"<hk:QueryPersonResponse>{person}</hk:QueryPersonResponse>")


def run(call: Callable[[PsbClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with PsbClient(BASE, username="govsvc", password="pw&<1>") as client:
            return await call(client)

    return asyncio.run(main())


def profile(client: PsbClient) -> Awaitable[Person | None]:
    return client.profile("230103198503120316")


def add_xml(httpx_mock: HTTPXMock, content: bytes, status: int = 200, **match: Any) -> None:
    httpx_mock.add_response(
        method="POST",
        url=URL,
        status_code=status,
        content=content,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        **match,
    )


# -- requests and successful answers ------------------------------------------------------


def test_profile_sends_a_soap_1_1_request_and_parses_the_person(httpx_mock: HTTPXMock) -> None:
    add_xml(
        httpx_mock,
        person_answer(),
        match_headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{SERVICE_NS}/QueryPerson"',
        },
    )

    person = run(profile)

    assert person == Person(
        id_number="230103198503120316",
        name="张伟",
        sex=Sex.MALE,
        birth_date=dt.date(1985, 3, 12),
        ethnicity="汉族",
        address="黑龙江省哈尔滨市南岗区学府路52号",
        household_number="230103000152",
        relation_to_head="户主",
    )
    sent = ET.fromstring(httpx_mock.get_request().content)  # type: ignore[union-attr]
    assert sent.tag == f"{{{SOAP_ENV}}}Envelope"
    query = sent.find(f"{{{SOAP_ENV}}}Body/{{{SERVICE_NS}}}QueryPerson")
    assert query is not None
    assert query.findtext(f"{{{SERVICE_NS}}}idNumber") == "230103198503120316"
    token = f"{{{SOAP_ENV}}}Header/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken"
    assert sent.findtext(f"{token}/{{{WSSE_NS}}}Username") == "govsvc"
    assert sent.findtext(f"{token}/{{{WSSE_NS}}}Password") == "pw&<1>"  # escaped on the wire


def test_unqualified_children_are_accepted(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, person_answer(PERSON.replace("hk:", "")))

    person = run(profile)

    assert person is not None
    assert person.name == "张伟"


def test_household_lists_its_members(httpx_mock: HTTPXMock) -> None:
    add_xml(
        httpx_mock,
        envelope(
            "<hk:QueryHouseholdResponse><hk:household>"
            "<hk:householdNumber>230103000074</hk:householdNumber>"
            "<hk:address>黑龙江省哈尔滨市南岗区西大直街74号</hk:address><hk:kind>家庭户</hk:kind>"
            "<hk:members><hk:member><hk:idNumber>230103196210010114</hk:idNumber>"
            "<hk:name>孙国庆</hk:name><hk:relationToHead>户主</hk:relationToHead></hk:member>"
            "<hk:member><hk:idNumber>230103202401050029</hk:idNumber><hk:name>孙悦</hk:name>"
            "<hk:relationToHead>孙女</hk:relationToHead></hk:member></hk:members>"
            "</hk:household></hk:QueryHouseholdResponse>"
        ),
        match_headers={"SOAPAction": f'"{SERVICE_NS}/QueryHousehold"'},
    )

    household = run(lambda c: c.household("230103000074"))

    assert household == Household(
        household_number="230103000074",
        address="黑龙江省哈尔滨市南岗区西大直街74号",
        kind="家庭户",
        members=(
            HouseholdMember("230103196210010114", "孙国庆", "户主"),
            HouseholdMember("230103202401050029", "孙悦", "孙女"),
        ),
    )


def test_open_review_sends_the_form_escaped_and_returns_the_ticket(
    httpx_mock: HTTPXMock,
) -> None:
    add_xml(
        httpx_mock,
        envelope(
            "<hk:CreateReviewTaskResponse><hk:reviewTask><hk:legacyTaskId>GAJ00000001"
            "</hk:legacyTaskId><hk:taskId>task-1</hk:taskId><hk:status>PENDING</hk:status>"
            "<hk:createdAt>2025-03-01T09:30:00+08:00</hk:createdAt></hk:reviewTask>"
            "</hk:CreateReviewTaskResponse>"
        ),
        match_headers={"SOAPAction": f'"{SERVICE_NS}/CreateReviewTask"'},
    )
    form = {"name": "孙悦 <&> \"'", "birthDate": dt.date(2024, 1, 5), "sex": 2}

    ticket = run(lambda c: c.open_review("task-1", "case-9", "000112345000", "2301", form))

    assert ticket.legacy_task_id == "GAJ00000001"
    assert ticket.task_id == "task-1"
    assert ticket.created_at == dt.datetime(2025, 3, 1, 1, 30, tzinfo=dt.UTC)
    sent = ET.fromstring(httpx_mock.get_request().content)  # type: ignore[union-attr]
    request = sent.find(f"{{{SOAP_ENV}}}Body/{{{SERVICE_NS}}}CreateReviewTask")
    assert request is not None
    assert request.findtext(f"{{{SERVICE_NS}}}taskId") == "task-1"
    fields = {
        f.get("name"): f.text
        for f in request.findall(f"{{{SERVICE_NS}}}form/{{{SERVICE_NS}}}field")
    }
    assert fields == {"name": "孙悦 <&> \"'", "birthDate": "2024-01-05", "sex": "2"}


def test_a_form_value_xml_cannot_carry_is_refused_before_sending() -> None:
    with pytest.raises(InvalidInput, match="U\\+0007"):
        run(lambda c: c.open_review("t", "c", "i", "a", {"name": "bell\x07"}))


def review_answer(status: str, extra: str = "") -> bytes:
    return envelope(
        "<hk:QueryReviewTaskResponse><hk:reviewTask><hk:legacyTaskId>GAJ00000001"
        f"</hk:legacyTaskId><hk:taskId>task-1</hk:taskId><hk:status>{status}</hk:status>"
        f"<hk:createdAt>2025-03-01T09:30:00+08:00</hk:createdAt>{extra}</hk:reviewTask>"
        "</hk:QueryReviewTaskResponse>"
    )


def test_poll_review_is_none_while_pending(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, review_answer("PENDING"))

    assert run(lambda c: c.poll_review("GAJ00000001")) is None


@pytest.mark.parametrize(("status", "approved"), [("APPROVED", True), ("DENIED", False)])
def test_poll_review_returns_the_decision(
    httpx_mock: HTTPXMock, status: str, approved: bool
) -> None:
    add_xml(
        httpx_mock,
        review_answer(
            status,
            "<hk:reason>材料不全</hk:reason><hk:decidedAt>2025-03-02T10:00:00+08:00</hk:decidedAt>",
        ),
    )

    decision = run(lambda c: c.poll_review("GAJ00000001"))

    assert decision is not None
    assert decision.approved is approved
    assert decision.reason == "材料不全"
    assert decision.decided_at.utcoffset() == dt.timedelta(hours=8)


def test_issue_result_returns_the_register_entry(httpx_mock: HTTPXMock) -> None:
    add_xml(
        httpx_mock,
        envelope(
            "<hk:IssueResultResponse><hk:householdEntry><hk:entryNumber>HKDJ202503020001"
            "</hk:entryNumber><hk:kind>出生登记</hk:kind>"
            "<hk:idNumber>230103202401050029</hk:idNumber><hk:name>孙悦</hk:name>"
            "<hk:sex>2</hk:sex><hk:birthDate>2024-01-05</hk:birthDate>"
            "<hk:ethnicity>汉族</hk:ethnicity><hk:address>黑龙江省哈尔滨市南岗区西大直街74号"
            "</hk:address><hk:householdNumber>230103000074</hk:householdNumber>"
            "<hk:relationToHead>孙女</hk:relationToHead>"
            "<hk:registeredOn>2025-03-02</hk:registeredOn></hk:householdEntry>"
            "</hk:IssueResultResponse>"
        ),
        match_headers={"SOAPAction": f'"{SERVICE_NS}/IssueResult"'},
    )

    entry = run(lambda c: c.issue_result("GAJ00000001"))

    assert entry.id_number == "230103202401050029"
    assert entry.sex is Sex.FEMALE
    assert entry.kind == "出生登记"
    assert entry.registered_on == dt.date(2025, 3, 2)


# -- SOAP faults ----------------------------------------------------------------------------


def test_a_not_found_client_fault_is_an_empty_result(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("Client", "PERSON_NOT_FOUND", "未查询到该人员户籍信息"), 500)

    assert run(profile) is None


def test_household_not_found_is_an_empty_result(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("Client", "HOUSEHOLD_NOT_FOUND"), 500)

    assert run(lambda c: c.household("230103999999")) is None


def test_another_client_fault_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("Client", "AUTH_FAILED", "用户名或密码错误"), 500)

    with pytest.raises(AdapterProtocolError) as caught:
        run(profile)

    assert "用户名或密码错误 [AUTH_FAILED]" in str(caught.value)
    assert caught.value.path == "/Envelope/Body/Fault"
    assert caught.value.department == DEPARTMENT
    assert caught.value.operation == "profile"


def test_a_not_found_fault_where_none_is_possible_is_a_protocol_error(
    httpx_mock: HTTPXMock,
) -> None:
    add_xml(httpx_mock, fault("Client", "PERSON_NOT_FOUND"), 500)

    with pytest.raises(AdapterProtocolError, match="not-found"):
        run(lambda c: c.issue_result("GAJ00000001"))


def test_a_server_fault_means_the_system_is_unavailable(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("Server", "DB_UNAVAILABLE", "人口信息库连接失败"), 500)

    with pytest.raises(AdapterUnavailable, match="人口信息库连接失败") as caught:
        run(profile)

    assert caught.value.department == DEPARTMENT
    assert caught.value.operation == "profile"


def test_a_dotted_server_fault_code_is_still_a_server_fault(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("Server.Database", "DB_UNAVAILABLE"), 500)

    with pytest.raises(AdapterUnavailable):
        run(profile)


def test_a_fault_sent_with_http_200_is_still_a_fault(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("Server", "DB_UNAVAILABLE"), 200)

    with pytest.raises(AdapterUnavailable):
        run(profile)


def test_a_version_mismatch_fault_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, fault("VersionMismatch", "", "SOAP 1.2 expected"), 500)

    with pytest.raises(AdapterProtocolError, match=r"SOAP 1\.1 is expected"):
        run(profile)


# -- hostile and malformed answers ---------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:hk="http://hukou.gaj.harbin.gov.cn/ws"><soap:Body><hk:QueryPersonResponse><hk:person>
<hk:idNumber>230103198503120316</hk:idNumber><hk:name>&lol9;</hk:name>
</hk:person></hk:QueryPersonResponse></soap:Body></soap:Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&secret;
</soap:Body></soap:Envelope>"""

BARE_DTD = b"""<?xml version="1.0"?><!DOCTYPE soap:Envelope>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/>
</soap:Envelope>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, BARE_DTD])
@pytest.mark.parametrize("status", [200, 500])
def test_dtds_and_entities_are_refused_not_expanded(
    httpx_mock: HTTPXMock, body: bytes, status: int
) -> None:
    add_xml(httpx_mock, body, status)

    with pytest.raises(AdapterProtocolError, match="DTD or entity") as caught:
        run(profile)

    assert caught.value.path == "/"
    assert "lollol" not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [b"<soap:Envelope xmlns:soap='x'><soap:Body>", b"", b"not xml at all", "张伟".encode("gbk")],
)
def test_a_malformed_body_is_a_protocol_error(httpx_mock: HTTPXMock, body: bytes) -> None:
    add_xml(httpx_mock, body)

    with pytest.raises(AdapterProtocolError, match="not well-formed XML") as caught:
        run(profile)

    assert caught.value.path == "/"


def test_a_malformed_body_on_http_500_means_unavailable(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=500, text="<html><body>Internal Server Error")

    with pytest.raises(AdapterUnavailable, match="HTTP 500"):
        run(profile)


def test_a_500_without_a_fault_means_unavailable(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, person_answer(), 500)

    with pytest.raises(AdapterUnavailable, match="without a SOAP fault"):
        run(profile)


def test_an_answer_that_is_not_an_envelope_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, b"<QueryPersonResponse/>")

    with pytest.raises(AdapterProtocolError, match=r"not a SOAP 1\.1 Envelope"):
        run(profile)


def test_a_soap_1_2_envelope_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_xml(
        httpx_mock,
        person_answer().replace(SOAP_ENV.encode(), b"http://www.w3.org/2003/05/soap-envelope"),
    )

    with pytest.raises(AdapterProtocolError, match=r"SOAP 1\.1"):
        run(profile)


def test_a_missing_body_is_named(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, f'<soap:Envelope xmlns:soap="{SOAP_ENV}"/>'.encode())

    with pytest.raises(AdapterProtocolError) as caught:
        run(profile)

    assert caught.value.path == "/Envelope/Body"


def test_the_wrong_response_element_is_named(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, envelope("<hk:QueryHouseholdResponse/>"))

    with pytest.raises(AdapterProtocolError, match="QueryHouseholdResponse") as caught:
        run(profile)

    assert caught.value.path == "/Envelope/Body"


def test_a_missing_element_is_named_by_its_path(httpx_mock: HTTPXMock) -> None:
    add_xml(httpx_mock, person_answer(PERSON.replace("<hk:name>张伟</hk:name>", "")))

    with pytest.raises(AdapterProtocolError, match="missing element <name>") as caught:
        run(profile)

    assert caught.value.path == "/Envelope/Body/QueryPersonResponse/person/name"
    assert str(caught.value).endswith("@ /Envelope/Body/QueryPersonResponse/person/name")
    assert caught.value.operation == "profile"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("<hk:name>张伟</hk:name>", "<hk:name> </hk:name>", "name"),
        ("<hk:sex>1</hk:sex>", "<hk:sex>男</hk:sex>", "sex"),
        (
            "<hk:birthDate>1985-03-12</hk:birthDate>",
            "<hk:birthDate>1985-13-12</hk:birthDate>",
            "birthDate",
        ),
        (
            "<hk:idNumber>230103198503120316</hk:idNumber>",
            "<hk:idNumber>2301</hk:idNumber>",
            "idNumber",
        ),
        ("<hk:name>张伟</hk:name>", "<hk:name>张伟</hk:name><hk:name>张三</hk:name>", "name"),
    ],
)
def test_a_malformed_element_is_named_by_its_path(
    httpx_mock: HTTPXMock, old: str, new: str, field: str
) -> None:
    add_xml(httpx_mock, person_answer(PERSON.replace(old, new)))

    with pytest.raises(AdapterProtocolError) as caught:
        run(profile)

    assert caught.value.path == f"/Envelope/Body/QueryPersonResponse/person/{field}"


def test_a_bad_repeated_element_is_named_with_its_position(httpx_mock: HTTPXMock) -> None:
    add_xml(
        httpx_mock,
        envelope(
            "<hk:QueryHouseholdResponse><hk:household>"
            "<hk:householdNumber>230103000074</hk:householdNumber>"
            "<hk:address>西大直街74号</hk:address><hk:kind>家庭户</hk:kind><hk:members>"
            "<hk:member><hk:idNumber>230103196210010114</hk:idNumber><hk:name>孙国庆</hk:name>"
            "<hk:relationToHead>户主</hk:relationToHead></hk:member>"
            "<hk:member><hk:name>孙悦</hk:name><hk:relationToHead>孙女</hk:relationToHead>"
            "</hk:member></hk:members></hk:household></hk:QueryHouseholdResponse>"
        ),
    )

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda c: c.household("230103000074"))

    assert caught.value.path == (
        "/Envelope/Body/QueryHouseholdResponse/household/members/member[2]/idNumber"
    )


def test_a_time_without_offset_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_xml(
        httpx_mock,
        review_answer("APPROVED", "<hk:decidedAt>2025-03-02T10:00:00</hk:decidedAt>"),
    )

    with pytest.raises(AdapterProtocolError, match="offset") as caught:
        run(lambda c: c.poll_review("GAJ00000001"))

    assert caught.value.path == "/Envelope/Body/QueryReviewTaskResponse/reviewTask/decidedAt"


# -- transport failures and HTTP statuses ---------------------------------------------------


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        (httpx.ReadTimeout("timed out"), "did not answer within 5 s"),
        (httpx.ConnectTimeout("timed out"), "did not answer within 5 s"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "refused the connection"),
        (httpx.RemoteProtocolError("peer closed connection"), "broke off"),
    ],
)
def test_transport_failures_mean_unavailable(
    httpx_mock: HTTPXMock, exception: Exception, message: str
) -> None:
    httpx_mock.add_exception(exception, method="POST", url=URL)

    with pytest.raises(AdapterUnavailable, match=message) as caught:
        run(profile)

    assert caught.value.department == DEPARTMENT
    assert caught.value.operation == "profile"


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_overload_and_gateway_errors_mean_unavailable(httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(status_code=status, text="busy")

    with pytest.raises(AdapterUnavailable, match=f"HTTP {status}"):
        run(profile)


@pytest.mark.parametrize("status", [400, 401, 404, 405, 415])
def test_other_http_errors_are_protocol_errors(httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(status_code=status, text="no such endpoint here")

    with pytest.raises(AdapterProtocolError, match=f"HTTP {status}: no such endpoint here"):
        run(profile)


def test_health_fetches_the_wsdl(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="GET", url=f"{URL}?wsdl", text="<wsdl:definitions xmlns:wsdl='x'/>"
    )

    assert run(lambda c: c.health()) is True


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), None]
)
def test_health_is_false_when_the_service_does_not_answer(
    httpx_mock: HTTPXMock, failure: Exception | None
) -> None:
    if failure is None:
        httpx_mock.add_response(status_code=503)
    else:
        httpx_mock.add_exception(failure)

    assert run(lambda c: c.health()) is False
