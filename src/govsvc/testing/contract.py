"""The contract every department adapter keeps, as pytest tests any plugin can run.

Each test checks one promise of the adapter contract (:mod:`govsvc.adapters`) for the
department in the fixture ``govsvc_contract_department``, and only for the operations its
adapter implements (the others skip). Calls go through a real :class:`govsvc.Platform` on a
temporary SQLite file, exactly as in production: on the platform's event loop, with the
department's timeout, the answer type checks and the exchange log. Retries are off, so the
first failure shows.

Tests that need a party the legacy system knows (or does not) read the optional fixture
``govsvc_contract_samples``: ``{"known_party": NUMBER, "unknown_party": NUMBER}``; without
it they skip and say so. Its optional ``"item"`` entry (an implementation code of the
department's) is the item the review cases the suite opens are for, and ``"form"`` (a
mapping) their application form (申请表), for legacy systems that treat items differently or
refuse a task without their fields.

The tests of ``issue_result`` and of ``cancel_review`` on a decided task need the legacy
system to decide a task the suite delivered. The optional fixture ``govsvc_contract_approve``
returns a function that approves one, as the department's clerk would at the legacy
terminal; without it those tests run only if the legacy system decides by itself. Where the
contract is about repeating a call (issuing the same licence again, withdrawing a task
already withdrawn or decided), the suite calls the adapter directly, on the platform's event
loop, after the platform made the first call.

Run it from your plugin's tests (the plugin ``govsvc.testing`` provides the default
fixtures)::

    # tests/test_contract.py
    from govsvc.testing.contract import *  # noqa: F403

    pytest_plugins = ["govsvc.testing"]

with ``govsvc_contract_department`` (and ``govsvc_contract_samples``) defined in your
``conftest.py``, or without writing anything:
``pytest -p govsvc.testing --govsvc-contract=<entry point name>``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import difflib
import inspect
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from govsvc import (
    ADAPTER_OPERATIONS,
    AdapterProtocolError,
    AdapterUnavailable,
    CallPolicy,
    Case,
    CertificateRecord,
    CreditCode,
    Department,
    ExchangeRecord,
    Finding,
    ImplementationCode,
    InvalidIdentifier,
    InvalidInput,
    IssuedResult,
    Organisation,
    PartyKey,
    Person,
    Platform,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
    Session,
    TaskStatus,
    WorkPolicy,
    hookimpl,
)
from govsvc.testing.factories import (
    FakeClock,
    applicant_of,
    clerk_for,
    make_case,
    make_item,
    make_person,
    system_of,
)
from govsvc.vocabulary import check_profile

__all__ = [
    "test_cancel_review_is_harmless_to_repeat",
    "test_cancel_review_of_a_decided_task_is_harmless",
    "test_certificates_of_a_known_party_are_records",
    "test_department_is_well_formed",
    "test_every_call_is_in_the_exchange_log",
    "test_health_answers_true_or_false",
    "test_issue_result_gives_the_same_licence_for_the_same_ticket",
    "test_open_review_is_idempotent_on_the_task_id",
    "test_poll_review_answers_an_outcome_or_none",
    "test_prereview_answers_findings",
    "test_profile_of_a_known_party_is_a_mapping",
    "test_profile_of_an_unknown_party_is_none",
]

PURPOSE = "接口契约测试"  # purpose of use recorded in the exchange log (用证事由)
_ARITY = {op: 0 if op == "health" else 1 for op in ADAPTER_OPERATIONS}
_SAMPLE_HELP = {
    "known_party": "a citizen ID or credit code the legacy system knows",
    "unknown_party": "a valid citizen ID or credit code the legacy system does not know",
}
Samples = Mapping[str, Any]
"""What ``govsvc_contract_samples`` returns: numbers under ``known_party`` and
``unknown_party``, and optionally ``item``, the implementation code the review cases are
for, and ``form``, a mapping used as their form."""
Approve = Callable[[ReviewTicket], object]
"""What ``govsvc_contract_approve`` returns: a function approving one task in the legacy
system."""
_NEEDS_APPROVE = (
    "define a fixture govsvc_contract_approve returning a function that approves a task in "
    "your legacy system (it gets the task's govsvc.ReviewTicket), as its clerk would"
)
_ALLOWED_ERRORS = (AdapterUnavailable, AdapterProtocolError)


# --- the harness -----------------------------------------------------------------------------


@attrs.frozen
class _Call:
    """One call the platform made to the adapter, with its raw answer or error."""

    operation: str
    args: tuple[Any, ...]
    result: Any = None
    error: BaseException | None = None
    direct: bool = False  # made by the suite itself, not through the platform


class _RecordingAdapter:
    """Stands in for the adapter under test and keeps every call's raw answer.

    It offers exactly the operations the wrapped adapter offers and calls them the way the
    platform would (a plain function in a worker thread, a coroutine on the loop), so the
    suite sees what the adapter returned before the platform's own type checks. It notes the
    platform's event loop, where the suite's own direct calls run too (an adapter's HTTP
    client belongs to the loop it was first used on).
    """

    def __init__(self, inner: Any, calls: list[_Call]) -> None:
        self._inner = inner
        self._calls = calls
        self._loop: asyncio.AbstractEventLoop | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in ADAPTER_OPERATIONS:
            raise AttributeError(name)
        if not callable(getattr(self._inner, name, None)):
            raise AttributeError(name)

        async def call(*args: Any) -> Any:
            return await self._invoke(name, args, direct=False)

        return call

    async def _invoke(self, name: str, args: tuple[Any, ...], *, direct: bool) -> Any:
        self._loop = asyncio.get_running_loop()
        method = getattr(self._inner, name)
        try:
            if inspect.iscoroutinefunction(method):
                result = await method(*args)
            else:
                result = await asyncio.to_thread(method, *args)
                if inspect.isawaitable(result):
                    result = await result
        except BaseException as exc:
            self._calls.append(_Call(name, args, error=exc, direct=direct))
            raise
        self._calls.append(_Call(name, args, result=result, direct=direct))
        return result

    async def aclose(self) -> None:
        """Close the adapter's clients when the platform closes, as it would without us."""
        close = getattr(self._inner, "aclose", None)
        if inspect.iscoroutinefunction(close):
            await close()


