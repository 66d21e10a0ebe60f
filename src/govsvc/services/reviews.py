"""The review service (审查): a department's task queue and its decisions.

A reviewer sees and decides only their own department's tasks; the queue is filtered in SQL
by the department the policy allowed, never fetched whole and then filtered. A department's
own system records decisions (a callback or polling) for its own tasks only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import sqlalchemy as sa

from govsvc.adapters import ReviewOutcome
from govsvc.cases import Case, Step, TaskStatus, local_date
from govsvc.catalogue import ItemVersion
from govsvc.deadlines import light
from govsvc.errors import CaseNotFound, GovsvcError, InvalidInput
from govsvc.policy import Action
from govsvc.principals import Actor
from govsvc.services._base import Service
from govsvc.services.views import CaseSummary, Page, TaskView, decode_cursor, encode_cursor
from govsvc.store.cases import case_from_data
from govsvc.store.tables import cases_t, deliveries_t, tasks_t

__all__ = ["DEFAULT_REMEDIES", "ReviewService"]

DEFAULT_REMEDIES = "如不服本决定，可依法申请行政复议或者提起行政诉讼"

CaseRef = Case | str


class ReviewService(Service):
    """Review tasks as the session's principal may see and decide them."""

    def queue(
        self,
        department: str | None = None,
        *,
        status: TaskStatus = TaskStatus.OPEN,
        limit: int = 50,
        after: str | None = None,
    ) -> Page[TaskView]:
        """A department's review tasks, oldest first, with warning lights (keyset pages).

        ``department`` defaults to the principal's own; a supervisor names one in their
        division. A task whose light cannot be computed (e.g. a year without calendar data)
        is listed with ``problem`` set and no light: it never takes the queue down.
        """
        self._arg(department, "department", optional=True, max_length=18)
        code = department or self.principal.agency
        if code is None:
            raise InvalidInput("name the department (its credit code) whose queue to show")
        self._authorize(Action.REVIEW_QUEUE, self._session.resource(code))
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInput(f"limit must be a whole number from 1 to 1000, got {limit!r}")
        stmt = (
            sa.select(tasks_t.c.id, tasks_t.c.opened_at, cases_t.c.data, deliveries_t.c.legacy_id)
            .join(cases_t, cases_t.c.id == tasks_t.c.case_id)
            .outerjoin(deliveries_t, deliveries_t.c.task_id == tasks_t.c.id)
            .where(tasks_t.c.department == code, tasks_t.c.status == TaskStatus(status).value)
            .order_by(tasks_t.c.opened_at, tasks_t.c.id)
            .limit(limit + 1)
        )
        if after is not None:
            opened, task_id = decode_cursor(after, 2)
            moment = dt.datetime.fromisoformat(opened)
            stmt = stmt.where(
                sa.or_(
                    tasks_t.c.opened_at > moment,
                    sa.and_(tasks_t.c.opened_at == moment, tasks_t.c.id > task_id),
                )
            )
        with self._rt.read() as conn:
            rows = conn.execute(stmt).all()
        more = len(rows) > limit
        rows = rows[:limit]
        views = [self._view(task_id, data, legacy_id) for task_id, _, data, legacy_id in rows]
        nxt = encode_cursor(rows[-1].opened_at, rows[-1].id) if more else None
        return Page(views, next=nxt)

    def _view(self, task_id: str, data: Any, legacy_id: str | None) -> TaskView:
        rt = self._rt
        case = case_from_data(data)
        task = case.task(task_id)
        summary = CaseSummary.of(case, mask_names=True)
        task_light, problem = None, ""
        if case.deadline and task.status is TaskStatus.OPEN and not case.is_suspended:
            try:
                task_light = light(
                    rt.calendar,
                    start=min(local_date(task.opened_at), case.deadline.promised),
                    due=case.deadline.promised,
                    today=rt.today(),
                    thresholds=rt.thresholds,
                )
            except GovsvcError as exc:  # e.g. CalendarDataMissing for the due year
                problem = str(exc)
        return TaskView(
            task=task,
            case=attrs.evolve(summary, problem=problem) if problem else summary,
            light=task_light,
            legacy_id=legacy_id,
            problem=problem,
        )

    def decide(
        self,
        case: CaseRef,
        task_id: str,
        *,
        approve: bool,
        reason: str = "",
        basis: str = "",
        remedies: str = "",
    ) -> Case:
        """Record a department's decision on its review task (审查意见).

        A denial needs a reason, its legal basis and the remedies open to the applicant. A
        reviewer decides only their own department's tasks: another department's task is a
        :class:`PermissionDenied` (recorded), and nothing changes.
        """
        return self._session.cases.run_command(
            case,
            Action.REVIEW_DECIDE,
            _decide(task_id, approve=approve, reason=reason, basis=basis, remedies=remedies),
            task_id=task_id,
        )

    def record_decision(self, task_id: str, outcome: ReviewOutcome) -> Case:
        """Record a decision a department's system reported (its callback, or polling).

        The principal is the department's system; the task must be its department's.
        """
        self._arg(task_id, "task_id", max_length=32)
        if not isinstance(outcome, ReviewOutcome):
            raise InvalidInput(
                f"a decision is a govsvc.ReviewOutcome, got {type(outcome).__name__}"
            )
        with self._rt.read() as conn:
            case_id = conn.execute(
                sa.select(tasks_t.c.case_id).where(tasks_t.c.id == task_id)
            ).scalar_one_or_none()
        if case_id is None:
            raise CaseNotFound(f"no review task {task_id!r}; check the task id the system sent")
        step = _decide(
            task_id,
            approve=outcome.approved,
            reason=outcome.reason,
            basis=outcome.basis,
            remedies=outcome.remedies or DEFAULT_REMEDIES,
            decided_by=outcome.decided_by,
        )
        return self._session.cases.run_command(
            case_id, Action.REVIEW_RECORD, step, task_id=task_id, retry_conflicts=True
        )


def _decide(
    task_id: str,
    *,
    approve: bool,
    reason: str,
    basis: str,
    remedies: str,
    decided_by: str = "",
) -> Any:
    def step(c: Case, v: ItemVersion, now: dt.datetime, actor: Actor) -> Step:
        if decided_by:  # the reviewer named by the legacy system, under its system's actor
            actor = attrs.evolve(actor, name=f"{actor.name} {decided_by}".strip()[:100])
        return c.decide(
            v,
            task_id,
            approve=approve,
            reason=reason,
            basis=basis,
            remedies=remedies,
            now=now,
            actor=actor,
        )

    return step
