"""Background work: the same job functions on procrastinate (PostgreSQL) or in a thread (SQLite).

Each job is one pass of the SDK's own leased, idempotent work, run as the platform principal:

=================  ======  ==========================================================
job                every   what it does
=================  ======  ==========================================================
deliver_outbox     2 s     push review tasks (and cancellations) to departments
poll_reviews       5 s     ask legacy systems for decisions (each task on its own schedule)
fetch_results      5 s     fetch approved cases' results (durable, leased, retried)
notify_applicants  10 s    hand applicant notices to the notifier, mark them sent
send_sms           30 s    retry portal notification SMS a failed gateway call left pending
sweep_lights       600 s   store warning lights; cases turning yellow or red are warned
refresh_calendar   60 s    recompute provisional deadlines that loaded years now decide
checkpoint_logs    60 s    keyed checkpoints of the exchange and access logs (with a key)
issue_certificates 30 s    retry e-certificates queued when signing failed (certificate.issue)
sweep_expiry       3600 s  mark expired certificates; remind holders 30 days ahead (到期提醒)
=================  ======  ==========================================================

**PostgreSQL**: the jobs are procrastinate periodic tasks. Every ``govsvc-host worker``
process defers them (procrastinate makes sure one timestamp is deferred once, whatever the
number of workers), runs them, retries a failed one with exponential backoff, and a
``retry_stalled`` job puts back jobs whose worker stopped sending heartbeats (killed
mid-job): the SDK's claims are leased and its deliveries idempotent, so running the pass
again loses nothing and sends nothing twice. A ``queueing_lock`` per job keeps at most one
waiting copy of each.

**SQLite** (a county on one machine): :class:`InProcessWorker` calls the same functions from
one thread of the web process. That is the only scheduler the host has of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from govsvc import Platform

__all__ = ["JOBS", "InProcessWorker", "Job", "procrastinate_app", "run_job"]

log = logging.getLogger("govsvc_host.worker")

Notifier = Callable[[dict[str, Any]], None]


def _log_notifier(payload: dict[str, Any]) -> None:
    # The demo's SMS gateway: a city plugs its own in (worker.notifier = send_sms).
    log.info("notice for case %s: %s", payload.get("case_id"), payload.get("kind"))


notifier: Notifier = _log_notifier


def deliver_outbox(platform: Platform) -> dict[str, Any]:
    report = platform.system().departments.deliver()
    return {"delivered": report.delivered, "retrying": report.retrying, "manual": report.manual,
            "errors": list(report.errors)}


def poll_reviews(platform: Platform) -> dict[str, Any]:
    report = platform.system().departments.poll()
    return {"decided": report.decided, "pending": report.pending, "errors": list(report.errors)}


def fetch_results(platform: Platform) -> dict[str, Any]:
    report = platform.system().departments.fetch_results()
    return {"issued": report.issued, "retrying": report.retrying, "manual": report.manual,
            "errors": list(report.errors)}


def notify_applicants(platform: Platform) -> dict[str, Any]:
    system = platform.system()
    pending = system.outbox.pending(topic="applicant.notify", limit=200)
    sent = []
    for message in pending:
        try:
            notifier(dict(message.payload))
        except Exception:
            log.exception("sending notice %s failed; retried next pass", message.id)
            continue
        sent.append(message.id)
    if sent:
        system.outbox.mark_delivered(sent)
    return {"sent": len(sent)}


def send_sms(platform: Platform) -> dict[str, Any]:
    # SMS of applicant notifications left pending by a failed gateway call.
    from govsvc_host.notifications import Notifications

    notifications = Notifications(platform)
    if not notifications.ready():  # a database the host's tables were never made in
        return {"skipped": "no host tables yet (govsvc-host db upgrade)"}
    return {"sent": notifications.flush()}


def sweep_lights(platform: Platform) -> dict[str, Any]:
    report = platform.system().supervision.sweep_lights()
    return {"green": report.green, "yellow": report.yellow, "red": report.red,
            "changed": report.changed, "warned": report.warned,
            "errors": [f"{case}: {why}" for case, why in report.problems.items()]}


def refresh_calendar(platform: Platform) -> dict[str, Any]:
    return {"rescheduled": platform.system().calendar.refresh()}


def checkpoint_logs(platform: Platform) -> dict[str, Any]:
    if not platform.checkpoint_keys_configured:
        return {"skipped": "no checkpoint key (GOVSVC_CHECKPOINT_KEY)"}
    made = platform.system().supervision.checkpoint()
    return {"checkpoints": [point.to_dict() for point in made]}


def issue_certificates(platform: Platform) -> dict[str, Any]:
    report = platform.system().certificates.issue_pending()
    return {"issued": report.issued, "retrying": report.retrying, "errors": list(report.errors)}


def sweep_expiry(platform: Platform) -> dict[str, Any]:
    sweep = platform.system().certificates.sweep_expiry()
    return {"expired": len(sweep.expired), "reminded": len(sweep.reminded)}


@attrs.frozen
class Job:
    name: str
    run: Callable[[Platform], dict[str, Any]]
    every: int  # seconds


JOBS: tuple[Job, ...] = (
    Job("deliver_outbox", deliver_outbox, 2),
    Job("poll_reviews", poll_reviews, 5),
    Job("fetch_results", fetch_results, 5),
    Job("notify_applicants", notify_applicants, 10),
    Job("send_sms", send_sms, 30),
    Job("sweep_lights", sweep_lights, 600),
    Job("refresh_calendar", refresh_calendar, 60),
    Job("checkpoint_logs", checkpoint_logs, 60),
    Job("issue_certificates", issue_certificates, 30),
    Job("sweep_expiry", sweep_expiry, 3600),
)
BY_NAME = {job.name: job for job in JOBS}


def run_job(platform: Platform, name: str) -> dict[str, Any]:
    """Run one pass of a job by name (what both engines call)."""
    result = BY_NAME[name].run(platform)
    if result.get("errors"):
        log.warning("%s: %s", name, result["errors"])
    return result


class InProcessWorker:
    """The SQLite fallback: one daemon thread running each job on its period.

    A failing job waits twice as long before its next try (up to ten minutes), so a
    department that is down is not hammered; its first success resets the period.
    """

    def __init__(self, platform: Platform, *, interval: float = 2.0,
                 jobs: tuple[Job, ...] = JOBS) -> None:
        self.platform = platform
        self.jobs = jobs
        self.tick = interval
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._delay = {job.name: float(job.every) for job in jobs}
        self._due = {job.name: 0.0 for job in jobs}

    def run_once(self) -> None:
        now = time.monotonic()
        for job in self.jobs:
            if self._due[job.name] > now:
                continue
            try:
                run_job(self.platform, job.name)
                self._delay[job.name] = float(job.every)
            except Exception:
                self._delay[job.name] = min(self._delay[job.name] * 2, 600.0)
                log.exception("job %s failed; next try in %.0f s", job.name,
                              self._delay[job.name])
            self._due[job.name] = time.monotonic() + self._delay[job.name]

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            self.run_once()
            self.stop_event.wait(self.tick)

    def start(self) -> InProcessWorker:
        self._thread = threading.Thread(target=self._loop, name="govsvc-host-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)


# --- procrastinate -----------------------------------------------------------------------------

_platform: Platform | None = None


def _worker_platform() -> Platform:
    if _platform is None:
        raise RuntimeError(
            "the worker's platform is not open: start workers with govsvc-host worker"
        )
    return _platform


def set_worker_platform(platform: Platform | None) -> None:
    global _platform
    _platform = platform


def conninfo(database_url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL (procrastinate talks psycopg)."""
    import sqlalchemy as sa

    url = sa.make_url(database_url)
    parts = {
        "host": url.host, "port": url.port, "dbname": url.database, "user": url.username,
        "password": url.password,
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v not in (None, ""))


