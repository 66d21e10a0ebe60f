"""The department service (部门系统对接): health, delivery, polling, results, the exchange log.

Work for a department's legacy system is durable: a review task to open or withdraw, and an
approved case's result to fetch, are outbox rows committed with the command that made them.
The worker passes here take that work **with a lease**, a slice per department (as many calls
as the department's ``max_in_flight`` admits, so no pass queues on the platform's own gate and
one department's backlog never starves another), write an ``attempted`` exchange record in
the same transaction as the claim, call, and settle each row in one transaction with the
call's outcome record. A worker killed between the call and the settlement leaves a lease
that expires and an attempt with no outcome; the next pass sends again with the same task id,
which the legacy system's idempotency makes harmless. Departments whose circuit is open are
skipped (their work waits, no attempt is burned); only a department's own failures count as
attempts and back off.

The lock order: on PostgreSQL the exchange log's chain takes an advisory lock (one appender
at a time). Every transaction of a pass appends to the log last, after the outbox and
deliveries rows it changes (as a claim does), so two workers never each hold one while
waiting for the other. A pass that records results one case at a time renews the leases of
the rows it has yet to record, so a slow recording never lets another worker call again.
(Both found by ``bench/faults.py``: deadlocks between a settling pass and a claim, and
results fetched twice.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
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
from govsvc.audit import Checkpoint
from govsvc.cases import Case, CaseResult, CaseState, Step, TaskStatus
from govsvc.catalogue import ItemVersion
from govsvc.errors import AdapterError, AdapterProtocolError, GovsvcError, InvalidInput
from govsvc.exchange import ExchangeRecord, _Busy, _CircuitOpen
from govsvc.policy import Action, Resource
from govsvc.principals import Actor, Authentication, Principal
from govsvc.services._base import Service
from govsvc.services.parties import check_list_of
from govsvc.services.views import DeliveryReport, PollReport, ResultReport
from govsvc.store import checkpoints
from govsvc.store import exchange as exchange_store
from govsvc.store import outbox as work
from govsvc.store.cases import load_case
from govsvc.store.chain import ChainReport
from govsvc.store.tables import deliveries_t, exchange_t

__all__ = ["DepartmentService"]

log = logging.getLogger("govsvc.platform")

_check_findings = check_list_of(Finding, "prereview")
REVIEW_TOPICS = ("review.open", "review.cancel")
RESULT_TOPICS = ("result.fetch",)


class _Job:
    """One claimed piece of work: its row, department, attempt record and the call to make."""

    def __init__(
        self,
        row: Any,
        department: Department,
        operation: str,
        args: Sequence[Any],
        *,
        on_behalf_of: str,
        purpose: str,
        check: Callable[[Any], Any] | None,
    ) -> None:
        self.row = row
        self.department = department
        self.operation = operation
        self.args = args
        self.on_behalf_of = on_behalf_of
        self.purpose = purpose
        self.check = check
        self.attempt: ExchangeRecord | None = None
        self.outcome: Any = None


class DepartmentService(Service):
    """The departments plugged in, as the session's principal may operate them."""

    @property
    def _requester(self) -> str:
        return f"{self.principal.kind.value}:{self.principal.id}"

    # --- looking -----------------------------------------------------------------------------

    def health(self) -> dict[str, str]:
        """Each department's health: "up", "down: reason", or "unknown" without ``health``."""
        self._authorize(Action.DEPARTMENT_HEALTH, Resource.platform())
        rt = self._rt
        answers = rt.fan_out(
            rt.caller.offering("health"),
            "health",
            lambda d: (),
            requester=self._requester,
            on_behalf_of="platform",
            purpose="健康检查",
            check=_check_bool,
        )
        report = {code: "unknown" for code in rt.departments}
        for d, outcome in answers:
            if isinstance(outcome, BaseException):
                report[d.code] = f"down: {outcome}"
            else:
                report[d.code] = "up" if outcome else "down: reported unhealthy"
        return report

    def exchange_log(
        self,
        *,
        case: Case | str | None = None,
        department: str | None = None,
        limit: int = 100,
        attempts: bool = False,
    ) -> list[ExchangeRecord]:
        """Recent exchange records, newest first, optionally for one case or department.

        Each call has two records: its attempt, written before the call, and its outcome. By
        default an attempt is shown only while it has no outcome (the call's outcome is
        unknown: the platform stopped in between); ``attempts=True`` shows every record.
        """
        self._arg(department, "department", optional=True)
        self._authorize(Action.DEPARTMENT_EXCHANGE_LOG, Resource.platform())
        where: list[Any] = []
        if not attempts:
            where.append(exchange_store.one_per_call())
        if case is not None:
            where.append(exchange_t.c.case_id == self._session.cases.peek(case).id)
        if department is not None:
            where.append(exchange_t.c.department == department)
        with self._rt.read() as conn:
            return exchange_store.records(conn, where, limit=limit)

    def verify_exchange_log(self, *, witness: Iterable[Checkpoint] = ()) -> ChainReport:
        """Check the exchange log's hash chain against its keyed checkpoints (the stored
        ones and ``witness``, those an outside witness kept); reports the first altered,
        missing or rewritten record, and up to which record a checkpoint vouches."""
        self._authorize(Action.DEPARTMENT_VERIFY_LOG, Resource.platform())
        with self._rt.read() as conn:
            report = exchange_store.verify(conn)
            return checkpoints.check(conn, exchange_t, report, witness, self._rt.checkpoint_keys)

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
        [(_, outcome)] = rt.fan_out(
            [department],
            "prereview",
            lambda d: (request,),
            requester=self._requester,
            on_behalf_of=str(found.applicant),
            purpose="受理预审",
            case_id=found.id,
            check=_check_findings,
        )
        if isinstance(outcome, AdapterError):
            log.warning("automated pre-review unavailable for %s: %s", found.tracking_code, outcome)
            return []
        if isinstance(outcome, BaseException):
            raise outcome
        findings: list[Finding] = outcome
        return findings

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

    # --- the shared mechanics of a worker pass -------------------------------------------------

    def _lease(self, department: Department, now: dt.datetime) -> dt.datetime:
        """Until when a claim holds: the longest the call can take — per attempt, a wait for
        a slot at the department's gate and the call itself, each up to its timeout, plus
        the backoff between attempts — and ``lease_margin`` to settle it."""
        policy = self._rt.caller.policy
        calls = 2 * department.timeout * policy.attempts
        backoff = sum(1.5 * policy.backoff * 2**n for n in range(policy.attempts - 1))
        return now + dt.timedelta(seconds=calls + backoff + self._rt.work.lease_margin)

    def _capacity(self, department: Department, left: int) -> int:
        """How many rows to claim for the department in this pass: for a department with an
        adapter, what its gate admits (so the pass never queues on the platform's own gate);
        for one handled by hand, any number (they are settled without a call)."""
        if not _has_adapter(department):
            return max(0, left)
        return max(0, min(left, self._rt.caller.slots(department)))

    def _departments_due(self, codes: Sequence[str]) -> list[Department]:
        """The departments to take work from: those plugged in whose circuit is not open (an
        open circuit's work waits, burning no attempt), and those without an adapter."""
        rt = self._rt
        due = []
        for code in codes:
            department = rt.departments.get(code)
            if department is None:
                due.append(_by_hand(code))
            elif not rt.caller.is_open(department):
                due.append(department)
        return due

    def _call_all(self, jobs: Sequence[_Job]) -> list[ExchangeRecord]:
        """Make the jobs' calls concurrently; each job gets its answer or error; returns the
        outcome records (to write with the settlements)."""
        rt = self._rt
        outcomes: list[ExchangeRecord] = []

        async def gather() -> list[Any]:
            return list(
                await asyncio.gather(
                    *(
                        rt.caller.call(
                            job.department,
                            job.operation,
                            *job.args,
                            requester=self._requester,
                            on_behalf_of=job.on_behalf_of,
                            purpose=job.purpose,
                            case_id=job.row.case_id,
                            check=job.check,
                            records=outcomes,
                            attempt=job.attempt,
                        )
                        for job in jobs
                    ),
                    return_exceptions=True,
                )
            )

        for job, outcome in zip(jobs, rt.run(gather()) if jobs else [], strict=True):
            job.outcome = outcome
        return outcomes

    def _attempts(self, conn: sa.Connection, jobs: Sequence[_Job]) -> None:
        """Write the jobs' attempt records, in the transaction of their claim."""
        caller = self._rt.caller
        written = exchange_store.append(
            conn,
            [
                caller.record(
                    job.department,
                    job.operation,
                    requester=self._requester,
                    on_behalf_of=job.on_behalf_of,
                    purpose=job.purpose,
                    case_id=job.row.case_id,
                )
                for job in jobs
            ],
        )
        for job, attempt in zip(jobs, written, strict=True):
            job.attempt = attempt

    def _failed(
        self, conn: sa.Connection, job: _Job, worker: str, now: dt.datetime, errors: list[str]
    ) -> None:
        """Settle a failed call: not sent (circuit, own queue) → given back, no attempt burned;
        the department's failure → an attempt, retried after a backoff."""
        outcome = job.outcome
        errors.append(
            f"{job.row.topic} {job.row.payload.get('task_id') or job.row.case_id}: {outcome}"
        )
        if isinstance(outcome, _CircuitOpen | _Busy):
            circuit = self._rt.caller.circuit_of(job.department)
            again = now + dt.timedelta(seconds=max(1.0, circuit.reopens_in))
            work.release(conn, job.row, worker=worker, available_at=again, note=str(outcome))
            return
        if not isinstance(outcome, AdapterError):
            log.error("%s for %s failed", job.operation, job.row.case_id, exc_info=outcome)
        policy = self._rt.work
        work.retry_later(
            conn,
            job.row,
            worker=worker,
            now=now,
            error=str(outcome),
            base=policy.retry_base,
            cap=policy.retry_cap,
        )

    @staticmethod
    def _check_limit(limit: object) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidInput(f"limit must be a whole number from 1 to 10000, got {limit!r}")

    def _claim_jobs(
        self,
        topics: Sequence[str],
        make_job: Callable[[sa.Connection, Any, Department], tuple[_Job | None, str]],
        now: dt.datetime,
        worker: str,
        limit: int,
    ) -> tuple[list[_Job], list[str]]:
        """Lease due ``topics`` rows, a slice per department, and write their attempts, in one
        transaction. Rows that need no call (closed, manual) are settled at once with their
        note; the notes are returned with the jobs to call."""
        jobs: list[_Job] = []
        notes: list[str] = []
        with self._rt.write() as conn:
            for department in self._departments_due(work.due_departments(conn, topics, now)):
                capacity = self._capacity(department, limit - len(jobs))
                if not capacity:
                    continue
                rows = work.claim(
                    conn,
                    topics,
                    department=department.code,
                    worker=worker,
                    now=now,
                    lease_until=self._lease(department, now),
                    limit=capacity,
                )
                for row in rows:
                    job, note = make_job(conn, row, department)
                    if job is None:
                        notes.append(note)
                        work.settle(conn, row, worker=worker, now=now, note=note)
                    else:
                        jobs.append(job)
            self._attempts(conn, jobs)
        return jobs, notes

    # --- delivering review work --------------------------------------------------------------

    def deliver(self, *, limit: int = 200) -> DeliveryReport:
        """Deliver committed review work to the departments' legacy systems (one pass).

        ``review.open``: the task id is the idempotency key. ``review.cancel``: a task that was
        cancelled (denial elsewhere, withdrawal) is withdrawn from the legacy system if its
        adapter offers ``cancel_review``. Work for departments without an adapter for it
        stays in the department's queue (manual handling). At most ``limit`` calls in all,
        and per department what its ``max_in_flight`` admits.
        """
        self._check_limit(limit)
        self._authorize(Action.DEPARTMENT_DELIVER, Resource.platform())
        rt = self._rt
        now, worker = rt.now(), _worker()
        jobs, notes = self._claim_jobs(REVIEW_TOPICS, self._review_job, now, worker, limit)
        outcomes = self._call_all(jobs)
        errors: list[str] = []
        delivered = retrying = 0
        with rt.write() as conn:
            for job in jobs:
                if isinstance(job.outcome, BaseException):
                    self._failed(conn, job, worker, now, errors)
                    retrying += 1
                    continue
                if job.operation == "open_review":
                    work.record_delivery(
                        conn,
                        task_id=job.row.payload["task_id"],
                        case_id=job.row.case_id,
                        department=job.department.code,
                        legacy_id=job.outcome,
                        now=rt.now(),
                    )
                work.settle(conn, job.row, worker=worker, now=now, attempted=True)
                delivered += 1
            exchange_store.append(conn, outcomes)  # last: the lock order
        manual = sum(1 for note in notes if note.startswith("manual"))
        return DeliveryReport(
            delivered=delivered, retrying=retrying, manual=manual, errors=tuple(errors)
        )

    def _review_job(
        self, conn: sa.Connection, row: Any, department: Department
    ) -> tuple[_Job | None, str]:
        task_id = row.payload["task_id"]
        case = load_case(conn, case_id=row.case_id)
        if row.topic == "review.open":
            task = next((t for t in case.tasks if t.id == task_id), None) if case else None
            if case is None or task is None or task.status is not TaskStatus.OPEN:
                return None, "skipped: the task was closed before delivery"
            if not department.offers("open_review"):
                return None, "manual: handled in the department queue"
            request = ReviewRequest(
                task_id=task_id,
                case_id=case.id,
                tracking_code=case.tracking_code,
                item_code=case.item_code,
                stage=row.payload["stage"],
                applicant=case.applicant,
                applicant_name=case.applicant_name,
                form=case.form,
                materials=tuple(m.code for m in case.materials),
            )
            job = _Job(
                row,
                department,
                "open_review",
                (request,),
                on_behalf_of=str(case.applicant),
                purpose="推送审查任务",
                check=_check_legacy_id,
            )
            return job, ""
        legacy = conn.execute(
            sa.select(deliveries_t.c.legacy_id).where(deliveries_t.c.task_id == task_id)
        ).scalar_one_or_none()
        if legacy is None:
            return None, "skipped: the task never reached the legacy system"
        if not department.offers("cancel_review"):
            return None, "manual: tell the department the task was cancelled"
        ticket = ReviewTicket(task_id=task_id, legacy_id=legacy, case_id=row.case_id)
        job = _Job(
            row,
            department,
            "cancel_review",
            (ticket,),
            on_behalf_of=department.code,
            purpose="撤销审查任务",
            check=None,
        )
        return job, ""

    # --- polling for decisions ---------------------------------------------------------------

    def poll(self, *, limit: int = 200) -> PollReport:
        """Ask legacy systems for decisions on delivered tasks and record those that came.

        Fair across departments: each department's tasks that are due (by their own next-poll
        time, which backs off while a task stays pending) are asked, as many as its
        ``max_in_flight`` admits per pass. Each decision is recorded under the department's
        system as principal; an approval that ends the review makes the result fetch work
        (:meth:`fetch_results`).
        """
        self._check_limit(limit)
        self._authorize(Action.DEPARTMENT_POLL, Resource.platform())
        rt = self._rt
        now = rt.now()
        jobs: list[_Job] = []
        with rt.write() as conn:
            for code in work.due_poll_departments(conn, now):
                department = rt.departments.get(code)
                if department is None or not department.offers("poll_review"):
                    continue  # decided in the department's queue, by hand
                capacity = self._capacity(department, limit - len(jobs))
                if rt.caller.is_open(department) or not capacity:
                    continue
                for row in work.claim_polls(
                    conn,
                    department=code,
                    now=now,
                    lease_until=self._lease(department, now),
                    limit=capacity,
                ):
                    ticket = ReviewTicket(
                        task_id=row.task_id, legacy_id=row.legacy_id, case_id=row.case_id
                    )
                    jobs.append(
                        _Job(
                            row,
                            department,
                            "poll_review",
                            (ticket,),
                            on_behalf_of=code,
                            purpose="查询审查结果",
                            check=_check_outcome,
                        )
                    )
            self._attempts(conn, jobs)
        outcomes = self._call_all(jobs)
        policy = rt.work
        decided = pending = 0
        errors: list[str] = []
        with rt.write() as conn:
            for job in jobs:
                if isinstance(job.outcome, BaseException):
                    errors.append(f"task {job.row.task_id}: {job.outcome}")
                if job.outcome is None or isinstance(job.outcome, BaseException):
                    pending += job.outcome is None
                    work.schedule_poll(
                        conn, job.row, now=now, base=policy.poll_base, cap=policy.poll_cap
                    )
            exchange_store.append(conn, outcomes)  # last: the lock order
        for job in jobs:
            if not isinstance(job.outcome, ReviewOutcome):
                continue
            try:
                self.system_of(job.department).reviews.record_decision(job.row.task_id, job.outcome)
            except GovsvcError as exc:  # decided meanwhile at the counter, suspended, closed
                errors.append(f"task {job.row.task_id}: {exc}")
                with rt.write() as conn:
                    work.schedule_poll(
                        conn, job.row, now=now, base=policy.poll_base, cap=policy.poll_cap
                    )
                continue
            decided += 1
        return PollReport(decided=decided, pending=pending, errors=tuple(errors))

    def system_of(self, department: Department) -> Any:
        """A session for a department's system, as the platform acts on its behalf (polling)."""
        from govsvc.services._session import Session

        principal = Principal.department_system(
            department.code,
            department.name,
            auth=Authentication(provider="platform", subject=self.principal.id),
        )
        return Session(self._rt, principal)

    # --- fetching results ----------------------------------------------------------------------

    def fetch_results(self, *, limit: int = 200) -> ResultReport:
        """Fetch the licence and face data of approved cases (``issue_result``) and record it.

        Durable: the work was committed with the approving decision (or with the last 容缺
        material); it is retried until done, and recording the result settles it in the same
        transaction, so a crash never leaves it half done. Idempotent on the task id: the
        legacy system returns the same licence for the same ticket. A case no longer awaiting
        its result (issued by hand, withdrawn) settles its work without a call.
        """
        self._check_limit(limit)
        self._authorize(Action.DEPARTMENT_DELIVER, Resource.platform())
        rt = self._rt
        now, worker = rt.now(), _worker()
        jobs, notes = self._claim_jobs(RESULT_TOPICS, self._result_job, now, worker, limit)
        manual = sum(1 for note in notes if note.startswith("manual"))
        outcomes = self._call_all(jobs)
        by_attempt: dict[int, ExchangeRecord] = {
            o.attempt: o for o in outcomes if o.attempt is not None
        }
        loose = [o for o in outcomes if o.attempt is None]  # e.g. a circuit opening
        errors: list[str] = []
        issued = retrying = 0
        answered = [job for job in jobs if not isinstance(job.outcome, BaseException)]
        lease = self._settling_lease(rt.now())
        with rt.write() as conn:
            failed: list[ExchangeRecord] = list(loose)
            for job in jobs:
                if isinstance(job.outcome, BaseException):
                    failed += _outcome_of(job, by_attempt)
                    self._failed(conn, job, worker, now, errors)
                    retrying += 1
            # The answered ones are recorded one case at a time: keep them ours meanwhile.
            work.renew(conn, [job.row for job in answered], worker=worker, until=lease)
            exchange_store.append(conn, failed)  # last: the lock order
        for n, job in enumerate(answered):
            records = _outcome_of(job, by_attempt)
            rest = [later.row for later in answered[n + 1 :]]
            try:
                self._record_result(job, worker, now, records, rest)
                issued += 1
            except GovsvcError as exc:  # no longer approved: settle, the result is moot
                with rt.write() as conn:
                    work.settle(conn, job.row, worker=worker, now=now, note=f"skipped: {exc}")
                    self._keep(conn, rest, worker)
                    exchange_store.append(conn, records)
                errors.append(f"case {job.row.case_id}: {exc}")
        return ResultReport(issued=issued, retrying=retrying, manual=manual, errors=tuple(errors))

    def _settling_lease(self, now: dt.datetime) -> dt.datetime:
        """How long a pass keeps rows whose calls are over while it records them."""
        return now + dt.timedelta(seconds=self._rt.work.lease_margin)

    def _keep(self, conn: sa.Connection, rows: Sequence[Any], worker: str) -> None:
        """Renew the leases of rows still to be recorded (a slow recording never lets another
        worker take them and call again)."""
        work.renew(conn, rows, worker=worker, until=self._settling_lease(self._rt.now()))

    def _result_job(
        self, conn: sa.Connection, row: Any, department: Department
    ) -> tuple[_Job | None, str]:
        case = load_case(conn, case_id=row.case_id)
        if case is None or case.state is not CaseState.APPROVED:
            state = case.state.value if case else "gone"
            return None, f"skipped: the case is {state}, not awaiting its result"
        if case.outstanding_materials:
            return None, "skipped: 容缺 materials outstanding; supplying them asks again"
        if not department.offers("issue_result"):
            return None, "manual: the agency issues the result at the window"
        legacy = conn.execute(
            sa.select(deliveries_t.c.task_id, deliveries_t.c.legacy_id).where(
                deliveries_t.c.case_id == case.id, deliveries_t.c.department == department.code
            )
        ).first()
        if legacy is None:
            return None, "manual: the agency's review never reached its system"
        ticket = ReviewTicket(task_id=legacy.task_id, legacy_id=legacy.legacy_id, case_id=case.id)
        job = _Job(
            row,
            department,
            "issue_result",
            (ticket,),
            on_behalf_of=str(case.applicant),
            purpose="制证",
            check=_check_issued,
        )
        return job, ""

    def _record_result(
        self,
        job: _Job,
        worker: str,
        now: dt.datetime,
        records: list[ExchangeRecord],
        rest: Sequence[Any],
    ) -> None:
        issued: IssuedResult = job.outcome
        ecert = self._rt.ecert
        certificates: list[Any] = []  # the e-certificate issued with the result (电子证照)

        def issue(c: Case, v: ItemVersion, at: dt.datetime, actor: Actor) -> Step:
            cid = ecert.certificate_id(v, issued.number)
            result = CaseResult(
                name=issued.name,
                number=issued.number,
                data=issued.data,
                ecert_id=None if cid is None else str(cid),
            )
            return c.issue_result(result, now=at, actor=actor)

        def settle(conn: sa.Connection, case: Case) -> None:
            work.settle(conn, job.row, worker=worker, now=now, attempted=True)
            self._keep(conn, rest, worker)
            # Signed and stored in this transaction, or queued durably (certificate.issue).
            version = self._rt.version_in(conn, case.item_code, case.item_version)
            actor = self.system_of(job.department).principal.actor
            certificates[:] = [ecert.issue_in(conn, case, version, issued, actor=actor, now=now)]
            exchange_store.append(conn, records)  # last: the lock order

        self.system_of(job.department).cases.run_command(
            job.row.case_id, Action.CASE_ISSUE_RESULT, issue, also=settle, retry_conflicts=True
        )
        ecert.broadcast([s for s in certificates if s is not None])


def _outcome_of(job: _Job, by_attempt: dict[int, ExchangeRecord]) -> list[ExchangeRecord]:
    seq = job.attempt.seq if job.attempt else None
    found = by_attempt.get(seq) if seq is not None else None
    return [found] if found is not None else []


class _NoAdapter:
    """The adapter of a department not plugged in: it offers nothing."""


def _by_hand(code: str) -> Department:
    """A department without an adapter (its work is handled by hand in the platform)."""
    return Department(code=code, name=code, adapter=_NoAdapter())


def _has_adapter(department: Department) -> bool:
    return not isinstance(department.adapter, _NoAdapter)


def _worker() -> str:
    """A lease owner for one pass: unique, so two passes never settle each other's rows."""
    return f"pass-{secrets.token_hex(8)}"


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
