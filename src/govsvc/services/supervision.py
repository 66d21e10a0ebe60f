"""The supervision service (电子监察): overdue cases, statistics, and the access log.

Supervisors read everything in their division and change nothing; every list is filtered in
SQL to the division.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from govsvc.audit import LOGS, AccessRecord, Checkpoint
from govsvc.cases import CaseState
from govsvc.deadlines import Light
from govsvc.errors import GovsvcError, InvalidInput
from govsvc.identity import PartyKey
from govsvc.policy import Action, Resource
from govsvc.services._base import Service
from govsvc.services.cases import lights_of
from govsvc.services.views import (
    CaseSummary,
    LightsReport,
    Page,
    decode_cursor,
    encode_cursor,
)
from govsvc.store import access as access_store
from govsvc.store import cases as store
from govsvc.store import chain, checkpoints
from govsvc.store.chain import ChainReport
from govsvc.store.tables import access_t, cases_t, exchange_t, outbox_t

__all__ = ["AwaitingResult", "DepartmentStatistics", "SupervisionService"]


@attrs.frozen(kw_only=True)
class DepartmentStatistics:
    """Counts of one implementing agency's cases (computed in SQL)."""

    agency: str
    by_state: Mapping[str, int]
    in_review: int
    overdue: int
    suspended: int
    provisional: int  # open cases whose due dates are provisional (calendar year missing)


@attrs.frozen(kw_only=True)
class AwaitingResult:
    """An approved case waiting for its result, and how fetching it is going.

    ``fetching`` is False when no automatic fetch is pending (the agency issues results by
    hand at the window, or 容缺 materials are still awaited).
    """

    case: CaseSummary
    attempts: int
    last_error: str | None
    next_try: dt.datetime | None
    fetching: bool


