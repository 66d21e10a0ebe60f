"""Ratings (好差评): one per finished case or window occasion, five levels by name with both
code orders at the edges, rectifications due in working days, answers, re-ratings, appeals
that exclude ratings from the statistics, and the policy's refusals leaving everything as it
was — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

import govsvc
from govsvc import (
    Exclusion,
    RatingChannel,
    RatingCodes,
    RatingLevel,
    RatingRefused,
    RectificationStatus,
)
from govsvc.ratings import RATING_PAYLOADS, Rating, responsible_department
from govsvc.store import ratings as rating_store
from govsvc.store import tables
from govsvc.testing import TEST_LOGIN, applicant_of, make_case, reviewer_of
from tests.conftest import FOOD_LICENCE, FakeClock, People

ROOT = Path(__file__).resolve().parents[1]
SAMR, HEALTH = "11230100013114525L", "11230100MB1935270B"  # Harbin's market regulator, health
PSB = "11230100003108738D"  # Harbin's public security bureau
ELSEWHERE = "11450100MB0000000M"
LI = govsvc.Person(key=govsvc.PartyKey.of("230102199001011230"), name="李娜")
V = RatingLevel


def finished(people: People, party: govsvc.Person, *, deny: bool = False) -> govsvc.Case:
    """A food licence case (two parallel reviews) completed, or denied by the health office."""
    case = make_case(people.platform, FOOD_LICENCE, party, accept=True)
    if deny:
        task = next(t for t in case.open_tasks if t.department == HEALTH)
        return people.reviewer(HEALTH).reviews.decide(
            case,
            task.id,
            approve=False,
            reason="经营场所与生活区未分隔",
            basis="《食品经营许可和备案管理办法》第十一条",
            remedies="可于六十日内申请行政复议",
        )
    case = people.approve_all(case)
    case = people.clerk.cases.issue_result(
        case, govsvc.CaseResult(name="食品经营许可证", number="JY12301000000001")
    )
    return people.clerk.cases.complete(case, delivery="窗口领取")


def stored(p: govsvc.Platform) -> dict[str, Any]:
    """Every row of the rating tables and the outbox: a refused command must not change them."""
    with p.engine.connect() as conn:
        return {
            t.name: sorted(map(repr, conn.execute(sa.select(t)).all()))
            for t in (
                tables.ratings_t,
                tables.rating_events_t,
                tables.outbox_t,
                tables.rectification_rules_t,
            )
        }


# --- levels and codes (pure) ------------------------------------------------------------------


def test_levels_are_names_and_the_two_code_orders_are_opposite() -> None:
    assert [lv.value for lv in RatingLevel] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert [lv for lv in RatingLevel if lv.is_bad] == [V.DISSATISFIED, V.VERY_DISSATISFIED]
    gb, platform = RatingCodes.GB_T_39046, RatingCodes.PLATFORM
    assert gb.level("1") is V.VERY_SATISFIED and gb.level(5) is V.VERY_DISSATISFIED
    assert platform.level("1") is V.VERY_DISSATISFIED and platform.level(5) is V.VERY_SATISFIED
    for level in RatingLevel:
        assert gb.level(gb.code(level)) is level and platform.level(platform.code(level)) is level
        assert int(gb.code(level)) + int(platform.code(level)) == 6
    assert gb.code("非常满意") == "1" and platform.code(V.SATISFIED) == "4"


@pytest.mark.parametrize("code", ["0", "6", "", "一", True, None, 2.0])
def test_a_code_outside_an_order_names_the_order(code: object) -> None:
    with pytest.raises(govsvc.InvalidInput, match=r"GB/T 39046 order \(1 = 非常满意, 2 = 满意"):
        RatingCodes.GB_T_39046.level(code)  # type: ignore[arg-type]


def test_a_bare_number_is_not_a_level_it_needs_an_order() -> None:
    with pytest.raises(govsvc.InvalidInput, match="codes mean opposite things"):
        RatingLevel.parse("1")
    with pytest.raises(govsvc.InvalidInput, match="not one of 非常满意、满意"):
        RatingLevel.parse("很好")
    assert RatingLevel.parse(" 满意 ") is V.SATISFIED
    assert RatingLevel.parse("VERY_DISSATISFIED") is V.VERY_DISSATISFIED


def test_a_code_order_must_cover_every_level_once() -> None:
    with pytest.raises(govsvc.InvalidInput, match="no code for"):
        RatingCodes(name="x", codes={V.SATISFIED: "1"})
    with pytest.raises(govsvc.InvalidInput, match="the same code"):
        RatingCodes(name="x", codes={lv: "1" for lv in RatingLevel})


def test_rules_pick_the_most_specific_region() -> None:
    rules = govsvc.RectificationRules().with_region("230000", 7).with_region("230100", 5)
    assert rules.workdays == 15
    assert rules.workdays_for("230103") == 5  # a district of Harbin: the city's rule
    assert rules.workdays_for("230200") == 7  # Qiqihar: the province's
    assert rules.workdays_for("450100") == 15
    with pytest.raises(govsvc.InvalidInput, match="1 to 60 working days"):
        govsvc.RectificationRules(workdays=0)
    with pytest.raises(govsvc.InvalidInput, match="division code"):
        rules.with_region("哈尔滨", 5)


# --- rating a case --------------------------------------------------------------------------


def test_a_finished_case_is_rated_once_and_a_good_rating_opens_nothing(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    case = finished(people, zhang)
    mine = people.applicant(zhang).ratings
    rating = mine.rate(case.tracking_code, "非常满意", text="窗口服务热情")
    assert (rating.level, rating.channel, rating.rectification) == (
        V.VERY_SATISFIED,
        RatingChannel.PC,
        None,
    )
    assert (rating.party, rating.rater, rating.agency) == (zhang.key, zhang.key, SAMR)
    assert mine.of_case(case) == rating == mine.get(rating.id)
    [event] = mine.trail(rating)
    assert event.kind is govsvc.RatingEventKind.RATED and event.actor.id == str(zhang.key)
    assert mine.commands(rating) == frozenset()
    before = stored(platform)
    with pytest.raises(RatingRefused, match=r"was rated already on 2026-03-02 .非常满意.") as err:
        mine.rate(case, "不满意")
    assert isinstance(err.value, govsvc.InvalidTransition) and err.value.state == "rated"
    assert stored(platform) == before


def test_an_open_or_withdrawn_case_cannot_be_rated(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    mine = people.applicant(zhang).ratings
    case = make_case(platform, FOOD_LICENCE, zhang, accept=True)
    before = stored(platform)
    with pytest.raises(RatingRefused, match=r"is in_review \(审查中\), not finished") as err:
        mine.rate(case, V.SATISFIED)
    assert err.value.state == "in_review" and err.value.command == "rate"
    assert stored(platform) == before
    withdrawn = people.applicant(zhang).cases.withdraw(case, reason="不办了")
    before = stored(platform)
    with pytest.raises(RatingRefused, match=r"withdrawn .撤回. by the applicant"):
        mine.rate(withdrawn, V.SATISFIED)
    assert stored(platform) == before
    assert mine.of_case(case) is None


def test_only_the_applicant_rates_their_case(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    case = finished(people, zhang)
    before = stored(platform)
    with pytest.raises(govsvc.PermissionDenied, match="belongs to 111:2301") as err:
        people.applicant(LI).ratings.rate(case, V.VERY_DISSATISFIED)
    assert err.value.rule == "applicant.own"
    with pytest.raises(govsvc.PermissionDenied) as err:
        people.reviewer(SAMR).ratings.rate(case, V.SATISFIED)
    assert err.value.rule == "default-deny"
    with pytest.raises(govsvc.InvalidInput, match="rate_occasion"):
        people.clerk.ratings.rate(case, V.SATISFIED)
    assert stored(platform) == before
    refused = platform.system().supervision.access_log(outcome="denied")
    assert [r.action for r in refused[:2]] == ["ratings.rate", "ratings.rate"]


# --- rectification --------------------------------------------------------------------------


def test_a_bad_rating_opens_a_rectification_due_in_15_working_days(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    case = finished(people, zhang)
    rating = people.applicant(zhang).ratings.rate(case, V.DISSATISFIED, text="等了很久")
    r = rating.rectification
    assert r is not None and r.status is RectificationStatus.OPEN
    assert (r.department, r.workdays, r.due) == (SAMR, 15, dt.date(2026, 3, 23))
    assert rating.department == SAMR
    [event] = people.applicant(zhang).ratings.trail(rating)
    assert (event.payload.department, event.payload.due, event.payload.bad) == (  # type: ignore[union-attr]
        SAMR,
        dt.date(2026, 3, 23),
        True,
    )


def test_a_denied_case_is_answered_for_by_the_department_that_denied(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    case = finished(people, zhang, deny=True)
    assert case.state is govsvc.CaseState.DENIED and responsible_department(case) == HEALTH
    rating = people.applicant(zhang).ratings.rate(case, V.VERY_DISSATISFIED)
    assert rating.rectification is not None and rating.rectification.department == HEALTH
    assert [s.id for s in people.reviewer(HEALTH).ratings.queue()] == [rating.id]
    assert list(people.reviewer(SAMR).ratings.queue()) == []


def test_deadlines_count_working_days_and_follow_the_configured_rules(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person, clock: FakeClock
) -> None:
    admin = platform.session(govsvc.Principal.system_admin("o1", "运维", auth=TEST_LOGIN))
    assert admin.ratings.rules() == govsvc.RectificationRules()
    admin.ratings.configure(5)
    assert admin.ratings.rules().workdays == 5
    clock.set_local_date(dt.date(2026, 2, 10))
    case = finished(people, zhang)
    clock.set_local_date(dt.date(2026, 2, 12))
    rating = people.applicant(zhang).ratings.rate(case, V.DISSATISFIED)
    # 2026-02-14 is a working Saturday (调休), then the Spring Festival: §6's own example.
    assert rating.rectification is not None and rating.rectification.due == dt.date(2026, 2, 26)

    rules = admin.ratings.configure(7, region="230100")
    assert rules.workdays_for("230102") == 7 and rules.workdays == 5
    clock.set_local_date(dt.date(2026, 9, 25))
    li_case = finished(people, LI)
    clock.set_local_date(dt.date(2026, 9, 30))
    late = people.applicant(LI).ratings.rate(li_case, V.VERY_DISSATISFIED)
    # Oct 1–7 is the National Day holiday; Sat Oct 10 is worked.
    assert late.rectification is not None and late.rectification.due == dt.date(2026, 10, 15)
    with pytest.raises(govsvc.PermissionDenied):
        people.supervisor().ratings.configure(3)


def test_the_department_answers_and_the_rater_rates_again_once(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person, clock: FakeClock
) -> None:
    case = finished(people, zhang)
    mine = people.applicant(zhang).ratings
    rating = mine.rate(case, V.DISSATISFIED, text="材料要求反复变化")
    with pytest.raises(RatingRefused, match="only after the department answered"):
        mine.rerate(rating, V.SATISFIED)
    assert people.reviewer(SAMR).ratings.commands(rating) == {"answer"}
    assert people.approver(SAMR).ratings.commands(rating) == {"answer", "appeal"}
    clock.advance(days=3)
    answered = people.reviewer(SAMR).ratings.answer(
        rating.id, "已核实，一次性告知清单已更新并培训窗口人员"
    )
    r = answered.rectification
    assert r is not None and r.status is RectificationStatus.ANSWERED and r.on_time is True
    assert r.answered_by is not None and r.answered_by.kind is govsvc.PrincipalKind.REVIEWER
    notices = [
        e for e in platform.system().outbox.pending(topic="applicant.notify")
        if e.payload.get("rating_id") == rating.id
    ]
    assert [n.payload["kind"] for n in notices] == ["rating_answered"]
    assert notices[0].payload["applicant"] == zhang.key.number
    assert mine.commands(answered) == {"rerate"}
    with pytest.raises(RatingRefused, match=r"cannot answer rating .*: the department answered"):
        people.reviewer(SAMR).ratings.answer(answered, "再次回复")

    again = mine.rerate(answered, "满意", text="整改到位", channel=RatingChannel.MOBILE)
    assert (again.level, again.current_level, again.is_bad) == (V.DISSATISFIED, V.SATISFIED, True)
    with pytest.raises(RatingRefused, match="was rated again already"):
        mine.rerate(again, V.VERY_SATISFIED)
    kinds = [e.kind.value for e in mine.trail(again)]
    assert kinds == ["rated", "answered", "rerated"]
    assert mine.trail(again)[1].actor.id == ""  # staff masked for the rater (审查人员 审*)


def test_another_department_cannot_answer_and_changes_nothing(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    rating = people.applicant(zhang).ratings.rate(finished(people, zhang), V.DISSATISFIED)
    before = stored(platform)
    for session, rule in (
        (people.reviewer(HEALTH), "department.own-ratings"),
        (people.reviewer(PSB), "department.own-ratings"),
        (people.clerk, "default-deny"),
        (people.supervisor(), "default-deny"),
        (people.applicant(zhang), "default-deny"),
    ):
        with pytest.raises(govsvc.PermissionDenied) as err:
            session.ratings.answer(rating, "与我无关")
        assert err.value.rule == rule
    with pytest.raises(govsvc.PermissionDenied) as err:
        people.reviewer(HEALTH).ratings.queue(SAMR)
    assert err.value.rule == "department.own-tasks"
    with pytest.raises(govsvc.PermissionDenied) as err:
        people.applicant(LI).ratings.rerate(rating, V.SATISFIED)
    assert stored(platform) == before
    assert people.reviewer(HEALTH).ratings.commands(rating) == frozenset()


def test_queues_are_filtered_in_sql_and_ordered_by_due_date(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person, clock: FakeClock
) -> None:
    first = people.applicant(zhang).ratings.rate(finished(people, zhang), V.DISSATISFIED)
    clock.advance(days=1)
    denied = people.applicant(LI).ratings.rate(finished(people, LI, deny=True), V.DISSATISFIED)
    clock.advance(days=1)
    third_party = govsvc.Person(key=govsvc.PartyKey.of("11010519491231002X"), name="赵六")
    last = people.applicant(third_party).ratings.rate(finished(people, third_party), "非常不满意")
    samr = people.reviewer(SAMR).ratings.queue(limit=1)
    assert [s.id for s in samr] == [first.id] and samr.next is not None
    assert [s.id for s in people.reviewer(SAMR).ratings.queue(after=samr.next)] == [last.id]
    assert samr[0].rater_name == "张*" and samr[0].text == "" and samr[0].due == dt.date(2026, 3, 23)
    assert [s.id for s in people.reviewer(HEALTH).ratings.queue()] == [denied.id]
    supervisor = people.supervisor("230100").ratings
    assert [s.id for s in supervisor.queue()] == [first.id, denied.id, last.id]
    assert [s.id for s in supervisor.queue(HEALTH)] == [denied.id]
    assert list(people.supervisor("230102").ratings.queue()) == []
    with pytest.raises(govsvc.PermissionDenied) as err:
        people.supervisor("450100").ratings.queue(SAMR)
    assert err.value.rule == "supervisor.division"
    people.reviewer(SAMR).ratings.answer(first, "已整改")
    assert [s.id for s in people.reviewer(SAMR).ratings.queue()] == [last.id]
    everything = people.reviewer(SAMR).ratings.queue(status=None)
    assert [(s.id, s.status) for s in everything] == [
        (first.id, RectificationStatus.ANSWERED),
        (last.id, RectificationStatus.OPEN),
    ]


# --- appeals --------------------------------------------------------------------------------


def test_an_upheld_appeal_excludes_the_rating_from_the_statistics(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    good = people.applicant(LI).ratings.rate(finished(people, LI), V.VERY_SATISFIED)
    rating = people.applicant(zhang).ratings.rate(finished(people, zhang), V.VERY_DISSATISFIED)
    with pytest.raises(govsvc.PermissionDenied) as err:
        people.reviewer(SAMR).ratings.appeal(rating, Exclusion.MALICIOUS, reason="辱骂工作人员")
    assert err.value.rule == "default-deny"  # appeals are the department leader's
    appealed = people.approver(SAMR).ratings.appeal(rating, "恶意差评", reason="评价内容与办件无关")
    assert appealed.rectification is not None
    assert appealed.rectification.status is RectificationStatus.APPEALED
    with pytest.raises(RatingRefused, match="waits for a supervisor's decision"):
        people.reviewer(SAMR).ratings.answer(appealed, "已整改")
    with pytest.raises(RatingRefused, match="no rectification"):
        people.approver(SAMR).ratings.appeal(good, Exclusion.MISTAKEN, reason="误评")
    before = people.supervisor().ratings.statistics()
    assert (before[0].ratings, before[0].bad, before[0].excluded) == (2, 1, 0)
    with pytest.raises(govsvc.PermissionDenied) as err:
        people.supervisor("450100").ratings.decide_appeal(appealed, upheld=True, reason="属实")
    assert err.value.rule == "supervisor.division"
    with pytest.raises(govsvc.InvalidInput, match="reason must not be empty"):
        people.supervisor().ratings.decide_appeal(appealed, upheld=True, reason=" ")
    decided = people.supervisor().ratings.decide_appeal(
        appealed, upheld=True, reason="经调取录音核实，评价内容为辱骂"
    )
    assert decided.excluded is Exclusion.MALICIOUS
    assert decided.appeal is not None and decided.appeal.upheld is True
    assert decided.rectification is not None
    assert decided.rectification.status is RectificationStatus.EXCLUDED
    [after] = people.supervisor().ratings.statistics()
    assert (after.ratings, after.bad, after.excluded, after.pending) == (1, 0, 1, 0)
    assert after.by_level[V.VERY_SATISFIED] == 1 and after.by_level[V.VERY_DISSATISFIED] == 0
    assert after.rectification_rate is None and after.satisfaction == 1.0
    with pytest.raises(RatingRefused, match="no appeal waiting"):
        people.supervisor().ratings.decide_appeal(decided, upheld=False, reason="重复")
    assert [e.kind.value for e in people.supervisor().ratings.trail(decided)] == [
        "rated",
        "appealed",
        "appeal_decided",
    ]


def test_a_rejected_appeal_reopens_the_rectification_once(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    rating = people.applicant(zhang).ratings.rate(finished(people, zhang), V.DISSATISFIED)
    leader = people.approver(SAMR).ratings
    appealed = leader.appeal(rating, Exclusion.MISTAKEN, reason="申请人点错了")
    rejected = people.supervisor().ratings.decide_appeal(appealed, upheld=False, reason="无证据")
    assert rejected.rectification is not None
    assert rejected.rectification.status is RectificationStatus.OPEN
    assert rejected.excluded is None
    with pytest.raises(RatingRefused, match="appeal was rejected; rectify it"):
        leader.appeal(rejected, Exclusion.MISTAKEN, reason="再申诉")
    assert leader.commands(rejected) == {"answer"}
    assert leader.answer(rejected, "已整改").rectification.status is RectificationStatus.ANSWERED  # type: ignore[union-attr]


# --- statistics -----------------------------------------------------------------------------


def test_statistics_per_department_item_and_month_with_rectification_timeliness(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person, clock: FakeClock
) -> None:
    wang = govsvc.Person(key=govsvc.PartyKey.of("11010519491231002X"), name="王五")
    on_time = people.applicant(zhang).ratings.rate(finished(people, zhang), V.DISSATISFIED)
    late = people.applicant(LI).ratings.rate(finished(people, LI), V.VERY_DISSATISFIED)
    people.applicant(wang).ratings.rate(finished(people, wang, deny=True), V.BASICALLY_SATISFIED)
    people.reviewer(SAMR).ratings.answer(on_time, "已整改")
    clock.set_local_date(dt.date(2026, 3, 24))  # the day after the due date
    people.reviewer(SAMR).ratings.answer(late, "已整改（逾期）")
    clock.set_local_date(dt.date(2026, 4, 1))
    people.applicant(zhang).ratings.rerate(on_time.id, V.VERY_SATISFIED)

    stats = {s.group: s for s in people.supervisor().ratings.statistics()}
    samr, health = stats[SAMR], stats[HEALTH]
    assert (samr.ratings, samr.bad, samr.rectified, samr.rectified_on_time) == (2, 2, 2, 1)
    assert (samr.rectification_rate, samr.timeliness) == (1.0, 0.5)
    assert samr.by_level[V.VERY_SATISFIED] == 1 and samr.by_level[V.VERY_DISSATISFIED] == 1
    assert samr.satisfaction == 0.5
    assert (health.ratings, health.bad, health.satisfaction) == (1, 0, 1.0)
    [mine] = people.approver(SAMR).ratings.statistics()
    assert mine == samr
    by_item = people.supervisor().ratings.statistics(by="item")
    assert [(s.group, s.ratings) for s in by_item] == [(FOOD_LICENCE, 3)]
    by_month = people.supervisor().ratings.statistics(by="month")
    assert [(s.group, s.ratings) for s in by_month] == [("2026-03", 3)]
    assert people.supervisor().ratings.statistics(since=dt.date(2026, 3, 3)) == []
    assert people.supervisor("230200").ratings.statistics() == []
    with pytest.raises(govsvc.InvalidInput, match="choose one of department, agency, item"):
        people.supervisor().ratings.statistics(by="weather")
    with pytest.raises(govsvc.PermissionDenied):
        people.reviewer(SAMR).ratings.statistics(department=HEALTH)
    dashboard = govsvc.Principal.channel(
        "app-1", "冰城办", scopes=[govsvc.Action.RATING_STATISTICS], auth=TEST_LOGIN
    )
    assert len(platform.session(dashboard).ratings.statistics()) == 2


def test_open_rectifications_past_their_due_date_count_as_overdue(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    people.applicant(zhang).ratings.rate(finished(people, zhang), V.DISSATISFIED)
    [today] = people.supervisor().ratings.statistics()
    [later] = people.supervisor().ratings.statistics(on=dt.date(2026, 3, 24))
    assert (today.pending, today.overdue, later.overdue) == (1, 0, 1)


# --- window occasions (一次一评) ----------------------------------------------------------------


def test_a_clerk_records_window_ratings_once_per_occasion(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    window = people.clerk.ratings
    rating = window.rate_occasion("A023-20260302", V.SATISFIED, agency=SAMR, rater=zhang)
    assert (rating.basis, rating.channel, rating.rater, rating.occasion) == (
        govsvc.RatingBasis.OCCASION,
        RatingChannel.HALL_TABLET,
        zhang.key,
        "A023-20260302",
    )
    before = stored(platform)
    with pytest.raises(RatingRefused, match=r"occasion A023-20260302 of agency .* rated already"):
        window.rate_occasion("A023-20260302", V.DISSATISFIED, agency=SAMR)
    other_hall = platform.session(
        govsvc.Principal.clerk("c-9", "别处窗口", agency=ELSEWHERE, auth=TEST_LOGIN)
    )
    with pytest.raises(govsvc.PermissionDenied) as err:
        other_hall.ratings.rate_occasion("B001", V.SATISFIED, agency=SAMR)
    assert err.value.rule == "clerk.hall-agencies"
    with pytest.raises(govsvc.InvalidInput, match="say which agency"):
        window.rate_occasion("B002", V.SATISFIED)
    with pytest.raises(govsvc.InvalidInput, match="occasion must not be empty"):
        window.rate_occasion("  ", V.SATISFIED, agency=SAMR)
    assert stored(platform) == before
    assert people.applicant(zhang).ratings.mine()[0].id == rating.id


def test_an_anonymous_bad_window_rating_is_rectified_but_not_rated_again(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    rating = people.clerk.ratings.rate_occasion(
        "A024", V.VERY_DISSATISFIED, item_code=FOOD_LICENCE, text="排队太久"
    )
    assert rating.rater is None and rating.agency == SAMR and rating.item_code == FOOD_LICENCE
    assert rating.rectification is not None and rating.rectification.department == SAMR
    answered = people.reviewer(SAMR).ratings.answer(rating, "已增开窗口")
    assert answered.allowed_commands() == frozenset()
    assert [
        e for e in platform.system().outbox.pending() if e.payload.get("rating_id") == rating.id
    ] == []  # nobody to tell


def test_an_applicant_rates_a_visit_by_the_receipt_qr_code(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    rating = people.applicant(zhang).ratings.rate_occasion("A025", "满意", agency=SAMR)
    assert (rating.channel, rating.party, rating.rater_name) == (
        RatingChannel.QR_CODE,
        zhang.key,
        "张伟",
    )
    with pytest.raises(govsvc.InvalidInput, match="rater= is for a clerk"):
        people.applicant(zhang).ratings.rate_occasion("A026", "满意", agency=SAMR, rater=LI)


def test_a_channel_relays_an_sms_reply_in_the_platform_code_order(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    case = finished(people, zhang)
    gateway = govsvc.Principal.channel(
        "sms-1", "短信评价网关", scopes=[govsvc.Action.RATING_RATE], auth=TEST_LOGIN
    )
    sms = platform.session(gateway).ratings
    with pytest.raises(govsvc.InvalidInput, match="say through which channel"):
        sms.rate(case, RatingCodes.PLATFORM.level("1"))
    rating = sms.rate(case, RatingCodes.PLATFORM.level("1"), channel="sms")
    assert (rating.level, rating.rater, rating.channel) == (
        V.VERY_DISSATISFIED,
        zhang.key,
        RatingChannel.SMS,
    )
    assert people.applicant(zhang).ratings.of_case(case) == rating


# --- reads, concurrency, storage ------------------------------------------------------------


def test_staff_reads_of_a_rating_need_a_purpose_and_are_recorded(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    rating = people.applicant(zhang).ratings.rate(finished(people, zhang), V.DISSATISFIED)
    with pytest.raises(govsvc.PermissionDenied, match="用证事由"):
        platform.session(reviewer_of(SAMR)).ratings.get(rating.id)
    seen = platform.session(reviewer_of(SAMR), purpose="差评回访").ratings.get(rating.id)
    assert seen.rater_name == "张伟"
    [read] = platform.system().supervision.access_log(outcome="read")
    assert (read.action, read.purpose, read.subject) == ("ratings.read", "差评回访", str(zhang.key))
    with pytest.raises(govsvc.NotFound, match="no rating with id"):
        people.applicant(zhang).ratings.get("0" * 32)
    with pytest.raises(govsvc.PermissionDenied):
        people.applicant(LI).ratings.get(rating.id)


def test_a_stale_copy_cannot_overwrite_a_newer_rating(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    rating = people.applicant(zhang).ratings.rate(finished(people, zhang), V.DISSATISFIED)
    people.approver(SAMR).ratings.appeal(rating, Exclusion.MISTAKEN, reason="点错")
    with pytest.raises(govsvc.ConcurrentUpdate, match="changed since you loaded it"):
        people.reviewer(SAMR).ratings.answer(rating, "已整改")


def test_the_unique_matter_refuses_a_second_rating_even_past_the_check(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    case = finished(people, zhang)
    first = people.applicant(zhang).ratings.rate(case, V.SATISFIED)
    step = Rating.of_case(
        case,
        V.DISSATISFIED,
        channel=RatingChannel.PC,
        rater=zhang.key,
        rater_name="张伟",
        rules=govsvc.RectificationRules(),
        calendar=platform.calendar,
        now=platform.now(),
        actor=applicant_of(zhang).actor,
    )
    with platform.engine.begin() as conn, pytest.raises(RatingRefused, match="rated already"):
        rating_store.save_step(conn, step, now=platform.now())
    assert people.applicant(zhang).ratings.of_case(case) == first


def test_stored_documents_read_back_equal(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    rating = people.applicant(zhang).ratings.rate(finished(people, zhang), V.DISSATISFIED)
    rating = people.approver(SAMR).ratings.appeal(rating, Exclusion.MISTAKEN, reason="点错")
    with platform.engine.connect() as conn:
        row = conn.execute(sa.select(tables.ratings_t)).one()
        assert rating_store.load(conn, rating.id) == rating
    assert (row.level, row.current_level, row.rect_status, row.rated_month) == (
        "DISSATISFIED",
        "DISSATISFIED",
        "appealed",
        "2026-03",
    )
    assert row.data["_schema"] == 1


def test_text_is_checked_where_it_comes_in(
    platform: govsvc.Platform, people: People, zhang: govsvc.Person
) -> None:
    case = finished(people, zhang)
    mine = people.applicant(zhang).ratings
    with pytest.raises(govsvc.InvalidInput, match="NUL"):
        mine.rate(case, V.SATISFIED, text="好\x00")
    with pytest.raises(govsvc.InvalidInput, match="keep it to 500"):
        mine.rate(case, V.SATISFIED, text="好" * 501)
    with pytest.raises(govsvc.InvalidInput, match="channel 'fax' is not one of"):
        mine.rate(case, V.SATISFIED, channel="fax")
    rating = mine.rate(case, V.DISSATISFIED)
    with pytest.raises(govsvc.InvalidInput, match="answer must not be empty"):
        people.reviewer(SAMR).ratings.answer(rating, "   ")
    with pytest.raises(govsvc.InvalidInput, match="appeal ground 'rude'"):
        people.approver(SAMR).ratings.appeal(rating, "rude", reason="x")


# --- the documentation stays true -----------------------------------------------------------


def test_the_event_table_in_the_docs_matches_the_payloads() -> None:
    text = (ROOT / "docs" / "ratings.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| `(\w+)` \|(.*)\|\s*$", text, re.M)
    documented = {kind: (cls, re.findall(r"`(\w+)`", fields)) for kind, cls, fields in rows}
    actual = {
        kind.value: (cls.__name__, [f.name for f in attrs.fields(cls)])
        for kind, cls in RATING_PAYLOADS.items()
    }
    assert documented == actual


def test_the_policy_rows_for_ratings_are_in_the_access_page() -> None:
    text = (ROOT / "docs" / "access.md").read_text(encoding="utf-8")
    assert "session.ratings" in text
    for action in govsvc.Action:
        if action.value.startswith("ratings."):
            assert f"| `{action.value}` |" in text
