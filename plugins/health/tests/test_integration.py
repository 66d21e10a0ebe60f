"""The plugin in a real Platform, talking to the simulator over HTTP on 127.0.0.1.

The story: 李娜 gave birth to a son at 哈医大一院; she applies for his birth medical certificate
(出生医学证明办理（首次签发）, from the sample catalogue). The commission reviews the task the
platform delivers, the platform polls the decision and the commission issues the certificate.

The commission's system is also the one that misbehaves: with the simulator's
``failure_rate=1.0`` every answer is an nginx 503, and with ``latency`` above the adapter's
timeout every answer is late. The platform still answers ``identify()`` with what the other
departments hold (here an in-process stand-in for 公安), lists 卫健 as unavailable, and after
``failure_threshold`` failures opens the commission's circuit, so calls fail fast without
reaching its system at all.

The platforms find the health plugin as an operator's would: through its ``govsvc`` entry
point, restricted with ``GOVSVC_LOAD_PLUGINS``.
"""

from __future__ import annotations

import asyncio
import importlib.resources
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from govsvc_health.adapter import DENIAL_BASIS, HealthAdapter, HealthConfig
from govsvc_health.client import DEPARTMENT_CREDIT_CODE as HEALTH
from govsvc_health.client import HealthClient
from govsvc_health.simulator import HealthLegacySystem

import govsvc
from govsvc import (
    CallPolicy,
    CaseState,
    Department,
    MaterialKind,
    PartyKey,
    ProvidedMaterial,
    ReviewRequest,
    WorkPolicy,
    hookimpl,
    import_json,
)
from govsvc.testing import FakeClock, applicant_of, clerk_for

PSB = "11230100003108738D"
BIRTH_CERTIFICATE = "11230100MB1935270B3002009010001"
ZHANG_WEI = "230103198503120316"
WANG_XIUYING = "230102197905210428"
LI_NA = "230104199208090266"
SUN_YUE = "230103202401050029"
PURPOSE = "出生医学证明办理核验"

MOTHER = govsvc.Person(key=PartyKey.of(LI_NA), name="李娜", phone="13904510000")
CLERK = clerk_for(HEALTH, name="赵敏")  # the window clerk who accepts and checks applications
BIRTH_FORM = {
    "newbornName": "王子墨",
    "newbornSex": "男",
    "birthTime": "2026-02-26 10:15",
    "birthPlace": "黑龙江省哈尔滨市道外区",
    "hospital": "哈尔滨医科大学附属第一医院",
    "motherName": "李娜",
    "motherIdCard": LI_NA,
    "gestationalWeeks": 40,
    "weight": 3480,
    "length": 51,
}
MATERIALS = [
    ProvidedMaterial(code="M01", kind=MaterialKind.ECERT, reference=f"1.2.156.3005.2.{LI_NA}"),
    ProvidedMaterial(code="M02", filename="首次签发登记表.pdf", reference="sha256:02"),
]


class HouseholdRegister:
    """An in-process stand-in for 公安's adapter: the household register of the shared cast."""

    PEOPLE: Mapping[str, Mapping[str, str]] = {
        ZHANG_WEI: {
            "name": "张伟",
            "sex": "male",
            "birth_date": "1985-03-12",
            "address": "黑龙江省哈尔滨市南岗区学府路52号",
        },
        WANG_XIUYING: {
            "name": "王秀英",
            "sex": "female",
            "birth_date": "1979-05-21",
            "address": "黑龙江省哈尔滨市道里区中央大街118号",
        },
    }

    def profile(self, key: PartyKey) -> Mapping[str, str] | None:
        return self.PEOPLE.get(key.number)


class PublicSecurity:
    """A plugin registering the stand-in 公安, the source of truth for name and address."""

    @hookimpl
    def govsvc_departments(self) -> list[Department]:
        return [
            Department(
                code=PSB,
                name="哈尔滨市公安局",
                division="230100",
                adapter=HouseholdRegister(),
                authoritative_for=("name", "sex", "birth_date", "address"),
            )
        ]


OpenPlatform = Callable[..., govsvc.Platform]


