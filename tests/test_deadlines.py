"""Time limits, due dates, suspensions, extensions and warning lights (standards §5)."""

from __future__ import annotations

import datetime as dt

import pytest

from govsvc.calendar import WorkCalendar
from govsvc.deadlines import (
    DueDate,
    Light,
    LightThresholds,
    TimeLimit,
    TimeUnit,
    due_date,
    light,
    suspended_workdays,
    workdays_left,
)
from govsvc.errors import CalendarDataMissing, InvalidInput

D = dt.date.fromisoformat
CAL = WorkCalendar.default()
WORKDAYS_20 = TimeLimit(20, TimeUnit.WORKDAY)


# --- TimeLimit -------------------------------------------------------------------------------


def test_time_limit_text() -> None:
    assert str(WORKDAYS_20) == "20 工作日"
    assert str(TimeLimit(24, TimeUnit.HOUR)) == "24 小时"
    assert TimeLimit.parse("20 工作日") == WORKDAYS_20
    assert TimeLimit.parse("5自然日") == TimeLimit(5, TimeUnit.NATURAL_DAY)
    assert TimeLimit(3, "小时").unit is TimeUnit.HOUR


@pytest.mark.parametrize("amount", [-1, 1.5, True, "20"])
def test_time_limit_amount_validated(amount: object) -> None:
    with pytest.raises(InvalidInput, match="amount"):
        TimeLimit(amount, TimeUnit.WORKDAY)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["20", "二十 工作日", "20 weeks", ""])
def test_time_limit_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidInput, match="工作日"):
        TimeLimit.parse(text)


# --- due dates -------------------------------------------------------------------------------


def test_workday_limits_match_the_standards_checks() -> None:
    assert due_date(CAL, D("2026-02-12"), TimeLimit(5, TimeUnit.WORKDAY)) == DueDate(
        D("2026-02-26"), provisional=False
    )
    assert due_date(CAL, D("2025-09-26"), TimeLimit(3, TimeUnit.WORKDAY)).date == D("2025-09-30")


def test_twenty_working_days_skip_qingming() -> None:
    # Accepted Monday 2026-03-16: 20 working days, 2026-04-04..06 off for 清明.
    assert due_date(CAL, D("2026-03-16"), WORKDAYS_20).date == D("2026-04-14")


def test_suspension_moves_the_due_date() -> None:
    start = D("2026-03-02")
    assert due_date(CAL, start, WORKDAYS_20).date == D("2026-03-30")
    # An expert review (专家评审) from Tue 03-10 to Fri 03-13 stops the clock 03-11..03-13.
    stopped = suspended_workdays(CAL, [(D("2026-03-10"), D("2026-03-13"))], today=D("2026-03-20"))
    assert stopped == 3
    assert due_date(CAL, start, WORKDAYS_20, suspended_workdays=stopped).date == D("2026-04-02")


def test_extension_of_ten_working_days() -> None:
    # 第42条: 20 working days, extended by 10 with approval; 清明 2026-04-04..06 is skipped.
    start = D("2026-03-02")
    assert due_date(CAL, start, WORKDAYS_20, extension_workdays=10).date == D("2026-04-14")
    both = due_date(CAL, start, WORKDAYS_20, suspended_workdays=3, extension_workdays=10)
    assert both.date == D("2026-04-17")


def test_negative_adjustments_refused() -> None:
    with pytest.raises(InvalidInput, match="suspended_workdays"):
        due_date(CAL, D("2026-03-02"), WORKDAYS_20, suspended_workdays=-1)
    with pytest.raises(InvalidInput, match="extension_workdays"):
        due_date(CAL, D("2026-03-02"), WORKDAYS_20, extension_workdays=-2)


def test_natural_days_move_to_the_next_working_day() -> None:
    # 2026-09-28 + 5 days = 2026-10-03, inside 国庆节: due Thursday 2026-10-08.
    assert due_date(CAL, D("2026-09-28"), TimeLimit(5, TimeUnit.NATURAL_DAY)).date == D(
        "2026-10-08"
    )
    # 2026-03-02 + 10 days = Thursday 2026-03-12, a working day: unchanged.
    assert due_date(CAL, D("2026-03-02"), TimeLimit(10, TimeUnit.NATURAL_DAY)).date == D(
        "2026-03-12"
    )


def test_natural_days_with_suspension_add_working_days() -> None:
    limit = TimeLimit(10, TimeUnit.NATURAL_DAY)
    assert due_date(CAL, D("2026-03-02"), limit, suspended_workdays=2).date == D("2026-03-16")


def test_hours_round_up_to_days() -> None:
    # 24 hours from Friday 2026-03-06 ends Saturday: due Monday.
    assert due_date(CAL, D("2026-03-06"), TimeLimit(24, TimeUnit.HOUR)).date == D("2026-03-09")
    assert due_date(CAL, D("2026-03-03"), TimeLimit(36, TimeUnit.HOUR)).date == D("2026-03-05")
    assert due_date(CAL, D("2026-03-03"), TimeLimit(0, TimeUnit.HOUR)).date == D("2026-03-03")


