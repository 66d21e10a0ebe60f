"""The indicators of the national evaluation of government services (政务服务能力评估).

``session.indicators.report(since=…, until=…, department=…, division=…)`` computes, for a
period and optionally one implementing department or a division inside the principal's:

- from the catalogue (the newest version of each item published by the period's end): the
  share of items fully online (全程网办, online depth Ⅳ), the share needing at most one visit
  (最多跑一次), and the compression of promised time limits (1 − Σ promised / Σ statutory);
- from the cases: the online acceptance rate (网上受理率: cases accepted in the period that
  were applied for online) and the average handling time in working days (acceptance to the
  decision, for cases handled to a decision in the period);
- from the ratings (好差评): the satisfaction distribution over the five levels, the
  satisfaction rate, and the bad ratings' rectification rate and timeliness.

Every number is a SQL aggregate (``count``/``sum`` … ``GROUP BY``); nothing loads cases, items
or ratings into memory. The one step done in Python is turning days into working days: the
cases are counted per acceptance day and per decision day in SQL, and the sum of working days
is ``Σ closing-day count × W(day) − Σ acceptance-day count × W(day)``, where ``W`` is the
cumulative working-day count of the platform's calendar — a few hundred days per period,
however many cases there are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from govsvc._frozen import FrozenMap
from govsvc.calendar import WorkCalendar
from govsvc.cases import CHINA, CaseState
from govsvc.catalogue import Channel, OnlineDepth
from govsvc.deadlines import TimeUnit
from govsvc.errors import CalendarDataMissing, InvalidInput
from govsvc.identity import CreditCode
from govsvc.policy import Action, Resource, division_covers, significant_prefix
from govsvc.principals import PrincipalKind
from govsvc.ratings import RatingLevel
from govsvc.services._base import Service
from govsvc.store import ratings as rating_store
from govsvc.store.tables import cases_t, ratings_t, versions_t

__all__ = ["Indicator", "IndicatorReport", "IndicatorService"]

MAX_DAYS = 3660  # a period of at most ten years: the working-day step stays small
HANDLED = (CaseState.COMPLETED.value, CaseState.DENIED.value)  # 办结: handled to a decision
ONLINE = tuple(c.value for c in Channel if c.online)


@attrs.frozen(kw_only=True)
class Indicator:
    """One indicator: its value and the numerator and denominator it is computed from.

    ``value`` is ``numerator / denominator`` (None when the denominator is 0: nothing to
    measure in the period). ``unit`` is ``"share"`` (a fraction from 0 to 1; pages show it as
    a percentage) or ``"workdays"`` (an average in working days). ``note`` says what made a
    value provisional or missing, e.g. a year without calendar data.
    """

    key: str
    name: str  # the evaluation's Chinese name, e.g. 全程网办率
    numerator: float
    denominator: float
    unit: str = "share"
    note: str = ""

    @property
    def value(self) -> float | None:
        if not self.denominator:
            return None
        return self.numerator / self.denominator


@attrs.frozen(kw_only=True)
class IndicatorReport:
    """The indicators of one period (``since`` … ``until``, both days included, China time)
    for a division, or one department of it (``department``, a credit code)."""

    since: dt.date
    until: dt.date
    division: str | None  # the division measured (None: the whole platform)
    department: str | None  # one department's indicators, or None for all in the division
    items: int  # items in the catalogue at the period's end
    fully_online: Indicator  # items at online depth Ⅳ / items
    one_visit: Indicator  # items with at most one visit / items
    time_compression: Indicator  # Σ (statutory − promised) / Σ statutory, in days
    online_acceptance: Indicator  # cases accepted online / cases accepted
    handling_time: Indicator  # Σ working days acceptance → decision / cases decided
    satisfaction: Indicator  # 非常满意 + 满意 + 基本满意 / counted ratings
    rectification: Indicator  # bad ratings rectified and answered / bad ratings
    rectification_timeliness: Indicator  # answered by the due date / bad ratings
    levels: Mapping[RatingLevel, int]  # the satisfaction distribution (counted ratings)

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        """Every indicator, in the order the evaluation lists them."""
        return (
            self.fully_online,
            self.online_acceptance,
            self.one_visit,
            self.time_compression,
            self.handling_time,
            self.satisfaction,
            self.rectification,
            self.rectification_timeliness,
        )


class IndicatorService(Service):
    """The evaluation's indicators, for supervisors of a division (read-only)."""

    def report(
        self,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
        department: str | None = None,
        division: str | None = None,
    ) -> IndicatorReport:
        """The indicators of the period ``since`` … ``until`` (default: from 1 January of
        ``until``'s year to today), for the principal's division, a division inside it, or
        one implementing department (its items, its cases, the ratings it answers for).

        Bad input (a reversed or over-long period, a malformed code, a division outside
        the supervisor's) is refused with :class:`InvalidInput` or ``PermissionDenied``.
        """
        rt = self._rt
        end_day = _day(until, "until") if until is not None else rt.today()
        start_day = _day(since, "since") if since is not None else end_day.replace(month=1, day=1)
        if start_day > end_day:
            raise InvalidInput(
                f"the period starts on {start_day} after it ends on {end_day}: give since ≤ until"
            )
        if (end_day - start_day).days >= MAX_DAYS:
            raise InvalidInput(
                f"the period {start_day} … {end_day} is longer than ten years: ask for a "
                "shorter one"
            )
        principal = self.principal
        code = None
        if department is not None:
            code = CreditCode.parse(self._arg(department, "department", max_length=40)).number
        area = self._area(division)
        if area is None and code is None and principal.kind is PrincipalKind.SUPERVISOR:
            area = principal.division
        if code is not None:
            resource = self._session.resource(code)
            if area is not None and not division_covers(area, resource.division):
                raise InvalidInput(
                    f"department {code} lies in division {resource.division}, not in {area}: "
                    "name a department of the division, or no division"
                )
            self._authorize(Action.INDICATORS_REPORT, resource)
        elif area is not None:
            self._authorize(Action.INDICATORS_REPORT, Resource.division_of(area))
        else:
            self._authorize(Action.INDICATORS_REPORT, Resource.platform())
        start = dt.datetime.combine(start_day, dt.time(), CHINA).astimezone(dt.UTC)
        end = dt.datetime.combine(end_day + dt.timedelta(days=1), dt.time(), CHINA).astimezone(
            dt.UTC
        )
        with rt.read() as conn:
            items = self._items(conn, end, code, area)
            accepted, online = self._acceptance(conn, start, end, code, area)
            handled = self._handling(conn, start, end, code, area)
            ratings = self._ratings(conn, start_day, end_day, code, area)
        total, depth_iv, one_visit, statutory, promised = items
        levels, bad, rectified, on_time = ratings
        counted = sum(levels.values())
        satisfied = sum(n for level, n in levels.items() if level.is_satisfied)
        return IndicatorReport(
            since=start_day,
            until=end_day,
            division=area,
            department=code,
            items=total,
            fully_online=Indicator(
                key="fully_online", name="全程网办率", numerator=depth_iv, denominator=total
            ),
            one_visit=Indicator(
                key="one_visit", name="最多跑一次比例", numerator=one_visit, denominator=total
            ),
            time_compression=Indicator(
                key="time_compression",
                name="承诺时限压缩比例",
                numerator=statutory - promised,
                denominator=statutory,
                note="时限按天合计（小时折合为天）",
            ),
            online_acceptance=Indicator(
                key="online_acceptance", name="网上受理率", numerator=online, denominator=accepted
            ),
            handling_time=handled,
            satisfaction=Indicator(
                key="satisfaction", name="满意率", numerator=satisfied, denominator=counted
            ),
            rectification=Indicator(
                key="rectification", name="差评整改率", numerator=rectified, denominator=bad
            ),
            rectification_timeliness=Indicator(
                key="rectification_timeliness",
                name="差评整改及时率",
                numerator=on_time,
                denominator=bad,
            ),
            levels=FrozenMap({level: levels.get(level, 0) for level in RatingLevel}),
        )

    def _area(self, division: str | None) -> str | None:
        if division is None:
            return None
        text = self._arg(division, "division", max_length=12).strip()
        if not text.isdigit() or len(text) not in (6, 9, 12):
            raise InvalidInput(
                f"division {division!r} should be an administrative division code of 6, 9 or "
                "12 digits, e.g. 230100"
            )
        return text

    # --- the catalogue -----------------------------------------------------------------------

    def _items(
        self, conn: sa.Connection, end: dt.datetime, code: str | None, area: str | None
    ) -> tuple[int, int, int, float, float]:
        v = versions_t.c
        where: list[Any] = [v.published_at < end]
        if code is not None:
            where.append(v.item_code.startswith(code))  # 实施编码 = the agency's credit code + …
        elif area is not None:
            # The credit code's characters 3 to 8 are the registering division (as cases').
            where.append(v.item_code.like("__" + significant_prefix(area) + "%"))
        newest = (
            sa.select(v.item_code, sa.func.max(v.version).label("version"))
            .where(*where)
            .group_by(v.item_code)
            .subquery()
        )
        data = versions_t.c.data
        depth = data["online_depth"].as_string()
        visits = data["visits"].as_integer()

        def days(limit: str) -> Any:
            amount = data[(limit, "amount")].as_float()
            unit = data[(limit, "unit")].as_string()
            return sa.func.sum(
                sa.case((unit == TimeUnit.HOUR.value, amount / 24.0), else_=amount)
            )

        stmt = sa.select(
            sa.func.count(),
            sa.func.sum(sa.case((depth == OnlineDepth.IV.value, 1), else_=0)),
            sa.func.sum(sa.case((visits <= 1, 1), else_=0)),
            days("statutory_limit"),
            days("promised_limit"),
        ).select_from(
            versions_t.join(
                newest,
                sa.and_(v.item_code == newest.c.item_code, v.version == newest.c.version),
            )
        )
        total, iv, one, statutory, promised = conn.execute(stmt).one()
        return int(total), int(iv or 0), int(one or 0), float(statutory or 0), float(promised or 0)

    # --- the cases ---------------------------------------------------------------------------

    @staticmethod
    def _case_scope(code: str | None, area: str | None) -> list[Any]:
        if code is not None:
            return [cases_t.c.agency == code]
        if area is not None:
            return [cases_t.c.division.startswith(significant_prefix(area))]
        return []

    def _acceptance(
        self,
        conn: sa.Connection,
        start: dt.datetime,
        end: dt.datetime,
        code: str | None,
        area: str | None,
    ) -> tuple[int, int]:
        c = cases_t.c
        stmt = sa.select(
            sa.func.count(), sa.func.sum(sa.case((c.channel.in_(ONLINE), 1), else_=0))
        ).where(c.accepted_at >= start, c.accepted_at < end, *self._case_scope(code, area))
        accepted, online = conn.execute(stmt).one()
        return int(accepted), int(online or 0)

    def _handling(
        self,
        conn: sa.Connection,
        start: dt.datetime,
        end: dt.datetime,
        code: str | None,
        area: str | None,
    ) -> Indicator:
        c = cases_t.c
        where = [
            c.state.in_(HANDLED),
            c.accepted_at.is_not(None),
            c.closed_at >= start,
            c.closed_at < end,
            *self._case_scope(code, area),
        ]
        dialect = conn.dialect.name
        counts: dict[dt.date, int] = {}  # + cases closed that day, − cases accepted that day
        cases = 0
        for column, sign in ((c.closed_at, 1), (c.accepted_at, -1)):
            day = _china_day(column, dialect)
            for value, n in conn.execute(
                sa.select(day, sa.func.count()).where(*where).group_by(day)
            ):
                when = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
                counts[when] = counts.get(when, 0) + sign * int(n)
                if sign > 0:
                    cases += int(n)
        note = ""
        try:
            total, provisional = _workday_sum(self._rt.calendar, counts)
        except CalendarDataMissing as exc:
            return Indicator(
                key="handling_time",
                name="平均办理时间",
                numerator=0,
                denominator=0,
                unit="workdays",
                note=f"缺少 {exc.year} 年的工作日数据，无法计算；请导入该年节假日安排",
            )
        if provisional:
            note = "含节假日安排尚未发布年份的暂定工作日"
        return Indicator(
            key="handling_time",
            name="平均办理时间",
            numerator=total,
            denominator=cases,
            unit="workdays",
            note=note,
        )

    # --- the ratings -------------------------------------------------------------------------

    def _ratings(
        self,
        conn: sa.Connection,
        start: dt.date,
        end: dt.date,
        code: str | None,
        area: str | None,
    ) -> tuple[dict[RatingLevel, int], int, int, int]:
        t = ratings_t.c
        where: list[Any] = [t.rated_on >= start, t.rated_on <= end]
        if code is not None:
            where.append(t.department == code)
        elif area is not None:
            where.append(t.division.startswith(significant_prefix(area)))
        levels: dict[RatingLevel, int] = {}
        bad = rectified = on_time = 0
        rows = rating_store.statistics(conn, by="department", where=where, today=self._rt.today())
        for _group, level, n, n_bad, n_rect, n_on_time, *_rest in rows:
            if n:
                levels[RatingLevel[level]] = levels.get(RatingLevel[level], 0) + int(n)
            bad += int(n_bad or 0)
            rectified += int(n_rect or 0)
            on_time += int(n_on_time or 0)
        return levels, bad, rectified, on_time


def _day(value: object, name: str) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise InvalidInput(f"{name} is a date (datetime.date), got {value!r}")
    return value


def _china_day(column: Any, dialect: str) -> Any:
    """The calendar day in China of a stored UTC timestamp, as SQL (no daylight saving)."""
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone("Asia/Shanghai", column), sa.Date)
    # SQLite keeps the UTC wall time as text; date() shifts it by the fixed offset.
    return sa.func.date(column, "+8 hours")


def _workday_sum(calendar: WorkCalendar, counts: Mapping[dt.date, int]) -> tuple[int, bool]:
    """Σ n(day) × W(day), with W the working days after the earliest day up to ``day``:
    the total working days from acceptance to decision of the cases counted (the acceptance
    day itself not counted, like every deadline). True as second value when a provisional
    year was used."""
    total = cumulative = 0
    provisional = False
    previous: dt.date | None = None
    for day in sorted(d for d, n in counts.items() if n):
        if previous is not None:
            cumulative += calendar.workdays_between(previous, day)
        provisional = provisional or calendar.is_provisional(day)
        total += counts[day] * cumulative
        previous = day
    return total, provisional
