"""Case pipeline throughput: govsvc sessions against raw driver calls writing the same rows.

Every case goes submit (4 materials) → accept → 2 parallel review decisions → approved: four
commands, each one transaction, each made through a session bound to its principal (the
applicant, a window clerk, each department's reviewer) and authorized by the default policy.
The raw side writes the same rows with plain sqlite3 / psycopg 3 statements, one transaction
per command, into a schema created by the same migrations.

Two modes run, interleaved in chunks in the same process (so the machine's speed changes hit
every side alike), after an untimed warm-up:

* ``ratio``: commands get the ``Case`` the previous command returned (an embedded caller); the
  raw side keeps the case document it wrote, as the platform does;
* ``ratio_reload``: every command is addressed by tracking code and loads the case again, as a
  web host does from a form; the raw side selects the case row by tracking code in each
  command's transaction.

The platform keeps recent cases and does not parse a case again whose stored version did not
move; a third side, ``platform_cold``, runs the by-tracking-code mode with that cache off (as
when the previous command on a case ran in another process) and prints ``ratio_reload_cold``.
The time spent inside the policy is measured and printed as a share of the platform's time.

    python bench/pipeline.py --cases 2000 --db sqlite
    python bench/pipeline.py --cases 1000 --db postgres --profile

The last two lines are ``ratio=<platform cases/s ÷ raw cases/s>`` and
``ratio_reload=<the same, addressed by tracking code>``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import json
import os
import pstats
import secrets
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from _common import (
    AGENCY,
    CO_AGENCY,
    DEFAULT_POSTGRES_URL,
    applicants,
    bench_item,
    create_schema,
    fresh_databases,
    libpq_url,
    machine_note,
    provided_materials,
)

import govsvc

PHASES = ("apply", "accept", "decide1", "decide2")
TABLES = ("parties", "cases", "case_events", "case_materials", "review_tasks", "outbox")

# --------------------------------------------------------------------------------------------
# Raw side: what a careful hand-written implementation sends for the same four commands.

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_CASE_COLUMNS = (
    "id, tracking_code, item_code, item_version, agency, applicant_type, applicant_number, "
    "applicant_name, agent_type, agent_number, division, channel, state, version, created_at, "
    "submitted_at, accepted_at, closed_at, due_promised, due_statutory, due_provisional, "
    "suspended, data"
)
_SQL = {
    "party": (
        "INSERT INTO parties (doc_type, number, name, is_organisation, updated_at, data) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (doc_type, number) DO UPDATE SET "
        "name = excluded.name, is_organisation = excluded.is_organisation, "
        "updated_at = excluded.updated_at, data = excluded.data"
    ),
    "insert_case": f"INSERT INTO cases ({_CASE_COLUMNS}) VALUES ({', '.join('?' * 23)})",
    "update_case": (
        "UPDATE cases SET tracking_code = ?, item_code = ?, item_version = ?, agency = ?, "
        "applicant_type = ?, applicant_number = ?, applicant_name = ?, agent_type = ?, "
        "agent_number = ?, division = ?, channel = ?, state = ?, "
        "version = ?, created_at = ?, submitted_at = ?, accepted_at = ?, closed_at = ?, "
        "due_promised = ?, due_statutory = ?, due_provisional = ?, suspended = ?, data = ? "
        "WHERE id = ? AND version = ?"
    ),
    "select_case": "SELECT data FROM cases WHERE tracking_code = ?",
    "event": (
        "INSERT INTO case_events (case_id, seq, kind, at, actor_kind, actor_id, actor_name, "
        "actor_agency, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "material": (
        "INSERT INTO case_materials (case_id, code, kind, reference, filename, media_type, size) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
    "outbox": (
        "INSERT INTO outbox (id, case_id, topic, payload, department, created_at, available_at, "
        "attempts, delivered_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "task": (
        "INSERT INTO review_tasks (id, case_id, stage, department, status, opened_at, "
        "decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
    "update_task": "UPDATE review_tasks SET status = ?, decided_at = ? WHERE id = ?",
}


def _new_id() -> str:
    return secrets.token_hex(16)


GENESIS = "0" * 64


def _chained(prev: str, row: dict[str, Any]) -> str:
    """The event's hash over the previous one (what a careful implementation of a
    tamper-evident trail computes too: SHA-256 over canonical JSON)."""
    text = json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev + text).encode("utf-8")).hexdigest()


def _event_row(
    d: dict[str, Any], seq: int, kind: str, now: str, actor: tuple[Any, ...], data: Any
) -> tuple[Any, ...]:
    """An event row chained to the case's trail head, which it moves on."""
    fields = {
        "case_id": d["id"],
        "seq": seq,
        "kind": kind,
        "at": now,
        "actor_kind": actor[0],
        "actor_id": actor[1],
        "actor_name": actor[2],
        "actor_agency": actor[3],
        "data": data,
    }
    prev = d.get("trail_head") or GENESIS
    head = _chained(prev, fields)
    d["trail_head"] = head
    return (d["id"], seq, kind, now, *actor, _dumps(data), prev, head)


