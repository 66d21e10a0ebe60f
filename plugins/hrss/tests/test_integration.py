"""The plugin in a real Platform, talking to the simulator over HTTP on 127.0.0.1.

The story: 陈静 applies for her newborn daughter 孙悦's social security card (社会保障卡申领,
from the sample catalogue). The bureau reviews the task the platform delivers, the platform
polls the decision, and issuing the result makes the card, which the platform then finds
among 孙悦's certificates.
"""

from __future__ import annotations

import asyncio
import importlib.resources
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from govsvc_hrss import plugin
from govsvc_hrss.adapter import DENIAL_BASIS, HrssAdapter
from govsvc_hrss.client import DEPARTMENT
from govsvc_hrss.seed import LI_NA_OLD_ADDRESS, NEWBORN_CARD_FORM, NEWBORN_ID
from starlette.applications import Starlette

import govsvc
from govsvc import (
    CallPolicy,
    CaseState,
    MaterialKind,
    PartyKey,
    ProvidedMaterial,
    ReviewRequest,
    WorkPolicy,
    import_json,
)
from govsvc.testing import applicant_of, clerk_for

Simulator = Callable[..., tuple[str, Starlette]]
OpenPlatform = Callable[..., tuple[govsvc.Platform, Starlette]]

CHEN_JING = govsvc.Person(key=PartyKey.of("23011019950630088X"), name="陈静", phone="13804510000")
ZHANG = "230103198503120316"
LI_NA = "230104199208090266"
CARD_ITEM = "11230100003109212K3002005001000"  # 社会保障卡申领 in the sample catalogue
CLERK = clerk_for(DEPARTMENT, name="赵敏")  # the window clerk who accepts and checks applications

MATERIALS = [
    ProvidedMaterial(code="M01", kind=MaterialKind.ECERT, reference="1.2.156.3005.2.23011019950"),
    ProvidedMaterial(code="M02", reference="sha256:5f1d", filename="photo.jpg"),
    ProvidedMaterial(code="M03", kind=MaterialKind.ECERT, reference="1.2.156.3005.2.230103000074"),
]


def publish_card_item(platform: govsvc.Platform) -> None:
    text = (importlib.resources.files("govsvc") / "data" / "items" / "harbin.json").read_text(
        encoding="utf-8"
    )
    platform.system().catalogue.import_items(
        (item, versions)
        for item, versions in import_json(text)
        if item.implementation_code == CARD_ITEM
    )


