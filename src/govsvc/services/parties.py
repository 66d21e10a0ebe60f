"""The parties service (一号): party records, the one-number profile, certificates, data use.

Every read of another party's personal data here is authorized with its purpose of use
(用证事由) and recorded in the access log in the same transaction as the read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa

from govsvc._text import check_text
from govsvc.adapters import CertificateRecord, Department
from govsvc.audit import DataUseEntry
from govsvc.cases import Case
from govsvc.errors import AdapterError, AdapterProtocolError, InvalidInput
from govsvc.identity import Party, PartyKey
from govsvc.policy import Action, Decision, Resource
from govsvc.profile import Profile, merge_profiles
from govsvc.services._base import Service
from govsvc.services.views import HolderCertificates
from govsvc.store import access as access_store
from govsvc.store import exchange as exchange_store
from govsvc.store import parties as store
from govsvc.store.tables import access_t, exchange_t
from govsvc.vocabulary import ensure_profile

__all__ = ["PartyService", "check_list_of", "key_of"]

T = TypeVar("T")


def key_of(number: str | PartyKey) -> PartyKey:
    """A party key from a key or a number (citizen ID or credit code)."""
    if isinstance(number, PartyKey):
        return number
    if not isinstance(number, str):
        raise InvalidInput(
            f"a party is named by a PartyKey or its number as text, got {type(number).__name__}"
        )
    return PartyKey.of(number)


class PartyService(Service):
    """Persons and organisations, and what departments hold about them."""

    def register(self, party: Party) -> Party:
        """Store or update a person or organisation, keyed by document type + number (一号)."""
        self._authorize(Action.PARTY_REGISTER, Resource.of_party(party.key))
        values = store.party_values(party, self._rt.now())
        with self._rt.write() as conn:
            store.upsert_party(conn, values)
        self._rt.parties_written.put((values["doc_type"], values["number"]), values["data"])
        return party

    def get(self, number: str | PartyKey, *, purpose: str | None = None) -> Party | None:
        """The registered person or organisation with this number, or None (a recorded read)."""
        key = key_of(number)
        resource = Resource.of_party(key, purpose=self._purpose(purpose))
        decision = self._authorize(Action.PARTY_READ, resource)
        with (
            self._rt.write()
            if self._session.reads_personal_data_of(resource)
            else (self._rt.read()) as conn
        ):
            found = store.load_party(conn, key)
            self._record_read(conn, Action.PARTY_READ, resource, decision)
        return found

    def _record_read(
        self, conn: sa.Connection, action: Action, resource: Resource, decision: Decision
    ) -> None:
        if self._session.reads_personal_data_of(resource):
            access_store.append(conn, [self._session.read_record(action, resource, decision)])

    def _fan_out(
        self, operation: str, key: PartyKey, *, purpose: str, case_id: str | None, check: Any
    ) -> list[tuple[Department, Any]]:
        principal = self.principal
        return self._rt.fan_out(
            self._rt.caller.offering(operation),
            operation,
            lambda d: (key,),
            requester=f"{principal.kind.value}:{principal.id}",
            on_behalf_of=str(key),
            purpose=purpose,
            case_id=case_id,
            check=check,
        )

    def identify(
        self,
        number: str | PartyKey,
        *,
        purpose: str | None = None,
        case: Case | str | None = None,
    ) -> Profile:
        """One-number profile (一数一源): ask every department that holds data, at once.

        The number is validated first (:class:`InvalidIdentifier` before any call). Each
        attribute carries its source department and time; where departments disagree, the
        attribute's authoritative department wins and the disagreement is reported. A
        department that is down or slow makes its attributes unavailable, never the call
        fail. Every department call is in the exchange log, and the read in the access log,
        with the purpose.
        """
        key = key_of(number)
        why = check_text(self._purpose(purpose), "purpose")
        if not why:
            raise InvalidInput("purpose must be given (用证事由 / purpose of use)")
        case_id = None
        if case is not None:
            # Tying the read to a case needs the right to see that case (given as object or
            # reference alike); its personal data is not returned here, so no read is recorded.
            target = self._session.cases.peek(case)
            self._authorize(Action.CASE_TRAIL, Resource.of_case(target, today=self._rt.today()))
            case_id = target.id
        resource = Resource.of_party(key, purpose=why)
        decision = self._authorize(Action.PARTY_IDENTIFY, resource)
        answers, failures = [], {}
        now = self._rt.now
        outcomes = self._fan_out(
            "profile",
            key,
            purpose=why,
            case_id=case_id,
            check=lambda v: (now(), _check_profile(v)),
        )
        for d, outcome in outcomes:
            if isinstance(outcome, AdapterError):
                failures[d.code] = str(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                answers.append((d.code, d.name, outcome[0], outcome[1]))
        self._log(Action.PARTY_IDENTIFY, attrs_resource(resource, case_id), decision)
        return merge_profiles(key, why, answers, failures, self._rt.authorities)

    def certificates(
        self, number: str | PartyKey, *, purpose: str | None = None
    ) -> HolderCertificates:
        """Licences and certificates every department issued to a holder (用证, recorded)."""
        key = key_of(number)
        why = check_text(self._purpose(purpose), "purpose")
        if not why:
            raise InvalidInput("purpose must be given (用证事由 / purpose of use)")
        resource = Resource.of_party(key, purpose=why)
        decision = self._authorize(Action.PARTY_CERTIFICATES, resource)
        found: list[CertificateRecord] = []
        failures: dict[str, str] = {}
        outcomes = self._fan_out(
            "certificates",
            key,
            purpose=why,
            case_id=None,
            check=check_list_of(CertificateRecord, "certificates"),
        )
        for d, outcome in outcomes:
            if isinstance(outcome, AdapterError):
                failures[d.code] = str(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                found.extend(outcome)
        self._log(Action.PARTY_CERTIFICATES, resource, decision)
        return HolderCertificates(key=key, records=tuple(found), unavailable=failures)

    def _log(self, action: Action, resource: Resource, decision: Decision) -> None:
        """The access record of one read of someone else's data (its exchanges with the
        departments are in the exchange log already, attempted before and settled after)."""
        if self._session.reads_personal_data_of(resource):
            self._rt.record_access([self._session.read_record(action, resource, decision)])

    def data_use(self, number: str | PartyKey, *, limit: int = 200) -> list[DataUseEntry]:
        """Every recorded use of a party's data, newest first (我的数据使用记录).

        Both who read it here (the access log: staff reads with their purpose) and what the
        platform asked departments about it (the exchange log).
        """
        key = key_of(number)
        self._authorize(Action.PARTY_DATA_USE, Resource.of_party(key))
        subject = str(key)
        names = {code: d.name for code, d in self._rt.departments.items()}
        with self._rt.read() as conn:
            reads = access_store.records(
                conn,
                [access_t.c.subject == subject, access_t.c.outcome == "read"],
                limit=limit,
            )
            calls = exchange_store.records(
                conn,
                [exchange_t.c.on_behalf_of == subject, exchange_store.one_per_call()],
                limit=limit,
            )
        entries = [
            DataUseEntry(
                at=r.at,
                source="access",
                who=r.actor.label,
                agency=r.actor.agency,
                action=r.action,
                purpose=r.purpose,
                case_id=r.case_id,
                outcome=r.outcome,
            )
            for r in reads
        ] + [
            DataUseEntry(
                at=c.at,
                source="exchange",
                who=names.get(c.department, c.department),
                agency=c.department,
                action=c.operation,
                purpose=c.purpose,
                case_id=c.case_id,
                outcome=c.outcome,
            )
            for c in calls
        ]
        entries.sort(key=lambda e: e.at, reverse=True)
        return entries[:limit]


def attrs_resource(resource: Resource, case_id: str | None) -> Resource:
    return attrs.evolve(resource, case_id=case_id) if case_id else resource


def _check_profile(value: Any) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise AdapterProtocolError(
            f"profile must return a mapping of attributes or None, got {type(value).__name__}"
        )
    for k in value:
        if not isinstance(k, str):
            raise AdapterProtocolError("attribute names must be strings", path=f"$[{k!r}]")
    # Known attributes in their canonical form (sex "male", birth_date "1985-03-12", …),
    # checked on every answer, not only by the contract suite: a department answering
    # "男" or "19850312" would otherwise win merges with values nobody else can compare.
    return ensure_profile(value)


def check_list_of(kind: type[T], operation: str) -> Callable[[Any], list[T]]:
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