def test_due_date_into_a_year_without_data() -> None:
    with pytest.raises(CalendarDataMissing, match="2027"):
        due_date(CAL, D("2026-12-20"), WORKDAYS_20)
    prov = WorkCalendar.default(provisional=True)
    due = due_date(prov, D("2026-12-20"), WORKDAYS_20)
    assert due.provisional
    # 12-21..31: 9 working days; 2027-01-01 元旦 (rule); 11 more from 01-04 -> 2027-01-18.
    assert due.date == D("2027-01-18")
    assert not due_date(prov, D("2026-03-02"), WORKDAYS_20).provisional


# --- suspensions -----------------------------------------------------------------------------


def test_suspension_start_day_runs_end_day_stopped() -> None:
    # Fri 03-06 to Mon 03-09: the weekend does not count, Monday is stopped.
    assert suspended_workdays(CAL, [(D("2026-03-06"), D("2026-03-09"))], today=D("2026-04-01")) == 1
    assert suspended_workdays(CAL, [(D("2026-03-06"), D("2026-03-06"))], today=D("2026-04-01")) == 0


def test_open_suspension_counts_to_today() -> None:
    periods = [(D("2026-03-02"), None)]
    assert suspended_workdays(CAL, periods, today=D("2026-03-05")) == 3
    assert suspended_workdays(CAL, periods, today=D("2026-03-02")) == 0


def test_overlapping_suspensions_count_once() -> None:
    periods = [(D("2026-03-02"), D("2026-03-05")), (D("2026-03-04"), D("2026-03-10"))]
    assert suspended_workdays(CAL, periods, today=D("2026-04-01")) == 6  # 03-03..06, 09, 10


def test_suspension_over_a_holiday_counts_working_days_only() -> None:
    # 2026-02-12 .. 2026-02-26: 02-13, 02-14 (调休), 02-24, 02-25, 02-26.
    periods = [(D("2026-02-12"), D("2026-02-26"))]
    assert suspended_workdays(CAL, periods, today=D("2026-03-01")) == 5


def test_suspension_ending_before_it_starts() -> None:
    with pytest.raises(InvalidInput, match="before it starts"):
        suspended_workdays(CAL, [(D("2026-03-05"), D("2026-03-02"))], today=D("2026-03-06"))


# --- warning lights --------------------------------------------------------------------------

START, DUE = D("2026-03-02"), D("2026-03-30")  # 20 working days


def test_workdays_left() -> None:
    assert workdays_left(CAL, D("2026-03-27"), DUE) == 1
    assert workdays_left(CAL, DUE, DUE) == 0
    assert workdays_left(CAL, D("2026-04-01"), DUE) == -2


def test_green_yellow_red() -> None:
    assert light(CAL, start=START, due=DUE, today=D("2026-03-03")) is Light.GREEN
    assert light(CAL, start=START, due=DUE, today=DUE) is Light.YELLOW
    assert light(CAL, start=START, due=DUE, today=D("2026-03-31")) is Light.RED


def test_yellow_by_days_left() -> None:
    # 03-20: 6 working days left, 14 of 20 used = 70 %: green by default.
    assert light(CAL, start=START, due=DUE, today=D("2026-03-20")) is Light.GREEN
    thresholds = LightThresholds(yellow_workdays_left=6, yellow_fraction_used=1.0)
    assert light(CAL, start=START, due=DUE, today=D("2026-03-20"), thresholds=thresholds) is (
        Light.YELLOW
    )
    assert light(CAL, start=START, due=DUE, today=D("2026-03-19"), thresholds=thresholds) is (
        Light.GREEN
    )


def test_yellow_by_fraction_used() -> None:
    thresholds = LightThresholds(yellow_workdays_left=0, yellow_fraction_used=0.5)
    # 03-13: 9 of 20 used; 03-16: 10 of 20.
    assert light(CAL, start=START, due=DUE, today=D("2026-03-13"), thresholds=thresholds) is (
        Light.GREEN
    )
    assert light(CAL, start=START, due=DUE, today=D("2026-03-16"), thresholds=thresholds) is (
        Light.YELLOW
    )


def test_default_thresholds_at_eighty_percent() -> None:
    thresholds = LightThresholds(yellow_workdays_left=0)
    # 03-23: 15 of 20 used (75 %); 03-24: 16 of 20 (80 %).
    assert light(CAL, start=START, due=DUE, today=D("2026-03-23"), thresholds=thresholds) is (
        Light.GREEN
    )
    assert light(CAL, start=START, due=DUE, today=D("2026-03-24"), thresholds=thresholds) is (
        Light.YELLOW
    )


def test_suspended_days_are_neither_used_nor_limit() -> None:
    # Suspended 3 working days: due moves to 04-02 (23 working days). On 03-24, 16 have
    # elapsed: 16/23 = 70 % counting the suspension, (16-3)/20 = 65 % without it.
    due = due_date(CAL, START, WORKDAYS_20, suspended_workdays=3).date
    assert due == D("2026-04-02")
    thresholds = LightThresholds(yellow_workdays_left=0, yellow_fraction_used=0.68)
    today = D("2026-03-24")
    assert light(CAL, start=START, due=due, today=today, thresholds=thresholds) is Light.YELLOW
    assert (
        light(CAL, start=START, due=due, today=today, thresholds=thresholds, suspended_workdays=3)
        is Light.GREEN
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"yellow_fraction_used": 0}, "more than 0"),
        ({"yellow_fraction_used": 1.2}, "at most 1"),
        ({"yellow_workdays_left": -1}, "0 or more"),
    ],
)
def test_thresholds_validated(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        LightThresholds(**kwargs)  # type: ignore[arg-type]
