"""The certificate aggregate (电子证照): an immutable value and its pure transitions.

A :class:`Certificate` carries the metadata of GB/T 36903 (name, type, defining agency,
printed number, issuer, issue date, validity, holder, jurisdiction, face fields, status)
plus where its status lives in the issuer's status lists and which case issued it. Every
transition is a method returning a :class:`CertificateStep` — the new certificate and the
:class:`CertificateEvent` recording it — or raising :class:`~govsvc.errors.InvalidTransition`
naming the moves allowed in the current state. Nothing here stores or signs anything::

    valid ─suspend─▶ suspended ─resume─▶ valid
      │                  │
      ├──revoke / cancel─┴──▶ revoked / cancelled          (closed)
      ├──expire (after valid_until)──▶ expired ─cancel / revoke─▶ …
      └──reissue (换发/补发)──▶ cancelled, superseded by version + 1   (valid and expired ones)
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs

from govsvc.catalogue import Agency
from govsvc.errors import InvalidInput, InvalidTransition
from govsvc.identity import DocumentType, PartyKey
from govsvc.principals import Actor

from ._identifier import CertificateId
from ._types import CertificateType, ValidityKind

__all__ = [
    "BY_RULE",
    "CHINA",
    "Certificate",
    "CertificateEvent",
    "CertificateEventKind",
    "CertificateStatus",
    "CertificateStep",
    "Reissue",
    "ReissueKind",
    "local_date",
]

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
"""China Standard Time: certificate dates are days on China's calendar, not the server's."""


def local_date(moment: dt.datetime) -> dt.date:
    """The calendar date in China of an aware datetime."""
    if moment.tzinfo is None:
        raise InvalidInput(
            f"datetime {moment.isoformat()} has no time zone; use an aware datetime "
            f"(e.g. datetime.now(datetime.UTC))"
        )
    return moment.astimezone(CHINA).date()


class _Rule(enum.Enum):
    BY_RULE = "by_rule"


BY_RULE: Final = _Rule.BY_RULE
"""Default ``valid_until``: the end date the certificate type's validity rule gives."""


class CertificateStatus(enum.Enum):
    """Where a certificate stands (证照状态)."""

    VALID = "valid"  # 有效
    SUSPENDED = "suspended"  # 暂停 (e.g. 暂扣): may resume
    REVOKED = "revoked"  # 吊销/撤销: withdrawn by the authority, final
    CANCELLED = "cancelled"  # 注销 (also when superseded by a re-issue), final
    EXPIRED = "expired"  # 已过期: past valid_until

    @property
    def label(self) -> str:
        """The Chinese name of the status, for display."""
        return _STATUS_LABELS[self]

    @property
    def is_final(self) -> bool:
        """True for revoked and cancelled: nothing more can happen to the certificate."""
        return self in (CertificateStatus.REVOKED, CertificateStatus.CANCELLED)


_STATUS_LABELS = {
    CertificateStatus.VALID: "有效",
    CertificateStatus.SUSPENDED: "暂停",
    CertificateStatus.REVOKED: "已吊销",
    CertificateStatus.CANCELLED: "已注销",
    CertificateStatus.EXPIRED: "已过期",
}

# Which command may run in which state; InvalidTransition lists these.
_ALLOWED: dict[CertificateStatus, frozenset[str]] = {
    CertificateStatus.VALID: frozenset({"suspend", "revoke", "cancel", "expire", "reissue"}),
    CertificateStatus.SUSPENDED: frozenset({"resume", "revoke", "cancel", "expire"}),
    CertificateStatus.EXPIRED: frozenset({"revoke", "cancel", "reissue"}),
    CertificateStatus.REVOKED: frozenset(),
    CertificateStatus.CANCELLED: frozenset(),
}


class CertificateEventKind(enum.Enum):
    """What happened to a certificate."""

    ISSUED = "issued"  # 签发 (data says whether it re-issues a predecessor)
    SUSPENDED = "suspended"  # 暂停
    RESUMED = "resumed"  # 恢复
    REVOKED = "revoked"  # 吊销/撤销
    CANCELLED = "cancelled"  # 注销
    EXPIRED = "expired"  # 过期
    SUPERSEDED = "superseded"  # 因换发/补发而注销
    REMINDED = "reminded"  # 到期提醒 (no change of status: the holder was told it ends soon)

    @property
    def label(self) -> str:
        return _EVENT_LABELS[self]


