"""Background jobs: the same functions in a thread (SQLite) and on procrastinate (PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
from collections.abc import Iterator
from typing import Any

import procrastinate
import psycopg
import pytest
import sqlalchemy as sa
from govsvc_host import worker

import govsvc

SAMR = "11230100013114525L"
HEALTH = "11230100MB1935270B"
FOOD = "11230100013114525L3000176010001"
PG_URL = os.environ.get("GOVSVC_TEST_POSTGRES_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LOGIN = govsvc.Authentication(provider="test", assurance=govsvc.Assurance.L3)


class LegacySystem:
    """A department's legacy system in memory: creates one task per platform task id."""

    def __init__(self) -> None:
        self.tasks: dict[str, str] = {}

    def open_review(self, request: govsvc.ReviewRequest) -> str:
        return self.tasks.setdefault(request.task_id, f"L-{len(self.tasks) + 1}")


class Departments:
    def __init__(self) -> None:
        self.samr, self.health = LegacySystem(), LegacySystem()

    @govsvc.hookimpl
    def govsvc_departments(self) -> list[govsvc.Department]:
        return [govsvc.Department(code=SAMR, name="市场监管局", adapter=self.samr),
                govsvc.Department(code=HEALTH, name="卫健委", adapter=self.health)]


def accepted_case(platform: govsvc.Platform) -> govsvc.Case:
    clerk = platform.session(govsvc.Principal.clerk(
        "c-1", "王芳", agency="12230100MB1A03528R", serves=[SAMR, HEALTH], hall="市中心",
        auth=LOGIN), purpose="窗口受理")
    version = platform.public().catalogue.version(FOOD)
    materials = [govsvc.ProvidedMaterial(code=m.code, kind=govsvc.MaterialKind.PAPER,
                                         reference="原件")
                 for m in version.materials if m.necessity is not govsvc.Necessity.OPTIONAL]
    org = govsvc.Organisation(key=govsvc.PartyKey.of("91230103MA1BX4K238"), name="冰城饺子馆")
    case = clerk.cases.apply(FOOD, org, materials=materials,
                             agent=govsvc.Person(key=govsvc.PartyKey.of("230103198503120316"),
                                                 name="张伟"))
    return clerk.cases.accept(clerk.cases.prereview(case, automated=False))


def open_platform(url: str, schema: str | None, departments: Departments) -> govsvc.Platform:
    platform = govsvc.Platform.open(url, schema=schema, load_entry_points=False,
                                    provisional_calendar=True, plugins=[departments])
    platform.system().catalogue.import_items(govsvc.load_sample_catalogue())
    return platform


def test_the_thread_fallback_runs_every_job(tmp_path: Any) -> None:
    departments = Departments()
    platform = open_platform(f"sqlite:///{tmp_path / 'w.db'}", None, departments)
    sent: list[dict[str, Any]] = []
    saved = worker.notifier
    worker.notifier = sent.append
    try:
        case = accepted_case(platform)
        version = case.version
        clerk = platform.session(govsvc.Principal.reviewer("r-1", "赵敏", department=HEALTH,
                                                           auth=LOGIN))
        clerk.cases.suspend(case.id, govsvc.SuspensionReason.ON_SITE_INSPECTION, notice="现场核查")
        notices = platform.system().outbox.pending(topic="applicant.notify")
        assert notices and version
        loop = worker.InProcessWorker(platform, interval=0.01)
        loop.run_once()
        assert len(departments.samr.tasks) == len(departments.health.tasks) == 1
        assert platform.system().outbox.pending(topic="review.open") == []
        assert platform.system().outbox.pending(topic="applicant.notify") == []
        assert len(sent) == len(notices) and {m["case_id"] for m in sent} == {case.id}
        loop.run_once()  # nothing is due yet: every job keeps its period
        assert len(departments.samr.tasks) == 1
        started = loop.start()
        started.stop()
    finally:
        worker.notifier = saved
        platform.close()


def test_a_failing_job_backs_off(tmp_path: Any) -> None:
    platform = open_platform(f"sqlite:///{tmp_path / 'w.db'}", None, Departments())
    calls: list[int] = []

    def broken(p: govsvc.Platform) -> dict[str, Any]:
        calls.append(1)
        raise RuntimeError("department down")

    try:
        loop = worker.InProcessWorker(platform, jobs=(worker.Job("broken", broken, 1),))
        worker.BY_NAME["broken"] = loop.jobs[0]
        loop.run_once()
        assert loop._delay["broken"] == 2.0
        loop.run_once()  # not due again yet
        assert len(calls) == 1
    finally:
        worker.BY_NAME.pop("broken", None)
        platform.close()


