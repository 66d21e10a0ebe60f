"""The Platform on SQLite and PostgreSQL: commands, transactions, concurrency, queries."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import attrs
import pytest
import sqlalchemy as sa

import govsvc
from govsvc import CaseState, MaterialKind, ProvidedMaterial, TaskStatus
from govsvc.store import repository
from tests.conftest import FakeClock, sample_catalogue


def code_of(name: str) -> str:
    for item, _ in sample_catalogue():
        if item.name == name:
            return item.implementation_code
    raise AssertionError(f"no sample item {name}")


FOOD = "食品经营许可（新办）"  # one stage, two departments in parallel; M06 容缺后补; M05 告知承诺
MOVE = "户口迁移（市内跨区迁移）"  # two stages
CARD = "社会保障卡申领"


def all_materials(
    p: govsvc.Platform, name: str, *, skip: tuple[str, ...] = ()
) -> list[ProvidedMaterial]:
    version = p.item_version(code_of(name))
    return [
        ProvidedMaterial(
            code=m.code, filename=f"{m.code}.{m.formats[0]}", reference=f"sha256:{m.code}"
        )
        for m in version.materials
        if m.code not in skip and m.necessity is not govsvc.Necessity.OPTIONAL
    ]


def counts(p: govsvc.Platform) -> dict[str, int]:
    with p.engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (
                repository.cases_t,
                repository.events_t,
                repository.outbox_t,
                repository.tasks_t,
                repository.materials_t,
                repository.parties_t,
            )
        }


def approve_all(p: govsvc.Platform, case: govsvc.Case) -> govsvc.Case:
    while case.state is CaseState.IN_REVIEW:
        case = p.decide(case, case.open_tasks[0].id, approve=True, actor="审查员")
    return case


# --- the whole life ---------------------------------------------------------------------------


def test_case_walks_its_whole_life_with_a_trail(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    case = platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    assert case.state is CaseState.SUBMITTED
    case = platform.accept(case, actor="窗口A")
    assert case.state is CaseState.IN_REVIEW
    assert len(case.open_tasks) == 2 and {t.stage for t in case.open_tasks} == {1}
    # accepted Monday 2026-03-02; promised 5 working days → Monday 2026-03-09
    assert case.deadline is not None
    assert case.deadline.promised == dt.date(2026, 3, 9)
    assert case.deadline.statutory == dt.date(2026, 3, 30)
    case = approve_all(platform, case)
    assert case.state is CaseState.APPROVED
    case = platform.issue_result(
        case, govsvc.CaseResult(name="食品经营许可证", number="JY12301030012345")
    )
    case = platform.complete(case, delivery="窗口领取")
    assert case.state is CaseState.COMPLETED and not case.is_open
    trail = platform.trail(case.tracking_code)
    assert [e.kind for e in trail] == [
        "drafted",
        "submitted",
        "accepted",
        "task_approved",
        "approved",
        "result_ready",
        "completed",
    ]
    assert [e.seq for e in trail] == list(range(1, 8))
    assert trail[2].actor == "窗口A"
    stored = platform.case(case.id)
    assert stored == case


def test_one_time_notice_lists_everything_missing_at_once(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    given = all_materials(platform, FOOD, skip=("M02", "M04"))
    given = [attrs.evolve(m, filename="M01.docx") if m.code == "M01" else m for m in given]
    case = platform.apply(code_of(FOOD), zhang, materials=given)
    case = platform.prereview(case, defects={"M03": "身份证复印件不清晰"})
    assert case.state is CaseState.SUPPLEMENT_NEEDED
    assert case.notice is not None
    problems = {(i.code, i.problem) for i in case.notice.items}
    assert problems == {
        ("M01", "defective"),
        ("M02", "missing"),
        ("M03", "defective"),
        ("M04", "missing"),
    }
    assert "M01" in case.notice.text() or "申请书" in case.notice.text()
    notices = platform.pending_outbox(topic="applicant.notify")
    assert len(notices) == 1 and "一次性" in notices[0].payload["text"]
    case = platform.resubmit(case, all_materials(platform, FOOD))
    assert case.state is CaseState.SUBMITTED
    case = platform.prereview(case)
    assert case.state is CaseState.PRE_REVIEWED and case.notice is not None and case.notice.complete
    assert platform.accept(case).state is CaseState.IN_REVIEW


def test_tolerated_acceptance_holds_back_the_result(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    case = platform.apply(
        code_of(FOOD), zhang, materials=all_materials(platform, FOOD, skip=("M06",))
    )
    with pytest.raises(govsvc.InvalidInput, match="tolerate=True"):
        platform.accept(case)
    case = platform.accept(case, tolerate=True)
    assert [t.code for t in case.outstanding_materials] == ["M06"]
    assert case.tolerated[0].due == dt.date(2026, 3, 16)  # 10 working days after Monday 03-02
    case = approve_all(platform, case)
    result = govsvc.CaseResult(name="食品经营许可证", number="JY1")
    with pytest.raises(govsvc.InvalidInput, match="容缺后补"):
        platform.issue_result(case, result)
    assert platform.case(case.id).state is CaseState.APPROVED
    case = platform.supply(case, ProvidedMaterial(code="M06", filename="health.pdf"))
    assert case.outstanding_materials == ()
    assert platform.issue_result(case, result).state is CaseState.RESULT_READY


def test_commitment_creates_a_verification_and_a_false_one_revokes(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    materials = [
        ProvidedMaterial(code="M05", kind=MaterialKind.COMMITMENT, reference="承诺书-001")
        if m.code == "M05"
        else m
        for m in all_materials(platform, FOOD)
    ]
    case = platform.accept(platform.apply(code_of(FOOD), zhang, materials=materials))
    assert [c.code for c in case.commitments] == ["M05"]
    assert case.commitments[0].verify_due == dt.date(2026, 3, 30)
    assert platform.pending_outbox(topic="commitment.verify")
    case = approve_all(platform, case)
    case = platform.issue_result(case, govsvc.CaseResult(name="食品经营许可证", number="JY2"))
    case = platform.verify_commitment(case, "M05", truthful=False, note="现场核查无相关制度")
    assert case.state is CaseState.REVOKED
    assert case.decision is not None and "告知承诺不实" in case.decision.reason


def test_commitment_refused_where_the_guide_does_not_allow_it(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    before = counts(platform)
    with pytest.raises(govsvc.MaterialNotAllowed, match="commitment"):
        platform.apply(
            code_of(FOOD),
            zhang,
            materials=[ProvidedMaterial(code="M01", kind=MaterialKind.COMMITMENT)],
        )
    assert counts(platform) == before


def test_stages_open_in_order(platform: govsvc.Platform, zhang: govsvc.Person) -> None:
    case = platform.accept(
        platform.apply(code_of(MOVE), zhang, materials=all_materials(platform, MOVE))
    )
    assert {t.stage for t in case.tasks} == {1}
    first = case.open_tasks[0]
    case = platform.decide(case, first.id, approve=True)
    assert case.stage == 2 and case.state is CaseState.IN_REVIEW
    assert [t.stage for t in case.open_tasks] == [2]
    assert case.open_tasks[0].department != first.department
    case = platform.decide(case, case.open_tasks[0].id, approve=True)
    assert case.state is CaseState.APPROVED
    kinds = [e.kind for e in platform.trail(case)]
    assert kinds[-2:] == ["stage_opened", "approved"]


def test_denial_needs_reason_basis_remedies_and_cancels_other_tasks(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    case = platform.accept(
        platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    task = case.open_tasks[0]
    with pytest.raises(govsvc.InvalidInput, match="remedies"):
        platform.decide(
            case, task.id, approve=False, reason="场所不符合要求", basis="食品安全法第三十五条"
        )
    case = platform.decide(
        case,
        task.id,
        approve=False,
        reason="经营场所不符合要求",
        basis="《食品安全法》第三十五条",
        remedies="可于60日内申请行政复议或6个月内提起行政诉讼",
    )
    assert case.state is CaseState.DENIED
    assert {t.status for t in case.tasks} == {TaskStatus.DENIED, TaskStatus.CANCELLED}
    assert platform.department_queue(case.tasks[1].department) == []


# --- bad input leaves the database exactly as it was -----------------------------------------


def test_illegal_transition_names_allowed_moves_and_changes_nothing(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    case = platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    before = counts(platform)
    with pytest.raises(govsvc.InvalidTransition) as err:
        platform.issue_result(case, govsvc.CaseResult(name="x", number="1"))
    assert err.value.allowed == ("accept", "prereview", "refuse", "withdraw")
    assert "submitted" in str(err.value) and "accept" in str(err.value)
    assert counts(platform) == before
    assert platform.case(case.id) == case


def test_unknown_material_and_unknown_item_store_nothing(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    before = counts(platform)
    with pytest.raises(govsvc.MaterialNotAllowed) as err:
        platform.apply(code_of(FOOD), zhang, materials=[ProvidedMaterial(code="M99")])
    assert "M01" in str(err.value)  # lists the allowed codes
    with pytest.raises(govsvc.UnknownItem, match="publish"):
        platform.apply("11230100013114525L3000176019999", zhang)
    assert counts(platform) == before


def test_failure_in_the_middle_of_a_command_rolls_everything_back(
    platform: govsvc.Platform, zhang: govsvc.Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    before = counts(platform)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(repository, "_write_tasks", broken)
    with pytest.raises(RuntimeError):
        platform.accept(case)
    assert counts(platform) == before
    assert platform.case(case.id).state is CaseState.SUBMITTED


def test_publishing_a_bad_version_lists_every_violation_and_stores_nothing(
    platform: govsvc.Platform,
) -> None:
    item, versions = sample_catalogue()[0]
    bad = attrs.evolve(
        versions[-1],
        version=len(versions) + 1,
        complaint_phone=versions[-1].consultation_phone,
        online_depth=govsvc.OnlineDepth.IV,
        visits=2,
        visit_reason="",
    )
    with pytest.raises(govsvc.CatalogueRejected) as err:
        platform.publish(item, bad)
    assert len(err.value.violations) >= 3
    assert platform.item_version(item.implementation_code).version == len(versions)


def test_a_new_version_never_changes_a_started_case(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    code = code_of(CARD)
    case = platform.apply(code, zhang, materials=all_materials(platform, CARD))
    item = platform.item(code)
    current = platform.item_version(code)
    platform.publish(
        item,
        attrs.evolve(
            current,
            version=current.version + 1,
            promised_limit=govsvc.TimeLimit(8, govsvc.TimeUnit.WORKDAY),
        ),
    )
    case = platform.accept(case)
    assert case.item_version == current.version
    assert case.deadline is not None and case.deadline.promised == dt.date(2026, 3, 16)  # 10 days
    newer = platform.accept(platform.apply(code, zhang, materials=all_materials(platform, CARD)))
    assert newer.item_version == current.version + 1
    assert newer.deadline is not None and newer.deadline.promised == dt.date(2026, 3, 12)


# --- concurrency --------------------------------------------------------------------------------


def test_stale_copy_gets_concurrent_update(platform: govsvc.Platform, zhang: govsvc.Person) -> None:
    case = platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    clerk_a = platform.case(case.tracking_code)
    clerk_b = platform.case(case.tracking_code)
    platform.accept(clerk_a, actor="A")
    before = counts(platform)
    with pytest.raises(govsvc.ConcurrentUpdate, match="reload"):
        platform.accept(clerk_b, actor="B")
    assert counts(platform) == before


def test_two_clerks_accepting_at_once_exactly_one_wins(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    for _ in range(3):
        case = platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def clerk(
            name: str,
            copy: govsvc.Case = case,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                platform.accept(copy, actor=name)
                outcomes.append("ok")
            except govsvc.ConcurrentUpdate:
                outcomes.append("conflict")

        threads = [threading.Thread(target=clerk, args=(n,)) for n in ("A", "B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["conflict", "ok"]
        assert [e.kind for e in platform.trail(case)].count("accepted") == 1


# --- deadlines ----------------------------------------------------------------------------------


def test_suspension_and_extension_move_the_deadline(
    platform: govsvc.Platform, zhang: govsvc.Person, clock: FakeClock
) -> None:
    case = platform.accept(
        platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    assert case.deadline is not None and case.deadline.promised == dt.date(2026, 3, 9)
    with pytest.raises(govsvc.InvalidInput, match="notice"):
        platform.suspend(case, govsvc.SuspensionReason.EXPERT_REVIEW, notice=" ")
    case = platform.suspend(
        case,
        govsvc.SuspensionReason.EXPERT_REVIEW,
        notice="需组织专家评审，评审期间不计入办理时限。",
    )
    assert case.is_suspended
    with pytest.raises(govsvc.InvalidTransition):
        platform.decide(case, case.open_tasks[0].id, approve=True)
    clock.set_local_date(dt.date(2026, 3, 5))  # suspended Mon..Thu: 3 working days stopped
    case = platform.resume(case)
    assert not case.is_suspended
    assert case.deadline is not None and case.deadline.promised == dt.date(2026, 3, 12)
    case = platform.extend(case, 10, approved_by="局长 王某", reason="案情复杂")
    assert case.deadline is not None and case.deadline.promised == dt.date(2026, 3, 26)
    kinds = [e.kind for e in platform.trail(case)]
    assert kinds[-3:] == ["suspended", "resumed", "extended"]
    assert any(
        m.payload["kind"] == "suspended" for m in platform.pending_outbox(topic="applicant.notify")
    )


def test_lights_and_overdue(
    platform: govsvc.Platform, zhang: govsvc.Person, clock: FakeClock
) -> None:
    case = platform.accept(
        platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    lights = platform.lights(case)
    assert lights.case is govsvc.Light.GREEN and lights.workdays_left == 5
    assert set(lights.tasks.values()) == {govsvc.Light.GREEN}
    assert platform.lights(case, on=dt.date(2026, 3, 6)).case is govsvc.Light.YELLOW
    assert platform.lights(case, on=dt.date(2026, 3, 10)).case is govsvc.Light.RED
    assert platform.overdue(on=dt.date(2026, 3, 9)) == []
    overdue = platform.overdue(on=dt.date(2026, 3, 10))
    assert [s.tracking_code for s in overdue] == [case.tracking_code]
    platform.suspend(case, govsvc.SuspensionReason.HEARING, notice="举行听证，听证期间不计入时限。")
    assert platform.overdue(on=dt.date(2026, 3, 10)) == []
    assert platform.lights(case, on=dt.date(2026, 3, 10)).suspended
    # decided cases are not late on the promised limit, even before pickup
    other = platform.accept(
        platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    other = approve_all(platform, other)
    assert other.state is CaseState.APPROVED
    assert platform.overdue(on=dt.date(2026, 4, 30)) == []
    assert platform.lights(other, on=dt.date(2026, 4, 30)).case is None


def test_year_without_calendar_data_refuses_then_provisional_mode_recomputes(
    database: tuple[str, str | None], clock: FakeClock, zhang: govsvc.Person, tmp_path: Path
) -> None:
    url, schema = database
    clock.set_local_date(dt.date(2027, 2, 1))
    strict = govsvc.Platform.open(url, schema=schema, clock=clock, load_entry_points=False)
    strict.import_items(sample_catalogue())
    case = strict.apply(code_of(FOOD), zhang, materials=all_materials(strict, FOOD))
    with pytest.raises(govsvc.CalendarDataMissing, match="2027"):
        strict.accept(case)
    assert strict.case(case.id).state is CaseState.SUBMITTED
    strict.close()

    provisional = govsvc.Platform.open(
        url, schema=schema, clock=clock, provisional_calendar=True, load_entry_points=False
    )
    case = provisional.accept(case)
    assert case.deadline is not None and case.deadline.provisional
    # provisional rule: Spring Festival 2027 (Feb 5-8 by rule) is off, so 5 working days
    # after Mon 02-01 land after the holiday
    assert case.deadline.promised > dt.date(2027, 2, 8)
    official = {
        "region": "CN",
        "source": "国务院办公厅关于2027年部分节假日安排的通知（test data）",
        "years": {
            "2027": {"holidays": {"2027-02-03": "春节", "2027-02-04": "春节"}, "workdays": {}}
        },
    }
    path = tmp_path / "cn-2027.json"
    path.write_text(json.dumps(official, ensure_ascii=False), encoding="utf-8")
    assert provisional.load_calendar(path) == [2027]
    reloaded = provisional.case(case.id)
    assert reloaded.deadline is not None and not reloaded.deadline.provisional
    assert reloaded.deadline.promised == dt.date(2027, 2, 10)
    last = provisional.trail(case)[-1]
    assert (last.kind, last.data["promised"], last.data["provisional"]) == (
        "deadline_recomputed",
        "2027-02-10",
        False,
    )
    # a copy taken before the recomputation cannot write the old due dates back
    with pytest.raises(govsvc.ConcurrentUpdate):
        provisional.decide(case, case.open_tasks[0].id, approve=True)
    assert provisional.case(case.id) == reloaded
    provisional.close()
    # the loaded year is stored: a new platform process sees it without provisional mode
    again = govsvc.Platform.open(url, schema=schema, clock=clock, load_entry_points=False)
    assert again.calendar.has_data(2027)
    again.close()


# --- queries ------------------------------------------------------------------------------------


def test_tracking_code_lookups(platform: govsvc.Platform, zhang: govsvc.Person) -> None:
    case = platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    shown = govsvc.TrackingCode.display(case.tracking_code).lower()
    assert platform.case(shown).id == case.id
    wrong = case.tracking_code[:10] + ("0" if case.tracking_code[10] != "0" else "1")
    with pytest.raises(govsvc.InvalidIdentifier, match="check character"):
        platform.case(wrong)
    body = "0000000000"
    missing = body + govsvc.TrackingCode._check(body)
    with pytest.raises(govsvc.CaseNotFound):
        platform.case(missing)


def test_queues_show_only_own_tasks_with_masked_numbers(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    case = platform.accept(
        platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    other = platform.accept(
        platform.apply(code_of(CARD), zhang, materials=all_materials(platform, CARD))
    )
    dept = case.tasks[0].department
    queue = platform.department_queue(dept)
    assert [v.case.id for v in queue] == [case.id]
    assert all(v.task.department == dept for v in queue)
    assert queue[0].case.applicant_masked == "111:2301**********0316"
    assert "230103198503120316" not in repr(queue[0].case)
    assert other.id not in {v.case.id for v in queue}
    mine = platform.cases_of("230103198503120316")
    assert {s.id for s in mine} == {case.id, other.id}


def test_outbox_holds_review_tasks_committed_with_the_case(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    case = platform.accept(
        platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    opened = platform.pending_outbox(topic="review.open")
    assert {m.payload["task_id"] for m in opened} == {t.id for t in case.tasks}


def test_parties_are_stored_by_number(platform: govsvc.Platform) -> None:
    org = govsvc.Organisation(
        key=govsvc.PartyKey.of("91230103MA1BX4K238"),
        name="哈尔滨市冰城饺子馆有限公司",
        legal_representative="张伟",
    )
    platform.register_party(org)
    assert platform.party("91230103MA1BX4K238") == org
    assert platform.party("230103198503120316") is None


def test_regional_overlay_is_stored_and_applied_by_region(
    database: tuple[str, str | None], clock: FakeClock, tmp_path: Path
) -> None:
    url, schema = database
    overlay = {
        "region": "CN-65",
        "overlay_of": "CN",
        "source": "新疆维吾尔自治区人民政府办公厅通知（test data）",
        "years": {"2026": {"holidays": {"2026-05-27": "古尔邦节"}, "workdays": {}}},
    }
    path = tmp_path / "cn-65.json"
    path.write_text(json.dumps(overlay, ensure_ascii=False), encoding="utf-8")
    xinjiang = govsvc.Platform.open(
        url, schema=schema, clock=clock, load_entry_points=False, calendar_region="CN-65"
    )
    assert xinjiang.calendar.is_workday(dt.date(2026, 5, 27))
    assert xinjiang.load_calendar(path) == [2026]
    assert not xinjiang.calendar.is_workday(dt.date(2026, 5, 27))
    xinjiang.close()
    national = govsvc.Platform.open(url, schema=schema, clock=clock, load_entry_points=False)
    assert national.calendar.is_workday(dt.date(2026, 5, 27))  # stored, not applied to CN
    national.close()
    again = govsvc.Platform.open(
        url, schema=schema, clock=clock, load_entry_points=False, calendar_region="CN-65"
    )
    assert not again.calendar.is_workday(dt.date(2026, 5, 27))
    again.close()


def test_a_department_decides_only_its_own_tasks(
    platform: govsvc.Platform, zhang: govsvc.Person
) -> None:
    case = platform.accept(
        platform.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    mine, theirs = case.tasks
    with pytest.raises(
        govsvc.InvalidTransition, match=f"assigned to department {theirs.department}"
    ):
        platform.decide(case, theirs.id, approve=True, department=mine.department)
    assert platform.case(case.id) == case
    case = platform.decide(case, mine.id, approve=True, department=mine.department)
    assert case.task(mine.id).status is TaskStatus.APPROVED
