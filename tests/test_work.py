"""Department work under load and concurrency: two workers never send one task twice, one
department's backlog never starves another, the platform's own queue and an open circuit
burn no attempts, approved cases always get their result — on SQLite and PostgreSQL, with
in-process legacy systems that count every call per task."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

import govsvc
from govsvc import CaseState, ProvidedMaterial
from govsvc.testing import applicant_of, clerk_for
from tests.conftest import FakeClock, sample_catalogue
from tests.departments import HEALTH, HRSS, SAMR, FakeLegacy, plugin_for, standard_departments

MakePlatform = Callable[..., govsvc.Platform]
FOOD = "食品经营许可（新办）"  # SAMR and HEALTH review in parallel
CARD = "社会保障卡申领"  # HRSS alone
BIRTH = "出生医学证明办理（首次签发）"  # HEALTH alone
FAST = govsvc.CallPolicy(attempts=1, backoff=0.0, failure_threshold=3, cooldown=60)
EAGER = govsvc.WorkPolicy.eager()


def code_of(name: str) -> str:
    return next(i.implementation_code for i, _ in sample_catalogue() if i.name == name)


def accepted(p: govsvc.Platform, name: str, n: int) -> list[govsvc.Case]:
    version = p.public().catalogue.version(code_of(name))
    materials = [
        ProvidedMaterial(code=m.code, filename=f"x.{m.formats[0]}")
        for m in version.materials
        if m.necessity is not govsvc.Necessity.OPTIONAL
    ]
    out = []
    for i in range(n):
        person = govsvc.Person(key=govsvc.PartyKey.of(_citizen(i)), name="张伟")
        case = p.session(applicant_of(person)).cases.apply(
            code_of(name), person, materials=materials
        )
        out.append(p.session(clerk_for(case.agency)).cases.accept(case))
    return out


def _citizen(i: int) -> str:
    body = f"23010319850312{i % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def run_together(*passes: Callable[[], object]) -> None:
    """Run the passes in threads released at once (a real race, not one after the other)."""
    barrier = threading.Barrier(len(passes), timeout=30)
    errors: list[BaseException] = []

    def run(work: Callable[[], object]) -> None:
        barrier.wait()
        try:
            work()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in passes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_two_workers_deliver_poll_and_fetch_each_task_exactly_once(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    legacies = standard_departments()
    for legacy in legacies.values():
        legacy.delay = 0.02  # calls overlap: the second worker runs while the first waits
    # Pending tasks are asked again after about a minute (the clock stands still meanwhile), so
    # any second poll within a round would be a duplicate, not a due re-poll.
    paced = govsvc.WorkPolicy(retry_base=0, retry_cap=0, poll_base=60, poll_cap=60)
    one = make_platform(plugin_for(legacies), call_policy=FAST, work_policy=paced)
    two = make_platform(plugin_for(legacies), call_policy=FAST, work_policy=paced)
    cases = accepted(one, FOOD, 12)
    tasks = [t.id for c in cases for t in c.tasks]
    assert len(tasks) == 24

    for _ in range(4):  # each worker passes repeatedly, at the same moments
        run_together(one.system().departments.deliver, two.system().departments.deliver)
    opened = legacies[SAMR].opened + legacies[HEALTH].opened
    assert sorted(opened.values()) == [1] * 24, "a task was delivered twice (or never)"

    run_together(one.system().departments.poll, two.system().departments.poll)
    polled = legacies[SAMR].polled + legacies[HEALTH].polled
    assert sorted(polled.values()) == [1] * 24, "one pass asked a task twice"

    for case in cases:
        for task in case.tasks:
            legacies[task.department].decide(task.id)
    clock.advance(seconds=100)  # past the next poll (60 s, jittered up to 1.5 ×)
    for _ in range(3):
        run_together(one.system().departments.poll, two.system().departments.poll)
        run_together(
            one.system().departments.fetch_results, two.system().departments.fetch_results
        )
    states = {one.system().cases.get(c.id).state for c in cases}
    assert states == {CaseState.RESULT_READY}
    polled = legacies[SAMR].polled + legacies[HEALTH].polled
    assert sorted(polled.values()) == [2] * 24  # once pending, once decided: never twice a round
    # the agency (SAMR) issues each licence once, although both workers fetched
    assert sorted(legacies[SAMR].issued.values()) == [1] * 12
    records = one.system().departments.exchange_log(limit=1000)
    assert not [r for r in records if r.outcome == "attempted"], "an attempt without outcome"
    assert one.system().departments.verify_exchange_log().ok


def test_one_departments_backlog_never_starves_another(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    legacies = {HRSS: FakeLegacy(HRSS), HEALTH: FakeLegacy(HEALTH)}
    p = make_platform(plugin_for(legacies), call_policy=FAST)
    departments = p.system().departments
    accepted(p, CARD, 25)  # HRSS never decides these
    while departments.deliver().delivered:  # a pass sends what HRSS's gate admits (10)
        pass
    newer = accepted(p, BIRTH, 5)  # then five cases for another department
    assert departments.deliver().delivered == 5
    report = departments.poll(limit=20)  # a pass smaller than the backlog
    assert sum(legacies[HEALTH].polled.values()) == 5, "the newer department was starved"
    assert report.pending == 15  # HRSS got its slice (its gate admits 10), HEALTH all five
    for case in newer:
        legacies[HEALTH].decide(case.tasks[0].id)
    clock.advance(seconds=3)
    assert departments.poll(limit=20).decided == 5

    # An undecided task is asked again later and later, not at every pass.
    for _ in range(60):  # ten minutes of passes every ten seconds
        clock.advance(seconds=10)
        departments.poll(limit=200)
    asked = legacies[HRSS].polled
    assert len(asked) == 25 and max(asked.values()) <= 10, asked.most_common(1)


def test_the_platforms_own_queue_is_not_the_departments_failure(
    make_platform: MakePlatform,
) -> None:
    legacy = FakeLegacy(HRSS)
    legacy.delay = 0.05
    p = make_platform(
        plugin_for({HRSS: legacy}, timeout=0.5, max_in_flight=2),
        call_policy=FAST,
        work_policy=EAGER,
    )
    accepted(p, CARD, 9)
    departments = p.system().departments
    first = departments.deliver()
    assert (first.delivered, first.retrying, first.errors) == (2, 0, ())  # what the gate admits
    while departments.deliver().delivered:
        pass
    assert sorted(legacy.opened.values()) == [1] * 9
    outcomes = {r.outcome for r in departments.exchange_log(limit=100)}
    assert outcomes == {"ok"}
    assert departments.health()[HRSS] == "up"  # the circuit never opened


def test_an_open_circuit_skips_the_work_without_burning_attempts(
    make_platform: MakePlatform,
) -> None:
    legacy = FakeLegacy(HRSS)
    # The cool-down must outlast the five refused passes below even on a loaded machine (at
    # 0.3 s a full-suite run once saw the circuit half-open during them).
    policy = govsvc.CallPolicy(attempts=1, backoff=0.0, failure_threshold=3, cooldown=1.5)
    p = make_platform(plugin_for({HRSS: legacy}), call_policy=policy, work_policy=EAGER)
    accepted(p, CARD, 6)
    legacy.fail_next = 100  # the department is down: three failures open its circuit
    departments = p.system().departments
    report = departments.deliver()
    assert report.retrying == 6 and report.delivered == 0
    attempts_before = {m.id: m.attempts for m in p.system().outbox.pending(topic="review.open")}
    calls = len(legacy.calls)
    for _ in range(5):  # passes while the circuit is open: nothing sent, nothing counted
        departments.deliver()
    assert len(legacy.calls) == calls
    after = {m.id: m.attempts for m in p.system().outbox.pending(topic="review.open")}
    assert after == attempts_before
    opened = [r for r in departments.exchange_log(limit=100) if r.outcome == "circuit_opened"]
    assert len(opened) == 1  # logged once per opening, not per refused call
    legacy.fail_next = 0  # it is back
    time.sleep(1.55)  # the cool-down (on the process's monotonic clock) passes
    trial = departments.deliver()
    assert (trial.delivered, trial.retrying) == (1, 0)  # half-open: one trial call alone
    rest = departments.deliver()  # the trial closed the circuit
    assert (rest.delivered, rest.retrying) == (5, 0)
    assert sorted(legacy.opened.values())[-1] <= 2  # each task: its failure, then once
    assert p.system().outbox.pending(topic="review.open") == []


def test_a_failed_result_fetch_is_retried_until_the_result_is_recorded(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    legacy = FakeLegacy(HRSS)
    p = make_platform(plugin_for({HRSS: legacy}), call_policy=FAST)
    [case] = accepted(p, CARD, 1)
    departments = p.system().departments
    departments.deliver()
    legacy.decide(case.tasks[0].id)
    assert departments.poll().decided == 1
    legacy.fail_next = 1
    original = legacy.issue_result

    def down(ticket: govsvc.ReviewTicket) -> govsvc.IssuedResult:
        if legacy.fail_next:
            legacy.fail_next -= 1
            raise govsvc.AdapterUnavailable("503 Service Unavailable")
        return original(ticket)

    legacy.issue_result = down  # type: ignore[method-assign]
    first = departments.fetch_results()
    assert (first.issued, first.retrying) == (0, 1)
    [waiting] = p.system().supervision.awaiting_results()
    assert waiting.attempts == 1 and "503" in (waiting.last_error or "")
    assert departments.fetch_results().issued == 0  # not due yet: it backs off
    clock.advance(minutes=1)
    assert departments.fetch_results().issued == 1
    assert p.system().cases.get(case.id).state is CaseState.RESULT_READY
    assert p.system().supervision.awaiting_results() == []


def test_a_decision_by_callback_also_gets_its_result(make_platform: MakePlatform) -> None:
    legacy = FakeLegacy(HRSS)
    p = make_platform(plugin_for({HRSS: legacy}), call_policy=FAST)
    [case] = accepted(p, CARD, 1)
    p.system().departments.deliver()
    system = p.session(
        govsvc.Principal.department_system(HRSS, "社保业务系统", auth=govsvc.testing.TEST_LOGIN)
    )
    system.reviews.record_decision(
        case.tasks[0].id, govsvc.ReviewOutcome(approved=True, reason="符合条件")
    )
    assert p.system().departments.fetch_results().issued == 1
    assert p.system().cases.get(case.id).state is CaseState.RESULT_READY


@pytest.mark.parametrize("limit", [0, -1, 10_001, True])
def test_pass_limits_are_checked(make_platform: MakePlatform, limit: int) -> None:
    p = make_platform()
    with pytest.raises(govsvc.InvalidInput, match="limit"):
        p.system().departments.deliver(limit=limit)


def test_two_departments_deciding_one_case_at_once_both_land(
    make_platform: MakePlatform,
) -> None:
    """Found by the two-worker test: the second of two racing decisions on one case got
    ConcurrentUpdate and waited for its next poll. A department's decision is a fact: it is
    applied to the new version of the case."""
    p = make_platform(plugin_for(standard_departments()), call_policy=FAST)
    ok = govsvc.ReviewOutcome(approved=True, reason="符合条件")
    for _ in range(5):
        [case] = accepted(p, FOOD, 1)
        calls = [
            lambda t=t: p.session(
                govsvc.Principal.department_system(
                    t.department, "业务系统", auth=govsvc.testing.TEST_LOGIN
                )
            ).reviews.record_decision(t.id, ok)
            for t in case.tasks
        ]
        run_together(*calls)
        assert p.system().cases.get(case.id).state is CaseState.APPROVED


# --- found by bench/faults.py ---------------------------------------------------------------


class _Statements:
    """The SQL each transaction ran, in order (SQLAlchemy's events on the platform's engine)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.open: dict[int, list[str]] = {}
        self.done: list[list[str]] = []
        sa.event.listen(engine, "begin", self._begin)
        sa.event.listen(engine, "commit", self._end)
        sa.event.listen(engine, "rollback", self._end)
        sa.event.listen(engine, "before_cursor_execute", self._statement)

    def _begin(self, conn: sa.Connection) -> None:
        self.open[id(conn.connection.dbapi_connection)] = []

    def _end(self, conn: sa.Connection) -> None:
        self.done.append(self.open.pop(id(conn.connection.dbapi_connection), []))

    def _statement(self, conn: sa.Connection, cursor: object, sql: str, *_: object) -> None:
        self.open.setdefault(id(conn.connection.dbapi_connection), []).append(
            " ".join(sql.split()[:3]).upper()
        )