# --- procrastinate on PostgreSQL ---------------------------------------------------------------


@pytest.fixture
def pg() -> Iterator[tuple[str, str, str]]:
    """(url, platform schema, procrastinate schema), both fresh, dropped afterwards."""
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # no server here
        if os.environ.get("GOVSVC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    token = secrets.token_hex(4)
    schemas = (f"host_w_{token}", f"procrastinate_{token}")
    yield PG_URL, *schemas
    with engine.begin() as conn:
        for schema in schemas:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def _jobs(url: str, schema: str) -> list[dict[str, Any]]:
    with psycopg.connect(worker.conninfo(url), autocommit=True) as conn:
        rows = conn.execute(
            f'SELECT task_name, status, attempts, scheduled_at FROM "{schema}".procrastinate_jobs '
            "ORDER BY id").fetchall()
    return [{"task": r[0], "status": r[1], "attempts": r[2], "scheduled_at": r[3]} for r in rows]


@pytest.mark.postgres
def test_procrastinate_runs_the_jobs_and_retries_with_backoff(pg: tuple[str, str, str]) -> None:
    url, schema, queue_schema = pg
    departments = Departments()
    platform = open_platform(url, schema, departments)
    try:
        worker.apply_schema(url, schema=queue_schema)  # procrastinate's own schema manager
        worker.apply_schema(url, schema=queue_schema)  # a second worker starting: no-op
        app = worker.procrastinate_app(url, schema=queue_schema)
        periodic = {key[1] for key in app.periodic_registry.periodic_tasks}
        assert periodic == {job.name for job in worker.JOBS} | {"retry_stalled"}
        accepted_case(platform)
        with app.open():
            app.tasks["govsvc_host.deliver_outbox"].defer(timestamp=0)
            with pytest.raises(procrastinate.exceptions.AlreadyEnqueued):  # queueing lock
                app.tasks["govsvc_host.deliver_outbox"].defer(timestamp=0)
        assert [j["task"] for j in _jobs(url, queue_schema)] == ["govsvc_host.deliver_outbox"]
        worker.run_procrastinate_worker(platform, url, schema=queue_schema, wait=False)
        ran = _jobs(url, queue_schema)
        # The deferred job, and the periodic ones the worker's scheduler deferred on start.
        assert ran[0]["task"] == "govsvc_host.deliver_outbox"
        assert {j["status"] for j in ran} == {"succeeded"}, ran
        assert len(departments.samr.tasks) == len(departments.health.tasks) == 1
        assert platform.system().outbox.pending(topic="review.open") == []

        # A pass that fails is retried later, with backoff, by procrastinate.
        with app.open():
            app.tasks["govsvc_host.poll_reviews"].defer(timestamp=1)
        async def fail_fast() -> None:
            worker.set_worker_platform(None)  # the job raises: no platform in this process
            async with app.open_async():
                await app.run_worker_async(wait=False, install_signal_handlers=False)
        asyncio.run(fail_fast())
        retried = [j for j in _jobs(url, queue_schema)
                   if j["task"].endswith("poll_reviews") and j["status"] == "todo"]
        assert retried and all(j["attempts"] == 1 for j in retried), retried
        assert all(j["scheduled_at"] > dt.datetime.now(dt.UTC) for j in retried)
    finally:
        platform.close()


@pytest.mark.postgres
def test_a_job_of_a_killed_worker_goes_back_to_the_queue(pg: tuple[str, str, str]) -> None:
    url, _, queue_schema = pg
    worker.apply_schema(url, schema=queue_schema)
    app = worker.procrastinate_app(url, schema=queue_schema)

    async def scenario() -> int:
        async with app.open_async():
            manager = app.job_manager
            await app.tasks["govsvc_host.deliver_outbox"].defer_async(timestamp=0)
            dead = await manager.register_worker()
            job = await manager.fetch_job(queues=None, worker_id=dead)
            assert job is not None and job.status == "doing"
            # The worker is killed: its heartbeat stops. (Aged here rather than waited for.)
            with psycopg.connect(worker.conninfo(url), autocommit=True) as conn:
                conn.execute(f'UPDATE "{queue_schema}".procrastinate_workers SET '
                             "last_heartbeat = now() - interval '5 minutes' WHERE id = %s",
                             (dead,))
            return await worker.requeue_stalled(manager)

    assert asyncio.run(scenario()) == 1
    assert [j["status"] for j in _jobs(url, queue_schema)] == ["todo"]
