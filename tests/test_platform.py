"""The Platform on SQLite and PostgreSQL: commands, transactions, concurrency, queries."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

import govsvc
from govsvc import CaseState, EventKind, MaterialKind, ProvidedMaterial, TaskStatus
from govsvc.store import cases as case_store
from govsvc.store import tables
from govsvc.testing import applicant_of, clerk_for, reviewer_of, supervisor_of
from tests.conftest import FakeClock, People, sample_catalogue


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
    version = p.public().catalogue.version(code_of(name))
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
                tables.cases_t,
                tables.events_t,
                tables.outbox_t,
                tables.tasks_t,
                tables.materials_t,
                tables.parties_t,
            )
        }


# --- the whole life ---------------------------------------------------------------------------


def test_case_walks_its_whole_life_with_a_trail(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    assert case.state is CaseState.SUBMITTED
    case = people.clerk.cases.accept(case)
    assert case.state is CaseState.IN_REVIEW
    assert len(case.open_tasks) == 2 and {t.stage for t in case.open_tasks} == {1}
    # accepted Monday 2026-03-02; promised 5 working days → Monday 2026-03-09
    assert case.deadline is not None
    assert case.deadline.promised == dt.date(2026, 3, 9)
    assert case.deadline.statutory == dt.date(2026, 3, 30)
    case = people.approve_all(case)
    assert case.state is CaseState.APPROVED
    case = people.clerk.cases.issue_result(
        case, govsvc.CaseResult(name="食品经营许可证", number="JY12301030012345")
    )
    case = people.clerk.cases.complete(case, delivery="窗口领取")
    assert case.state is CaseState.COMPLETED and not case.is_open
    trail = people.system.cases.trail(case.tracking_code)
    assert [e.kind.value for e in trail] == [
        "drafted",
        "submitted",
        "accepted",
        "task_approved",
        "approved",
        "result_ready",
        "completed",
    ]
    assert [e.seq for e in trail] == list(range(1, 8))
    assert trail[2].actor.kind is govsvc.PrincipalKind.CLERK
    assert trail[2].actor.name == "窗口工作人员" and trail[2].actor.id.startswith("clerk-")
    assert trail[0].actor.name == "张伟"
    seen_by_zhang = people.applicant(zhang).cases.trail(case.tracking_code)
    assert (seen_by_zhang[2].actor.id, seen_by_zhang[2].actor.name) == ("", "窗*****")
    stored = people.system.cases.get(case.id)
    assert stored == case


def test_one_time_notice_lists_everything_missing_at_once(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    given = all_materials(platform, FOOD, skip=("M02", "M04"))
    given = [attrs.evolve(m, filename="M01.docx") if m.code == "M01" else m for m in given]
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=given)
    case = people.clerk.cases.prereview(case, defects={"M03": "身份证复印件不清晰"})
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
    notices = people.system.outbox.pending(topic="applicant.notify")
    assert len(notices) == 1 and "一次性" in notices[0].payload["text"]
    case = people.applicant(zhang).cases.resubmit(case, all_materials(platform, FOOD))
    assert case.state is CaseState.SUBMITTED
    case = people.clerk.cases.prereview(case)
    assert case.state is CaseState.PRE_REVIEWED and case.notice is not None and case.notice.complete
    assert people.clerk.cases.accept(case).state is CaseState.IN_REVIEW


def test_tolerated_acceptance_holds_back_the_result(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(
        code_of(FOOD), zhang, materials=all_materials(platform, FOOD, skip=("M06",))
    )
    with pytest.raises(govsvc.InvalidInput, match="tolerate=True"):
        people.clerk.cases.accept(case)
    case = people.clerk.cases.accept(case, tolerate=True)
    assert [t.code for t in case.outstanding_materials] == ["M06"]
    assert case.tolerated[0].due == dt.date(2026, 3, 16)  # 10 working days after Monday 03-02
    case = people.approve_all(case)
    result = govsvc.CaseResult(name="食品经营许可证", number="JY1")
    with pytest.raises(govsvc.InvalidInput, match="容缺后补"):
        people.clerk.cases.issue_result(case, result)
    assert people.system.cases.get(case.id).state is CaseState.APPROVED
    case = people.applicant(zhang).cases.supply(case, ProvidedMaterial(code="M06", filename="health.pdf"))
    assert case.outstanding_materials == ()
    assert people.clerk.cases.issue_result(case, result).state is CaseState.RESULT_READY


def test_commitment_creates_a_verification_and_a_false_one_revokes(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    materials = [
        ProvidedMaterial(code="M05", kind=MaterialKind.COMMITMENT, reference="承诺书-001")
        if m.code == "M05"
        else m
        for m in all_materials(platform, FOOD)
    ]
    case = people.clerk.cases.accept(people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=materials))
    assert [c.code for c in case.commitments] == ["M05"]
    assert case.commitments[0].verify_due == dt.date(2026, 3, 30)
    assert people.system.outbox.pending(topic="commitment.verify")
    case = people.approve_all(case)
    case = people.clerk.cases.issue_result(case, govsvc.CaseResult(name="食品经营许可证", number="JY2"))
    inspector = people.reviewer(case.agency)
    case = inspector.cases.verify_commitment(case, "M05", truthful=False, note="现场核查无相关制度")
    assert case.state is CaseState.REVOKED
    assert case.decision is not None and "告知承诺不实" in case.decision.reason


def test_commitment_refused_where_the_guide_does_not_allow_it(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    before = counts(platform)
    with pytest.raises(govsvc.MaterialNotAllowed, match="commitment"):
        people.applicant(zhang).cases.apply(
            code_of(FOOD),
            zhang,
            materials=[ProvidedMaterial(code="M01", kind=MaterialKind.COMMITMENT)],
        )
    assert counts(platform) == before


def test_stages_open_in_order(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.clerk.cases.accept(
        people.applicant(zhang).cases.apply(code_of(MOVE), zhang, materials=all_materials(platform, MOVE))
    )
    assert {t.stage for t in case.tasks} == {1}
    first = case.open_tasks[0]
    case = people.reviewer(first.department).reviews.decide(case, first.id, approve=True)
    assert case.stage == 2 and case.state is CaseState.IN_REVIEW
    assert [t.stage for t in case.open_tasks] == [2]
    assert case.open_tasks[0].department != first.department
    second = case.open_tasks[0]
    case = people.reviewer(second.department).reviews.decide(case, second.id, approve=True)
    assert case.state is CaseState.APPROVED
    kinds = [e.kind.value for e in people.system.cases.trail(case)]
    assert kinds[-2:] == ["stage_opened", "approved"]


def test_denial_needs_reason_basis_remedies_and_cancels_other_tasks(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.clerk.cases.accept(
        people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    task = case.open_tasks[0]
    with pytest.raises(govsvc.InvalidInput, match="remedies"):
        people.reviewer(task.department).reviews.decide(
            case, task.id, approve=False, reason="场所不符合要求", basis="食品安全法第三十五条"
        )
    case = people.reviewer(task.department).reviews.decide(
        case,
        task.id,
        approve=False,
        reason="经营场所不符合要求",
        basis="《食品安全法》第三十五条",
        remedies="可于60日内申请行政复议或6个月内提起行政诉讼",
    )
    assert case.state is CaseState.DENIED
    assert {t.status for t in case.tasks} == {TaskStatus.DENIED, TaskStatus.CANCELLED}
    assert people.reviewer(case.tasks[1].department).reviews.queue() == []


# --- bad input leaves the database exactly as it was -----------------------------------------


def test_illegal_transition_names_allowed_moves_and_changes_nothing(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    before = counts(platform)
    with pytest.raises(govsvc.InvalidTransition) as err:
        people.clerk.cases.issue_result(case, govsvc.CaseResult(name="x", number="1"))
    assert err.value.allowed == ("accept", "prereview", "refuse", "withdraw")
    assert "submitted" in str(err.value) and "accept" in str(err.value)
    assert counts(platform) == before
    assert people.system.cases.get(case.id) == case


def test_unknown_material_and_unknown_item_store_nothing(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    before = counts(platform)
    with pytest.raises(govsvc.MaterialNotAllowed) as err:
        people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=[ProvidedMaterial(code="M99")])
    assert "M01" in str(err.value)  # lists the allowed codes
    with pytest.raises(govsvc.UnknownItem, match="publish"):
        people.applicant(zhang).cases.apply("11230100013114525L3000176019999", zhang)
    assert counts(platform) == before


def test_failure_in_the_middle_of_a_command_rolls_everything_back(
    platform: govsvc.Platform,
    zhang: govsvc.Person,
    monkeypatch: pytest.MonkeyPatch,
    people: People,
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    before = counts(platform)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(case_store, "_write_tasks", broken)
    with pytest.raises(RuntimeError):
        people.clerk.cases.accept(case)
    assert counts(platform) == before
    assert people.system.cases.get(case.id).state is CaseState.SUBMITTED


def test_publishing_a_bad_version_lists_every_violation_and_stores_nothing(
    platform: govsvc.Platform, people: People
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
        people.system.catalogue.publish(item, bad)
    assert len(err.value.violations) >= 3
    assert people.system.catalogue.version(item.implementation_code).version == len(versions)


def test_a_new_version_never_changes_a_started_case(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    code = code_of(CARD)
    case = people.applicant(zhang).cases.apply(code, zhang, materials=all_materials(platform, CARD))
    item = people.system.catalogue.item(code)
    current = people.system.catalogue.version(code)
    people.system.catalogue.publish(
        item,
        attrs.evolve(
            current,
            version=current.version + 1,
            promised_limit=govsvc.TimeLimit(8, govsvc.TimeUnit.WORKDAY),
        ),
    )
    case = people.clerk.cases.accept(case)
    assert case.item_version == current.version
    assert case.deadline is not None and case.deadline.promised == dt.date(2026, 3, 16)  # 10 days
    newer = people.clerk.cases.accept(people.applicant(zhang).cases.apply(code, zhang, materials=all_materials(platform, CARD)))
    assert newer.item_version == current.version + 1
    assert newer.deadline is not None and newer.deadline.promised == dt.date(2026, 3, 12)


# --- concurrency --------------------------------------------------------------------------------


def test_stale_copy_gets_concurrent_update(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    clerk_a = people.system.cases.get(case.tracking_code)
    clerk_b = people.system.cases.get(case.tracking_code)
    people.clerk.cases.accept(clerk_a)
    before = counts(platform)
    with pytest.raises(govsvc.ConcurrentUpdate, match="reload"):
        people.clerk.cases.accept(clerk_b)
    assert counts(platform) == before


def test_a_commands_writes_reach_postgresql_in_one_pipeline(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case, its event, the outbox and the tasks are sent together (psycopg's pipeline
    mode): one round trip a command instead of one a statement (bench/pipeline.py)."""
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("pipeline mode is a PostgreSQL protocol feature; SQLite runs in process")
    import psycopg

    sent: list[tuple[str, bool]] = []
    for name in ("execute", "executemany"):
        original = getattr(psycopg.Cursor, name)

        def spy(self: Any, query: Any, *args: Any, _original: Any = original, **kw: Any) -> Any:
            sent.append((str(query).split(" (")[0][:40], bool(self.connection.pgconn.pipeline_status)))
            return _original(self, query, *args, **kw)

        monkeypatch.setattr(psycopg.Cursor, name, spy)
    case = people.applicant(zhang).cases.apply(
        code_of(FOOD), zhang, materials=all_materials(platform, FOOD)
    )
    applied, sent[:] = list(sent), []
    people.clerk.cases.accept(case)
    writes = {q: piped for q, piped in sent if not q.startswith("SELECT")}
    assert any(q.startswith("UPDATE cases") for q in writes), sent
    assert {"INSERT INTO case_events", "INSERT INTO outbox", "INSERT INTO review_tasks"} <= set(
        writes
    ), sent
    assert all(writes.values()), f"written outside the pipeline: {sent}"
    assert all(piped for q, piped in applied if not q.startswith("SELECT")), applied


