"""Calling departments: one-number profile, retries, circuits, outbox delivery, polling, the
exchange log — on SQLite and PostgreSQL, with in-process legacy systems."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

import govsvc
from govsvc import CaseState, ProvidedMaterial
from govsvc.store import tables
from govsvc.testing import TEST_LOGIN, applicant_of, clerk_for, reviewer_of
from tests.conftest import FakeClock, sample_catalogue
from tests.departments import (
    HEALTH,
    HRSS,
    PSB,
    SAMR,
    ZHANG,
    FakeLegacy,
    SyncOnly,
    plugin_for,
    standard_departments,
)

MakePlatform = Callable[..., govsvc.Platform]
FOOD = "食品经营许可（新办）"  # reviewed by SAMR and HEALTH in parallel; agency SAMR


def code_of(name: str) -> str:
    return next(i.implementation_code for i, _ in sample_catalogue() if i.name == name)


def materials(p: govsvc.Platform, name: str) -> list[ProvidedMaterial]:
    version = p.public().catalogue.version(code_of(name))
    return [
        ProvidedMaterial(code=m.code, filename=f"x.{m.formats[0]}")
        for m in version.materials
        if m.necessity is not govsvc.Necessity.OPTIONAL
    ]


def accepted_food_case(p: govsvc.Platform) -> govsvc.Case:
    zhang = govsvc.Person(key=govsvc.PartyKey.of(ZHANG), name="张伟")
    case = p.session(applicant_of(zhang)).cases.apply(
        code_of(FOOD), zhang, materials=materials(p, FOOD)
    )
    return p.session(clerk_for(case.agency)).cases.accept(case)


def system_of(department: str) -> govsvc.Principal:
    """A department's own system, as a callback endpoint would authenticate it."""
    return govsvc.Principal.department_system(department, "部门业务系统", auth=TEST_LOGIN)


FAST = govsvc.CallPolicy(attempts=3, backoff=0.001, failure_threshold=3, cooldown=60)


# --- one-number profile (一数一源) -----------------------------------------------------------


def test_identify_merges_with_provenance_and_authority(make_platform: MakePlatform) -> None:
    legacies = standard_departments()
    p = make_platform(plugin_for(legacies), call_policy=FAST)
    profile = p.system().parties.identify(ZHANG, purpose="办理食品经营许可")
    assert profile["name"] == "张伟"
    address = profile.attributes["address"]
    assert address.source == PSB and address.authoritative  # 公安 is the source of truth
    assert address.value.endswith("学府路52号")
    assert profile.attributes["social_security_card"].source == HRSS
    [disagreement] = profile.disagreements
    assert disagreement.attribute == "address" and disagreement.chosen == PSB
    assert set(disagreement.values) == {PSB, HRSS}
    assert profile.unavailable == {}
    assert all(legacy.calls.count("profile") == 1 for legacy in legacies.values())


def test_identify_degrades_when_a_department_is_down_or_slow(make_platform: MakePlatform) -> None:
    legacies = standard_departments()
    legacies[PSB].fail_next = 99  # down
    legacies[HRSS].delay = 1.0  # slower than its timeout
    p = make_platform(plugin_for(legacies, timeout=0.2), call_policy=FAST)
    profile = p.system().parties.identify(ZHANG, purpose="测试")
    assert set(profile.unavailable) == {PSB, HRSS}
    assert "did not answer" in profile.unavailable[HRSS]
    assert set(profile.unavailable_attributes) == {
        "name",
        "sex",
        "birth_date",
        "address",
        "social_security_card",
    }
    outcomes = {r.department: r.outcome for r in p.system().departments.exchange_log()}
    assert outcomes[PSB] == "unavailable" and outcomes[HRSS] == "unavailable"


def test_malformed_answer_is_a_protocol_error_logged_with_its_path(
    make_platform: MakePlatform,
) -> None:
    legacies = standard_departments()
    legacies[HRSS].malformed = True
    p = make_platform(plugin_for(legacies), call_policy=FAST)
    profile = p.system().parties.identify(ZHANG, purpose="测试")
    assert HRSS in profile.unavailable and "@ $" in profile.unavailable[HRSS]
    assert profile["name"] == "张伟"
    record = next(r for r in p.system().departments.exchange_log() if r.department == HRSS)
    assert record.outcome == "protocol_error"
    assert legacies[HRSS].calls.count("profile") == 1  # a bad answer is not retried


