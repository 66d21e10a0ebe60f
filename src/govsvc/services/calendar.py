"""The calendar service: loading official working-day years and regional overlays (工作日)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from govsvc.calendar import CalendarData, WorkCalendar
from govsvc.cases import Case, CaseState
from govsvc.errors import CalendarDataMissing, InvalidInput
from govsvc.policy import Action, Resource
from govsvc.services._base import Service
from govsvc.store import calendar as store
from govsvc.store import cases as case_store
from govsvc.store.tables import cases_t

__all__ = ["CalendarService"]


class CalendarService(Service):
    """Operators load the State Council's yearly arrangement and regional overlays here."""

    def load(self, source: str | Path | CalendarData) -> list[int]:
        """Load working-day data for new years, or a regional overlay (a calendar file).

        National years (the State Council's arrangement) and regional overlays (e.g. CN-65
        for Xinjiang's ethnic holidays, ``"overlay_of": "CN"``) are stored in the database,
        shared by every process of the platform. A platform opened with
        ``calendar_region`` equal to the overlay's region applies it at once. In the same
        transaction the provisional deadlines of open cases are recomputed on the new data,
        each with a ``deadline_recomputed`` event. Returns the years loaded.
        """
        self._authorize(Action.CALENDAR_LOAD, Resource.platform())
        rt = self._rt
        data = source if isinstance(source, CalendarData) else WorkCalendar.load_file(source)
        current = rt.calendar
        national = current.national.region
        if data.overlay_of is None:
            calendar = current.with_data(data)  # refuses a foreign region
        elif data.overlay_of != national:
            raise InvalidInput(
                f"{data.region} overlays {data.overlay_of}, but this platform's calendar is "
                f"{national}; load the {data.overlay_of} calendar first"
            )
        elif data.region == rt.calendar_region:
            calendar = current.with_overlay(data)  # merged with what it carries
        else:
            calendar = current  # stored for the platforms of that region
        now = rt.now()
        with rt.write() as conn:
            store.store_years(conn, data, now)
            rescheduled = self._recompute_provisional(conn, calendar, now)
        rt.set_calendar(calendar)
        for case in rescheduled:
            rt.remember(case)
        return sorted(data.years)

    def refresh(self) -> int:
        """Pick up years loaded by other processes, and recompute the provisional deadlines
        of open cases that the calendar now computes differently. Returns how many cases were
        rescheduled (each with a ``deadline_recomputed`` event).

        ``load`` does both at once in the process that loads; this is the job for everyone
        else: a process that wrote a provisional deadline moments before another loaded the
        year leaves it for this pass (the worker runs it; ``govsvc calendar refresh``).
        """
        self._authorize(Action.CALENDAR_LOAD, Resource.platform())
        rt = self._rt
        rt.refresh_calendar()
        now = rt.now()
        with rt.write() as conn:
            rescheduled = self._recompute_provisional(conn, rt.calendar, now)
        for case in rescheduled:
            rt.remember(case)
        return len(rescheduled)

    def _recompute_provisional(
        self, conn: sa.Connection, calendar: WorkCalendar, now: dt.datetime
    ) -> list[Case]:
        rt = self._rt
        rows = (
            conn.execute(
                sa.select(cases_t.c.data).where(
                    cases_t.c.due_provisional.is_(True),
                    cases_t.c.state == CaseState.IN_REVIEW.value,
                )
            )
            .scalars()
            .all()
        )
        rescheduled = []
        actor = self.principal.actor
        for data in rows:
            case = case_store.case_from_data(data)
            version = rt.version_in(conn, case.item_code, case.item_version)
            try:
                deadline = rt.deadline(case, version, calendar=calendar)
            except CalendarDataMissing:
                continue  # still no data for its year: it stays provisional, as it was
            if deadline == case.deadline:
                continue  # the new data does not change it
            step = case.reschedule(deadline, now=now, actor=actor)
            rescheduled.append(case_store.save_step(conn, step, previous=case, now=now).case)
        return rescheduled
