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

import datetime as dt
import functools
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from govsvc import _converter
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
from govsvc.errors import CaseNotFound, ConcurrentUpdate, InvalidInput, UnknownItem
from govsvc.identity import Organisation, Party, PartyKey, Person
from govsvc.store import migrate, repository
from govsvc.store.tables import OutboxRow, case_from_data

__all__ = ["CaseLights", "CaseSummary", "Platform", "TaskView"]

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


@attrs.frozen(kw_only=True)
class CaseLights:
    """Warning lights (红黄绿灯) for a case and each of its open tasks; None before acceptance."""

    case: Light | None
    tasks: Mapping[str, Light]
    workdays_left: int | None
    suspended: bool


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
    ) -> None:
        """Use :meth:`open`; this constructor takes a ready engine whose schema is current."""
        self.engine = engine
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
        """
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
        )
        platform._calendar = platform._with_stored_years(base)
        return platform

    def close(self) -> None:
        """Release the database connections."""
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
        with self._read() as conn:
            rows = conn.execute(
                sa.select(repository.calendar_t.c.data)
                .where(repository.calendar_t.c.region == base.region)
                .order_by(repository.calendar_t.c.year)
            ).scalars()
            result = base
            for data in rows:
                result = result.with_data(CalendarData.from_dict(data, source="database"))
        return result

    def load_calendar(self, source: str | Path | CalendarData) -> list[int]:
        """Load official working-day data for new years (a file in the calendar format).

        The years are stored in the database (shared by every process of the platform) and
        provisional deadlines of open cases are recomputed on the new data. Returns the
        years loaded.
        """
        data = source if isinstance(source, CalendarData) else WorkCalendar.load_file(source)
        calendar = self._calendar.with_data(data)  # refuses overlays and foreign regions
        now = self.now()
        with self._write() as conn:
            for year in sorted(data.years):
                one = CalendarData.from_dict(
                    {
                        "region": data.region,
                        "source": data.source,
                        "years": {str(year): data.to_dict()["years"][str(year)]},
                    },
                    source=data.source,
                )
                conn.execute(
                    sa.delete(repository.calendar_t).where(
                        repository.calendar_t.c.region == data.region,
                        repository.calendar_t.c.year == year,
                    )
                )
                conn.execute(
                    sa.insert(repository.calendar_t).values(
                        region=data.region,
                        year=year,
                        source=data.source[:500],
                        loaded_at=now,
                        data=one.to_dict(),
                    )
                )
            with self._lock:
                self._calendar = calendar
            self._recompute_provisional(conn)
        return sorted(data.years)

    def _recompute_provisional(self, conn: sa.Connection) -> None:
        cases_t = repository.cases_t
        rows = conn.execute(
            sa.select(cases_t.c.data).where(cases_t.c.due_provisional.is_(True))
        ).scalars()
        for data in rows:
            case = case_from_data(data)
            version = self._version_in(conn, case.item_code, case.item_version)
            updated = case.with_deadline(self._deadline(case, version))
            values = {
                "due_promised": updated.deadline.promised if updated.deadline else None,
                "due_statutory": updated.deadline.statutory if updated.deadline else None,
                "due_provisional": bool(updated.deadline and updated.deadline.provisional),
                "data": _converter.unstructure(updated),
            }
            conn.execute(sa.update(cases_t).where(cases_t.c.id == case.id).values(**values))

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
                ).scalars()
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
        with self._write() as conn:
            repository.upsert_party(conn, self._party_values(party))
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
        version = self.item_version(item_code)
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
        with self._write() as conn:
            repository.upsert_party(conn, self._party_values(applicant))
            previous = None
            for s in steps:
                repository.save_step(conn, s, previous=previous, now=now)
                previous = s.case
        return steps[-1].case

    def _command(
        self,
        ref: CaseRef,
        action: Callable[[Case, ItemVersion, dt.datetime], Step],
        *,
        reschedule: bool = False,
    ) -> Case:
        """Load, apply one domain transition and store it, in one transaction."""
        expected = ref.version if isinstance(ref, Case) else None
        now = self.now()
        with self._write() as conn:
            case = self._load(conn, ref)
            if expected is not None and case.version != expected:
                raise ConcurrentUpdate(
                    f"case {case.tracking_code} changed since you loaded it (your copy is "
                    f"version {expected}, the stored one {case.version}, last change by another "
                    "command); reload it and decide again"
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
        return step.case

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
        self, case: CaseRef, *, defects: Mapping[str, str] | None = None, actor: str = "clerk"
    ) -> Case:
        """Check the materials; the one-time notice (一次性告知) lists everything wrong at once.

        ``defects`` maps material codes to what the clerk found wrong with them.
        """
        return self._command(
            case, lambda c, v, now: c.prereview(v, defects=defects, now=now, actor=actor)
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
    ) -> Case:
        """Record a department's decision on its review task (审查意见).

        A denial needs a reason, its legal basis and the remedies open to the applicant.
        """
        return self._command(
            case,
            lambda c, v, now: c.decide(
                v,
                task_id,
                approve=approve,
                reason=reason,
                basis=basis,
                remedies=remedies,
                now=now,
                actor=actor,
            ),
        )

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

    # --- deadlines -------------------------------------------------------------------------

    def _deadline(
        self, case: Case, version: ItemVersion, today: dt.date | None = None
    ) -> CaseDeadline:
        assert case.accepted_at is not None
        start = local_date(case.accepted_at)
        stopped = suspended_workdays(
            self._calendar,
            [(s.start, s.end) for s in case.suspensions],
            today=today or self.today(),
        )
        extra = case.extension_workdays
        promised = due_date(
            self._calendar,
            start,
            version.promised_limit,
            suspended_workdays=stopped,
            extension_workdays=extra,
        )
        statutory = due_date(
            self._calendar,
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
        if found.accepted_at is None or not found.is_open or found.deadline is None:
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
            sa.select(tasks_t.c.id, cases_t.c.data)
            .join(cases_t, cases_t.c.id == tasks_t.c.case_id)
            .where(tasks_t.c.department == department, tasks_t.c.status == status.value)
            .order_by(tasks_t.c.opened_at, tasks_t.c.id)
            .limit(limit)
        )
        views = []
        with self._read() as conn:
            for task_id, data in conn.execute(stmt):
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
                views.append(TaskView(task=task, case=CaseSummary.of(case), light=task_light))
        return views

    def overdue(self, *, on: dt.date | None = None, limit: int = 500) -> list[CaseSummary]:
        """Open, running (not suspended) cases past their promised due date on ``on``."""
        t = repository.cases_t
        day = on or self.today()
        open_states = [s.value for s in CaseState if s.is_open]
        with self._read() as conn:
            cases = repository.iter_cases(
                conn,
                [
                    t.c.state.in_(open_states),
                    t.c.due_promised < day,
                    t.c.suspended.is_(False),
                ],
                limit=limit,
                order=t.c.due_promised,
            )
        return [CaseSummary.of(c) for c in cases]

    def pending_outbox(self, *, topic: str | None = None, limit: int = 100) -> list[OutboxRow]:
        """Outbox messages committed but not yet delivered, oldest first."""
        t = repository.outbox_t
        stmt = sa.select(t).where(t.c.delivered_at.is_(None))
        if topic is not None:
            stmt = stmt.where(t.c.topic == topic)
        stmt = stmt.order_by(t.c.created_at).limit(limit)
        with self._read() as conn:
            return [OutboxRow.model_validate(r._mapping) for r in conn.execute(stmt)]


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
        engine = sa.create_engine(
            url, echo=echo, json_serializer=dumps, connect_args=connect_args, pool_pre_ping=True
        )
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
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