def test_invalid_number_is_refused_before_any_call(make_platform: MakePlatform) -> None:
    legacies = standard_departments()
    p = make_platform(plugin_for(legacies))
    with pytest.raises(govsvc.InvalidIdentifier, match="check character"):
        p.system().parties.identify("230103198503120317", purpose="测试")
    with pytest.raises(govsvc.InvalidInput, match="purpose"):
        p.system().parties.identify(ZHANG, purpose=" ")
    assert all(not legacy.calls for legacy in legacies.values())
    assert p.system().departments.exchange_log() == []


def test_retries_hide_a_passing_failure(make_platform: MakePlatform) -> None:
    legacies = standard_departments()
    legacies[PSB].fail_next = 2
    p = make_platform(plugin_for(legacies), call_policy=FAST)
    profile = p.system().parties.identify(ZHANG, purpose="测试")
    assert profile.attributes["name"].source == PSB and not profile.unavailable
    assert legacies[PSB].calls.count("profile") == 3


def test_circuit_opens_after_repeated_failures(make_platform: MakePlatform) -> None:
    legacies = {PSB: FakeLegacy(PSB, {})}
    legacies[PSB].fail_next = 99
    policy = govsvc.CallPolicy(attempts=1, backoff=0, failure_threshold=2, cooldown=3600)
    p = make_platform(plugin_for(legacies), call_policy=policy)
    for _ in range(2):
        p.system().parties.identify(ZHANG, purpose="测试")
    assert legacies[PSB].calls.count("profile") == 2
    profile = p.system().parties.identify(ZHANG, purpose="测试")
    assert "circuit is open" in profile.unavailable[PSB]
    assert legacies[PSB].calls.count("profile") == 2  # not called while open
    # The opening is logged once; the calls not made while open are not logged at all.
    log = p.system().departments.exchange_log(attempts=True)
    assert [r.outcome for r in log] == [
        "circuit_opened",
        "unavailable",
        "attempted",
        "unavailable",
        "attempted",
    ]
    p.system().parties.identify(ZHANG, purpose="测试")
    assert len(p.system().departments.exchange_log(attempts=True)) == 5


def test_concurrent_identify_calls_all_succeed(make_platform: MakePlatform) -> None:
    legacies = standard_departments()
    p = make_platform(plugin_for(legacies), call_policy=FAST)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            assert p.system().parties.identify(ZHANG, purpose="并发").get("name") == "张伟"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Each call twice in the log: attempted before it was made, its outcome after.
    assert p.system().departments.verify_exchange_log().checked == 20 * 4 * 2
    assert len(p.system().departments.exchange_log(limit=1000)) == 20 * 4


def test_certificates_and_health(make_platform: MakePlatform) -> None:
    legacies: dict[str, Any] = standard_departments()
    legacies[SAMR] = SyncOnly()
    p = make_platform(plugin_for(legacies))
    found = p.system().parties.certificates(ZHANG, purpose="用证核验")
    assert {r.number for r in found.records} == {"SSC120316"}
    health = p.system().departments.health()
    assert health[PSB] == "up" and health[SAMR].startswith("down:")


# --- the exchange log ----------------------------------------------------------------------------


def test_exchange_log_chain_reports_the_first_altered_record(make_platform: MakePlatform) -> None:
    p = make_platform(plugin_for(standard_departments()))
    for _ in range(3):
        p.system().parties.identify(ZHANG, purpose="测试")
    report = p.system().departments.verify_exchange_log()
    assert report.ok and report.checked == 24  # 12 calls, each attempted and settled
    t = tables.exchange_t
    with p.engine.begin() as conn:
        conn.execute(sa.update(t).where(t.c.seq == 7).values(purpose="篡改"))
    report = p.system().departments.verify_exchange_log()
    assert report.first_bad == 7 and "content" in report.reason
    with p.engine.begin() as conn:
        conn.execute(sa.delete(t).where(t.c.seq.in_([7])))
    assert p.system().departments.verify_exchange_log().first_bad == 7
    assert "missing" in p.system().departments.verify_exchange_log().reason


# --- review tasks through the outbox --------------------------------------------------------------