def _case_params(d: dict[str, Any]) -> list[Any]:
    """Column values of a case document, in ``_CASE_COLUMNS`` order (``data`` last)."""
    deadline = d["deadline"]
    return [
        d["id"],
        d["tracking_code"],
        d["item_code"],
        d["item_version"],
        d["agency"],
        d["applicant"]["doc_type"],
        d["applicant"]["number"],
        d["applicant_name"],
        None,
        None,
        d["agency"][2:8],
        d["channel"],
        d["state"],
        d["version"],
        d["created_at"],
        d["submitted_at"],
        d["accepted_at"],
        d["closed_at"],
        deadline["promised"] if deadline else None,
        deadline["statutory"] if deadline else None,
        bool(deadline and deadline["provisional"]),
        False,
        _dumps(d),
    ]


class RawPipeline:
    """The four commands as direct driver calls (timestamps as ISO text, JSON via json.dumps)."""

    def __init__(
        self, db: str, target: Any, version: govsvc.ItemVersion, *, reload: bool = False
    ) -> None:
        self.db = db
        self.version = version
        self.reload = reload
        self.statements = 0
        if db == "sqlite":
            self.conn: Any = sqlite3.connect(
                target, isolation_level=None, check_same_thread=False, timeout=30
            )
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "busy_timeout=30000",
                "foreign_keys=ON",
            ):
                self.conn.execute(f"PRAGMA {pragma}")
            self.sql = dict(_SQL)
            self.cur: Any = self.conn.cursor()
        else:
            import psycopg

            url, schema = target
            self.conn = psycopg.connect(libpq_url(url), options=f"-csearch_path={schema}")
            self.sql = {k: v.replace("?", "%s") for k, v in _SQL.items()}
            self.cur = self.conn.cursor()
        departments = version.review_stages[0].departments
        self.departments = tuple(departments)
        self.cases: dict[str, dict[str, Any]] = {}
        self.stage_name = version.review_stages[0].name

    def close(self) -> None:
        self.conn.close()

    # One helper per driver call so the statement count is honest and the SQL stays readable.
    def _begin(self) -> None:
        if self.db == "sqlite":  # same as the platform: writers take the lock up front
            self.cur.execute("BEGIN IMMEDIATE")
            self.statements += 1

    def _commit(self) -> None:
        self.conn.commit()
        self.statements += 1

    def _x(self, name: str, params: Sequence[Any]) -> Any:
        self.statements += 1
        return self.cur.execute(self.sql[name], params)

    def _many(self, name: str, rows: Sequence[Sequence[Any]]) -> None:
        self.statements += 1
        self.cur.executemany(self.sql[name], rows)

    def _case(self, case_id: str) -> dict[str, Any]:
        """The case document: kept from the last command, or (reload) read by tracking code."""
        d = self.cases[case_id]
        if not self.reload:
            return d
        data = self._x("select_case", (d["tracking_code"],)).fetchone()[0]
        loaded: dict[str, Any] = data if isinstance(data, dict) else json.loads(data)
        self.cases[case_id] = loaded
        return loaded

    def _save(self, d: dict[str, Any], previous_version: int) -> None:
        params = _case_params(d)
        params.append(d["id"])
        del params[0]
        params.append(previous_version)
        if self._x("update_case", params).rowcount != 1:
            raise RuntimeError(f"case {d['id']} changed under the raw benchmark")

    def _event(
        self, d: dict[str, Any], kind: str, now: str, actor: tuple[str, str, str, Any], data: Any
    ) -> tuple[Any, ...]:
        """The event row for the case's new version (moves ``trail_head``: call before
        saving the case, insert after)."""
        return _event_row(d, d["version"], kind, now, actor, data)

    def _outbox(self, case_id: str, now: str, messages: list[tuple[str, dict[str, Any]]]) -> None:
        rows = [
            (
                _new_id(),
                case_id,
                topic,
                _dumps(payload),
                payload.get("department"),
                now,
                now,
                0,
                None,
                None,
            )
            for topic, payload in messages
        ]
        self._many("outbox", rows)

    def apply(self, person: govsvc.Person, materials: Sequence[govsvc.ProvidedMaterial]) -> str:
        now = dt.datetime.now(dt.UTC).isoformat()
        version = self.version
        number = person.key.number
        case_id = _new_id()
        mats = [
            {
                "code": m.code,
                "kind": m.kind.value,
                "reference": m.reference,
                "filename": m.filename,
                "media_type": m.media_type,
                "size": m.size,
            }
            for m in materials
        ]
        d: dict[str, Any] = {
            "id": case_id,
            "tracking_code": govsvc.TrackingCode.new(),
            "item_code": version.item_code,
            "item_version": version.version,
            "agency": version.agency.credit_code,
            "applicant": {"doc_type": person.key.doc_type.value, "number": number},
            "applicant_name": person.name,
            "agent": None,
            "channel": "2",
            "state": "draft",
            "version": 1,
            "form": {},
            "materials": mats,
            "created_at": now,
            "submitted_at": None,
            "accepted_at": None,
            "closed_at": None,
            "notice": None,
            "tolerated": [],
            "commitments": [],
            "tasks": [],
            "stage": 0,
            "suspensions": [],
            "extensions": [],
            "extension_request": None,
            "deadline": None,
            "decision": None,
            "refusal": None,
            "result": None,
            "trail_head": None,
            "_schema": 2,
        }
        party = {
            "kind": "Person",
            "key": d["applicant"],
            "name": person.name,
            "phone": None,
            "address": None,
            "_schema": 1,
        }
        who = ("applicant", str(person.key), person.name, None)
        self._begin()
        self._x(
            "party",
            (d["applicant"]["doc_type"], number, person.name, False, now, _dumps(party)),
        )
        drafted = {
            "item_code": d["item_code"],
            "item_version": d["item_version"],
            "channel": "2",
            "materials": [m["code"] for m in mats],
            "agent": None,
            "_schema": 2,
        }
        # draft + submit in one transaction, the case row written once in its final state
        events = [
            _event_row(d, 1, "drafted", now, who, drafted),
            _event_row(
                d, 2, "submitted", now, who, {"tracking_code": d["tracking_code"], "_schema": 2}
            ),
        ]
        d.update(state="submitted", version=2, submitted_at=now)
        self._x("insert_case", _case_params(d))
        self._many("event", events)
        self._many(
            "material",
            [
                (
                    case_id,
                    m["code"],
                    m["kind"],
                    m["reference"],
                    m["filename"],
                    m["media_type"],
                    m["size"],
                )
                for m in mats
            ],
        )
        self._commit()
        self.cases[case_id] = d  # an application keeps what it just wrote, as the platform does
        return case_id

    def accept(self, case_id: str) -> str:
        moment = dt.datetime.now(dt.UTC)
        now = moment.isoformat()
        today = moment.date()
        self._begin()
        d = self._case(case_id)
        previous = d["version"]
        tasks = [
            {
                "id": _new_id(),
                "stage": 1,
                "stage_name": self.stage_name,
                "department": dep,
                "status": "open",
                "opened_at": now,
                "decided_at": None,
                "decided_by": "",
                "reason": "",
                "basis": "",
            }
            for dep in self.departments
        ]
        d.update(
            state="in_review",
            version=previous + 1,
            accepted_at=now,
            tasks=tasks,
            stage=1,
            deadline={
                "start": today.isoformat(),
                "promised": (today + dt.timedelta(days=14)).isoformat(),
                "statutory": (today + dt.timedelta(days=28)).isoformat(),
                "provisional": False,
            },
        )
        event = self._event(
            d,
            "accepted",
            now,
            ("clerk", CLERK.id, CLERK.name, CLERK.agency),
            {
                "stage": 1,
                "tasks": [{"id": t["id"], "department": t["department"]} for t in tasks],
                "tolerated": [],
                "commitments": [],
                "_schema": 2,
            },
        )
        self._save(d, previous)
        self._x("event", event)
        self._outbox(
            case_id,
            now,
            [
                (
                    "review.open",
                    {
                        "task_id": t["id"],
                        "case_id": case_id,
                        "department": t["department"],
                        "stage": 1,
                        "item_code": d["item_code"],
                    },
                )
                for t in tasks
            ],
        )
        self._many(
            "task",
            [(t["id"], case_id, 1, t["department"], "open", now, None) for t in tasks],
        )
        self._commit()
        return case_id

    def decide(self, case_id: str, index: int) -> str:
        now = dt.datetime.now(dt.UTC).isoformat()
        self._begin()
        d = self._case(case_id)
        previous = d["version"]
        task = d["tasks"][index]
        reviewer = REVIEWERS[task["department"]]
        task.update(status="approved", decided_at=now, decided_by=reviewer.name)
        data: dict[str, Any] = {
            "task_id": task["id"],
            "department": task["department"],
            "stage": 1,
            "reason": "",
            "basis": "",
            "_schema": 2,
        }
        last = all(t["status"] == "approved" for t in d["tasks"])
        d["version"] = previous + 1
        if last:
            d["state"] = "approved"
            d["decision"] = {
                "approved": True,
                "reason": "",
                "basis": "",
                "remedies": "",
                "at": now,
                "by": reviewer.name,
            }
        actor = ("reviewer", reviewer.id, reviewer.name, reviewer.agency)
        event = self._event(d, "approved" if last else "task_approved", now, actor, data)
        self._save(d, previous)
        self._x("event", event)
        if last:
            self._outbox(
                case_id,
                now,
                [
                    (
                        "applicant.notify",
                        {
                            "case_id": case_id,
                            "tracking_code": d["tracking_code"],
                            "applicant": d["applicant"]["number"],
                            "kind": "approved",
                            "text": "您的申请已准予许可，正在制作结果。",
                        },
                    ),
                    # the durable result fetch, committed with the approval
                    ("result.fetch", {"case_id": case_id, "department": d["agency"]}),
                ],
            )
        self._many("update_task", [("approved", now, task["id"])])
        self._commit()
        return case_id


