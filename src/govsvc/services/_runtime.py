"""What lives as long as the Platform and every session shares (svcs' registry, not a request).

The :class:`Runtime` holds the engine, the clock, the calendar, the plugins and their
registry, the department caller and its loop, the policy, the listeners and the caches.
Sessions (one per principal, as long as a request) borrow it; services never keep their own
state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from govsvc.adapters import Department
from govsvc.audit import AccessRecord
from govsvc.calendar import WorkCalendar
from govsvc.cases import Case, CaseDeadline, Step, local_date
from govsvc.catalogue import ItemVersion
from govsvc.deadlines import LightThresholds, due_date, suspended_workdays
from govsvc.errors import AdapterUnavailable, InvalidInput, PermissionDenied, UnknownItem
from govsvc.events import EventListener
from govsvc.exchange import DepartmentCaller, ExchangeRecord, LoopThread, WorkPolicy
from govsvc.plugins import PluginManager, Registry
from govsvc.policy import Policy
from govsvc.services._ecert import EcertRuntime
from govsvc.store import access as access_store
from govsvc.store import catalogue as catalogue_store
from govsvc.store import exchange as exchange_store

__all__ = ["BoundedCache", "Runtime"]

log = logging.getLogger("govsvc.platform")

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

Clock = Callable[[], dt.datetime]

DEFAULT_ECERT_BASE = "http://127.0.0.1:8000/ecert"
# Seconds a thread queues for this process's SQLite writer turn before it goes on to SQLite's
# own busy timeout (the same 30 s), so a stuck holder slows writers down but never hangs them.
WRITER_WAIT = 30.0
"""Where certificates, key sets and status lists are published unless configured."""


class BoundedCache(Generic[K, V]):
    """A small thread-safe LRU map: the caches of a long-running process must not grow with
    the data (the party-upsert cache once held 20,002 entries at 50,000 cases)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class GroupWriter(Generic[T]):
    """Group commit: concurrent callers' records are written together, in one transaction.

    The first caller to find no write in progress becomes the writer: it takes everything
    pending (its own records and those that arrive meanwhile), writes it in one transaction,
    hands every caller its own share back, and goes on while more is pending. The others wait
    for their share. Each caller returns only once its records are committed. By hand because
    no library does group commit for a SQLAlchemy transaction; a 200-call burst of identify()
    otherwise made 200 exchange-log transactions queue on the chain's lock.
    """

    def __init__(self, write: Callable[[list[T]], list[T]]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._pending: list[tuple[list[T], concurrent.futures.Future[list[T]]]] = []
        self._writing = False

    def write(self, records: Sequence[T]) -> list[T]:
        if not records:
            return []
        future: concurrent.futures.Future[list[T]] = concurrent.futures.Future()
        with self._lock:
            self._pending.append((list(records), future))
            if self._writing:
                lead = False
            else:
                self._writing = lead = True
        if lead:
            self._drain()
        return future.result()

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._writing = False
                    return
            try:
                written = self._write([r for records, _ in batch for r in records])
            except BaseException as exc:
                for _, future in batch:
                    future.set_exception(exc)
                continue
            at = 0
            for records, future in batch:
                future.set_result(written[at : at + len(records)])
                at += len(records)


class Runtime:
    """The platform's shared state; see the module docstring."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        plugins: PluginManager,
        registry: Registry,
        calendar: WorkCalendar,
        clock: Clock,
        policy: Policy,
        thresholds: LightThresholds,
        supplement_workdays: int,
        verify_workdays: int,
        caller: DepartmentCaller,
        authorities: Mapping[str, str],
        case_cache: int = 4096,
        work_policy: WorkPolicy | None = None,
        checkpoint_keys: Mapping[str, bytes] | None = None,
        ecert: EcertRuntime | None = None,
    ) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.plugins = plugins
        self.registry = registry
        self.policy = policy
        self.thresholds = thresholds
        self.supplement_workdays = supplement_workdays
        self.verify_workdays = verify_workdays
        self.caller = caller
        self.authorities = dict(authorities)
        self.loop = LoopThread()
        self._clock = clock
        self._calendar = calendar
        self._calendar_lock = threading.Lock()
        self._calendar_checking = threading.Lock()
        self._calendar_source: (
            tuple[Callable[[sa.Connection], WorkCalendar], Callable[[sa.Connection], object]] | None
        ) = None
        self._calendar_revision: object = None
        self._calendar_due = 0.0
        self.calendar_check_every = 5.0
        self.case_event_hooks = plugins.hook.govsvc_case_event.get_hookimpls()
        self.listeners: list[EventListener] = list(registry.event_listeners)
        # The last Case object stored per id: handed back unchanged, it needs no reload.
        self.issued: weakref.WeakValueDictionary[str, Case] = weakref.WeakValueDictionary()
        # Recent cases by id and by tracking code: a command or read naming a case by its code
        # reuses the copy when the stored version is unchanged (store.cases.load_case).
        self.recent: BoundedCache[str, Case] = BoundedCache(2 * case_cache)
        self.parties_written: BoundedCache[tuple[str, str], Any] = BoundedCache(4096)
        self.versions: BoundedCache[tuple[str, int], ItemVersion] = BoundedCache(2048)
        # The newest version of each item this process has seen (a guess to build an
        # application on before its transaction; the transaction checks it).
        self.newest: BoundedCache[str, ItemVersion] = BoundedCache(2048)
        self._tx = threading.local()
        # SQLite has one writer at a time. Threads of this process queue for it here, in
        # order, instead of in SQLite's busy handler, which sleeps 1, 2, 5 … 100 ms between
        # tries and leaves the lock idle meanwhile: 50 clerks posting at once got ~190
        # applications a second and a p99 of 1.4 s that way (bench/host_http.py). Other
        # processes still meet the busy timeout.
        self._writer = threading.RLock()
        self.calendar_region: str | None = None
        self.work = work_policy or WorkPolicy()
        # The operator's checkpoint keys (id → secret), never stored in the database; the
        # first signs new checkpoints, the others verify older ones.
        self.checkpoint_keys: dict[str, bytes] = _checked_keys(checkpoint_keys or {})
        self.journal: GroupWriter[ExchangeRecord] = GroupWriter(self._append_exchanges)
        # E-certificates (电子证照): keys, URLs, types, certificate listeners.
        self.ecert: EcertRuntime = ecert or EcertRuntime.build(
            keys=None,
            base_url=DEFAULT_ECERT_BASE,
            types=None,
            plugins=plugins,
            clock=self.now,
            names={code: d.name for code, d in registry.departments.items()},
            signers=registry.signers,
        )

    # --- clock and calendar ------------------------------------------------------------------

    def now(self) -> dt.datetime:
        moment = self._clock()
        if moment.tzinfo is None:
            raise InvalidInput("the platform clock returned a naive datetime; return aware UTC")
        # Stored in UTC: SQLite keeps no offset, so a local time would read back shifted.
        return moment.astimezone(dt.UTC)

    def today(self) -> dt.date:
        return local_date(self.now())

    @property
    def calendar(self) -> WorkCalendar:
        """The calendar in force. Every ``calendar_check_every`` seconds one caller compares
        the stored years' revision with the one this calendar was built from, and rebuilds it
        when another process loaded a year: a running process sees ``govsvc calendar load``
        within seconds, without a restart."""
        if self._calendar_source is not None and time.monotonic() >= self._calendar_due:
            self._check_calendar()
        return self._calendar

    def set_calendar(self, calendar: WorkCalendar) -> None:
        with self._calendar_lock:
            self._calendar = calendar

    def watch_calendar(
        self,
        build: Callable[[sa.Connection], WorkCalendar],
        revision: Callable[[sa.Connection], object],
        *,
        every: float,
    ) -> None:
        """Build the calendar from the database now, and again whenever ``revision`` changes
        (looked at no more often than ``every`` seconds)."""
        with self.read() as conn:
            self._calendar_revision = revision(conn)
            self.set_calendar(build(conn))
        self._calendar_source = (build, revision)
        self.calendar_check_every = every
        self._calendar_due = time.monotonic() + every

    def refresh_calendar(self, *, force: bool = False) -> bool:
        """Rebuild the calendar if the stored years changed (always with ``force``); returns
        whether it was rebuilt."""
        if self._calendar_source is None:
            return False
        build, revision = self._calendar_source
        with self._calendar_lock:
            self._calendar_due = time.monotonic() + self.calendar_check_every
        with self.read() as conn:
            found = revision(conn)
            if found == self._calendar_revision and not force:
                return False
            calendar = build(conn)
        with self._calendar_lock:
            self._calendar, self._calendar_revision = calendar, found
        log.info("working-day calendar reloaded (revision %s)", found)
        return True

    def _check_calendar(self) -> None:
        if not self._calendar_checking.acquire(blocking=False):
            return  # another thread is looking; this one goes on with the current calendar
        try:
            self.refresh_calendar()
        except Exception:  # a database hiccup must not fail the command that asked
            log.warning("could not check the calendar revision; keeping the current one")
        finally:
            self._calendar_checking.release()

    # --- transactions ------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with self._transaction(write=True) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """One read transaction (a consistent snapshot; never blocks writers on SQLite WAL)."""
        with self._transaction(write=False) as conn:
            yield conn

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sa.Connection]:
        depth = getattr(self._tx, "depth", 0)
        self._tx.depth = depth + 1
        queued = write and self.is_sqlite and self._writer.acquire(timeout=WRITER_WAIT)
        try:
            connection = self.engine.connect()
            if write:
                connection = connection.execution_options(govsvc_write=True)
            with connection as conn, conn.begin():
                yield conn
        except PermissionDenied as exc:
            self._tx.depth = depth
            # Recorded after the rollback, in a transaction of its own: the refused command
            # changed nothing, but the attempt is kept.
            self.flush_denial(exc)
            raise
        finally:
            self._tx.depth = depth
            if queued:
                self._writer.release()

    @property
    def in_transaction(self) -> bool:
        return getattr(self._tx, "depth", 0) > 0

    def flush_denial(self, exc: PermissionDenied) -> None:
        record: AccessRecord | None = getattr(exc, "_govsvc_record", None)
        if record is None or self.in_transaction:
            return
        exc._govsvc_record = None  # type: ignore[attr-defined]
        try:
            self.record_access([record])
        except Exception:  # never let the audit write hide the refusal itself
            log.exception("could not record the refused attempt %s", record)

    def record_access(self, records: Sequence[AccessRecord]) -> None:
        if records:
            with self.write() as conn:
                access_store.append(conn, records)

    def log_exchanges(self, records: Sequence[ExchangeRecord]) -> list[ExchangeRecord]:
        """Write exchange records (group commit with other threads); returns them with seqs."""
        return self.journal.write(records)

    def _append_exchanges(self, records: list[ExchangeRecord]) -> list[ExchangeRecord]:
        with self.write() as conn:
            return exchange_store.append(conn, records)

    # --- the catalogue's immutable versions ---------------------------------------------------

    def version_in(self, conn: sa.Connection, code: str, number: int) -> ItemVersion:
        key = (code, number)
        cached = self.versions.get(key)
        if cached is not None:
            return cached
        found = catalogue_store.load_version(conn, code, number)
        if found is None:
            raise UnknownItem(
                f"service item {code!r} has no published version {number}; "
                "check the implementation code (实施编码) or publish the item first"
            )
        self.versions.put(key, found)  # versions are immutable: safe to share between threads
        return found

    def version_of(self, case: Case) -> ItemVersion:
        """The item version a case is pinned to."""
        cached = self.versions.get((case.item_code, case.item_version))
        if cached is not None:
            return cached
        with self.read() as conn:
            return self.version_in(conn, case.item_code, case.item_version)

    def latest_in(self, conn: sa.Connection, code: str) -> ItemVersion:
        latest = catalogue_store.latest_number(conn, code)
        if latest is None:
            raise UnknownItem(
                f"no published service item with implementation code {code!r}; list them "
                "with session.catalogue.items() or publish it first"
            )
        return self.version_in(conn, code, latest)

    # --- deadlines ---------------------------------------------------------------------------

    def deadline(
        self,
        case: Case,
        version: ItemVersion,
        today: dt.date | None = None,
        *,
        calendar: WorkCalendar | None = None,
    ) -> CaseDeadline:
        assert case.accepted_at is not None
        cal = calendar or self._calendar
        start = local_date(case.accepted_at)
        stopped = suspended_workdays(
            cal, [(s.start, s.end) for s in case.suspensions], today=today or self.today()
        )
        extra = case.extension_workdays
        promised = due_date(
            cal, start, version.promised_limit, suspended_workdays=stopped, extension_workdays=extra
        )
        statutory = due_date(
            cal,
            start,
            version.statutory_limit,
            suspended_workdays=stopped,
            extension_workdays=extra,
        )
        return CaseDeadline(
            start=start,
            promised=promised.date,
            statutory=statutory.date,
            provisional=promised.provisional or statutory.provisional,
        )

    # --- after a commit ----------------------------------------------------------------------

    def remember(self, case: Case) -> None:
        """Keep the case object just stored: handed back unchanged, the next command skips
        reloading it (the version check in the UPDATE still guards against other writers);
        named by id or tracking code, it is reused while its stored version is unchanged."""
        self.issued[case.id] = case
        self.recent.put(case.id, case)
        self.recent.put(case.tracking_code, case)

    @contextmanager
    def autocommit_read(self) -> Iterator[sa.Connection]:
        """A connection for single statements outside any transaction (each statement its own
        consistent snapshot), for the driver-level statements of :mod:`govsvc.store.fast`.

        On SQLite a command reads its case here, before it takes the writer lock: a read
        transaction would cost a BEGIN and a COMMIT for the same snapshot.
        """
        with self.engine.connect() as conn:
            yield conn

    def broadcast(self, steps: Iterable[Step]) -> None:
        """Tell listeners, after commit; a failing listener is logged and affects nothing."""
        for step in steps:
            event, case = step.event, step.case
            for impl in self.case_event_hooks:
                self.plugins.trace_call(
                    "govsvc_case_event", impl.plugin_name, f"{event.kind.value} of {case.id}"
                )
                self._safely(impl.plugin_name, impl.function, step, keywords=True)
            for listener in self.listeners:
                if listener.wants(event.kind):
                    self._safely(listener.name, listener.handle, step)

    @staticmethod
    def _safely(name: str, call: Callable[..., Any], step: Step, *, keywords: bool = False) -> None:
        try:
            if keywords:
                call(event=step.event, case=step.case)
            else:
                call(step.event, step.case)
        except Exception:
            log.exception(
                "case event listener %s failed on %s of case %s",
                name,
                step.event.kind.value,
                step.case.tracking_code,
            )

    # --- departments -------------------------------------------------------------------------

    @property
    def departments(self) -> Mapping[str, Department]:
        return self.registry.departments

    def fan_out(
        self,
        departments: Sequence[Department],
        operation: str,
        args: Callable[[Department], Sequence[Any]],
        *,
        requester: str,
        on_behalf_of: str,
        purpose: str,
        case_id: str | None = None,
        check: Callable[[Any], Any] | None = None,
    ) -> list[tuple[Department, Any]]:
        """Call ``operation`` on every department at once; (department, answer or error).

        Each call is in the exchange log *before* it is made (outcome ``attempted``, written
        and committed first) and again with its outcome after, so a crash in between leaves a
        record, never nothing. A department whose circuit is open is not called: its answer
        is the :class:`AdapterUnavailable` saying so (the opening itself is logged once).
        """
        caller = self.caller
        closed = [d for d in departments if not caller.is_open(d)]
        attempts = self.log_exchanges(
            [
                caller.record(
                    d,
                    operation,
                    requester=requester,
                    on_behalf_of=on_behalf_of,
                    purpose=purpose,
                    case_id=case_id,
                )
                for d in closed
            ]
        )
        outcomes: list[ExchangeRecord] = []

        async def gather() -> list[Any]:
            return list(
                await asyncio.gather(
                    *(
                        caller.call(
                            d,
                            operation,
                            *args(d),
                            requester=requester,
                            on_behalf_of=on_behalf_of,
                            purpose=purpose,
                            case_id=case_id,
                            check=check,
                            records=outcomes,
                            attempt=attempt,
                        )
                        for d, attempt in zip(closed, attempts, strict=True)
                    ),
                    return_exceptions=True,
                )
            )

        answers = dict(
            zip((d.code for d in closed), self.run(gather()) if closed else [], strict=True)
        )
        self.log_exchanges(outcomes)
        result: list[tuple[Department, Any]] = []
        for d in departments:
            if d.code in answers:
                result.append((d, answers[d.code]))
            else:
                circuit = caller.circuit_of(d)
                result.append(
                    (
                        d,
                        AdapterUnavailable(
                            f"{d.name}: not asked, its circuit is open after {circuit.failures} "
                            f"consecutive failures; calls resume in {circuit.reopens_in:.0f}s",
                            department=d.code,
                            operation=operation,
                        ),
                    )
                )
        return result

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the department loop; the longest department timeout bounds it."""
        budget = max((d.timeout for d in self.departments.values()), default=5.0)
        attempts = self.caller.policy.attempts
        limit = budget * attempts + 30
        try:
            return self.loop.run(coro, timeout=limit)
        except concurrent.futures.TimeoutError:
            # Every call has its own timeout; only a blocked loop lets the whole pass overrun.
            raise AdapterUnavailable(
                f"the departments' calls did not finish within {limit:g}s: an adapter's "
                "coroutine is blocking the event loop (a blocking call inside async def); "
                "check the exchange log for the adapter reported as blocking"
            ) from None


def _checked_keys(keys: Mapping[str, bytes]) -> dict[str, bytes]:
    checked: dict[str, bytes] = {}
    for key_id, secret in keys.items():
        if not isinstance(key_id, str) or not 1 <= len(key_id) <= 40 or not key_id.isprintable():
            raise InvalidInput(
                f"a checkpoint key id must be 1 to 40 printable characters, got {key_id!r}"
            )
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise InvalidInput(
                f"checkpoint key {key_id!r} must be at least 16 random bytes (e.g. "
                "secrets.token_bytes(32)), kept outside the database"
            )
        checked[key_id] = secret
    return checked
