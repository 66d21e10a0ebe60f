"""Working-day data loaded by operators, stored per region and year for every process."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from govsvc.calendar import CalendarData
from govsvc.store.tables import calendar_t

__all__ = ["revision", "store_years", "stored_years"]


def store_years(conn: sa.Connection, data: CalendarData, now: dt.datetime) -> None:
    """Store (or replace) each year of ``data`` for its region."""
    whole = data.to_dict()
    for year in sorted(data.years):
        one = {**whole, "years": {str(year): whole["years"][str(year)]}}
        conn.execute(
            sa.delete(calendar_t).where(
                calendar_t.c.region == data.region, calendar_t.c.year == year
            )
        )
        conn.execute(
            sa.insert(calendar_t).values(
                region=data.region, year=year, source=data.source[:500], loaded_at=now, data=one
            )
        )


def stored_years(conn: sa.Connection, regions: Sequence[str]) -> list[tuple[str, CalendarData]]:
    """The stored years of ``regions``, oldest first, as (region, data)."""
    rows = conn.execute(
        sa.select(calendar_t.c.region, calendar_t.c.data)
        .where(calendar_t.c.region.in_(list(regions)))
        .order_by(calendar_t.c.year)
    ).all()
    return [(region, CalendarData.from_dict(data, source="database")) for region, data in rows]


def revision(conn: sa.Connection, regions: Sequence[str]) -> tuple[int, str]:
    """A cheap fingerprint of the stored years of ``regions`` (how many, last loaded): it
    changes whenever an operator loads or replaces a year, in any process."""
    count, last = conn.execute(
        sa.select(sa.func.count(), sa.func.max(calendar_t.c.loaded_at)).where(
            calendar_t.c.region.in_(list(regions))
        )
    ).one()
    return int(count), str(last)
