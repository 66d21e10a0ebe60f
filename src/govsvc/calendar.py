"""The official working-day calendar (工作日历): which days count toward a time limit.

China's working days cannot be computed from rules: every year the State Council publishes the
holiday arrangement (节假日安排), including 调休 weekend days that become working days, usually
in October–November of the year before. govsvc therefore works from *data*: a JSON file per
region, shipped for 2004–2026 (``govsvc/data/calendar/cn.json``) and updated by the operator
without a release (``govsvc calendar load FILE``). Regional ethnic holidays (e.g. Xinjiang's
肉孜节 and 古尔邦节) come as overlay files on top of the national calendar.

A day in a year without data raises :class:`~govsvc.errors.CalendarDataMissing`, unless the
calendar is *provisional*: then the statutory holidays are computed by rule, without 调休, and
every result touching that year is marked provisional so it can be recomputed when the
official arrangement is loaded.

File format (see docs/calendar.md)::

    {
      "region": "CN",
      "source": "国务院办公厅关于2026年部分节假日安排的通知",
      "years": {
        "2026": {
          "holidays": {"2026-01-01": "元旦", "2026-02-15": "春节", ...},
          "workdays": {"2026-01-04": "元旦调休", "2026-02-14": "春节调休", ...}
        }
      }
    }

``holidays`` lists every day off of the arrangement (weekend days inside a holiday block
included) with its festival's name; ``workdays`` lists the weekend days that are working days.
An overlay adds ``"overlay_of": "CN"`` and uses a sub-region code such as ``"CN-65"``.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from govsvc.errors import CalendarDataMissing, ImportFileError, InvalidInput

__all__ = ["CalendarData", "WorkCalendar", "YearData"]

#: Years the provisional rules can compute: the 清明 approximation below holds for 2001–2099
#: and ``lunardate`` covers 1900–2099.
PROVISIONAL_YEARS = range(2001, 2100)

_REGION = re.compile(r"^[A-Z]{2}(-[0-9A-Z]{1,6})?$")
_YEAR_KEY = re.compile(r"^[0-9]{4}$")
_TOP_KEYS = frozenset({"region", "source", "years", "overlay_of"})
_YEAR_KEYS = frozenset({"holidays", "workdays"})
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _frozen_map(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(sorted(value.items())))


@attrs.frozen(eq=True, hash=False)
class YearData:
    """One year's arrangement: days off (放假) and weekend working days (调休上班), with names."""

    holidays: Mapping[dt.date, str] = attrs.field(factory=dict, converter=_frozen_map)
    workdays: Mapping[dt.date, str] = attrs.field(factory=dict, converter=_frozen_map)

    def __attrs_post_init__(self) -> None:
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise InvalidInput(
                f"{both[0].isoformat()} is listed both as a holiday and as a working day; "
                f"keep it in one of the two lists"
            )


def _check_region(value: object) -> None:
    if not isinstance(value, str) or not _REGION.match(value):
        raise InvalidInput(f"region must be a code such as \"CN\" or \"CN-65\", got {value!r}")


def _merge_sources(first: str, second: str) -> str:
    parts = [p for p in (first, second) if p]
    if len(parts) == 2 and parts[0] == parts[1]:
        return parts[0]
    return "; ".join(parts)


def _years_text(years: Iterable[int]) -> str:
    ordered = sorted(years)
    if not ordered:
        return "none"
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}–{ordered[-1]}" if len(ordered) > 1 else str(ordered[0])
    return ", ".join(map(str, ordered))


