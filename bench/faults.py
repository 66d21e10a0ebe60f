"""Fault benchmark: cases through the whole department pipeline while things go wrong.

Per database (SQLite, PostgreSQL), ``--cases`` cases (default 500) go apply (with an
idempotency key) → automated pre-review → accept → delivery of their review tasks to the
departments' legacy systems → polls → the departments' decisions → result fetch → result
ready, against the reference simulators (samr, health, hrss; real HTTP on loopback) set to
fail ``--failure-rate`` (30 %) of calls with a 503 and to answer ``--late-rate`` (5 %) only
after ``--late-delay`` seconds (after the department's timeout: the platform gives up while
the work is done), seeded. Meanwhile:

* the worker process (``deliver`` → ``poll`` → ``fetch_results`` in a loop, as a host's job
  runner does) is killed with SIGKILL at random moments, ``--kills`` times (default 10), and
  restarted; on PostgreSQL two workers run at once;
* the applying process is killed mid-application ``--apply-kills`` times (default 3) and
  restarted; it retries the case it was on with the same idempotency key.

Then it counts, from ground truth — the simulators' own records of every call they got
(:mod:`govsvc.faultkit`), the database, the times of the kills:

``lost``           applications (idempotency keys) without a case at the end
``duplicated``     cases beyond one per key
``delivered_twice`` review tasks the legacy system got more often than the platform had
                   reason to send them: each call beyond the first must follow an attempt
                   that failed as far as the platform knew (an error, a timeout, or no
                   outcome at all: its worker was killed) — two workers sending at once,
                   or a re-send after a success, count
``fetched_twice``  the same for result fetches (``issue_result``)
``unfinished``     cases neither approved nor with a result at the end (stuck)
``no_result``      cases left approved without a result
``unlogged``       calls the legacy systems got that the exchange log has no attempt for
                   (per department, operation and case: calls beyond the attempts logged)

and prints a table per database, the seconds until everything was done, and last
``faults=<sum of the counts>`` (target 0). ``--quick`` is a small run (60 cases, 3 kills)
for the test suite.

    python bench/faults.py                     # both databases, 500 cases, 10 kills each
    python bench/faults.py --db sqlite --quick
    python bench/faults.py --db postgres --cases 200 --kills 20

The worker uses ``CallPolicy(attempts=1)`` (every logged attempt is one request, so
``unlogged`` is exact) and short retry, poll and lease times (a real deployment's are
longer; the mechanics are the same).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import multiprocessing
import multiprocessing.forkserver
import multiprocessing.process
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

HERE = Path(__file__).resolve()
SAMR = "11230100013114525L"
HEALTH = "11230100MB1935270B"
HRSS = "11230100003109212K"
FOOD = "11230100013114525L3000176010001"  # 食品经营许可（新办）: SAMR + HEALTH in parallel
CARD = "11230100003109212K3002005001000"  # 社会保障卡申领: HRSS
# Restaurants registered (存续) in the SAMR simulator, so the automated pre-review passes.
RESTAURANTS = (
    ("91230103MA1BX4K238", "哈尔滨市冰城饺子馆有限公司", "张伟", "230103198503120316"),
    ("91230102MA19QW7R1Q", "哈尔滨市老道外餐饮有限公司", "王秀英", "230102197905210428"),
)
SIMULATORS = {"samr": SAMR, "health": HEALTH, "hrss": HRSS}
REVIEW_OPERATIONS = ("open_review", "poll_review", "issue_result", "cancel_review")
COUNTS = ("lost", "duplicated", "delivered_twice", "fetched_twice", "unfinished", "no_result",
          "unlogged")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# --- the simulators (a child process) ---------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """Serve the three simulators on free loopback ports; print their URLs as one JSON line;
    run until killed."""
    import uvicorn

    from govsvc.faultkit import FaultSettings

    async def main() -> None:
        servers = {}
        for n, short in enumerate(SIMULATORS):
            module = __import__(f"govsvc_{short}.simulator", fromlist=["create_app"])
            faults = FaultSettings(
                failure_rate=args.failure_rate,
                late_rate=args.late_rate,
                late_delay=args.late_delay,
                seed=args.seed + n,
            )
            app = module.create_app(auto_decide_after=args.decide_after, faults=faults)
            config = uvicorn.Config(
                app, host="127.0.0.1", port=0, log_level="error", lifespan="off",
                access_log=False,
            )
            servers[short] = uvicorn.Server(config)
        tasks = [asyncio.create_task(s.serve()) for s in servers.values()]
        while not all(s.started for s in servers.values()):
            await asyncio.sleep(0.01)
        urls = {
            short: f"http://127.0.0.1:{s.servers[0].sockets[0].getsockname()[1]}"
            for short, s in servers.items()
        }
        print(json.dumps(urls), flush=True)
        await asyncio.gather(*tasks)

    asyncio.run(main())


# --- the platform's processes -------------------------------------------------------------------


def open_platform(args: argparse.Namespace) -> Any:
    import govsvc

    return govsvc.Platform.open(
        args.url,
        schema=args.schema or None,
        provisional_calendar=True,
        call_policy=govsvc.CallPolicy(attempts=1, failure_threshold=5, cooldown=1.0),
        work_policy=govsvc.WorkPolicy(
            retry_base=0.2, retry_cap=2.0, poll_base=0.3, poll_cap=2.0, lease_margin=3.0
        ),
    )


def work(args: argparse.Namespace) -> None:
    """The worker: delivery, polling and result fetching, each pass in a loop of its own
    thread (as a host's job runner runs them side by side), until killed. A pass that
    raises is an error of the platform: it is logged and the loop goes on."""
    platform = open_platform(args)
    if args.worker == "sdk":  # the SDK's own loop, one pass after the other
        Path(args.ready).touch()
        platform.run_worker(stop=threading.Event(), interval=0.05)
        return
    departments = platform.system().departments
    passes = {
        "deliver": (departments.deliver, lambda r: r.delivered + r.retrying),
        "poll": (departments.poll, lambda r: r.decided),
        "fetch_results": (departments.fetch_results, lambda r: r.issued + r.retrying),
    }

    def loop(name: str) -> None:
        run, busy = passes[name]
        while True:
            try:
                if not busy(run()):
                    time.sleep(0.05)
            except Exception:
                logging.getLogger("bench.faults").exception("worker pass %s failed", name)
                print(f"WORKER-ERROR {name}", file=sys.stderr, flush=True)
                time.sleep(0.2)

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in passes]
    for thread in threads:
        thread.start()
    Path(args.ready).touch()
    for thread in threads:
        thread.join()


def share(applier: int, appliers: int, cases: int) -> list[int]:
    """The applications one applying process makes (pairs of a food licence and a card)."""
    return [i for i in range(cases) if (i // 2) % appliers == applier]


def applications(i: int) -> tuple[str, Any, Any, list[Any], dict[str, Any]]:
    """Application ``i``: (item, applicant, principal, materials, form); even ones are food
    licences for a registered restaurant, odd ones social security cards for a new person."""
    import govsvc
    from govsvc.testing import TEST_LOGIN, make_citizen_id

    ref = {"benchRef": f"faults-{i}"}
    if i % 2 == 0:
        credit, name, rep, rep_id = RESTAURANTS[(i // 2) % len(RESTAURANTS)]
        org = govsvc.Organisation(
            key=govsvc.PartyKey.of(credit), name=name, legal_representative=rep
        )
        principal = govsvc.Principal.agent(
            govsvc.PartyKey.of(rep_id), rep, organisation=org.key, auth=TEST_LOGIN
        )
        materials = [
            govsvc.ProvidedMaterial(code="M01", filename="申请书.pdf", reference=f"sha256:{i}01"),
            govsvc.ProvidedMaterial(
                code="M02", kind=govsvc.MaterialKind.ECERT, reference=f"1.2.156.3005.2.{credit}"
            ),
            govsvc.ProvidedMaterial(
                code="M03", kind=govsvc.MaterialKind.ECERT, reference=f"1.2.156.3005.2.{rep_id}"
            ),
            govsvc.ProvidedMaterial(code="M04", filename="布局图.pdf", reference=f"sha256:{i}04"),
            govsvc.ProvidedMaterial(code="M05", filename="制度.pdf", reference=f"sha256:{i}05"),
            govsvc.ProvidedMaterial(code="M06", filename="健康证明.pdf", reference=f"sha256:{i}06"),
        ]
        form = {
            "businessFormat": "餐饮服务经营者（小型餐馆）",
            "businessItems": ["热食类食品制售"],
            "premises": f"黑龙江省哈尔滨市道里区中央大街{i}号",
            **ref,
        }
        return FOOD, org, principal, materials, form
    number = make_citizen_id(random.Random(i), division="230103")
    person = govsvc.Person(key=govsvc.PartyKey.of(number), name="刘洋")
    principal = govsvc.Principal.applicant(person.key, person.name, auth=TEST_LOGIN)
    materials = [
        govsvc.ProvidedMaterial(
            code="M01", kind=govsvc.MaterialKind.ECERT, reference=f"1.2.156.3005.2.{number}"
        ),
        govsvc.ProvidedMaterial(code="M02", reference=f"sha256:{i}02", filename="photo.jpg"),
    ]
    form = {
        "name": "刘洋",
        "sex": "男" if int(number[16]) % 2 else "女",
        "birthDate": f"{number[6:10]}-{number[10:12]}-{number[12:14]}",
        "address": "黑龙江省哈尔滨市南岗区学府路52号",
        **ref,
    }
    return CARD, person, principal, materials, form


def apply_all(args: argparse.Namespace) -> None:
    """The applying process: cases from the progress file's number on, each applied with its
    idempotency key, pre-reviewed and accepted; the progress moves on after the accept, so a
    process killed anywhere in between retries the same case with the same key."""
    from govsvc import CaseState
    from govsvc.testing import clerk_for

    progress = Path(args.progress)
    mine = share(args.applier, args.appliers, args.cases)
    start = _read_int(progress)
    platform = open_platform(args)
    clerks = {FOOD: platform.session(clerk_for(SAMR)), CARD: platform.session(clerk_for(HRSS))}
    Path(args.ready).touch()
    for n, i in enumerate(mine[start:], start):
        item, party, principal, materials, form = applications(i)
        session = platform.session(principal)
        case = session.cases.apply(
            item, party, materials=materials, form=form, idempotency_key=f"faults-{i}"
        )
        clerk = clerks[item]
        if case.state is CaseState.SUBMITTED:
            case = clerk.cases.prereview(case)
        if case.state is CaseState.PRE_REVIEWED:
            case = clerk.cases.accept(case)
        if case.state in (CaseState.SUPPLEMENT_NEEDED, CaseState.NOT_ACCEPTED):
            raise SystemExit(f"application {i} ({item}) was not accepted: {case.state.value}")
        tmp = progress.with_suffix(".tmp")
        tmp.write_text(str(n + 1))
        tmp.replace(progress)


# --- the run --------------------------------------------------------------------------------


class Run:
    """One database's run: its child processes, kill log and clock."""

    def __init__(self, args: argparse.Namespace, db: str, url: str, schema: str | None) -> None:
        self.args, self.db, self.url, self.schema = args, db, url, schema
        self.kills: list[float] = []  # time.time() of each SIGKILL of a worker
        self.explained: list[str] = []  # the timelines of the calls counted twice
        self.apply_kills = 0
        self.rng = random.Random(args.seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="govsvc-faults-"))
        self.env = dict(os.environ)
        self.urls: dict[str, str] = {}
        self.simulators: subprocess.Popen[str] | None = None

    def role(self, name: str, *extra: str) -> Child:
        """Start a worker or applier; it touches its ``ready`` file once its platform is
        open (kills are timed from then: killing a process still importing tests nothing).

        Children are forked from a server that imported govsvc and the plugins once
        (multiprocessing's forkserver), so a restart after a kill takes the time of
        ``Platform.open``, not of importing everything again."""
        ready = self.tmp / f"ready-{secrets.token_hex(4)}"
        options = parse([name, "--url", self.url, "--schema", self.schema or "", "--cases",
                         str(self.args.cases), "--ready", str(ready), *extra])
        process = _forkserver().Process(
            target=_child, args=(options, self.env, str(self.tmp / f"{name}.log")), daemon=True
        )
        process.start()
        return Child(process, ready)

    def worker(self) -> Child:
        return self.role("work", "--worker", self.args.worker)

    @contextlib.contextmanager
    def departments(self) -> Iterator[None]:
        a = self.args
        command = [
            sys.executable, str(HERE), "serve",
            "--failure-rate", str(a.failure_rate), "--late-rate", str(a.late_rate),
            "--late-delay", str(a.late_delay), "--seed", str(a.seed),
            "--decide-after", str(a.decide_after),
        ]
        self.simulators = subprocess.Popen(command, text=True, stdout=subprocess.PIPE)
        try:
            assert self.simulators.stdout is not None
            self.urls = json.loads(self.simulators.stdout.readline())
            self.env.update(
                GOVSVC_LOAD_PLUGINS=",".join(SIMULATORS),
                **{f"GOVSVC_{s.upper()}_URL": u for s, u in self.urls.items()},
                **{f"GOVSVC_{s.upper()}_TIMEOUT": str(a.timeout) for s in SIMULATORS},
            )
            yield
        finally:
            self.simulators.kill()
            self.simulators.wait()

    def prepare(self) -> None:
        """Migrate the database and publish the plugins' items (one process, before the
        others start)."""
        import govsvc

        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            govsvc.Platform.open(
                self.url, schema=self.schema, provisional_calendar=True,
                publish_plugin_items=True,
            ).close()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def go(self) -> dict[str, Any]:
        a = self.args
        engine = _engine(self.url, self.schema)
        with self.departments():
            self.prepare()
            shares = [share(k, a.appliers, a.cases) for k in range(a.appliers)]
            progress = [self.tmp / f"progress-{k}" for k in range(a.appliers)]

            def applier(k: int) -> Child:
                return self.role("apply", "--progress", str(progress[k]), "--applier", str(k),
                                 "--appliers", str(a.appliers))

            def applied() -> int:
                return sum(_read_int(p) for p in progress)

            started = time.time()
            appliers = {k: applier(k) for k in range(a.appliers)}
            workers = [self.worker() for _ in range(2 if self.db == "postgres" else 1)]
            done_at: float | None = None
            next_report = time.monotonic() + 5
            deadline = time.monotonic() + a.deadline
            try:
                while time.monotonic() < deadline:
                    time.sleep(0.02)
                    now = time.monotonic()
                    for k, child in list(appliers.items()):
                        if child.finished:
                            if _read_int(progress[k]) < len(shares[k]):
                                # killed (by us) or failed: start again where it was
                                appliers[k] = applier(k)
                            else:
                                del appliers[k]
                        elif self.apply_kills < a.apply_kills and child.due(self.rng, 0.05, 1.5):
                            child.kill()
                            self.apply_kills += 1
                    if len(self.kills) < a.kills:
                        for n, worker in enumerate(workers):
                            if worker.due(self.rng, 0.3, a.kill_every):
                                worker.kill()
                                self.kills.append(time.time())
                                workers[n] = self.worker()
                                break
                    if a.verbose and now >= next_report:
                        next_report = now + 5
                        print(f"  {time.time() - started:5.1f}s applied {applied()}"
                              f" {_states(engine)} kills {len(self.kills)}", flush=True)
                    if (
                        len(self.kills) >= a.kills
                        and self.apply_kills >= a.apply_kills
                        and applied() >= a.cases
                        and _finished(engine) >= a.cases
                    ):
                        done_at = time.time()
                        break
            finally:
                for child in [*appliers.values(), *workers]:
                    child.kill()
            calls = self.legacy_calls()
        counts = self.count(engine, calls)
        if a.explain and self.explained:
            print("\n".join(self.explained), flush=True)
        engine.dispose()
        counts["seconds"] = round((done_at or time.time()) - started, 1)
        counts["done"] = done_at is not None
        counts["worker_kills"] = len(self.kills)
        counts["apply_kills"] = self.apply_kills
        counts["worker_errors"] = sum(
            log.read_text().count("WORKER-ERROR") for log in self.tmp.glob("work.log")
        )
        counts["legacy_calls"] = sum(len(c) for c in calls.values())
        counts["faults_injected"] = sum(
            1 for c in calls.values() for call in c if call["fault"]
        )
        if not a.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print(f"  the processes' logs: {self.tmp}", flush=True)
        return counts

    def legacy_calls(self) -> dict[str, list[dict[str, Any]]]:
        import urllib.request

        found = {}
        for short, url in self.urls.items():
            with urllib.request.urlopen(f"{url}/_faults/calls", timeout=30) as answer:
                found[SIMULATORS[short]] = json.loads(answer.read())["calls"]
        return found

    def count(self, engine: sa.Engine, calls: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        from govsvc.store.tables import cases_t, exchange_t

        with engine.connect() as conn:
            cases = conn.execute(sa.select(cases_t.c.id, cases_t.c.state, cases_t.c.data)).all()
            log = conn.execute(
                sa.select(exchange_t.c.seq, exchange_t.c.attempt, exchange_t.c.outcome,
                          exchange_t.c.department, exchange_t.c.operation, exchange_t.c.case_id)
                .order_by(exchange_t.c.seq)
            ).all()
        attempts = Counter(
            (r.department, r.operation, r.case_id) for r in log if r.outcome == "attempted"
        )
        # Each attempt's outcome as the platform knows it ("unknown": no outcome record).
        closed = {r.attempt: r.outcome for r in log if r.attempt is not None}
        outcomes: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for r in log:
            if r.outcome == "attempted":
                outcomes[(r.department, r.operation, r.case_id)].append(
                    closed.get(r.seq, "unknown")
                )
        per_key = Counter(_data(c.data).get("form", {}).get("benchRef") for c in cases)
        states = Counter(c.state for c in cases)
        keys = {f"faults-{i}" for i in range(self.args.cases)}
        sent = Counter(
            (department, call["operation"], call["case_id"])
            for department, made in calls.items()
            for call in made
            if call["operation"] in REVIEW_OPERATIONS and call["case_id"]
        )
        return {
            "lost": len(keys - set(per_key)),
            "duplicated": sum(n - 1 for k, n in per_key.items() if k in keys and n > 1),
            "delivered_twice": self.twice(calls, "open_review", outcomes),
            "fetched_twice": self.twice(calls, "issue_result", outcomes),
            "unfinished": sum(
                n for s, n in states.items() if s not in ("approved", "result_ready")
            ),
            "no_result": states.get("approved", 0),
            "unlogged": sum(max(0, n - attempts.get(k, 0)) for k, n in sent.items()),
            "states": dict(states),
        }

    def twice(
        self,
        calls: dict[str, list[dict[str, Any]]],
        operation: str,
        outcomes: dict[tuple[str, str, str], list[str]],
    ) -> int:
        """Tasks the legacy system got more often than the platform had reason to call.

        Each call beyond the first is justified by an earlier attempt that did not succeed
        as far as the platform knew: it failed, timed out, or has no outcome at all (its
        worker was killed in between). A task whose calls outnumber 1 + those is counted;
        so is one sent by two workers at once (both succeed)."""
        by_task: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for department, made in calls.items():
            for call in made:
                if call["operation"] == operation and call["task_id"] and call["case_id"]:
                    by_task[(department, call["task_id"])].append(call)
        twice = 0
        for (department, _), made in by_task.items():
            logged = outcomes.get((department, operation, made[0]["case_id"]), [])
            unsuccessful = sum(1 for outcome in logged if outcome != "ok")
            if len(made) > 1 + unsuccessful:
                twice += 1
                made.sort(key=lambda c: c["received"])
                self.explained.append(self.timeline(operation, made, logged))
        return twice

    def timeline(self, operation: str, made: list[dict[str, Any]], logged: list[str]) -> str:
        """A task's calls, the kills around them and the platform's outcomes (--explain)."""
        start = made[0]["received"] - 10
        events = [(c["received"], f"{operation} in (fault {c['fault'] or '-'}, "
                   f"status {c['status']}, answered +{c['answered'] - c['received']:.2f}s, "
                   f"sent +{c['sent'] - c['received']:.2f}s)") for c in made]
        events += [(k, "worker killed") for k in self.kills if start <= k <= made[-1]["sent"]]
        lines = [f"  task {made[0]['task_id']} (case {made[0]['case_id']}), the platform's "
                 f"outcomes in order: {', '.join(logged) or 'none'}"]
        lines += [f"    {t - start:8.2f}s {what}" for t, what in sorted(events)]
        return "\n".join(lines)


class Child:
    """A worker or applier process, and when to kill it (drawn once it is ready)."""

    def __init__(self, process: multiprocessing.process.BaseProcess, ready: Path) -> None:
        self.process, self.ready = process, ready
        self.kill_at: float | None = None

    def due(self, rng: random.Random, low: float, high: float) -> bool:
        """True when it is time to kill it: a random moment ``low``–``high`` s after ready."""
        if self.kill_at is None:
            if not self.ready.exists():
                return False
            self.kill_at = time.monotonic() + rng.uniform(low, high)
        return time.monotonic() >= self.kill_at

    @property
    def finished(self) -> bool:
        return self.process.exitcode is not None

    def kill(self) -> None:
        self.process.kill()  # SIGKILL
        self.process.join()


PRELOAD = [
    "govsvc", "govsvc.platform", "govsvc.testing", "govsvc_samr.plugin", "govsvc_health.plugin",
    "govsvc_hrss.plugin", "httpx", "sqlalchemy", "psycopg",
]


@functools.cache
def _forkserver() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _child(options: argparse.Namespace, env: dict[str, str], log: str) -> None:
    """A child's start: the run's environment, stderr to its log, then its role."""
    os.environ.clear()
    os.environ.update(env)
    with open(log, "a") as out:
        os.dup2(out.fileno(), 2)
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 (the process's own stderr)
    (work if options.role == "work" else apply_all)(options)


def _engine(url: str, schema: str | None) -> sa.Engine:
    from govsvc.platform import create_engine

    return create_engine(url, schema=schema)


def _data(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str | bytes) else dict(value or {})


def _finished(engine: sa.Engine) -> int:
    from govsvc.store.tables import cases_t

    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(cases_t.c.state == "result_ready")
            ).scalar_one()
        )


