"""The simulator served by uvicorn on 127.0.0.1, driven through SamrClient."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
import pytest
from govsvc_samr import seed
from govsvc_samr.client import (
    EnterpriseRecord,
    EnterpriseStatus,
    LegalRepresentativeRecord,
    LicenceKind,
    SamrClient,
)
from govsvc_samr.simulator import DEFAULT_API_KEY

from govsvc import AdapterProtocolError, AdapterUnavailable

T = TypeVar("T")
DUMPLINGS = "91230103MA1BX4K238"
GRAIN_OIL = "91230102MA19QW7R1Q"
CANCELLED = "91230112MA1C2D7P5K"
ZHANG_WEI = "230103198503120316"
CHEN_JING = "23011019950630088X"
ITEM = "11230100013114525L3000123000"


def call(
    url: str, action: Callable[[SamrClient], Awaitable[T]], *, key: str = DEFAULT_API_KEY
) -> T:
    async def go() -> T:
        async with SamrClient(url, key, timeout=2.0) as client:
            return await action(client)

    return asyncio.run(go())


def test_health(samr_url: str) -> None:
    assert call(samr_url, lambda c: c.health()) is True


def test_zhang_wei_runs_the_dumpling_restaurant(samr_url: str) -> None:
    person = call(samr_url, lambda c: c.profile(ZHANG_WEI))
    assert isinstance(person, LegalRepresentativeRecord)
    assert person.name == "张伟"
    [company] = person.enterprises
    assert company.name == "哈尔滨市冰城饺子馆有限公司"
    assert company.credit_code == DUMPLINGS

    enterprise = call(samr_url, lambda c: c.profile(DUMPLINGS))
    assert enterprise == company


def test_cancelled_enterprise_shows_its_status(samr_url: str) -> None:
    enterprise = call(samr_url, lambda c: c.enterprise(CANCELLED))
    assert isinstance(enterprise, EnterpriseRecord)
    assert enterprise.status is EnterpriseStatus.CANCELLED
    assert enterprise.legal_representative == "赵磊"


def test_dumpling_restaurant_holds_both_licences(samr_url: str) -> None:
    licences = call(samr_url, lambda c: c.certificates(DUMPLINGS))
    by_kind = {licence.kind: licence for licence in licences}
    business = by_kind[LicenceKind.BUSINESS_LICENCE]
    food = by_kind[LicenceKind.FOOD_BUSINESS_LICENCE]
    assert business.number == DUMPLINGS
    assert business.valid_until is None
    assert dict(business.face)["法定代表人"] == "张伟"
    assert food.number == "JY22301030012345"
    assert "热食类食品制售" in food.business_items


def test_unknown_holders_give_empty_results(samr_url: str) -> None:
    assert call(samr_url, lambda c: c.enterprise("91230103MA1BX4K30X")) is None
    assert call(samr_url, lambda c: c.profile(CHEN_JING)) is None
    assert call(samr_url, lambda c: c.certificates("91230103MA1BX4K30X")) == []


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}])
def test_missing_or_wrong_key_is_401_with_a_json_error(
    samr_url: str, headers: dict[str, str]
) -> None:
    response = httpx.get(f"{samr_url}/api/v1/enterprises/{DUMPLINGS}", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "1001"
    with pytest.raises(AdapterProtocolError, match="check the API key"):
        call(samr_url, lambda c: c.enterprise(DUMPLINGS), key="wrong")


def test_same_idempotency_key_opens_one_task(samr_url: str) -> None:
    def open_it(c: SamrClient) -> Awaitable[object]:
        form = {"businessItems": ["热食类食品制售"]}
        return c.open_review("idem-1", "case-1", ITEM, DUMPLINGS, form)

    first = call(samr_url, open_it)
    second = call(samr_url, open_it)
    assert first == second

    with pytest.raises(AdapterProtocolError, match="HTTP 422 \\(code 3002"):
        call(samr_url, lambda c: c.open_review("idem-1", "case-2", ITEM, DUMPLINGS, {}))


def test_approve_then_issue_a_food_business_licence(samr_url: str) -> None:
    form = {"businessItems": ["热食类食品制售", "自制饮品制售"], "businessFormat": "餐饮服务经营者"}

    async def scenario(c: SamrClient) -> None:
        ticket = await c.open_review("flow-1", "case-9", ITEM, DUMPLINGS, form)
        assert await c.poll_review(ticket.legacy_task_id) is None
        decided = await c.decide_review(ticket.legacy_task_id, approve=True, reviewer="李审查")
        assert decided.approved
        polled = await c.poll_review(ticket.legacy_task_id)
        assert polled == decided
        licence = await c.issue_result(ticket.legacy_task_id)
        assert licence.kind is LicenceKind.FOOD_BUSINESS_LICENCE
        assert licence.number.startswith("JY2230103")
        assert len(licence.number) == 16
        assert licence.holder_name == "哈尔滨市冰城饺子馆有限公司"
        assert licence.business_items == ("热食类食品制售", "自制饮品制售")
        assert dict(licence.face)["法定代表人（负责人）"] == "张伟"
        # Issuing again hands out the same licence, and the holder now has it.
        assert await c.issue_result(ticket.legacy_task_id) == licence
        assert licence in await c.certificates(DUMPLINGS)
        issued = await c.poll_review(ticket.legacy_task_id)
        assert issued is not None and issued.approved

    call(samr_url, scenario)


def test_denied_task_cannot_be_issued(samr_url: str) -> None:
    async def scenario(c: SamrClient) -> None:
        ticket = await c.open_review("flow-2", "case-10", ITEM, GRAIN_OIL, {})
        denied = await c.decide_review(
            ticket.legacy_task_id, approve=False, reason="经营场所与登记住所不一致"
        )
        assert not denied.approved
        assert (await c.poll_review(ticket.legacy_task_id)) == denied
        with pytest.raises(AdapterProtocolError, match="HTTP 409 \\(code 3001"):
            await c.issue_result(ticket.legacy_task_id)
        with pytest.raises(AdapterProtocolError, match="HTTP 409"):
            await c.decide_review(ticket.legacy_task_id, approve=True)

    call(samr_url, scenario)


def test_unknown_task_is_a_protocol_error(samr_url: str) -> None:
    with pytest.raises(AdapterProtocolError, match="HTTP 404 \\(code 2001"):
        call(samr_url, lambda c: c.poll_review("SCJG9999999999"))


def test_cancelled_applicant_is_refused(samr_url: str) -> None:
    with pytest.raises(AdapterProtocolError, match="HTTP 422 \\(code 2002"):
        call(samr_url, lambda c: c.open_review("flow-3", "case-11", ITEM, CANCELLED, {}))


def test_unregistered_applicant_named_in_the_form_gets_a_licence(samr_url: str) -> None:
    newcomer = "91230102MA1C3Y4N2B"
    form = {"holderName": "哈尔滨市新开张餐饮有限公司", "premises": "道里区西十二道街5号"}

    async def scenario(c: SamrClient) -> None:
        ticket = await c.open_review("flow-4", "case-12", ITEM, newcomer, form)
        await c.decide_review(ticket.legacy_task_id, approve=True)
        licence = await c.issue_result(ticket.legacy_task_id)
        assert licence.holder_credit_code == newcomer
        assert licence.holder_name == "哈尔滨市新开张餐饮有限公司"
        assert dict(licence.face)["经营场所"] == "道里区西十二道街5号"

    call(samr_url, scenario)


def test_auto_decide_after_approves_old_enough_tasks(serve: Callable[..., str]) -> None:
    url = serve(auto_decide_after=0.0)

    async def scenario(c: SamrClient) -> None:
        ticket = await c.open_review("auto-1", "case-1", ITEM, DUMPLINGS, {})
        decision = await c.poll_review(ticket.legacy_task_id)
        assert decision is not None and decision.approved
        assert decision.reviewer == "系统自动审查"

    call(url, scenario)


def test_custom_api_key(serve: Callable[..., str]) -> None:
    url = serve(api_key="another-key")
    assert call(url, lambda c: c.enterprise(DUMPLINGS), key="another-key") is not None
    with pytest.raises(AdapterProtocolError, match="HTTP 401"):
        call(url, lambda c: c.enterprise(DUMPLINGS))


def test_refused_connection_is_unavailable(refused_url: str) -> None:
    with pytest.raises(AdapterUnavailable, match="cannot be reached"):
        call(refused_url, lambda c: c.enterprise(DUMPLINGS))
    assert call(refused_url, lambda c: c.health()) is False


def _citizen_id_ok(number: str) -> bool:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(c) * w for c, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17]


def _credit_code_ok(code: str) -> bool:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    total = sum(alphabet.index(c) * pow(3, i, 31) for i, c in enumerate(code[:17]))
    return alphabet[(31 - total % 31) % 31] == code[17]


def test_seed_identifiers_pass_their_check_characters() -> None:
    for enterprise in seed.ENTERPRISES:
        assert _credit_code_ok(enterprise.credit_code), enterprise.credit_code
        assert _citizen_id_ok(enterprise.legal_representative_id), enterprise.name
    for licence in seed.LICENCES:
        assert _credit_code_ok(licence.holder_credit_code)
    assert _credit_code_ok("91230102MA1C3Y4N2B")  # the newcomer used above


def test_cancel_withdraws_a_pending_task_for_good(samr_url: str) -> None:
    async def scenario(c: SamrClient) -> None:
        ticket = await c.open_review("cancel-1", "case-c1", ITEM, DUMPLINGS, {})
        assert await c.cancel_review(ticket.legacy_task_id, reason="申请人撤回申请") is True
        assert await c.cancel_review(ticket.legacy_task_id, reason="再次撤销") is True
        with pytest.raises(AdapterProtocolError, match="withdrawn"):
            await c.poll_review(ticket.legacy_task_id)
        with pytest.raises(AdapterProtocolError, match=r"HTTP 409 \(code 3001"):
            await c.decide_review(ticket.legacy_task_id, approve=True)
        with pytest.raises(AdapterProtocolError, match=r"HTTP 409 \(code 3001"):
            await c.issue_result(ticket.legacy_task_id)

    call(samr_url, scenario)


def test_cancel_leaves_a_decided_task_as_it_is(samr_url: str) -> None:
    async def scenario(c: SamrClient) -> None:
        ticket = await c.open_review("cancel-2", "case-c2", ITEM, DUMPLINGS, {})
        decided = await c.decide_review(ticket.legacy_task_id, approve=True)
        assert await c.cancel_review(ticket.legacy_task_id, reason="申请人撤回申请") is False
        assert await c.poll_review(ticket.legacy_task_id) == decided

    call(samr_url, scenario)


def test_cancel_of_an_unknown_task_is_refused(samr_url: str) -> None:
    with pytest.raises(AdapterProtocolError, match="HTTP 404"):
        call(samr_url, lambda c: c.cancel_review("SCJG9999999999", reason="撤回"))