def test_outbox_delivers_each_task_once_even_after_a_crash(
    make_platform: MakePlatform, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    legacies = standard_departments()
    p = make_platform(plugin_for(legacies), call_policy=FAST)
    case = accepted_food_case(p)
    assert {t.department for t in case.tasks} == {SAMR, HEALTH}

    # crash after the legacy systems took the tasks, before the outbox was marked
    import govsvc.store.outbox as work

    original = work.record_delivery

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(work, "record_delivery", crash)
    with pytest.raises(RuntimeError):
        p.system().departments.deliver()
    monkeypatch.setattr(work, "record_delivery", original)
    assert len(p.system().outbox.pending(topic="review.open")) == 2
    assert len(legacies[SAMR].tasks) == 1  # it did arrive once
    # the calls were logged before they were made: attempted, outcome unknown
    unknown = p.system().departments.exchange_log()
    assert {(r.operation, r.outcome) for r in unknown} == {("open_review", "attempted")}
    assert len(unknown) == 2

    # the dead pass still holds its lease: no other pass sends the tasks meanwhile
    assert p.system().departments.deliver().delivered == 0
    clock.advance(minutes=5)  # the lease expires
    report = p.system().departments.deliver()
    assert report.delivered == 2 and report.retrying == 0
    assert len(legacies[SAMR].tasks) == 1 and len(legacies[HEALTH].tasks) == 1  # no duplicate
    assert p.system().outbox.pending(topic="review.open") == []
    assert p.system().departments.deliver().delivered == 0


def test_failed_delivery_is_retried_later(make_platform: MakePlatform, clock: FakeClock) -> None:
    legacies = standard_departments()
    legacies[HEALTH].fail_next = 5
    p = make_platform(plugin_for(legacies), call_policy=govsvc.CallPolicy(attempts=1, backoff=0))
    accepted_food_case(p)
    report = p.system().departments.deliver()
    assert (report.delivered, report.retrying) == (1, 1)
    [pending] = p.system().outbox.pending(topic="review.open")
    assert pending.attempts == 1 and "503" in (pending.last_error or "")
    assert p.system().departments.deliver().delivered == 0  # not due yet
    legacies[HEALTH].fail_next = 0
    clock.advance(hours=1)
    assert p.system().departments.deliver().delivered == 1


def test_departments_without_adapter_work_from_the_queue(make_platform: MakePlatform) -> None:
    p = make_platform(plugin_for({SAMR: FakeLegacy(SAMR)}))
    case = accepted_food_case(p)
    report = p.system().departments.deliver()
    assert (report.delivered, report.manual) == (1, 1)
    queue = p.session(reviewer_of(HEALTH)).reviews.queue()
    assert [v.case.id for v in queue] == [case.id]
    assert queue[0].legacy_id is None  # worked in the platform's queue
    [samr_view] = p.session(reviewer_of(SAMR)).reviews.queue()
    assert samr_view.legacy_id is not None  # pushed to the legacy system


def test_polling_records_decisions_and_issues_the_result(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    legacies = standard_departments()
    p = make_platform(plugin_for(legacies), call_policy=FAST)
    case = accepted_food_case(p)
    p.system().departments.deliver()
    assert p.system().departments.poll().pending == 2
    assert p.system().departments.poll().pending == 0  # each task is asked again later
    for task in case.tasks:
        legacies[task.department].decide(task.id)
    clock.advance(minutes=1)
    report = p.system().departments.poll()
    assert report.decided == 2, report.errors
    approved = p.system().cases.get(case.id)
    assert approved.state is CaseState.APPROVED  # the result is durable work, fetched next
    [waiting] = p.system().supervision.awaiting_results()
    assert waiting.case.id == case.id and waiting.fetching and waiting.attempts == 0
    fetched = p.system().departments.fetch_results()
    assert fetched.issued == 1, fetched.errors
    case = p.system().cases.get(case.id)
    assert case.state is CaseState.RESULT_READY
    assert case.result is not None and case.result.number.startswith("JY")
    kinds = [e.kind.value for e in p.system().cases.trail(case)]
    assert kinds[-3:] == ["task_approved", "approved", "result_ready"]
    assert p.system().supervision.awaiting_results() == []
    assert p.system().departments.fetch_results().issued == 0  # done once
    assert p.system().departments.verify_exchange_log().ok


def test_callbacks_decide_only_own_tasks(make_platform: MakePlatform) -> None:
    p = make_platform(plugin_for(standard_departments()))
    case = accepted_food_case(p)
    samr_task = next(t for t in case.tasks if t.department == SAMR)
    outcome = govsvc.ReviewOutcome(approved=True, reason="合格", decided_by="李强")
    health = p.session(system_of(HEALTH)).reviews
    with pytest.raises(govsvc.PermissionDenied, match=SAMR):
        health.record_decision(samr_task.id, outcome)
    samr = p.session(system_of(SAMR)).reviews
    case = samr.record_decision(samr_task.id, outcome)
    decided = case.task(samr_task.id)
    assert decided.status is govsvc.TaskStatus.APPROVED and "李强" in decided.decided_by
    event = p.system().cases.trail(case)[-1]
    assert event.actor.kind is govsvc.PrincipalKind.DEPARTMENT_SYSTEM
    assert event.actor.agency == SAMR
    with pytest.raises(govsvc.CaseNotFound):
        samr.record_decision("f" * 32, outcome)
    # a reviewer is not a department system: callbacks are for systems only
    with pytest.raises(govsvc.PermissionDenied):
        p.session(reviewer_of(HEALTH)).reviews.record_decision(samr_task.id, outcome)


def test_cancelled_tasks_are_withdrawn_from_legacy_systems(make_platform: MakePlatform) -> None:
    from tests.departments import CancellingLegacy

    legacies = {SAMR: FakeLegacy(SAMR), HEALTH: CancellingLegacy(HEALTH)}
    p = make_platform(plugin_for(legacies), call_policy=FAST)
    case = accepted_food_case(p)
    assert p.system().departments.deliver().delivered == 2
    samr_task = next(t for t in case.tasks if t.department == SAMR)
    p.session(reviewer_of(SAMR)).reviews.decide(
        case,
        samr_task.id,
        approve=False,
        reason="经营场所不符合要求",
        basis="《食品安全法》第三十五条",
        remedies="可申请行政复议",
    )
    report = p.system().departments.deliver()
    assert report.delivered == 1  # HEALTH's task withdrawn from its system
    [legacy_task] = legacies[HEALTH].tasks.values()
    assert legacy_task.get("cancelled") is True
    assert p.system().outbox.pending(topic="review.cancel") == []


def test_tasks_closed_before_delivery_are_not_pushed(make_platform: MakePlatform) -> None:
    legacies = standard_departments()
    p = make_platform(plugin_for(legacies))
    case = accepted_food_case(p)
    zhang = govsvc.Person(key=govsvc.PartyKey.of(ZHANG), name="张伟")
    p.session(applicant_of(zhang)).cases.withdraw(case, reason="申请人撤回")
    report = p.system().departments.deliver()
    assert report.delivered == 0 and not legacies[SAMR].tasks
    assert p.system().outbox.pending() == [] or all(
        m.topic == "applicant.notify" for m in p.system().outbox.pending()
    )


def test_automated_prereview_joins_the_one_time_notice(make_platform: MakePlatform) -> None:
    from tests.departments import CheckingLegacy

    legacies = {SAMR: CheckingLegacy(SAMR)}
    p = make_platform(plugin_for(legacies), call_policy=FAST)
    zhang = govsvc.Person(key=govsvc.PartyKey.of(ZHANG), name="张伟")
    applicant = p.session(applicant_of(zhang)).cases
    clerk = p.session(clerk_for(SAMR)).cases
    case = applicant.apply(code_of(FOOD), zhang, materials=materials(p, FOOD))
    case = clerk.prereview(case, defects={"M01": "申请书未签字"})
    assert case.state is CaseState.SUPPLEMENT_NEEDED and case.notice is not None
    details = {i.code: i.detail for i in case.notice.items}
    assert details == {"M01": "申请书未签字", "M02": "营业执照已注销（自动核验）"}
    assert p.system().departments.exchange_log(case=case)[0].operation == "prereview"

    # the department down: the clerk's check stands alone
    legacies[SAMR].fail_next = 99
    case = applicant.resubmit(case, materials(p, FOOD))
    case = clerk.prereview(case)
    assert case.state is CaseState.PRE_REVIEWED
    # and the clerk can skip the automated check
    calls = legacies[SAMR].calls.count("prereview")
    other = clerk.prereview(
        applicant.apply(code_of(FOOD), zhang, materials=materials(p, FOOD)), automated=False
    )
    assert other.state is CaseState.PRE_REVIEWED
    assert legacies[SAMR].calls.count("prereview") == calls
