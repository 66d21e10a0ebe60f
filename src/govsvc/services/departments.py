"""The department service (部门系统对接): health, delivery, polling, the exchange log.

Review work reaches the departments' legacy systems through the outbox: a task is committed
with its case first and pushed here; a crash in between loses nothing, and the task id is the
idempotency key, so a retry never creates a second task in the legacy system.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from govsvc.adapters import (
    Department,
    Finding,
    IssuedResult,
    PrereviewRequest,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
)
from govsvc.cases import Case, CaseResult, CaseState, TaskStatus
from govsvc.errors import AdapterError, AdapterProtocolError, GovsvcError
from govsvc.exchange import ExchangeRecord
from govsvc.policy import Action, Resource
from govsvc.principals import Authentication, Principal
from govsvc.services._base import Service
from govsvc.services.parties import check_list_of
from govsvc.services.views import DeliveryReport, PollReport
from govsvc.store import exchange as exchange_store
from govsvc.store import outbox as outbox_store
from govsvc.store.cases import load_case
from govsvc.store.chain import ChainReport
from govsvc.store.tables import deliveries_t, exchange_t, tasks_t

__all__ = ["DepartmentService"]

log = logging.getLogger("govsvc.platform")

_check_findings = check_list_of(Finding, "prereview")


class DepartmentService(Service):
    """The departments plugged in, as the session's principal may operate them."""

    # --- looking -----------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """Each department's health: "up", "down: reason", or "unknown" without ``health``."""
        self._authorize(Action.DEPARTMENT_HEALTH, Resource.platform())
        rt = self._rt
        departments = rt.caller.offering("health")
        records: list[ExchangeRecord] = []

        async def fan_out() -> list[Any]:
            return await asyncio.gather(
                *(
                    rt.caller.call(
                        d,
                        "health",
                        requester=self._requester,
                        on_behalf_of="platform",
                        purpose="健康检查",
                        check=_check_bool,
                        records=records,
                    )
                    for d in departments
                ),
                return_exceptions=True,
            )

        outcomes = rt.run(fan_out()) if departments else []
        report = {code: "unknown" for code in rt.departments}
        for d, outcome in zip(departments, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                report[d.code] = f"down: {outcome}"
            else:
                report[d.code] = "up" if outcome else "down: reported unhealthy"
        rt.log_exchanges(records)
        return report

    @property
    def _requester(self) -> str:
        return f"{self.principal.kind.value}:{self.principal.id}"

    def exchange_log(
        self, *, case: Case | str | None = None, department: str | None = None, limit: int = 100
    ) -> list[ExchangeRecord]:
        """Recent exchange records, newest first, optionally for one case or department."""
        self._authorize(Action.DEPARTMENT_EXCHANGE_LOG, Resource.platform())
        where: list[Any] = []
        if case is not None:
            where.append(exchange_t.c.case_id == self._session.cases.peek(case).id)
        if department is not None:
            where.append(exchange_t.c.department == department)
        with self._rt.read() as conn:
            return exchange_store.records(conn, where, limit=limit)

    def verify_exchange_log(self) -> ChainReport:
        """Check the hash chain of the exchange log; reports the first altered record."""
        self._authorize(Action.DEPARTMENT_VERIFY_LOG, Resource.platform())
        with self._rt.read() as conn:
            return exchange_store.verify(conn)

    # --- automated pre-review ------------------------------------------------------------------

    def prereview(self, case: Case | str) -> list[Finding]:
        """Run the implementing department's automated checks (if it offers them).

        Returns the findings; an unavailable department returns none (the clerk checks by
        hand) and the failure is in the exchange log.
        """
        found = self._session.cases.peek(case)
        self._authorize(
            Action.DEPARTMENT_PREREVIEW, Resource.of_case(found, today=self._rt.today())
        )
        rt = self._rt
        department = rt.departments.get(found.agency)
        if department is None or not department.offers("prereview"):
            return []
        request = PrereviewRequest(
            case_id=found.id,
            item_code=found.item_code,
            applicant=found.applicant,
            applicant_name=found.applicant_name,
            form=found.form,
            materials=tuple(m.code for m in found.materials),
        )
        records: list[ExchangeRecord] = []
        try:
            result: list[Finding] = rt.run(
                rt.caller.call(
                    department,
                    "prereview",
                    request,
                    requester=self._requester,
                    on_behalf_of=str(found.applicant),
                    purpose="受理预审",
                    case_id=found.id,
                    check=_check_findings,
                    records=records,
                )
            )
        except AdapterError as exc:
            log.warning("automated pre-review unavailable for %s: %s", found.tracking_code, exc)
            result = []
        rt.log_exchanges(records)
        return result

    def automated_findings(self, case: Case) -> dict[str, str]:
        """The automated findings for the one-time notice, for materials the case has."""
        known = {m.code for m in self._rt.version_of(case).materials}
        provided = {m.code for m in case.materials}
        found: dict[str, str] = {}
        for finding in self.prereview(case):
            if finding.material in known & provided:
                found.setdefault(finding.material, f"{finding.problem}（自动核验）")
            else:
                log.warning(
                    "automated pre-review of %s named material %r, which the case does not "
                    "have; ignored",
                    case.tracking_code,
                    finding.material,
                )
        return found

    # --- delivering review work --------------------------------------------------------------

    def deliver(self, *, limit: int = 100) -> DeliveryReport:
        """Deliver committed review work to the departments' legacy systems.

        ``review.open``: the task id is the idempotency key. ``review.cancel``: a task that was
        cancelled (denial elsewhere, withdrawal) is withdrawn from the legacy system if its
        adapter offers ``cancel_review``. Work for departments without an adapter for it
        stays in the platform's department queue (manual handling). Failed deliveries are
        retried later with exponential backoff.
        """
        self._authorize(Action.DEPARTMENT_DELIVER, Resource.platform())
        rt = self._rt
        now = rt.now()
        with rt.write() as conn:
            rows = outbox_store.claim(conn, ["review.open", "review.cancel"], now=now, limit=limit)
            cases = {c: load_case(conn, case_id=c) for c in {r.case_id for r in rows}}
            legacy_ids = dict(
                conn.execute(
                    sa.select(deliveries_t.c.task_id, deliveries_t.c.legacy_id).where(
                        deliveries_t.c.task_id.in_([r.payload["task_id"] for r in rows])
                    )
                ).all()
            )
        done: list[tuple[Any, str]] = []  # (row, note) settled without a call
        work: list[tuple[Any, Department, Any]] = []  # (row, department, call factory)
        for row in rows:
            task_id = row.payload["task_id"]
            department = rt.departments.get(row.payload["department"])
            case = cases[row.case_id]
            if row.topic == "review.open":
                task = next((t for t in case.tasks if t.id == task_id), None) if case else None
                if case is None or task is None or task.status is not TaskStatus.OPEN:
                    done.append((row, "skipped: the task was closed before delivery"))
                elif department is None or not department.offers("open_review"):
                    done.append((row, "manual: handled in the department queue"))
                else:
                    work.append((row, department, self._open_call(case, row)))
            else:
                legacy = legacy_ids.get(task_id)
                if legacy is None:
                    done.append((row, "skipped: the task never reached the legacy system"))
                elif department is None or not department.offers("cancel_review"):
                    done.append((row, "manual: tell the department the task was cancelled"))
                else:
                    ticket = ReviewTicket(task_id=task_id, legacy_id=legacy, case_id=row.case_id)
                    work.append((row, department, self._cancel_call(ticket)))
        records: list[ExchangeRecord] = []

        async def fan_out() -> list[Any]:
            return list(
                await asyncio.gather(
                    *(factory(department, records) for _, department, factory in work),
                    return_exceptions=True,
                )
            )

        outcomes = rt.run(fan_out()) if work else []
        errors: list[str] = []
        delivered = retrying = 0
        with rt.write() as conn:
            exchange_store.append(conn, records)
            for row, note in done:
                outbox_store.settle(conn, row.id, now=now, note=note)
            for (row, department, _factory), outcome in zip(work, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    outbox_store.retry_later(conn, row, now=now, error=str(outcome))
                    errors.append(f"{row.topic} {row.payload['task_id']}: {outcome}")
                    retrying += 1
                    if not isinstance(outcome, AdapterError):
                        log.error("delivering %s failed", row.payload["task_id"], exc_info=outcome)
                    continue
                if row.topic == "review.open":
                    outbox_store.record_delivery(
                        conn,
                        task_id=row.payload["task_id"],
                        case_id=row.case_id,
                        department=department.code,
                        legacy_id=outcome,
                        now=now,
                    )
                outbox_store.settle(conn, row.id, now=now, attempts=row.attempts + 1)
                delivered += 1
        manual = sum(1 for _, note in done if note.startswith("manual"))
        return DeliveryReport(
            delivered=delivered, retrying=retrying, manual=manual, errors=tuple(errors)
        )

    def _open_call(self, case: Case, row: Any) -> Callable[[Department, list[ExchangeRecord]], Any]:
        request = ReviewRequest(
            task_id=row.payload["task_id"],
            case_id=case.id,
            tracking_code=case.tracking_code,
            item_code=case.item_code,
            stage=row.payload["stage"],
            applicant=case.applicant,
            applicant_name=case.applicant_name,
            form=case.form,
            materials=tuple(m.code for m in case.materials),
        )

        def call(department: Department, records: list[ExchangeRecord]) -> Any:
            return self._rt.caller.call(
                department,
                "open_review",
                request,
                requester=self._requester,
                on_behalf_of=str(case.applicant),
                purpose="推送审查任务",
                case_id=case.id,
                check=_check_legacy_id,
                records=records,
            )

        return call

    def _cancel_call(
        self, ticket: ReviewTicket
    ) -> Callable[[Department, list[ExchangeRecord]], Any]:
        def call(department: Department, records: list[ExchangeRecord]) -> Any:
            return self._rt.caller.call(
                department,
                "cancel_review",
                ticket,
                requester=self._requester,
                on_behalf_of=department.code,
                purpose="撤销审查任务",
                case_id=ticket.case_id,
                records=records,
            )

        return call

    # --- polling for decisions ---------------------------------------------------------------

    def poll(self, *, limit: int = 200) -> PollReport:
        """Ask legacy systems for decisions on delivered tasks and record those that came.

        Each decision is recorded under the department's system as principal. When the last
        decision approves a case and its implementing department offers ``issue_result``, the
        result is fetched and recorded too (unless 容缺 materials are still outstanding).
        """
        self._authorize(Action.DEPARTMENT_POLL, Resource.platform())
        rt = self._rt
        with rt.read() as conn:
            rows = conn.execute(
                sa.select(
                    tasks_t.c.id, tasks_t.c.case_id, tasks_t.c.department, deliveries_t.c.legacy_id
                )
                .join(deliveries_t, deliveries_t.c.task_id == tasks_t.c.id)
                .where(tasks_t.c.status == TaskStatus.OPEN.value)
                .order_by(tasks_t.c.opened_at)
                .limit(limit)
            ).all()
        work = [
            (r, rt.departments[r.department])
            for r in rows
            if r.department in rt.departments and rt.departments[r.department].offers("poll_review")
        ]
        records: list[ExchangeRecord] = []

        async def fan_out() -> list[Any]:
            return await asyncio.gather(
                *(
                    rt.caller.call(
                        d,
                        "poll_review",
                        ReviewTicket(task_id=r.id, legacy_id=r.legacy_id, case_id=r.case_id),
                        requester=self._requester,
                        on_behalf_of=d.code,
                        purpose="查询审查结果",
                        case_id=r.case_id,
                        check=_check_outcome,
                        records=records,
                    )
                    for r, d in work
                ),
                return_exceptions=True,
            )

        outcomes = rt.run(fan_out()) if work else []
        rt.log_exchanges(records)
        decided = pending = issued = 0
        errors: list[str] = []
        for (row, department), outcome in zip(work, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                errors.append(f"task {row.id}: {outcome}")
                continue
            if outcome is None:
                pending += 1
                continue
            system = self.system_of(department)
            try:
                case = system.reviews.record_decision(row.id, outcome)
            except GovsvcError as exc:  # decided meanwhile at the counter, or case closed
                errors.append(f"task {row.id}: {exc}")
                continue
            decided += 1
            if case.state is CaseState.APPROVED and self._issue_from_department(case):
                issued += 1
        return PollReport(decided=decided, pending=pending, issued=issued, errors=tuple(errors))

    def system_of(self, department: Department) -> Any:
        """A session for a department's system, as the platform acts on its behalf (polling)."""
        from govsvc.services._session import Session

        principal = Principal.department_system(
            department.code,
            department.name,
            auth=Authentication(provider="platform", subject=self.principal.id),
        )
        return Session(self._rt, principal)

    def _issue_from_department(self, case: Case) -> bool:
        rt = self._rt
        department = rt.departments.get(case.agency)
        if department is None or not department.offers("issue_result"):
            return False
        if case.outstanding_materials:
            return False
        with rt.read() as conn:
            legacy = conn.execute(
                sa.select(deliveries_t.c.task_id, deliveries_t.c.legacy_id).where(
                    deliveries_t.c.case_id == case.id,
                    deliveries_t.c.department == department.code,
                )
            ).first()
        if legacy is None:
            return False
        records: list[ExchangeRecord] = []
        ticket = ReviewTicket(task_id=legacy.task_id, legacy_id=legacy.legacy_id, case_id=case.id)
        try:
            result: IssuedResult = rt.run(
                rt.caller.call(
                    department,
                    "issue_result",
                    ticket,
                    requester=self._requester,
                    on_behalf_of=str(case.applicant),
                    purpose="制证",
                    case_id=case.id,
                    check=_check_issued,
                    records=records,
                )
            )
        except AdapterError as exc:
            log.warning("issuing the result of %s failed: %s", case.tracking_code, exc)
            rt.log_exchanges(records)
            return False
        rt.log_exchanges(records)
        self.system_of(department).cases.issue_result(
            case.id, CaseResult(name=result.name, number=result.number, data=result.data)
        )
        return True


def _check_legacy_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AdapterProtocolError(
            f"open_review must return the legacy task id (a non-empty string), got {value!r}"
        )
    return value


def _check_outcome(value: Any) -> ReviewOutcome | None:
    if value is None or isinstance(value, ReviewOutcome):
        return value
    raise AdapterProtocolError(
        f"poll_review must return ReviewOutcome or None, got {type(value).__name__}"
    )


def _check_issued(value: Any) -> IssuedResult:
    if isinstance(value, IssuedResult):
        return value
    raise AdapterProtocolError(f"issue_result must return IssuedResult, got {type(value).__name__}")


def _check_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise AdapterProtocolError(f"health must return True or False, got {type(value).__name__}")