# --------------------------------------------------------------------------------------------
# Running both sides


Timings = dict[str, float]


LOGIN = govsvc.Authentication(provider="bench", assurance=govsvc.Assurance.L3)
CLERK = govsvc.Principal.clerk(
    "HRB-0301", "王芳", agency=AGENCY.credit_code, serves=[CO_AGENCY.credit_code], auth=LOGIN
)
REVIEWERS = {
    code: govsvc.Principal.reviewer(f"R-{code[-6:]}", "审查员", department=code, auth=LOGIN)
    for code in (AGENCY.credit_code, CO_AGENCY.credit_code)
}


def run_platform(
    p: govsvc.Platform,
    item_code: str,
    people: Sequence[govsvc.Person],
    materials: Sequence[govsvc.ProvidedMaterial],
    timings: Timings,
    *,
    reload: bool = False,
) -> None:
    """The four commands, each through a session of its principal (made per command, as a web
    host makes one per request). With ``reload`` each command names the case by tracking code."""
    clock = time.perf_counter
    for person in people:
        applicant = govsvc.Principal.applicant(person.key, person.name, auth=LOGIN)
        t0 = clock()
        case = p.session(applicant).cases.apply(item_code, person, materials=materials)
        t1 = clock()
        ref: govsvc.Case | str = case.tracking_code if reload else case
        case = p.session(CLERK).cases.accept(ref)
        t2 = clock()
        first, second = case.tasks
        ref = case.tracking_code if reload else case
        case = p.session(REVIEWERS[first.department]).reviews.decide(ref, first.id, approve=True)
        t3 = clock()
        ref = case.tracking_code if reload else case
        reviewer = p.session(REVIEWERS[second.department])
        case = reviewer.reviews.decide(ref, second.id, approve=True)
        t4 = clock()
        if case.state is not govsvc.CaseState.APPROVED:
            raise RuntimeError(f"case {case.tracking_code} ended {case.state.value}, not approved")
        timings["apply"] += t1 - t0
        timings["accept"] += t2 - t1
        timings["decide1"] += t3 - t2
        timings["decide2"] += t4 - t3