@pytest.fixture
def open_platform(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[..., govsvc.Platform]]:
    """``open_platform(url, with_psb=False, policy=None, timeout=None)``: a platform whose
    health plugin talks to ``url``, with the sample catalogue published."""
    opened: list[govsvc.Platform] = []

    def open_(
        url: str,
        *,
        with_psb: bool = False,
        policy: CallPolicy | None = None,
        timeout: float | None = None,
    ) -> govsvc.Platform:
        monkeypatch.setenv("GOVSVC_LOAD_PLUGINS", "health")
        monkeypatch.setenv("GOVSVC_HEALTH_URL", url)
        if timeout is not None:
            monkeypatch.setenv("GOVSVC_HEALTH_TIMEOUT", str(timeout))
        extra: Sequence[object] = [PublicSecurity()] if with_psb else []
        platform = govsvc.Platform.open(
            f"sqlite:///{tmp_path / f'govsvc{len(opened)}.db'}",
            plugins=extra,
            clock=FakeClock(),
            call_policy=policy or CallPolicy(backoff=0.001),
            work_policy=WorkPolicy.eager(),
        )
        opened.append(platform)
        text = (importlib.resources.files("govsvc") / "data" / "items" / "harbin.json").read_text(
            encoding="utf-8"
        )
        platform.system().catalogue.import_items(import_json(text, source="harbin.json"))
        return platform

    yield open_
    for platform in opened:
        platform.close()


def apply_for_the_certificate(platform: govsvc.Platform) -> govsvc.Case:
    mother = platform.session(applicant_of(MOTHER))
    case = mother.cases.apply(BIRTH_CERTIFICATE, MOTHER, materials=MATERIALS, form=BIRTH_FORM)
    return platform.session(CLERK).cases.accept(case)


def decide(url: str, legacy_id: str, *, approve: bool, remark: str = "") -> None:
    """The commission's auditor decides in the back office (simulator control)."""

    async def go() -> None:
        async with HealthClient(url) as client:
            await client.decide_review(legacy_id, approve=approve, reason=remark, reviewer="王审核")

    asyncio.run(go())


# -- lookups ---------------------------------------------------------------------------------


def test_identify_a_child_and_her_birth_certificate(
    open_platform: OpenPlatform, health_system: tuple[str, HealthLegacySystem]
) -> None:
    platform = open_platform(health_system[0])
    clerk = platform.session(CLERK)
    child = clerk.parties.identify(SUN_YUE, purpose=PURPOSE)
    certificate = child.attributes["birth_certificate"]
    assert (certificate.value, certificate.source, certificate.authoritative) == (
        "Q230123456",
        HEALTH,
        True,
    )
    assert (child["name"], child["sex"], child["birth_date"]) == ("孙悦", "female", "2024-01-05")

    held = clerk.parties.certificates(SUN_YUE, purpose=PURPOSE)
    [record] = held.records
    assert (record.type_name, record.number, record.holder_number) == (
        "出生医学证明",
        "Q230123456",
        SUN_YUE,
    )
    assert record.data["父亲姓名"] == "刘洋"
    assert platform.system().departments.verify_exchange_log().ok


def test_the_commission_s_spelling_is_a_reported_disagreement(
    open_platform: OpenPlatform, health_system: tuple[str, HealthLegacySystem]
) -> None:
    platform = open_platform(health_system[0], with_psb=True)
    profile = platform.session(CLERK).parties.identify(WANG_XIUYING, purpose=PURPOSE)
    assert profile["name"] == "王秀英"  # 公安 is the source of truth for names
    assert profile.attributes["name"].source == PSB
    [disagreement] = profile.disagreements
    assert disagreement.attribute == "name"
    assert dict(disagreement.values) == {PSB: "王秀英", HEALTH: "王秀瑛"}
    assert disagreement.chosen == PSB


# -- the birth certificate -------------------------------------------------------------------


def test_birth_certificate_reviewed_and_issued(
    open_platform: OpenPlatform, health_system: tuple[str, HealthLegacySystem]
) -> None:
    url, system = health_system
    platform = open_platform(url)
    departments, cases = platform.system().departments, platform.system().cases
    case = apply_for_the_certificate(platform)
    assert case.state is CaseState.IN_REVIEW
    [task] = case.open_tasks
    assert task.department == HEALTH

    report = departments.deliver()
    assert (report.delivered, report.errors) == (1, ())
    legacy = system.tasks_by_key[task.id]
    assert legacy.request["taskType"] == "CERTIFICATE"
    assert legacy.request["form"] == BIRTH_FORM

    # Delivering again finds nothing to do; the system still holds one task for the key.
    count = len(system.tasks)
    assert departments.deliver().delivered == 0
    assert len(system.tasks) == count
    # A retry of the same delivery (after a crash) is answered with the same task.
    request = ReviewRequest(
        task_id=task.id,
        case_id=case.id,
        tracking_code=case.tracking_code,
        item_code=BIRTH_CERTIFICATE,
        stage=1,
        applicant=MOTHER.key,
        applicant_name=MOTHER.name,
        form=cases.get(case.id).form,
        materials=("M01", "M02"),
    )
    adapter = HealthAdapter(HealthConfig(base_url=url))
    assert asyncio.run(adapter.open_review(request)) == legacy.task_id
    assert len(system.tasks) == count

    assert departments.poll().pending == 1
    decide(url, legacy.task_id, approve=True)
    polled = departments.poll()
    assert (polled.decided, polled.errors) == (1, ())
    assert departments.fetch_results().issued == 1

    done = cases.get(case.id)
    assert done.state is CaseState.RESULT_READY
    assert done.result is not None
    assert done.result.name == "出生医学证明"
    assert legacy.certificate is not None
    assert done.result.number == legacy.certificate.number
    assert done.result.data["新生儿姓名"] == "王子墨"
    assert done.result.data["母亲有效身份证件号码"] == LI_NA
    assert legacy.status == "ISSUED"
    assert departments.verify_exchange_log().ok


