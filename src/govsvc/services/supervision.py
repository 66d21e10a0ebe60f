"""The supervision service (电子监察): overdue cases, statistics, and the access log.

Supervisors read everything in their division and change nothing; every list is filtered in
SQL to the division.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from govsvc.audit import LOGS, AccessRecord, Checkpoint
from govsvc.cases import CaseState
from govsvc.errors import InvalidInput
from govsvc.identity import PartyKey
from govsvc.policy import Action, Resource
from govsvc.services._base import Service
from govsvc.services.views import CaseSummary, Page
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

    def overdue(self, *, on: dt.date | None = None, limit: int = 500) -> Page[CaseSummary]:
        """Open, running (not suspended) cases past their promised due date on ``on``."""
        self._authorize(Action.SUPERVISION_OVERDUE, self._division())
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 5000:
            raise InvalidInput(f"limit must be a whole number from 1 to 5000, got {limit!r}")
        day = on or self._rt.today()
        with self._rt.read() as conn:
            cases = store.iter_cases(
                conn,
                [
                    cases_t.c.state == CaseState.IN_REVIEW.value,
                    cases_t.c.due_promised < day,
                    cases_t.c.suspended.is_(False),
                    *self._session.cases.scope(),
                ],
                limit=limit,
                order=[cases_t.c.due_promised, cases_t.c.id],
            )
        return Page([CaseSummary.of(c, mask_names=True) for c in cases])

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
