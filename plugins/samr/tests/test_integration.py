"""The plugin in a real Platform, talking to the simulator over HTTP on 127.0.0.1.

The story: 哈尔滨市冰城饺子馆有限公司 (legal representative 张伟) applies for a food business
licence (食品经营许可（新办）) for a second restaurant. In the sample catalogue the bureau and the
health commission (卫健) review it in parallel; both plugins are installed here, each pointed at
its own simulator. The platform delivers both tasks, the departments decide in their systems,
the platform polls the decisions and the bureau issues the licence.

The platforms here find the plugins as an operator's would: through their ``govsvc`` entry
points, restricted with ``GOVSVC_LOAD_PLUGINS``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.resources
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from govsvc_samr.adapter import DENIAL_BASIS, SamrAdapter, SamrConfig
from govsvc_samr.client import DEPARTMENT_CREDIT_CODE as SAMR
from govsvc_samr.client import SamrClient
from govsvc_samr.simulator import SamrLegacySystem

import govsvc
from govsvc import (
    CallPolicy,
    CaseState,
    MaterialKind,
    Organisation,
    PartyKey,
    Principal,
    ProvidedMaterial,
    ReviewRequest,
    TaskStatus,
    WorkPolicy,
    import_json,
)
from govsvc.testing import TEST_LOGIN, FakeClock, clerk_for, reviewer_of

pytest.importorskip("govsvc_health", reason="the joint review needs govsvc-health installed")

HEALTH = "11230100MB1935270B"
FOOD_LICENCE = "11230100013114525L3000176010001"
DUMPLINGS = "91230103MA1BX4K238"
ZHANG_WEI = "230103198503120316"
PURPOSE = "食品经营许可受理核验"

RESTAURANT = Organisation(
    key=PartyKey.of(DUMPLINGS),
    name="哈尔滨市冰城饺子馆有限公司",
    legal_representative="张伟",
    phone="045187654321",
)
# 张伟, the legal representative, applies for the restaurant as its agent (经办人); the
# window clerk 赵敏 of a hall serving the bureau accepts and checks the application.
ZHANG_AS_AGENT = Principal.agent(
    PartyKey.of(ZHANG_WEI), "张伟", organisation=RESTAURANT.key, auth=TEST_LOGIN
)
CLERK = clerk_for(SAMR, name="赵敏")
FORM = {
    "businessFormat": "餐饮服务经营者（中型餐馆）",
    "businessItems": ["热食类食品制售", "冷食类食品制售"],
    "premises": "黑龙江省哈尔滨市道里区中央大街88号",
}
# Every material, 容缺 M06 included, so nothing holds the licence back.
MATERIALS = [
    ProvidedMaterial(code="M01", filename="申请书.pdf", reference="sha256:01"),
    ProvidedMaterial(code="M02", kind=MaterialKind.ECERT, reference=f"1.2.156.3005.2.{DUMPLINGS}"),
    ProvidedMaterial(code="M03", kind=MaterialKind.ECERT, reference=f"1.2.156.3005.2.{ZHANG_WEI}"),
    ProvidedMaterial(code="M04", filename="设备布局图.pdf", reference="sha256:04"),
    ProvidedMaterial(code="M05", filename="食品安全管理制度.pdf", reference="sha256:05"),
    ProvidedMaterial(code="M06", filename="健康证明.pdf", reference="sha256:06"),
]


@pytest.fixture
def platform(
    samr_system: tuple[str, SamrLegacySystem],
    health_system: tuple[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[govsvc.Platform]:
    """A platform with both plugins on their simulators and the sample catalogue published."""
    monkeypatch.setenv("GOVSVC_LOAD_PLUGINS", "samr,health")
    monkeypatch.setenv("GOVSVC_SAMR_URL", samr_system[0])
    monkeypatch.setenv("GOVSVC_SAMR_TIMEOUT", "2")
    monkeypatch.setenv("GOVSVC_HEALTH_URL", health_system[0])
    p = open_platform(tmp_path / "govsvc.db")
    assert set(p.departments) == {SAMR, HEALTH}
    try:
        yield p
    finally:
        p.close()


def open_platform(path: Path) -> govsvc.Platform:
    """A platform with the plugins GOVSVC_LOAD_PLUGINS allows and the sample catalogue."""
    p = govsvc.Platform.open(
        f"sqlite:///{path}", clock=FakeClock(),
        call_policy=CallPolicy(backoff=0.001),
        work_policy=WorkPolicy.eager(),
    )
    text = (importlib.resources.files("govsvc") / "data" / "items" / "harbin.json").read_text(
        encoding="utf-8"
    )
    p.system().catalogue.import_items(import_json(text, source="harbin.json"))
    return p


def apply_for_the_licence(platform: govsvc.Platform) -> govsvc.Case:
    applicant = platform.session(ZHANG_AS_AGENT)
    case = applicant.cases.apply(FOOD_LICENCE, RESTAURANT, materials=MATERIALS, form=FORM)
    return platform.session(CLERK).cases.accept(case)


def tasks_of(case: govsvc.Case) -> dict[str, str]:
    """department code -> task id of the case's review tasks."""
    return {t.department: t.id for t in case.tasks}


