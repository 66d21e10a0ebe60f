"""Cost as data grows: each list query and each empty work pass at 1,000 and at 100,000 cases.

Two databases are built side by side (two SQLite files, or two PostgreSQL schemas). Both hold
the same **open workload**, made through the platform's own commands and work passes: cases in
review at two departments (delivered to an in-process legacy system and polled once, still
undecided), cases overdue in review, approved cases whose result fetch failed and waits for
its retry, and a few submitted cases not yet accepted. What differs is the **history**: the
small database has finished cases up to ``--small-size`` (1,000) in all, the large one up to
``--large-size`` (100,000). That is what a city's database looks like after a few years: the
work in hand stays about the same, the finished cases pile up.

The finished cases are a dozen templates made through the platform (approved and handed out,
applied for an organisation by its agent (经办人), denied by one department, withdrawn), then
cloned in bulk with Core ``executemany`` into every table the platform writes (case, trail,
materials, review tasks, deliveries, outbox, parties). Each clone gets its own case id,
tracking code, applicant, agent, task and outbox ids — replaced everywhere the template's
documents mention them — and its trail is re-chained with the store's own hash, so every row
is one the platform could have written. The run checks a sample of clones with the
platform's own reads (``cases.get``, ``cases.trail``, ``cases.verify_trail``).

Then each query runs ``--rounds`` times on each database, alternating small and large (so the
CPU speed changes this kind of machine shows hit both alike), after one untimed call. It
prints the median milliseconds at both sizes and the ratio (the median of the per-round
ratios, large ÷ small: a burst of load from other processes then hits both sides of a pair),
and last ``growth=<largest ratio>`` (target ≤ 1.5).

    python bench/scale.py                   # SQLite and PostgreSQL, 1,000 vs 100,000 cases
    python bench/scale.py --db sqlite
    python bench/scale.py --small           # smoke test: 200 vs 2,000 cases, 3 rounds
    python bench/scale.py --explain         # also print each query's plan on the large DB
"""

from __future__ import annotations

import os
import sys

# bench/http.py is named like the standard library's http package, and Python puts the
# script's directory first on sys.path: take it off while the standard library's http (which
# httpx, urllib and so govsvc import) is imported, then put it back for _common.
_HERE_DIR = os.path.dirname(os.path.abspath(__file__))
_PATH = sys.path[:]
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE_DIR]
import http.client  # noqa: F401

sys.path[:] = _PATH

import argparse
import datetime as dt
import hashlib
import json
import random
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
from _common import (
    AGENCY,
    CO_AGENCY,
    DEFAULT_POSTGRES_URL,
    bench_item,
    citizen_number,
    libpq_url,
    machine_note,
    provided_materials,
)

import govsvc
from govsvc.store import chain, plans
from govsvc.store.cases import EVENT_FIELDS
from govsvc.store.tables import (
    cases_t,
    deliveries_t,
    events_t,
    materials_t,
    outbox_t,
    parties_t,
    tasks_t,
)
from govsvc.testing import make_credit_code

LOGIN = govsvc.Authentication(provider="bench", assurance=govsvc.Assurance.L3)
CLERK = govsvc.Principal.clerk(
    "HRB-0301", "王芳", agency=AGENCY.credit_code, serves=[CO_AGENCY.credit_code], auth=LOGIN
)
SUPERVISOR = govsvc.Principal.supervisor("JC-01", "监察员", division="230100", auth=LOGIN)
# A district supervisor (道里区): the city's cases are not theirs, so their lists are empty.
DISTRICT = govsvc.Principal.supervisor("JC-02", "监察员", division="230102", auth=LOGIN)
REVIEWER = govsvc.Principal.reviewer("R-0001", "审查员", department=AGENCY.credit_code, auth=LOGIN)
DAY = dt.timedelta(days=1)
# Undecided tasks are asked again only after months, and a failed fetch retried as late, so
# nothing is due while the queries are measured: every pass is an empty pass.
PATIENT = govsvc.WorkPolicy(
    retry_base=90 * 86400, retry_cap=180 * 86400, poll_base=90 * 86400, poll_cap=180 * 86400
)
TABLES = (cases_t, events_t, materials_t, tasks_t, deliveries_t, outbox_t)


class Clock:
    """The platform's clock, moved by the bench (templates are made months in the past)."""

    def __init__(self, moment: dt.datetime) -> None:
        self.moment = moment

    def __call__(self) -> dt.datetime:
        return self.moment