def procrastinate_app(database_url: str, *, schema: str = "procrastinate") -> Any:
    """The procrastinate app with every job as a periodic task, its tables in ``schema``."""
    import procrastinate

    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(database_url),
        kwargs={"options": f"-c search_path={schema}"},
    )
    app = procrastinate.App(connector=connector)
    retry = procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2)

    for job in JOBS:
        name = job.name

        def make(name: str) -> Callable[..., None]:
            def run(timestamp: int = 0) -> None:
                run_job(_worker_platform(), name)

            run.__name__ = name
            return run

        task = app.task(name=f"govsvc_host.{name}", queueing_lock=name, retry=retry)(make(name))
        # croniter's sixth field is seconds: "*/5" every five seconds.
        app.periodic(cron=f"* * * * * */{job.every}", periodic_id=name)(task)

    @app.periodic(cron="* * * * * */30", periodic_id="retry_stalled")
    @app.task(name="govsvc_host.retry_stalled", queueing_lock="retry_stalled", pass_context=True)
    async def retry_stalled(context: Any, timestamp: int) -> None:
        await requeue_stalled(context.app.job_manager)

    return app


async def requeue_stalled(manager: Any, *, seconds_since_heartbeat: float = 30) -> int:
    """Put back the jobs of workers that stopped sending heartbeats (killed mid-job)."""
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)
    for job in stalled:
        await manager.retry_job(job)
    return len(stalled)


def apply_schema(database_url: str, *, schema: str = "procrastinate") -> None:
    """Create procrastinate's schema (its own tables and functions) with its schema manager."""
    import psycopg

    with psycopg.connect(conninfo(database_url), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = 'procrastinate_jobs'",
            (schema,),
        ).fetchone()
    if exists:
        return
    app = procrastinate_app(database_url, schema=schema)
    with app.open():
        app.schema_manager.apply_schema()


def run_procrastinate_worker(platform: Platform, database_url: str, *, schema: str,
                             wait: bool = True, name: str | None = None) -> None:
    """Run a procrastinate worker over the jobs until stopped (SIGINT / SIGTERM)."""
    set_worker_platform(platform)
    app = procrastinate_app(database_url, schema=schema)
    try:
        app.run_worker(wait=wait, name=name, concurrency=1)
    finally:
        set_worker_platform(None)
