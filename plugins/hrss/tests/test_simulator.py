"""HrssClient against the simulator served by a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_hrss import seed
from govsvc_hrss.client import CardStatus, HrssClient, InsuranceStatus
from starlette.applications import Starlette

from govsvc import AdapterProtocolError, AdapterUnavailable

T = TypeVar("T")
Simulator = Callable[..., tuple[str, Starlette]]
ZHANG_WEI, LI_NA = "230103198503120316", "230104199208090266"
DUMPLINGS = "91230103MA1BX4K238"
PSB_ADDRESSES = {
    "230103198503120316": "黑龙江省哈尔滨市南岗区学府路52号",
    "230102197905210428": "黑龙江省哈尔滨市道里区中央大街118号",
    "230104199208090266": "黑龙江省哈尔滨市道外区靖宇街300号",
    "230109198801150175": "黑龙江省哈尔滨市松北区世茂大道99号",
    "23011019950630088X": "黑龙江省哈尔滨市香坊区中山路201号",
    "230108197002280538": "黑龙江省哈尔滨市平房区友协大街16号",
    "230112198309170711": "黑龙江省哈尔滨市阿城区延川大街8号",
}


class Clock:
    """A monotonic clock shared by the simulator and the client, moved by hand."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def run(
    base_url: str,
    call: Callable[[HrssClient], Awaitable[T]],
    *,
    secret: str = "hrss-sim-secret",
    **options: Any,
) -> T:
    async def main() -> T:
        async with HrssClient(
            base_url, client_id="govsvc", client_secret=secret, **options
        ) as client:
            return await call(client)

    return asyncio.run(main())


def decide(base_url: str, legacy_task_id: str, approve: bool, reason: str = "") -> None:
    response = httpx.post(
        f"{base_url}/admin/review-tasks/{legacy_task_id}/decision",
        json={"approve": approve, "reason": reason},
    )
    response.raise_for_status()


def test_seed_identifiers_are_valid() -> None:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    for person in seed.PEOPLE:
        number = person.id_number
        total = sum(int(a) * w for a, w in zip(number[:17], weights, strict=True))
        assert "10X98765432"[total % 11] == number[17], person.name
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for code in [e.credit_code for e in seed.EMPLOYERS] + [seed.DEPARTMENT_CREDIT_CODE]:
        total = sum(alphabet.index(c) * pow(3, i, 31) for i, c in enumerate(code[:17]))
        assert alphabet[(31 - total % 31) % 31] == code[17], code
    assert {c.holder_id for c in seed.CARDS} == {p.id_number for p in seed.PEOPLE}


def test_health(simulator: Simulator) -> None:
    base_url, _ = simulator()

    assert run(base_url, lambda c: c.health()) is True


def test_profiles_of_the_shared_people(simulator: Simulator) -> None:
    base_url, _ = simulator()

    async def everyone(client: HrssClient) -> list[Any]:
        return list(await asyncio.gather(*(client.profile(i) for i in PSB_ADDRESSES)))

    people = {p.id_number: p for p in run(base_url, everyone)}

    assert set(people) == set(PSB_ADDRESSES)
    for id_number, person in people.items():
        if id_number == LI_NA:  # the deliberate disagreement: 人社 holds her old address
            assert person.address == "黑龙江省哈尔滨市南岗区红军街15号"
            assert person.address != PSB_ADDRESSES[id_number]
        else:
            assert person.address == PSB_ADDRESSES[id_number]
    assert people[ZHANG_WEI].employer.name == "哈尔滨市冰城饺子馆有限公司"
    assert people["230109198801150175"].employer is None  # 刘洋: 灵活就业
    assert [i.type_code for i in people["230109198801150175"].insurances] == ["110", "310"]
    zhao_lei = {i.type_code: i.status for i in people["230112198309170711"].insurances}
    assert zhao_lei["210"] is InsuranceStatus.PAUSED
    assert all(p.insured for p in people.values())


def test_an_unknown_person_holder_and_employer_are_empty(simulator: Simulator) -> None:
    base_url, _ = simulator()

    async def lookups(client: HrssClient) -> tuple[Any, Any, Any]:
        return (
            await client.profile(seed.NEWBORN_ID),
            await client.certificates(seed.NEWBORN_ID),
            await client.insured_employees("91230100MA1ABCDE0X"),
        )

    assert run(base_url, lookups) == (None, [], [])