class _OneDepartment:
    """A plugin registering only the department under test."""

    def __init__(self, department: Department) -> None:
        self.department = department

    @hookimpl
    def govsvc_departments(self) -> list[Department]:
        return [self.department]


@attrs.define
class _Harness:
    platform: Platform
    department: Department
    calls: list[_Call]

    def answers(self, operation: str) -> list[_Call]:
        """The calls the platform made to ``operation`` (not the suite's direct calls)."""
        return [c for c in self.calls if c.operation == operation and not c.direct]

    def direct(self, operation: str, *args: Any) -> _Call:
        """Call the adapter directly, as the platform would, on the platform's event loop;
        the call is recorded (not in the exchange log: the platform did not make it)."""
        recorder = self.department.adapter
        assert isinstance(recorder, _RecordingAdapter)
        loop = recorder._loop
        assert loop is not None and loop.is_running(), "the platform has not called yet"
        future = asyncio.run_coroutine_threadsafe(
            recorder._invoke(operation, args, direct=True), loop
        )
        try:
            future.result(timeout=self.department.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            pytest.fail(
                f"{self.department.name}: {operation}{_shown(args)} did not answer within "
                f"{self.department.timeout} s (Department.timeout)",
                pytrace=False,
            )
        except (Exception, asyncio.CancelledError):
            pass  # recorded with the call: the test judges it
        return next(c for c in reversed(self.calls) if c.direct and c.operation == operation)

    def only(self, operation: str) -> _Call:
        found = self.answers(operation)
        assert len(found) == 1, (
            f"expected the platform to call {operation} once, it was called {len(found)} times"
        )
        call = found[0]
        _no_error(self.department, call)
        return call

    @property
    def system(self) -> Session:
        """The platform's own session (workers, department calls)."""
        return self.platform.system()

    def log(self) -> list[ExchangeRecord]:
        rows = self.system.departments.exchange_log(department=self.department.code, limit=10_000)
        return sorted(rows, key=lambda r: r.seq or 0)

    def check_log(self) -> None:
        """Every call the platform made is in the exchange log with its outcome, the chain is
        intact, and every answer and error the adapter gave is one the contract allows."""
        for call in self.calls:
            _check_answer(self.department, call)
            _check_error(self.department, call)
        platform_calls = [c for c in self.calls if not c.direct]
        rows = self.log()
        made = Counter(c.operation for c in platform_calls)
        logged = Counter(r.operation for r in rows)
        assert logged == made, (
            f"the exchange log holds {dict(logged)} calls to {self.department.name}, but the "
            f"adapter was called {dict(made)} times"
        )
        ok = Counter(c.operation for c in platform_calls if c.error is None)
        logged_ok = Counter(r.operation for r in rows if r.outcome == "ok")
        assert logged_ok == ok, f"successful calls {dict(ok)} vs logged as ok {dict(logged_ok)}"
        for row in rows:
            assert row.purpose and row.requester and row.on_behalf_of, f"incomplete record {row}"
        report = self.system.departments.verify_exchange_log()
        assert report.ok, f"exchange log chain broken at record {report.first_bad}: {report}"

    def applicant(self, samples: Samples) -> Person | Organisation:
        number = samples.get("known_party")
        if not number:
            return make_person(20260302)
        key = PartyKey.of(number)
        if key.is_organisation:
            return Organisation(key=key, name="契约测试单位")
        return Person(key=key, name="契约测试")

    def new_case(self, samples: Samples, *, accept: bool) -> Case:
        d = self.department
        form = samples.get("form")
        if form is not None and not isinstance(form, Mapping):
            pytest.fail(
                f"govsvc_contract_samples['form'] must be a mapping (the application form), "
                f"got {type(form).__name__}",
                pytrace=False,
            )
        item, version = make_item(d.code, agency_name=d.name, materials=2, **_item_of(d, samples))
        self.system.catalogue.publish(item, version)
        return make_case(
            self.platform,
            item.implementation_code,
            self.applicant(samples),
            accept=accept,
            form=form,
        )

    def delivered_case(self, samples: Samples) -> tuple[Case, ReviewTicket]:
        """An accepted case whose one review task the platform delivered (open_review)."""
        case = self.new_case(samples, accept=True)
        [task] = case.open_tasks
        report = self.system.departments.deliver()
        [call] = self.answers("open_review")
        _no_error(self.department, call)
        assert (report.delivered, report.errors) == (1, ()), report
        legacy = self.legacy_id(task.id)
        assert legacy is not None, f"task {task.id} was delivered but has no legacy id"
        return case, ReviewTicket(task_id=task.id, legacy_id=legacy, case_id=case.id)

    def withdraw(self, case: Case, samples: Samples) -> Case:
        """The applicant withdraws the case (撤回): its open tasks are cancelled."""
        session = self.platform.session(applicant_of(self.applicant(samples)))
        return session.cases.withdraw(case.id, reason="契约测试：申请人撤回申请")

    def poll_for(self, ticket: ReviewTicket) -> ReviewOutcome | None:
        """Poll through the platform; the legacy system's answer about ``ticket``."""
        before = len(self.answers("poll_review"))
        report = self.system.departments.poll()
        asked = [c for c in self.answers("poll_review")[before:] if c.args[0] == ticket]
        assert len(asked) == 1, f"the platform polled task {ticket.task_id} {len(asked)} times"
        _no_error(self.department, asked[0])
        _check_answer(self.department, asked[0])
        assert not report.errors, report.errors
        outcome: ReviewOutcome | None = asked[0].result
        return outcome

    def legacy_id(self, task_id: str) -> str | None:
        for view in self.system.reviews.queue(self.department.code, limit=1000):
            if view.task.id == task_id:
                return view.legacy_id
        raise AssertionError(f"task {task_id} is not in {self.department.name}'s queue")

    def mark_undelivered(self, case_id: str) -> None:
        """Put the case's review tasks back in the outbox, as if the platform had crashed
        after the legacy system took them but before it recorded the delivery."""
        # Plain SQL on the platform's tables: a crash is not something the public API does.
        with self.platform.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE outbox SET delivered_at = NULL, available_at = :due "
                    "WHERE case_id = :case AND topic = 'review.open'"
                ),
                {"case": case_id, "due": dt.datetime(2000, 1, 1, tzinfo=dt.UTC)},
            )
            conn.execute(sa.text("DELETE FROM deliveries WHERE case_id = :case"), {"case": case_id})