@attrs.frozen(eq=True, hash=False, repr=False)
class CalendarData:
    """The contents of one calendar file: a region's arrangement for some years.

    Build it with :meth:`parse` (JSON text), :meth:`from_dict` or
    :meth:`WorkCalendar.load_file`; every one of them validates the data and raises
    :class:`~govsvc.errors.ImportFileError` naming the bad key path.
    """

    region: str = attrs.field(validator=lambda _, __, v: _check_region(v))
    source: str
    years: Mapping[int, YearData] = attrs.field(converter=_frozen_map)
    overlay_of: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.overlay_of is not None and not self.region.startswith(self.overlay_of + "-"):
            raise InvalidInput(
                f"an overlay of {self.overlay_of} needs a sub-region code such as "
                f"{self.overlay_of}-65, got {self.region!r}"
            )
        for year, data in self.years.items():
            for day in (*data.holidays, *data.workdays):
                if day.year != year:
                    raise InvalidInput(f"{day.isoformat()} is listed under {year}; move it")

    @classmethod
    def parse(cls, text: str | bytes, *, source: str = "<calendar data>") -> CalendarData:
        """Validate JSON text in the calendar format; ``source`` names the file in errors."""
        try:
            raw = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except json.JSONDecodeError as exc:
            raise ImportFileError(
                f"not valid JSON ({exc.msg}, column {exc.colno}); fix the syntax and load again",
                source=source,
                line=exc.lineno,
                field=None,
            ) from exc
        except _DuplicateKey as exc:
            raise ImportFileError(
                f"key {exc.key!r} appears twice in one object; keep one entry",
                source=source,
                line=None,
                field=None,
            ) from exc
        return cls.from_dict(raw, source=source)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<calendar data>") -> CalendarData:
        """Validate plain data (as decoded from JSON) in the calendar format."""
        return _Validator(source).calendar(data)

    def __repr__(self) -> str:
        overlay = f", overlay_of={self.overlay_of!r}" if self.overlay_of else ""
        return (
            f"CalendarData(region={self.region!r}{overlay}, "
            f"years={_years_text(self.years)!r}, source={self.source!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data in the file format (what :meth:`from_dict` reads back)."""
        out: dict[str, Any] = {"region": self.region, "source": self.source}
        if self.overlay_of is not None:
            out["overlay_of"] = self.overlay_of
        out["years"] = {
            str(year): {
                "holidays": {d.isoformat(): n for d, n in data.holidays.items()},
                "workdays": {d.isoformat(): n for d, n in data.workdays.items()},
            }
            for year, data in self.years.items()
        }
        return out

    def dumps(self) -> str:
        """JSON text in the file format, indented one entry a line so diffs stay readable."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    def updated_with(self, other: CalendarData) -> CalendarData:
        """A copy with ``other``'s years added, replacing whole years already present."""
        return attrs.evolve(
            self,
            source=_merge_sources(self.source, other.source),
            years={**self.years, **other.years},
        )


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys silently; in a calendar that hides a typo.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


@attrs.frozen
class _Validator:
    source: str

    def fail(self, field: str, message: str) -> ImportFileError:
        return ImportFileError(message, source=self.source, line=None, field=field)

    def calendar(self, data: Any) -> CalendarData:
        if not isinstance(data, dict):
            raise self.fail("$", "the file must hold one JSON object with region and years")
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise self.fail(
                unknown[0],
                f"unknown key; allowed keys are {', '.join(sorted(_TOP_KEYS))}",
            )
        region = self.region(data, "region")
        overlay_of = self.region(data, "overlay_of") if "overlay_of" in data else None
        if overlay_of is not None and not region.startswith(overlay_of + "-"):
            raise self.fail(
                "region",
                f"an overlay of {overlay_of} needs a sub-region code such as "
                f"{overlay_of}-65, got {region!r}",
            )
        if overlay_of is None and "-" in region:
            raise self.fail(
                "overlay_of",
                f"region {region!r} is a sub-region: add \"overlay_of\" naming the national "
                f"calendar it modifies, e.g. \"{region.split('-')[0]}\"",
            )
        source = data.get("source", "")
        if not isinstance(source, str):
            raise self.fail("source", "must be a string naming where the data comes from")
        if "years" not in data:
            raise self.fail("years", "missing; give an object such as {\"2027\": {...}}")
        raw_years = data["years"]
        if not isinstance(raw_years, dict):
            raise self.fail("years", "must be an object keyed by year, e.g. {\"2027\": {...}}")
        years = {}
        for key, value in raw_years.items():
            if not isinstance(key, str) or not _YEAR_KEY.match(key):
                raise self.fail(f"years.{key}", "year keys are four digits, e.g. \"2027\"")
            years[int(key)] = self.year(int(key), value, overlay=overlay_of is not None)
        return CalendarData(region=region, source=source, years=years, overlay_of=overlay_of)

    def region(self, data: dict[str, Any], key: str) -> str:
        if key not in data:
            raise self.fail(key, "missing; the national calendar is \"CN\"")
        value = data[key]
        if not isinstance(value, str) or not _REGION.match(value):
            raise self.fail(
                key, f"must be a region code such as \"CN\" or \"CN-65\", got {value!r}"
            )
        return value

    def year(self, year: int, value: Any, *, overlay: bool) -> YearData:
        where = f"years.{year}"
        if not isinstance(value, dict):
            raise self.fail(where, "must be an object with \"holidays\" and \"workdays\"")
        unknown = sorted(set(value) - _YEAR_KEYS)
        if unknown:
            raise self.fail(
                f"{where}.{unknown[0]}", "unknown key; a year has \"holidays\" and \"workdays\""
            )
        holidays = self.days(year, value.get("holidays", {}), f"{where}.holidays")
        workdays = self.days(year, value.get("workdays", {}), f"{where}.workdays")
        if not overlay:
            # A national 调休 working day is always a Saturday or Sunday; a weekday here is
            # a typo that would otherwise pass unnoticed.
            for day in workdays:
                if day.weekday() < 5:
                    raise self.fail(
                        f"{where}.workdays.{day.isoformat()}",
                        f"{day.isoformat()} is a {_WEEKDAY_NAMES[day.weekday()]}, already a "
                        f"working day; 调休 working days are weekend days — check the date",
                    )
        both = sorted(set(holidays) & set(workdays))
        if both:
            raise self.fail(
                f"{where}.workdays.{both[0].isoformat()}",
                "listed both as a holiday and as a working day; keep it in one list",
            )
        return YearData(holidays=holidays, workdays=workdays)

    def days(self, year: int, value: Any, where: str) -> dict[dt.date, str]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be an object mapping dates to names, e.g. "
                                   "{\"2027-01-01\": \"元旦\"}")
        out = {}
        for key, name in value.items():
            field = f"{where}.{key}"
            try:
                day = dt.date.fromisoformat(key)
            except ValueError:
                raise self.fail(field, "not a date; write it as YYYY-MM-DD") from None
            if len(key) != 10:
                raise self.fail(field, "write the date as YYYY-MM-DD")
            if day.year != year:
                raise self.fail(
                    field, f"{key} is not in {year}; list it under years.{day.year}"
                )
            if not isinstance(name, str) or not name.strip():
                raise self.fail(field, "give the festival's name, e.g. \"春节\" or \"春节调休\"")
            out[day] = name.strip()
        return out