_EVENT_LABELS = {
    CertificateEventKind.ISSUED: "签发",
    CertificateEventKind.SUSPENDED: "暂停",
    CertificateEventKind.RESUMED: "恢复",
    CertificateEventKind.REVOKED: "吊销",
    CertificateEventKind.CANCELLED: "注销",
    CertificateEventKind.EXPIRED: "过期",
    CertificateEventKind.SUPERSEDED: "换发/补发后注销",
    CertificateEventKind.REMINDED: "到期提醒",
}


class ReissueKind(enum.Enum):
    """Why a certificate is issued again with the next version."""

    RENEWAL = "renewal"  # 换发: changed particulars or a new validity period
    REPLACEMENT = "replacement"  # 补发: lost or damaged; same particulars

    @property
    def label(self) -> str:
        return "换发" if self is ReissueKind.RENEWAL else "补发"


def _aware(_instance: object, attribute: attrs.Attribute[Any], value: dt.datetime) -> None:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise InvalidInput(f"{attribute.name} must be an aware datetime, got {value!r}")


@attrs.frozen(kw_only=True)
class CertificateEvent:
    """One entry of a certificate's trail. ``seq`` is the certificate version it produced."""

    certificate_id: CertificateId
    seq: int
    kind: CertificateEventKind
    at: dt.datetime = attrs.field(validator=_aware)
    actor: Actor
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class CertificateStep:
    """What a transition produced: the new certificate and its event.

    Unpacks as a pair: ``certificate, event = cert.suspend(...)``.
    """

    certificate: Certificate
    event: CertificateEvent

    def __iter__(self) -> Iterator[Any]:
        return iter((self.certificate, self.event))


@attrs.frozen
class Reissue:
    """A re-issue (换发/补发): the superseded predecessor's step and the new certificate's."""

    superseded: CertificateStep
    issued: CertificateStep