@contextmanager
def _harness(department: Department, tmp_path: Path) -> Iterator[_Harness]:
    calls: list[_Call] = []
    recorded = attrs.evolve(department, adapter=_RecordingAdapter(department.adapter, calls))
    platform = Platform.open(
        f"sqlite:///{tmp_path}/govsvc-contract.db",
        plugins=[_OneDepartment(recorded)],
        load_entry_points=False,
        clock=FakeClock(),
        call_policy=CallPolicy(attempts=1, backoff=0.0),
        work_policy=WorkPolicy.eager(),
    )
    try:
        yield _Harness(platform=platform, department=recorded, calls=calls)
    finally:
        platform.close()


def _require(department: Department, *operations: str) -> None:
    missing = [op for op in operations if not department.offers(op)]
    if missing:
        pytest.skip(f"{department.name}'s adapter does not implement {', '.join(missing)}")


def _sample(samples: Samples, key: str) -> str:
    number = samples.get(key)
    if number is not None and not isinstance(number, str):
        pytest.fail(f"govsvc_contract_samples[{key!r}] must be a str, got {number!r}")
    if not number:
        pytest.skip(
            f"no {key!r} sample: return {{{key!r}: ...}} ({_SAMPLE_HELP[key]}) from the "
            f"govsvc_contract_samples fixture, or pass --govsvc-contract-sample {key}=NUMBER"
        )
    return number