@pytest.fixture
def open_platform(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[OpenPlatform]:
    """``open_platform(*extra_plugins, **simulator_options)``: a platform on a simulator."""
    platforms: list[govsvc.Platform] = []

    def open_(*extra: object, **options: Any) -> tuple[govsvc.Platform, Starlette]:
        base_url, app = simulator(**options)
        monkeypatch.setenv("GOVSVC_HRSS_URL", base_url)
        monkeypatch.setenv("GOVSVC_HRSS_TIMEOUT", "2")
        platform = govsvc.Platform.open(
            f"sqlite:///{tmp_path / f'govsvc{len(platforms)}.db'}",
            plugins=[plugin, *extra],
            load_entry_points=False,
            provisional_calendar=True,
            call_policy=CallPolicy(backoff=0.001),
            work_policy=WorkPolicy.eager(),
        )
        platforms.append(platform)
        publish_card_item(platform)
        return platform, app

    yield open_
    for platform in platforms:
        platform.close()


def apply_for_the_newborn(platform: govsvc.Platform) -> govsvc.Case:
    mother = platform.session(applicant_of(CHEN_JING))
    case = mother.cases.apply(CARD_ITEM, CHEN_JING, materials=MATERIALS, form=NEWBORN_CARD_FORM)
    return platform.session(CLERK).cases.accept(case)


def decide(platform: govsvc.Platform, legacy_id: str, approve: bool, reason: str) -> None:
    base_url = platform.departments[DEPARTMENT].adapter.config.base_url
    response = httpx.post(
        f"{base_url}/admin/review-tasks/{legacy_id}/decision",
        json={"approve": approve, "reason": reason},
    )
    response.raise_for_status()


def test_identify_reads_card_and_insurance(open_platform: OpenPlatform) -> None:
    platform, _ = open_platform()

    profile = platform.session(CLERK).parties.identify(ZHANG, purpose="社会保障卡补换")

    assert profile["social_security_card"] == "H30188412"  # the cancelled H10023456 is not
    assert profile["social_security_card_status"] == "valid"
    assert profile["insured_status"] == "paying"
    assert profile["employer"] == "哈尔滨市冰城饺子馆有限公司"
    assert profile["employer_credit_code"] == "91230103MA1BX4K238"
    assert profile.attributes["social_security_card"].authoritative
    assert profile.attributes["insured_status"].source == DEPARTMENT
    assert not profile.unavailable


def test_identify_an_employer(open_platform: OpenPlatform) -> None:
    platform, _ = open_platform()

    profile = platform.session(CLERK).parties.identify("91230103MA1BX4K238", purpose="企业参保核验")

    assert profile["insured_employees"] == 3  # 张伟, 李娜, 赵磊


def test_the_profile_merge_prefers_the_public_security_address(
    open_platform: OpenPlatform,
    serve_app: Callable[[Starlette], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 公安 is another distribution: the test runs where both reference plugins are installed.
    psb_plugin = pytest.importorskip("govsvc_psb.plugin")
    psb_simulator = pytest.importorskip("govsvc_psb.simulator")
    psb_url = serve_app(psb_simulator.create_app())
    monkeypatch.setenv("GOVSVC_PSB_URL", psb_url)
    platform, _ = open_platform(psb_plugin)

    profile = platform.session(CLERK).parties.identify(LI_NA, purpose="社会保障卡补换")

    psb_code = psb_plugin.DEPARTMENT
    assert profile["address"] == "黑龙江省哈尔滨市道外区靖宇街300号"
    assert profile.attributes["address"].source == psb_code
    assert profile.attributes["address"].authoritative
    (address,) = [d for d in profile.disagreements if d.attribute == "address"]
    assert address.values == {psb_code: profile["address"], DEPARTMENT: LI_NA_OLD_ADDRESS}
    assert address.chosen == psb_code
    assert profile["social_security_card_status"] == "reported_lost"  # from 人社, alone
    assert [d.attribute for d in profile.disagreements] == ["address"]


def test_card_application_end_to_end(open_platform: OpenPlatform) -> None:
    platform, app = open_platform()
    state = app.state.hrss
    system = platform.system()
    case = apply_for_the_newborn(platform)
    assert case.state is CaseState.IN_REVIEW

    report = system.departments.deliver()

    assert report.delivered == 1, report.errors
    (task,) = system.cases.get(case).open_tasks
    legacy_id = state.task_by_key[task.id]  # the govsvc task id is the Idempotency-Key
    assert len(state.tasks) == 1
    assert state.tasks[legacy_id].request["form"]["holderIdNumber"] == NEWBORN_ID
    # Delivering again finds nothing to do; a retry after a crash reaches the adapter with
    # the same task id and must not open a second task at the bureau.
    assert system.departments.deliver().delivered == 0
    adapter = platform.departments[DEPARTMENT].adapter
    assert isinstance(adapter, HrssAdapter)
    retry = ReviewRequest(
        task_id=task.id,
        case_id=case.id,
        tracking_code=case.tracking_code,
        item_code=case.item_code,
        stage=1,
        applicant=case.applicant,
        applicant_name=case.applicant_name,
        form=case.form,
        materials=tuple(m.code for m in case.materials),
    )
    assert asyncio.run(adapter.open_review(retry)) == legacy_id
    assert len(state.tasks) == 1

    assert system.departments.poll().pending == 1
    decide(platform, legacy_id, True, "参保信息核验通过，准予制卡")
    polled = system.departments.poll()

    assert (polled.decided, polled.errors) == (1, ())
    assert system.departments.fetch_results().issued == 1
    done = system.cases.get(case)
    assert done.state is CaseState.RESULT_READY
    assert done.decision is not None and done.decision.approved
    assert done.result is not None
    assert done.result.name == "社会保障卡"
    assert done.result.data["social_security_number"] == NEWBORN_ID
    assert done.result.data["holder_name"] == "孙悦"
    cards = platform.session(CLERK).parties.certificates(NEWBORN_ID, purpose="社会保障卡发放")
    assert [(c.number, c.status) for c in cards.records] == [(done.result.number, "valid")]

    operations = sorted(r.operation for r in system.departments.exchange_log(case=case))
    assert operations == ["issue_result", "open_review", "poll_review", "poll_review"]
    assert system.departments.verify_exchange_log().ok


def test_a_denial_reaches_the_case_with_reason_and_basis(open_platform: OpenPlatform) -> None:
    platform, app = open_platform()
    system = platform.system()
    case = apply_for_the_newborn(platform)
    system.departments.deliver()
    (task,) = system.cases.get(case).open_tasks

    decide(platform, app.state.hrss.task_by_key[task.id], False, "申领人已持有有效社会保障卡")
    polled = system.departments.poll()

    assert polled.decided == 1
    assert system.departments.fetch_results().issued == 0
    denied = system.cases.get(case)
    assert denied.state is CaseState.DENIED
    assert denied.decision is not None
    assert denied.decision.reason == "申领人已持有有效社会保障卡"
    assert denied.decision.basis == DENIAL_BASIS


def test_a_revoked_token_is_replaced_transparently(open_platform: OpenPlatform) -> None:
    platform, app = open_platform()
    clerk = platform.session(CLERK)
    assert clerk.parties.identify(ZHANG, purpose="核验")["social_security_card"] == "H30188412"
    base_url = platform.departments[DEPARTMENT].adapter.config.base_url
    httpx.post(f"{base_url}/admin/tokens/revoke").raise_for_status()

    assert not app.state.hrss.tokens

    assert clerk.parties.identify(ZHANG, purpose="核验")["social_security_card"] == "H30188412"
    assert len(app.state.hrss.tokens) == 1  # a fresh token replaced the revoked one
    assert {r.outcome for r in platform.system().departments.exchange_log()} == {"ok"}


def test_an_outage_degrades_the_profile_and_health(open_platform: OpenPlatform) -> None:
    platform, _ = open_platform(unavailable=True)
    departments = platform.system().departments

    profile = platform.session(CLERK).parties.identify(ZHANG, purpose="核验")

    assert profile.attributes == {}
    assert "HTTP 503" in profile.unavailable[DEPARTMENT]
    assert set(profile.unavailable_attributes) == {"social_security_card", "insured_status"}
    assert departments.health() == {DEPARTMENT: "down: reported unhealthy"}
    outcomes = {r.operation: r.outcome for r in departments.exchange_log(department=DEPARTMENT)}
    assert outcomes == {"profile": "unavailable", "health": "ok"}  # health answered: DOWN
    assert departments.verify_exchange_log().ok


def test_health_up(open_platform: OpenPlatform) -> None:
    platform, _ = open_platform()

    assert platform.system().departments.health() == {DEPARTMENT: "up"}
