"""The Platform: the one object an integrator holds.

``Platform.open(url)`` connects to SQLite (embedded default) or PostgreSQL, brings the schema
up to date with alembic, and offers the catalogue, identities, the case commands and the
queries. Every command is one database transaction writing the case, its event and its
outbox rows together; a command that raises leaves the database exactly as it was.

The API is synchronous and thread-safe: each call takes a connection from the engine's pool
for the length of one transaction, so a Django view, a hall queueing system or a plain script
can share one Platform across threads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import inspect
import json
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa

from govsvc import _converter
from govsvc.adapters import (
    CertificateRecord,
    Department,
    Finding,
    IssuedResult,
    PrereviewRequest,
    ReviewOutcome,
    ReviewRequest,
    ReviewTicket,
)
from govsvc.calendar import CalendarData, WorkCalendar
from govsvc.cases import (
    Case,
    CaseDeadline,
    CaseEvent,
    CaseResult,
    CaseState,
    ProvidedMaterial,
    ReviewTask,
    Step,
    SuspensionReason,
    TaskStatus,
    TrackingCode,
    local_date,
)
from govsvc.catalogue import Channel, ItemVersion, ServiceItem, publish
from govsvc.deadlines import Light, LightThresholds, due_date, light, suspended_workdays
from govsvc.errors import (
    AdapterError,
    AdapterProtocolError,
    CaseNotFound,
    ConcurrentUpdate,
    GovsvcError,
    InvalidInput,
    InvalidTransition,
    UnknownItem,
)
from govsvc.exchange import (
    CallPolicy,
    ChainReport,
    DepartmentCaller,
    ExchangeRecord,
    LoopThread,
    append_records,
    verify_chain,
)
from govsvc.identity import Organisation, Party, PartyKey, Person
from govsvc.plugins import PluginManager, Registry, load_plugins
from govsvc.profile import Profile, merge_profiles
from govsvc.store import migrate, repository
from govsvc.store.fast import FastStatement
from govsvc.store.tables import ExchangeLogRow, case_from_data

__all__ = [
    "CaseLights",
    "CaseSummary",
    "DeliveryReport",
    "HolderCertificates",
    "OutboxEntry",
    "Platform",
    "PollReport",
    "TaskView",
]

log = logging.getLogger("govsvc.platform")
T = TypeVar("T")

Clock = Callable[[], dt.datetime]
CaseRef = Case | str
_DEFAULT_THRESHOLDS = LightThresholds()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class CaseSummary:
    """A case as lists show it: the applicant's number is masked (personal data)."""

    id: str
    tracking_code: str
    item_code: str
    item_version: int
    applicant_name: str
    applicant_masked: str
    state: CaseState
    submitted_at: dt.datetime | None
    due_promised: dt.date | None
    suspended: bool

    @classmethod
    def of(cls, case: Case) -> CaseSummary:
        return cls(
            id=case.id,
            tracking_code=case.tracking_code,
            item_code=case.item_code,
            item_version=case.item_version,
            applicant_name=case.applicant_name,
            applicant_masked=case.applicant.masked(),
            state=case.state,
            submitted_at=case.submitted_at,
            due_promised=case.deadline.promised if case.deadline else None,
            suspended=case.is_suspended,
        )


@attrs.frozen(kw_only=True)
class TaskView:
    """A review task in a department's queue, with just enough of its case."""

    task: ReviewTask
    case: CaseSummary
    light: Light | None
    legacy_id: str | None = None  # the task's id in the department's own system, once delivered


@attrs.frozen(kw_only=True)
class CaseLights:
    """Warning lights (红黄绿灯) for a case and each of its open tasks; None before acceptance."""

    case: Light | None
    tasks: Mapping[str, Light]
    workdays_left: int | None
    suspended: bool


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """An outbox message waiting for delivery."""

    id: str
    case_id: str
    topic: str
    payload: Mapping[str, Any]
    created_at: dt.datetime
    attempts: int
    last_error: str | None

    @classmethod
    def of(cls, row: Any) -> OutboxEntry:
        created = row.created_at
        return cls(
            id=row.id,
            case_id=row.case_id,
            topic=row.topic,
            payload=row.payload,
            created_at=created if created.tzinfo else created.replace(tzinfo=dt.UTC),
            attempts=row.attempts,
            last_error=row.last_error,
        )


@attrs.frozen(kw_only=True)
class HolderCertificates:
    """Certificates departments issued to a holder; ``unavailable`` names departments down."""

    key: PartyKey
    records: tuple[CertificateRecord, ...]
    unavailable: Mapping[str, str]


@attrs.frozen(kw_only=True)
class DeliveryReport:
    """What one outbox pass did: review tasks delivered, left for retry, handled manually."""

    delivered: int = 0
    retrying: int = 0
    manual: int = 0
    errors: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class PollReport:
    """What one polling pass found: decisions recorded, tasks still pending, failures."""

    decided: int = 0
    pending: int = 0
    issued: int = 0
    errors: tuple[str, ...] = ()