class SupervisionService(Service):
    """What supervision sees, within the principal's division."""

    def _division(self) -> Resource:
        return Resource.division_of(self.principal.division)

    def overdue(
        self, *, on: dt.date | None = None, limit: int = 500, after: str | None = None
    ) -> Page[CaseSummary]:
        """Open, running (not suspended) cases past their promised due date on ``on``, by due
        date, in keyset pages (``after`` is the ``next`` of the page before)."""
        self._authorize(Action.SUPERVISION_OVERDUE, self._division())
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 5000:
            raise InvalidInput(f"limit must be a whole number from 1 to 5000, got {limit!r}")
        day = on or self._rt.today()
        where = [
            cases_t.c.state == CaseState.IN_REVIEW.value,
            cases_t.c.due_promised < day,
            cases_t.c.suspended.is_(False),
            *self._session.cases.scope(),
        ]
        return self._by_due_date(where, limit=limit, after=after)

    def _by_due_date(self, where: list[Any], *, limit: int, after: str | None) -> Page[CaseSummary]:
        """One keyset page of cases by (promised due date, id): each page is an index range
        read, however many cases came before it."""
        if after is not None:
            due, case_id = decode_cursor(after, 2)
            try:
                day = dt.date.fromisoformat(due)
            except (TypeError, ValueError):
                raise InvalidInput(
                    f"page cursor {after!r} is not one this list gave out; start from the "
                    "first page"
                ) from None
            where = [*where, sa.tuple_(cases_t.c.due_promised, cases_t.c.id) > (day, case_id)]
        with self._rt.read() as conn:  # summaries from the columns: no document parsed
            rows = store.summaries(
                conn, where, limit=limit + 1, order=[cases_t.c.due_promised, cases_t.c.id]
            )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more and rows else None
        return Page(
            [CaseSummary.of_columns(r, mask_names=True) for r in rows],
            next=(
                encode_cursor(last.due_promised, last.id)
                if last is not None and last.due_promised is not None
                else None
            ),
        )

    def sweep_lights(self, *, on: dt.date | None = None, batch: int = 500) -> LightsReport:
        """Compute every running case's warning light (红黄绿灯) on ``on`` and store it, so
        lists filter by light in SQL (:meth:`warnings`). A case that turns yellow or red
        gets a ``supervision.warning`` outbox message (light, previous light, working days
        left, due date) for whoever notifies the department. A case whose light cannot be
        computed (a year without calendar data) is reported in ``problems`` and keeps its
        previous light. The platform runs it (the worker daily; ``govsvc lights sweep``).
        Stored lights change no case version: they are derived, never part of the case.
        """
        self._authorize(Action.LIGHTS_SWEEP, Resource.platform())
        rt = self._rt
        day = on or rt.today()
        counts = {Light.GREEN: 0, Light.YELLOW: 0, Light.RED: 0}
        changed = warned = 0
        problems: dict[str, str] = {}
        after = ""
        while True:
            with rt.read() as conn:
                rows = conn.execute(
                    sa.select(cases_t.c.id, cases_t.c.light, cases_t.c.data)
                    .where(cases_t.c.state == CaseState.IN_REVIEW.value, cases_t.c.id > after)
                    .order_by(cases_t.c.id)
                    .limit(batch)
                ).all()
                found = []
                for case_id, stored_light, data in rows:
                    case = store.case_from_data(data)
                    try:
                        version = rt.version_in(conn, case.item_code, case.item_version)
                        lights = lights_of(rt, case, version, day)
                    except GovsvcError as exc:  # e.g. CalendarDataMissing for the due year
                        problems[case_id] = str(exc)
                        continue
                    assert lights.case is not None
                    found.append((case, stored_light, lights))
            if not rows:
                break
            after = rows[-1][0]
            now = rt.now()
            with rt.write() as conn:
                for case, stored_light, lights in found:
                    current = lights.case
                    assert current is not None
                    counts[current] += 1
                    if stored_light == current.value:
                        continue
                    changed += 1
                    conn.execute(
                        sa.update(cases_t)
                        .where(cases_t.c.id == case.id)
                        .values(light=current.value, light_on=day)
                    )
                    if current is Light.GREEN or _rank(stored_light) >= _rank(current.value):
                        continue
                    warned += 1
                    deadline = case.deadline
                    conn.execute(
                        sa.insert(outbox_t).values(
                            id=secrets.token_hex(16),
                            case_id=case.id,
                            topic="supervision.warning",
                            payload={
                                "light": current.value,
                                "previous": stored_light,
                                "workdays_left": lights.workdays_left,
                                "due": deadline.promised.isoformat() if deadline else None,
                                "agency": case.agency,
                                "tracking_code": case.tracking_code,
                                "on": day.isoformat(),
                            },
                            department=case.agency,
                            created_at=now,
                            available_at=now,
                            attempts=0,
                        )
                    )
        return LightsReport(
            on=day,
            green=counts[Light.GREEN],
            yellow=counts[Light.YELLOW],
            red=counts[Light.RED],
            changed=changed,
            warned=warned,
            problems=problems,
        )

    def warnings(
        self, *, light: Light | str = Light.RED, limit: int = 100, after: str | None = None
    ) -> Page[CaseSummary]:
        """Running cases in the division whose stored light (the last :meth:`sweep_lights`)
        is ``light`` (red by default; yellow lists the yellow ones), by promised due date."""
        self._authorize(Action.SUPERVISION_OVERDUE, self._division())
        try:
            wanted = Light(light)
        except ValueError:
            raise InvalidInput(
                f"light must be one of {', '.join(x.value for x in Light)}, got {light!r}"
            ) from None
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be a whole number from 1 to 1000, got {limit!r}")
        where = [
            cases_t.c.state == CaseState.IN_REVIEW.value,
            cases_t.c.light == wanted.value,
            *self._session.cases.scope(),
        ]
        return self._by_due_date(where, limit=limit, after=after)

    def provisional(self, *, limit: int = 100, after: str | None = None) -> Page[CaseSummary]:
        """Running cases in the division whose due dates are provisional (a year without the
        State Council's calendar: counted on rules until it is loaded), by promised due date."""
        self._authorize(Action.SUPERVISION_OVERDUE, self._division())
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be a whole number from 1 to 1000, got {limit!r}")
        where = [
            cases_t.c.state == CaseState.IN_REVIEW.value,
            cases_t.c.due_provisional.is_(True),
            *self._session.cases.scope(),
        ]
        return self._by_due_date(where, limit=limit, after=after)

    def awaiting_results(self, *, limit: int = 500) -> list[AwaitingResult]:
        """Approved cases whose result is not recorded yet, oldest decision first, with the
        state of the work fetching it (attempts, last error, next try) — what an operator
        looks at when a department's result service is down."""
        self._authorize(Action.SUPERVISION_OVERDUE, self._division())
        fetch = (
            sa.select(
                outbox_t.c.case_id,
                outbox_t.c.attempts,
                outbox_t.c.last_error,
                outbox_t.c.available_at,
            )
            .where(outbox_t.c.topic == "result.fetch", outbox_t.c.delivered_at.is_(None))
            .subquery()
        )
        stmt = (
            sa.select(cases_t.c.data, fetch.c.attempts, fetch.c.last_error, fetch.c.available_at)
            .outerjoin(fetch, fetch.c.case_id == cases_t.c.id)
            .where(cases_t.c.state == CaseState.APPROVED.value, *self._session.cases.scope())
            .order_by(cases_t.c.closed_at, cases_t.c.accepted_at, cases_t.c.id)
            .limit(limit)
        )
        with self._rt.read() as conn:
            rows = conn.execute(stmt).all()
        return [
            AwaitingResult(
                case=CaseSummary.of(store.case_from_data(data), mask_names=True),
                attempts=attempts or 0,
                last_error=error,
                next_try=chain.as_utc(due) if due is not None else None,
                fetching=due is not None,
            )
            for data, attempts, error, due in rows
        ]

    def statistics(self, *, on: dt.date | None = None) -> list[DepartmentStatistics]:
        """Per implementing agency: cases by state, in review, overdue, suspended, provisional."""
        self._authorize(Action.SUPERVISION_STATISTICS, self._division())
        day = on or self._rt.today()
        scope = self._session.cases.scope()
        overdue = sa.and_(
            cases_t.c.state == CaseState.IN_REVIEW.value,
            cases_t.c.due_promised < day,
            cases_t.c.suspended.is_(False),
        )
        stmt = (
            sa.select(
                cases_t.c.agency,
                cases_t.c.state,
                sa.func.count().label("n"),
                sa.func.sum(sa.case((overdue, 1), else_=0)).label("overdue"),
                sa.func.sum(sa.case((cases_t.c.suspended.is_(True), 1), else_=0)).label("susp"),
                sa.func.sum(sa.case((cases_t.c.due_provisional.is_(True), 1), else_=0)).label(
                    "prov"
                ),
            )
            .where(*scope)
            .group_by(cases_t.c.agency, cases_t.c.state)
        )
        totals: dict[str, dict[str, Any]] = {}
        with self._rt.read() as conn:
            for agency, state, n, late, suspended, provisional in conn.execute(stmt):
                entry = totals.setdefault(
                    agency, {"by_state": {}, "overdue": 0, "suspended": 0, "provisional": 0}
                )
                entry["by_state"][state] = int(n)
                entry["overdue"] += int(late or 0)
                if state == CaseState.IN_REVIEW.value:
                    entry["suspended"] += int(suspended or 0)
                    entry["provisional"] += int(provisional or 0)
        return [
            DepartmentStatistics(
                agency=agency,
                by_state=entry["by_state"],
                in_review=entry["by_state"].get(CaseState.IN_REVIEW.value, 0),
                overdue=entry["overdue"],
                suspended=entry["suspended"],
                provisional=entry["provisional"],
            )
            for agency, entry in sorted(totals.items())
        ]

    def access_log(
        self,
        *,
        subject: str | PartyKey | None = None,
        principal_id: str | None = None,
        outcome: str | None = None,
        limit: int = 100,
    ) -> list[AccessRecord]:
        """The access log, newest first: reads of personal data and refused attempts."""
        if subject is not None and not isinstance(subject, PartyKey):
            self._arg(subject, "subject")
        self._arg(principal_id, "principal_id", optional=True)
        self._arg(outcome, "outcome", optional=True)
        self._authorize(Action.SUPERVISION_ACCESS_LOG, Resource.platform())
        where: list[Any] = []
        if subject is not None:
            where.append(access_t.c.subject == str(subject))
        if principal_id is not None:
            where.append(access_t.c.principal_id == principal_id)
        if outcome is not None:
            where.append(access_t.c.outcome == outcome)
        with self._rt.read() as conn:
            return access_store.records(conn, where, limit=limit)

    def verify_access_log(self, *, witness: Iterable[Checkpoint] = ()) -> ChainReport:
        """Check the access log's hash chain against its keyed checkpoints (the stored ones
        and ``witness``, those an outside witness kept); reports the first altered, missing
        or rewritten record, and up to which record a checkpoint vouches (``anchored``)."""
        self._authorize(Action.SUPERVISION_ACCESS_LOG, Resource.platform())
        with self._rt.read() as conn:
            report = access_store.verify(conn)
            return checkpoints.check(conn, access_t, report, witness, self._rt.checkpoint_keys)

    def checkpoint(self) -> list[Checkpoint]:
        """Checkpoint the head of each chained log (exchange log, access log) under the
        operator's key; returns the new checkpoints, to hand to an outside witness
        (``Checkpoint.to_dict``). A log whose head has a checkpoint already gets none.
        The worker runs it every minute; ``govsvc logs checkpoint`` runs it by hand."""
        self._authorize(Action.LOG_CHECKPOINT, Resource.platform())
        rt = self._rt
        if not rt.checkpoint_keys:
            raise InvalidInput(
                "no checkpoint key: open the platform with checkpoint_keys={key_id: secret} "
                "(at least 16 random bytes, kept outside the database; the host reads "
                "GOVSVC_CHECKPOINT_KEY)"
            )
        key_id, key = next(iter(rt.checkpoint_keys.items()))
        now = rt.now()
        made: list[Checkpoint] = []
        for table in (exchange_t, access_t):
            with rt.write() as conn:
                point = checkpoints.take(conn, table, key_id=key_id, key=key, now=now)
            if point is not None:
                made.append(point)
        return made

    def checkpoints(self, log: str, *, after: int = 0, limit: int = 1000) -> list[Checkpoint]:
        """The stored checkpoints of ``log`` (``"exchange_log"`` or ``"access_log"``) above
        record ``after``, oldest first: what a witness fetches to keep."""
        self._authorize(Action.DEPARTMENT_VERIFY_LOG, Resource.platform())
        if log not in LOGS:
            raise InvalidInput(f"log must be one of {', '.join(LOGS)}, got {log!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10000:
            raise InvalidInput(f"limit must be a whole number from 1 to 10000, got {limit!r}")
        with self._rt.read() as conn:
            return checkpoints.stored(conn, log, after=after, limit=limit)


def _rank(light: str | None) -> int:
    return {None: 0, "green": 0, "yellow": 1, "red": 2}.get(light, 0)
