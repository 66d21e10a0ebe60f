"""Cost stays flat as data grows: the list queries and the empty work passes read indexes,
never whole tables; the in-process caches stay bounded; bench/scale.py runs (smoke mode).

The figures themselves (1,000 against 100,000 stored cases) come from ``bench/scale.py``;
these tests hold what makes them flat, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import govsvc
from govsvc import ProvidedMaterial
from govsvc.services._runtime import BoundedCache
from govsvc.store import plans
from govsvc.store.tables import metadata
from govsvc.testing import applicant_of, clerk_for, reviewer_of, supervisor_of
from tests.conftest import FakeClock, sample_catalogue
from tests.departments import HEALTH, SAMR, plugin_for, standard_departments

MakePlatform = Callable[..., govsvc.Platform]
FOOD = "食品经营许可（新办）"  # SAMR and HEALTH review in parallel
BIG = ("cases", "case_events", "case_materials", "review_tasks", "deliveries", "outbox", "parties")
ROOT = Path(__file__).resolve().parents[1]


def _citizen(i: int) -> str:
    body = f"23010319850312{i % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def _workload(p: govsvc.Platform) -> tuple[govsvc.Person, govsvc.Principal]:
    """A few cases at every stage: approved and handed out, in review, applied for by an
    organisation's agent; returns an applicant and an agent principal."""
    code = next(i.implementation_code for i, _ in sample_catalogue() if i.name == FOOD)
    version = p.public().catalogue.version(code)
    materials = [
        ProvidedMaterial(code=m.code, filename=f"x.{m.formats[0]}")
        for m in version.materials
        if m.necessity is not govsvc.Necessity.OPTIONAL
    ]
    people = [govsvc.Person(key=govsvc.PartyKey.of(_citizen(i)), name="张伟") for i in range(4)]
    for person in people:
        case = p.session(applicant_of(person)).cases.apply(code, person, materials=materials)
        p.session(clerk_for(case.agency)).cases.accept(case)
    org = govsvc.Organisation(
        key=govsvc.PartyKey.of(govsvc.testing.make_credit_code(7)), name="哈尔滨市冰城饺子馆"
    )
    agent = govsvc.Principal.agent(
        people[0].key, "张伟", organisation=org.key, auth=govsvc.testing.TEST_LOGIN
    )
    case = p.session(agent).cases.apply(code, org, materials=materials)
    p.session(clerk_for(case.agency)).cases.accept(case)
    p.system().departments.deliver()
    return people[1], agent


def test_list_queries_and_empty_passes_read_indexes_not_whole_tables(
    make_platform: MakePlatform, clock: FakeClock
) -> None:
    legacies = standard_departments()
    p = make_platform(plugin_for(legacies), work_policy=govsvc.WorkPolicy())
    person, agent = _workload(p)
    for legacy in (legacies[SAMR], legacies[HEALTH]):
        for task_id in list(legacy.by_task_id)[:2]:
            legacy.decide(task_id)
    p.system().departments.poll()  # two cases approved, the others asked once
    p.system().departments.fetch_results()
    p.system().supervision.sweep_lights()
    clock.advance(seconds=1)  # every pass below is an empty pass: nothing is due yet

    supervisor = p.session(supervisor_of("230100")).supervision
    lists: dict[str, Callable[[], object]] = {
        "supervision.overdue": lambda: supervisor.overdue(),
        "supervision.warnings": lambda: supervisor.warnings(light="green"),
        "supervision.awaiting_results": lambda: supervisor.awaiting_results(),
        "reviews.queue": lambda: p.session(reviewer_of(SAMR)).reviews.queue(),
        "cases.mine (applicant)": lambda: p.session(applicant_of(person)).cases.mine(),
        "cases.mine (agent)": lambda: p.session(agent).cases.mine(),
        "cases.of_applicant": lambda: p.session(clerk_for(SAMR)).cases.of_applicant(person.key),
        "outbox.pending": lambda: p.system().outbox.pending(topic="applicant.notify"),
        "departments.poll": lambda: p.system().departments.poll(),
        "departments.deliver": lambda: p.system().departments.deliver(),
        "departments.fetch_results": lambda: p.system().departments.fetch_results(),
    }
    bounded = plans.partial_indexes(metadata)
    assert {"ix_outbox_open", "ix_deliveries_due"} <= bounded
    scans: dict[str, list[str]] = {}
    seen = 0
    for name, run in lists.items():
        with plans.capture(p.engine) as sent:
            run()
        assert sent, f"{name} sent no SELECT through SQLAlchemy: nothing was checked"
        with p.engine.connect() as conn:
            for statement in sent:
                lines = plans.plan(conn, statement, prefer_indexes=True)
                found = plans.full_scans(lines, conn.dialect.name, BIG, bounded)
                seen += 1
                if found:
                    scans.setdefault(name, []).append(f"{statement.sql} -> {lines}")
    assert seen >= len(lists)
    assert scans == {}, "\n".join(f"{k}: {v}" for k, v in scans.items())


