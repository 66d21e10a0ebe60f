"""PsbClient against the simulator served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_psb import seed
from govsvc_psb.client import SERVICE_NS, SOAP_ENV, PsbClient, Sex
from starlette.applications import Starlette

from govsvc import AdapterProtocolError, AdapterUnavailable

T = TypeVar("T")
Simulator = Callable[..., tuple[str, Starlette]]

SHARED_PEOPLE = {
    "230103198503120316": ("张伟", "黑龙江省哈尔滨市南岗区学府路52号"),
    "230102197905210428": ("王秀英", "黑龙江省哈尔滨市道里区中央大街118号"),
    "230104199208090266": ("李娜", "黑龙江省哈尔滨市道外区靖宇街300号"),
    "230109198801150175": ("刘洋", "黑龙江省哈尔滨市松北区世茂大道99号"),
    "23011019950630088X": ("陈静", "黑龙江省哈尔滨市香坊区中山路201号"),
    "230108197002280538": ("杨帆", "黑龙江省哈尔滨市平房区友协大街16号"),
    "230112198309170711": ("赵磊", "黑龙江省哈尔滨市阿城区延川大街8号"),
}
NEWBORN_ID = "230103202401050029"


def run(base_url: str, call: Callable[[PsbClient], Awaitable[T]], password: str = "hukou-sim") -> T:
    async def main() -> T:
        async with PsbClient(base_url, username="govsvc", password=password) as client:
            return await call(client)

    return asyncio.run(main())


def decide(base_url: str, legacy_task_id: str, approve: bool, reason: str = "") -> None:
    response = httpx.post(
        f"{base_url}/admin/review-tasks/{legacy_task_id}/decision",
        json={"approve": approve, "reason": reason},
    )
    response.raise_for_status()


def check_digit(number: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(a) * w for a, w in zip(number[:17], weights, strict=True)) % 11]


def test_seed_numbers_carry_valid_check_digits_and_match_sex_and_birth() -> None:
    for person in (*seed.PEOPLE, seed.NEWBORN):
        assert check_digit(person.id_number) == person.id_number[17], person.name
        assert person.birth_date.strftime("%Y%m%d") == person.id_number[6:14]
        assert person.sex == ("1" if int(person.id_number[16]) % 2 else "2")
        assert any(h.household_number == person.household_number for h in seed.HOUSEHOLDS)


def test_the_wsdl_is_served_and_names_the_endpoint(simulator: Simulator) -> None:
    base_url, _ = simulator()

    response = httpx.get(f"{base_url}/ws?wsdl")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    wsdl = "http://schemas.xmlsoap.org/wsdl/"
    assert root.tag == f"{{{wsdl}}}definitions"
    operations = {o.get("name") for o in root.iter(f"{{{wsdl}}}operation")}
    assert operations == {
        "QueryPerson",
        "QueryHousehold",
        "CreateReviewTask",
        "QueryReviewTask",
        "IssueResult",
    }
    address = root.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None
    assert address.get("location") == f"{base_url}/ws"
    assert run(base_url, lambda c: c.health()) is True


def test_profile_returns_every_shared_person(simulator: Simulator) -> None:
    base_url, _ = simulator()

    async def everyone(client: PsbClient) -> list[Any]:
        return list(await asyncio.gather(*(client.profile(i) for i in SHARED_PEOPLE)))

    people = run(base_url, everyone)

    for person, (id_number, (name, address)) in zip(people, SHARED_PEOPLE.items(), strict=True):
        assert person is not None
        assert (person.id_number, person.name, person.address) == (id_number, name, address)
    assert people[1].ethnicity == "满族"
    assert people[0].sex is Sex.MALE and people[1].sex is Sex.FEMALE


def test_unknown_people_and_households_are_empty_results(simulator: Simulator) -> None:
    base_url, _ = simulator()

    async def lookups(client: PsbClient) -> tuple[Any, Any, Any]:
        return (
            await client.profile(NEWBORN_ID),  # not registered before 出生登记
            await client.profile("110101199003070012"),
            await client.household("230103999999"),
        )

    assert run(base_url, lookups) == (None, None, None)


def test_household_lists_its_members(simulator: Simulator) -> None:
    base_url, _ = simulator(newborn_registered=True)

    household = run(base_url, lambda c: c.household("230103000074"))

    assert household is not None
    assert household.address == "黑龙江省哈尔滨市南岗区西大直街74号"
    assert [(m.name, m.relation_to_head) for m in household.members] == [
        ("孙国庆", "户主"),
        ("孙悦", "孙女"),
    ]


def test_wrong_credentials_are_a_protocol_error(simulator: Simulator) -> None:
    base_url, _ = simulator()

    with pytest.raises(AdapterProtocolError, match="AUTH_FAILED"):
        run(base_url, lambda c: c.profile("230103198503120316"), password="wrong")


def test_a_server_fault_from_the_simulator_means_unavailable(simulator: Simulator) -> None:
    base_url, _ = simulator(fail_operations=["QueryPerson"])

    with pytest.raises(AdapterUnavailable, match="人口信息库连接失败"):
        run(base_url, lambda c: c.profile("230103198503120316"))


def test_a_refused_connection_means_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the client connects

    with pytest.raises(AdapterUnavailable, match="refused the connection"):
        run(f"http://127.0.0.1:{port}", lambda c: c.profile("230103198503120316"))


def test_birth_registration_from_review_to_register_entry(simulator: Simulator) -> None:
    base_url, app = simulator()
    form = seed.NEWBORN_BIRTH_FORM

    async def open_twice(client: PsbClient) -> tuple[Any, Any, Any]:
        first = await client.open_review("task-born-1", "case-1", "000201001000", "陈静", form)
        again = await client.open_review("task-born-1", "case-1", "000201001000", "陈静", form)
        return first, again, await client.poll_review(first.legacy_task_id)

    first, again, pending = run(base_url, open_twice)

    assert again == first
    assert len(app.state.register.tasks) == 1
    assert pending is None

    decide(base_url, first.legacy_task_id, approve=True, reason="材料齐全")

    async def finish(client: PsbClient) -> tuple[Any, Any, Any, Any]:
        decision = await client.poll_review(first.legacy_task_id)
        entry = await client.issue_result(first.legacy_task_id)
        return (
            decision,
            entry,
            await client.issue_result(first.legacy_task_id),
            await client.profile(NEWBORN_ID),
        )

    decision, entry, entry_again, newborn = run(base_url, finish)

    assert decision.approved is True
    assert decision.reason == "材料齐全"
    assert entry == entry_again
    assert entry.kind == "出生登记"
    assert entry.id_number == NEWBORN_ID  # 230103 + 20240105 + first even sequence 002 + 9
    assert (entry.name, entry.sex, entry.birth_date) == ("孙悦", Sex.FEMALE, dt.date(2024, 1, 5))
    assert entry.address == "黑龙江省哈尔滨市南岗区西大直街74号"
    assert newborn is not None
    assert newborn.household_number == "230103000074"


def test_a_move_changes_the_registered_address(simulator: Simulator) -> None:
    base_url, _ = simulator(auto_decide_after=0)
    form = {
        "registrationType": "户口迁移",
        "idNumber": "230104199208090266",
        "householdNumber": "230103000152",
        "relationToHead": "妻",
    }

    async def move(client: PsbClient) -> tuple[Any, Any, Any]:
        ticket = await client.open_review("task-move", "case-2", "000201002000", "李娜", form)
        decision = await client.poll_review(ticket.legacy_task_id)
        entry = await client.issue_result(ticket.legacy_task_id)
        return decision, entry, await client.profile("230104199208090266")

    decision, entry, person = run(base_url, move)

    assert decision.approved is True
    assert entry.kind == "户口迁移"
    assert person.address == "黑龙江省哈尔滨市南岗区学府路52号"
    assert person.relation_to_head == "妻"


def test_a_denied_task_cannot_be_issued(simulator: Simulator) -> None:
    base_url, _ = simulator()
    form = seed.NEWBORN_BIRTH_FORM
    ticket = run(base_url, lambda c: c.open_review("t-deny", "c", "i", "陈静", form))

    decide(base_url, ticket.legacy_task_id, approve=False, reason="出生医学证明编号不符")

    decision = run(base_url, lambda c: c.poll_review(ticket.legacy_task_id))
    assert decision is not None
    assert (decision.approved, decision.reason) == (False, "出生医学证明编号不符")
    with pytest.raises(AdapterProtocolError, match="TASK_NOT_APPROVED"):
        run(base_url, lambda c: c.issue_result(ticket.legacy_task_id))


def test_reusing_a_task_id_for_other_content_is_refused(simulator: Simulator) -> None:
    base_url, _ = simulator()
    form = dict(seed.NEWBORN_BIRTH_FORM)

    async def reuse(client: PsbClient) -> None:
        await client.open_review("t-1", "case-1", "item", "陈静", form)
        await client.open_review("t-1", "case-1", "item", "陈静", form | {"name": "孙月"})

    with pytest.raises(AdapterProtocolError, match="TASK_ID_REUSED"):
        run(base_url, reuse)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"registrationType": "死亡注销"}, "不支持的登记类型"),
        ({"householdNumber": "230103999999"}, "户号不存在"),
        ({"sex": "男"}, "性别代码"),
        ({"birthDate": "2999-01-01"}, "出生日期"),
    ],
)
def test_an_invalid_form_is_refused_with_the_reason(
    simulator: Simulator, change: dict[str, str], problem: str
) -> None:
    base_url, app = simulator()
    form = seed.NEWBORN_BIRTH_FORM | change

    with pytest.raises(AdapterProtocolError, match=problem):
        run(base_url, lambda c: c.open_review("t-bad", "c", "i", "陈静", form))
    assert app.state.register.tasks == {}


def test_polling_an_unknown_task_is_a_protocol_error(simulator: Simulator) -> None:
    base_url, _ = simulator()

    with pytest.raises(AdapterProtocolError, match="TASK_NOT_FOUND"):
        run(base_url, lambda c: c.poll_review("GAJ99999999"))


def test_auto_decide_follows_the_simulator_clock(simulator: Simulator) -> None:
    now = [100.0]
    base_url, _ = simulator(auto_decide_after=30, clock=lambda: now[0])
    ticket = run(base_url, lambda c: c.open_review("t", "c", "i", "陈静", seed.NEWBORN_BIRTH_FORM))

    assert run(base_url, lambda c: c.poll_review(ticket.legacy_task_id)) is None
    now[0] += 30
    decision = run(base_url, lambda c: c.poll_review(ticket.legacy_task_id))
    assert decision is not None and decision.approved


def soap_post(http: httpx.Client, body: bytes, action: str = "QueryPerson") -> httpx.Response:
    return http.post(
        "/ws",
        content=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f"{SERVICE_NS}/{action}"},
    )


def fault_code(response: httpx.Response) -> str:
    root = ET.fromstring(response.content)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None
    code = fault.findtext(f"detail/{{{SERVICE_NS}}}error/{{{SERVICE_NS}}}code")
    return f"{fault.findtext('faultcode')} {code}"


def test_the_simulator_refuses_hostile_and_mismatched_requests(simulator: Simulator) -> None:
    base_url, _ = simulator()
    hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    request = (
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:hk="{SERVICE_NS}"><soap:Body>'
        "<hk:QueryPerson><hk:idNumber>230103198503120316</hk:idNumber></hk:QueryPerson>"
        "</soap:Body></soap:Envelope>"
    ).encode()

    with httpx.Client(base_url=base_url) as http:
        refused = soap_post(http, hostile)
        mismatched = soap_post(http, request, action="IssueResult")
        anonymous = soap_post(http, request)
        not_xml_type = http.post("/ws", content=request)

    assert refused.status_code == 500
    assert fault_code(refused) == "soap:Client MALFORMED_REQUEST"
    assert fault_code(mismatched) == "soap:Client SOAPACTION_MISMATCH"
    assert fault_code(anonymous) == "soap:Client AUTH_FAILED"
    assert not_xml_type.status_code == 415