class InstantLegacy:
    """A department's legacy system answering at once: ids, decisions it is told, licences."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.legacy_ids: dict[str, str] = {}
        self.decisions: dict[str, govsvc.ReviewOutcome] = {}
        self.refuse_results = False

    def open_review(self, request: govsvc.ReviewRequest) -> str:
        return self.legacy_ids.setdefault(
            request.task_id, f"{self.code[-4:]}-{len(self.legacy_ids) + 1:07d}"
        )

    def poll_review(self, ticket: govsvc.ReviewTicket) -> govsvc.ReviewOutcome | None:
        return self.decisions.get(ticket.task_id)

    def issue_result(self, ticket: govsvc.ReviewTicket) -> govsvc.IssuedResult:
        if self.refuse_results:
            raise govsvc.AdapterUnavailable(f"{self.code}: licence service down (503)")
        return govsvc.IssuedResult(
            name="食品经营许可证", number=f"JY1{ticket.legacy_id[-7:]}", data={"类别": "餐饮服务"}
        )

    def cancel_review(self, ticket: govsvc.ReviewTicket) -> None:
        self.decisions.pop(ticket.task_id, None)

    def health(self) -> bool:
        return True


class Departments:
    """The plugin registering the two reviewing departments with their legacy systems."""

    def __init__(self, legacies: Mapping[str, InstantLegacy]) -> None:
        self.legacies = legacies

    @govsvc.hookimpl
    def govsvc_departments(self) -> list[govsvc.Department]:
        return [
            govsvc.Department(code=code, name=code, division="230100", adapter=legacy)
            for code, legacy in self.legacies.items()
        ]


APPROVE = govsvc.ReviewOutcome(approved=True, reason="符合条件", decided_by="科员")
DENY = govsvc.ReviewOutcome(
    approved=False, reason="经营场所不符合卫生要求", basis="《食品安全法》第三十三条"
)


class Scenario:
    """One database: the platform on it, its legacy systems, and the people in its cases."""

    def __init__(self, url: str, schema: str | None, now: dt.datetime) -> None:
        self.clock = Clock(now)
        self.now = now
        self.legacies = {
            code: InstantLegacy(code) for code in (AGENCY.credit_code, CO_AGENCY.credit_code)
        }
        self.p = govsvc.Platform.open(
            url,
            schema=schema,
            clock=self.clock,
            provisional_calendar=True,
            load_entry_points=False,
            plugins=[Departments(self.legacies)],
            work_policy=PATIENT,
            # The failing licence service must not open the agency's circuit: its polls and
            # deliveries would then wait too, and the two databases would differ.
            call_policy=govsvc.CallPolicy(attempts=1, failure_threshold=1_000_000),
        )
        item, version = bench_item()
        # Its own catalogue code: the bench item's is the sample food licence's, whose result
        # is an e-certificate, and signing one needs the departments' keys (bench/
        # certificates.py measures issuing). Here the licence is issued on paper.
        item = attrs.evolve(item, catalogue_code="000176010099")
        version = attrs.evolve(version, item_code=item.implementation_code)
        self.p.system().catalogue.publish(item, version)
        self.item_code = item.implementation_code
        self.materials = provided_materials(version)
        self.people = 0
        self.engine = self.p.engine  # on PostgreSQL its search path is the schema

    def person(self) -> govsvc.Person:
        self.people += 1
        return govsvc.Person(key=govsvc.PartyKey.of(citizen_number(self.people)), name="张三")

    def passes(self) -> None:
        """The worker's passes, and the host's notifier marking its notices sent."""
        system = self.p.system()
        system.departments.deliver()
        system.departments.poll()
        system.departments.fetch_results()
        system.departments.deliver()
        notices = system.outbox.pending(topic="applicant.notify", limit=1000)
        system.outbox.mark_delivered([n.id for n in notices])

    def apply(self, *, agent: bool = False) -> govsvc.Case:
        person = self.person()
        if not agent:
            applicant = govsvc.Principal.applicant(person.key, person.name, auth=LOGIN)
            return self.p.session(applicant).cases.apply(
                self.item_code, person, materials=self.materials
            )
        org = govsvc.Organisation(
            key=govsvc.PartyKey.of(make_credit_code(self.people)), name="哈尔滨市冰城食品有限公司"
        )
        principal = govsvc.Principal.agent(
            person.key, person.name, organisation=org.key, auth=LOGIN
        )
        return self.p.session(principal).cases.apply(self.item_code, org, materials=self.materials)

    def in_review(self, *, agent: bool = False) -> govsvc.Case:
        case = self.p.session(CLERK).cases.accept(self.apply(agent=agent))
        self.passes()  # delivered to both departments, asked once: undecided
        return case

    def decide(self, case: govsvc.Case, outcomes: Sequence[govsvc.ReviewOutcome]) -> None:
        for task, outcome in zip(case.tasks, outcomes, strict=True):
            self.legacies[task.department].decisions[task.id] = outcome
        self.clock.moment += dt.timedelta(days=200)  # past every task's next poll
        self.passes()
        self.clock.moment -= dt.timedelta(days=200)

    def finished_templates(self) -> list[tuple[str, float]]:
        """Finished cases of each kind (id, share of the history), made through the platform."""
        made: list[tuple[str, float]] = []
        for n in range(3):
            self.clock.moment = self.now - dt.timedelta(days=400 - 30 * n)
            for agent, share in ((False, 0.70), (True, 0.15)):
                case = self.in_review(agent=agent)
                self.decide(case, [APPROVE, APPROVE])
                done = self.p.session(CLERK).cases.complete(case.id, delivery="邮寄送达")
                assert done.state is govsvc.CaseState.COMPLETED, done.state
                made.append((case.id, share / 3))
            case = self.in_review()
            self.decide(case, [APPROVE, DENY])
            denied = self.p.system().cases.get(case.id)
            assert denied.state is govsvc.CaseState.DENIED, denied.state
            made.append((case.id, 0.08 / 3))
            case = self.apply()
            withdrawn = self.p.session(CLERK).cases.withdraw(case, reason="申请人撤回")
            assert withdrawn.state is govsvc.CaseState.WITHDRAWN, withdrawn.state
            made.append((case.id, 0.07 / 3))
        return made

    def open_workload(self) -> int:
        """The work in hand, the same in both databases; returns how many cases it has."""
        count = 0
        self.clock.moment = self.now - dt.timedelta(days=40)
        for n in range(12):  # overdue in review (the promised limit is 10 working days)
            self.in_review(agent=n % 4 == 0)
            count += 1
        self.clock.moment = self.now - 2 * DAY
        for n in range(40):  # in review, due later
            self.in_review(agent=n % 5 == 0)
            count += 1
        for legacy in self.legacies.values():
            legacy.refuse_results = True
        for _ in range(10):  # approved; the licence service failed, retried months later
            self.decide(self.in_review(), [APPROVE, APPROVE])
            count += 1
        for legacy in self.legacies.values():
            legacy.refuse_results = False
        for _ in range(6):  # submitted online, not accepted yet
            self.apply()
            count += 1
        self.clock.moment = self.now
        system = self.p.system()
        system.supervision.sweep_lights()
        warnings = system.outbox.pending(topic="supervision.warning", limit=1000)
        system.outbox.mark_delivered([w.id for w in warnings])
        return count


# --------------------------------------------------------------------------------------------
# Bulk cloning of finished cases


class _Params:
    """The driver-level parameters of one statement for one template row, computed once
    (SQLAlchemy's own bind processors: datetimes, JSON). Each clone substitutes only the
    values that mention one of the template's ids; the rest are reused as they are."""

    def __init__(self, names: Sequence[str], values: Sequence[Any], pattern: re.Pattern[str]):
        self.names = tuple(names)
        self.values = list(values)
        # (position, the text split around the ids it mentions, wrapper type)
        self.changing: list[tuple[int, _Split, Any]] = []
        for at, value in enumerate(self.values):
            text, wrapper = value, None
            if hasattr(value, "obj") and hasattr(value, "dumps"):  # psycopg's Json / Jsonb
                text, wrapper = (value.dumps or json.dumps)(value.obj), type(value)
            if isinstance(text, str) and pattern.search(text):
                self.changing.append((at, _Split(text, pattern), wrapper))

    def clone(self, new: Mapping[str, str]) -> list[Any]:
        values = list(self.values)
        for at, split, wrapper in self.changing:
            text = split.fill(new)
            values[at] = text if wrapper is None else wrapper(text, dumps=_verbatim)
        return values


class _Split:
    """A text cut around the ids it mentions, to be filled with a clone's ids (a join, much
    cheaper than a regular expression per clone)."""

    def __init__(self, text: str, pattern: re.Pattern[str]) -> None:
        pieces = re.split(f"({pattern.pattern})", text)
        self.literals, self.tokens = pieces[0::2], pieces[1::2]
        self.exact = self.tokens[0] if pieces[0::2] == ["", ""] else None  # just an id

    def fill(self, new: Mapping[str, str]) -> str:
        if self.exact is not None:
            return new[self.exact]
        out = [self.literals[0]]
        for token, literal in zip(self.tokens, self.literals[1:], strict=True):
            out.append(new[token])
            out.append(literal)
        return "".join(out)


# Ids and codes for clones: 100,000 cases need ~2 million, and `secrets` (what the platform
# uses) costs a system call each; uniqueness is all a clone needs.
_random = random.Random()


def _tracking_code() -> str:
    """A valid tracking code (全程一码), as TrackingCode.new makes them, from `_random`."""
    body = "".join(_random.choices(govsvc.TrackingCode.ALPHABET, k=10))
    return body + govsvc.TrackingCode._check(body)


def _verbatim(text: Any) -> str:
    return str(text)


class Insert:
    """An INSERT compiled once for the dialect, run with the driver's executemany; on
    PostgreSQL a plain insert into ``copy_into`` goes by ``COPY`` (psycopg adapts the same
    values; one stream instead of a statement per row: several times faster)."""

    def __init__(
        self, statement: Any, dialect: Any, columns: Sequence[str], copy_into: str | None = None
    ) -> None:
        self.copy_into = copy_into if dialect.name == "postgresql" else None
        compiled: Any = statement.compile(dialect=dialect, column_keys=list(columns))
        self.positional = bool(compiled.positional)
        self.names = tuple(compiled.positiontup) if self.positional else tuple(compiled.binds)
        self.processors = [
            compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in self.names
        ]
        self.sql = compiled.string

    def params(self, row: Mapping[str, Any], pattern: re.Pattern[str]) -> _Params:
        return _Params(
            self.names,
            [p(row[n]) if p else row[n] for n, p in zip(self.names, self.processors, strict=True)],
            pattern,
        )

    def run(self, conn: sa.Connection, rows: Sequence[list[Any]]) -> None:
        if not rows:
            return
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if self.copy_into is not None:
                columns = ", ".join(self.names)
                with cursor.copy(f"COPY {self.copy_into} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return
            params = (
                rows if self.positional else [dict(zip(self.names, r, strict=True)) for r in rows]
            )
            cursor.executemany(self.sql, params)
        finally:
            cursor.close()


class Template:
    """The rows of one finished case as driver parameters, and what a clone must replace."""

    def __init__(self, engine: sa.Engine, case_id: str) -> None:
        with engine.connect() as conn:
            rows = {
                t.name: [
                    dict(r._mapping)
                    for r in conn.execute(
                        sa.select(t).where((t.c.id if t is cases_t else t.c.case_id) == case_id)
                    )
                ]
                for t in TABLES
            }
            case = rows["cases"][0]
            numbers = [case["applicant_number"]] + (
                [case["agent_number"]] if case["agent_number"] else []
            )
            parties = [
                dict(r._mapping)
                for r in conn.execute(sa.select(parties_t).where(parties_t.c.number.in_(numbers)))
            ]
        dialect = engine.dialect
        events = sorted(rows.pop("case_events"), key=lambda r: r["seq"])
        self.ids = [case_id] + [r["id"] for r in rows["review_tasks"] + rows["outbox"]]
        self.code = case["tracking_code"]
        self.applicant = case["applicant_number"]
        self.agent = case["agent_number"]
        self.head = case["data"]["trail_head"]
        olds = [*self.ids, self.code, *numbers, self.head]
        self.pattern = re.compile("|".join(re.escape(s) for s in olds))
        self.inserts = {
            t.name: Insert(t.insert(), dialect, [c.name for c in t.columns], copy_into=t.name)
            for t in TABLES
            if t is not events_t
        }
        self.rows = {
            name: [self.inserts[name].params(r, self.pattern) for r in rs]
            for name, rs in rows.items()
        }
        self.party_insert = Insert(
            _insert_new_parties(dialect.name), dialect, [c.name for c in parties_t.columns]
        )
        self.parties = [self.party_insert.params(p, self.pattern) for p in parties]
        # Events: the canonical text their hash covers (ids substituted in it give the clone's
        # text exactly: same-length ASCII tokens, JSON keys untouched), and their parameters.
        columns = [c.name for c in events_t.columns if c.name != "id"]
        self.event_insert = Insert(events_t.insert(), dialect, columns, copy_into="case_events")
        self.event_texts = [
            _Split(chain.canonical_text(e, EVENT_FIELDS), self.pattern) for e in events
        ]
        self.events = [  # the hashes are the clone's own, computed in clone()
            self.event_insert.params({**e, "prev_hash": "", "hash": ""}, self.pattern)
            for e in events
        ]
        names = self.event_insert.names
        self.hash_at = (names.index("prev_hash"), names.index("hash"))

    def clone(self, n: int) -> tuple[dict[str, list[list[Any]]], list[list[Any]]]:
        """The rows of clone ``n`` (its applicant is shared with clone ``n ± 1``), and the
        party rows it introduces."""
        new: dict[str, str] = {old: f"{_random.getrandbits(128):032x}" for old in self.ids}
        new[self.code] = _tracking_code()
        person = citizen_number(1_000_000 + n // 2)
        if self.agent:  # an organisation applied through its agent (经办人)
            new[self.applicant] = make_credit_code(50_000_000 + n // 2)
            new[self.agent] = person
        else:
            new[self.applicant] = person

        events, head = [], chain.GENESIS
        at_prev, at_hash = self.hash_at
        for text, params in zip(self.event_texts, self.events, strict=True):
            values = params.clone(new)
            values[at_prev] = head
            values[at_hash] = head = hashlib.sha256((head + text.fill(new)).encode()).hexdigest()
            events.append(values)
        new[self.head] = head  # the case records its trail's head
        rows = {name: [p.clone(new) for p in ps] for name, ps in self.rows.items()}
        rows["case_events"] = events
        parties = [p.clone(new) for p in self.parties] if n % 2 == 0 else []
        return rows, parties


def grow(s: Scenario, templates: Sequence[tuple[Template, float]], count: int, start: int) -> None:
    """Add ``count`` finished cases cloned from ``templates`` by their shares, in batches."""
    total = sum(share for _, share in templates)
    plan = [(t, round(count * share / total)) for t, share in templates]
    plan[0] = (plan[0][0], plan[0][1] + count - sum(k for _, k in plan))
    jobs = [t for t, k in plan for _ in range(k)]
    first = templates[0][0]
    inserts = {**first.inserts, "case_events": first.event_insert}
    n = start
    for at in range(0, len(jobs), 2000):
        rows: dict[str, list[list[Any]]] = {t.name: [] for t in TABLES}
        parties: list[list[Any]] = []
        for template in jobs[at : at + 2000]:
            made, people = template.clone(n)
            n += 1
            for name, rs in made.items():
                rows[name].extend(rs)
            parties.extend(people)
        with s.engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # the indexes of a 1 GB file fit in 256 MB
                conn.exec_driver_sql("PRAGMA cache_size = -262144")
            for table in TABLES:
                inserts[table.name].run(conn, rows[table.name])
            first.party_insert.run(conn, parties)


def _insert_new_parties(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(parties_t).on_conflict_do_nothing()


def check_clones(s: Scenario, sample: int = 20) -> None:
    """Read a sample of clones back through the platform: they load, their trail structures
    and verifies, and the applicant's own list finds them."""
    with s.engine.connect() as conn:
        ids = (
            conn.execute(sa.select(cases_t.c.id).order_by(sa.func.random()).limit(sample))
            .scalars()
            .all()
        )
    system = s.p.system()
    for case_id in ids:
        case = system.cases.get(case_id)
        assert system.cases.verify_trail(case).ok, case_id
        assert len(system.cases.trail(case)) == case.version, case_id
        person = case.agent.key if case.agent else case.applicant
        principal = (
            govsvc.Principal.agent(person, "张三", organisation=case.applicant, auth=LOGIN)
            if case.agent
            else govsvc.Principal.applicant(person, "张三", auth=LOGIN)
        )
        assert case.id in {c.id for c in s.p.session(principal).cases.mine().items}, case_id


# --------------------------------------------------------------------------------------------
# The queries


Query = Callable[[Scenario], object]


def _own(s: Scenario, *, agent: bool) -> govsvc.Principal:
    """A person with two finished cases (clones come in pairs per applicant and agent)."""
    column = cases_t.c.agent_number if agent else cases_t.c.applicant_number
    with s.engine.connect() as conn:
        row = conn.execute(
            sa.select(cases_t.c.applicant_number, cases_t.c.agent_number)
            .where(
                cases_t.c.agent_number.is_not(None) if agent else cases_t.c.agent_number.is_(None)
            )
            .group_by(cases_t.c.applicant_number, cases_t.c.agent_number)
            .having(sa.func.count() == 2)
            .order_by(column)
            .limit(1)
        ).one()
    if agent:
        return govsvc.Principal.agent(
            govsvc.PartyKey.of(row.agent_number),
            "张三",
            organisation=row.applicant_number,
            auth=LOGIN,
        )
    return govsvc.Principal.applicant(govsvc.PartyKey.of(row.applicant_number), "张三", auth=LOGIN)


def queries(s: Scenario) -> dict[str, Query]:
    """What is measured; each returns what it found (checked to be the same at both sizes)."""
    applicant, agent = _own(s, agent=False), _own(s, agent=True)

    def size(page: Any) -> int:
        return len(page.items) if hasattr(page, "items") else len(page)

    return {
        "supervision.overdue (none)": lambda s: size(s.p.session(DISTRICT).supervision.overdue()),
        "supervision.overdue (some)": lambda s: size(s.p.session(SUPERVISOR).supervision.overdue()),
        "supervision.warnings red": lambda s: size(s.p.session(SUPERVISOR).supervision.warnings()),
        "supervision.warnings yellow": lambda s: size(
            s.p.session(SUPERVISOR).supervision.warnings(light="yellow")
        ),
        "supervision.awaiting_results": lambda s: size(
            s.p.session(SUPERVISOR).supervision.awaiting_results()
        ),
        "reviews.queue (department)": lambda s: size(s.p.session(REVIEWER).reviews.queue()),
        "cases.mine (applicant)": lambda s: size(s.p.session(applicant).cases.mine()),
        "cases.mine (agent)": lambda s: size(s.p.session(agent).cases.mine()),
        "cases.of_applicant (clerk)": lambda s: size(
            s.p.session(CLERK).cases.of_applicant(applicant.party)  # type: ignore[arg-type]
        ),
        "outbox.pending (notices)": lambda s: len(
            s.p.system().outbox.pending(topic="applicant.notify")
        ),
        "ratings.queue (department)": lambda s: size(s.p.session(REVIEWER).ratings.queue()),
        "departments.poll (empty)": lambda s: s.p.system().departments.poll().decided,
        "departments.deliver (empty)": lambda s: s.p.system().departments.deliver().delivered,
        "departments.fetch_results (empty)": lambda s: (
            s.p.system().departments.fetch_results().issued
        ),
    }


def measure(
    small: Scenario, large: Scenario, rounds: int
) -> list[tuple[str, float, float, float, object, object]]:
    """Per query: median ms on each database, the median of the per-round ratios (each round
    times the two databases back to back, so a burst of load from other processes hits both
    of a pair: on a shared 2-core machine this is much steadier than a ratio of medians),
    and what each found."""
    out = []
    for (name, q_small), q_large in zip(
        queries(small).items(), queries(large).values(), strict=True
    ):
        found_small, found_large = q_small(small), q_large(large)  # warm: caches, plans
        times: dict[str, list[float]] = {"small": [], "large": []}
        for r in range(rounds):
            order = (("small", small, q_small), ("large", large, q_large))
            for side, s, q in order if r % 2 == 0 else reversed(order):
                t0 = time.perf_counter()
                q(s)
                times[side].append(time.perf_counter() - t0)
        ratios = [b / a for a, b in zip(times["small"], times["large"], strict=True) if a > 0]
        out.append(
            (
                name,
                statistics.median(times["small"]) * 1000,
                statistics.median(times["large"]) * 1000,
                statistics.median(ratios),
                found_small,
                found_large,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Plans


def explain(s: Scenario) -> None:
    """Print the plan of every SELECT each query sends (EXPLAIN / EXPLAIN QUERY PLAN), and
    the tables read whole."""
    tables = [t.name for t in (*TABLES, parties_t)]
    bounded = plans.partial_indexes(cases_t.metadata)
    for name, q in queries(s).items():
        with plans.capture(s.p.engine) as sent:
            q(s)
        print(f"  {name}:")
        with s.p.engine.connect() as conn:
            for statement in sent:
                lines = plans.plan(conn, statement)
                scans = plans.full_scans(lines, conn.dialect.name, tables, bounded)
                flat = " ".join(statement.sql.split())
                verdict = "FULL SCAN of " + ", ".join(scans) if scans else "indexed"
                print(f"    {verdict}: {flat[:150]}")
                for line in lines:
                    print(f"      {line}")


# --------------------------------------------------------------------------------------------


@contextmanager
def databases(db: str, postgres_url: str) -> Iterator[list[tuple[str, str | None]]]:
    if db == "sqlite":
        with tempfile.TemporaryDirectory(prefix="govsvc-scale-") as tmp:
            yield [(f"sqlite:///{Path(tmp) / f'{side}.db'}", None) for side in ("small", "large")]
        return
    import psycopg

    tag = f"scale_{os.getpid()}_{secrets.token_hex(3)}"
    schemas = [f"{tag}_s", f"{tag}_l"]
    try:
        yield [(postgres_url, schema) for schema in schemas]
    finally:
        with psycopg.connect(libpq_url(postgres_url), autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run(db: str, args: argparse.Namespace) -> float:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    print(f"\n== {db}: {args.small_size:,} vs {args.large_size:,} stored cases")
    with databases(db, args.postgres_url) as (small_db, large_db):
        t0 = time.perf_counter()
        small, large = Scenario(*small_db, now), Scenario(*large_db, now)
        try:
            for s in (small, large):
                made = s.finished_templates()
                open_cases = s.open_workload()
                templates = [(Template(s.engine, case_id), share) for case_id, share in made]
                s.open_count = open_cases  # type: ignore[attr-defined]
                s.templates = templates  # type: ignore[attr-defined]
            built = time.perf_counter() - t0
            t1 = time.perf_counter()
            for s, size in ((small, args.small_size), (large, args.large_size)):
                have = len(s.templates) + s.open_count  # type: ignore[attr-defined]
                grow(s, s.templates, size - have, start=0 if s is small else 10_000_000)  # type: ignore[attr-defined]
                if db == "postgres":  # autovacuum would do it within a minute of the load
                    with s.engine.connect() as conn:
                        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                            "ANALYZE"
                        )
                check_clones(s)
            loaded = time.perf_counter() - t1
            counts = []
            for s in (small, large):
                with s.engine.connect() as conn:
                    counts.append(
                        conn.execute(sa.select(sa.func.count()).select_from(cases_t)).scalar_one()
                    )
            print(
                f"stored cases: {counts[0]:,} and {counts[1]:,} ({small.open_count} open in each); "  # type: ignore[attr-defined]
                f"platform-made {built:.1f} s, bulk load + checks {loaded:.1f} s"
            )
            if args.explain:
                explain(large)
            results = measure(small, large, args.rounds)
        finally:
            small.p.close()
            large.p.close()
    width = max(len(r[0]) for r in results)
    print(f"{'query':<{width}}  {'small ms':>9}  {'large ms':>9}  {'ratio':>6}  found")
    worst = 0.0
    for name, a, b, ratio, found_a, found_b in results:
        worst = max(worst, ratio)
        same = "" if found_a == found_b else f"  (differs: {found_a} vs {found_b})"
        print(f"{name:<{width}}  {a:9.3f}  {b:9.3f}  {ratio:6.2f}  {found_a}{same}")
        if found_a != found_b:
            raise SystemExit(f"{name}: the two databases must hold the same open work")
    print(f"{db}: largest ratio {worst:.2f}")
    return worst


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("GOVSVC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--small-size", type=int, default=1_000, help="cases in the small DB")
    parser.add_argument("--large-size", type=int, default=100_000, help="cases in the large DB")
    parser.add_argument("--rounds", type=int, default=21, help="timed runs of each query per DB")
    parser.add_argument("--small", action="store_true", help="smoke test: 200 vs 2,000, 3 rounds")
    parser.add_argument("--explain", action="store_true", help="print the plans (large DB)")
    args = parser.parse_args(argv)
    if args.small:
        args.small_size, args.large_size, args.rounds = 200, 2_000, 3
    print(f"govsvc scale bench; machine: {machine_note()}; {time.strftime('%Y-%m-%d %H:%M')}")
    dbs = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    worst = max(run(db, args) for db in dbs)
    print(f"growth={worst:.2f}")


if __name__ == "__main__":
    sys.exit(main())
