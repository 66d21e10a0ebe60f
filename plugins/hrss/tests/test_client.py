"""HrssClient against canned answers (pytest-httpx, strict defaults)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_hrss.client import (
    DEPARTMENT,
    CardStatus,
    Employer,
    HrssClient,
    Insurance,
    InsuranceStatus,
    InsuredEmployee,
    InsuredPerson,
    Sex,
    SocialSecurityCard,
)
from pytest_httpx import HTTPXMock

from govsvc import AdapterProtocolError, AdapterUnavailable, InvalidInput

BASE = "http://hrss.test"
TOKEN_URL = f"{BASE}/oauth/token"
ZHANG_WEI = "230103198503120316"
T = TypeVar("T")

PERSON: dict[str, Any] = {
    "idNumber": "230104199208090266",
    "name": "李娜",
    "sex": "女",
    "birthDate": "1992-08-09",
    "address": "黑龙江省哈尔滨市南岗区红军街15号",
    "employer": {"creditCode": "91230103MA1BX4K238", "name": "哈尔滨市冰城饺子馆有限公司"},
    "insurances": [
        {
            "type": "110",
            "typeName": "企业职工基本养老保险",
            "status": "参保缴费",
            "since": "2019-07-01",
        },
        {"type": "210", "typeName": "失业保险", "status": "暂停缴费", "since": "2019-07-01"},
    ],
}


def card(number: str, status: str = "正常", **changes: Any) -> dict[str, Any]:
    return {
        "cardNumber": number,
        "socialSecurityNumber": ZHANG_WEI,
        "holderName": "张伟",
        "bank": "中国工商银行哈尔滨分行",
        "issuedOn": "2021-09-10",
        "status": status,
    } | changes


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(
    call: Callable[[HrssClient], Awaitable[T]], *, clock: Clock | None = None, page_size: int = 50
) -> T:
    async def main() -> T:
        async with HrssClient(
            BASE,
            client_id="govsvc",
            client_secret="s&cret=1",
            page_size=page_size,
            clock=clock or Clock(),
        ) as client:
            return await call(client)

    return asyncio.run(main())


def add_token(httpx_mock: HTTPXMock, token: str = "tok1", expires_in: float = 3600) -> None:
    httpx_mock.add_response(
        method="POST",
        url=TOKEN_URL,
        match_content=b"grant_type=client_credentials&client_id=govsvc&client_secret=s%26cret%3D1",
        match_headers={"Content-Type": "application/x-www-form-urlencoded"},
        json={"access_token": token, "token_type": "Bearer", "expires_in": expires_in},
    )


def add_api(
    httpx_mock: HTTPXMock,
    path: str,
    *,
    token: str = "tok1",
    method: str = "GET",
    params: dict[str, str] | None = None,
    **response: Any,
) -> None:
    httpx_mock.add_response(
        method=method,
        url=httpx.URL(f"{BASE}{path}", params=params),
        match_headers={"Authorization": f"Bearer {token}"},
        **response,
    )


def profile(client: HrssClient) -> Awaitable[InsuredPerson | None]:
    return client.profile("230104199208090266")


# -- reading ------------------------------------------------------------------------------


def test_profile_fetches_a_token_and_parses_the_person(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, "/api/persons/230104199208090266", json=PERSON)

    person = run(profile)

    assert person == InsuredPerson(
        id_number="230104199208090266",
        name="李娜",
        sex=Sex.FEMALE,
        birth_date=dt.date(1992, 8, 9),
        address="黑龙江省哈尔滨市南岗区红军街15号",
        employer=Employer("91230103MA1BX4K238", "哈尔滨市冰城饺子馆有限公司"),
        insurances=(
            Insurance("110", "企业职工基本养老保险", InsuranceStatus.PAYING, dt.date(2019, 7, 1)),
            Insurance("210", "失业保险", InsuranceStatus.PAUSED, dt.date(2019, 7, 1)),
        ),
    )
    assert person.insured is True


def test_a_person_without_employer(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, "/api/persons/230104199208090266", json=PERSON | {"employer": None})

    person = run(profile)

    assert person is not None
    assert person.employer is None


def test_an_unknown_person_is_an_empty_result(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/persons/230104199208090266",
        status_code=404,
        json={"error": "person_not_found"},
    )

    assert run(profile) is None


def test_certificates_follow_every_page(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    numbers = ["H10023456", "H30188412", "H30200001"]
    for page, number in enumerate(numbers, 1):
        add_api(
            httpx_mock,
            "/api/cards",
            params={"holder": ZHANG_WEI, "page": str(page), "size": "1"},
            json={"items": [card(number)], "page": page, "size": 1, "total": 3},
        )

    cards = run(lambda c: c.certificates(ZHANG_WEI), page_size=1)

    assert [c.card_number for c in cards] == numbers
    assert cards[0] == SocialSecurityCard(
        card_number="H10023456",
        social_security_number=ZHANG_WEI,
        holder_name="张伟",
        bank="中国工商银行哈尔滨分行",
        issued_on=dt.date(2021, 9, 10),
        status=CardStatus.NORMAL,
    )


def test_insured_employees_follow_every_page(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    people = [
        ("230103198503120316", "张伟"),
        ("230104199208090266", "李娜"),
        ("230112198309170711", "赵磊"),
    ]
    for page, (id_number, name) in enumerate(people, 1):
        add_api(
            httpx_mock,
            "/api/employers/91230103MA1BX4K238/insured",
            params={"page": str(page), "size": "1"},
            json={
                "items": [
                    {
                        "idNumber": id_number,
                        "name": name,
                        "insuranceTypes": ["110", "310"],
                        "since": "2016-04-01",
                    }
                ],
                "page": page,
                "size": 1,
                "total": 3,
            },
        )

    employees = run(lambda c: c.insured_employees("91230103MA1BX4K238"), page_size=1)

    assert [e.name for e in employees] == ["张伟", "李娜", "赵磊"]
    assert employees[0] == InsuredEmployee(
        "230103198503120316", "张伟", ("110", "310"), dt.date(2016, 4, 1)
    )


def test_an_unknown_holder_has_no_cards(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/cards",
        params={"holder": ZHANG_WEI, "page": "1", "size": "50"},
        status_code=404,
        json={"error": "holder_not_found"},
    )

    assert run(lambda c: c.certificates(ZHANG_WEI)) == []


def test_an_empty_list_is_one_page(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/cards",
        params={"holder": ZHANG_WEI, "page": "1", "size": "50"},
        json={"items": [], "page": 1, "size": 50, "total": 0},
    )

    assert run(lambda c: c.certificates(ZHANG_WEI)) == []


def test_a_wrong_page_number_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/cards",
        params={"holder": ZHANG_WEI, "page": "1", "size": "50"},
        json={"items": [card("H30188412")], "page": 2, "size": 50, "total": 2},
    )

    with pytest.raises(AdapterProtocolError, match="asked for page 1") as caught:
        run(lambda c: c.certificates(ZHANG_WEI))

    assert caught.value.path == "$.page"


def test_an_empty_page_before_the_total_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/cards",
        params={"holder": ZHANG_WEI, "page": "1", "size": "1"},
        json={"items": [card("H30188412")], "page": 1, "size": 1, "total": 3},
    )
    add_api(
        httpx_mock,
        "/api/cards",
        params={"holder": ZHANG_WEI, "page": "2", "size": "1"},
        json={"items": [], "page": 2, "size": 1, "total": 3},
    )

    with pytest.raises(AdapterProtocolError, match="changed while paging") as caught:
        run(lambda c: c.certificates(ZHANG_WEI), page_size=1)

    assert caught.value.path == "$.items"


# -- tokens -------------------------------------------------------------------------------


def test_the_token_is_cached_and_shared_by_concurrent_calls(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)  # registered once: a second token request would fail the test
    add_api(httpx_mock, "/api/persons/230104199208090266", json=PERSON, is_reusable=True)

    async def three(client: HrssClient) -> list[InsuredPerson | None]:
        return list(await asyncio.gather(profile(client), profile(client), profile(client)))

    assert all(p is not None for p in run(three))
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1


def test_an_expired_token_is_renewed_before_use(httpx_mock: HTTPXMock) -> None:
    clock = Clock()
    add_token(httpx_mock, "tok1", expires_in=60)
    add_token(httpx_mock, "tok2", expires_in=60)
    add_api(httpx_mock, "/api/persons/230104199208090266", token="tok1", json=PERSON)
    add_api(httpx_mock, "/api/persons/230104199208090266", token="tok2", json=PERSON)

    async def twice(client: HrssClient) -> None:
        await profile(client)
        clock.now += 55  # renewed 10 % early: valid for 60 s, renewed after 54 s
        await profile(client)

    run(twice, clock=clock)


def test_a_token_still_valid_is_reused(httpx_mock: HTTPXMock) -> None:
    clock = Clock()
    add_token(httpx_mock, "tok1", expires_in=60)
    add_api(httpx_mock, "/api/persons/230104199208090266", json=PERSON, is_reusable=True)

    async def twice(client: HrssClient) -> None:
        await profile(client)
        clock.now += 50
        await profile(client)

    run(twice, clock=clock)


@pytest.mark.parametrize(
    "refusal",
    [
        {"headers": {"WWW-Authenticate": 'Bearer error="invalid_token"'}, "json": {}},
        {"json": {"error": "invalid_token"}},
    ],
)
def test_an_invalid_token_is_replaced_once(httpx_mock: HTTPXMock, refusal: dict[str, Any]) -> None:
    add_token(httpx_mock, "tok1")
    add_token(httpx_mock, "tok2")
    add_api(httpx_mock, "/api/persons/230104199208090266", status_code=401, **refusal)
    add_api(httpx_mock, "/api/persons/230104199208090266", token="tok2", json=PERSON)

    assert run(profile) is not None


def test_a_fresh_token_refused_again_is_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    refusal = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    add_token(httpx_mock, "tok1")
    add_token(httpx_mock, "tok2")
    add_api(httpx_mock, "/api/persons/230104199208090266", status_code=401, headers=refusal)
    add_api(
        httpx_mock,
        "/api/persons/230104199208090266",
        token="tok2",
        status_code=401,
        headers=refusal,
        json={"error": "invalid_token"},
    )

    with pytest.raises(AdapterProtocolError, match="freshly issued") as caught:
        run(profile)

    assert caught.value.operation == "profile"


def test_a_401_for_another_reason_is_not_retried(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, "/api/persons/230104199208090266", status_code=401, json={"error": "nope"})

    with pytest.raises(AdapterProtocolError, match="HTTP 401"):
        run(profile)


@pytest.mark.parametrize("status", [400, 401])
def test_refused_client_credentials_are_a_protocol_error(
    httpx_mock: HTTPXMock, status: int
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, status_code=status, json={"error": "invalid_client"})

    with pytest.raises(AdapterProtocolError, match="check client_id and client_secret"):
        run(profile)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"token_type": "Bearer", "expires_in": 60}, "$.access_token"),
        ({"access_token": "t", "token_type": "mac", "expires_in": 60}, "$.token_type"),
        ({"access_token": "t", "token_type": "Bearer", "expires_in": "60"}, "$.expires_in"),
        ({"access_token": "t", "token_type": "Bearer", "expires_in": -1}, "$.expires_in"),
        ({"access_token": 7, "token_type": "Bearer", "expires_in": 60}, "$.access_token"),
    ],
)
def test_a_malformed_token_answer_is_a_protocol_error(
    httpx_mock: HTTPXMock, body: dict[str, Any], path: str
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json=body)

    with pytest.raises(AdapterProtocolError) as caught:
        run(profile)

    assert caught.value.path == path


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.ReadTimeout("slow"), "token endpoint did not answer within 5 s"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "refused the connection"),
    ],
)
def test_an_unreachable_token_endpoint_means_unavailable(
    httpx_mock: HTTPXMock, failure: Exception, message: str
) -> None:
    httpx_mock.add_exception(failure, url=TOKEN_URL)

    with pytest.raises(AdapterUnavailable, match=message):
        run(profile)


def test_a_failing_token_endpoint_means_unavailable(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=TOKEN_URL, status_code=503, text="maintenance")

    with pytest.raises(AdapterUnavailable, match="token endpoint answered HTTP 503"):
        run(profile)


# -- failures of API calls ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.ReadTimeout("slow"), "did not answer within 5 s"),
        (httpx.ConnectTimeout("slow"), "did not answer within 5 s"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "refused the connection"),
        (httpx.RemoteProtocolError("peer closed connection"), "broke off"),
    ],
)
def test_transport_failures_mean_unavailable(
    httpx_mock: HTTPXMock, failure: Exception, message: str
) -> None:
    add_token(httpx_mock)
    httpx_mock.add_exception(failure, url=f"{BASE}/api/persons/230104199208090266")

    with pytest.raises(AdapterUnavailable, match=message) as caught:
        run(profile)

    assert caught.value.department == DEPARTMENT
    assert caught.value.operation == "profile"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_mean_unavailable(httpx_mock: HTTPXMock, status: int) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/persons/230104199208090266",
        status_code=status,
        headers={"Retry-After": "30"},
        text="busy",
    )

    with pytest.raises(AdapterUnavailable, match=f"HTTP {status} \\(Retry-After: 30 s\\)"):
        run(profile)


@pytest.mark.parametrize("status", [400, 403, 405, 409, 422])
def test_other_client_errors_are_protocol_errors(httpx_mock: HTTPXMock, status: int) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/persons/230104199208090266",
        status_code=status,
        json={"error": "bad", "message": "参数错误"},
    )

    with pytest.raises(AdapterProtocolError, match=f"HTTP {status}: .*参数错误") as caught:
        run(profile)

    assert caught.value.department == DEPARTMENT


def test_a_404_where_not_found_is_impossible_is_a_protocol_error(
    httpx_mock: HTTPXMock,
) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, "/api/review-tasks/RS1", status_code=404, json={"error": "task_not_found"})

    with pytest.raises(AdapterProtocolError, match="HTTP 404"):
        run(lambda c: c.poll_review("RS1"))


@pytest.mark.parametrize(
    "body", [b"<html>Bad Gateway</html>", b"", b'{"idNumber": ', b"\xff\xfe", b"[1, 2]"]
)
def test_a_body_that_is_not_a_json_object_is_a_protocol_error(
    httpx_mock: HTTPXMock, body: bytes
) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, "/api/persons/230104199208090266", content=body)

    with pytest.raises(AdapterProtocolError) as caught:
        run(profile)

    assert caught.value.path == "$"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"name": None}, "$.name"),
        ({"name": ""}, "$.name"),
        ({"sex": "M"}, "$.sex"),
        ({"birthDate": "1992-02-30"}, "$.birthDate"),
        ({"idNumber": "23010419920809026"}, "$.idNumber"),
        ({"employer": {"creditCode": "91230103MA1BX4K23", "name": "x"}}, "$.employer.creditCode"),
        ({"employer": "冰城饺子馆"}, "$.employer"),
        ({"insurances": {}}, "$.insurances"),
        (
            {
                "insurances": [
                    PERSON["insurances"][0],
                    {**PERSON["insurances"][1], "status": "冻结"},
                ]
            },
            "$.insurances[1].status",
        ),
    ],
)
def test_a_malformed_field_is_named_by_its_path(
    httpx_mock: HTTPXMock, change: dict[str, Any], path: str
) -> None:
    add_token(httpx_mock)
    body = {k: v for k, v in (PERSON | change).items() if v is not None}
    add_api(httpx_mock, "/api/persons/230104199208090266", json=body)

    with pytest.raises(AdapterProtocolError) as caught:
        run(profile)

    assert caught.value.path == path
    assert str(caught.value).endswith(f"@ {path}")


@pytest.mark.parametrize(
    ("item", "path"),
    [
        (
            {k: v for k, v in card("H30188412").items() if k != "cardNumber"},
            "$.items[1].cardNumber",
        ),
        (card("H30188412", status="冻结"), "$.items[1].status"),
        (card("H30188412", issuedOn="2021/09/10"), "$.items[1].issuedOn"),
        (card("H30188412", holderName=12), "$.items[1].holderName"),
        ("H30188412", "$.items[1]"),
    ],
)
def test_a_malformed_list_item_is_named_by_its_path(
    httpx_mock: HTTPXMock, item: Any, path: str
) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/cards",
        params={"holder": ZHANG_WEI, "page": "1", "size": "50"},
        json={"items": [card("H10023456"), item], "page": 1, "size": 50, "total": 2},
    )

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda c: c.certificates(ZHANG_WEI))

    assert caught.value.path == path
    assert caught.value.operation == "certificates"


# -- review tasks -------------------------------------------------------------------------

TICKET = {
    "legacyTaskId": "RS0000000001",
    "taskId": "task-1",
    "status": "PENDING",
    "createdAt": "2025-03-01T09:30:00+08:00",
}


def test_open_review_sends_the_task_id_as_idempotency_key(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/api/review-tasks",
        match_headers={"Authorization": "Bearer tok1", "Idempotency-Key": "task-1"},
        match_json={
            "taskId": "task-1",
            "caseId": "case-1",
            "itemCode": "000301001000",
            "applicantId": "23011019950630088X",
            "form": {"name": "孙悦", "birthDate": "2024-01-05", "copies": 1},
        },
        status_code=201,
        json=TICKET,
    )
    form = {"name": "孙悦", "birthDate": dt.date(2024, 1, 5), "copies": 1}

    ticket = run(
        lambda c: c.open_review("task-1", "case-1", "000301001000", "23011019950630088X", form)
    )

    assert ticket.legacy_task_id == "RS0000000001"
    assert ticket.created_at == dt.datetime(2025, 3, 1, 1, 30, tzinfo=dt.UTC)


def test_a_form_value_json_cannot_carry_is_refused_before_sending() -> None:
    with pytest.raises(InvalidInput, match="'photo' must be text"):
        run(lambda c: c.open_review("t", "c", "i", "a", {"photo": b"\x89PNG"}))


def test_poll_review_is_none_while_pending(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, "/api/review-tasks/RS0000000001", json=TICKET)

    assert run(lambda c: c.poll_review("RS0000000001")) is None


@pytest.mark.parametrize(("status", "approved"), [("APPROVED", True), ("DENIED", False)])
def test_poll_review_returns_the_decision(
    httpx_mock: HTTPXMock, status: str, approved: bool
) -> None:
    add_token(httpx_mock)
    decided = TICKET | {
        "status": status,
        "reason": "照片不合格",
        "decidedAt": "2025-03-02T10:00:00+08:00",
    }
    add_api(httpx_mock, "/api/review-tasks/RS0000000001", json=decided)

    decision = run(lambda c: c.poll_review("RS0000000001"))

    assert decision is not None
    assert (decision.approved, decision.reason) == (approved, "照片不合格")


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"status": "WAITING"}, "$.status"),
        ({"status": "APPROVED"}, "$.decidedAt"),
        ({"status": "DENIED", "decidedAt": "2025-03-02T10:00:00"}, "$.decidedAt"),
    ],
)
def test_a_malformed_review_status_is_a_protocol_error(
    httpx_mock: HTTPXMock, change: dict[str, str], path: str
) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, "/api/review-tasks/RS0000000001", json=TICKET | change)

    with pytest.raises(AdapterProtocolError) as caught:
        run(lambda c: c.poll_review("RS0000000001"))

    assert caught.value.path == path


def test_issue_result_returns_the_new_card(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(
        httpx_mock,
        "/api/review-tasks/RS0000000001/issue",
        method="POST",
        json=card("H30200009", socialSecurityNumber="230103202401050029", holderName="孙悦"),
    )

    issued = run(lambda c: c.issue_result("RS0000000001"))

    assert (issued.card_number, issued.holder_name) == ("H30200009", "孙悦")
    assert issued.status is CardStatus.NORMAL


def test_health(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/health", json={"status": "UP"})

    assert run(lambda c: c.health()) is True


@pytest.mark.parametrize(
    "answer",
    [httpx.ConnectError("refused"), {"status_code": 503}, {"json": ["UP"]}, {"text": "UP"}],
)
def test_health_is_false_when_the_api_is_not_up(httpx_mock: HTTPXMock, answer: Any) -> None:
    if isinstance(answer, Exception):
        httpx_mock.add_exception(answer)
    else:
        httpx_mock.add_response(**answer)

    assert run(lambda c: c.health()) is False


def test_a_page_size_below_one_is_refused() -> None:
    with pytest.raises(InvalidInput, match="page_size"):
        HrssClient(BASE, client_id="a", client_secret="b", page_size=0)


def test_json_round_trip_of_the_form_keeps_chinese_text(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, "/api/review-tasks", method="POST", status_code=201, json=TICKET)

    run(lambda c: c.open_review("task-1", "c", "i", "a", {"name": "孙悦"}))

    sent = httpx_mock.get_requests(url=f"{BASE}/api/review-tasks")[0]
    assert json.loads(sent.content)["form"] == {"name": "孙悦"}


def test_an_identifier_cannot_change_the_endpoint(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock)
    add_api(httpx_mock, "/api/persons/..%2Fcards%3Fholder%3D1", status_code=404, json={})

    assert run(lambda c: c.profile("../cards?holder=1")) is None