def decide(url: str, legacy_id: str, *, approve: bool, reason: str = "") -> None:
    """The bureau's reviewer decides in the back office (simulator control)."""

    async def go() -> None:
        async with SamrClient(url, "samr-demo-key") as client:
            await client.decide_review(legacy_id, approve=approve, reason=reason, reviewer="李审查")

    asyncio.run(go())


def decide_health(url: str, legacy_id: str, *, approve: bool, remark: str = "") -> None:
    from govsvc_health.client import HealthClient

    async def go() -> None:
        async with HealthClient(url) as client:
            await client.decide_review(legacy_id, approve=approve, reason=remark)

    asyncio.run(go())


def by_key(system: Any, task_id: str) -> Any:
    return system.tasks_by_key[task_id]


# -- lookups ---------------------------------------------------------------------------------


def test_identify_the_restaurant_and_its_legal_representative(
    platform: govsvc.Platform,
) -> None:
    clerk = platform.session(CLERK)
    company = clerk.parties.identify(DUMPLINGS, purpose=PURPOSE)
    assert company["name"] == "哈尔滨市冰城饺子馆有限公司"
    assert company["legal_representative"] == "张伟"
    assert company.attributes["registration_status"].source == SAMR
    assert company.unavailable == {}

    person = clerk.parties.identify(ZHANG_WEI, purpose=PURPOSE)
    [enterprise] = person["enterprises"]
    assert enterprise["credit_code"] == DUMPLINGS
    assert person.attributes["enterprises"].authoritative
    assert person["birth_date"] == "1985-03-12"  # from the commission's records
    assert person.attributes["birth_date"].source == HEALTH
    assert platform.system().departments.verify_exchange_log().ok


def test_certificates_of_the_restaurant(platform: govsvc.Platform) -> None:
    held = platform.session(CLERK).parties.certificates(DUMPLINGS, purpose=PURPOSE)
    assert {(r.type_name, r.number) for r in held.records} >= {
        ("营业执照", DUMPLINGS),
        ("食品经营许可证", "JY22301030012345"),
    }
    assert all(r.holder_number == DUMPLINGS for r in held.records)
    assert held.unavailable == {}


# -- the joint review ------------------------------------------------------------------------


def test_food_licence_reviewed_jointly_and_issued(
    platform: govsvc.Platform,
    samr_system: tuple[str, SamrLegacySystem],
    health_system: tuple[str, Any],
) -> None:
    samr_url, samr = samr_system
    health_url, health = health_system
    system = platform.system()
    case = apply_for_the_licence(platform)
    assert case.state is CaseState.IN_REVIEW
    tasks = tasks_of(case)
    assert set(tasks) == {SAMR, HEALTH}  # one stage, two departments in parallel

    report = system.departments.deliver()
    assert (report.delivered, report.errors) == (2, ())
    samr_task = by_key(samr, tasks[SAMR])
    health_task = by_key(health, tasks[HEALTH])
    assert samr_task.request["applicantId"] == DUMPLINGS
    assert samr_task.request["form"] == FORM
    assert health_task.request["taskType"] == "OPINION"  # 会审: an opinion, no certificate

    # Delivering again finds nothing to do; the simulators still hold one task per key.
    samr_count, health_count = len(samr.tasks), len(health.tasks)
    assert system.departments.deliver().delivered == 0
    assert (len(samr.tasks), len(health.tasks)) == (samr_count, health_count)
    # A retry of the same delivery (after a crash) is answered with the same task.
    stored = system.cases.get(case.id)
    request = ReviewRequest(
        task_id=tasks[SAMR],
        case_id=case.id,
        tracking_code=case.tracking_code,
        item_code=FOOD_LICENCE,
        stage=1,
        applicant=RESTAURANT.key,
        applicant_name=RESTAURANT.name,
        form=stored.form,
        materials=tuple(m.code for m in stored.materials),
    )
    adapter = SamrAdapter(SamrConfig(base_url=samr_url))
    assert asyncio.run(adapter.open_review(request)) == samr_task.task_id
    assert len(samr.tasks) == samr_count

    assert system.departments.poll().pending == 2
    decide(samr_url, samr_task.task_id, approve=True)
    decide_health(health_url, health_task.task_id, approve=True, remark="从业人员健康证明核验无误")
    polled = system.departments.poll()
    assert (polled.decided, polled.errors) == (2, ())
    platform.certificate_keys.generate(SAMR, activated_at=platform.now() - dt.timedelta(days=1))
    assert system.departments.fetch_results().issued == 1

    done = system.cases.get(case.id)
    # The licence is an e-certificate (电子证照), signed in the result's transaction.
    [licence] = system.certificates.of_case(done)
    assert done.result is not None and done.result.ecert_id == str(licence.id)
    assert licence.certificate.holder == RESTAURANT.key
    assert licence.certificate.face["premises"] == FORM["premises"]
    assert platform.public().certificates.verify(licence.qr_payload).valid
    assert done.state is CaseState.RESULT_READY
    assert done.result is not None
    assert done.result.name == "食品经营许可证"
    assert done.result.number.startswith("JY2")  # 餐饮服务经营者
    assert done.result.data["经营场所"] == FORM["premises"]
    assert done.task(tasks[HEALTH]).status is TaskStatus.APPROVED
    assert samr_task.status == "04"  # 已发证

    held = platform.session(CLERK).parties.certificates(DUMPLINGS, purpose="办结后核验证照")
    assert done.result.number in {r.number for r in held.records}
    assert system.departments.verify_exchange_log().ok


