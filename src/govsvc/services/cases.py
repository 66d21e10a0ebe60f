"""The case service (办件): every command on a case, and the queries of one case or a party.

Each command authorizes, loads, calls one domain method, and stores the new case, its event
and its outbox messages in one transaction; a command that raises (including a refusal by
the policy) leaves the database exactly as it was.

Concurrency: a command given the :class:`Case` a previous command returned means "I decided
on this version" — if anyone changed the case since, :class:`ConcurrentUpdate`. A command
given an id or tracking code acts on the case as it is when the command starts; two clerks
racing on the same case get one success and one :class:`ConcurrentUpdate`, on SQLite and on
PostgreSQL alike (on SQLite the case is read before the writer lock is taken, so both see
the same version, exactly as PostgreSQL's read-committed snapshot gives).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import sqlalchemy as sa

from govsvc import _converter
from govsvc._text import check_text
from govsvc.adapters import IssuedResult
from govsvc.cases import (
    Case,
    CaseAgent,
    CaseEvent,
    CaseResult,
    CaseState,
    ProvidedMaterial,
    Step,
    SuspensionReason,
    TrackingCode,
    local_date,
)
from govsvc.catalogue import Channel, ItemVersion
from govsvc.deadlines import light, suspended_workdays
from govsvc.errors import (
    CaseNotFound,
    ConcurrentUpdate,
    GovsvcError,
    IdempotencyConflict,
    InvalidInput,
    StructureError,
)
from govsvc.identity import Organisation, Party, PartyKey, Person
from govsvc.policy import Action, Resource
from govsvc.principals import Actor, Mandate, PrincipalKind
from govsvc.services._base import Service
from govsvc.services.views import CaseLights, CaseSummary, Page, decode_cursor, encode_cursor
from govsvc.store import cases as store
from govsvc.store import idempotency
from govsvc.store import parties as party_store
from govsvc.store.chain import ChainReport
from govsvc.store.fast import pipeline
from govsvc.store.tables import cases_t

if TYPE_CHECKING:
    from govsvc.services._runtime import Runtime

__all__ = ["CaseService", "lights_of"]

CaseRef = Case | str
StepFn = Callable[[Case, ItemVersion, dt.datetime, Actor], Step]

# Which action authorizes each case command (the domain's command names).
COMMAND_ACTIONS: Mapping[str, Action] = {
    "update_draft": Action.CASE_UPDATE_DRAFT,
    "submit": Action.CASE_SUBMIT,
    "prereview": Action.CASE_PREREVIEW,
    "resubmit": Action.CASE_RESUBMIT,
    "accept": Action.CASE_ACCEPT,
    "refuse": Action.CASE_REFUSE,
    "decide": Action.REVIEW_DECIDE,
    "suspend": Action.CASE_SUSPEND,
    "resume": Action.CASE_RESUME,
    "request_extension": Action.CASE_REQUEST_EXTENSION,
    "extend": Action.CASE_EXTEND,
    "decline_extension": Action.CASE_EXTEND,
    "supply": Action.CASE_SUPPLY,
    "verify_commitment": Action.CASE_VERIFY_COMMITMENT,
    "issue_result": Action.CASE_ISSUE_RESULT,
    "complete": Action.CASE_COMPLETE,
    "withdraw": Action.CASE_WITHDRAW,
}

_ID_CHARS = frozenset("0123456789abcdef")


class CaseService(Service):
    """Cases (办件) as the session's principal may see and change them."""

    # --- loading -----------------------------------------------------------------------------

    def _load(self, conn: sa.Connection, ref: CaseRef) -> Case:
        recent = self._rt.recent
        if isinstance(ref, Case):
            found = store.load_case(conn, case_id=ref.id, cached=recent.get(ref.id))
            shown = ref.tracking_code
        elif isinstance(ref, str) and len(ref) == 32 and set(ref) <= _ID_CHARS:
            found = store.load_case(conn, case_id=ref, cached=recent.get(ref))
            shown = ref
        elif isinstance(ref, str):
            code = TrackingCode.normalise(ref)  # InvalidIdentifier names the broken rule
            found = store.load_case(conn, tracking_code=code, cached=recent.get(code))
            shown = ref
        else:
            raise InvalidInput(
                f"a case is named by a Case, its id or its tracking code, got {type(ref).__name__}"
            )
        if found is None:
            raise CaseNotFound(
                f"no case with id or tracking code {shown!r}; check the code on the receipt"
            )
        return found

    def _current(self, ref: CaseRef) -> Case | None:
        """The case a command starts from, read before the write transaction where that gives
        the same semantics on both databases; None means "read it inside the transaction"."""
        rt = self._rt
        if isinstance(ref, Case) and rt.issued.get(ref.id) is ref:
            return ref  # the object this platform stored last: no reload needed
        if not rt.is_sqlite:
            return None
        with rt.autocommit_read() as conn:
            return self._checked(self._load(conn, ref), ref)

    def peek(self, ref: CaseRef) -> Case:
        """The stored case, for a service's own use before it authorizes a command on it
        (never returned to a caller: that is :meth:`get`, which authorizes and records)."""
        if isinstance(ref, Case) and self._rt.issued.get(ref.id) is ref:
            return ref
        with self._rt.read() as conn:
            return self._load(conn, ref)

    @staticmethod
    def _checked(found: Case, ref: CaseRef) -> Case:
        if isinstance(ref, Case) and found.version != ref.version:
            raise ConcurrentUpdate(
                f"case {found.tracking_code} changed since you loaded it (your copy is "
                f"version {ref.version}, the stored one {found.version}); reload it and "
                "decide again"
            )
        return found

    def run_command(
        self,
        ref: CaseRef,
        action: Action,
        step: StepFn,
        *,
        reschedule: bool = False,
        task_id: str | None = None,
        also: Callable[[sa.Connection, Case], None] | None = None,
        retry_conflicts: bool = False,
    ) -> Case:
        """Authorize, load, apply one domain transition and store it, in one transaction.

        ``also(conn, case)`` runs in the same transaction after the case is stored (a worker
        settling the outbox row and the exchange record that led to the command).
        ``retry_conflicts`` is for facts recorded by systems (a department's decision, a
        fetched result) on a case named by id: when another command changed the case first,
        the command is applied again to the new version instead of raising
        :class:`ConcurrentUpdate` (a person's command never is: they decide on what they saw).
        """
        if retry_conflicts and not isinstance(ref, Case):
            for _ in range(4):
                try:
                    return self._run_command(ref, action, step, reschedule, task_id, also)
                except ConcurrentUpdate:
                    continue  # another department's decision landed first: apply to the new one
        return self._run_command(ref, action, step, reschedule, task_id, also)

    def _run_command(
        self,
        ref: CaseRef,
        action: Action,
        step: StepFn,
        reschedule: bool,
        task_id: str | None,
        also: Callable[[sa.Connection, Case], None] | None,
    ) -> Case:
        rt = self._rt
        now = rt.now()
        case = self._current(ref)
        with rt.write() as conn:
            if case is None:
                case = self._checked(self._load(conn, ref), ref)
            today = local_date(now)
            resource = (
                Resource.of_task(case, task_id, today=today)
                if task_id is not None
                else Resource.of_case(case, today=today)
            )
            self._authorize(action, resource)
            version = rt.version_in(conn, case.item_code, case.item_version)
            result = step(case, version, now, self.principal.actor)
            if reschedule and result.case.accepted_at is not None:
                result = Step(
                    result.case.with_deadline(rt.deadline(result.case, version)),
                    result.event,
                    result.outbox,
                )
            result = store.save_step(conn, result, previous=case, now=now)
            if also is not None:
                also(conn, result.case)
        rt.remember(result.case)
        rt.broadcast([result])
        return result.case

    # --- applying ----------------------------------------------------------------------------

    def new_application(
        self,
        item_code: str,
        applicant: Party,
        *,
        materials: Sequence[ProvidedMaterial] = (),
        form: Mapping[str, Any] | None = None,
        channel: Channel | None = None,
        mandate: Mandate | None = None,
        agent: Person | None = None,
        idempotency_key: str | None = None,
    ) -> Case:
        """Start a draft application (草稿) on the newest published version of an item.

        ``idempotency_key`` works as for :meth:`apply`."""
        return self._start(
            item_code, applicant, materials, form, channel, mandate, agent, False, idempotency_key
        )

    def apply(
        self,
        item_code: str,
        applicant: Party,
        *,
        materials: Sequence[ProvidedMaterial] = (),
        form: Mapping[str, Any] | None = None,
        channel: Channel | None = None,
        mandate: Mandate | None = None,
        agent: Person | None = None,
        idempotency_key: str | None = None,
    ) -> Case:
        """Create and submit an application in one transaction; returns the submitted case.

        The case pins the newest published version of the item and gets its tracking code
        (全程一码). Who may apply for whom is the policy's: a person for themselves, an
        organisation's agent for it, a person for another with a ``mandate`` (委托书), a
        window clerk for a walk-in applicant of an agency the hall serves (recording the
        ``agent`` — the person at the window — for an organisation). The case records the
        applicant and the agent. Materials the version does not list raise
        :class:`MaterialNotAllowed`; an applicant the item does not serve (服务对象)
        :class:`InvalidInput` naming the allowed targets.

        ``idempotency_key`` is the channel's request id. It is stored with the case in the
        same transaction: the same key with the same request returns the case the first
        request created (as it is now), so a retry after a lost answer never creates a second
        case; the same key with a different request raises :class:`IdempotencyConflict`.
        Keys are per principal (a channel's keys never meet another's).
        """
        return self._start(
            item_code, applicant, materials, form, channel, mandate, agent, True, idempotency_key
        )

    def _start(
        self,
        item_code: str,
        applicant: Party,
        materials: Sequence[ProvidedMaterial],
        form: Mapping[str, Any] | None,
        channel: Channel | None,
        mandate: Mandate | None,
        agent: Person | None,
        submit: bool,
        idempotency_key: str | None,
    ) -> Case:
        key = _check_key(idempotency_key)
        if key is None:
            return self._create(
                item_code, applicant, materials, form, channel, mandate, agent, submit, None
            )
        request = {
            "submit": submit,
            "item_code": item_code,
            "applicant": _converter.unstructure(getattr(applicant, "key", None)),
            "applicant_name": getattr(applicant, "name", None),
            "materials": _converter.unstructure(list(materials)),
            "form": form,
            "channel": None if channel is None else str(channel),
            "mandate": None if mandate is None else mandate.id,
            "agent": None if agent is None else _converter.unstructure(agent.key),
        }
        digest = idempotency.fingerprint(request)
        try:
            return self._create(
                item_code,
                applicant,
                materials,
                form,
                channel,
                mandate,
                agent,
                submit,
                (key, digest),
            )
        except _Replay as replay:
            return replay.case
        except sa.exc.IntegrityError:
            # PostgreSQL: a concurrent request with the same key committed first (ours waited
            # for it on the key's primary key and rolled back whole). Answer as a retry would.
            with self._rt.read() as conn:
                found = idempotency.find(conn, self._key_owner(), key)
                if found is None:
                    raise
                return self._replayed(conn, key, digest, found)

    def _key_owner(self) -> str:
        return f"{self.principal.kind.value}:{self.principal.id}"

    def _replayed(self, conn: sa.Connection, key: str, digest: str, found: tuple[str, str]) -> Case:
        stored_digest, case_id = found
        case = store.load_case(conn, case_id=case_id)
        if case is None:  # pragma: no cover - keys and cases are written together
            raise CaseNotFound(f"the case idempotency key {key!r} created is gone")
        if stored_digest != digest:
            raise IdempotencyConflict(
                f"idempotency key {key!r} was used for a different request (it created case "
                f"{TrackingCode.display(case.tracking_code)}); a retry must send the same "
                "request, a new application needs a new key",
                case_id=case_id,
            )
        return case

    def _create(
        self,
        item_code: str,
        applicant: Party,
        materials: Sequence[ProvidedMaterial],
        form: Mapping[str, Any] | None,
        channel: Channel | None,
        mandate: Mandate | None,
        agent: Person | None,
        submit: bool,
        keyed: tuple[str, str] | None,
    ) -> Case:
        if not isinstance(applicant, Person | Organisation):
            raise InvalidInput(
                "the applicant must be a govsvc.Person or govsvc.Organisation; look a number "
                "up with session.parties.get(number)"
            )
        if not isinstance(item_code, str) or len(item_code) < 24:
            raise InvalidInput(
                f"item code (实施编码) {item_code!r} should be 24 to 36 characters of 0-9 and A-Z"
            )
        rt = self._rt
        now = rt.now()
        principal = self.principal
        agency = item_code[:18]  # an implementation code starts with the agency's credit code
        self._authorize(
            Action.CASE_APPLY,
            Resource.application(
                applicant.key,
                agency=agency,
                item_code=item_code,
                division=agency[2:8],
                mandate=mandate,
                today=local_date(now),
            ),
        )
        case_agent = self._agent_of(applicant.key, mandate, agent)
        if channel is None:
            channel = Channel.WINDOW if principal.kind is PrincipalKind.CLERK else Channel.PC
        party_values = party_store.party_values(applicant, now)
        actor = principal.actor

        def build(version: ItemVersion) -> tuple[list[Step], store.NewCase]:
            step = Case.start(
                version=version,
                applicant=applicant.key,
                applicant_name=applicant.name,
                channel=Channel(channel).value,
                materials=materials,
                form=form,
                agent=case_agent,
                now=now,
                actor=actor,
            )
            steps = [step]
            if submit:
                steps.append(step.case.submit(now=now, actor=actor))
            return steps, store.prepare_new(rt.engine.dialect, steps, now=now)

        # The case is built, and its rows made, before the write transaction, on the newest
        # version this process has seen: on SQLite the transaction holds the one writer lock,
        # and the building is most of an application's time. The transaction then checks
        # that version is still the newest and builds again if not.
        built: tuple[ItemVersion, list[Step], store.NewCase] | None = None
        guess = rt.newest.get(item_code)
        if guess is not None:
            try:
                built = (guess, *build(guess))
            except GovsvcError:
                built = None  # judged again below, on the version that is really the newest
        with rt.write() as conn:
            if keyed is not None:
                found = idempotency.find(conn, self._key_owner(), keyed[0])
                if found is not None:
                    raise _Replay(self._replayed(conn, *keyed, found))
            # The newest version is looked up inside the write transaction: a version
            # published a moment ago by another process is the one this case pins.
            version = rt.latest_in(conn, item_code)
            rt.newest.put(item_code, version)
            if built is None or built[0].version != version.version:
                built = (version, *build(version))
            _, steps, new = built
            if keyed is not None:
                # Before the case: a concurrent request with the same key waits here.
                idempotency.remember(
                    conn, self._key_owner(), keyed[0], keyed[1], new.case.id, now
                )
            with pipeline(conn):  # the party and the case in one round trip on PostgreSQL
                self._upsert_party(conn, party_values)
                created = store.write_new(conn, new)
        rt.remember(created)
        last = steps[-1]
        rt.broadcast([*steps[:-1], Step(created, last.event, last.outbox)])
        return created

    def _agent_of(
        self, applicant: PartyKey, mandate: Mandate | None, agent: Person | None
    ) -> CaseAgent | None:
        principal = self.principal
        if principal.kind.is_applicant_side:
            if agent is not None:
                raise InvalidInput(
                    "agent= is for a window clerk recording who stands at the window; an "
                    "applicant or agent applying online is the agent already"
                )
            assert principal.party is not None
            if applicant == principal.party:
                return None
            return CaseAgent(
                key=principal.party,
                name=principal.name,
                mandate=mandate.id if mandate and applicant == mandate.grantor else None,
                mandate_until=(
                    mandate.valid_until if mandate and applicant == mandate.grantor else None
                ),
            )
        if agent is None:
            return None
        if not isinstance(agent, Person):
            raise InvalidInput("the agent at the window is a person: give a govsvc.Person")
        if agent.key == applicant:
            return None
        return CaseAgent(
            key=agent.key,
            name=agent.name,
            mandate=mandate.id if mandate else None,
            mandate_until=mandate.valid_until if mandate else None,
        )

    def _upsert_party(self, conn: sa.Connection, values: dict[str, Any]) -> None:
        # A hall registers the same applicants all day: skip writes that change nothing
        # this process has not already written.
        key = (values["doc_type"], values["number"])
        if self._rt.parties_written.get(key) == values["data"]:
            return
        party_store.upsert_party(conn, values)
        self._rt.parties_written.put(key, values["data"])

    # --- the applicant's commands ------------------------------------------------------------

    def update_draft(
        self,
        case: CaseRef,
        *,
        materials: Sequence[ProvidedMaterial] | None = None,
        form: Mapping[str, Any] | None = None,
    ) -> Case:
        """Change the materials or form of a draft."""
        return self.run_command(
            case,
            Action.CASE_UPDATE_DRAFT,
            lambda c, v, now, actor: c.update_draft(
                v, materials=materials, form=form, now=now, actor=actor
            ),
        )

    def submit(self, case: CaseRef) -> Case:
        """Submit a draft."""
        return self.run_command(
            case, Action.CASE_SUBMIT, lambda c, v, now, actor: c.submit(now=now, actor=actor)
        )

    def resubmit(self, case: CaseRef, materials: Sequence[ProvidedMaterial]) -> Case:
        """Supply corrected or missing materials after a one-time notice (补正)."""
        return self.run_command(
            case,
            Action.CASE_RESUBMIT,
            lambda c, v, now, actor: c.resubmit(v, materials, now=now, actor=actor),
        )

    def supply(self, case: CaseRef, material: ProvidedMaterial) -> Case:
        """Supply a material tolerated at acceptance (容缺后补)."""
        return self.run_command(
            case,
            Action.CASE_SUPPLY,
            lambda c, v, now, actor: c.supply(v, material, now=now, actor=actor),
        )

    def withdraw(self, case: CaseRef, *, reason: str = "") -> Case:
        """Withdraw an open case (撤回)."""
        return self.run_command(
            case,
            Action.CASE_WITHDRAW,
            lambda c, v, now, actor: c.withdraw(reason=reason, now=now, actor=actor),
        )

    # --- the window's commands (一窗受理) -----------------------------------------------------

    def prereview(
        self,
        case: CaseRef,
        *,
        defects: Mapping[str, str] | None = None,
        automated: bool = True,
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
            current = self.peek(case)
            # Authorized before the department sees the application, not only at the write.
            self._authorize(
                Action.CASE_PREREVIEW, Resource.of_case(current, today=self._rt.today())
            )
            found.update(self._session.departments.automated_findings(current))
        found.update(defects or {})
        return self.run_command(
            case,
            Action.CASE_PREREVIEW,
            lambda c, v, now, actor: c.prereview(v, defects=found, now=now, actor=actor),
        )

    def accept(
        self, case: CaseRef, *, tolerate: bool = False, defects: Mapping[str, str] | None = None
    ) -> Case:
        """Accept (受理) and open the first review stage; due dates start counting.

        With ``tolerate=True`` (容缺受理) missing 容缺后补 materials get a supplement deadline
        of the platform's ``supplement_workdays`` working days; commitments (告知承诺) get a
        verification task due in ``verify_workdays`` working days.
        """
        rt = self._rt

        def step(c: Case, v: ItemVersion, now: dt.datetime, actor: Actor) -> Step:
            today = local_date(now)
            return c.accept(
                v,
                tolerate=tolerate,
                supplement_due=rt.calendar.add_workdays(today, rt.supplement_workdays),
                verify_due=rt.calendar.add_workdays(today, rt.verify_workdays),
                defects=defects,
                now=now,
                actor=actor,
            )

        return self.run_command(case, Action.CASE_ACCEPT, step, reschedule=True)

    def refuse(self, case: CaseRef, *, reason: str, basis: str) -> Case:
        """Do not accept (不予受理), stating the reason and the legal basis."""
        return self.run_command(
            case,
            Action.CASE_REFUSE,
            lambda c, v, now, actor: c.refuse(reason=reason, basis=basis, now=now, actor=actor),
        )

    def issue_result(self, case: CaseRef, result: CaseResult) -> Case:
        """Record the result (certificate number and face data) of an approved case.

        As when a department's system supplies it (``departments.fetch_results``), an item
        whose result is a certificate type gets its e-certificate (电子证照) signed and stored
        in the same transaction (queued durably as ``certificate.issue`` when signing fails)
        — when the result carries the certificate's face and the department has signing keys
        here. A result without face fields (a paper licence's number) is recorded as it is;
        an incomplete face is refused with the missing fields named, and nothing changes.
        """
        ecert = self._rt.ecert
        issued = IssuedResult(name=result.name, number=result.number, data=result.data)
        certified_at: list[dt.datetime] = []  # set when this result becomes a certificate
        steps: list[Any] = []

        def issue(c: Case, v: ItemVersion, now: dt.datetime, actor: Actor) -> Step:
            certified_at.clear()
            ctype = ecert.type_of(v)
            face = ecert.face(ctype, issued, c) if ctype is not None else {}
            if ctype is None or not face or not ecert.keys.keys(v.agency.credit_code):
                # Not a certificate type, a result without its face (a paper licence's
                # number), or a department that signs nothing here: recorded as it is.
                return c.issue_result(result, now=now, actor=actor)
            try:
                ctype.check_face(face)
            except StructureError as exc:  # a person's 制证 form: say what to fill in
                raise InvalidInput(
                    f"the e-certificate's face is incomplete: {exc}; fill in every required "
                    f"field of {ctype.name}, or record the result without face fields"
                ) from exc
            certified_at[:] = [now]
            cid = ecert.certificate_id(v, result.number)
            return c.issue_result(attrs.evolve(result, ecert_id=str(cid)), now=now, actor=actor)

        def certify(conn: sa.Connection, stored: Case) -> None:
            if not certified_at:
                return
            version = self._rt.version_in(conn, stored.item_code, stored.item_version)
            actor = self.principal.actor
            steps[:] = [
                ecert.issue_in(conn, stored, version, issued, actor=actor, now=certified_at[0])
            ]

        done = self.run_command(case, Action.CASE_ISSUE_RESULT, issue, also=certify)
        ecert.broadcast([s for s in steps if s is not None])
        return done

    def complete(self, case: CaseRef, *, delivery: str) -> Case:
        """The result reached the applicant (办结): e.g. "窗口领取", "邮寄", "电子送达"."""
        return self.run_command(
            case,
            Action.CASE_COMPLETE,
            lambda c, v, now, actor: c.complete(delivery=delivery, now=now, actor=actor),
        )

    # --- the departments' commands -----------------------------------------------------------

    def suspend(self, case: CaseRef, reason: SuspensionReason, *, notice: str) -> Case:
        """Stop the clock (挂起); ``notice`` is the written notice to the applicant."""
        why = SuspensionReason(reason)
        return self.run_command(
            case,
            Action.CASE_SUSPEND,
            lambda c, v, now, actor: c.suspend(
                why, notice=notice, today=local_date(now), now=now, actor=actor
            ),
            reschedule=True,
        )

    def resume(self, case: CaseRef) -> Case:
        """Restart the clock; the due dates move by the working days suspended."""
        return self.run_command(
            case,
            Action.CASE_RESUME,
            lambda c, v, now, actor: c.resume(today=local_date(now), now=now, actor=actor),
            reschedule=True,
        )

    def request_extension(self, case: CaseRef, workdays: int, *, reason: str) -> Case:
        """Ask an approver for more working days (延期申请)."""
        return self.run_command(
            case,
            Action.CASE_REQUEST_EXTENSION,
            lambda c, v, now, actor: c.request_extension(
                workdays, reason=reason, now=now, actor=actor
            ),
        )

    def extend(self, case: CaseRef, workdays: int | None = None, *, reason: str = "") -> Case:
        """Extend the time limit (延期): an approver approves a pending request, or extends by
        ``workdays`` with ``reason`` directly; the due dates move."""
        return self.run_command(
            case,
            Action.CASE_EXTEND,
            lambda c, v, now, actor: c.extend(workdays, reason=reason, now=now, actor=actor),
            reschedule=True,
        )

    def decline_extension(self, case: CaseRef, *, reason: str) -> Case:
        """Refuse a pending extension request (不予延期)."""
        return self.run_command(
            case,
            Action.CASE_EXTEND,
            lambda c, v, now, actor: c.decline_extension(reason=reason, now=now, actor=actor),
        )

    def verify_commitment(
        self, case: CaseRef, material_code: str, *, truthful: bool, note: str = ""
    ) -> Case:
        """Record the check of a commitment (告知承诺核查); a false one denies or revokes."""
        return self.run_command(
            case,
            Action.CASE_VERIFY_COMMITMENT,
            lambda c, v, now, actor: c.verify_commitment(
                material_code, truthful=truthful, note=note, now=now, actor=actor
            ),
        )

    # --- one case ----------------------------------------------------------------------------

    def get(self, ref: CaseRef, *, purpose: str | None = None) -> Case:
        """A case by id or tracking code (全程一码, with or without dashes, any case).

        The case carries the applicant's form and materials: a staff member reading another
        party's case states a purpose of use (the session's by default), and the read is
        recorded in the access log.
        """
        rt = self._rt
        why = self._purpose(purpose)
        with rt.read() as conn:
            case = self._load(conn, ref)
        resource = Resource.of_case(case, today=rt.today(), purpose=why)
        decision = self._authorize(Action.CASE_READ, resource)
        if self._session.reads_personal_data_of(resource):
            rt.record_access([self._session.read_record(Action.CASE_READ, resource, decision)])
        return case

    def verify_trail(self, ref: CaseRef) -> ChainReport:
        """Check a case's trail: each event is hashed over the one before it and the case
        keeps the head, so an event rewritten, inserted or deleted (the last ones too) is
        named (``first_bad``, ``reason``). Whoever may read the trail may verify it."""
        rt = self._rt
        with rt.read() as conn:
            case = self._load(conn, ref)
            self._authorize(Action.CASE_TRAIL, Resource.of_case(case, today=rt.today()))
            return store.verify_trail(conn, case)

    def trail(self, ref: CaseRef) -> list[CaseEvent]:
        """Every event of a case, oldest first: what the applicant sees under 全程一码.

        Applicants (and the public) see staff masked: no staff ids, names as 王*.
        """
        rt = self._rt
        with rt.read() as conn:
            case = self._load(conn, ref)
            self._authorize(Action.CASE_TRAIL, Resource.of_case(case, today=rt.today()))
            events = store.events_of(conn, case.id)
        if self.principal.kind.is_staff or self.principal.kind in (
            PrincipalKind.PLATFORM,
            PrincipalKind.DEPARTMENT_SYSTEM,
        ):
            return events
        return [e.masked() for e in events]

    def lights(self, ref: CaseRef, *, on: dt.date | None = None) -> CaseLights:
        """Warning lights for a case and its open tasks, on ``on`` (default today)."""
        rt = self._rt
        with rt.read() as conn:
            found = self._load(conn, ref)
            self._authorize(Action.CASE_TRAIL, Resource.of_case(found, today=rt.today()))
            if found.state is not CaseState.IN_REVIEW or found.deadline is None:
                return CaseLights(
                    case=None, tasks={}, workdays_left=None, suspended=found.is_suspended
                )
            version = rt.version_in(conn, found.item_code, found.item_version)
        return lights_of(rt, found, version, on or rt.today())

    def commands(self, case: Case) -> frozenset[str]:
        """The commands this principal may run on ``case`` now: what the case's state allows
        (:meth:`Case.allowed_commands`) and the policy grants — the buttons a page shows."""
        allowed: set[str] = set()
        for command in case.allowed_commands():
            action = COMMAND_ACTIONS.get(command)
            if action is None:
                continue
            if command == "decide":
                ok = any(self._session.can(action, (case, t.id)) for t in case.open_tasks)
            else:
                ok = bool(self._session.can(action, case))
            if ok:
                allowed.add(command)
        return frozenset(allowed)

    def track(self, tracking_code: str, *, id_suffix: str) -> CaseSummary:
        """Public progress lookup (办件进度查询): tracking code + the last 4 characters of the
        applicant's ID number or credit code. A wrong suffix says only "not found", so the
        answer never tells whether a code exists; the host rate-limits misses."""
        self._authorize(Action.CASE_TRACK, Resource.platform())
        suffix = "".join(str(id_suffix).split()).upper()
        found = None
        try:
            code: str | None = TrackingCode.normalise(tracking_code)
        except InvalidInput:
            code = None
        if code is not None:
            # One statement, its own snapshot: no transaction around it, and the summary read
            # from the columns (the public look-up is the busiest call of a host).
            with self._rt.autocommit_read() as conn:
                found = store.summary_by_code(conn, code)
        if found is None or len(suffix) != 4 or not found.applicant_number.endswith(suffix):
            raise CaseNotFound(
                "no case matches this tracking code and ID number suffix; check both on the receipt"
            )
        return CaseSummary.of_columns(found, mask_names=True)

    # --- lists -------------------------------------------------------------------------------

    def mine(self, *, limit: int = 50, after: str | None = None) -> Page[CaseSummary]:
        """The principal's own cases, newest first: as the applicant, for the organisation
        they act for, and those they handled as agent (经办)."""
        principal = self.principal
        if principal.party is None:
            raise InvalidInput(
                f"{principal} has no cases of their own; use of_applicant(number) instead"
            )
        self._authorize(Action.CASE_LIST, Resource.of_party(principal.party))
        keys = [principal.party] + ([principal.acting_for] if principal.acting_for else [])
        mine = [_applicant_is(k) for k in keys] + [_agent_is(principal.party)]
        return self._page([sa.or_(*mine)], limit=limit, after=after, mask=False)

    def of_applicant(
        self, applicant: str | PartyKey, *, limit: int = 50, after: str | None = None
    ) -> Page[CaseSummary]:
        """The cases of one applicant (一号), newest first, as far as the principal may see
        them (a clerk: agencies the hall serves; a supervisor: the division)."""
        from govsvc.services.parties import key_of

        key = key_of(applicant)
        self._authorize(Action.CASE_LIST, Resource.of_party(key))
        where = [_applicant_is(key), *self.scope()]
        own = self.principal.party is not None and self.principal.acts_for(key)
        return self._page(where, limit=limit, after=after, mask=not own)

    def scope(self) -> list[Any]:
        """SQL clauses restricting the ``cases`` table to what the principal may list."""
        principal = self.principal
        kind = principal.kind
        if kind is PrincipalKind.CLERK:
            return [cases_t.c.agency.in_(list(principal.serves))]
        if kind is PrincipalKind.SUPERVISOR:
            assert principal.division is not None
            from govsvc.policy import significant_prefix

            return [cases_t.c.division.startswith(significant_prefix(principal.division))]
        if kind in (PrincipalKind.APPLICANT, PrincipalKind.AGENT):
            assert principal.party is not None
            keys = [principal.party] + ([principal.acting_for] if principal.acting_for else [])
            return [sa.or_(*[_applicant_is(k) for k in keys], _agent_is(principal.party))]
        if kind is PrincipalKind.PLATFORM:
            return []
        return [sa.false()]

    def _page(
        self, where: list[Any], *, limit: int, after: str | None, mask: bool
    ) -> Page[CaseSummary]:
        limit = _limit(limit)
        if after is not None:
            created, case_id = decode_cursor(after, 2)
            moment = dt.datetime.fromisoformat(created)
            where = [
                *where,
                sa.or_(
                    cases_t.c.created_at < moment,
                    sa.and_(cases_t.c.created_at == moment, cases_t.c.id < case_id),
                ),
            ]
        with self._rt.read() as conn:
            rows = store.summaries(
                conn,
                where,
                limit=limit + 1,
                order=[cases_t.c.created_at.desc(), cases_t.c.id.desc()],
            )
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = encode_cursor(rows[-1].created_at, rows[-1].id) if more else None
        return Page([CaseSummary.of_columns(r, mask_names=mask) for r in rows], next=nxt)


def _applicant_is(key: PartyKey) -> Any:
    return sa.and_(
        cases_t.c.applicant_type == key.doc_type.value, cases_t.c.applicant_number == key.number
    )


def _agent_is(key: PartyKey) -> Any:
    return sa.and_(cases_t.c.agent_type == key.doc_type.value, cases_t.c.agent_number == key.number)


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidInput(f"limit must be a whole number from 1 to 1000, got {limit!r}")
    return limit


class _Replay(Exception):
    """Raised inside the write transaction to leave it (nothing written) with the case an
    idempotency key already created."""

    def __init__(self, case: Case) -> None:
        super().__init__(case.id)
        self.case = case


def _check_key(key: object) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= 200 or not key.strip():
        raise InvalidInput(
            f"idempotency_key must be 1 to 200 characters of text (a request id), got {key!r}"
        )
    check_text(key, "idempotency_key")
    return key


def lights_of(rt: Runtime, case: Case, version: ItemVersion, today: dt.date) -> CaseLights:
    """The warning lights of a case in review and its open tasks on ``today``.

    Raises :class:`CalendarDataMissing` when a date falls in a year without data."""
    # The promised limit (承诺办结时限) runs from acceptance to the decision; a decided
    # case waiting for pickup is not late on it.
    deadline = rt.deadline(case, version, today)
    calendar, thresholds = rt.calendar, rt.thresholds
    stopped = suspended_workdays(
        calendar, [(s.start, s.end) for s in case.suspensions], today=today
    )
    case_light = light(
        calendar,
        start=deadline.start,
        due=deadline.promised,
        today=today,
        thresholds=thresholds,
        suspended_workdays=stopped,
    )
    tasks = {
        t.id: light(
            calendar,
            start=min(local_date(t.opened_at), deadline.promised),
            due=deadline.promised,
            today=today,
            thresholds=thresholds,
        )
        for t in case.open_tasks
    }
    return CaseLights(
        case=case_light,
        tasks=tasks,
        workdays_left=calendar.workdays_between(today, deadline.promised),
        suspended=case.is_suspended,
    )