def _item_of(department: Department, samples: Samples) -> dict[str, Any]:
    """make_item's options for the ``item`` sample (none: a generated item)."""
    code = samples.get("item")
    if code is None:
        return {}
    try:
        parsed = ImplementationCode.parse(code) if isinstance(code, str) else None
    except InvalidInput as exc:
        pytest.fail(f"govsvc_contract_samples['item']: {exc}", pytrace=False)
    if parsed is None or parsed.handling_item is not None:
        pytest.fail(
            f"govsvc_contract_samples['item'] must be a 31-character implementation code, "
            f"got {code!r}",
            pytrace=False,
        )
    if parsed.credit_code != department.code:
        pytest.fail(
            f"govsvc_contract_samples['item'] {code} is an item of {parsed.credit_code}, not "
            f"of {department.name} ({department.code})",
            pytrace=False,
        )
    return {"catalogue_code": parsed.catalogue_code, "level": parsed.level}


def _no_error(department: Department, call: _Call, *, why: str = "") -> None:
    if call.error is None:
        return
    if isinstance(call.error, AdapterUnavailable):
        hint = "is the legacy system (or its simulator) running and reachable?"
    elif isinstance(call.error, AdapterProtocolError):
        hint = why or "the adapter could not read the legacy system's answer"
    else:
        hint = (
            "an adapter answers with govsvc types and raises only govsvc.AdapterUnavailable "
            "or govsvc.AdapterProtocolError"
        )
    pytest.fail(
        f"{department.name}: {call.operation}{_shown(call.args)} raised "
        f"{type(call.error).__name__}: {call.error}; {hint}",
        pytrace=False,
    )


def _check_error(department: Department, call: _Call) -> None:
    """An adapter raises only AdapterUnavailable or AdapterProtocolError."""
    error = call.error
    # A call the platform gave up on (its timeout) is cancelled: not the adapter's doing.
    if error is None or isinstance(error, _ALLOWED_ERRORS | asyncio.CancelledError):
        return
    pytest.fail(
        f"{department.name}: {call.operation}{_shown(call.args)} raised "
        f"{type(error).__name__}: {error}; an adapter raises only govsvc.AdapterUnavailable "
        f"(the legacy system did not answer) or govsvc.AdapterProtocolError (its answer "
        f"cannot be read): catch the rest in the adapter",
        pytrace=False,
    )


def _shown(args: Sequence[Any]) -> str:
    return (
        "(" + ", ".join(str(a) if isinstance(a, PartyKey) else type(a).__name__ for a in args) + ")"
    )


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _check_answer(department: Department, call: _Call) -> None:
    """The raw answer has the type the contract promises for its operation."""
    if call.error is not None:
        return
    op, value = call.operation, call.result
    where = f"{department.name}: {op}{_shown(call.args)} returned {value!r}"
    if op == "profile":
        assert value is None or isinstance(value, Mapping), f"{where}; return a dict or None"
        for key in value or {}:
            assert isinstance(key, str), f"{where}; attribute names must be str, got {key!r}"
    elif op == "certificates":
        assert _is_list(value), f"{where}; return a list of govsvc.CertificateRecord"
        for i, record in enumerate(value):
            assert isinstance(record, CertificateRecord), f"{where}; item {i} is no record"
    elif op == "prereview":
        assert _is_list(value), f"{where}; return a list of govsvc.Finding"
        for i, finding in enumerate(value):
            assert isinstance(finding, Finding), f"{where}; item {i} is not a govsvc.Finding"
    elif op == "open_review":
        assert isinstance(value, str) and value.strip(), f"{where}; return the legacy task id"
    elif op == "poll_review":
        assert value is None or isinstance(value, ReviewOutcome), (
            f"{where}; return a govsvc.ReviewOutcome, or None while the review is pending"
        )
    elif op == "issue_result":
        assert isinstance(value, IssuedResult), f"{where}; return a govsvc.IssuedResult"
    elif op == "cancel_review":
        assert value is None, f"{where}; return None"
    elif op == "health":
        assert isinstance(value, bool), f"{where}; return True or False"