def test_a_denial_by_the_bureau_withdraws_the_commission_s_task(
    platform: govsvc.Platform,
    samr_system: tuple[str, SamrLegacySystem],
    health_system: tuple[str, Any],
) -> None:
    samr_url, samr = samr_system
    _, health = health_system
    system = platform.system()
    case = apply_for_the_licence(platform)
    tasks = tasks_of(case)
    assert system.departments.deliver().delivered == 2
    samr_task = by_key(samr, tasks[SAMR])
    decide(samr_url, samr_task.task_id, approve=False, reason="经营场所与食品安全要求不符")

    polled = system.departments.poll()
    assert (polled.decided, polled.pending) == (1, 1)
    denied = system.cases.get(case.id)
    assert denied.state is CaseState.DENIED
    assert denied.decision is not None
    assert denied.decision.basis == DENIAL_BASIS
    assert denied.task(tasks[HEALTH]).status is TaskStatus.CANCELLED

    # The cancellation reaches the commission's system through its adapter's cancel_review.
    report = system.departments.deliver()
    assert (report.delivered, report.manual, report.errors) == (1, 0, ())
    assert by_key(health, tasks[HEALTH]).status == "CANCELLED"
    assert system.departments.verify_exchange_log().ok


def test_a_withdrawn_application_withdraws_both_tasks(
    platform: govsvc.Platform,
    samr_system: tuple[str, SamrLegacySystem],
    health_system: tuple[str, Any],
) -> None:
    _, samr = samr_system
    _, health = health_system
    system = platform.system()
    case = apply_for_the_licence(platform)
    tasks = tasks_of(case)
    assert system.departments.deliver().delivered == 2
    platform.session(ZHANG_AS_AGENT).cases.withdraw(case.id, reason="另选经营场所")

    report = system.departments.deliver()
    assert (report.delivered, report.errors) == (2, ())
    assert by_key(samr, tasks[SAMR]).status == "05"  # 已撤销
    assert by_key(health, tasks[HEALTH]).status == "CANCELLED"
    log = system.departments.exchange_log(case=case.id)
    assert {(r.department, r.operation, r.outcome) for r in log} >= {
        (SAMR, "cancel_review", "ok"),
        (HEALTH, "cancel_review", "ok"),
    }


def test_only_the_bureau_installed_leaves_the_commission_s_task_to_its_queue(
    samr_system: tuple[str, SamrLegacySystem],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    samr_url, samr = samr_system
    monkeypatch.setenv("GOVSVC_LOAD_PLUGINS", "samr")
    monkeypatch.setenv("GOVSVC_SAMR_URL", samr_url)
    with open_platform(tmp_path / "alone.db") as p:
        assert set(p.departments) == {SAMR}
        system = p.system()
        case = apply_for_the_licence(p)
        tasks = tasks_of(case)
        report = system.departments.deliver()
        assert (report.delivered, report.manual) == (1, 1)
        decide(samr_url, by_key(samr, tasks[SAMR]).task_id, approve=True)
        # 卫健 has no adapter here: its reviewer decides in the platform's department queue.
        reviewer = p.session(reviewer_of(HEALTH, name="王审核"))
        [queued] = reviewer.reviews.queue()
        assert (queued.task.id, queued.legacy_id) == (tasks[HEALTH], None)  # never delivered
        reviewer.reviews.decide(case.id, tasks[HEALTH], approve=True)
        polled = system.departments.poll()
        assert polled.decided == 1
        assert system.departments.fetch_results().issued == 1
        assert system.cases.get(case.id).state is CaseState.RESULT_READY
        assert system.departments.verify_exchange_log().ok