# --- provisional rules ------------------------------------------------------------------------


def _lunar_to_solar(year: int, month: int, day: int) -> dt.date:
    from lunardate import LunarDate  # imported lazily: only provisional mode needs it

    lunar = LunarDate(year, month, day)
    convert = getattr(lunar, "to_solar_date", None) or lunar.toSolarDate  # lunardate < 0.3
    result: dt.date = convert()
    return result


def _qingming(year: int) -> dt.date:
    # The common 寿星 approximation of the 清明 solar term for 2001–2099:
    # day = floor(Y * 0.2422 + 4.81) - floor(Y / 4), with Y the last two digits of the year.
    y = year % 100
    return dt.date(year, 4, math.floor(y * 0.2422 + 4.81) - y // 4)


@functools.cache
def provisional_holidays(year: int) -> Mapping[dt.date, str]:
    """The statutory holidays of ``year`` computed by the rule in force since 2025.

    13 days: 元旦 Jan 1; 春节 4 days (除夕 to 初三); 清明 (solar term); 劳动节 May 1–2;
    端午 (lunar 5/5); 中秋 (lunar 8/15); 国庆节 Oct 1–3. No 调休 and no substitute days for
    holidays on weekends: those cannot be predicted. Raises CalendarDataMissing outside 2001–2099.
    """
    if year not in PROVISIONAL_YEARS:
        raise CalendarDataMissing(
            year,
            f"no working-day calendar for {year} and provisional rules only cover "
            f"{PROVISIONAL_YEARS.start}–{PROVISIONAL_YEARS.stop - 1}: load the arrangement with "
            f"`govsvc calendar load FILE`",
        )
    days: dict[dt.date, str] = {}

    def add(start: dt.date, count: int, name: str) -> None:
        for i in range(count):
            days.setdefault(start + dt.timedelta(days=i), name)

    add(dt.date(year, 1, 1), 1, "元旦")
    add(_lunar_to_solar(year, 1, 1) - dt.timedelta(days=1), 4, "春节")
    add(_qingming(year), 1, "清明")
    add(dt.date(year, 5, 1), 2, "劳动节")
    add(_lunar_to_solar(year, 5, 5), 1, "端午")
    add(_lunar_to_solar(year, 8, 15), 1, "中秋")
    add(dt.date(year, 10, 1), 3, "国庆节")
    return MappingProxyType(dict(sorted(days.items())))


# --- the calendar ------------------------------------------------------------------------------


def _as_date(d: dt.date) -> dt.date:
    # A datetime is a date, but never equal to one: normalise so lookups work.
    return d.date() if isinstance(d, dt.datetime) else d


def _day_table(national: CalendarData, overlay: CalendarData | None) -> Mapping[dt.date, bool]:
    table: dict[dt.date, bool] = {}
    for source in (national, overlay):
        if source is None:
            continue
        for year in source.years.values():
            table.update(dict.fromkeys(year.holidays, False))
            table.update(dict.fromkeys(year.workdays, True))
    return MappingProxyType(table)


@attrs.frozen(eq=False, repr=False)
class WorkCalendar:
    """Which days are working days (工作日) in a region, and arithmetic on them.

    Immutable: :meth:`with_data` and :meth:`with_overlay` return new calendars. Get the
    packaged national calendar with :meth:`default`.
    """

    national: CalendarData
    overlay: CalendarData | None = None
    provisional: bool = False
    _table: Mapping[dt.date, bool] = attrs.field(init=False, repr=False)
    # The calendar never changes, so sums of working days can be remembered: every
    # acceptance asks for the same few (today + promised/statutory/supplement limits).
    _sums: dict[tuple[dt.date, int], dt.date] = attrs.field(
        init=False, factory=dict, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        if self.national.overlay_of is not None:
            raise InvalidInput(
                f"{self.national.region} is an overlay of {self.national.overlay_of}: start from "
                f"the national calendar and add it with with_overlay()"
            )
        if self.overlay is not None and self.overlay.overlay_of != self.national.region:
            raise InvalidInput(
                f"overlay {self.overlay.region} modifies {self.overlay.overlay_of}, "
                f"not {self.national.region}"
            )
        object.__setattr__(self, "_table", _day_table(self.national, self.overlay))

    def __repr__(self) -> str:
        return (
            f"WorkCalendar(region={self.region!r}, years={_years_text(self.years)!r}, "
            f"provisional={self.provisional})"
        )

    # construction -----------------------------------------------------------------------------

    @classmethod
    def default(cls, provisional: bool = False) -> WorkCalendar:
        """The national calendar shipped with govsvc (official data 2004–2026); cached."""
        return _default_calendar(provisional)

    @classmethod
    def from_dict(cls, data: Any, *, provisional: bool = False) -> WorkCalendar:
        """A national calendar from plain data in the file format."""
        return cls(CalendarData.from_dict(data), provisional=provisional)

    @staticmethod
    def load_file(path: str | Path) -> CalendarData:
        """Read and validate a calendar file (national or overlay); apply it with
        :meth:`with_data` or :meth:`with_overlay`. Raises ImportFileError naming the key path."""
        path = Path(path)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ImportFileError(
                f"cannot read the file ({exc.strerror}); check the path",
                source=str(path),
                line=None,
                field=None,
            ) from exc
        return CalendarData.parse(text, source=str(path))

    def with_data(self, data: CalendarData) -> WorkCalendar:
        """A new calendar with ``data``'s years added; a year already present is replaced whole."""
        if data.overlay_of is not None:
            raise InvalidInput(
                f"{data.region} is a regional overlay of {data.overlay_of}; "
                f"apply it with with_overlay()"
            )
        if data.region != self.national.region:
            raise InvalidInput(
                f"this is the {self.national.region} calendar; data for {data.region} "
                f"cannot be added to it"
            )
        return attrs.evolve(self, national=self.national.updated_with(data))

    def with_overlay(self, data: CalendarData) -> WorkCalendar:
        """A new calendar where ``data``'s days override the national ones (e.g. CN-65)."""
        if data.overlay_of is None:
            raise InvalidInput(
                f"{data.region} data is a national calendar, not an overlay; apply it with "
                f"with_data() or add \"overlay_of\" to the file"
            )
        if data.overlay_of != self.national.region:
            raise InvalidInput(
                f"overlay {data.region} modifies {data.overlay_of}, not {self.national.region}"
            )
        if self.overlay is not None and self.overlay.region != data.region:
            raise InvalidInput(
                f"this calendar already carries the {self.overlay.region} overlay; start from "
                f"the national calendar to use {data.region}"
            )
        merged = data if self.overlay is None else self.overlay.updated_with(data)
        return attrs.evolve(self, overlay=merged)

    # questions --------------------------------------------------------------------------------

    @property
    def region(self) -> str:
        """The region whose working days this calendar gives, e.g. "CN" or "CN-65"."""
        return self.overlay.region if self.overlay is not None else self.national.region

    @property
    def years(self) -> frozenset[int]:
        """Years with official data (overlays do not add years)."""
        return frozenset(self.national.years)

    def has_data(self, year: int) -> bool:
        """Whether official data for ``year`` is loaded."""
        return year in self.national.years

    def is_provisional(self, d: dt.date) -> bool:
        """Whether answers about ``d`` come from provisional rules (no data, provisional mode)."""
        return self.provisional and not self.has_data(d.year)

    def is_workday(self, d: dt.date) -> bool:
        """Whether ``d`` is a working day. Raises CalendarDataMissing for a year without data
        (unless the calendar is provisional)."""
        d = _as_date(d)
        if d.year not in self.national.years:
            if not self.provisional:
                raise CalendarDataMissing(d.year)
            overridden = self._table.get(d)
            if overridden is not None:
                return overridden
            rule_holidays = provisional_holidays(d.year)  # raises outside the rules' range
            return d.weekday() < 5 and d not in rule_holidays
        overridden = self._table.get(d)
        if overridden is not None:
            return overridden
        return d.weekday() < 5

    def holiday_name(self, d: dt.date) -> str | None:
        """The festival ``d`` belongs to (e.g. "春节", "春节调休"), or None for an ordinary day."""
        d = _as_date(d)
        if not self.has_data(d.year) and not self.provisional:
            raise CalendarDataMissing(d.year)
        for data in (self.overlay, self.national):
            if data is None or d.year not in data.years:
                continue
            year = data.years[d.year]
            name = year.holidays.get(d) or year.workdays.get(d)
            if name is not None:
                return name
        if not self.has_data(d.year):
            return provisional_holidays(d.year).get(d)
        return None

    def next_workday(self, d: dt.date) -> dt.date:
        """The first working day strictly after ``d``."""
        return next(self._workdays_after(_as_date(d)))

    def add_workdays(self, d: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``d``; ``d`` itself is not counted (行政许可法 第82条).

        ``n == 0`` gives ``d`` when it is a working day, else the next working day: a
        "deadline" of zero days on a holiday moves to the next working day, like any deadline.
        ``n`` must not be negative.
        """
        d = _as_date(d)
        if n < 0:
            raise InvalidInput(f"cannot add {n} working days; give a number of 0 or more")
        found = self._sums.get((d, n))
        if found is not None:
            return found
        if n == 0:
            found = d if self.is_workday(d) else self.next_workday(d)
        else:
            found = next(day for count, day in enumerate(self._workdays_after(d), 1) if count == n)
        if len(self._sums) > 100_000:  # bounded: a long-running process asks about new days
            self._sums.clear()
        self._sums[(d, n)] = found
        return found

    def workdays_between(self, a: dt.date, b: dt.date) -> int:
        """Working days in (a, b]: ``a`` not counted, ``b`` counted; negative when ``b < a``.

        So ``add_workdays(a, workdays_between(a, b)) == b`` for a working day ``b`` after ``a``.
        """
        a, b = _as_date(a), _as_date(b)
        if b < a:
            return -self.workdays_between(b, a)
        return sum(1 for day in _days_after(a, until=b) if self.is_workday(day))

    def _workdays_after(self, d: dt.date) -> Iterator[dt.date]:
        return (day for day in _days_after(d) if self.is_workday(day))


def _days_after(d: dt.date, *, until: dt.date | None = None) -> Iterator[dt.date]:
    one = dt.timedelta(days=1)
    day = d + one
    while until is None or day <= until:
        yield day
        day += one


@functools.cache
def packaged_data() -> CalendarData:
    """The national data file shipped in the package (``govsvc/data/calendar/cn.json``)."""
    resource = importlib.resources.files("govsvc") / "data" / "calendar" / "cn.json"
    return CalendarData.parse(resource.read_bytes(), source="govsvc/data/calendar/cn.json")


@functools.cache
def _default_calendar(provisional: bool) -> WorkCalendar:
    return WorkCalendar(packaged_data(), provisional=provisional)