def test_a_settlement_takes_the_exchange_log_last(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    """Found by bench/faults.py on PostgreSQL with two workers: a worker settling its pass
    took the exchange log's lock first and then the outbox rows, while another worker's claim
    held outbox rows and waited for the log's lock — deadlock detected, the pass rolled back,
    its answered calls made again by the next worker. Every transaction now appends to the
    log after its row updates (the claim already did), so the lock order is the same
    everywhere."""
    legacies = {HRSS: FakeLegacy(HRSS)}
    p = make_platform(plugin_for(legacies), call_policy=FAST, work_policy=EAGER)
    cases = accepted(p, CARD, 4)
    seen = _Statements(p.engine)
    departments = p.system().departments
    legacies[HRSS].fail_next = 1  # one failure: its retry is settled too
    departments.deliver()
    departments.deliver()
    for case in cases:
        legacies[HRSS].decide(case.tasks[0].id)
    clock.advance(seconds=5)
    departments.poll()
    legacies[HRSS].fail_next = 1
    departments.fetch_results()
    clock.advance(minutes=5)
    departments.fetch_results()
    assert {p.system().cases.get(c.id).state for c in cases} == {CaseState.RESULT_READY}
    late = [
        (n, statements)
        for n, statements in enumerate(seen.done)
        for at, sql in enumerate(statements)
        if sql.startswith("INSERT INTO EXCHANGE_LOG")
        and any(s.startswith(("UPDATE", "DELETE")) for s in statements[at + 1 :])
    ]
    assert late == [], "a transaction changed rows after taking the exchange log's lock"


def test_a_slow_settlement_keeps_its_leases(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    """Found by bench/faults.py: results are recorded one case at a time after the calls;
    when that took longer than what was left of the lease, a second worker took the rows not
    yet recorded and fetched those results again. Each recorded result now renews the leases
    of the pass's remaining rows."""
    legacies = {HRSS: FakeLegacy(HRSS)}

    class SlowRecording:
        """After each result is recorded: 20 s pass, and another worker runs a pass."""

        def __init__(self) -> None:
            self.others: list[govsvc.Platform] = []

        @govsvc.hookimpl
        def govsvc_case_event(self, event: govsvc.CaseEvent, case: govsvc.Case) -> None:
            if event.kind is govsvc.EventKind.RESULT_READY:
                clock.advance(seconds=20)
                for other in self.others:
                    other.system().departments.fetch_results()

    slow = SlowRecording()
    paced = govsvc.WorkPolicy(retry_base=0, retry_cap=0, poll_base=0, poll_cap=0)
    one = make_platform(plugin_for(legacies), slow, call_policy=FAST, work_policy=paced)
    two = make_platform(plugin_for(legacies), call_policy=FAST, work_policy=paced)
    cases = accepted(one, CARD, 4)
    departments = one.system().departments
    departments.deliver()
    for case in cases:
        legacies[HRSS].decide(case.tasks[0].id)
    departments.poll()
    slow.others.append(two)
    assert departments.fetch_results().issued == 4
    assert sorted(legacies[HRSS].issued.values()) == [1] * 4, "a result was fetched twice"


def test_renewing_a_lease_never_shortens_it(make_platform: MakePlatform, clock: FakeClock) -> None:
    from govsvc.store import outbox as work
    from govsvc.store.tables import outbox_t

    p = make_platform(plugin_for({HRSS: FakeLegacy(HRSS)}), call_policy=FAST)
    accepted(p, CARD, 1)
    now = clock()
    later, sooner = now + dt.timedelta(minutes=5), now + dt.timedelta(minutes=1)
    with p.engine.begin() as conn:
        [row] = work.claim(
            conn, ["review.open"], department=HRSS, worker="w", now=now, lease_until=later,
            limit=5,
        )
        assert work.renew(conn, [row], worker="w", until=sooner) == 1
        assert work.renew(conn, [row], worker="someone else", until=sooner) == 0
        until = conn.execute(
            sa.select(outbox_t.c.claimed_until).where(outbox_t.c.id == row.id)
        ).scalar_one()
    assert until.replace(tzinfo=dt.UTC) == later.astimezone(dt.UTC)