def test_cards_are_fetched_page_by_page(simulator: Simulator) -> None:
    base_url, _ = simulator()

    cards = run(base_url, lambda c: c.certificates(ZHANG_WEI), page_size=1)

    assert [(c.card_number, c.status) for c in cards] == [
        ("H10023456", CardStatus.CANCELLED),
        ("H30188412", CardStatus.NORMAL),
    ]
    assert {c.social_security_number for c in cards} == {ZHANG_WEI}


def test_an_employers_insured_persons_are_fetched_page_by_page(simulator: Simulator) -> None:
    base_url, _ = simulator()

    employees = run(base_url, lambda c: c.insured_employees(DUMPLINGS), page_size=1)

    assert [e.name for e in employees] == ["张伟", "李娜", "赵磊"]
    assert employees[0].insurance_types == ("110", "210", "310", "410", "510")


def test_the_token_is_renewed_when_it_expires(simulator: Simulator) -> None:
    clock = Clock()
    base_url, app = simulator(token_ttl=60, clock=clock)

    async def calls(client: HrssClient) -> None:
        await client.profile(ZHANG_WEI)
        await client.profile(LI_NA)
        clock.now += 61
        await client.profile(ZHANG_WEI)

    run(base_url, calls, clock=clock)

    assert app.state.hrss.tokens_issued == 2


def test_a_revoked_token_is_replaced_once(simulator: Simulator) -> None:
    base_url, app = simulator()

    async def calls(client: HrssClient) -> Any:
        await client.profile(ZHANG_WEI)
        async with httpx.AsyncClient() as admin:
            (await admin.post(f"{base_url}/admin/tokens/revoke")).raise_for_status()
        return await client.profile(LI_NA)

    assert run(base_url, calls).name == "李娜"
    assert app.state.hrss.tokens_issued == 2


def test_a_token_refused_again_after_renewal_is_an_error(simulator: Simulator) -> None:
    base_url, app = simulator(token_ttl=0)  # every token is dead on arrival

    with pytest.raises(AdapterProtocolError, match="freshly issued"):
        run(base_url, lambda c: c.profile(ZHANG_WEI))
    assert app.state.hrss.tokens_issued == 2


def test_wrong_client_credentials_are_a_protocol_error(simulator: Simulator) -> None:
    base_url, _ = simulator()

    with pytest.raises(AdapterProtocolError, match="invalid_client"):
        run(base_url, lambda c: c.profile(ZHANG_WEI), secret="wrong")


def test_an_unavailable_simulator_means_unavailable(simulator: Simulator) -> None:
    base_url, _ = simulator(unavailable=True)

    with pytest.raises(AdapterUnavailable, match=r"HTTP 503 \(Retry-After: 30 s\)"):
        run(base_url, lambda c: c.profile(ZHANG_WEI))
    assert run(base_url, lambda c: c.health()) is False


def test_a_refused_connection_means_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the client connects

    with pytest.raises(AdapterUnavailable, match="refused the connection"):
        run(f"http://127.0.0.1:{port}", lambda c: c.profile(ZHANG_WEI))


def test_newborn_card_application_from_review_to_card(simulator: Simulator) -> None:
    base_url, app = simulator()
    form = seed.NEWBORN_CARD_FORM
    guardian = "23011019950630088X"

    async def open_twice(client: HrssClient) -> tuple[Any, Any, Any]:
        first = await client.open_review("task-card-1", "case-1", "000301001000", guardian, form)
        again = await client.open_review("task-card-1", "case-1", "000301001000", guardian, form)
        return first, again, await client.poll_review(first.legacy_task_id)

    first, again, pending = run(base_url, open_twice)

    assert again == first
    assert len(app.state.hrss.tasks) == 1
    assert pending is None

    decide(base_url, first.legacy_task_id, approve=True, reason="材料齐全")

    async def finish(client: HrssClient) -> tuple[Any, ...]:
        decision = await client.poll_review(first.legacy_task_id)
        card = await client.issue_result(first.legacy_task_id)
        card_again = await client.issue_result(first.legacy_task_id)
        return decision, card, card_again, await client.certificates(seed.NEWBORN_ID)

    decision, card, card_again, cards = run(base_url, finish)

    assert (decision.approved, decision.reason) == (True, "材料齐全")
    assert card == card_again
    assert (card.social_security_number, card.holder_name) == (seed.NEWBORN_ID, "孙悦")
    assert card.status is CardStatus.NORMAL
    assert cards == [card]