class Platform:
    """The government services platform an integrator embeds (一网通办)."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        calendar: WorkCalendar,
        clock: Clock = _utcnow,
        thresholds: LightThresholds = _DEFAULT_THRESHOLDS,
        supplement_workdays: int = 10,
        verify_workdays: int = 20,
        plugin_manager: PluginManager | None = None,
        call_policy: CallPolicy | None = None,
        authorities: Mapping[str, str] | None = None,
    ) -> None:
        """Use :meth:`open`; this constructor takes a ready engine whose schema is current."""
        self.engine = engine
        self.plugins = plugin_manager or load_plugins(entry_points=False)
        self.registry = Registry.collect(self.plugins)
        self._event_listeners = self.plugins.hook.govsvc_case_event.get_hookimpls()
        self.caller = DepartmentCaller(
            self.registry.departments, policy=call_policy, now=lambda: self.now()
        )
        self.authorities = {
            attribute: d.code
            for d in self.registry.departments.values()
            for attribute in d.authoritative_for
        }
        self.authorities.update(authorities or {})
        self._loop = LoopThread()
        self._issued: weakref.WeakValueDictionary[str, Case] = weakref.WeakValueDictionary()
        self._parties_written: dict[tuple[str, str], Any] = {}
        self.calendar_region: str | None = None
        self._base_calendar = calendar
        self._calendar = calendar
        self._clock = clock
        self.thresholds = thresholds
        self.supplement_workdays = supplement_workdays
        self.verify_workdays = verify_workdays
        self._versions: dict[tuple[str, int], ItemVersion] = {}
        self._lock = threading.Lock()

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
        call_policy: CallPolicy | None = None,
        authorities: Mapping[str, str] | None = None,
        calendar_region: str | None = None,
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
        extra plugin objects (modules or instances with ``govsvc_*`` hooks). A malformed
        plugin raises :class:`PluginError` before anything is opened. ``authorities`` maps a
        profile attribute to the department code that is its source of truth, overriding
        what departments declare. ``calendar_region`` (e.g. ``"CN-65"``) applies that
        region's working-day overlay loaded with ``govsvc calendar load``.
        """
        pm = load_plugins(plugins, entry_points=load_entry_points)
        engine = create_engine(url, schema=schema, echo=echo)
        if migrate_schema:
            migrate.upgrade(engine, schema=schema)
        base = calendar or WorkCalendar.default(provisional=provisional_calendar)
        platform = cls(
            engine,
            calendar=base,
            clock=clock or _utcnow,
            thresholds=thresholds or LightThresholds(),
            supplement_workdays=supplement_workdays,
            verify_workdays=verify_workdays,
            plugin_manager=pm,
            call_policy=call_policy,
            authorities=authorities,
        )
        platform.calendar_region = calendar_region
        platform._base_calendar = platform._with_plugin_calendars(base)
        platform._calendar = platform._with_stored_years(platform._base_calendar)
        platform._publish_plugin_items()
        return platform

    def close(self) -> None:
        """Close adapters (their ``aclose()``), stop the department loop, release the database."""
        closers = [
            d.adapter.aclose
            for d in self.departments.values()
            if inspect.iscoroutinefunction(getattr(d.adapter, "aclose", None))
        ]
        if closers and self._loop.started:

            async def close_all() -> None:
                await asyncio.gather(*(c() for c in closers), return_exceptions=True)

            try:
                self._loop.run(close_all(), timeout=10)
            except Exception:
                log.exception("closing department adapters failed")
        self._loop.close()
        self.engine.dispose()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> dt.datetime:
        """The platform clock (timezone-aware)."""
        moment = self._clock()
        if moment.tzinfo is None:
            raise InvalidInput("the platform clock returned a naive datetime; return aware UTC")
        # Stored in UTC: SQLite keeps no offset, so a local time would read back shifted.
        return moment.astimezone(dt.UTC)

    def today(self) -> dt.date:
        """Today in China (UTC+8): deadlines are counted in local working days."""
        return local_date(self.now())

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self.engine.connect().execution_options(govsvc_write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # --- calendar --------------------------------------------------------------------------

    @property
    def calendar(self) -> WorkCalendar:
        """The working-day calendar in force (packaged data plus years loaded by operators)."""
        return self._calendar

    def _with_stored_years(self, base: WorkCalendar) -> WorkCalendar:
        """The calendar plus national years and (for ``calendar_region``) overlays loaded
        by operators into the database."""
        t = repository.calendar_t
        regions = [base.region] + ([self.calendar_region] if self.calendar_region else [])
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.c.region, t.c.data).where(t.c.region.in_(regions)).order_by(t.c.year)
            ).all()
        result = base
        for region, data in rows:
            stored = CalendarData.from_dict(data, source="database")
            result = (
                result.with_data(stored) if region == base.region else result.with_overlay(stored)
            )
        return result

    def load_calendar(self, source: str | Path | CalendarData) -> list[int]:
        """Load working-day data for new years, or a regional overlay (a calendar file).

        National years (the State Council's arrangement) and regional overlays (e.g. CN-65
        for Xinjiang's ethnic holidays, ``"overlay_of": "CN"``) are stored in the database,
        shared by every process of the platform. A platform opened with
        ``calendar_region`` equal to the overlay's region applies it at once. In the same
        transaction the provisional deadlines of open cases are recomputed on the new data,
        each with a ``deadline_recomputed`` event. Returns the years loaded.
        """
        data = source if isinstance(source, CalendarData) else WorkCalendar.load_file(source)
        national = self._calendar.national.region
        if data.overlay_of is None:
            calendar = self._calendar.with_data(data)  # refuses a foreign region
        elif data.overlay_of != national:
            raise InvalidInput(
                f"{data.region} overlays {data.overlay_of}, but this platform's calendar is "
                f"{national}; load the {data.overlay_of} calendar first"
            )
        elif data.region == self.calendar_region:
            calendar = self._calendar.with_overlay(data)  # merged with what it carries
        else:
            calendar = self._calendar  # stored for the platforms of that region
        now = self.now()
        t = repository.calendar_t
        with self._write() as conn:
            for year in sorted(data.years):
                whole = data.to_dict()
                whole["years"] = {str(year): whole["years"][str(year)]}
                conn.execute(sa.delete(t).where(t.c.region == data.region, t.c.year == year))
                conn.execute(
                    sa.insert(t).values(
                        region=data.region,
                        year=year,
                        source=data.source[:500],
                        loaded_at=now,
                        data=whole,
                    )
                )
            rescheduled = self._recompute_provisional(conn, calendar, now)
        with self._lock:
            self._calendar = calendar
        for case in rescheduled:
            self._remember(case)
        return sorted(data.years)

    def _recompute_provisional(
        self, conn: sa.Connection, calendar: WorkCalendar, now: dt.datetime
    ) -> list[Case]:
        cases_t = repository.cases_t
        rows = conn.execute(
            sa.select(cases_t.c.data).where(
                cases_t.c.due_provisional.is_(True), cases_t.c.state == CaseState.IN_REVIEW.value
            )
        ).scalars().all()
        rescheduled = []
        for data in rows:
            case = case_from_data(data)
            version = self._version_in(conn, case.item_code, case.item_version)
            step = case.reschedule(
                self._deadline(case, version, calendar=calendar), now=now, actor="calendar"
            )
            repository.save_step(conn, step, previous=case, now=now)
            rescheduled.append(step.case)
        return rescheduled

    # --- catalogue -------------------------------------------------------------------------

    def publish(self, item: ServiceItem, version: ItemVersion) -> ItemVersion:
        """Publish a new version of a service item (事项).

        The version is checked against the consistency rules and numbered after the ones
        already published; :class:`CatalogueRejected` lists every violation. Published
        versions never change: cases pin the version they started on.
        """
        code = item.implementation_code
        now = self.now()
        with self._write() as conn:
            published = [
                self._version_in(conn, code, n)
                for n in conn.execute(
                    sa.select(repository.versions_t.c.version).where(
                        repository.versions_t.c.item_code == code
                    )
                ).scalars().all()
            ]
            publish(item, version, published=published)
            item_values = {
                "catalogue_code": item.catalogue_code,
                "agency": item.agency.credit_code,
                "name": item.name,
                "item_type": item.item_type.value,
                "data": _converter.unstructure(item),
            }
            updated = conn.execute(
                sa.update(repository.items_t)
                .where(repository.items_t.c.implementation_code == code)
                .values(**item_values)
            ).rowcount
            if not updated:
                conn.execute(
                    sa.insert(repository.items_t).values(implementation_code=code, **item_values)
                )
            conn.execute(
                sa.insert(repository.versions_t).values(
                    item_code=code,
                    version=version.version,
                    name=version.name,
                    published_at=now,
                    data=_converter.unstructure(version),
                )
            )
        self._versions[(code, version.version)] = version
        return version

    def import_items(self, entries: Iterable[tuple[ServiceItem, Sequence[ItemVersion]]]) -> int:
        """Publish the versions of each item that are newer than its newest published one.

        Safe to repeat (an import file, a plugin's items at every start): versions already
        out are skipped, new ones are checked and published in order. Returns how many were
        published.
        """
        count = 0
        for item, versions in entries:
            try:
                known = self.item_version(item.implementation_code).version
            except UnknownItem:
                known = 0
            for version in versions:
                if version.version > known:
                    self.publish(item, version)
                    count += 1
        return count

    def item(self, code: str) -> ServiceItem:
        """The service item with this implementation code (实施编码)."""
        with self._read() as conn:
            data = conn.execute(
                sa.select(repository.items_t.c.data).where(
                    repository.items_t.c.implementation_code == code
                )
            ).scalar_one_or_none()
        if data is None:
            raise UnknownItem(
                f"no service item with implementation code {code!r}; list them with "
                "Platform.items() or publish it first"
            )
        return _converter.structure(data, ServiceItem, what="stored service item")

    def items(self) -> list[ServiceItem]:
        """Every published service item, by name."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(repository.items_t.c.data).order_by(
                    repository.items_t.c.name, repository.items_t.c.implementation_code
                )
            ).scalars()
            return [_converter.structure(d, ServiceItem, what="stored service item") for d in rows]

    def item_versions(self, code: str) -> list[ItemVersion]:
        """Every published version of an item, oldest first (what an export carries)."""
        t = repository.versions_t
        with self._read() as conn:
            numbers = conn.execute(
                sa.select(t.c.version).where(t.c.item_code == code).order_by(t.c.version)
            ).scalars().all()
            versions = [self._version_in(conn, code, n) for n in numbers]
        if not versions:
            self.item(code)  # UnknownItem with the listing hint
        return versions

    def item_version(self, code: str, version: int | None = None) -> ItemVersion:
        """A published version of an item; the newest when ``version`` is None."""
        with self._read() as conn:
            if version is None:
                version = conn.execute(
                    sa.select(sa.func.max(repository.versions_t.c.version)).where(
                        repository.versions_t.c.item_code == code
                    )
                ).scalar_one_or_none()
                if version is None:
                    self.item(code)  # raises UnknownItem with the listing hint
                    raise UnknownItem(f"service item {code} has no published version yet")
            return self._version_in(conn, code, version)

    def _version_in(self, conn: sa.Connection, code: str, number: int) -> ItemVersion:
        key = (code, number)
        cached = self._versions.get(key)
        if cached is not None:
            return cached
        data = conn.execute(
            sa.select(repository.versions_t.c.data).where(
                repository.versions_t.c.item_code == code,
                repository.versions_t.c.version == number,
            )
        ).scalar_one_or_none()
        if data is None:
            raise UnknownItem(
                f"service item {code!r} has no published version {number}; "
                "check the implementation code (实施编码) or publish the item first"
            )
        found = _converter.structure(data, ItemVersion, what="stored item version")
        self._versions[key] = found  # versions are immutable: safe to share between threads
        return found

    # --- identities ------------------------------------------------------------------------

    def register_party(self, party: Party) -> Party:
        """Store or update a person or organisation, keyed by document type + number (一号)."""
        values = self._party_values(party)
        with self._write() as conn:
            repository.upsert_party(conn, values)
        self._parties_written[(values["doc_type"], values["number"])] = values["data"]
        return party

    def _party_values(self, party: Party) -> dict[str, Any]:
        return {
            "doc_type": party.key.doc_type.value,
            "number": party.key.number,
            "name": party.name,
            "is_organisation": isinstance(party, Organisation),
            "updated_at": self.now(),
            "data": {"kind": type(party).__name__, **_converter.unstructure(party)},
        }

    def party(self, number: str | PartyKey) -> Party | None:
        """The registered person or organisation with this number, or None."""
        key = number if isinstance(number, PartyKey) else PartyKey.of(number)
        with self._read() as conn:
            data = conn.execute(
                sa.select(repository.parties_t.c.data).where(
                    repository.parties_t.c.doc_type == key.doc_type.value,
                    repository.parties_t.c.number == key.number,
                )
            ).scalar_one_or_none()
        if data is None:
            return None
        data = dict(data)
        kind = data.pop("kind")
        cls: type[Party] = Organisation if kind == "Organisation" else Person
        return _converter.structure(data, cls, what="stored party")

    # --- commands --------------------------------------------------------------------------

    def new_application(
        self,
        item_code: str,
        applicant: Party,
        *,
        materials: Sequence[ProvidedMaterial] = (),
        form: Mapping[str, Any] | None = None,
        channel: Channel = Channel.PC,
        actor: str = "applicant",
    ) -> Case:
        """Start a draft application (草稿) on the newest published version of an item."""
        return self._start(item_code, applicant, materials, form, channel, actor, submit=False)

    def apply(
        self,
        item_code: str,
        applicant: Party,
        *,
        materials: Sequence[ProvidedMaterial] = (),
        form: Mapping[str, Any] | None = None,
        channel: Channel = Channel.PC,
        actor: str = "applicant",
    ) -> Case:
        """Create and submit an application in one transaction; returns the submitted case.

        The case pins the newest published version of the item and gets its tracking code
        (全程一码). Materials the version does not list raise :class:`MaterialNotAllowed`.
        """
        return self._start(item_code, applicant, materials, form, channel, actor, submit=True)

    def _start(
        self,
        item_code: str,
        applicant: Party,
        materials: Sequence[ProvidedMaterial],
        form: Mapping[str, Any] | None,
        channel: Channel,
        actor: str,
        *,
        submit: bool,
    ) -> Case:
        if not isinstance(applicant, Person | Organisation):
            raise InvalidInput(
                "the applicant must be a govsvc.Person or govsvc.Organisation; look a number "
                "up with Platform.party(number)"
            )
        now = self.now()
        party_values = self._party_values(applicant)
        with self._write() as conn:
            # The newest version is looked up inside the write transaction: a version
            # published a moment ago by another process is the one this case pins.
            version = self._latest_in(conn, item_code)
            step = Case.start(
                version=version,
                applicant=applicant.key,
                applicant_name=applicant.name,
                channel=Channel(channel).value,
                materials=materials,
                form=form,
                now=now,
                actor=actor,
            )
            steps = [step]
            if submit:
                steps.append(step.case.submit(now=now, actor=actor))
            self._upsert_party(conn, party_values)
            repository.save_new(conn, steps, now=now)
        self._remember(steps[-1].case)
        for s in steps:
            self._broadcast(s)
        return steps[-1].case

    def _latest_in(self, conn: sa.Connection, code: str) -> ItemVersion:
        row = _LATEST_VERSION.first(conn, {"code": code})
        latest = row[0] if row else None
        if latest is None:
            raise UnknownItem(
                f"no published service item with implementation code {code!r}; list them "
                "with Platform.items() or publish it first"
            )
        return self._version_in(conn, code, latest)

    def _upsert_party(self, conn: sa.Connection, values: dict[str, Any]) -> None:
        # A hall registers the same applicants all day: skip writes that change nothing
        # this process has not already written.
        key = (values["doc_type"], values["number"])
        if self._parties_written.get(key) == values["data"]:
            return
        repository.upsert_party(conn, values)
        self._parties_written[key] = values["data"]

    def _remember(self, case: Case) -> None:
        """Keep the case object just stored: if the caller hands it back unchanged, the
        next command skips reloading it (the version check in the UPDATE still guards
        against anyone else having changed it meanwhile)."""
        self._issued[case.id] = case

    def _command(
        self,
        ref: CaseRef,
        action: Callable[[Case, ItemVersion, dt.datetime], Step],
        *,
        reschedule: bool = False,
    ) -> Case:
        """Load, apply one domain transition and store it, in one transaction.

        Passing the :class:`Case` object a previous command returned means "I decided on
        this version": if anyone changed the case since, :class:`ConcurrentUpdate` is
        raised. Passing an id or tracking code works on the stored case as it is now.
        """
        expected = ref.version if isinstance(ref, Case) else None
        now = self.now()
        with self._write() as conn:
            if isinstance(ref, Case) and self._issued.get(ref.id) is ref:
                case = ref  # the object this platform stored last: no reload needed
            else:
                case = self._load(conn, ref)
                if expected is not None and case.version != expected:
                    raise ConcurrentUpdate(
                        f"case {case.tracking_code} changed since you loaded it (your copy is "
                        f"version {expected}, the stored one {case.version}); reload it and "
                        "decide again"
                    )
            version = self._version_in(conn, case.item_code, case.item_version)
            step = action(case, version, now)
            if reschedule and step.case.accepted_at is not None:
                step = Step(
                    step.case.with_deadline(self._deadline(step.case, version)),
                    step.event,
                    step.outbox,
                )
            repository.save_step(conn, step, previous=case, now=now)
        self._remember(step.case)
        self._broadcast(step)
        return step.case

    def _broadcast(self, step: Step) -> None:
        """Tell ``govsvc_case_event`` listeners, after commit; a failing listener is logged."""
        for impl in self._event_listeners:
            self.plugins.trace_call(
                "govsvc_case_event", impl.plugin_name, f"{step.event.kind} of {step.case.id}"
            )
            try:
                impl.function(event=step.event, case=step.case)
            except Exception:
                log.exception(
                    "case event listener %s failed on %s of case %s",
                    impl.plugin_name,
                    step.event.kind,
                    step.case.tracking_code,
                )

    def update_draft(
        self,
        case: CaseRef,
        *,
        materials: Sequence[ProvidedMaterial] | None = None,
        form: Mapping[str, Any] | None = None,
        actor: str = "applicant",
    ) -> Case:
        """Change the materials or form of a draft."""
        return self._command(
            case,
            lambda c, v, now: c.update_draft(
                v, materials=materials, form=form, now=now, actor=actor
            ),
        )

    def submit(self, case: CaseRef, *, actor: str = "applicant") -> Case:
        """Submit a draft."""
        return self._command(case, lambda c, v, now: c.submit(now=now, actor=actor))

    def prereview(
        self,
        case: CaseRef,
        *,
        defects: Mapping[str, str] | None = None,
        automated: bool = True,
        actor: str = "clerk",
    ) -> Case:
        """Check the materials; the one-time notice (一次性告知) lists everything wrong at once.

        ``defects`` maps material codes to what the clerk found wrong with them. With
        ``automated`` (the default) the implementing department's automated checks run first
        (if its adapter offers ``prereview``) and their findings join the notice; a clerk's
        own finding for the same material wins. A department that is down changes nothing:
        the clerk's check stands alone and the failure is in the exchange log.
        """
        found: dict[str, str] = {}
        if automated:
            current = self.case(case)
            version = self.item_version(current.item_code, current.item_version)
            known = {m.code for m in version.materials}
            provided = {m.code for m in current.materials}
            for finding in self.automated_prereview(current):
                if finding.material in known & provided:
                    found.setdefault(finding.material, f"{finding.problem}（自动核验）")
                else:
                    log.warning(
                        "automated pre-review of %s named material %r, which the case does "
                        "not have; ignored",
                        current.tracking_code,
                        finding.material,
                    )
        found.update(defects or {})
        return self._command(
            case, lambda c, v, now: c.prereview(v, defects=found, now=now, actor=actor)
        )

    def resubmit(
        self, case: CaseRef, materials: Sequence[ProvidedMaterial], *, actor: str = "applicant"
    ) -> Case:
        """Supply corrected or missing materials after a one-time notice (补正)."""
        return self._command(case, lambda c, v, now: c.resubmit(v, materials, now=now, actor=actor))

    def accept(
        self,
        case: CaseRef,
        *,
        tolerate: bool = False,
        defects: Mapping[str, str] | None = None,
        actor: str = "clerk",
    ) -> Case:
        """Accept (受理) and open the first review stage; due dates start counting.

        With ``tolerate=True`` (容缺受理) missing 容缺后补 materials get a supplement deadline
        of ``supplement_workdays`` working days; commitments (告知承诺) get a verification
        task due in ``verify_workdays`` working days.
        """

        def action(c: Case, v: ItemVersion, now: dt.datetime) -> Step:
            today = local_date(now)
            return c.accept(
                v,
                tolerate=tolerate,
                supplement_due=self._calendar.add_workdays(today, self.supplement_workdays),
                verify_due=self._calendar.add_workdays(today, self.verify_workdays),
                defects=defects,
                now=now,
                actor=actor,
            )

        return self._command(case, action, reschedule=True)

    def refuse(self, case: CaseRef, *, reason: str, basis: str, actor: str = "clerk") -> Case:
        """Do not accept (不予受理), stating the reason and the legal basis."""
        return self._command(
            case, lambda c, v, now: c.refuse(reason=reason, basis=basis, now=now, actor=actor)
        )

    def decide(
        self,
        case: CaseRef,
        task_id: str,
        *,
        approve: bool,
        reason: str = "",
        basis: str = "",
        remedies: str = "",
        actor: str = "reviewer",
        department: str | None = None,
    ) -> Case:
        """Record a department's decision on its review task (审查意见).

        A denial needs a reason, its legal basis and the remedies open to the applicant.
        A back office passes the reviewer's ``department`` (credit code): a department can
        decide only its own tasks, anything else raises :class:`InvalidTransition` and
        changes nothing.
        """

        def action(c: Case, v: ItemVersion, now: dt.datetime) -> Step:
            if department is not None and c.task(task_id).department != department:
                raise InvalidTransition(
                    f"assigned to department {c.task(task_id).department}",
                    f"decide as {department}",
                    [],
                )
            return c.decide(
                v,
                task_id,
                approve=approve,
                reason=reason,
                basis=basis,
                remedies=remedies,
                now=now,
                actor=actor,
            )

        return self._command(case, action)

    def suspend(
        self, case: CaseRef, reason: SuspensionReason, *, notice: str, actor: str = "reviewer"
    ) -> Case:
        """Stop the clock (挂起); ``notice`` is the written notice to the applicant."""
        return self._command(
            case,
            lambda c, v, now: c.suspend(
                SuspensionReason(reason),
                notice=notice,
                today=local_date(now),
                now=now,
                actor=actor,
            ),
            reschedule=True,
        )

    def resume(self, case: CaseRef, *, actor: str = "reviewer") -> Case:
        """Restart the clock; the due dates move by the working days suspended."""
        return self._command(
            case,
            lambda c, v, now: c.resume(today=local_date(now), now=now, actor=actor),
            reschedule=True,
        )

    def extend(
        self,
        case: CaseRef,
        workdays: int,
        *,
        approved_by: str,
        reason: str,
        actor: str = "reviewer",
    ) -> Case:
        """Extend the time limit by approved working days (延期)."""
        return self._command(
            case,
            lambda c, v, now: c.extend(
                workdays, approved_by=approved_by, reason=reason, now=now, actor=actor
            ),
            reschedule=True,
        )

    def supply(
        self, case: CaseRef, material: ProvidedMaterial, *, actor: str = "applicant"
    ) -> Case:
        """Supply a material tolerated at acceptance (容缺后补)."""
        return self._command(case, lambda c, v, now: c.supply(v, material, now=now, actor=actor))

    def verify_commitment(
        self,
        case: CaseRef,
        material_code: str,
        *,
        truthful: bool,
        note: str = "",
        actor: str = "inspector",
    ) -> Case:
        """Record the check of a commitment (告知承诺核查); a false one denies or revokes."""
        return self._command(
            case,
            lambda c, v, now: c.verify_commitment(
                material_code, truthful=truthful, note=note, now=now, actor=actor
            ),
        )

    def issue_result(self, case: CaseRef, result: CaseResult, *, actor: str = "clerk") -> Case:
        """Record the result (certificate number and face data) of an approved case."""
        return self._command(case, lambda c, v, now: c.issue_result(result, now=now, actor=actor))

    def complete(self, case: CaseRef, *, delivery: str, actor: str = "clerk") -> Case:
        """The result reached the applicant (办结): e.g. "窗口领取", "邮寄", "电子送达"."""
        return self._command(
            case, lambda c, v, now: c.complete(delivery=delivery, now=now, actor=actor)
        )

    def withdraw(self, case: CaseRef, *, reason: str = "", actor: str = "applicant") -> Case:
        """Withdraw an open case (撤回)."""
        return self._command(
            case, lambda c, v, now: c.withdraw(reason=reason, now=now, actor=actor)
        )

    # --- departments (adapters to legacy systems) -------------------------------------------

    @property
    def departments(self) -> Mapping[str, Department]:
        """The departments plugged in, by credit code."""
        return self.registry.departments

    def _with_plugin_calendars(self, base: WorkCalendar) -> WorkCalendar:
        result = base
        for data in self.registry.calendars:
            if data.overlay_of is not None:
                if data.region == result.region or data.overlay_of == result.region:
                    result = result.with_overlay(data)
            elif data.region == result.region:
                result = result.with_data(data)
        return result

    def _publish_plugin_items(self) -> None:
        self.import_items((bundle.item, bundle.versions) for bundle in self.registry.items)

    def _run(self, coro: Any) -> Any:
        """Run a coroutine on the department loop; the longest department timeout bounds it."""
        budget = max((d.timeout for d in self.departments.values()), default=5.0)
        attempts = self.caller.policy.attempts
        return self._loop.run(coro, timeout=budget * attempts + 30)

    def _log_exchanges(self, records: Sequence[ExchangeRecord]) -> None:
        if records:
            with self._write() as conn:
                append_records(conn, records)

    def identify(
        self,
        number: str | PartyKey,
        *,
        purpose: str,
        requester: str = "platform",
        case: CaseRef | None = None,
    ) -> Profile:
        """One-number profile (一数一源): ask every department that holds data, at once.

        The number is validated first (:class:`InvalidIdentifier` before any call). Each
        attribute carries its source department and time; where departments disagree, the
        attribute's authoritative department wins and the disagreement is reported. A
        department that is down or slow makes its attributes unavailable, never the call
        fail. Every call is recorded in the exchange log with ``purpose``.
        """
        key = number if isinstance(number, PartyKey) else PartyKey.of(number)
        _need(purpose=purpose)
        case_id = (
            None if case is None else case.id if isinstance(case, Case) else self.case(case).id
        )
        records: list[ExchangeRecord] = []
        departments = self.caller.offering("profile")

        async def ask(d: Department) -> tuple[dt.datetime, Mapping[str, Any] | None]:
            answer = await self.caller.call(
                d,
                "profile",
                key,
                requester=requester,
                on_behalf_of=str(key),
                purpose=purpose,
                case_id=case_id,
                check=_check_profile,
                records=records,
            )
            return self.now(), answer

        async def fan_out() -> list[Any]:
            return list(
                await asyncio.gather(*(ask(d) for d in departments), return_exceptions=True)
            )

        outcomes = self._run(fan_out()) if departments else []
        answers, failures = [], {}
        for d, outcome in zip(departments, outcomes, strict=True):
            if isinstance(outcome, AdapterError):
                failures[d.code] = str(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                answers.append((d.code, d.name, outcome[0], outcome[1]))
        self._log_exchanges(records)
        return merge_profiles(key, purpose, answers, failures, self.authorities)

    def certificates_of(
        self, number: str | PartyKey, *, purpose: str, requester: str = "platform"
    ) -> HolderCertificates:
        """Licences and certificates every department issued to a holder (用证, audited)."""
        key = number if isinstance(number, PartyKey) else PartyKey.of(number)
        _need(purpose=purpose)
        records: list[ExchangeRecord] = []
        departments = self.caller.offering("certificates")

        async def fan_out() -> list[Any]:
            return await asyncio.gather(
                *(
                    self.caller.call(
                        d,
                        "certificates",
                        key,
                        requester=requester,
                        on_behalf_of=str(key),
                        purpose=purpose,
                        check=_check_certificates,
                        records=records,
                    )
                    for d in departments
                ),
                return_exceptions=True,
            )

        outcomes = self._run(fan_out()) if departments else []
        found: list[CertificateRecord] = []
        failures: dict[str, str] = {}
        for d, outcome in zip(departments, outcomes, strict=True):
            if isinstance(outcome, AdapterError):
                failures[d.code] = str(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                found.extend(outcome)
        self._log_exchanges(records)
        return HolderCertificates(key=key, records=tuple(found), unavailable=failures)

    def automated_prereview(self, case: CaseRef, *, requester: str = "platform") -> list[Finding]:
        """Run the implementing department's automated checks (if it offers them).

        Returns the findings; an unavailable department returns none (the clerk checks by
        hand) and the failure is in the exchange log.
        """
        found = case if isinstance(case, Case) else self.case(case)
        department = self.departments.get(found.agency)
        if department is None or not department.offers("prereview"):
            return []
        request = PrereviewRequest(
            case_id=found.id,
            item_code=found.item_code,
            applicant=found.applicant,
            applicant_name=found.applicant_name,
            form=found.form,
            materials=tuple(m.code for m in found.materials),
        )
        records: list[ExchangeRecord] = []
        try:
            result: list[Finding] = self._run(
                self.caller.call(
                    department,
                    "prereview",
                    request,
                    requester=requester,
                    on_behalf_of=str(found.applicant),
                    purpose="受理预审",
                    case_id=found.id,
                    check=_check_findings,
                    records=records,
                )
            )
        except AdapterError as exc:
            log.warning("automated pre-review unavailable for %s: %s", found.tracking_code, exc)
            result = []
        self._log_exchanges(records)
        return result

    def deliver_outbox(self, *, limit: int = 100, requester: str = "outbox") -> DeliveryReport:
        """Deliver committed review work to the departments' legacy systems.

        ``review.open``: a task is committed with its case first (the outbox) and pushed
        here; a crash in between loses nothing, and the task id is the idempotency key, so a
        retry never creates a second task in the legacy system. ``review.cancel``: a task
        that was cancelled (denial elsewhere, withdrawal) is withdrawn from the legacy
        system if its adapter offers ``cancel_review``. Work for departments without an
        adapter for it stays in the platform's department queue (manual handling). Failed
        deliveries are retried later with exponential backoff.
        """
        outbox_t, tasks_t = repository.outbox_t, repository.tasks_t
        now = self.now()
        with self._write() as conn:
            rows = conn.execute(
                sa.select(outbox_t)
                .where(
                    outbox_t.c.topic.in_(["review.open", "review.cancel"]),
                    outbox_t.c.delivered_at.is_(None),
                    outbox_t.c.available_at <= now,
                )
                .order_by(outbox_t.c.created_at, outbox_t.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            case_ids = {r.case_id for r in rows}
            cases = {c: repository.load_case(conn, case_id=c) for c in case_ids}
            task_ids = [r.payload["task_id"] for r in rows]
            legacy_ids = dict(
                conn.execute(
                    sa.select(tasks_t.c.id, tasks_t.c.legacy_id).where(tasks_t.c.id.in_(task_ids))
                ).all()
            )
        done: list[tuple[Any, str]] = []  # (row, note) settled without a call
        work: list[tuple[Any, Department, Any]] = []  # (row, department, coroutine factory)
        for row in rows:
            task_id = row.payload["task_id"]
            department = self.departments.get(row.payload["department"])
            case = cases[row.case_id]
            if row.topic == "review.open":
                task = next((t for t in case.tasks if t.id == task_id), None) if case else None
                if case is None or task is None or task.status is not TaskStatus.OPEN:
                    done.append((row, "skipped: the task was closed before delivery"))
                elif department is None or not department.offers("open_review"):
                    done.append((row, "manual: handled in the department queue"))
                else:
                    work.append((row, department, self._open_call(case, row, requester)))
            else:
                legacy = legacy_ids.get(task_id)
                if legacy is None:
                    done.append((row, "skipped: the task never reached the legacy system"))
                elif department is None or not department.offers("cancel_review"):
                    done.append((row, "manual: tell the department the task was cancelled"))
                else:
                    ticket = ReviewTicket(task_id=task_id, legacy_id=legacy, case_id=row.case_id)
                    work.append((row, department, self._cancel_call(ticket, requester)))
        records: list[ExchangeRecord] = []

        async def fan_out() -> list[Any]:
            return list(
                await asyncio.gather(
                    *(factory(department, records) for _, department, factory in work),
                    return_exceptions=True,
                )
            )

        outcomes = self._run(fan_out()) if work else []
        errors: list[str] = []
        delivered = retrying = 0
        with self._write() as conn:
            append_records(conn, records)
            for row, note in done:
                conn.execute(
                    sa.update(outbox_t)
                    .where(outbox_t.c.id == row.id)
                    .values(delivered_at=now, last_error=note)
                )
            for (row, _department, _factory), outcome in zip(work, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    attempts = row.attempts + 1
                    retry_at = now + dt.timedelta(seconds=min(3600, 5 * 2**attempts))
                    conn.execute(
                        sa.update(outbox_t)
                        .where(outbox_t.c.id == row.id)
                        .values(
                            attempts=attempts, available_at=retry_at, last_error=str(outcome)[:2000]
                        )
                    )
                    errors.append(f"{row.topic} {row.payload['task_id']}: {outcome}")
                    retrying += 1
                    if not isinstance(outcome, AdapterError):
                        log.error("delivering %s failed", row.payload["task_id"], exc_info=outcome)
                    continue
                if row.topic == "review.open":
                    conn.execute(
                        sa.update(tasks_t)
                        .where(tasks_t.c.id == row.payload["task_id"])
                        .values(legacy_id=outcome)
                    )
                conn.execute(
                    sa.update(outbox_t)
                    .where(outbox_t.c.id == row.id)
                    .values(delivered_at=now, attempts=row.attempts + 1, last_error=None)
                )
                delivered += 1
        manual = sum(1 for _, note in done if note.startswith("manual"))
        return DeliveryReport(
            delivered=delivered, retrying=retrying, manual=manual, errors=tuple(errors)
        )

    def _open_call(
        self, case: Case, row: Any, requester: str
    ) -> Callable[[Department, list[ExchangeRecord]], Any]:
        request = ReviewRequest(
            task_id=row.payload["task_id"],
            case_id=case.id,
            tracking_code=case.tracking_code,
            item_code=case.item_code,
            stage=row.payload["stage"],
            applicant=case.applicant,
            applicant_name=case.applicant_name,
            form=case.form,
            materials=tuple(m.code for m in case.materials),
        )

        def call(department: Department, records: list[ExchangeRecord]) -> Any:
            return self.caller.call(
                department,
                "open_review",
                request,
                requester=requester,
                on_behalf_of=str(case.applicant),
                purpose="推送审查任务",
                case_id=case.id,
                check=_check_legacy_id,
                records=records,
            )

        return call

    def _cancel_call(
        self, ticket: ReviewTicket, requester: str
    ) -> Callable[[Department, list[ExchangeRecord]], Any]:
        def call(department: Department, records: list[ExchangeRecord]) -> Any:
            return self.caller.call(
                department,
                "cancel_review",
                ticket,
                requester=requester,
                on_behalf_of=department.code,
                purpose="撤销审查任务",
                case_id=ticket.case_id,
                records=records,
            )

        return call

    def poll_reviews(self, *, limit: int = 200, requester: str = "poller") -> PollReport:
        """Ask legacy systems for decisions on delivered tasks and record those that came.

        When the last decision approves a case and its implementing department offers
        ``issue_result``, the result is fetched and recorded too (unless 容缺 materials are
        still outstanding).
        """
        tasks_t = repository.tasks_t
        with self._read() as conn:
            rows = conn.execute(
                sa.select(
                    tasks_t.c.id, tasks_t.c.case_id, tasks_t.c.department, tasks_t.c.legacy_id
                )
                .where(tasks_t.c.status == TaskStatus.OPEN.value, tasks_t.c.legacy_id.is_not(None))
                .order_by(tasks_t.c.opened_at)
                .limit(limit)
            ).all()
        work = [
            (r, self.departments[r.department])
            for r in rows
            if r.department in self.departments
            and self.departments[r.department].offers("poll_review")
        ]
        records: list[ExchangeRecord] = []

        async def fan_out() -> list[Any]:
            return await asyncio.gather(
                *(
                    self.caller.call(
                        d,
                        "poll_review",
                        ReviewTicket(task_id=r.id, legacy_id=r.legacy_id, case_id=r.case_id),
                        requester=requester,
                        on_behalf_of=d.code,
                        purpose="查询审查结果",
                        case_id=r.case_id,
                        check=_check_outcome,
                        records=records,
                    )
                    for r, d in work
                ),
                return_exceptions=True,
            )

        outcomes = self._run(fan_out()) if work else []
        self._log_exchanges(records)
        decided = pending = issued = 0
        errors: list[str] = []
        for (row, department), outcome in zip(work, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                errors.append(f"task {row.id}: {outcome}")
                continue
            if outcome is None:
                pending += 1
                continue
            try:
                case = self.record_decision(row.id, outcome, department=department.code)
            except GovsvcError as exc:  # decided meanwhile at the counter, or case closed
                errors.append(f"task {row.id}: {exc}")
                continue
            decided += 1
            if case.state is CaseState.APPROVED and self._issue_from_department(case):
                issued += 1
        return PollReport(decided=decided, pending=pending, issued=issued, errors=tuple(errors))

    def _issue_from_department(self, case: Case) -> bool:
        department = self.departments.get(case.agency)
        if department is None or not department.offers("issue_result"):
            return False
        if case.outstanding_materials:
            return False
        with self._read() as conn:
            legacy = conn.execute(
                sa.select(repository.tasks_t.c.id, repository.tasks_t.c.legacy_id).where(
                    repository.tasks_t.c.case_id == case.id,
                    repository.tasks_t.c.department == department.code,
                    repository.tasks_t.c.legacy_id.is_not(None),
                )
            ).first()
        if legacy is None:
            return False
        records: list[ExchangeRecord] = []
        ticket = ReviewTicket(task_id=legacy.id, legacy_id=legacy.legacy_id, case_id=case.id)
        try:
            issued: IssuedResult = self._run(
                self.caller.call(
                    department,
                    "issue_result",
                    ticket,
                    requester="poller",
                    on_behalf_of=str(case.applicant),
                    purpose="制证",
                    case_id=case.id,
                    check=_check_issued,
                    records=records,
                )
            )
        except AdapterError as exc:
            log.warning("issuing the result of %s failed: %s", case.tracking_code, exc)
            self._log_exchanges(records)
            return False
        self._log_exchanges(records)
        result = CaseResult(name=issued.name, number=issued.number, data=dict(issued.data))
        self.issue_result(case.id, result, actor=f"{department.name}")
        return True

    def record_decision(self, task_id: str, outcome: ReviewOutcome, *, department: str) -> Case:
        """Record a decision a department's system reported (callback or polling).

        The task must belong to ``department``: a department can decide only its own tasks.
        """
        with self._read() as conn:
            row = conn.execute(
                sa.select(repository.tasks_t.c.case_id).where(repository.tasks_t.c.id == task_id)
            ).first()
        if row is None:
            raise CaseNotFound(f"no review task {task_id!r}; check the task id the system sent")
        name = self.departments[department].name if department in self.departments else department
        actor = f"{name} {outcome.decided_by}".strip()
        return self.decide(
            row.case_id,
            task_id,
            approve=outcome.approved,
            reason=outcome.reason,
            basis=outcome.basis,
            remedies=outcome.remedies or _DEFAULT_REMEDIES,
            actor=actor,
            department=department,
        )

    def run_worker(self, *, stop: threading.Event, interval: float = 2.0) -> None:
        """The background loop a host runs: deliver the outbox and poll for decisions.

        Returns when ``stop`` is set. Errors of one pass are logged; the loop goes on.
        """
        while not stop.is_set():
            try:
                self.deliver_outbox()
                self.poll_reviews()
            except Exception:
                log.exception("worker pass failed; retrying in %ss", interval)
            stop.wait(interval)

    def department_health(self) -> dict[str, str]:
        """Each department's health: "up", "down: reason", or "unknown" without ``health``."""
        departments = self.caller.offering("health")
        records: list[ExchangeRecord] = []

        async def fan_out() -> list[Any]:
            return await asyncio.gather(
                *(
                    self.caller.call(
                        d,
                        "health",
                        requester="monitor",
                        on_behalf_of="platform",
                        purpose="健康检查",
                        check=_check_bool,
                        records=records,
                    )
                    for d in departments
                ),
                return_exceptions=True,
            )

        outcomes = self._run(fan_out()) if departments else []
        report = {code: "unknown" for code in self.departments}
        for d, outcome in zip(departments, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                report[d.code] = f"down: {outcome}"
            else:
                report[d.code] = "up" if outcome else "down: reported unhealthy"
        self._log_exchanges(records)
        return report

    def exchange_log(
        self, *, case: CaseRef | None = None, department: str | None = None, limit: int = 100
    ) -> list[ExchangeLogRow]:
        """Recent exchange records, newest first, optionally for one case or department."""
        t = repository.exchange_t
        stmt = sa.select(t)
        if case is not None:
            stmt = stmt.where(t.c.case_id == self.case(case).id)
        if department is not None:
            stmt = stmt.where(t.c.department == department)
        with self._read() as conn:
            rows = conn.execute(stmt.order_by(t.c.seq.desc()).limit(limit)).all()
        return [ExchangeLogRow.model_validate(dict(r._mapping)) for r in rows]

    def verify_exchange_log(self) -> ChainReport:
        """Check the hash chain of the exchange log; reports the first altered record."""
        with self._read() as conn:
            return verify_chain(conn)

    # --- deadlines -------------------------------------------------------------------------

    def _deadline(
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
            cal,
            [(s.start, s.end) for s in case.suspensions],
            today=today or self.today(),
        )
        extra = case.extension_workdays
        promised = due_date(
            cal,
            start,
            version.promised_limit,
            suspended_workdays=stopped,
            extension_workdays=extra,
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

    def lights(self, case: CaseRef, *, on: dt.date | None = None) -> CaseLights:
        """Warning lights for a case and its open tasks, on ``on`` (default today)."""
        found = self.case(case)
        today = on or self.today()
        # The promised limit (承诺办结时限) runs from acceptance to the decision; a decided
        # case waiting for pickup is not late on it.
        if found.state is not CaseState.IN_REVIEW or found.deadline is None:
            return CaseLights(case=None, tasks={}, workdays_left=None, suspended=found.is_suspended)
        version = self.item_version(found.item_code, found.item_version)
        deadline = self._deadline(found, version, today)
        stopped = suspended_workdays(
            self._calendar, [(s.start, s.end) for s in found.suspensions], today=today
        )
        case_light = light(
            self._calendar,
            start=deadline.start,
            due=deadline.promised,
            today=today,
            thresholds=self.thresholds,
            suspended_workdays=stopped,
        )
        tasks = {}
        for t in found.open_tasks:
            start = local_date(t.opened_at)
            tasks[t.id] = light(
                self._calendar,
                start=min(start, deadline.promised),
                due=deadline.promised,
                today=today,
                thresholds=self.thresholds,
            )
        return CaseLights(
            case=case_light,
            tasks=tasks,
            workdays_left=self._calendar.workdays_between(today, deadline.promised),
            suspended=found.is_suspended,
        )

    # --- queries ---------------------------------------------------------------------------

    def _load(self, conn: sa.Connection, ref: CaseRef) -> Case:
        if isinstance(ref, Case):
            found = repository.load_case(conn, case_id=ref.id)
            shown = ref.tracking_code
        elif len(ref) == 32 and all(c in "0123456789abcdef" for c in ref):
            found = repository.load_case(conn, case_id=ref)
            shown = ref
        else:
            code = TrackingCode.normalise(ref)  # InvalidIdentifier names the broken rule
            found = repository.load_case(conn, tracking_code=code)
            shown = ref
        if found is None:
            raise CaseNotFound(
                f"no case with id or tracking code {shown!r}; check the code on the receipt"
            )
        return found

    def case(self, ref: CaseRef) -> Case:
        """A case by id or tracking code (全程一码, with or without dashes, any case)."""
        with self._read() as conn:
            return self._load(conn, ref)

    def trail(self, ref: CaseRef) -> list[CaseEvent]:
        """Every event of a case, oldest first: what the applicant sees under 全程一码."""
        with self._read() as conn:
            case = self._load(conn, ref)
            return repository.events_of(conn, case.id)

    def cases_of(self, applicant: str | PartyKey, *, limit: int = 100) -> list[CaseSummary]:
        """The cases of one applicant (一号), newest first."""
        key = applicant if isinstance(applicant, PartyKey) else PartyKey.of(applicant)
        t = repository.cases_t
        with self._read() as conn:
            cases = repository.iter_cases(
                conn,
                [t.c.applicant_type == key.doc_type.value, t.c.applicant_number == key.number],
                limit=limit,
                order=t.c.created_at.desc(),
            )
        return [CaseSummary.of(c) for c in cases]

    def department_queue(
        self, department: str, *, status: TaskStatus = TaskStatus.OPEN, limit: int = 200
    ) -> list[TaskView]:
        """A department's review tasks (oldest first). A department sees only its own tasks."""
        tasks_t, cases_t = repository.tasks_t, repository.cases_t
        today = self.today()
        stmt = (
            sa.select(tasks_t.c.id, cases_t.c.data, tasks_t.c.legacy_id)
            .join(cases_t, cases_t.c.id == tasks_t.c.case_id)
            .where(tasks_t.c.department == department, tasks_t.c.status == status.value)
            .order_by(tasks_t.c.opened_at, tasks_t.c.id)
            .limit(limit)
        )
        views = []
        with self._read() as conn:
            for task_id, data, legacy_id in conn.execute(stmt):
                case = case_from_data(data)
                task = case.task(task_id)
                task_light = None
                if case.deadline and task.status is TaskStatus.OPEN and not case.is_suspended:
                    task_light = light(
                        self._calendar,
                        start=min(local_date(task.opened_at), case.deadline.promised),
                        due=case.deadline.promised,
                        today=today,
                        thresholds=self.thresholds,
                    )
                views.append(
                    TaskView(
                        task=task, case=CaseSummary.of(case), light=task_light, legacy_id=legacy_id
                    )
                )
        return views

    def overdue(self, *, on: dt.date | None = None, limit: int = 500) -> list[CaseSummary]:
        """Open, running (not suspended) cases past their promised due date on ``on``."""
        t = repository.cases_t
        day = on or self.today()
        with self._read() as conn:
            cases = repository.iter_cases(
                conn,
                [
                    t.c.state == CaseState.IN_REVIEW.value,
                    t.c.due_promised < day,
                    t.c.suspended.is_(False),
                ],
                limit=limit,
                order=t.c.due_promised,
            )
        return [CaseSummary.of(c) for c in cases]

    def pending_outbox(self, *, topic: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Outbox messages committed but not yet delivered, oldest first.

        Topics: ``review.open`` (delivered by :meth:`deliver_outbox`), ``applicant.notify``
        (notices for the applicant: one-time notice, suspension, decision — a host sends
        them by SMS or in the portal and marks them with :meth:`mark_delivered`) and
        ``commitment.verify`` (告知承诺 verification work for inspectors).
        """
        t = repository.outbox_t
        stmt = sa.select(t).where(t.c.delivered_at.is_(None))
        if topic is not None:
            stmt = stmt.where(t.c.topic == topic)
        stmt = stmt.order_by(t.c.created_at, t.c.id).limit(limit)
        with self._read() as conn:
            return [OutboxEntry.of(r) for r in conn.execute(stmt)]

    def mark_delivered(self, ids: Sequence[str]) -> int:
        """Mark outbox messages handled (e.g. notices sent); returns how many were pending."""
        t = repository.outbox_t
        with self._write() as conn:
            return conn.execute(
                sa.update(t)
                .where(t.c.id.in_(list(ids)), t.c.delivered_at.is_(None))
                .values(delivered_at=self.now())
            ).rowcount


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
        if schema:
            with engine.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        return engine
    raise InvalidInput(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: use "
        "sqlite:///path.db or postgresql+psycopg://user@host/db"
    )


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


_LATEST_VERSION = FastStatement(
    sa.select(sa.func.max(repository.versions_t.c.version)).where(
        repository.versions_t.c.item_code == sa.bindparam("code")
    )
)


_DEFAULT_REMEDIES = "如不服本决定，可依法申请行政复议或者提起行政诉讼"


def _need(**fields: str) -> None:
    empty = [name for name, value in fields.items() if not (value or "").strip()]
    if empty:
        raise InvalidInput(f"{', '.join(empty)} must be given (用证事由 / purpose of use)")


def _check_profile(value: Any) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        if value is not None:
            for k in value:
                if not isinstance(k, str):
                    raise AdapterProtocolError("attribute names must be strings", path=f"$[{k!r}]")
        return value
    raise AdapterProtocolError(
        f"profile must return a mapping of attributes or None, got {type(value).__name__}"
    )


def _list_of(kind: type[T], operation: str) -> Callable[[Any], list[T]]:
    """A check that an adapter answered a list of ``kind`` (naming the bad position)."""

    def check(value: Any) -> list[T]:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
            raise AdapterProtocolError(
                f"{operation} must return a list of {kind.__name__}, got {type(value).__name__}"
            )
        for i, item in enumerate(value):
            if not isinstance(item, kind):
                raise AdapterProtocolError(
                    f"expected {kind.__name__}, got {type(item).__name__}", path=f"$[{i}]"
                )
        return list(value)

    return check


_check_certificates = _list_of(CertificateRecord, "certificates")
_check_findings = _list_of(Finding, "prereview")


def _check_legacy_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AdapterProtocolError(
            f"open_review must return the legacy task id (a non-empty string), got {value!r}"
        )
    return value


def _check_outcome(value: Any) -> ReviewOutcome | None:
    if value is None or isinstance(value, ReviewOutcome):
        return value
    raise AdapterProtocolError(
        f"poll_review must return ReviewOutcome or None, got {type(value).__name__}"
    )


def _check_issued(value: Any) -> IssuedResult:
    if isinstance(value, IssuedResult):
        return value
    raise AdapterProtocolError(f"issue_result must return IssuedResult, got {type(value).__name__}")


def _check_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise AdapterProtocolError(f"health must return True or False, got {type(value).__name__}")