def test_a_rejection_denies_the_case_with_a_basis(
    open_platform: OpenPlatform, health_system: tuple[str, HealthLegacySystem]
) -> None:
    url, system = health_system
    platform = open_platform(url)
    departments = platform.system().departments
    case = apply_for_the_certificate(platform)
    [task] = case.open_tasks
    assert departments.deliver().delivered == 1
    decide(url, system.tasks_by_key[task.id].task_id, approve=False, remark="出生孕周与病历不符")

    assert departments.poll().decided == 1
    denied = platform.system().cases.get(case.id)
    assert denied.state is CaseState.DENIED
    assert denied.decision is not None
    assert (denied.decision.reason, denied.decision.basis) == ("出生孕周与病历不符", DENIAL_BASIS)


def test_a_withdrawn_application_withdraws_the_task(
    open_platform: OpenPlatform, health_system: tuple[str, HealthLegacySystem]
) -> None:
    url, system = health_system
    platform = open_platform(url)
    departments = platform.system().departments
    case = apply_for_the_certificate(platform)
    [task] = case.open_tasks
    assert departments.deliver().delivered == 1
    platform.session(applicant_of(MOTHER)).cases.withdraw(case.id, reason="改为线下办理")
    report = departments.deliver()
    assert (report.delivered, report.errors) == (1, ())
    assert system.tasks_by_key[task.id].status == "CANCELLED"


# -- a failing, slow commission --------------------------------------------------------------


def test_a_failing_commission_is_unavailable_and_its_circuit_opens(
    open_platform: OpenPlatform, serve_logged: Callable[..., tuple[str, Any]]
) -> None:
    url, log = serve_logged(failure_rate=1.0)
    policy = CallPolicy(attempts=1, backoff=0.0, failure_threshold=2, cooldown=600.0)
    platform = open_platform(url, with_psb=True, policy=policy)
    clerk, departments = platform.session(CLERK), platform.system().departments

    profile = clerk.parties.identify(ZHANG_WEI, purpose=PURPOSE)
    assert profile["name"] == "张伟"  # 公安 still answers
    assert profile["address"] == "黑龙江省哈尔滨市南岗区学府路52号"
    assert profile.attributes["name"].source == PSB
    assert set(profile.unavailable) == {HEALTH}
    assert "503" in profile.unavailable[HEALTH]
    assert profile.unavailable_attributes == ("birth_certificate",)
    reached = len(log.paths)
    assert reached == 2  # the person record and the certificates, asked at once

    clerk.parties.identify(ZHANG_WEI, purpose=PURPOSE)  # the second failure opens the circuit
    assert len(log.paths) == 2 * reached

    third = clerk.parties.identify(ZHANG_WEI, purpose=PURPOSE)
    assert third["name"] == "张伟"
    assert "circuit is open" in third.unavailable[HEALTH]
    assert len(log.paths) == 2 * reached  # failed fast: the system was not asked at all

    # The opening is logged once; calls refused while it stays open are not logged each time.
    health_calls = departments.exchange_log(department=HEALTH)
    assert [r.outcome for r in reversed(health_calls)] == [
        "unavailable",
        "unavailable",
        "circuit_opened",
    ]
    assert departments.health()[HEALTH].startswith("down:")
    assert departments.verify_exchange_log().ok


def test_a_slow_commission_times_out_and_the_rest_answers(
    open_platform: OpenPlatform, serve_logged: Callable[..., tuple[str, Any]]
) -> None:
    url, _ = serve_logged(latency=0.3)
    policy = CallPolicy(attempts=1, backoff=0.0)
    platform = open_platform(url, with_psb=True, policy=policy, timeout=0.05)
    assert platform.departments[HEALTH].timeout == 0.05

    profile = platform.session(CLERK).parties.identify(ZHANG_WEI, purpose=PURPOSE)
    assert profile["birth_date"] == "1985-03-12"
    assert profile.attributes["birth_date"].source == PSB
    assert set(profile.unavailable) == {HEALTH}
    [record] = platform.system().departments.exchange_log(department=HEALTH)
    assert record.outcome == "unavailable"