def _text(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _required(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"{type(instance).__name__}.{attribute.name} must be non-empty text, got {value!r}"
        )


def _division(_instance: object, _attribute: object, value: str) -> None:
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    if not digits or len(value) not in (6, 9, 12):
        raise InvalidInput(
            f"jurisdiction {value!r} should be a 6-, 9- or 12-digit division code "
            f"(行政区划代码, e.g. 230103)"
        )


def _index(_instance: object, _attribute: object, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise InvalidInput(f"a status list index is a whole number ≥ 0, got {value!r}")


@attrs.frozen(kw_only=True)
class Certificate:
    """An e-certificate (电子证照) and its metadata (GB/T 36903).

    Build one with :meth:`issue`. ``valid_until`` None means long-term (长期); it is the
    last valid day, inclusive. ``holder`` is the holder's document type (111 居民身份证,
    001 统一社会信用代码, …) and number. ``status_list`` and ``status_index`` say where the
    certificate's revocation and suspension bits live in the issuer's status lists.
    """

    id: CertificateId
    name: str = attrs.field(converter=_text, validator=_required)
    type_code: str
    type_name: str
    vc_type: str
    defining_agency: Agency
    number: str = attrs.field(converter=_text, validator=_required)  # 证照编号 (printed)
    issuer: Agency
    issued_on: dt.date
    valid_from: dt.date
    valid_until: dt.date | None
    holder_name: str = attrs.field(converter=_text, validator=_required)
    holder: PartyKey
    division: str = attrs.field(validator=_division)
    face: Mapping[str, Any] = attrs.field(factory=dict)
    status: CertificateStatus = CertificateStatus.VALID
    status_reason: str = ""
    status_list: int = 0
    status_index: int | None = attrs.field(default=None, validator=_index)
    predecessor: CertificateId | None = None
    superseded_by: CertificateId | None = None
    case_id: str | None = None
    seq: int = 1
    reminded_for: dt.date | None = None  # the end date a renewal reminder was sent for

    def __attrs_post_init__(self) -> None:
        if self.id.type_code != self.type_code:
            raise InvalidInput(
                f"certificate {self.id}: its identifier's type code is not {self.type_code}"
            )
        if self.id.issuer != self.issuer.credit_code:
            raise InvalidInput(
                f"certificate {self.id} is issued by {self.issuer.name} "
                f"({self.issuer.credit_code}), but its identifier names issuer {self.id.issuer}"
            )
        if self.defining_agency.credit_code != self.type_code[:18]:
            raise InvalidInput(
                f"certificate {self.id}: the defining agency's credit code must start the "
                f"type code {self.type_code}"
            )
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise InvalidInput(
                f"certificate {self.number}: valid_until {self.valid_until} is before "
                f"valid_from {self.valid_from}"
            )
        if self.predecessor is not None and not (
            self.predecessor.same_certificate(self.id)
            and self.predecessor.version_number < self.id.version_number
        ):
            raise InvalidInput(
                f"certificate {self.id}: predecessor {self.predecessor} must be an earlier "
                f"version of the same certificate"
            )

    # --- issue ---------------------------------------------------------------------------

    @classmethod
    def issue(
        cls,
        ctype: CertificateType,
        *,
        serial: str,
        issuer: Agency,
        number: str,
        holder_name: str,
        holder: PartyKey,
        division: str,
        face: Mapping[str, Any],
        at: dt.datetime,
        actor: Actor,
        status_index: int,
        status_list: int = 0,
        issued_on: dt.date | None = None,
        valid_from: dt.date | None = None,
        valid_until: dt.date | _Rule | None = BY_RULE,
        case_id: str | None = None,
        name: str | None = None,
        version: int = 1,
        predecessor: CertificateId | None = None,
    ) -> CertificateStep:
        """Issue a certificate of ``ctype`` (签发): version 1 unless re-issuing.

        ``face`` is checked against the type (every problem named at once). ``issued_on``
        defaults to the day of ``at`` in China and ``valid_from`` to ``issued_on``.
        ``valid_until`` defaults to what the type's validity rule gives (长期 gives None);
        a type whose validity the issuer sets needs it explicitly (None for 长期).
        ``status_index`` is the index the status list allocator handed out.
        """
        checked_face = ctype.check_face(face)
        day = issued_on or local_date(at)
        start = valid_from or day
        if isinstance(valid_until, _Rule):
            until = ctype.validity.until(start)
        else:
            if valid_until is not None and ctype.validity.kind is ValidityKind.LONG_TERM:
                raise InvalidInput(
                    f"{ctype.name} is valid long-term (长期); do not give valid_until"
                )
            until = valid_until
        _check_holder_kind(ctype, holder)
        cid = CertificateId.new(ctype.code, issuer.credit_code, serial, version)
        certificate = cls(
            id=cid,
            name=name or ctype.name,
            type_code=ctype.code,
            type_name=ctype.name,
            vc_type=ctype.vc_type,
            defining_agency=ctype.defining_agency,
            number=number,
            issuer=issuer,
            issued_on=day,
            valid_from=start,
            valid_until=until,
            holder_name=holder_name,
            holder=holder,
            division=division,
            face=checked_face,
            status_list=status_list,
            status_index=status_index,
            predecessor=predecessor,
            case_id=case_id,
        )
        data: dict[str, Any] = {"number": certificate.number, "case_id": case_id}
        if predecessor is not None:
            data["predecessor"] = str(predecessor)
        event = CertificateEvent(
            certificate_id=cid,
            seq=1,
            kind=CertificateEventKind.ISSUED,
            at=at,
            actor=actor,
            data=data,
        )
        return CertificateStep(certificate, event)

    # --- transitions ---------------------------------------------------------------------

    def allowed_commands(self) -> frozenset[str]:
        """The transitions allowed in the current status (for user interfaces)."""
        return _ALLOWED[self.status]

    def _require(self, command: str) -> None:
        if command not in _ALLOWED[self.status]:
            raise InvalidTransition(
                self.status.value, command, _ALLOWED[self.status], what="certificate"
            )

    def _step(
        self,
        kind: CertificateEventKind,
        at: dt.datetime,
        actor: Actor,
        data: Mapping[str, Any],
        **changes: Any,
    ) -> CertificateStep:
        seq = self.seq + 1
        certificate = attrs.evolve(self, seq=seq, **changes)
        event = CertificateEvent(
            certificate_id=self.id, seq=seq, kind=kind, at=at, actor=actor, data=dict(data)
        )
        return CertificateStep(certificate, event)

    def suspend(self, *, reason: str, at: dt.datetime, actor: Actor) -> CertificateStep:
        """Suspend the certificate (暂停, e.g. 暂扣许可证); :meth:`resume` undoes it."""
        self._require("suspend")
        reason = _reason(reason, "suspend")
        return self._step(
            CertificateEventKind.SUSPENDED,
            at,
            actor,
            {"reason": reason},
            status=CertificateStatus.SUSPENDED,
            status_reason=reason,
        )

    def resume(self, *, at: dt.datetime, actor: Actor, note: str = "") -> CertificateStep:
        """End a suspension: the certificate is valid again.

        If its end date passed meanwhile, :meth:`expire` it next (the expiry sweep does).
        """
        self._require("resume")
        return self._step(
            CertificateEventKind.RESUMED,
            at,
            actor,
            {"note": note.strip()},
            status=CertificateStatus.VALID,
            status_reason="",
        )

    def revoke(self, *, reason: str, at: dt.datetime, actor: Actor) -> CertificateStep:
        """Revoke the certificate (吊销/撤销): final; the reason is recorded and shown."""
        self._require("revoke")
        reason = _reason(reason, "revoke")
        return self._step(
            CertificateEventKind.REVOKED,
            at,
            actor,
            {"reason": reason},
            status=CertificateStatus.REVOKED,
            status_reason=reason,
        )

    def cancel(self, *, reason: str, at: dt.datetime, actor: Actor) -> CertificateStep:
        """Cancel the certificate (注销, e.g. the enterprise closed): final."""
        self._require("cancel")
        reason = _reason(reason, "cancel")
        return self._step(
            CertificateEventKind.CANCELLED,
            at,
            actor,
            {"reason": reason},
            status=CertificateStatus.CANCELLED,
            status_reason=reason,
        )

    def expire(self, *, at: dt.datetime, actor: Actor) -> CertificateStep:
        """Record that the validity period ended (the day after ``valid_until`` in China)."""
        self._require("expire")
        day = local_date(at)
        if not self.expired_on(day):
            until = "long-term (长期)" if self.valid_until is None else f"until {self.valid_until}"
            raise InvalidInput(
                f"certificate {self.number} is valid {until}; it cannot expire on {day}"
            )
        return self._step(
            CertificateEventKind.EXPIRED,
            at,
            actor,
            {"valid_until": str(self.valid_until)},
            status=CertificateStatus.EXPIRED,
            status_reason="",
        )

    def reissue(
        self,
        kind: ReissueKind,
        ctype: CertificateType,
        *,
        at: dt.datetime,
        actor: Actor,
        status_index: int,
        status_list: int | None = None,
        reason: str = "",
        number: str | None = None,
        face: Mapping[str, Any] | None = None,
        holder_name: str | None = None,
        valid_from: dt.date | None = None,
        valid_until: dt.date | _Rule | None = BY_RULE,
        case_id: str | None = None,
    ) -> Reissue:
        """Re-issue (换发/补发): a new certificate with the next identifier version.

        The new one links this one as its predecessor; this one becomes cancelled and
        names its successor. A replacement (补发) keeps the face, number and validity unless
        given; a renewal (换发) starts a new validity period from ``valid_from`` (default:
        the day of ``at``) by the type's rule unless ``valid_until`` is given. The new
        certificate needs its own status list index (``status_index``).
        """
        self._require("reissue")
        if ctype.code != self.type_code:
            raise InvalidInput(
                f"certificate {self.id} is a {self.type_name} ({self.type_code}); re-issue it "
                f"with that type, not {ctype.code}"
            )
        new_id = self.id.next_version()
        if kind is ReissueKind.REPLACEMENT:
            start = valid_from or self.valid_from
            until: dt.date | _Rule | None = (
                self.valid_until if isinstance(valid_until, _Rule) else valid_until
            )
        else:
            start = valid_from or local_date(at)
            until = valid_until
        issued = Certificate.issue(
            ctype,
            serial=self.id.serial,
            issuer=self.issuer,
            number=number or self.number,
            holder_name=holder_name or self.holder_name,
            holder=self.holder,
            division=self.division,
            face=dict(self.face) if face is None else face,
            at=at,
            actor=actor,
            status_index=status_index,
            status_list=self.status_list if status_list is None else status_list,
            valid_from=start,
            valid_until=until,
            case_id=case_id,
            name=self.name,
            version=new_id.version_number,
            predecessor=self.id,
        )
        issued = attrs.evolve(
            issued,
            event=attrs.evolve(issued.event, data={**issued.event.data, "reissue": kind.value}),
        )
        old = self._step(
            CertificateEventKind.SUPERSEDED,
            at,
            actor,
            {"reissue": kind.value, "successor": str(new_id), "reason": reason.strip()},
            status=CertificateStatus.CANCELLED,
            status_reason=reason.strip() or f"{kind.label}：由 {new_id} 取代",
            superseded_by=new_id,
        )
        return Reissue(superseded=old, issued=issued)

    # --- expiry --------------------------------------------------------------------------

    @property
    def long_term(self) -> bool:
        """True for a long-term certificate (长期): no end date."""
        return self.valid_until is None

    def expired_on(self, day: dt.date) -> bool:
        """True if ``day`` is after the last valid day."""
        return self.valid_until is not None and day > self.valid_until

    def reminder_due(self, day: dt.date, days_before: int = 30) -> bool:
        """True if a renewal reminder (到期提醒) is due on ``day``.

        That is: the certificate is valid or suspended, has an end date, and ``day`` falls
        within the ``days_before`` days up to and including that end date.
        """
        if self.valid_until is None or self.status not in (
            CertificateStatus.VALID,
            CertificateStatus.SUSPENDED,
        ):
            return False
        return self.valid_until - dt.timedelta(days=days_before) <= day <= self.valid_until

    def remind(self, *, at: dt.datetime, actor: Actor, days_before: int = 30) -> CertificateStep:
        """Record a renewal reminder (到期提醒, 主动服务) for the current end date: once per
        end date, only when :meth:`reminder_due` on the day of ``at``. The status is unchanged;
        listeners of the event (SMS, the portal) tell the holder."""
        day = local_date(at)
        if not self.reminder_due(day, days_before):
            until = "long-term (长期)" if self.valid_until is None else f"until {self.valid_until}"
            raise InvalidInput(
                f"certificate {self.number} ({self.status.value}, valid {until}) needs no "
                f"reminder on {day}: reminders go out in the {days_before} days before the end"
            )
        if self.reminded_for == self.valid_until:
            raise InvalidInput(
                f"certificate {self.number}: the holder was already reminded that it ends on "
                f"{self.valid_until}"
            )
        assert self.valid_until is not None  # reminder_due says so
        return self._step(
            CertificateEventKind.REMINDED,
            at,
            actor,
            {
                "valid_until": self.valid_until.isoformat(),
                "days_left": (self.valid_until - day).days,
            },
            reminded_for=self.valid_until,
        )

    # --- status list bits ----------------------------------------------------------------

    @property
    def revoked_bit(self) -> bool:
        """The bit this certificate needs in the revocation list: set once revoked or
        cancelled (including superseded by a re-issue)."""
        return self.status.is_final

    @property
    def suspended_bit(self) -> bool:
        """The bit this certificate needs in the suspension list: set while suspended."""
        return self.status is CertificateStatus.SUSPENDED

    @property
    def holder_code_type(self) -> DocumentType:
        """The holder's document type (持证主体代码类型)."""
        return self.holder.doc_type


def _reason(text: str, command: str) -> str:
    reason = text.strip() if isinstance(text, str) else ""
    if not reason:
        raise InvalidInput(
            f"give the reason to {command} the certificate (it is recorded and shown to "
            f"anyone who verifies it)"
        )
    return reason


def _check_holder_kind(ctype: CertificateType, holder: PartyKey) -> None:
    if ctype.holder_kind == "person" and holder.is_organisation:
        raise InvalidInput(
            f"a {ctype.name} is held by a person; {holder.masked()} is an organisation's key"
        )
    if ctype.holder_kind == "organisation" and not holder.is_organisation:
        raise InvalidInput(
            f"a {ctype.name} is held by an organisation (统一社会信用代码); "
            f"{holder.masked()} is a person's key"
        )
