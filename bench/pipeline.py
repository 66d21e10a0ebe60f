"""Case pipeline throughput: govsvc.Platform against raw driver calls writing the same rows.

Every case goes submit (4 materials) → accept → 2 parallel review decisions → approved: four
commands, each one transaction. The platform side calls ``govsvc.Platform``; the raw side
writes the same rows with plain sqlite3 / psycopg 3 statements, one transaction per command,
reading the case row back at the start of every command after the first, into a schema
created by the same migrations. Both sides run in the same process, interleaved in chunks
(so the machine's speed changes hit both), after an untimed warm-up.

    python bench/pipeline.py --cases 2000 --db sqlite
    python bench/pipeline.py --cases 1000 --db postgres --profile

The last line is ``ratio=<platform cases/s ÷ raw cases/s>``.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
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
    "applicant_name, channel, state, version, created_at, submitted_at, accepted_at, "
    "closed_at, due_promised, due_statutory, due_provisional, suspended, data"
)
_SQL = {
    "party": (
        "INSERT INTO parties (doc_type, number, name, is_organisation, updated_at, data) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (doc_type, number) DO UPDATE SET "
        "name = excluded.name, is_organisation = excluded.is_organisation, "
        "updated_at = excluded.updated_at, data = excluded.data"
    ),
    "insert_case": f"INSERT INTO cases ({_CASE_COLUMNS}) VALUES ({', '.join('?' * 20)})",
    "update_case": (
        "UPDATE cases SET tracking_code = ?, item_code = ?, item_version = ?, agency = ?, "
        "applicant_type = ?, applicant_number = ?, applicant_name = ?, channel = ?, state = ?, "
        "version = ?, created_at = ?, submitted_at = ?, accepted_at = ?, closed_at = ?, "
        "due_promised = ?, due_statutory = ?, due_provisional = ?, suspended = ?, data = ? "
        "WHERE id = ? AND version = ?"
    ),
    "select_case": "SELECT data FROM cases WHERE id = ?",
    "event": (
        "INSERT INTO case_events (case_id, seq, kind, at, actor, data) VALUES (?, ?, ?, ?, ?, ?)"
    ),
    "material": (
        "INSERT INTO case_materials (case_id, code, kind, reference, filename, media_type, size) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
    "outbox": (
        "INSERT INTO outbox (id, case_id, topic, payload, created_at, available_at, attempts, "
        "delivered_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ),
    "task": (
        "INSERT INTO review_tasks (id, case_id, stage, department, status, opened_at, "
        "decided_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
    ),
    "update_task": "UPDATE review_tasks SET status = ?, decided_at = ? WHERE id = ?",
}


def _new_id() -> str:
    return secrets.token_hex(16)


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

    def __init__(self, db: str, target: Any, version: govsvc.ItemVersion) -> None:
        self.db = db
        self.version = version
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

    def _load(self, case_id: str) -> dict[str, Any]:
        data = self._x("select_case", (case_id,)).fetchone()[0]
        return data if isinstance(data, dict) else json.loads(data)  # psycopg parses jsonb

    def _save(self, d: dict[str, Any], previous_version: int) -> None:
        params = _case_params(d)
        params.append(d["id"])
        del params[0]
        params.append(previous_version)
        if self._x("update_case", params).rowcount != 1:
            raise RuntimeError(f"case {d['id']} changed under the raw benchmark")

    def _event(self, d: dict[str, Any], kind: str, now: str, actor: str, data: Any) -> None:
        self._x("event", (d["id"], d["version"], kind, now, actor, _dumps(data)))

    def _outbox(self, case_id: str, now: str, messages: list[tuple[str, dict[str, Any]]]) -> None:
        rows = [
            (_new_id(), case_id, topic, _dumps(payload), now, now, 0, None, None)
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
            "tracking_code": secrets.token_hex(6).upper()[:11],
            "item_code": version.item_code,
            "item_version": version.version,
            "agency": version.agency.credit_code,
            "applicant": {"doc_type": person.key.doc_type.value, "number": number},
            "applicant_name": person.name,
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
            "deadline": None,
            "decision": None,
            "refusal": None,
            "result": None,
        }
        party = {
            "kind": "Person",
            "key": d["applicant"],
            "name": person.name,
            "phone": None,
            "address": None,
        }
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
        }
        # draft + submit in one transaction, the case row written once in its final state
        d.update(state="submitted", version=2, submitted_at=now)
        self._x("insert_case", _case_params(d))
        self._many(
            "event",
            [
                (case_id, 1, "drafted", now, "applicant", _dumps(drafted)),
                (
                    case_id,
                    2,
                    "submitted",
                    now,
                    "applicant",
                    _dumps({"tracking_code": d["tracking_code"]}),
                ),
            ],
        )
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
        d = self.cases[case_id]
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
        self._save(d, previous)
        self._event(
            d,
            "accepted",
            now,
            "clerk",
            {
                "tolerated": [],
                "commitments": [],
                "stage": 1,
                "tasks": [{"id": t["id"], "department": t["department"]} for t in tasks],
            },
        )
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
        d = self.cases[case_id]
        previous = d["version"]
        task = d["tasks"][index]
        task.update(status="approved", decided_at=now, decided_by="reviewer")
        data: dict[str, Any] = {
            "task_id": task["id"],
            "department": task["department"],
            "stage": 1,
            "approved": True,
            "reason": "",
            "basis": "",
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
                "by": "reviewer",
            }
            data["outcome"] = "approved"
        self._save(d, previous)
        self._event(d, "approved" if last else "task_approved", now, "reviewer", data)
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
                    )
                ],
            )
        self._many("update_task", [("approved", now, task["id"])])
        self._commit()
        return case_id


# --------------------------------------------------------------------------------------------
# Running both sides


Timings = dict[str, float]


def run_platform(
    p: govsvc.Platform,
    item_code: str,
    people: Sequence[govsvc.Person],
    materials: Sequence[govsvc.ProvidedMaterial],
    timings: Timings,
) -> None:
    clock = time.perf_counter
    for person in people:
        t0 = clock()
        case = p.apply(item_code, person, materials=materials)
        t1 = clock()
        case = p.accept(case)
        t2 = clock()
        case = p.decide(case, case.tasks[0].id, approve=True)
        t3 = clock()
        case = p.decide(case, case.tasks[1].id, approve=True)
        t4 = clock()
        if case.state is not govsvc.CaseState.APPROVED:
            raise RuntimeError(f"case {case.tracking_code} ended {case.state.value}, not approved")
        timings["apply"] += t1 - t0
        timings["accept"] += t2 - t1
        timings["decide1"] += t3 - t2
        timings["decide2"] += t4 - t3


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
        case = p.apply(item_code, person, materials=materials)
        result["apply"], counter["n"] = counter["n"], 0
        case = p.accept(case)
        result["accept"], counter["n"] = counter["n"], 0
        case = p.decide(case, case.tasks[0].id, approve=True)
        result["decide1"], counter["n"] = counter["n"], 0
        p.decide(case, case.tasks[1].id, approve=True)
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
    args = parser.parse_args(argv)
    n = args.cases
    if n < 1 or args.chunk < 1 or args.warmup < 0:
        parser.error("--cases and --chunk must be at least 1, --warmup at least 0")

    item, version = bench_item()
    materials = provided_materials(version)
    profile_n = args.profile_cases or min(n, 1000)
    people = applicants(0, args.warmup + n + 1 + (profile_n if args.profile else 0))
    warm, timed = people[: args.warmup], people[args.warmup : args.warmup + n]
    traced = people[args.warmup + n]
    extra = people[args.warmup + n + 1 :]

    print(f"govsvc pipeline bench: db={args.db} cases={n} warmup={args.warmup} chunk={args.chunk}")
    print(f"machine: {machine_note()}; {time.strftime('%Y-%m-%d %H:%M')}")
    with fresh_databases(args.db, args.postgres_url) as dbs:
        url, schema = dbs["platform"]
        p = govsvc.Platform.open(
            url, schema=schema, provisional_calendar=True, load_entry_points=False
        )
        p.publish(item, version)
        create_schema(*dbs["raw"])
        raw = RawPipeline(args.db, dbs.get("raw_path") or dbs["raw"], version)
        try:
            code = item.implementation_code
            run_platform(p, code, warm, materials, _zero())
            run_raw(raw, warm, materials, _zero())

            plat_t, raw_t = _zero(), _zero()
            raw.statements = 0
            # ABBA order per pair of chunks so a change of CPU speed hits both sides alike.
            for k, start in enumerate(range(0, n, args.chunk)):
                chunk = timed[start : start + args.chunk]
                sides = [
                    lambda c=chunk: run_platform(p, code, c, materials, plat_t),
                    lambda c=chunk: run_raw(raw, c, materials, raw_t),
                ]
                for side in sides if k % 2 == 0 else reversed(sides):
                    side()
            raw_statements = raw.statements / n

            plat_counts = _row_counts(_platform_counts(p.engine))
            raw_counts = _row_counts(_raw_counts(raw))
            statements = count_platform_statements(p, code, traced, materials)

            profiler = None
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                run_platform(p, code, extra, materials, _zero())
                profiler.disable()
        finally:
            raw.close()
            p.close()

    plat_total, raw_total = sum(plat_t.values()), sum(raw_t.values())
    plat_cps, raw_cps = n / plat_total, n / raw_total
    print("\nper-phase time per case (ms)   platform     raw   platform/raw")
    for phase in PHASES:
        a, b = 1000 * plat_t[phase] / n, 1000 * raw_t[phase] / n
        print(f"  {phase:<28} {a:8.3f} {b:7.3f} {a / b:8.2f}x")
    print(f"  {'total':<28} {1000 * plat_total / n:8.3f} {1000 * raw_total / n:7.3f}")
    if statements:
        print(
            "\nSQL statements per case (incl. BEGIN/COMMIT): platform "
            f"{sum(statements.values())} "
            f"({', '.join(f'{k}={v}' for k, v in statements.items())}), "
            f"raw {raw_statements:.0f}"
        )
    print("rows after the run (platform / raw):")
    for table in TABLES:
        (pc, psize), (rc, rsize) = plat_counts[table], raw_counts[table]
        note = f"   data avg {psize:.0f} / {rsize:.0f} chars" if table == "cases" else ""
        print(f"  {table:<16} {pc:7d} / {rc:7d}{note}")
    mismatched = [t for t in TABLES if plat_counts[t][0] != raw_counts[t][0]]
    if mismatched:
        print(f"WARNING: row counts differ in {', '.join(mismatched)}", file=sys.stderr)
    if profiler is not None:
        print_profile(profiler, args.top)
    print(f"\nplatform: {plat_cps:,.1f} cases/s")
    print(f"raw:      {raw_cps:,.1f} cases/s")
    print(f"ratio={plat_cps / raw_cps:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