def test_full_scans_reads_both_databases_plans() -> None:
    sqlite_lines = [
        "SEARCH cases USING INDEX ix_cases_overdue (state=? AND suspended=?)",
        "SCAN outbox",
        "SCAN deliveries USING COVERING INDEX ix_deliveries_due",
        "SCAN review_tasks USING INDEX ix_review_tasks_queue",
        "SCAN fetch",  # a subquery's alias, not a table
    ]
    found = plans.full_scans(sqlite_lines, "sqlite", BIG, {"ix_deliveries_due"})
    assert found == ["outbox", "review_tasks"]
    pg_lines = [
        "Limit  (cost=0.28..8.30 rows=1 width=32)",
        "  ->  Index Scan using ix_cases_overdue on cases  (cost=0.28..8.30 rows=1 width=32)",
        "  ->  Seq Scan on outbox  (cost=0.00..1.01 rows=1 width=32)",
    ]
    assert plans.full_scans(pg_lines, "postgresql", BIG) == ["outbox"]


def test_party_upsert_cache_stays_bounded_and_writes_still_happen(
    make_platform: MakePlatform,
) -> None:
    p = make_platform()
    cache = p._runtime.parties_written
    assert cache.size == 4096  # the documented maximum (docs/architecture.md)
    cache.size = 5  # the same LRU, small enough to overflow here
    code = next(i.implementation_code for i, _ in sample_catalogue() if i.name == FOOD)
    version = p.public().catalogue.version(code)
    materials = [
        ProvidedMaterial(code=m.code, filename=f"x.{m.formats[0]}")
        for m in version.materials
        if m.necessity is not govsvc.Necessity.OPTIONAL
    ]
    people = [govsvc.Person(key=govsvc.PartyKey.of(_citizen(i)), name="张伟") for i in range(12)]
    for person in people:
        p.session(applicant_of(person)).cases.apply(code, person, materials=materials)
        assert len(cache) <= 5
    assert len(cache) == 5
    # The oldest applicant fell out of the cache; their next application still records a
    # changed party (the cache only skips writes that would change nothing).
    renamed = govsvc.Person(key=people[0].key, name="张伟", phone="13900000000")
    p.session(applicant_of(renamed)).cases.apply(code, renamed, materials=materials)
    clerk = p.session(clerk_for(SAMR))
    assert clerk.parties.get(renamed.key, purpose="核对申请人").phone == "13900000000"


def test_bounded_cache_is_an_lru_with_a_maximum() -> None:
    cache: BoundedCache[int, str] = BoundedCache(3)
    for n in range(10):
        cache.put(n, str(n))
    assert len(cache) == 3
    assert cache.get(6) is None and cache.get(9) == "9"
    cache.get(7)  # used: kept over 8, the least recently used
    cache.put(10, "10")
    assert cache.get(8) is None and cache.get(7) == "7"
    off: BoundedCache[int, str] = BoundedCache(0)
    off.put(1, "1")
    assert len(off) == 0


def test_the_platforms_caches_are_all_bounded(make_platform: MakePlatform) -> None:
    """Every cache the platform keeps per process is a BoundedCache or holds weak references;
    a plain dict or list attribute here would be one that can grow with the data."""
    rt = make_platform()._runtime
    caches = {name: v for name, v in vars(rt).items() if isinstance(v, BoundedCache)}
    assert set(caches) >= {"recent", "parties_written", "versions"}
    assert all(0 < c.size <= 10_000 for c in caches.values())
    unbounded = {
        name
        for name, v in vars(rt).items()
        if isinstance(v, dict | list | set) and len(v) > 0 and name not in _FIXED_SIZE
    }
    assert unbounded == set(), unbounded


# Per-process state whose size is set by configuration, not by the data.
_FIXED_SIZE = {"authorities", "listeners", "case_event_hooks", "checkpoint_keys"}


def test_scale_bench_smoke_mode_runs_and_prints_growth_last() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--small", "--db", "sqlite"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("growth="), lines[-5:]
    assert float(lines[-1].split("=", 1)[1]) > 0
    assert any(line.startswith("departments.poll (empty)") for line in lines)


@pytest.mark.parametrize("size", [1, 2])
def test_overdue_pages_by_keyset(make_platform: MakePlatform, clock: FakeClock, size: int) -> None:
    p = make_platform(plugin_for(standard_departments()))
    _workload(p)
    clock.advance(days=40)
    supervision = p.session(supervisor_of("230100")).supervision
    whole = supervision.overdue()
    assert len(whole.items) == 5 and whole.next is None
    seen, after = [], None
    while True:
        page = supervision.overdue(limit=size, after=after)
        seen += [c.id for c in page.items]
        if page.next is None:
            break
        after = page.next
    assert seen == [c.id for c in whole.items]
    with pytest.raises(govsvc.InvalidInput, match="cursor"):
        supervision.overdue(after="WzEsMl0")  # [1,2]: a cursor no list gave out