def _check_canonical(department: Department, attributes: Mapping[str, Any]) -> None:
    """Canonical attribute names carry canonical values (the platform merges on them): the
    vocabulary's own check, the one the platform applies to every answer."""
    problems = check_profile(attributes)
    assert not problems, (
        f"{department.name}: the profile answer has {len(problems)} value(s) that are not "
        f"canonical (govsvc.vocabulary): " + "; ".join(str(p) for p in problems)
    )


# --- the contract ----------------------------------------------------------------------------


def test_department_is_well_formed(govsvc_contract_department: Department) -> None:
    """A valid credit code, a name, a timeout, and operations callable as documented."""
    d = govsvc_contract_department
    assert isinstance(d, Department), (
        f"govsvc_contract_department must return a govsvc.Department, got {type(d).__name__}"
    )
    try:
        CreditCode.parse(d.code)
    except InvalidIdentifier as exc:
        pytest.fail(
            f"{d.name}: department code {d.code} must be a credit code that passes the strict "
            f"check, because service items name their agency by it: {exc}",
            pytrace=False,
        )
    assert d.name.strip(), f"department {d.code} has an empty name"
    assert d.timeout > 0, f"{d.name}: timeout must be above 0 seconds, got {d.timeout}"
    assert d.operations, (
        f"{d.name}'s adapter ({type(d.adapter).__name__}) implements none of the operations "
        f"{', '.join(ADAPTER_OPERATIONS)}"
    )
    for attribute in dir(d.adapter):
        if attribute.startswith("_") or attribute in ADAPTER_OPERATIONS:
            continue
        close = difflib.get_close_matches(attribute, ADAPTER_OPERATIONS, n=1, cutoff=0.85)
        try:
            member = getattr(d.adapter, attribute, None)
        except Exception:  # a property that fails is not a misspelt operation
            member = None
        assert not close or not callable(member), (
            f"{d.name}'s adapter has a method {attribute!r}; did you mean {close[0]!r}? The "
            f"platform calls only the names {', '.join(ADAPTER_OPERATIONS)}"
        )
    for op in d.operations:
        method = getattr(d.adapter, op)
        try:
            signature = inspect.signature(method)
        except (TypeError, ValueError):  # a builtin without a signature: cannot check
            continue
        try:
            signature.bind(*([None] * _ARITY[op]))
        except TypeError as exc:
            pytest.fail(
                f"{d.name}: {op}{signature} cannot be called with {_ARITY[op]} positional "
                f"argument(s) as the platform calls it ({exc}); see govsvc.adapters",
                pytrace=False,
            )
    for attribute in d.authoritative_for:
        assert isinstance(attribute, str) and attribute, f"{d.name}: bad authoritative_for"


def test_health_answers_true_or_false(
    govsvc_contract_department: Department, tmp_path: Path
) -> None:
    """health() answers a bool, which the platform reports as up or down."""
    _require(govsvc_contract_department, "health")
    with _harness(govsvc_contract_department, tmp_path) as h:
        report = h.system.departments.health()
        call = h.only("health")
        _check_answer(h.department, call)
        expected = "up" if call.result else "down: reported unhealthy"
        assert report[h.department.code] == expected, report
        h.check_log()


def test_profile_of_an_unknown_party_is_none(
    govsvc_contract_department: Department,
    govsvc_contract_samples: Samples,
    tmp_path: Path,
) -> None:
    """profile() of a party the legacy system does not know is None, not an error."""
    _require(govsvc_contract_department, "profile")
    number = _sample(govsvc_contract_samples, "unknown_party")
    with _harness(govsvc_contract_department, tmp_path) as h:
        profile = h.system.parties.identify(number, purpose=PURPOSE)
        call = h.only("profile")
        assert call.result is None, (
            f"{h.department.name}: profile({number}) returned {call.result!r} for a party the "
            f"legacy system does not know; return None"
        )
        assert h.department.code not in profile.unavailable, profile.unavailable
        h.check_log()