class TimedPolicy:
    """The default policy, with the time spent deciding added up (to print its share)."""

    def __init__(self) -> None:
        self.inner = govsvc.DefaultPolicy()
        self.seconds = 0.0
        self.calls = 0

    def allowed(
        self, principal: govsvc.Principal, action: govsvc.Action, resource: govsvc.Resource
    ) -> govsvc.Decision:
        started = time.perf_counter()
        try:
            return self.inner.allowed(principal, action, resource)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1


def run_raw(
    raw: RawPipeline,
    people: Sequence[govsvc.Person],
    materials: Sequence[govsvc.ProvidedMaterial],
    timings: Timings,
) -> None:
    clock = time.perf_counter
    for person in people:
        t0 = clock()
        case_id = raw.apply(person, materials)
        t1 = clock()
        raw.accept(case_id)
        t2 = clock()
        raw.decide(case_id, 0)
        t3 = clock()
        raw.decide(case_id, 1)
        t4 = clock()
        timings["apply"] += t1 - t0
        timings["accept"] += t2 - t1
        timings["decide1"] += t3 - t2
        timings["decide2"] += t4 - t3


def _zero() -> Timings:
    return dict.fromkeys(PHASES, 0.0)


def _row_counts(count: Callable[[str], tuple[int, float]]) -> dict[str, tuple[int, float]]:
    return {table: count(table) for table in TABLES}


