"""Time limits (办理时限), due dates and warning lights (电子监察 红黄绿灯).

The rules come from the Administrative Licensing Law (行政许可法) and local practice:

* a limit counts working days (工作日) excluding statutory holidays (第82条), on the official
  calendar (:class:`~govsvc.calendar.WorkCalendar`);
* the start day (the day of acceptance, 受理日) is not counted;
* a deadline that falls on a non-working day moves to the next working day;
* suspensions (挂起: hearings, expert review, inspection, public notice, waiting for
  corrections — 第45条) stop the clock: the working days they cover are added to the limit;
* an approved extension (延期, e.g. +10 working days under 第42条) is added to the limit.

Every due date says whether it is *provisional* (computed on a year without official data in
provisional mode) so the caller can recompute it once the year's arrangement is loaded.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Iterable

import attrs

from govsvc.calendar import WorkCalendar
from govsvc.errors import InvalidInput

__all__ = [
    "DueDate",
    "Light",
    "LightThresholds",
    "TimeLimit",
    "TimeUnit",
    "due_date",
    "light",
    "suspended_workdays",
    "workdays_left",
]


class TimeUnit(enum.Enum):
    """The unit a time limit is counted in (时限单位)."""

    WORKDAY = "工作日"
    NATURAL_DAY = "自然日"
    HOUR = "小时"


def _non_negative_int(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{attribute.name} must be a whole number, got {value!r}")
    if value < 0:
        raise InvalidInput(f"{attribute.name} must be 0 or more, got {value}")


def _to_unit(value: TimeUnit | str) -> TimeUnit:
    try:
        return TimeUnit(value)
    except ValueError:
        units = ", ".join(u.value for u in TimeUnit)
        raise InvalidInput(f"time unit {value!r} should be one of {units}") from None


_LIMIT_TEXT = re.compile(r"^\s*(\d+)\s*(\S+)\s*$")


@attrs.frozen
class TimeLimit:
    """A legal or promised time limit (法定/承诺办结时限), e.g. ``TimeLimit(20, TimeUnit.WORKDAY)``.

    ``str()`` gives "20 工作日"; :meth:`parse` reads that form back.
    """

    amount: int = attrs.field(validator=_non_negative_int)
    unit: TimeUnit = attrs.field(default=TimeUnit.WORKDAY, converter=_to_unit)

    @classmethod
    def parse(cls, text: str) -> TimeLimit:
        """Read "20 工作日", "5自然日" or "24 小时"."""
        match = _LIMIT_TEXT.match(text)
        units = ", ".join(u.value for u in TimeUnit)
        if match is None:
            raise InvalidInput(
                f"time limit {text!r} should be a number and a unit ({units}), e.g. \"20 工作日\""
            )
        return cls(int(match.group(1)), _to_unit(match.group(2)))

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value}"


@attrs.frozen
class DueDate:
    """When a limit expires (the last day to act), and whether that rests on provisional rules."""

    date: dt.date
    provisional: bool = False


def due_date(
    calendar: WorkCalendar,
    start: dt.date,
    limit: TimeLimit,
    *,
    suspended_workdays: int = 0,
    extension_workdays: int = 0,
) -> DueDate:
    """The due date of ``limit`` counted from ``start`` (the start day itself not counted).

    * 工作日: the ``amount + suspended + extension``-th working day after ``start``.
    * 自然日: ``start + amount`` calendar days, moved to the next working day if that is not
      one; then suspended and extension working days are added on top.
    * 小时: ``ceil(amount / 24)`` calendar days (a 24-hour limit accepted on a Friday is due
      Saturday, so Monday), then as 自然日. Sub-day precision is left to the caller.

    Raises CalendarDataMissing if a day needed lies in a year without data and the calendar is
    not provisional.
    """
    for name, value in (("suspended_workdays", suspended_workdays),
                        ("extension_workdays", extension_workdays)):
        if value < 0:
            raise InvalidInput(f"{name} must be 0 or more, got {value}")
    added = suspended_workdays + extension_workdays
    if limit.unit is TimeUnit.WORKDAY:
        end = calendar.add_workdays(start, limit.amount + added)
    else:
        days = limit.amount if limit.unit is TimeUnit.NATURAL_DAY else math.ceil(limit.amount / 24)
        # add_workdays(x, 0) is x or the next working day: the next-working-day rule.
        end = calendar.add_workdays(start + dt.timedelta(days=days), added)
    return DueDate(end, _touches_provisional(calendar, start, end))


def _touches_provisional(calendar: WorkCalendar, first: dt.date, last: dt.date) -> bool:
    first, last = min(first, last), max(first, last)
    return any(
        calendar.is_provisional(dt.date(year, 1, 1)) for year in range(first.year, last.year + 1)
    )


def suspended_workdays(
    calendar: WorkCalendar,
    periods: Iterable[tuple[dt.date, dt.date | None]],
    *,
    today: dt.date,
) -> int:
    """Working days the clock was stopped (挂起) by ``periods`` of ``(start, end)``.

    Like the start of a limit, the day a suspension starts still counts toward the limit; the
    clock is stopped for each working day ``d`` with ``start < d <= end``, and runs again the
    day after ``end``. ``end=None`` means still suspended: counted up to ``today``. Overlapping
    periods count each day once.
    """
    stopped: set[dt.date] = set()
    for start, end in periods:
        if end is not None and end < start:
            raise InvalidInput(
                f"suspension ends {end.isoformat()} before it starts {start.isoformat()}; "
                f"check the dates"
            )
        last = today if end is None else end
        day = start + dt.timedelta(days=1)
        while day <= last:
            if day not in stopped and calendar.is_workday(day):
                stopped.add(day)
            day += dt.timedelta(days=1)
    return len(stopped)


class Light(enum.Enum):
    """Warning light of electronic supervision (电子监察): 绿灯 normal, 黄灯 near, 红灯 overdue."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


def _fraction(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 < value <= 1:
        raise InvalidInput(f"{attribute.name} must be more than 0 and at most 1, got {value}")


@attrs.frozen
class LightThresholds:
    """When a case turns yellow: few working days left, or most of the limit used."""

    yellow_workdays_left: int = attrs.field(default=2, validator=_non_negative_int)
    yellow_fraction_used: float = attrs.field(default=0.8, converter=float, validator=_fraction)


def workdays_left(calendar: WorkCalendar, today: dt.date, due: dt.date) -> int:
    """Working days after ``today`` up to and including ``due``; 0 on the due date itself,
    negative (working days overdue) after it."""
    return calendar.workdays_between(today, due)


def light(
    calendar: WorkCalendar,
    *,
    start: dt.date,
    due: dt.date,
    today: dt.date,
    thresholds: LightThresholds = LightThresholds(),
    suspended_workdays: int = 0,
) -> Light:
    """The warning light for a case (or step) started ``start`` and due ``due`` (adjusted for
    suspensions and extensions, see :func:`due_date`).

    Red after ``due``. Yellow when at most ``thresholds.yellow_workdays_left`` working days are
    left (so always on the due date), or when the working days used reach
    ``thresholds.yellow_fraction_used`` of the limit. Pass the ``suspended_workdays`` already
    elapsed so suspended days count neither as used nor as part of the limit.
    """
    if today > due:
        return Light.RED
    if workdays_left(calendar, today, due) <= thresholds.yellow_workdays_left:
        return Light.YELLOW
    total = calendar.workdays_between(start, due) - suspended_workdays
    used = calendar.workdays_between(start, today) - suspended_workdays
    if total <= 0 or used / total >= thresholds.yellow_fraction_used:
        return Light.YELLOW
    return Light.GREEN
