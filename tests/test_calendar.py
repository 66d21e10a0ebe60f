"""The working-day calendar: shipped data, arithmetic, loading, overlays, provisional mode."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from govsvc.calendar import CalendarData, WorkCalendar, provisional_holidays
from govsvc.errors import CalendarDataMissing, ImportFileError, InvalidInput

D = dt.date.fromisoformat


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar.default()


@pytest.fixture
def prov() -> WorkCalendar:
    return WorkCalendar.default(provisional=True)


def data_2027() -> dict[str, Any]:
    # Shaped like a real notice; the dates are for the tests, not the official 2027 arrangement.
    return {
        "region": "CN",
        "source": "test notice for 2027",
        "years": {
            "2027": {
                "holidays": {
                    "2027-01-01": "元旦",
                    **{f"2027-02-{d:02d}": "春节" for d in range(5, 14)},
                },
                "workdays": {"2027-02-20": "春节调休"},
            }
        },
    }


XINJIANG = {
    "region": "CN-65",
    "overlay_of": "CN",
    "source": "test overlay (dates illustrative)",
    "years": {
        "2026": {
            "holidays": {"2026-03-20": "肉孜节", "2026-05-27": "古尔邦节"},
            # An overlay may also turn a national day off into a working day.
            "workdays": {"2026-10-07": "调休"},
        }
    },
}


# --- the standards' checks -------------------------------------------------------------------


def test_standard_check_spring_festival_2026(cal: WorkCalendar) -> None:
    assert cal.is_workday(D("2026-02-14"))  # a 调休 Saturday
    assert cal.add_workdays(D("2026-02-12"), 5) == D("2026-02-26")


def test_standard_check_national_day_2025(cal: WorkCalendar) -> None:
    assert cal.is_workday(D("2025-09-28"))  # a 调休 Sunday
    assert cal.add_workdays(D("2025-09-26"), 3) == D("2025-09-30")


# --- shipped data ----------------------------------------------------------------------------


def test_shipped_years(cal: WorkCalendar) -> None:
    assert cal.years == frozenset(range(2004, 2027))
    assert cal.has_data(2026)
    assert not cal.has_data(2027)
    assert cal.region == "CN"


def test_default_is_cached_and_provisional_flag_respected() -> None:
    assert WorkCalendar.default() is WorkCalendar.default()
    assert not WorkCalendar.default().provisional
    assert WorkCalendar.default(provisional=True).provisional


def test_shipped_data_agrees_with_chinesecalendar_every_day(cal: WorkCalendar) -> None:
    chinese_calendar = pytest.importorskip(
        "chinese_calendar", reason="chinesecalendar (dev-time seed tool) is not installed"
    )
    day, last = D("2004-01-01"), D("2026-12-31")
    mismatches = []
    while day <= last:
        if cal.is_workday(day) != chinese_calendar.is_workday(day):
            mismatches.append(day)
        day += dt.timedelta(days=1)
    assert mismatches == []


def test_names_of_days(cal: WorkCalendar) -> None:
    assert cal.holiday_name(D("2026-02-17")) == "春节"
    assert cal.holiday_name(D("2026-02-14")) == "春节调休"
    assert cal.holiday_name(D("2026-03-03")) is None


def test_packaged_file_round_trips() -> None:
    data = WorkCalendar.default().national
    assert CalendarData.parse(data.dumps()) == data


# --- arithmetic ------------------------------------------------------------------------------


def test_weekends_and_holidays(cal: WorkCalendar) -> None:
    assert cal.is_workday(D("2026-03-02"))  # Monday
    assert not cal.is_workday(D("2026-03-07"))  # Saturday
    assert not cal.is_workday(D("2026-10-01"))  # 国庆节 on a Thursday


def test_add_workdays_skips_holiday_blocks(cal: WorkCalendar) -> None:
    # 2026-04-04..06 (清明) are off: the 30th working day after 2026-03-02 is 2026-04-14.
    assert cal.add_workdays(D("2026-03-02"), 20) == D("2026-03-30")
    assert cal.add_workdays(D("2026-03-02"), 30) == D("2026-04-14")


def test_add_zero_workdays(cal: WorkCalendar) -> None:
    assert cal.add_workdays(D("2026-03-02"), 0) == D("2026-03-02")
    assert cal.add_workdays(D("2026-10-01"), 0) == D("2026-10-08")


def test_add_negative_workdays_refused(cal: WorkCalendar) -> None:
    with pytest.raises(InvalidInput, match="0 or more"):
        cal.add_workdays(D("2026-03-02"), -1)


def test_next_workday(cal: WorkCalendar) -> None:
    assert cal.next_workday(D("2026-03-02")) == D("2026-03-03")
    assert cal.next_workday(D("2026-02-13")) == D("2026-02-14")  # 调休 Saturday
    assert cal.next_workday(D("2026-02-14")) == D("2026-02-24")


def test_workdays_between(cal: WorkCalendar) -> None:
    assert cal.workdays_between(D("2026-02-12"), D("2026-02-26")) == 5
    assert cal.workdays_between(D("2026-02-26"), D("2026-02-12")) == -5
    assert cal.workdays_between(D("2026-03-02"), D("2026-03-02")) == 0
    assert cal.workdays_between(D("2026-03-06"), D("2026-03-08")) == 0  # Fri -> Sun


def test_add_and_between_are_inverse(cal: WorkCalendar) -> None:
    start = D("2025-12-20")
    for n in range(1, 120, 7):
        end = cal.add_workdays(start, n)
        assert cal.is_workday(end)
        assert cal.workdays_between(start, end) == n


def test_datetimes_are_accepted(cal: WorkCalendar) -> None:
    moment = dt.datetime(2026, 2, 14, 9, 30)
    assert cal.is_workday(moment)
    assert cal.add_workdays(dt.datetime(2026, 2, 12, 16, 0), 5) == D("2026-02-26")


# --- years without data ----------------------------------------------------------------------


def test_year_without_data_raises_naming_the_year(cal: WorkCalendar) -> None:
    with pytest.raises(CalendarDataMissing) as info:
        cal.is_workday(D("2027-03-01"))
    assert info.value.year == 2027
    assert "2027" in str(info.value)
    assert "govsvc calendar load FILE" in str(info.value)
    assert not cal.is_provisional(D("2027-03-01"))


def test_arithmetic_into_a_year_without_data_raises(cal: WorkCalendar) -> None:
    with pytest.raises(CalendarDataMissing, match="2027"):
        cal.add_workdays(D("2026-12-20"), 20)


def test_provisional_2027(prov: WorkCalendar) -> None:
    assert prov.is_provisional(D("2027-03-01"))
    assert not prov.is_provisional(D("2026-03-02"))
    assert not prov.is_workday(D("2027-02-06"))  # lunar new year (正月初一)
    assert not prov.is_workday(D("2027-02-05"))  # 除夕
    assert prov.holiday_name(D("2027-02-08")) == "春节"  # 初三, a Monday
    assert prov.is_workday(D("2027-02-09"))
    assert prov.is_workday(D("2027-03-01"))
    assert not prov.is_workday(D("2027-03-06"))  # Saturday; no 调休 in provisional mode
    assert prov.add_workdays(D("2026-12-30"), 2) == D("2027-01-04")


def test_provisional_rule_has_13_days() -> None:
    days = provisional_holidays(2027)
    assert len(days) == 13
    assert {D("2027-04-05"), D("2027-06-09"), D("2027-09-15")} <= set(days)


@pytest.mark.parametrize("year", [2025, 2026])
def test_provisional_rule_matches_official_statutory_days(cal: WorkCalendar, year: int) -> None:
    # The rule in force since 2025: every statutory day it computes is off in the official data.
    for day, name in provisional_holidays(year).items():
        assert not cal.is_workday(day), (day, name)
        assert cal.holiday_name(day) is not None


def test_qingming_formula_matches_official_data(cal: WorkCalendar) -> None:
    from govsvc.calendar import _qingming

    for year in range(2008, 2027):  # 清明 is a public holiday since 2008
        assert cal.holiday_name(_qingming(year)) == "清明", year


def test_loading_a_year_makes_it_official(prov: WorkCalendar) -> None:
    loaded = prov.with_data(CalendarData.from_dict(data_2027()))
    assert loaded.has_data(2027)
    assert not loaded.is_provisional(D("2027-03-01"))
    assert loaded.is_workday(D("2027-02-20"))  # 调休 Saturday from the file
    assert not loaded.is_workday(D("2027-02-12"))  # from the file, not the rule
    # The original calendar is unchanged.
    assert prov.is_provisional(D("2027-03-01"))
    assert not prov.is_workday(D("2027-02-20"))


def test_with_data_replaces_a_whole_year(cal: WorkCalendar) -> None:
    data = CalendarData.from_dict(
        {"region": "CN", "source": "correction", "years": {"2026": {"holidays": {}}}}
    )
    corrected = cal.with_data(data)
    assert corrected.is_workday(D("2026-10-01"))
    assert not corrected.is_workday(D("2025-10-01"))
    assert "correction" in corrected.national.source


def test_provisional_outside_rule_range() -> None:
    prov = WorkCalendar.default(provisional=True)
    with pytest.raises(CalendarDataMissing, match="2001"):
        prov.is_workday(D("2150-01-04"))


# --- overlays --------------------------------------------------------------------------------


def test_overlay_overrides_listed_dates(cal: WorkCalendar) -> None:
    xj = cal.with_overlay(CalendarData.from_dict(XINJIANG))
    assert xj.region == "CN-65"
    assert cal.is_workday(D("2026-03-20"))
    assert not xj.is_workday(D("2026-03-20"))
    assert xj.holiday_name(D("2026-05-27")) == "古尔邦节"
    assert xj.is_workday(D("2026-10-07"))
    assert not cal.is_workday(D("2026-10-07"))
    # Everything else is national.
    assert xj.is_workday(D("2026-02-14"))
    assert not xj.is_workday(D("2026-02-17"))
    assert xj.add_workdays(D("2026-03-19"), 1) == D("2026-03-23")
    assert xj.years == cal.years


def test_overlay_applies_in_provisional_years(prov: WorkCalendar) -> None:
    overlay = {**XINJIANG, "years": {"2027": {"holidays": {"2027-03-10": "肉孜节"}}}}
    xj = prov.with_overlay(CalendarData.from_dict(overlay))
    assert not xj.is_workday(D("2027-03-10"))
    assert xj.is_provisional(D("2027-03-10"))


def test_overlay_and_national_data_are_not_interchangeable(cal: WorkCalendar) -> None:
    overlay = CalendarData.from_dict(XINJIANG)
    national = CalendarData.from_dict(data_2027())
    with pytest.raises(InvalidInput, match="with_overlay"):
        cal.with_data(overlay)
    with pytest.raises(InvalidInput, match="not an overlay"):
        cal.with_overlay(national)
    tibet = CalendarData.from_dict({**XINJIANG, "region": "CN-54"})
    with pytest.raises(InvalidInput, match="CN-65"):
        cal.with_overlay(overlay).with_overlay(tibet)


# --- malformed files -------------------------------------------------------------------------


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "calendar.json"
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, indent=2)
    path.write_text(text, encoding="utf-8")
    return path


def test_load_file(tmp_path: Path, prov: WorkCalendar) -> None:
    data = WorkCalendar.load_file(write(tmp_path, data_2027()))
    assert data.years.keys() == {2027}
    assert not prov.with_data(data).is_provisional(D("2027-05-01"))


def test_load_file_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "region": "CN",\n  "years": {,}\n}')
    with pytest.raises(ImportFileError) as info:
        WorkCalendar.load_file(path)
    assert info.value.line == 3
    assert str(path) in str(info.value)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read"):
        WorkCalendar.load_file(tmp_path / "nope.json")


def bad(**changes: Any) -> dict[str, Any]:
    data = data_2027()
    year = data["years"]["2027"]
    for key, value in changes.items():
        if key in ("holidays", "workdays"):
            year[key] = value
        else:
            data[key] = value
    return data


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ([], "$", "one JSON object"),
        (bad(region="China"), "region", "region code"),
        (bad(holiday={}), "holiday", "unknown key"),
        (bad(years=[]), "years", "object keyed by year"),
        (bad(years={"27": {}}), "years.27", "four digits"),
        (bad(years={"2027": []}), "years.2027", "holidays"),
        (bad(years={"2027": {"holiday": {}}}), "years.2027.holiday", "unknown key"),
        (bad(holidays={"2027-13-01": "元旦"}), "years.2027.holidays.2027-13-01", "YYYY-MM-DD"),
        (bad(holidays={"2026-12-31": "元旦"}), "years.2027.holidays.2026-12-31", "years.2026"),
        (bad(holidays={"2027-01-01": ""}), "years.2027.holidays.2027-01-01", "name"),
        (bad(workdays={"2027-02-09": "春节调休"}), "years.2027.workdays.2027-02-09", "Tuesday"),
        (
            bad(holidays={"2027-02-20": "春节"}, workdays={"2027-02-20": "春节调休"}),
            "years.2027.workdays.2027-02-20",
            "both",
        ),
        (bad(region="CN-65"), "overlay_of", "overlay_of"),
        ({**XINJIANG, "region": "CN"}, "region", "sub-region"),
    ],
)
def test_malformed_data_names_the_field(data: Any, field: str, message: str) -> None:
    with pytest.raises(ImportFileError, match=message) as info:
        CalendarData.from_dict(data, source="cal.json")
    assert info.value.field == field
    assert info.value.source == "cal.json"


def test_missing_years(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError) as info:
        WorkCalendar.load_file(write(tmp_path, {"region": "CN"}))
    assert info.value.field == "years"


def test_duplicate_date_is_refused() -> None:
    text = (
        '{"region": "CN", "years": {"2027": {"holidays": {"2027-01-01": "元旦", '
        '"2027-01-01": "元旦"}}}}'
    )
    with pytest.raises(ImportFileError, match="twice"):
        CalendarData.parse(text)


def test_from_dict_builds_a_calendar() -> None:
    cal = WorkCalendar.from_dict(data_2027())
    assert cal.years == frozenset({2027})
    assert cal.add_workdays(D("2027-02-04"), 1) == D("2027-02-15")  # 5..13 off, 14 a Sunday


def test_calendar_data_cannot_be_built_invalid() -> None:
    with pytest.raises(InvalidInput, match="region"):
        CalendarData(region="China", source="", years={})
    with pytest.raises(InvalidInput, match="sub-region"):
        CalendarData(region="CN", source="", years={}, overlay_of="CN")
    year = CalendarData.from_dict(data_2027()).years[2027]
    with pytest.raises(InvalidInput, match="listed under 2026"):
        CalendarData(region="CN", source="", years={2026: year})