def _platform_counts(engine: sa.Engine) -> Callable[[str], tuple[int, float]]:
    def count(table: str) -> tuple[int, float]:
        with engine.connect() as conn:
            n = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
            size = 0.0
            if table == "cases":
                size = _avg_data_size(conn.exec_driver_sql("SELECT data FROM cases").scalars())
            return int(n), size

    return count


def _raw_counts(raw: RawPipeline) -> Callable[[str], tuple[int, float]]:
    def count(table: str) -> tuple[int, float]:
        n = raw.cur.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        size = 0.0
        if table == "cases":
            rows = raw.cur.execute("SELECT data FROM cases").fetchall()
            size = _avg_data_size(r[0] for r in rows)
        raw.conn.commit()
        return int(n), size

    return count


def _avg_data_size(values: Any) -> float:
    sizes = [len(v if isinstance(v, str) else _dumps(v)) for v in values]
    return sum(sizes) / max(1, len(sizes))


def count_platform_statements(
    p: govsvc.Platform,
    item_code: str,
    person: govsvc.Person,
    materials: Sequence[govsvc.ProvidedMaterial],
) -> dict[str, int]:
    """SQL statements the platform sends per command (one untimed case, traced).

    The platform runs hot-path statements on the driver cursor (govsvc.store.fast), which
    SQLAlchemy's events do not see, so SQLite's own trace callback counts them (BEGIN and
    COMMIT included). psycopg has no such hook: on PostgreSQL the count is not printed.
    """
    if p.engine.dialect.name != "sqlite":
        return {}
    counter = {"n": 0}

    def seen(_sql: str) -> None:
        counter["n"] += 1

    def trace(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.set_trace_callback(seen)

    p.engine.dispose()  # fresh connections get the callback
    sa.event.listen(p.engine, "connect", trace)
    try:
        result = {}
        applicant = govsvc.Principal.applicant(person.key, person.name, auth=LOGIN)
        case = p.session(applicant).cases.apply(item_code, person, materials=materials)
        result["apply"], counter["n"] = counter["n"], 0
        case = p.session(CLERK).cases.accept(case)
        result["accept"], counter["n"] = counter["n"], 0
        first, second = case.tasks
        case = p.session(REVIEWERS[first.department]).reviews.decide(case, first.id, approve=True)
        result["decide1"], counter["n"] = counter["n"], 0
        p.session(REVIEWERS[second.department]).reviews.decide(case, second.id, approve=True)
        result["decide2"] = counter["n"]
    finally:
        sa.event.remove(p.engine, "connect", trace)
        p.engine.dispose()
    return result


def print_profile(profiler: cProfile.Profile, top: int) -> None:
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    entries = stats.stats  # type: ignore[attr-defined]

    def name(key: tuple[str, int, str]) -> str:
        path, line, func = key
        for marker in ("site-packages/", "/src/", "/lib/python3"):
            if marker in path:
                path = path.split(marker, 1)[1]
                break
        return f"{path}:{line}({func})" if line else func

    rows = sorted(entries.items(), key=lambda kv: kv[1][3], reverse=True)
    print(f"\nprofile: top {top} by cumulative time (total {total:.2f} s)")
    print(f"{'cum %':>6} {'self %':>6} {'calls':>9}  function")
    for key, (_cc, nc, tt, ct, _callers) in rows[:top]:
        print(f"{100 * ct / total:6.1f} {100 * tt / total:6.1f} {nc:9d}  {name(key)}")
    rows = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)
    print(f"\nprofile: top {top} by own time")
    print(f"{'self %':>6} {'cum %':>6} {'calls':>9}  function")
    for key, (_cc, nc, tt, ct, _callers) in rows[:top]:
        print(f"{100 * tt / total:6.1f} {100 * ct / total:6.1f} {nc:9d}  {name(key)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=5000, help="timed cases per side")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("GOVSVC_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="SQLAlchemy URL (default: $GOVSVC_TEST_POSTGRES_URL or %(default)s)",
    )
    parser.add_argument("--warmup", type=int, default=200, help="untimed cases per side first")
    parser.add_argument("--chunk", type=int, default=100, help="cases per interleaved chunk")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the timed run, profile the platform on --profile-cases more cases",
    )
    parser.add_argument("--profile-cases", type=int, default=0, help="default: min(cases, 1000)")
    parser.add_argument("--top", type=int, default=25, help="functions listed by --profile")
    parser.add_argument(
        "--profile-reload", action="store_true", help="profile the by-tracking-code mode"
    )
    args = parser.parse_args(argv)
    n = args.cases
    if n < 1 or args.chunk < 1 or args.warmup < 0:
        parser.error("--cases and --chunk must be at least 1, --warmup at least 0")

    item, version = bench_item()
    materials = provided_materials(version)
    profile_n = args.profile_cases or min(n, 1000)
    people = applicants(0, 2 * args.warmup + 3 * n + 51 + (profile_n if args.profile else 0))
    warm = people[: 2 * args.warmup]
    timed = people[2 * args.warmup : 2 * args.warmup + 3 * n]
    traced = people[2 * args.warmup + 3 * n]
    cold_warm = people[2 * args.warmup + 3 * n + 1 : 2 * args.warmup + 3 * n + 51]
    extra = people[2 * args.warmup + 3 * n + 51 :]

    print(f"govsvc pipeline bench: db={args.db} cases={n} warmup={args.warmup} chunk={args.chunk}")
    print(f"machine: {machine_note()}; {time.strftime('%Y-%m-%d %H:%M')}")
    policy = TimedPolicy()
    with fresh_databases(args.db, args.postgres_url) as dbs:
        url, schema = dbs["platform"]
        p = govsvc.Platform.open(
            url, schema=schema, provisional_calendar=True, load_entry_points=False, policy=policy
        )
        p.system().catalogue.publish(item, version)
        cold = govsvc.Platform.open(
            url,
            schema=schema,
            provisional_calendar=True,
            load_entry_points=False,
            policy=policy,
            case_cache=0,
            migrate_schema=False,
        )
        create_schema(*dbs["raw"])
        target = dbs.get("raw_path") or dbs["raw"]
        raw = RawPipeline(args.db, target, version)
        raw_reload = RawPipeline(args.db, target, version, reload=True)
        try:
            code = item.implementation_code
            half = len(warm) // 2
            run_platform(p, code, warm[:half], materials, _zero())
            run_platform(p, code, warm[half:], materials, _zero(), reload=True)
            run_platform(cold, code, cold_warm, materials, _zero(), reload=True)
            run_raw(raw, warm[:half], materials, _zero())
            run_raw(raw_reload, warm[half:], materials, _zero())

            sides_named = ("platform", "raw", "platform_reload", "raw_reload", "platform_cold")
            t = {side: _zero() for side in sides_named}
            raw.statements = raw_reload.statements = 0
            policy.seconds, policy.calls = 0.0, 0
            # ABBA order per pair of chunks so a change of CPU speed hits every side alike.
            for k, start in enumerate(range(0, n, args.chunk)):
                chunk = timed[start : start + args.chunk]
                again = timed[n + start : n + start + args.chunk]
                third = timed[2 * n + start : 2 * n + start + args.chunk]
                sides = [
                    lambda c=chunk: run_platform(p, code, c, materials, t["platform"]),
                    lambda c=chunk: run_raw(raw, c, materials, t["raw"]),
                    lambda c=again: run_platform(
                        p, code, c, materials, t["platform_reload"], reload=True
                    ),
                    lambda c=again: run_raw(raw_reload, c, materials, t["raw_reload"]),
                    lambda c=third: run_platform(
                        cold, code, c, materials, t["platform_cold"], reload=True
                    ),
                ]
                for side in sides if k % 2 == 0 else reversed(sides):
                    side()
            raw_statements = (raw.statements, raw_reload.statements)
            policy_seconds, policy_calls = policy.seconds, policy.calls

            plat_counts = _row_counts(_platform_counts(p.engine))
            raw_counts = _row_counts(_raw_counts(raw))
            statements = count_platform_statements(p, code, traced, materials)

            profiler = None
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                run_platform(p, code, extra, materials, _zero(), reload=args.profile_reload)
                profiler.disable()
        finally:
            raw.close()
            raw_reload.close()
            cold.close()
            p.close()

    cps = {side: n / sum(times.values()) for side, times in t.items()}
    for label, plat, base in (
        ("Case objects", "platform", "raw"),
        ("by tracking code", "platform_reload", "raw_reload"),
    ):
        print(f"\nper-phase time per case (ms), {label}:   platform     raw   platform/raw")
        for phase in PHASES:
            a, b = 1000 * t[plat][phase] / n, 1000 * t[base][phase] / n
            print(f"  {phase:<28} {a:8.3f} {b:7.3f} {a / b:8.2f}x")
        total_a, total_b = sum(t[plat].values()), sum(t[base].values())
        print(f"  {'total':<28} {1000 * total_a / n:8.3f} {1000 * total_b / n:7.3f}")
    if statements:
        print(
            "\nSQL statements per case (incl. BEGIN/COMMIT): platform "
            f"{sum(statements.values())} "
            f"({', '.join(f'{k}={v}' for k, v in statements.items())}), "
            f"raw {raw_statements[0] / n:.0f} (by tracking code {raw_statements[1] / n:.0f})"
        )
    print("rows per case after the run (platform / raw):")
    plat_cases, raw_cases = plat_counts["cases"][0], raw_counts["cases"][0]
    mismatched = []
    for table in TABLES:
        (pc, psize), (rc, rsize) = plat_counts[table], raw_counts[table]
        per_p, per_r = pc / plat_cases, rc / raw_cases
        note = f"   data avg {psize:.0f} / {rsize:.0f} chars" if table == "cases" else ""
        print(f"  {table:<16} {per_p:7.2f} / {per_r:7.2f}{note}")
        if abs(per_p - per_r) > 1e-9:
            mismatched.append(table)
    if mismatched:
        print(f"WARNING: rows per case differ in {', '.join(mismatched)}", file=sys.stderr)
    if profiler is not None:
        print_profile(profiler, args.top)
    platform_seconds = sum(
        sum(t[side].values()) for side in ("platform", "platform_reload", "platform_cold")
    )
    share = 100 * policy_seconds / platform_seconds
    print(
        f"\npolicy: {policy_calls} decisions, {1e6 * policy_seconds / max(1, policy_calls):.1f} "
        f"µs each, {share:.2f} % of the platform's time (target < 5 %)"
    )
    for side in t:
        print(f"{side + ':':<17} {cps[side]:,.1f} cases/s")
    print(f"policy_share={share:.2f}%")
    print(f"ratio_reload_cold={cps['platform_cold'] / cps['raw_reload']:.3f}")
    print(f"ratio={cps['platform'] / cps['raw']:.3f}")
    print(f"ratio_reload={cps['platform_reload'] / cps['raw_reload']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