def test_two_clerks_accepting_at_once_exactly_one_wins(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    for _ in range(3):
        case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
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
                people.platform.session(clerk_for(copy.agency, name=name)).cases.accept(copy)
                outcomes.append("ok")
            except govsvc.ConcurrentUpdate:
                outcomes.append("conflict")

        threads = [threading.Thread(target=clerk, args=(n,)) for n in ("A", "B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["conflict", "ok"]
        assert [e.kind.value for e in people.system.cases.trail(case)].count("accepted") == 1


# --- deadlines ----------------------------------------------------------------------------------


def test_suspension_and_extension_move_the_deadline(
    platform: govsvc.Platform, zhang: govsvc.Person, clock: FakeClock, people: People
) -> None:
    case = people.clerk.cases.accept(
        people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    assert case.deadline is not None and case.deadline.promised == dt.date(2026, 3, 9)
    reviewer = people.reviewer(case.open_tasks[0].department)
    with pytest.raises(govsvc.InvalidInput, match="notice"):
        reviewer.cases.suspend(case, govsvc.SuspensionReason.EXPERT_REVIEW, notice=" ")
    case = reviewer.cases.suspend(
        case,
        govsvc.SuspensionReason.EXPERT_REVIEW,
        notice="需组织专家评审，评审期间不计入办理时限。",
    )
    assert case.is_suspended
    with pytest.raises(govsvc.InvalidTransition):
        reviewer.reviews.decide(case, case.open_tasks[0].id, approve=True)
    clock.set_local_date(dt.date(2026, 3, 5))  # suspended Mon..Thu: 3 working days stopped
    case = reviewer.cases.resume(case)
    assert not case.is_suspended
    assert case.deadline is not None and case.deadline.promised == dt.date(2026, 3, 12)
    with pytest.raises(govsvc.PermissionDenied, match="no rule lets a 审查人员"):
        reviewer.cases.extend(case, 10, reason="案情复杂")  # an extension needs an approver
    case = reviewer.cases.request_extension(case, 10, reason="案情复杂")
    assert case.deadline is not None and case.deadline.promised == dt.date(2026, 3, 12)
    approver = people.approver(case.open_tasks[0].department)
    case = approver.cases.extend(case)  # approves the request as asked
    assert case.deadline is not None and case.deadline.promised == dt.date(2026, 3, 26)
    assert case.extensions[-1].approved_by == "审批负责人" and case.extension_request is None
    kinds = [e.kind.value for e in people.system.cases.trail(case)]
    assert kinds[-4:] == ["suspended", "resumed", "extension_requested", "extended"]
    assert any(
        m.payload["kind"] == "suspended" for m in people.system.outbox.pending(topic="applicant.notify")
    )


def test_lights_and_overdue(
    platform: govsvc.Platform, zhang: govsvc.Person, clock: FakeClock, people: People
) -> None:
    case = people.clerk.cases.accept(
        people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    clerk = people.clerk
    lights = clerk.cases.lights(case)
    assert lights.case is govsvc.Light.GREEN and lights.workdays_left == 5
    assert set(lights.tasks.values()) == {govsvc.Light.GREEN}
    assert clerk.cases.lights(case, on=dt.date(2026, 3, 6)).case is govsvc.Light.YELLOW
    assert clerk.cases.lights(case, on=dt.date(2026, 3, 10)).case is govsvc.Light.RED
    supervision = people.supervisor().supervision
    assert supervision.overdue(on=dt.date(2026, 3, 9)) == []
    overdue = supervision.overdue(on=dt.date(2026, 3, 10))
    assert [s.tracking_code for s in overdue] == [case.tracking_code]
    people.reviewer(case.agency).cases.suspend(
        case, govsvc.SuspensionReason.HEARING, notice="举行听证，听证期间不计入时限。"
    )
    assert supervision.overdue(on=dt.date(2026, 3, 10)) == []
    assert clerk.cases.lights(case, on=dt.date(2026, 3, 10)).suspended
    # decided cases are not late on the promised limit, even before pickup
    other = people.clerk.cases.accept(
        people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    other = people.approve_all(other)
    assert other.state is CaseState.APPROVED
    assert supervision.overdue(on=dt.date(2026, 4, 30)) == []
    assert clerk.cases.lights(other, on=dt.date(2026, 4, 30)).case is None
    # a supervisor of another city sees none of it
    assert people.supervisor("230200").supervision.overdue(on=dt.date(2026, 3, 10)) == []


def test_year_without_calendar_data_refuses_then_provisional_mode_recomputes(
    database: tuple[str, str | None], clock: FakeClock, zhang: govsvc.Person, tmp_path: Path
) -> None:
    url, schema = database
    clock.set_local_date(dt.date(2027, 2, 1))
    strict = govsvc.Platform.open(url, schema=schema, clock=clock, load_entry_points=False)
    strict.system().catalogue.import_items(sample_catalogue())
    case = strict.session(applicant_of(zhang)).cases.apply(
        code_of(FOOD), zhang, materials=all_materials(strict, FOOD)
    )
    clerk = clerk_for(case.agency)
    with pytest.raises(govsvc.CalendarDataMissing, match="2027"):
        strict.session(clerk).cases.accept(case)
    assert strict.system().cases.get(case.id).state is CaseState.SUBMITTED
    strict.close()

    provisional = govsvc.Platform.open(
        url, schema=schema, clock=clock, provisional_calendar=True, load_entry_points=False
    )
    case = provisional.session(clerk).cases.accept(case)
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
    assert provisional.system().calendar.load(path) == [2027]
    reloaded = provisional.system().cases.get(case.id)
    assert reloaded.deadline is not None and not reloaded.deadline.provisional
    assert reloaded.deadline.promised == dt.date(2027, 2, 10)
    last = provisional.system().cases.trail(case)[-1]
    assert (last.kind, last.payload.promised, last.payload.provisional) == (
        EventKind.DEADLINE_RECOMPUTED,
        dt.date(2027, 2, 10),
        False,
    )
    assert last.actor.kind is govsvc.PrincipalKind.PLATFORM
    # a copy taken before the recomputation cannot write the old due dates back
    with pytest.raises(govsvc.ConcurrentUpdate):
        task = case.open_tasks[0]
        provisional.session(reviewer_of(task.department)).reviews.decide(
            case, task.id, approve=True
        )
    assert provisional.system().cases.get(case.id) == reloaded
    provisional.close()
    # the loaded year is stored: a new platform process sees it without provisional mode
    again = govsvc.Platform.open(url, schema=schema, clock=clock, load_entry_points=False)
    assert again.calendar.has_data(2027)
    again.close()


def test_swept_lights_are_stored_listed_by_light_and_warn_once(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    apply = people.applicant(zhang).cases.apply
    case = people.clerk.cases.accept(
        apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    other = people.clerk.cases.accept(
        apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    system = people.system
    version = system.cases.get(case.id).version
    first = system.supervision.sweep_lights()
    assert (first.green, first.yellow, first.red, first.changed, first.warned) == (2, 0, 0, 2, 0)
    assert system.cases.get(case.id).version == version  # derived data: no new case version
    supervision = people.supervisor().supervision
    assert supervision.warnings(light="green").items != ()
    assert supervision.warnings() == []

    yellow = system.supervision.sweep_lights(on=dt.date(2026, 3, 6))
    assert (yellow.yellow, yellow.changed, yellow.warned) == (2, 2, 2)
    red = system.supervision.sweep_lights(on=dt.date(2026, 3, 10))
    assert (red.red, red.changed, red.warned) == (2, 2, 2)
    again = system.supervision.sweep_lights(on=dt.date(2026, 3, 10))
    assert (again.red, again.changed, again.warned) == (2, 0, 0)  # nothing new: no warning
    warnings = [m for m in system.outbox.pending(topic="supervision.warning", limit=100)]
    assert sorted((m.case_id, m.payload["light"]) for m in warnings) == sorted(
        [(case.id, "yellow"), (other.id, "yellow"), (case.id, "red"), (other.id, "red")]
    )
    reds = supervision.warnings(limit=1)
    assert len(reds) == 1 and reds.next is not None
    rest = supervision.warnings(limit=1, after=reds.next)
    assert {reds[0].id, rest[0].id} == {case.id, other.id}
    assert people.supervisor("230200").supervision.warnings() == []  # another city
    with pytest.raises(govsvc.PermissionDenied):
        people.supervisor().supervision.sweep_lights()
    # a case that is decided leaves the lists
    people.approve_all(case)
    assert [c.id for c in supervision.warnings()] == [other.id]


def _official_2027(tmp_path: Path) -> Path:
    official = {
        "region": "CN",
        "source": "国务院办公厅关于2027年部分节假日安排的通知（test data）",
        "years": {
            "2027": {"holidays": {"2027-02-03": "春节", "2027-02-04": "春节"}, "workdays": {}}
        },
    }
    path = tmp_path / "cn-2027.json"
    path.write_text(json.dumps(official, ensure_ascii=False), encoding="utf-8")
    return path


def test_running_processes_see_a_loaded_year_without_a_restart(
    database: tuple[str, str | None], clock: FakeClock, zhang: govsvc.Person, tmp_path: Path
) -> None:
    url, schema = database
    clock.set_local_date(dt.date(2027, 2, 1))
    # Two processes of one platform: the hall's (checks the calendar revision at every use)
    # and a provisional one that will not look again within this test.
    hall = govsvc.Platform.open(
        url, schema=schema, clock=clock, load_entry_points=False, calendar_check_every=0.0
    )
    late = govsvc.Platform.open(
        url,
        schema=schema,
        clock=clock,
        load_entry_points=False,
        provisional_calendar=True,
        calendar_check_every=3600.0,
    )
    operator = govsvc.Platform.open(url, schema=schema, clock=clock, load_entry_points=False)
    try:
        hall.system().catalogue.import_items(sample_catalogue())
        apply = hall.session(applicant_of(zhang)).cases.apply
        first = apply(code_of(FOOD), zhang, materials=all_materials(hall, FOOD))
        second = apply(code_of(FOOD), zhang, materials=all_materials(hall, FOOD))
        clerk = clerk_for(first.agency)
        with pytest.raises(govsvc.CalendarDataMissing, match="2027"):
            hall.session(clerk).cases.accept(first)

        assert operator.system().calendar.load(_official_2027(tmp_path)) == [2027]

        accepted = hall.session(clerk).cases.accept(first)  # no restart
        assert accepted.deadline is not None and not accepted.deadline.provisional
        assert accepted.deadline.promised == dt.date(2027, 2, 10)

        # The provisional process has not looked yet: it writes a provisional deadline after
        # the load, which the load's own recomputation could not see.
        stale = late.session(clerk).cases.accept(second)
        assert stale.deadline is not None and stale.deadline.provisional
        assert operator.system().calendar.refresh() == 1
        fixed = hall.system().cases.get(second.id)
        assert fixed.deadline is not None and not fixed.deadline.provisional
        assert fixed.deadline.promised == dt.date(2027, 2, 10)
        assert hall.system().cases.trail(fixed)[-1].kind is EventKind.DEADLINE_RECOMPUTED
        assert operator.system().calendar.refresh() == 0  # nothing left: no event twice
        assert len(hall.system().cases.trail(fixed)) == len(hall.system().cases.trail(second.id))
    finally:
        for p in (hall, late, operator):
            p.close()


def test_a_case_without_calendar_data_is_flagged_not_fatal_to_the_queue(
    database: tuple[str, str | None], clock: FakeClock, zhang: govsvc.Person
) -> None:
    url, schema = database
    clock.set_local_date(dt.date(2027, 2, 1))
    p = govsvc.Platform.open(
        url, schema=schema, clock=clock, provisional_calendar=True, load_entry_points=False
    )
    try:
        p.system().catalogue.import_items(sample_catalogue())
        applicant = p.session(applicant_of(zhang))
        good = applicant.cases.apply(code_of(FOOD), zhang, materials=all_materials(p, FOOD))
        clerk = p.session(clerk_for(good.agency))
        good = clerk.cases.accept(good)
    finally:
        p.close()
    # The same database seen by a process without provisional mode: 2027 has no data.
    strict = govsvc.Platform.open(url, schema=schema, clock=clock, load_entry_points=False)
    try:
        task = good.open_tasks[0]
        queue = strict.session(reviewer_of(task.department)).reviews.queue()
        [row] = [t for t in queue if t.case.id == good.id]
        assert "2027" in row.problem and row.light is None
        assert row.case.problem == row.problem
        overdue = strict.session(supervisor_of("230100")).supervision.overdue(
            on=dt.date(2027, 12, 31)
        )
        assert [c.id for c in overdue] == [good.id]
        assert strict.session(clerk_for(good.agency)).cases.of_applicant(zhang.key)
    finally:
        strict.close()


# --- queries ------------------------------------------------------------------------------------


def test_tracking_code_lookups(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    shown = govsvc.TrackingCode.display(case.tracking_code).lower()
    assert people.system.cases.get(shown).id == case.id
    wrong = case.tracking_code[:10] + ("0" if case.tracking_code[10] != "0" else "1")
    with pytest.raises(govsvc.InvalidIdentifier, match="check character"):
        people.system.cases.get(wrong)
    body = "0000000000"
    missing = body + govsvc.TrackingCode._check(body)
    with pytest.raises(govsvc.CaseNotFound):
        people.system.cases.get(missing)


def test_queues_show_only_own_tasks_with_masked_numbers(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.clerk.cases.accept(
        people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    other = people.clerk.cases.accept(
        people.applicant(zhang).cases.apply(code_of(CARD), zhang, materials=all_materials(platform, CARD))
    )
    dept = case.tasks[0].department
    queue = people.reviewer(dept).reviews.queue()
    assert [v.case.id for v in queue] == [case.id]
    assert all(v.task.department == dept for v in queue)
    assert queue[0].case.applicant_masked == "111:2301**********0316"
    assert "230103198503120316" not in repr(queue[0].case)
    assert other.id not in {v.case.id for v in queue}
    mine = people.applicant(zhang).cases.mine()
    assert {s.id for s in mine} == {case.id, other.id}
    assert mine[0].applicant_name == "张伟"  # one's own list is not masked
    seen_by_clerk = people.clerk.cases.of_applicant("230103198503120316")
    assert {s.id for s in seen_by_clerk} == {case.id, other.id}
    assert seen_by_clerk[0].applicant_name == "张*"  # staff lists mask the name


def test_outbox_holds_review_tasks_committed_with_the_case(
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.clerk.cases.accept(
        people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    opened = people.system.outbox.pending(topic="review.open")
    assert {m.payload["task_id"] for m in opened} == {t.id for t in case.tasks}


def test_parties_are_stored_by_number(platform: govsvc.Platform, people: People) -> None:
    org = govsvc.Organisation(
        key=govsvc.PartyKey.of("91230103MA1BX4K238"),
        name="哈尔滨市冰城饺子馆有限公司",
        legal_representative="张伟",
    )
    people.clerk.parties.register(org)
    assert people.clerk.parties.get("91230103MA1BX4K238") == org
    assert people.clerk.parties.get("230103198503120316") is None


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
    assert xinjiang.system().calendar.load(path) == [2026]
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
    platform: govsvc.Platform, zhang: govsvc.Person, people: People
) -> None:
    case = people.clerk.cases.accept(
        people.applicant(zhang).cases.apply(code_of(FOOD), zhang, materials=all_materials(platform, FOOD))
    )
    mine, theirs = case.tasks
    reviewer = people.reviewer(mine.department)
    with pytest.raises(govsvc.PermissionDenied, match=f"belongs to department {theirs.department}"):
        reviewer.reviews.decide(case, theirs.id, approve=True)
    assert people.system.cases.get(case.id) == case
    case = reviewer.reviews.decide(case, mine.id, approve=True)
    assert case.task(mine.id).status is TaskStatus.APPROVED
