"""The plugin in a real Platform, talking to the simulator over HTTP on 127.0.0.1.

The story: 陈静 registers her newborn daughter 孙悦 (出生登记). The bureau reviews the task the
platform delivers, the platform polls the decision, and issuing the result writes 孙悦 into
the register with her new citizen ID, which the platform can then identify.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from govsvc_psb import plugin
from govsvc_psb.adapter import DENIAL_BASIS, PsbAdapter
from govsvc_psb.client import DEPARTMENT
from govsvc_psb.seed import NEWBORN, NEWBORN_BIRTH_FORM
from starlette.applications import Starlette

import govsvc
from govsvc import (
    CallPolicy,
    CaseState,
    ItemVersion,
    LegalBasis,
    Material,
    MaterialKind,
    MaterialSource,
    Necessity,
    PartyKey,
    ProvidedMaterial,
    ResultSpec,
    ReviewRequest,
    ReviewStage,
    ServiceItem,
    WorkPolicy,
    check_version,
    import_json,
)
from govsvc.testing import applicant_of, clerk_for

Simulator = Callable[..., tuple[str, Starlette]]

CHEN_JING = govsvc.Person(key=PartyKey.of("23011019950630088X"), name="陈静", phone="13804510000")
ZHANG = "230103198503120316"
CLERK = clerk_for(DEPARTMENT, name="王芳")  # the window clerk who accepts and checks applications


def birth_registration() -> tuple[ServiceItem, ItemVersion]:
    """出生登记, handled and reviewed by the bureau alone (one review stage)."""
    text = (importlib.resources.files("govsvc") / "data" / "items" / "harbin.json").read_text(
        encoding="utf-8"
    )
    move_item, (move,) = next(
        (item, versions)
        for item, versions in import_json(text)
        if item.agency.credit_code == DEPARTMENT
    )
    item = attrs.evolve(move_item, catalogue_code="000716001000", name="出生登记")
    version = attrs.evolve(
        move,
        item_code=item.implementation_code,
        name=item.name,
        legal_basis=(
            LegalBasis(
                law="《中华人民共和国户口登记条例》",
                article="第七条",
                text="婴儿出生后一个月以内，由户主、亲属、抚养人或者邻居向婴儿常住地户口登记机关"
                "申报出生登记。",
            ),
        ),
        co_agencies=(),
        conditions=("婴儿出生后一个月以内申报",),
        materials=(
            Material(
                code="M01",
                name="出生医学证明",
                necessity=Necessity.REQUIRED,
                source=MaterialSource.GOVERNMENT,
                ecert_type="111000000000193186010",
            ),
            Material(
                code="M02",
                name="父母居民身份证",
                necessity=Necessity.REQUIRED,
                source=MaterialSource.GOVERNMENT,
                ecert_type="111000000000193186001",
            ),
            Material(
                code="M03",
                name="居民户口簿",
                necessity=Necessity.REQUIRED,
                source=MaterialSource.GOVERNMENT,
                shared_from=DEPARTMENT,
            ),
        ),
        review_stages=(ReviewStage(name="户籍审核", departments=(DEPARTMENT,)),),
        results=(ResultSpec(name="居民户口簿（出生登记页）", kind="证照", post_supported=True),),
    )
    assert check_version(item, version) == []
    return item, version


MATERIALS = [
    ProvidedMaterial(code="M01", kind=MaterialKind.ECERT, reference="1.2.156.3005.2.Y230010001"),
    ProvidedMaterial(code="M02", kind=MaterialKind.ECERT, reference="1.2.156.3005.2.23011019950"),
    ProvidedMaterial(code="M03", kind=MaterialKind.SHARED, reference="230103000074"),
]


@pytest.fixture
def open_platform(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[..., tuple[govsvc.Platform, Starlette]]]:
    """``open_platform(**simulator_options)``: a platform whose psb plugin uses a simulator."""
    platforms: list[govsvc.Platform] = []

    def open_(**options: Any) -> tuple[govsvc.Platform, Starlette]:
        base_url, app = simulator(**options)
        monkeypatch.setenv("GOVSVC_PSB_URL", base_url)
        monkeypatch.setenv("GOVSVC_PSB_TIMEOUT", "2")
        platform = govsvc.Platform.open(
            f"sqlite:///{tmp_path / f'govsvc{len(platforms)}.db'}",
            plugins=[plugin],
            load_entry_points=False,
            provisional_calendar=True,
            call_policy=CallPolicy(backoff=0.001),
            work_policy=WorkPolicy.eager(),
        )
        platforms.append(platform)
        item, version = birth_registration()
        platform.system().catalogue.import_items([(item, [version])])
        return platform, app

    yield open_
    for platform in platforms:
        platform.close()


def apply_for_the_newborn(platform: govsvc.Platform) -> govsvc.Case:
    item, _ = birth_registration()
    case = platform.session(applicant_of(CHEN_JING)).cases.apply(
        item.implementation_code, CHEN_JING, materials=MATERIALS, form=NEWBORN_BIRTH_FORM
    )
    return platform.session(CLERK).cases.accept(case)


def decide(base_url: str, legacy_id: str, approve: bool, reason: str) -> None:
    response = httpx.post(
        f"{base_url}/admin/review-tasks/{legacy_id}/decision",
        json={"approve": approve, "reason": reason},
    )
    response.raise_for_status()


def test_identify_reads_the_register(open_platform: Callable[..., Any]) -> None:
    platform, _ = open_platform()
    clerk = platform.session(CLERK)

    profile = clerk.parties.identify(ZHANG, purpose="户籍信息核验")

    assert profile["name"] == "张伟"
    assert profile["sex"] == "male"
    assert profile["birth_date"] == "1985-03-12"
    assert profile["address"] == "黑龙江省哈尔滨市南岗区学府路52号"
    assert profile["ethnicity"] == "汉族"
    assert profile["household_number"] == "230103000152"
    assert all(a.source == DEPARTMENT for a in profile.attributes.values())
    assert profile.attributes["name"].authoritative
    assert not profile.unavailable
    assert clerk.parties.identify(NEWBORN.id_number, purpose="户籍信息核验").attributes == {}


def test_certificates_of_a_resident(open_platform: Callable[..., Any]) -> None:
    platform, _ = open_platform()

    found = platform.session(CLERK).parties.certificates(ZHANG, purpose="办理社会保障卡")

    (booklet,) = found.records
    assert (booklet.type_name, booklet.number) == ("居民户口簿", "230103000152")
    assert booklet.data["head_of_household"] == "张伟"
    assert not found.unavailable


def test_birth_registration_end_to_end(open_platform: Callable[..., Any]) -> None:
    platform, app = open_platform()
    register = app.state.register
    system = platform.system()
    case = apply_for_the_newborn(platform)
    assert case.state is CaseState.IN_REVIEW

    report = system.departments.deliver()

    assert report.delivered == 1, report.errors
    assert len(register.tasks) == 1
    (task,) = system.cases.get(case).open_tasks
    legacy_id = register.task_by_key[task.id]  # the govsvc task id is the idempotency key
    assert legacy_id == "GAJ00000001"
    # Delivering again finds nothing to do; a retry after a crash reaches the adapter with
    # the same task id and must not open a second task in the register.
    assert system.departments.deliver().delivered == 0
    adapter = platform.departments[DEPARTMENT].adapter
    assert isinstance(adapter, PsbAdapter)
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
    assert len(register.tasks) == 1
    assert register.tasks[legacy_id].form["motherIdNumber"] == "23011019950630088X"

    assert system.departments.poll().pending == 1
    decide(adapter.config.base_url, legacy_id, True, "材料齐全，准予登记")
    polled = system.departments.poll()

    assert (polled.decided, polled.errors) == (1, ())
    assert system.departments.fetch_results().issued == 1
    done = system.cases.get(case)
    assert done.state is CaseState.RESULT_READY
    assert done.decision is not None and done.decision.approved
    assert done.result is not None
    assert done.result.name == "居民户口簿（出生登记）"
    assert done.result.number.startswith("HKDJ")
    assert done.result.data["id_number"] == NEWBORN.id_number  # assigned by the register
    newborn = platform.session(CLERK).parties.identify(
        NEWBORN.id_number, purpose="出生登记结果核验", case=case
    )
    assert newborn["name"] == "孙悦"
    assert newborn["address"] == "黑龙江省哈尔滨市南岗区西大直街74号"

    operations = [r.operation for r in system.departments.exchange_log(case=case)]
    assert sorted(operations) == [
        "issue_result",
        "open_review",
        "poll_review",
        "poll_review",
        "profile",
    ]
    assert system.departments.verify_exchange_log().ok


def test_a_denial_reaches_the_case_with_reason_and_basis(
    open_platform: Callable[..., Any],
) -> None:
    platform, app = open_platform()
    system = platform.system()
    case = apply_for_the_newborn(platform)
    system.departments.deliver()
    (task,) = system.cases.get(case).open_tasks
    base_url = platform.departments[DEPARTMENT].adapter.config.base_url

    decide(base_url, app.state.register.task_by_key[task.id], False, "申报户号与父母户籍不符")
    polled = system.departments.poll()

    assert polled.decided == 1
    assert system.departments.fetch_results().issued == 0
    denied = system.cases.get(case)
    assert denied.state is CaseState.DENIED
    assert denied.decision is not None
    assert denied.decision.reason == "申报户号与父母户籍不符"
    assert denied.decision.basis == DENIAL_BASIS
    assert denied.result is None


def test_auto_decision_is_picked_up_by_polling(open_platform: Callable[..., Any]) -> None:
    platform, _ = open_platform(auto_decide_after=0)
    system = platform.system()
    case = apply_for_the_newborn(platform)
    system.departments.deliver()

    assert system.departments.poll().decided == 1
    assert system.departments.fetch_results().issued == 1
    assert system.cases.get(case).state is CaseState.RESULT_READY


def test_an_outage_degrades_the_profile_and_is_logged(open_platform: Callable[..., Any]) -> None:
    platform, _ = open_platform(fail_operations=["QueryPerson"])
    departments = platform.system().departments

    profile = platform.session(CLERK).parties.identify(ZHANG, purpose="户籍信息核验")

    assert profile.attributes == {}
    assert "人口信息库连接失败" in profile.unavailable[DEPARTMENT]
    assert set(profile.unavailable_attributes) == set(plugin.AUTHORITATIVE_FOR)
    outcomes = {r.outcome for r in departments.exchange_log(department=DEPARTMENT)}
    assert outcomes == {"unavailable"}
    assert departments.verify_exchange_log().ok


def test_health_up_and_down(
    open_platform: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    platform, _ = open_platform()
    assert platform.system().departments.health() == {DEPARTMENT: "up"}

    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("GOVSVC_PSB_URL", f"http://127.0.0.1:{port}")
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'down.db'}", plugins=[plugin], load_entry_points=False
    ) as down:
        assert down.system().departments.health() == {DEPARTMENT: "down: reported unhealthy"}