def _states(engine: sa.Engine) -> dict[str, int]:
    from govsvc.store.tables import cases_t

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(cases_t.c.state, sa.func.count()).group_by(cases_t.c.state)
        ).all()
        return {state: count for state, count in rows}


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


@contextlib.contextmanager
def database(db: str, postgres_url: str) -> Iterator[tuple[str, str | None]]:
    """A fresh, empty database: a temporary SQLite file, or a new PostgreSQL schema."""
    if db == "sqlite":
        with tempfile.TemporaryDirectory(prefix="govsvc-faults-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'faults.db'}", None
        return
    import psycopg

    schema = f"faults_{os.getpid()}_{secrets.token_hex(3)}"
    libpq = sa.make_url(postgres_url).set(drivername="postgresql")
    try:
        yield postgres_url, schema
    finally:
        with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = [*COUNTS, "seconds", "done", "worker_kills", "apply_kills", "worker_errors",
            "legacy_calls", "faults_injected"]
    dbs = list(results)
    lines = [f"{'':<18}" + "".join(f"{db:>12}" for db in dbs)]
    for row in rows:
        lines.append(f"{row:<18}" + "".join(f"{results[db][row]!s:>12}" for db in dbs))
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="role")
    for name in ("serve", "work", "apply"):  # the child processes (internal)
        p = sub.add_parser(name)
        p.add_argument("--url", default="")
        p.add_argument("--schema", default="")
        p.add_argument("--cases", type=int, default=0)
        p.add_argument("--progress", default="")
        p.add_argument("--ready", default="")
        p.add_argument("--applier", type=int, default=0)
        p.add_argument("--appliers", type=int, default=1)
        p.add_argument("--worker", default="threads")
        p.add_argument("--failure-rate", type=float, default=0.0)
        p.add_argument("--late-rate", type=float, default=0.0)
        p.add_argument("--late-delay", type=float, default=0.0)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--decide-after", type=float, default=1.0)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of a worker per database")
    parser.add_argument("--apply-kills", type=int, default=3, help="SIGKILLs of an applier")
    parser.add_argument("--appliers", type=int, default=2, help="applying processes at once")
    parser.add_argument(
        "--worker", choices=("threads", "sdk"), default="threads",
        help="threads: deliver, poll and fetch_results each in a loop of its own thread (as "
        "a host's job runner); sdk: Platform.run_worker (one pass after the other)",
    )
    parser.add_argument("--kill-every", type=float, default=4.0,
                        help="most seconds between worker kills (drawn from 0.5 to this)")
    parser.add_argument("--failure-rate", type=float, default=0.3)
    parser.add_argument("--late-rate", type=float, default=0.05)
    parser.add_argument("--late-delay", type=float, default=1.5,
                        help="seconds a late answer takes (above --timeout: the call times out)")
    parser.add_argument("--timeout", type=float, default=1.0, help="the departments' timeout")
    parser.add_argument("--decide-after", type=float, default=1.0,
                        help="seconds until a legacy system approves a task by itself")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=240.0,
                        help="seconds per database before the run stops and counts")
    parser.add_argument("--quick", action="store_true", help="60 cases, 3 worker kills")
    parser.add_argument("--verbose", action="store_true", help="progress every 5 seconds")
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs")
    parser.add_argument(
        "--explain", action="store_true", help="print the calls of each task counted twice"
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("GOVSVC_TEST_POSTGRES_URL", DEFAULT_PG)
    )
    args = parser.parse_args(argv)
    if args.role is None and args.quick:
        args.cases, args.kills, args.apply_kills, args.kill_every = 60, 3, 1, 2.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.role == "serve":
        serve(args)
        return 0
    if args.role == "work":
        work(args)
        return 0
    if args.role == "apply":
        apply_all(args)
        return 0
    # Start the fork server now: it imports govsvc while the simulators start.
    _forkserver()
    multiprocessing.forkserver.ensure_running()
    results: dict[str, dict[str, Any]] = {}
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        with database(db, args.postgres_url) as (url, schema):
            print(f"{db}: {args.cases} cases, {args.kills} worker kills, "
                  f"{args.failure_rate:.0%} failed and {args.late_rate:.0%} late answers ...",
                  flush=True)
            results[db] = Run(args, db, url, schema).go()
            print(f"  states at the end: {results[db].pop('states')}", flush=True)
    print(table(results))
    total = sum(results[db][c] for db in results for c in COUNTS)
    print(f"faults={total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