def test_a_replacement_card_cancels_the_lost_one(simulator: Simulator) -> None:
    base_url, _ = simulator(auto_decide_after=0)

    async def replace(client: HrssClient) -> tuple[Any, Any]:
        ticket = await client.open_review("task-2", "case-2", "000301002000", LI_NA, {})
        card = await client.issue_result(ticket.legacy_task_id)
        return card, await client.certificates(LI_NA)

    card, cards = run(base_url, replace)

    assert [(c.card_number, c.status) for c in cards] == [
        ("H30155630", CardStatus.CANCELLED),
        (card.card_number, CardStatus.NORMAL),
    ]


def test_reusing_a_task_id_for_other_content_is_refused(simulator: Simulator) -> None:
    base_url, _ = simulator()

    async def reuse(client: HrssClient) -> None:
        await client.open_review("t-1", "case-1", "item", LI_NA, {"bank": "哈尔滨银行"})
        await client.open_review("t-1", "case-1", "item", LI_NA, {"bank": "龙江银行"})

    with pytest.raises(AdapterProtocolError, match="HTTP 409"):
        run(base_url, reuse)


def test_an_invalid_form_is_refused_with_the_field(simulator: Simulator) -> None:
    base_url, app = simulator()
    form = {k: v for k, v in seed.NEWBORN_CARD_FORM.items() if k != "birthDate"}

    with pytest.raises(AdapterProtocolError, match=r"HTTP 422: .*birthDate"):
        run(base_url, lambda c: c.open_review("t-bad", "c", "i", "23011019950630088X", form))
    assert app.state.hrss.tasks == {}


def test_a_pending_or_denied_task_cannot_be_issued(simulator: Simulator) -> None:
    base_url, _ = simulator()
    ticket = run(base_url, lambda c: c.open_review("t-3", "c", "i", LI_NA, {}))

    with pytest.raises(AdapterProtocolError, match="审核中"):
        run(base_url, lambda c: c.issue_result(ticket.legacy_task_id))
    decide(base_url, ticket.legacy_task_id, approve=False, reason="照片不合格")
    decision = run(base_url, lambda c: c.poll_review(ticket.legacy_task_id))
    assert decision is not None and not decision.approved
    with pytest.raises(AdapterProtocolError, match="未通过审核"):
        run(base_url, lambda c: c.issue_result(ticket.legacy_task_id))


def test_auto_decide_follows_the_simulator_clock(simulator: Simulator) -> None:
    clock = Clock()
    base_url, _ = simulator(auto_decide_after=30, clock=clock)
    ticket = run(base_url, lambda c: c.open_review("t-4", "c", "i", LI_NA, {}))

    assert run(base_url, lambda c: c.poll_review(ticket.legacy_task_id)) is None
    clock.now += 30
    decision = run(base_url, lambda c: c.poll_review(ticket.legacy_task_id))
    assert decision is not None and decision.approved


def test_the_simulator_checks_paging_and_idempotency_input(simulator: Simulator) -> None:
    base_url, _ = simulator(max_page_size=10)
    with httpx.Client(base_url=base_url) as http:
        token = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "govsvc",
                "client_secret": "hrss-sim-secret",
            },
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        too_big = http.get(f"/api/cards?holder={ZHANG_WEI}&size=11", headers=auth)
        no_key = http.post("/api/review-tasks", headers=auth, json={"taskId": "x"})
        anonymous = http.get(f"/api/persons/{ZHANG_WEI}")
        bad_grant = http.post("/oauth/token", data={"grant_type": "password"})

    assert too_big.status_code == 400
    assert no_key.status_code == 400
    assert anonymous.status_code == 401
    assert "invalid_token" not in anonymous.headers["www-authenticate"]
    assert bad_grant.json()["error"] == "unsupported_grant_type"
