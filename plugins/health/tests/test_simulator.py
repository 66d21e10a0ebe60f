"""The simulator served by uvicorn on 127.0.0.1, driven through HealthClient."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from govsvc_health import seed
from govsvc_health.client import HealthClient, ParentRecord, ReviewKind, Sex
from govsvc_health.simulator import create_app

from govsvc import AdapterProtocolError, AdapterUnavailable

T = TypeVar("T")
SUN_YUE = "230103202401050029"
CHEN_JING = "23011019950630088X"
LIU_YANG = "230109198801150175"
WANG_XIUYING = "230102197905210428"
LI_NA = "230104199208090266"
ZHAO_LEI = "230112198309170711"


def call(
    url: str,
    action: Callable[[HealthClient], Awaitable[T]],
    *,
    token: str | None = None,
    timeout: float = 2.0,
) -> T:
    async def go() -> T:
        async with HealthClient(url, token=token, timeout=timeout, page_size=1) as client:
            return await action(client)

    return asyncio.run(go())


def birth_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "newbornName": "赵小满",
        "newbornSex": "男",
        "birthTime": "2026-11-18 14:05",
        "birthPlace": "黑龙江省哈尔滨市道外区",
        "hospital": "哈尔滨市第一医院",
        "motherName": "李娜",
        "motherIdCard": LI_NA,
        "fatherName": "赵磊",
        "fatherIdCard": ZHAO_LEI,
        "weight": 3400,
    }
    form.update(changes)
    return form


def test_health(health_url: str) -> None:
    assert call(health_url, lambda c: c.health()) is True


def test_sun_yue_has_a_birth_certificate(health_url: str) -> None:
    [certificate] = call(health_url, lambda c: c.certificates(SUN_YUE))
    assert certificate.number == "Q230123456"
    assert certificate.newborn_name == "孙悦"
    assert certificate.newborn_sex is Sex.FEMALE
    assert certificate.mother == ParentRecord("陈静", CHEN_JING)
    assert certificate.father == ParentRecord("刘洋", LIU_YANG)
    assert call(health_url, lambda c: c.certificate("Q230123456")) == certificate
    assert call(health_url, lambda c: c.certificates_as_parent(CHEN_JING)) == [certificate]
    assert call(health_url, lambda c: c.certificates_as_parent(LIU_YANG)) == [certificate]


def test_person_data_and_the_deliberate_spelling(health_url: str) -> None:
    chen_jing = call(health_url, lambda c: c.profile(CHEN_JING.lower()))
    assert chen_jing is not None
    assert (chen_jing.name, chen_jing.sex, chen_jing.birth_date.isoformat()) == (
        "陈静",
        Sex.FEMALE,
        "1995-06-30",
    )
    wang = call(health_url, lambda c: c.profile(WANG_XIUYING))
    assert wang is not None and wang.name == "王秀瑛"  # 公安 writes 王秀英


def test_unknown_things_are_empty(health_url: str) -> None:
    assert call(health_url, lambda c: c.profile("110101199003070011")) is None
    assert call(health_url, lambda c: c.certificates(CHEN_JING)) == []
    assert call(health_url, lambda c: c.certificate("Q999999999")) is None


def test_review_flow_issues_a_new_certificate(health_url: str) -> None:
    async def scenario(c: HealthClient) -> None:
        ticket = await c.open_review("birth-1", "case-1", "ITEM", LI_NA, birth_form())
        again = await c.open_review("birth-1", "case-1", "ITEM", LI_NA, birth_form())
        assert again == ticket
        assert await c.poll_review(ticket.legacy_task_id) is None
        decided = await c.decide_review(ticket.legacy_task_id, approve=True)
        assert decided.approved
        certificate = await c.issue_result(ticket.legacy_task_id)
        assert certificate.number.startswith("Q")
        assert certificate.number != "Q230123456"
        assert certificate.newborn_name == "赵小满"
        assert certificate.weight_grams == 3400
        assert certificate.gestational_weeks == 39  # the default
        assert certificate.newborn_id is None  # until 公安 registers the child
        assert await c.issue_result(ticket.legacy_task_id) == certificate
        assert certificate in await c.certificates_as_parent(LI_NA)

    call(health_url, scenario)


def test_reused_idempotency_key_with_another_form_is_refused(health_url: str) -> None:
    async def scenario(c: HealthClient) -> None:
        await c.open_review("birth-2", "case-2", "ITEM", LI_NA, birth_form())
        with pytest.raises(AdapterProtocolError, match="HTTP 422"):
            await c.open_review("birth-2", "case-2", "ITEM", LI_NA, birth_form(weight=3000))

    call(health_url, scenario)


def test_incomplete_form_is_refused_at_once(health_url: str) -> None:
    form = birth_form()
    del form["motherIdCard"]
    with pytest.raises(AdapterProtocolError, match=r"HTTP 400.*motherIdCard"):
        call(health_url, lambda c: c.open_review("birth-3", "case-3", "ITEM", LI_NA, form))


def test_rejected_task_cannot_be_issued(health_url: str) -> None:
    async def scenario(c: HealthClient) -> None:
        ticket = await c.open_review("birth-4", "case-4", "ITEM", LI_NA, birth_form())
        rejected = await c.decide_review(
            ticket.legacy_task_id, approve=False, reason="出生时间与分娩记录不符"
        )
        assert not rejected.approved
        assert await c.poll_review(ticket.legacy_task_id) == rejected
        with pytest.raises(AdapterProtocolError, match="HTTP 409"):
            await c.issue_result(ticket.legacy_task_id)

    call(health_url, scenario)


def test_auto_decide_after(serve: Callable[..., str]) -> None:
    url = serve(auto_decide_after=0.0)

    async def scenario(c: HealthClient) -> None:
        ticket = await c.open_review("auto-1", "case-1", "ITEM", LI_NA, birth_form())
        decision = await c.poll_review(ticket.legacy_task_id)
        assert decision is not None and decision.approved

    call(url, scenario)


def test_token_is_required_when_configured(serve: Callable[..., str]) -> None:
    url = serve(token="s3cret")
    assert call(url, lambda c: c.profile(CHEN_JING), token="s3cret") is not None
    with pytest.raises(AdapterProtocolError, match="HTTP 401"):
        call(url, lambda c: c.profile(CHEN_JING))
    assert call(url, lambda c: c.health()) is True  # the health check needs no token


def test_failure_rate_one_always_answers_503(serve: Callable[..., str]) -> None:
    url = serve(failure_rate=1.0)
    for _ in range(3):
        with pytest.raises(AdapterUnavailable, match="HTTP 503"):
            call(url, lambda c: c.profile(CHEN_JING))
    assert call(url, lambda c: c.health()) is False


def test_failure_rate_is_deterministic_for_a_seed(serve: Callable[..., str]) -> None:
    url = serve(failure_rate=0.5, seed=7)
    draws = random.Random(7)
    expected = [503 if draws.random() < 0.5 else 200 for _ in range(12)]
    with httpx.Client(base_url=url) as http:
        statuses = [http.get("/health").status_code for _ in range(12)]
    assert statuses == expected
    assert 200 in statuses and 503 in statuses


def test_latency_beyond_the_client_timeout_is_unavailable(serve: Callable[..., str]) -> None:
    url = serve(latency=0.2)
    with pytest.raises(AdapterUnavailable, match=r"did not answer within 0\.05 s") as caught:
        call(url, lambda c: c.profile(CHEN_JING), timeout=0.05)
    assert caught.value.operation == "profile"


def test_latency_delays_but_answers(serve: Callable[..., str]) -> None:
    url = serve(latency=0.1)
    started = time.monotonic()
    assert call(url, lambda c: c.profile(CHEN_JING), timeout=2.0) is not None
    assert time.monotonic() - started >= 0.1


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="latency must be 0 or more"):
        create_app(latency=-1.0)
    with pytest.raises(ValueError, match="failure_rate must be between 0 and 1"):
        create_app(failure_rate=1.5)


def test_refused_connection_is_unavailable(refused_url: str) -> None:
    with pytest.raises(AdapterUnavailable, match="cannot be reached"):
        call(refused_url, lambda c: c.profile(CHEN_JING))


def _citizen_id_ok(number: str) -> bool:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(int(c) * w for c, w in zip(number[:17], weights, strict=True))
    return "10X98765432"[total % 11] == number[17]


def test_seed_is_consistent_with_the_citizen_ids() -> None:
    for person in seed.PERSONS:
        assert _citizen_id_ok(person.id_number), person.name
        assert person.birth_date.strftime("%Y%m%d") == person.id_number[6:14]
        odd = int(person.id_number[16]) % 2 == 1
        assert person.sex is (Sex.MALE if odd else Sex.FEMALE)
    for certificate in seed.BIRTH_CERTIFICATES:
        for number in (certificate.newborn_id, certificate.mother_id, certificate.father_id):
            assert number is not None and _citizen_id_ok(number)


def test_cancel_withdraws_a_pending_task_for_good(health_url: str) -> None:
    async def scenario(c: HealthClient) -> None:
        ticket = await c.open_review("cancel-1", "case-c1", "ITEM", LI_NA, birth_form())
        assert await c.cancel_review(ticket.legacy_task_id, reason="申请人撤回申请") is True
        assert await c.cancel_review(ticket.legacy_task_id, reason="再次撤销") is True
        with pytest.raises(AdapterProtocolError, match="withdrawn"):
            await c.poll_review(ticket.legacy_task_id)
        with pytest.raises(AdapterProtocolError, match="HTTP 409"):
            await c.decide_review(ticket.legacy_task_id, approve=True)

    call(health_url, scenario)


def test_cancel_leaves_a_decided_task_as_it_is(health_url: str) -> None:
    async def scenario(c: HealthClient) -> None:
        ticket = await c.open_review("cancel-2", "case-c2", "ITEM", LI_NA, birth_form())
        decided = await c.decide_review(ticket.legacy_task_id, approve=True)
        assert await c.cancel_review(ticket.legacy_task_id, reason="申请人撤回申请") is False
        assert await c.poll_review(ticket.legacy_task_id) == decided

    call(health_url, scenario)


def test_an_opinion_task_takes_any_form_and_issues_nothing(health_url: str) -> None:
    async def scenario(c: HealthClient) -> None:
        form = {"businessItems": ["热食类食品制售"]}
        ticket = await c.open_review(
            "opinion-1", "case-o1", "FOOD", "91230103MA1BX4K238", form, kind=ReviewKind.OPINION
        )
        decided = await c.decide_review(ticket.legacy_task_id, approve=False, reason="健康证过期")
        assert decided.kind is ReviewKind.OPINION
        assert not decided.approved
        with pytest.raises(AdapterProtocolError, match=r"HTTP 409.*不签发"):
            await c.issue_result(ticket.legacy_task_id)

    call(health_url, scenario)
