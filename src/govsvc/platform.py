"""The Platform: the composition root an integrator opens once per process.

``Platform.open(url)`` connects to SQLite (embedded default) or PostgreSQL, brings the schema
up to date with alembic, loads the plugins and the working-day calendar, and holds the
department caller. It offers no commands itself: bind a principal and use the session's
resource services::

    platform = govsvc.Platform.open("sqlite:///govsvc.db")
    clerk = platform.session(govsvc.Principal.clerk("c-01", "王芳", agency=SAMR, auth=login))
    case = clerk.cases.accept("4K7N-2QXA-M8C")

Every command is one database transaction writing the case, its event and its outbox rows
together, authorized by the platform's one policy; a command that raises leaves the
database exactly as it was. The platform is thread-safe: share one across threads, make a
session per request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from govsvc.adapters import Department
from govsvc.calendar import CalendarData, WorkCalendar
from govsvc.cases import local_date
from govsvc.catalogue import ItemVersion
from govsvc.deadlines import LightThresholds
from govsvc.ecert import CertificateTypes, EcertUrls, KeyRing
from govsvc.errors import InvalidInput, PluginError
from govsvc.events import EventKind, EventListener, Handler
from govsvc.exchange import CallPolicy, DepartmentCaller, WorkPolicy
from govsvc.plugins import PluginManager, Registry, load_plugins
from govsvc.policy import DefaultPolicy, Policy
from govsvc.principals import Principal
from govsvc.services import Session
from govsvc.services._ecert import CertificateListener, EcertRuntime
from govsvc.services._runtime import DEFAULT_ECERT_BASE, Runtime
from govsvc.store import calendar as calendar_store
from govsvc.store import migrate

__all__ = ["Platform", "create_engine"]

log = logging.getLogger("govsvc.platform")

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Platform:
    """The government services platform an integrator embeds (一网通办): open it once, then
    ``platform.session(principal)`` for every request."""

    def __init__(self, runtime: Runtime) -> None:
        """Use :meth:`open`."""
        self._runtime = runtime
        self.engine = runtime.engine

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str = "sqlite:///govsvc.db",
        *,
        provisional_calendar: bool = False,
        calendar: WorkCalendar | None = None,
        clock: Clock | None = None,
        thresholds: LightThresholds | None = None,
        supplement_workdays: int = 10,
        verify_workdays: int = 20,
        schema: str | None = None,
        migrate_schema: bool = True,
        echo: bool = False,
        plugins: Sequence[object] = (),
        load_entry_points: bool = True,
        publish_plugin_items: bool = False,
        call_policy: CallPolicy | None = None,
        authorities: Mapping[str, str] | None = None,
        calendar_region: str | None = None,
        policy: Policy | None = None,
        case_cache: int = 4096,
        work_policy: WorkPolicy | None = None,
        calendar_check_every: float = 5.0,
        checkpoint_keys: Mapping[str, bytes] | None = None,
        keys: KeyRing | str | os.PathLike[str] | None = None,
        ecert_base_url: str | None = None,
        certificate_types: CertificateTypes | str | os.PathLike[str] | None = None,
    ) -> Platform:
        """Open a platform on a database URL.

        ``sqlite:///path/to/file.db`` (embedded, WAL mode) or
        ``postgresql+psycopg://user@host/db``; ``schema`` puts every table in one PostgreSQL
        schema (created if missing). The schema is migrated to the newest revision unless
        ``migrate_schema=False``. Working-day years loaded earlier with
        ``govsvc calendar load`` are read from the database. With
        ``provisional_calendar=True`` dates in years without official data get provisional
        deadlines computed by rule (recomputed when the year is loaded) instead of
        :class:`CalendarDataMissing`.

        Plugins installed under the ``govsvc`` entry-point group are loaded (see
        ``GOVSVC_LOAD_PLUGINS``) unless ``load_entry_points=False``; ``plugins`` registers
        extra plugin objects. A malformed plugin raises :class:`PluginError` before anything
        is opened. The service items plugins provide are published only with
        ``publish_plugin_items=True`` (or ``govsvc items publish-plugins``): opening a
        platform never writes the catalogue by itself. ``authorities`` maps a profile
        attribute to the department code that is its source of truth, overriding what
        departments declare. ``calendar_region`` (e.g. ``"CN-65"``) applies that region's
        working-day overlay. ``policy`` replaces the authorization policy (by default
        :class:`DefaultPolicy`, or what a plugin's ``govsvc_policy`` hook returns).
        ``case_cache`` is how many recent cases a process keeps: a case named by id or
        tracking code whose stored version is unchanged is not parsed again (0: none).
        ``work_policy`` paces the workers' retries, polls and leases (:class:`WorkPolicy`).
        Years another process loads are picked up within ``calendar_check_every`` seconds.
        ``checkpoint_keys`` (key id → secret of at least 16 bytes, kept outside the database)
        key the chained logs' checkpoints: the first signs new ones, the others verify old
        ones (see ``supervision.checkpoint``).

        E-certificates (电子证照): ``keys`` is the departments' signing key ring, or the path
        of a key configuration file (``govsvc.ecert.load_key_config``: PEM or JWK files, never
        the database); plugins add keys with ``govsvc_signers``. ``ecert_base_url`` is where
        the host publishes certificates, key sets and status lists (``EcertUrls``);
        ``certificate_types`` replaces the packaged certificate catalogue (证照目录).
        """
        pm = load_plugins(plugins, entry_points=load_entry_points)
        registry = Registry.collect(pm)
        merged = registry.authorities(authorities)  # conflicts stop start-up here
        engine = create_engine(url, schema=schema, echo=echo)
        if migrate_schema:
            migrate.upgrade(engine, schema=schema)
        chosen = policy or _plugin_policy(pm) or DefaultPolicy()
        runtime: Runtime | None = None
        caller = DepartmentCaller(
            registry.departments, policy=call_policy, now=lambda: _now(runtime)
        )
        base = calendar or WorkCalendar.default(provisional=provisional_calendar)
        runtime = Runtime(
            engine,
            plugins=pm,
            registry=registry,
            calendar=base,
            clock=clock or _utcnow,
            policy=chosen,
            thresholds=thresholds or LightThresholds(),
            supplement_workdays=supplement_workdays,
            verify_workdays=verify_workdays,
            caller=caller,
            authorities=merged,
            case_cache=case_cache,
            work_policy=work_policy,
            checkpoint_keys=checkpoint_keys,
            ecert=EcertRuntime.build(
                keys=None if keys is None else keys if isinstance(keys, KeyRing) else str(keys),
                base_url=ecert_base_url or DEFAULT_ECERT_BASE,
                types=(
                    certificate_types
                    if certificate_types is None or isinstance(certificate_types, CertificateTypes)
                    else str(certificate_types)
                ),
                plugins=pm,
                clock=lambda: _now(runtime),
                names={code: d.name for code, d in registry.departments.items()},
                signers=registry.signers,
            ),
        )
        runtime.calendar_region = calendar_region
        platform = cls(runtime)
        base = _with_plugin_calendars(base, registry)
        regions = [base.region] + ([calendar_region] if calendar_region else [])
        runtime.watch_calendar(
            lambda conn: _with_stored_years(base, calendar_store.stored_years(conn, regions)),
            lambda conn: calendar_store.revision(conn, regions),
            every=calendar_check_every,
        )
        if publish_plugin_items:
            platform.publish_plugin_items()
        return platform

    def close(self) -> None:
        """Close adapters (their ``aclose()``), stop the department loop, release the database."""
        rt = self._runtime
        closers = [
            d.adapter.aclose
            for d in rt.departments.values()
            if inspect.iscoroutinefunction(getattr(d.adapter, "aclose", None))
        ]
        if closers and rt.loop.started:

            async def close_all() -> None:
                await asyncio.gather(*(c() for c in closers), return_exceptions=True)

            try:
                rt.loop.run(close_all(), timeout=10)
            except Exception:
                log.exception("closing department adapters failed")
        rt.loop.close()
        self.engine.dispose()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- sessions ------------------------------------------------------------------------------

    def session(self, principal: Principal, *, purpose: str = "") -> Session:
        """The platform as ``principal`` may use it; ``purpose`` is the default purpose of use
        (用证事由) of the session's reads of other parties' personal data."""
        return Session(self._runtime, principal, purpose=purpose)

    def system(self) -> Session:
        """A session for the platform's own background work (workers, recomputes)."""
        return Session(self._runtime, Principal.platform())

    def public(self) -> Session:
        """A session for an anonymous visitor: the published catalogue, progress lookup."""
        return Session(self._runtime, Principal.public())

    # --- what the platform holds ---------------------------------------------------------------

    def now(self) -> dt.datetime:
        """The platform clock (timezone-aware UTC)."""
        return self._runtime.now()

    def today(self) -> dt.date:
        """Today in China (UTC+8): deadlines are counted in local working days."""
        return local_date(self.now())

    @property
    def checkpoint_keys_configured(self) -> bool:
        """True when the platform holds a key for the logs' checkpoints."""
        return bool(self._runtime.checkpoint_keys)

    @property
    def calendar(self) -> WorkCalendar:
        """The working-day calendar in force (packaged data plus years loaded by operators)."""
        return self._runtime.calendar

    @property
    def calendar_region(self) -> str | None:
        """The region whose working-day overlay applies (e.g. ``"CN-65"``), if any."""
        return self._runtime.calendar_region

    @property
    def departments(self) -> Mapping[str, Department]:
        """The departments plugged in, by credit code."""
        return self._runtime.departments

    @property
    def registry(self) -> Registry:
        """What the plugins registered (departments, items, providers, calendars, listeners)."""
        return self._runtime.registry

    @property
    def plugins(self) -> PluginManager:
        return self._runtime.plugins

    @property
    def policy(self) -> Policy:
        """The authorization policy every session asks."""
        return self._runtime.policy

    @property
    def certificate_keys(self) -> KeyRing:
        """The departments' e-certificate signing keys (public parts: ``jwks()``)."""
        return self._runtime.ecert.keys

    @property
    def certificate_types(self) -> CertificateTypes:
        """The certificate catalogue (证照目录) in force: face fields, labels, validity."""
        return self._runtime.ecert.types

    @property
    def certificate_urls(self) -> EcertUrls:
        """Where certificates, key sets and status lists are published (``ecert_base_url``)."""
        return self._runtime.ecert.urls

    def subscribe_certificates(
        self, handle: Callable[[Any, Any], None], *, name: str = ""
    ) -> CertificateListener:
        """Call ``handle(event, certificate)`` after every committed certificate event
        (issued, suspended, …, ``reminded`` 30 days before the end)."""
        listener = CertificateListener(
            name=name or getattr(handle, "__qualname__", "listener"), handle=handle
        )
        self._runtime.ecert.listeners.append(listener)
        return listener

    @property
    def caller(self) -> DepartmentCaller:
        """Calls to departments: timeouts, retries, circuits (``caller.circuits``)."""
        return self._runtime.caller

    def subscribe(
        self, kinds: Iterable[EventKind] | EventKind, handle: Handler, *, name: str = ""
    ) -> EventListener:
        """Call ``handle(event, case)`` after every committed event of ``kinds`` (all kinds
        when empty). Returns the listener (pass it to :meth:`unsubscribe`)."""
        listener = EventListener(
            name=name or getattr(handle, "__qualname__", "listener"), handle=handle, kinds=kinds
        )
        self._runtime.listeners.append(listener)
        return listener

    def unsubscribe(self, listener: EventListener) -> None:
        self._runtime.listeners.remove(listener)

    def publish_plugin_items(self) -> list[ItemVersion]:
        """Publish the service items the plugins provide (newer versions only, in one
        transaction); returns the versions published. An explicit step: opening a platform
        never writes the catalogue by itself."""
        bundles = [(b.item, b.versions) for b in self._runtime.registry.items]
        return self.system().catalogue.import_items(bundles) if bundles else []

    def run_worker(
        self, *, stop: threading.Event, interval: float = 2.0, housekeeping: float = 60.0
    ) -> None:
        """The background loop a host runs on SQLite: deliver review work, poll for decisions,
        fetch approved cases' results, retry certificates not issued with them; every
        ``housekeeping`` seconds also recompute the provisional deadlines loaded calendar years
        now decide (``calendar.refresh``), with checkpoint keys checkpoint the chained logs
        (``supervision.checkpoint``), and once a day store the warning lights
        (``supervision.sweep_lights``) and sweep certificates' expiry
        (``certificates.sweep_expiry``).

        Returns when ``stop`` is set. Errors of one pass are logged; the loop goes on.
        """
        system = self.system()
        departments = system.departments
        next_housekeeping = 0.0
        swept: dt.date | None = None
        while not stop.is_set():
            try:
                departments.deliver()
                departments.poll()
                departments.fetch_results()
                system.certificates.issue_pending()
                if time.monotonic() >= next_housekeeping:
                    next_housekeeping = time.monotonic() + housekeeping
                    system.calendar.refresh()
                    if self._runtime.checkpoint_keys:
                        system.supervision.checkpoint()
                    if swept != self.today():  # lights and expiry change by the day
                        swept = system.supervision.sweep_lights().on
                        system.certificates.sweep_expiry()
            except Exception:
                log.exception("worker pass failed; retrying in %ss", interval)
            stop.wait(interval)


def _now(runtime: Runtime | None) -> dt.datetime:
    assert runtime is not None, "the department caller runs only after the platform opened"
    return runtime.now()


def _plugin_policy(pm: PluginManager) -> Policy | None:
    found = pm.hook.govsvc_policy(default=DefaultPolicy())
    if found is None:
        return None
    if not callable(getattr(found, "allowed", None)):
        raise PluginError(
            f"govsvc_policy returned {type(found).__name__}, which has no allowed(principal, "
            "action, resource) method"
        )
    return found  # type: ignore[no-any-return]


def _with_stored_years(
    base: WorkCalendar, stored: Sequence[tuple[str, CalendarData]]
) -> WorkCalendar:
    """The calendar plus national years and (for the platform's region) overlays loaded by
    operators into the database."""
    result = base
    for region, data in stored:
        result = result.with_data(data) if region == base.region else result.with_overlay(data)
    return result


def _with_plugin_calendars(base: WorkCalendar, registry: Registry) -> WorkCalendar:
    result = base
    for data in registry.calendars:
        if data.overlay_of is not None:
            if data.region == result.region or data.overlay_of == result.region:
                result = result.with_overlay(data)
        elif data.region == result.region:
            result = result.with_data(data)
    return result


def create_engine(url: str, *, schema: str | None = None, echo: bool = False) -> sa.Engine:
    """An engine configured for govsvc: WAL and immediate write transactions on SQLite,
    an optional schema on PostgreSQL, JSON stored with Chinese text unescaped."""
    dumps = functools.partial(json.dumps, ensure_ascii=False, separators=(",", ":"))
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url,
            echo=echo,
            json_serializer=dumps,
            connect_args={"check_same_thread": False, "timeout": 30},
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {}
        if schema:
            if not schema.isidentifier():
                raise InvalidInput(f"schema name {schema!r} must be a plain identifier")
            connect_args["options"] = f"-csearch_path={schema}"
        engine = sa.create_engine(url, echo=echo, json_serializer=dumps, connect_args=connect_args)
        _configure_postgres(engine)
        if schema:
            with engine.begin() as conn:
                # IF NOT EXISTS is not safe against a concurrent CREATE (UniqueViolation on
                # pg_namespace): processes starting together take the migration lock first.
                conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({migrate.MIGRATION_LOCK})"))
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        return engine
    raise InvalidInput(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: use "
        "sqlite:///path.db or postgresql+psycopg://user@host/db"
    )


def _configure_postgres(engine: sa.Engine) -> None:
    # The services check text arguments and the domain checks what it stores, naming the
    # field; this is the net under them: a NUL that still reaches PostgreSQL (which cannot
    # store or even compare it) becomes the InvalidInput every other bad text gives, not a
    # driver error and a 500.
    @sa.event.listens_for(engine, "handle_error")
    def _nul(context: sa.engine.ExceptionContext) -> None:
        if "cannot contain NUL" in str(context.original_exception):
            raise InvalidInput(
                "text with a NUL character (U+0000) cannot be stored or searched; remove it "
                "(it usually comes from a binary file or a C string read as text)"
            ) from context.original_exception


def _configure_sqlite(engine: sa.Engine) -> None:
    # pysqlite's own transaction handling starts transactions lazily and never as IMMEDIATE:
    # two writers that both read first then deadlock on upgrade (SQLITE_BUSY without waiting).
    # Taking over BEGIN makes writers queue on the lock and see each other's commits.
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("govsvc_write", False)
        # Straight to the driver: this runs once per transaction on the hot path.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")  # type: ignore[union-attr]