def test_profile_of_a_known_party_is_a_mapping(
    govsvc_contract_department: Department,
    govsvc_contract_samples: Samples,
    tmp_path: Path,
) -> None:
    """profile() of a known party is a mapping of str attribute names the platform merges."""
    _require(govsvc_contract_department, "profile")
    number = _sample(govsvc_contract_samples, "known_party")
    with _harness(govsvc_contract_department, tmp_path) as h:
        profile = h.system.parties.identify(number, purpose=PURPOSE)
        call = h.only("profile")
        assert isinstance(call.result, Mapping), (
            f"{h.department.name}: profile({number}) returned {call.result!r} for the known "
            f"party; return a dict of attributes (is the known_party sample right?)"
        )
        _check_answer(h.department, call)
        _check_canonical(h.department, call.result)
        assert h.department.code not in profile.unavailable, profile.unavailable
        for name, value in call.result.items():
            if value not in (None, ""):
                assert profile.attributes[name].source == h.department.code, name
        h.check_log()


def test_certificates_of_a_known_party_are_records(
    govsvc_contract_department: Department,
    govsvc_contract_samples: Samples,
    tmp_path: Path,
) -> None:
    """certificates() answers a list of CertificateRecord held by that party."""
    _require(govsvc_contract_department, "certificates")
    number = _sample(govsvc_contract_samples, "known_party")
    key = PartyKey.of(number)
    with _harness(govsvc_contract_department, tmp_path) as h:
        held = h.system.parties.certificates(number, purpose=PURPOSE)
        call = h.only("certificates")
        _check_answer(h.department, call)
        assert h.department.code not in held.unavailable, held.unavailable
        for record in call.result:
            assert record.holder_number == key.number, (
                f"{h.department.name}: certificates({number}) returned {record.number} held by "
                f"{record.holder_number}; return only the party's own certificates"
            )
        h.check_log()


def test_prereview_answers_findings(
    govsvc_contract_department: Department,
    govsvc_contract_samples: Samples,
    tmp_path: Path,
) -> None:
    """prereview() answers a list of Finding about the materials of the application."""
    _require(govsvc_contract_department, "prereview")
    with _harness(govsvc_contract_department, tmp_path) as h:
        case = h.new_case(govsvc_contract_samples, accept=False)
        h.system.departments.prereview(case)
        call = h.only("prereview")
        _check_answer(h.department, call)
        codes = {m.code for m in case.materials}
        for finding in call.result:
            assert finding.material in codes, (
                f"{h.department.name}: prereview reported material {finding.material!r}, which "
                f"the application does not have (it has {sorted(codes)})"
            )
        h.check_log()


def test_open_review_is_idempotent_on_the_task_id(
    govsvc_contract_department: Department,
    govsvc_contract_samples: Samples,
    tmp_path: Path,
) -> None:
    """Delivering the same review task twice gives the same legacy id (no second task)."""
    _require(govsvc_contract_department, "open_review")
    with _harness(govsvc_contract_department, tmp_path) as h:
        case = h.new_case(govsvc_contract_samples, accept=True)
        [task] = case.open_tasks
        first = h.system.departments.deliver()
        assert (first.delivered, first.errors) == (1, ()), first
        legacy = h.legacy_id(task.id)
        h.mark_undelivered(case.id)  # the platform crashed before recording the delivery
        second = h.system.departments.deliver()
        assert (second.delivered, second.errors) == (1, ()), second
        calls = h.answers("open_review")
        assert len(calls) == 2
        for call in calls:
            _no_error(h.department, call)
            _check_answer(h.department, call)
        requests = [c.args[0] for c in calls]
        assert all(isinstance(r, ReviewRequest) for r in requests)
        assert requests[0].task_id == requests[1].task_id == task.id
        assert calls[1].result == calls[0].result == legacy, (
            f"{h.department.name}: open_review gave legacy id {calls[0].result!r}, then "
            f"{calls[1].result!r} for the same task {task.id}; use request.task_id as the "
            f"idempotency key and return the existing task's id"
        )
        assert h.legacy_id(task.id) == legacy
        h.check_log()


