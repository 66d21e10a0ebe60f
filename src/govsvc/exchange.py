"""Calling departments: concurrency, timeouts, retries, circuits, and the exchange log.

Calls to several departments run concurrently on one asyncio loop that the platform runs in
a background thread, so the platform's synchronous API stays usable from a script or a
Django view. Each call has a timeout; calls that are safe to repeat are retried with
exponential backoff; after repeated failures a department's *circuit* opens and calls fail
fast until a cool-down passes (then one trial call decides). A slow or broken legacy system
therefore costs one feature of one department, never the platform.

Every call produces an :class:`ExchangeRecord` — requester, department, operation, on behalf
of whom, for which case, purpose, outcome, duration — which the platform hands to the store's
hash-chained exchange log (:mod:`govsvc.store.exchange`; X-Road's message log is the model).
This module writes no tables.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import gc
import inspect
import random
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from govsvc.adapters import Department
from govsvc.errors import AdapterError, AdapterProtocolError, AdapterUnavailable

__all__ = [
    "CallPolicy",
    "Circuit",
    "DepartmentCaller",
    "ExchangeRecord",
    "LoopThread",
    "WorkPolicy",
]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class CallPolicy:
    """How the platform calls departments.

    ``attempts`` counts the first try; retries wait ``backoff * 2**n`` seconds (with jitter).
    A circuit opens after ``failure_threshold`` consecutive failures and stays open for
    ``cooldown`` seconds.
    """

    attempts: int = 3
    backoff: float = 0.05
    failure_threshold: int = 5
    cooldown: float = 30.0


@attrs.frozen(kw_only=True)
class WorkPolicy:
    """How the platform's workers pace department work (delivery, polling, result fetching).

    A failed delivery or result fetch is tried again after ``retry_base`` seconds, doubling
    per attempt up to ``retry_cap`` (with jitter); a task still pending is asked again after
    ``poll_base`` seconds, doubling per poll up to ``poll_cap``. A claim (lease) lasts the
    longest a call can take (the department's timeout × attempts) plus ``lease_margin``.
    """

    retry_base: float = 5.0
    retry_cap: float = 300.0
    poll_base: float = 2.0
    poll_cap: float = 600.0
    lease_margin: float = 30.0

    @classmethod
    def eager(cls) -> WorkPolicy:
        """No waiting between polls or retries: every worker run asks again. For tests (the
        test kit's platforms use it) and benchmarks; a real department would be flooded."""
        return cls(retry_base=0.0, retry_cap=0.0, poll_base=0.0, poll_cap=0.0)


class Circuit:
    """A per-department circuit breaker: closed → open after failures → half-open trial."""

    def __init__(self, threshold: int, cooldown: float, clock: Callable[[], float]) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial:
            self._trial = True  # exactly one trial call while half-open
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial = False

    def failure(self) -> None:
        self.failures += 1
        self._trial = False
        if self.failures >= self.threshold:
            if self.opened_at is None or self.state == "half-open":
                self.just_opened = True  # announced once, in the exchange log, by the caller
            self.opened_at = self.clock()

    just_opened = False

    def take_opened(self) -> bool:
        """True once after the circuit opened (so the opening is logged once, not per call)."""
        opened, self.just_opened = self.just_opened, False
        return opened

    @property
    def reopens_in(self) -> float:
        """Seconds until an open circuit lets a trial call through (0 when not open)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.cooldown - (self.clock() - self.opened_at))


@attrs.frozen(kw_only=True)
class ExchangeRecord:
    """One call to a department, as the exchange log keeps it (before chaining)."""

    at: dt.datetime
    requester: str
    department: str
    operation: str
    on_behalf_of: str
    case_id: str | None
    purpose: str
    # attempted (written before the call) | ok | unavailable | protocol_error | error |
    # circuit_open (not sent) | busy (not sent: the platform's own queue was full) |
    # circuit_opened (the department's circuit opened: logged once per opening)
    outcome: str
    detail: str
    duration_ms: float
    seq: int | None = None  # its place in the exchange log, once written
    attempt: int | None = None  # for an outcome, the seq of the attempt record it closes

    def outcome_of(
        self, outcome: str, detail: str, duration_ms: float, *, at: dt.datetime
    ) -> ExchangeRecord:
        """The outcome record closing this attempt (which must have been written)."""
        return attrs.evolve(
            self,
            at=at,
            outcome=outcome,
            detail=detail[:2000],
            duration_ms=duration_ms,
            seq=None,
            attempt=self.seq,
        )


class LoopThread:
    """An asyncio loop in a daemon thread; synchronous code submits coroutines to it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        """True once a coroutine has run (the loop thread exists)."""
        return self._loop is not None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="govsvc-departments", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            loop.close()


class DepartmentCaller:
    """Calls adapter operations with timeouts, retries and circuits; records each call."""

    def __init__(
        self,
        departments: Mapping[str, Department],
        *,
        policy: CallPolicy | None = None,
        now: Callable[[], dt.datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.departments = dict(departments)
        self.policy = policy or CallPolicy()
        self._now = now
        self._monotonic = monotonic
        self._gates: dict[str, asyncio.Semaphore] = {}
        self.circuits = {
            code: Circuit(self.policy.failure_threshold, self.policy.cooldown, monotonic)
            for code in self.departments
        }

    def offering(self, operation: str) -> list[Department]:
        """The departments whose adapters implement ``operation``, by code."""
        return [d for _, d in sorted(self.departments.items()) if d.offers(operation)]

    async def call(
        self,
        department: Department,
        operation: str,
        *args: Any,
        requester: str,
        on_behalf_of: str,
        purpose: str,
        case_id: str | None = None,
        check: Callable[[Any], Any] | None = None,
        records: list[ExchangeRecord],
        attempt: ExchangeRecord | None = None,
    ) -> Any:
        """Call ``operation`` on a department's adapter; append its outcome record.

        ``attempt`` is the attempt record written (and committed) before the call: the
        outcome record names it, so a crash in between leaves "attempted, outcome unknown",
        never nothing. ``check`` validates the answer's type and raises
        :class:`AdapterProtocolError` naming the bad field. Raises :class:`AdapterError`
        subclasses on failure. A call refused by an open circuit, or not sent because the
        platform's own queue for the department stayed full, is not the department's
        failure: it neither counts against its circuit nor is it recorded as one.
        """
        started = self._monotonic()
        at = self._now()
        outcome, detail = "ok", ""
        try:
            result = await self._attempts(department, operation, args)
            return check(result) if check else result
        except _CircuitOpen as exc:
            outcome, detail = "circuit_open", str(exc)
            raise
        except _Busy as exc:
            outcome, detail = "busy", str(exc)
            raise
        except AdapterUnavailable as exc:
            outcome, detail = "unavailable", str(exc)
            raise
        except AdapterProtocolError as exc:
            outcome, detail = "protocol_error", str(exc)
            raise
        except AdapterError as exc:
            outcome, detail = "error", str(exc)
            raise
        finally:
            duration = round((self._monotonic() - started) * 1000, 3)
            if attempt is not None:
                records.append(attempt.outcome_of(outcome, detail, duration, at=self._now()))
            else:
                records.append(
                    self.record(
                        department,
                        operation,
                        requester=requester,
                        on_behalf_of=on_behalf_of,
                        purpose=purpose,
                        case_id=case_id,
                        outcome=outcome,
                        detail=detail,
                        at=at,
                        duration_ms=duration,
                    )
                )
            circuit = self.circuits.get(department.code)
            if circuit is not None and circuit.take_opened():
                records.append(
                    self.record(
                        department,
                        "circuit",
                        requester="platform",
                        on_behalf_of="platform",
                        purpose="熔断",
                        outcome="circuit_opened",
                        detail=(
                            f"{circuit.failures} consecutive failures; calls to "
                            f"{department.name} stop for {self.policy.cooldown:g}s, then one "
                            "trial call decides"
                        ),
                        at=self._now(),
                    )
                )

    def record(
        self,
        department: Department,
        operation: str,
        *,
        requester: str,
        on_behalf_of: str,
        purpose: str,
        case_id: str | None = None,
        outcome: str = "attempted",
        detail: str = "",
        at: dt.datetime | None = None,
        duration_ms: float = 0.0,
    ) -> ExchangeRecord:
        """An exchange record (an attempt, by default) for a call to ``department``."""
        return ExchangeRecord(
            at=at or self._now(),
            requester=requester[:100],
            department=department.code,
            operation=operation,
            on_behalf_of=on_behalf_of,
            case_id=case_id,
            purpose=purpose,
            outcome=outcome,
            detail=detail[:2000],
            duration_ms=duration_ms,
        )

    def circuit_of(self, department: Department) -> Circuit:
        return self.circuits.setdefault(
            department.code,
            Circuit(self.policy.failure_threshold, self.policy.cooldown, self._monotonic),
        )

    def is_open(self, department: Department) -> bool:
        """True while the department's circuit refuses calls (work for it should wait)."""
        return self.circuit_of(department).state == "open"

    def slots(self, department: Department) -> int:
        """How many more calls the department's gate admits right now: one while its circuit
        is half-open (the trial call), none while it is open."""
        state = self.circuit_of(department).state
        if state == "open":
            return 0
        gate = self._gates.get(department.code)
        free = gate._value if gate is not None else department.max_in_flight
        return max(0, min(free, 1 if state == "half-open" else free))

    async def _attempts(self, department: Department, operation: str, args: Sequence[Any]) -> Any:
        circuit = self.circuit_of(department)
        # Every operation is safe to repeat: open_review by its idempotency key (the task id),
        # issue_result and cancel_review by the ticket; the others only read.
        attempts = self.policy.attempts
        last: AdapterError | None = None
        for attempt in range(attempts):
            if not circuit.allow():
                raise _CircuitOpen(
                    f"{department.name} ({department.code}): circuit open after "
                    f"{circuit.failures} consecutive failures; calls resume after a "
                    f"{self.policy.cooldown:g}s cool-down",
                    department=department.code,
                    operation=operation,
                )
            try:
                result = await self._gated(department, operation, args)
            except _Busy:
                raise  # our own queue, not the department's failure
            except _TimedOut as exc:
                # A slow system is not retried: more calls would only add to its load.
                circuit.failure()
                raise AdapterUnavailable(
                    str(exc), department=department.code, operation=operation
                ) from None
            except AdapterUnavailable as exc:
                circuit.failure()
                last = exc
                if attempt + 1 < attempts:
                    delay = self.policy.backoff * (2**attempt)
                    await asyncio.sleep(delay * (0.5 + random.random()))  # jitter spreads retries
                continue
            except AdapterError:
                circuit.success()  # it answered: the system is up, the answer was bad
                raise
            circuit.success()
            return result
        assert last is not None
        raise last

    async def _gated(self, department: Department, operation: str, args: Sequence[Any]) -> Any:
        """At most ``department.max_in_flight`` calls at once; the timeout starts when the call
        does, so a queue on our side never turns into timeouts blamed on the department."""
        gate = self._gates.get(department.code)
        if gate is None:
            gate = self._gates[department.code] = asyncio.Semaphore(department.max_in_flight)
        try:
            await asyncio.wait_for(gate.acquire(), timeout=department.timeout)
        except TimeoutError:
            raise _Busy(
                f"not sent to {department.name}: the platform's {department.max_in_flight} "
                f"calls in flight to it did not finish within {department.timeout:g}s (its "
                "max_in_flight); try again shortly",
                department=department.code,
                operation=operation,
            ) from None
        try:
            return await self._once(department, operation, args)
        finally:
            gate.release()

    async def _once(self, department: Department, operation: str, args: Sequence[Any]) -> Any:
        method = getattr(department.adapter, operation, None)
        if not callable(method):
            raise AdapterError(
                f"{department.name} does not offer {operation}",
                department=department.code,
                operation=operation,
            )
        probe = _StepTimer()
        try:
            if inspect.iscoroutinefunction(method):
                awaitable: Awaitable[Any] = probe.wrap(method(*args))
            else:
                awaitable = asyncio.to_thread(method, *args)
            result = await asyncio.wait_for(awaitable, timeout=department.timeout)
            if inspect.isawaitable(result):  # a plain function that returned a coroutine
                result = await asyncio.wait_for(probe.wrap(result), timeout=department.timeout)
            probe.check(department, operation)
            return result
        except asyncio.CancelledError:
            probe.check(department, operation)
            raise
        except AdapterError as exc:
            if not exc.department:
                exc.department, exc.operation = department.code, operation
            raise
        except TimeoutError:
            probe.check(department, operation)
            raise _TimedOut(
                f"{department.name} did not answer {operation} within {department.timeout:g}s",
                department=department.code,
                operation=operation,
            ) from None
        except Exception as exc:
            if _is_network_failure(exc):
                raise AdapterUnavailable(
                    f"{department.name}: {type(exc).__name__} during {operation}: {exc}",
                    department=department.code,
                    operation=operation,
                ) from exc
            raise AdapterError(
                f"{department.name}'s adapter failed in {operation}: {type(exc).__name__}: {exc}",
                department=department.code,
                operation=operation,
            ) from exc


class _CollectorClock:
    """Seconds the garbage collector has run in this process, from its start/stop callbacks.

    A full collection of a long-lived process's heap can hold whatever step is running for a
    second: that is not the adapter blocking the loop, so :class:`_Timed` subtracts it (a
    full test suite once reported the psb adapter as blocking because of one)."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started: float | None = None

    def __call__(self, phase: str, _info: Mapping[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.total += time.perf_counter() - self._started
            self._started = None


_COLLECTOR = _CollectorClock()
gc.callbacks.append(_COLLECTOR)


class _StepTimer:
    """Finds an adapter coroutine that blocks the event loop (a blocking call inside
    ``async def``): it drives the coroutine as a task would (``send``/``throw``) and keeps the
    longest time one step held the loop, so the call that blocked is reported as what it is,
    by name, instead of a timeout or a bare ``CancelledError`` that says nothing — and the
    departments whose calls merely waited behind it are not blamed. By hand: asyncio only
    logs slow callbacks in debug mode, without saying whose they were."""

    THRESHOLD = 1.0  # seconds one step may hold the loop before it counts as blocked

    def __init__(self) -> None:
        self.longest = 0.0

    def wrap(self, coro: Awaitable[Any]) -> Awaitable[Any]:
        return _Timed(coro, self)

    def check(self, department: Department, operation: str) -> None:
        # Wall time, so a busy machine's descheduling counts too: half the department's
        # timeout (at least a second) keeps that from passing for a blocking call.
        if self.longest >= max(self.THRESHOLD, department.timeout / 2):
            raise AdapterError(
                f"{department.name}'s adapter blocked the event loop for {self.longest:.1f}s "
                f"in {operation}: a blocking call (time.sleep, requests, a synchronous driver) "
                f"inside `async def {operation}` stops every department's calls; use an async "
                f"client, or make {operation} a plain function (the platform runs those in a "
                "thread)",
                department=department.code,
                operation=operation,
            )


class _Timed:
    """An awaitable running ``coro`` step by step, timing each step for a :class:`_StepTimer`."""

    def __init__(self, coro: Awaitable[Any], timer: _StepTimer) -> None:
        self._coro = coro
        self._timer = timer

    def __await__(self) -> Any:
        inner = self._coro.__await__()
        value: Any = None
        error: BaseException | None = None
        while True:
            started, collected = time.perf_counter(), _COLLECTOR.total
            try:
                signal = inner.throw(error) if error is not None else inner.send(value)
            except StopIteration as done:
                return done.value
            finally:
                held = time.perf_counter() - started - (_COLLECTOR.total - collected)
                self._timer.longest = max(self._timer.longest, held)
            value, error = None, None
            try:
                value = yield signal
            except GeneratorExit:
                inner.close()
                raise
            except BaseException as exc:  # cancellation or a timeout thrown in: pass it on
                error = exc


class _TimedOut(AdapterUnavailable):
    """The department took longer than its timeout, or its slots stayed full (not retried)."""


class _CircuitOpen(AdapterUnavailable):
    """The department's circuit is open: the call was not made."""


class _Busy(AdapterUnavailable):
    """The platform's own gate for the department stayed full: the call was not made."""


def _is_network_failure(exc: Exception) -> bool:
    # httpx is imported only if an adapter uses it; looking it up in sys.modules keeps
    # `import govsvc` from paying for it.
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(exc, httpx.TimeoutException | httpx.NetworkError):
        return True
    return isinstance(exc, ConnectionError)
