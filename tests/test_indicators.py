"""The national evaluation's indicators (session.indicators.report): SQL aggregates over the
catalogue, the cases and the ratings, checked against values computed by hand, on SQLite and
PostgreSQL; the policy (supervisors of the division) and bad input."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa

import govsvc
from govsvc import RatingLevel
from govsvc.testing import applicant_of, clerk_for, make_case
from tests.conftest import FOOD_LICENCE, FakeClock, People

SAMR, HEALTH = "11230100013114525L", "11230100MB1935270B"
LI = govsvc.Person(key=govsvc.PartyKey.of("230102199001011230"), name="李娜")
WANG = govsvc.Person(key=govsvc.PartyKey.of("230104199208090266"), name="王秀英")
MARCH = {"since": dt.date(2026, 3, 1), "until": dt.date(2026, 3, 31)}


def at(clock: FakeClock, year: int, month: int, day: int, hour: int, minute: int = 0) -> None:
    """Move the clock to a moment given in China time."""
    china = dt.timezone(dt.timedelta(hours=8))
    clock.moment = dt.datetime(year, month, day, hour, minute, tzinfo=china).astimezone(dt.UTC)


def story(people: People, clock: FakeClock, zhang: govsvc.Person) -> dict[str, Any]:
    """Three food-licence cases (SAMR implements, SAMR and HEALTH review) in March 2026:

    A: 张伟 online, accepted Mon 03-02 09:00, completed Mon 03-09 → 5 working days; 满意.
    B: 李娜 online, accepted Tue 03-03 23:30, denied by HEALTH Thu 03-05 00:30 → 2 working
       days (China days: a UTC day count would give 1); 非常不满意, answered on time.
    C: 王秀英 at the window, accepted Wed 03-04, still in review.
    """
    p = people.platform
    at(clock, 2026, 3, 2, 9)
    a = make_case(p, FOOD_LICENCE, zhang, accept=True)
    at(clock, 2026, 3, 3, 23, 30)
    b = make_case(p, FOOD_LICENCE, LI, accept=True)
    at(clock, 2026, 3, 4, 10)
    version = p.public().catalogue.version(FOOD_LICENCE)
    window = p.session(clerk_for(SAMR), purpose="窗口受理")
    c = window.cases.apply(
        FOOD_LICENCE,
        WANG,
        materials=[
            govsvc.ProvidedMaterial(code=m.code, kind=govsvc.MaterialKind.PAPER, reference="核")
            for m in version.materials
            if m.necessity is not govsvc.Necessity.OPTIONAL
        ],
    )
    window.cases.accept(c)
    at(clock, 2026, 3, 5, 0, 30)
    task = next(t for t in b.open_tasks if t.department == HEALTH)
    b = people.reviewer(HEALTH).reviews.decide(
        b, task.id, approve=False, reason="场所不符", basis="《食品经营许可和备案管理办法》",
        remedies="可申请行政复议",
    )
    at(clock, 2026, 3, 6, 10)
    a = people.approve_all(a)
    a = people.clerk.cases.issue_result(
        a, govsvc.CaseResult(name="食品经营许可证", number="JY12301000000001")
    )
    at(clock, 2026, 3, 9, 15)
    a = people.clerk.cases.complete(a, delivery="窗口领取")
    at(clock, 2026, 3, 10, 9)
    people.applicant(zhang).ratings.rate(a, "满意")
    bad = people.platform.session(applicant_of(LI)).ratings.rate(b, "非常不满意", text="不公")
    at(clock, 2026, 3, 12, 9)
    people.reviewer(HEALTH).ratings.answer(bad, "已复核，向申请人说明了理由")
    return {"a": a, "b": b}


def values(report: govsvc.IndicatorReport) -> dict[str, tuple[float, float]]:
    return {i.key: (i.numerator, i.denominator) for i in report.indicators}


def test_the_division_s_indicators_equal_the_hand_computed_values(
    people: People, clock: FakeClock, zhang: govsvc.Person
) -> None:
    story(people, clock, zhang)
    report = people.supervisor().indicators.report(**MARCH)
    # The sample catalogue: 6 items, 3 at depth Ⅳ, all with at most one visit; statutory
    # 20 + 3 + 20 + 0 + 20 + 0 = 63 days, promised 5 + 0 + 10 + 0 + 5 + 0 = 20.
    assert report.items == 6 and report.division == "230100" and report.department is None
    assert values(report) == {
        "fully_online": (3, 6),
        "one_visit": (6, 6),
        "time_compression": (43, 63),
        "online_acceptance": (2, 3),
        "handling_time": (7, 2),
        "satisfaction": (1, 2),
        "rectification": (1, 1),
        "rectification_timeliness": (1, 1),
    }
    assert report.handling_time.value == 3.5 and report.handling_time.unit == "workdays"
    assert report.time_compression.value == pytest.approx(1 - 20 / 63)
    assert report.fully_online.value == 0.5
    assert dict(report.levels) == {
        RatingLevel.VERY_SATISFIED: 0,
        RatingLevel.SATISFIED: 1,
        RatingLevel.BASICALLY_SATISFIED: 0,
        RatingLevel.DISSATISFIED: 0,
        RatingLevel.VERY_DISSATISFIED: 1,
    }
    assert [i.name for i in report.indicators][:2] == ["全程网办率", "网上受理率"]


def test_one_department_and_a_smaller_division(
    people: People, clock: FakeClock, zhang: govsvc.Person
) -> None:
    story(people, clock, zhang)
    supervisor = people.supervisor()
    samr = supervisor.indicators.report(department=SAMR, **MARCH)
    # SAMR implements the food licence (Ⅳ, no visit, 20 → 5 days) and answers for A's rating.
    assert values(samr) == {
        "fully_online": (1, 1),
        "one_visit": (1, 1),
        "time_compression": (15, 20),
        "online_acceptance": (2, 3),
        "handling_time": (7, 2),
        "satisfaction": (1, 1),
        "rectification": (0, 0),
        "rectification_timeliness": (0, 0),
    }
    assert samr.rectification.value is None  # nothing to measure, not 0 %
    health = supervisor.indicators.report(department=HEALTH, **MARCH)
    # HEALTH implements 出生医学证明 (Ⅲ, one visit, 0 days) and answers for B's bad rating.
    assert values(health)["fully_online"] == (0, 1)
    assert values(health)["one_visit"] == (1, 1)
    assert values(health)["time_compression"] == (0, 0)
    assert values(health)["online_acceptance"] == (0, 0)
    assert values(health)["rectification"] == (1, 1)
    daoli = supervisor.indicators.report(division="230102", **MARCH)
    assert daoli.items == 1 and values(daoli)["fully_online"] == (1, 1)  # 个体工商户设立登记
    assert values(daoli)["online_acceptance"] == (0, 0)


def test_the_period_bounds_cases_ratings_and_the_catalogue(
    people: People, clock: FakeClock, zhang: govsvc.Person
) -> None:
    story(people, clock, zhang)
    supervisor = people.supervisor()
    # Only up to 03-04: B's acceptance at 23:30 on 03-03 China time is inside, C's too;
    # nothing was decided or rated yet.
    early = supervisor.indicators.report(since=dt.date(2026, 3, 3), until=dt.date(2026, 3, 4))
    assert values(early)["online_acceptance"] == (1, 2)
    assert values(early)["handling_time"] == (0, 0)
    assert values(early)["satisfaction"] == (0, 0)
    # Before the catalogue was published (clock start, 2026-03-02) there were no items.
    before = supervisor.indicators.report(since=dt.date(2026, 2, 1), until=dt.date(2026, 2, 28))
    assert before.items == 0 and before.fully_online.value is None


def test_a_revised_guide_counts_from_its_publication(
    people: People, clock: FakeClock
) -> None:
    at(clock, 2026, 4, 1, 9)
    code = "11230102MB1C3376104000175001001"
    system = people.system
    current = system.catalogue.version(code)
    item = system.catalogue.item(code)
    revised = current.revise(
        online_depth=govsvc.OnlineDepth.III, visits=1, visit_reason="核验原件"
    )
    system.catalogue.publish(item, revised)
    supervisor = people.supervisor()
    march = supervisor.indicators.report(division="230102", **MARCH)
    april = supervisor.indicators.report(
        division="230102", since=dt.date(2026, 4, 1), until=dt.date(2026, 4, 30)
    )
    assert values(march)["fully_online"] == (1, 1)
    assert values(april)["fully_online"] == (0, 1) and april.items == 1


def test_only_aggregates_are_read(
    people: People, clock: FakeClock, zhang: govsvc.Person
) -> None:
    story(people, clock, zhang)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = people.platform.engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        people.supervisor().indicators.report(**MARCH)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert reads and all("count(" in s.lower() or "sum(" in s.lower() for s in reads), reads
    assert not any("cases.data" in s or "ratings.data" in s for s in reads)


def test_supervisors_of_the_division_only(
    people: People, clock: FakeClock, zhang: govsvc.Person
) -> None:
    elsewhere = people.supervisor("450100")
    with pytest.raises(govsvc.PermissionDenied, match=r"supervisor\.division"):
        elsewhere.indicators.report(department=SAMR, **MARCH)
    with pytest.raises(govsvc.PermissionDenied, match=r"supervisor\.division"):
        elsewhere.indicators.report(division="230100", **MARCH)
    with pytest.raises(govsvc.PermissionDenied, match="default-deny"):
        people.reviewer(SAMR).indicators.report(**MARCH)
    with pytest.raises(govsvc.PermissionDenied, match="default-deny"):
        people.applicant(zhang).indicators.report(**MARCH)
    # Its own division (the default) works, and the platform sees everything.
    assert elsewhere.indicators.report(**MARCH).items == 0
    assert people.system.indicators.report(**MARCH).items == 6


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"since": dt.date(2026, 3, 31), "until": dt.date(2026, 3, 1)}, "since ≤ until"),
        ({"since": dt.date(2010, 1, 1), "until": dt.date(2026, 3, 1)}, "longer than ten years"),
        ({"since": dt.datetime(2026, 3, 1, tzinfo=dt.UTC)}, "since is a date"),
        ({"until": "2026-03-31"}, "until is a date"),
        ({"division": "哈尔滨"}, "6, 9 or 12 digits"),
        ({"division": "2301"}, "6, 9 or 12 digits"),
        ({"department": "SAMR"}, "credit code"),
        ({"department": "11230102MB1C337610", "division": "230100"}, None),
        ({"department": SAMR, "division": "230102"}, "not in 230102"),
    ],
)
def test_bad_input_names_what_was_wrong(
    people: People, arguments: dict[str, Any], message: str | None
) -> None:
    supervisor = people.supervisor()
    if message is None:  # a valid request: the department (道里区) lies in the division
        supervisor.indicators.report(**arguments)
        return
    with pytest.raises(govsvc.InvalidInput, match=message):
        supervisor.indicators.report(**arguments)


def test_provisional_deadlines_are_listed_until_the_year_is_loaded(
    make_platform: Any, clock: FakeClock, zhang: govsvc.Person
) -> None:
    last = max(govsvc.WorkCalendar.default().years)
    at(clock, last, 12, 15, 9)
    p = make_platform(provisional_calendar=True)
    people = People(p)
    # 食品经营许可: 5 promised days end in December, 20 statutory days in January.
    late = make_case(p, FOOD_LICENCE, zhang, accept=True)
    assert late.deadline is not None and late.deadline.provisional
    supervisor = people.supervisor()
    listed = supervisor.supervision.provisional()
    assert [s.tracking_code for s in listed] == [late.tracking_code]
    assert listed.items[0].due_provisional and listed.items[0].applicant_name == "张*"
    assert list(people.supervisor("450100").supervision.provisional()) == []
    with pytest.raises(govsvc.PermissionDenied):
        people.reviewer(SAMR).supervision.provisional()
    with pytest.raises(govsvc.InvalidInput, match="limit"):
        supervisor.supervision.provisional(limit=0)


def test_the_operator_command_prints_each_indicator(
    tmp_path: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pathlib import Path

    from govsvc import cli, demo

    monkeypatch.setenv("GOVSVC_LOAD_PLUGINS", "")
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    sample = Path(demo.__file__).parent / "data" / "items" / "harbin.json"
    assert cli.main(["items", "import", str(sample), "--db", db]) == 0
    capsys.readouterr()
    assert cli.main(["indicators", "--db", db, "--division", "230100"]) == 0
    out = capsys.readouterr().out
    assert "230100: 6 item(s)" in out
    assert re.search(r"fully_online\s+全程网办率\s+50\.0%\s+\(3/6\)", out), out
    assert re.search(r"handling_time\s+平均办理时间\s+—\s+\(0/0\)", out), out
    assert cli.main(["indicators", "--db", db, "--since", "2026-03-31", "--until",
                     "2026-03-01"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "since ≤ until" in err[0]