def test_poll_review_answers_an_outcome_or_none(
    govsvc_contract_department: Department,
    govsvc_contract_samples: Samples,
    tmp_path: Path,
) -> None:
    """poll_review() answers a ReviewOutcome, or None while the review is pending."""
    _require(govsvc_contract_department, "poll_review")
    if not govsvc_contract_department.offers("open_review"):
        pytest.skip("poll_review needs a task delivered with open_review, which is missing")
    with _harness(govsvc_contract_department, tmp_path) as h:
        case = h.new_case(govsvc_contract_samples, accept=True)
        [task] = case.open_tasks
        delivered = h.system.departments.deliver()
        assert delivered.delivered == 1, delivered
        report = h.system.departments.poll()
        call = h.only("poll_review")
        _check_answer(h.department, call)
        ticket = call.args[0]
        assert isinstance(ticket, ReviewTicket)
        assert (ticket.task_id, ticket.legacy_id) == (task.id, h.legacy_id(task.id))
        assert not report.errors, report.errors
        assert report.decided + report.pending == 1, report
        if call.result is not None:
            status = h.system.cases.get(case.id).task(task.id).status
            expected = TaskStatus.APPROVED if call.result.approved else TaskStatus.DENIED
            assert status is expected
        h.check_log()


def _decided_through_the_platform(
    h: _Harness, ticket: ReviewTicket, approve: Approve | None
) -> ReviewOutcome:
    """The legacy system approves the delivered task (``approve``) and the platform learns
    it as in production: by polling, or for a department without ``poll_review`` by the
    callback its host receives. Skips when the suite cannot have the task decided."""
    d = h.department
    if approve is not None:
        approve(ticket)
    if d.offers("poll_review"):
        outcome = h.poll_for(ticket)
        if outcome is None:
            if approve is not None:
                pytest.fail(
                    f"{d.name}: govsvc_contract_approve approved task {ticket.legacy_id}, but "
                    f"poll_review still answers None (pending); does it approve the task "
                    f"poll_review reads?",
                    pytrace=False,
                )
            pytest.skip(
                f"the legacy system has not decided task {ticket.legacy_id}: {_NEEDS_APPROVE}"
            )
        if not outcome.approved:
            pytest.skip(
                f"{d.name} denied task {ticket.legacy_id} ({outcome.reason}), so there is no "
                f"result to issue: {_NEEDS_APPROVE}"
            )
    elif approve is not None:
        outcome = ReviewOutcome(approved=True, reason="契约测试：准予许可")
        h.platform.session(system_of(d.code)).reviews.record_decision(ticket.task_id, outcome)
    else:
        pytest.skip(
            f"{d.name} offers no poll_review, so the legacy system cannot report a decision "
            f"by itself: {_NEEDS_APPROVE}"
        )
    # Work the decision leaves for the platform goes out with the outbox: notices by
    # deliver(), the approved case's result (result.fetch) by fetch_results().
    h.system.departments.deliver()
    h.system.departments.fetch_results()
    return outcome


def test_issue_result_gives_the_same_licence_for_the_same_ticket(
    govsvc_contract_department: Department,
    govsvc_contract_samples: Samples,
    govsvc_contract_approve: Approve | None,
    tmp_path: Path,
) -> None:
    """issue_result() of an approved task answers an IssuedResult, and the same licence again
    when asked again for the same ticket (the platform retries a fetch it never saw end)."""
    _require(govsvc_contract_department, "open_review", "issue_result")
    with _harness(govsvc_contract_department, tmp_path) as h:
        d = h.department
        case, ticket = h.delivered_case(govsvc_contract_samples)
        _decided_through_the_platform(h, ticket, govsvc_contract_approve)
        fetched = h.answers("issue_result")
        for call in fetched:
            _no_error(d, call, why="issue_result of an approved task answers its licence")
            _check_answer(d, call)
            assert call.args[0] == ticket, f"issue_result was asked about {call.args[0]}"
        first = fetched[0] if fetched else h.direct("issue_result", ticket)
        again = h.direct("issue_result", ticket)
        for call in (first, again):
            _no_error(d, call, why="issue_result of an approved task answers its licence")
            _check_answer(d, call)
        assert (again.result.name, again.result.number) == (
            first.result.name,
            first.result.number,
        ), (
            f"{d.name}: issue_result gave {first.result.name} {first.result.number}, then "
            f"{again.result.name} {again.result.number} for the same task {ticket.task_id}; "
            f"issuing again must answer the licence already issued (key it on "
            f"ticket.task_id or ticket.legacy_id)"
        )
        if fetched:
            result = h.system.cases.get(case.id).result
            assert result is not None and result.number == first.result.number, (
                f"the case holds result {result}, the adapter issued {first.result.number}"
            )
        h.check_log()


def test_cancel_review_is_harmless_to_repeat(
    govsvc_contract_department: Department,
    govsvc_contract_samples: Samples,
    tmp_path: Path,
) -> None:
    """cancel_review() of a task withdrawn on the platform answers None, and None again when
    the withdrawal is repeated (the platform retries one it never saw end)."""
    _require(govsvc_contract_department, "open_review", "cancel_review")
    with _harness(govsvc_contract_department, tmp_path) as h:
        d = h.department
        case, ticket = h.delivered_case(govsvc_contract_samples)
        h.withdraw(case, govsvc_contract_samples)
        report = h.system.departments.deliver()
        call = h.only("cancel_review")
        _check_answer(d, call)
        assert call.args[0] == ticket, f"cancel_review was asked about {call.args[0]}"
        assert (report.delivered, report.errors) == (1, ()), report
        again = h.direct("cancel_review", ticket)
        _no_error(
            d,
            again,
            why=f"task {ticket.legacy_id} was withdrawn already: withdrawing it again must "
            f"change nothing and raise nothing",
        )
        _check_answer(d, again)
        h.check_log()


def test_cancel_review_of_a_decided_task_is_harmless(
    govsvc_contract_department: Department,
    govsvc_contract_samples: Samples,
    govsvc_contract_approve: Approve | None,
    tmp_path: Path,
) -> None:
    """cancel_review() of a task the legacy system already decided answers None, and the
    decision stands (the applicant may withdraw before the platform polled)."""
    _require(govsvc_contract_department, "open_review", "cancel_review")
    with _harness(govsvc_contract_department, tmp_path) as h:
        d = h.department
        case, ticket = h.delivered_case(govsvc_contract_samples)
        why = (
            f"the legacy system had decided task {ticket.legacy_id} already: withdrawing it "
            f"must leave the decision as it is and raise nothing"
        )
        if govsvc_contract_approve is not None:
            govsvc_contract_approve(ticket)
            h.withdraw(case, govsvc_contract_samples)  # before the platform learnt the decision
            report = h.system.departments.deliver()
            [call] = h.answers("cancel_review")
            _no_error(d, call, why=why)
            _check_answer(d, call)
            assert (report.delivered, report.errors) == (1, ()), report
        elif d.offers("poll_review") and h.poll_for(ticket) is not None:
            pass  # decided by itself, and the platform knows: the suite withdraws directly
        else:
            pytest.skip(
                f"the legacy system has not decided task {ticket.legacy_id}: {_NEEDS_APPROVE}"
            )
        again = h.direct("cancel_review", ticket)
        _no_error(d, again, why=why)
        _check_answer(d, again)
        if d.offers("poll_review"):
            after = h.direct("poll_review", ticket)
            _no_error(d, after, why=why)
            _check_answer(d, after)
            assert isinstance(after.result, ReviewOutcome), (
                f"{d.name}: after cancel_review of decided task {ticket.legacy_id}, poll_review "
                f"answers {after.result!r}; the decision must stand"
            )
        h.check_log()


def test_every_call_is_in_the_exchange_log(
    govsvc_contract_department: Department,
    govsvc_contract_samples: Samples,
    tmp_path: Path,
) -> None:
    """Every operation called through the platform is in the chained exchange log."""
    d = govsvc_contract_department
    with _harness(d, tmp_path) as h:
        number = (
            govsvc_contract_samples.get("known_party")
            or govsvc_contract_samples.get("unknown_party")
            or make_person(20260302).key.number
        )
        if d.offers("health"):
            h.system.departments.health()
        if d.offers("profile"):
            h.system.parties.identify(number, purpose=PURPOSE)
        if d.offers("certificates"):
            h.system.parties.certificates(number, purpose=PURPOSE)
        if d.offers("prereview") or d.offers("open_review"):
            case = h.new_case(govsvc_contract_samples, accept=False)
            h.system.departments.prereview(case)
            h.platform.session(clerk_for(d.code)).cases.accept(case)
            h.system.departments.deliver()
            h.system.departments.poll()
        assert h.calls, f"{d.name}: the platform made no call to the adapter"
        h.check_log()
        rows = h.log()
        assert {r.department for r in rows} == {d.code}
        assert all(r.duration_ms >= 0 for r in rows)
