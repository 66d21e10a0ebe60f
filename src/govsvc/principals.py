"""Who acts (主体): principals, how they were authenticated, agents and mandates.

Every command and query of the platform runs in a :class:`~govsvc.Session` bound to one
:class:`Principal`: a citizen, a company's agent (经办人), a window clerk, a department's
reviewer or approver, a supervisor, an administrator, a department's own system calling back,
a channel application (mobile app, kiosk, 12345 hotline), or the platform itself doing
background work. A principal is a frozen value made by a named constructor per kind::

    clerk = Principal.clerk("c-0301", "王芳", agency=SAMR, serves=[SAMR, HEALTH],
                            hall="道里区政务服务中心", auth=Authentication(provider="hall-sso"))

The SDK does not authenticate anyone: the integrator (the reference host's login, a Django
portal, a hall system) authenticates the person and builds the principal; the SDK decides,
in one policy, what that principal may do (:mod:`govsvc.policy`). A principal without
:attr:`Principal.auth` is refused everything but the public catalogue.

Agents (经办人 / 代办): an organisation applies through a person (:meth:`Principal.agent`,
acting for the organisation's credit code); a person may apply for another person with a
written mandate (委托书, :class:`Mandate`), checked when the application is made. The case
records both the applicant and the agent.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any

import attrs

from govsvc._text import check_text
from govsvc.errors import InvalidInput
from govsvc.identity import CreditCode, PartyKey
from govsvc.masking import mask_name

__all__ = [
    "STAFF_KINDS",
    "Actor",
    "Assurance",
    "Authentication",
    "Mandate",
    "Principal",
    "PrincipalKind",
    "StaffRecord",
]


class PrincipalKind(enum.Enum):
    """What kind of actor a principal is; the policy's rules are written per kind."""

    APPLICANT = "applicant"  # 申请人 (a natural person acting for themselves or by mandate)
    AGENT = "agent"  # 经办人: a person acting for an organisation (法人)
    CLERK = "clerk"  # 窗口工作人员 of a hall (一窗受理)
    REVIEWER = "reviewer"  # 审查人员 of a department
    APPROVER = "approver"  # 审批负责人 (department leader: approves extensions)
    SUPERVISOR = "supervisor"  # 电子监察 of a division
    CATALOGUE_ADMIN = "catalogue_admin"  # 事项管理员 of an agency
    SYSTEM_ADMIN = "system_admin"  # 系统管理员 (operations; no case data)
    DEPARTMENT_SYSTEM = "department_system"  # a department's legacy system calling back
    CHANNEL = "channel"  # 渠道应用: mobile app, self-service kiosk, 12345 hotline
    PLATFORM = "platform"  # the platform's own background work
    PUBLIC = "public"  # an anonymous visitor: the published catalogue only
    UNKNOWN = "unknown"  # not recognised (e.g. trail entries written before principals): denied

    @property
    def label(self) -> str:
        """The Chinese name of the role, e.g. 窗口工作人员."""
        return _KIND_LABELS[self]

    @property
    def is_staff(self) -> bool:
        """True for government staff (their ids are masked in an applicant's trail)."""
        return self in _STAFF

    @property
    def is_applicant_side(self) -> bool:
        """True for the citizen or business side (applicants and agents)."""
        return self in (PrincipalKind.APPLICANT, PrincipalKind.AGENT)


_KIND_LABELS = {
    PrincipalKind.APPLICANT: "申请人",
    PrincipalKind.AGENT: "经办人",
    PrincipalKind.CLERK: "窗口工作人员",
    PrincipalKind.REVIEWER: "审查人员",
    PrincipalKind.APPROVER: "审批负责人",
    PrincipalKind.SUPERVISOR: "电子监察人员",
    PrincipalKind.CATALOGUE_ADMIN: "事项管理员",
    PrincipalKind.SYSTEM_ADMIN: "系统管理员",
    PrincipalKind.DEPARTMENT_SYSTEM: "部门业务系统",
    PrincipalKind.CHANNEL: "渠道应用",
    PrincipalKind.PLATFORM: "政务服务平台",
    PrincipalKind.PUBLIC: "访客",
    PrincipalKind.UNKNOWN: "未知",
}
_STAFF = frozenset(
    {
        PrincipalKind.CLERK,
        PrincipalKind.REVIEWER,
        PrincipalKind.APPROVER,
        PrincipalKind.SUPERVISOR,
        PrincipalKind.CATALOGUE_ADMIN,
        PrincipalKind.SYSTEM_ADMIN,
    }
)


class Assurance(enum.IntEnum):
    """Level of assurance of a login (实名认证等级), lowest to highest.

    The national platform's levels: L1 registered account, L2 real name checked against the
    population database (实名核验), L3 real person checked by face or bank card (实人认证),
    L4 checked in person at a window.
    """

    L1 = 1
    L2 = 2
    L3 = 3
    L4 = 4

    @property
    def label(self) -> str:
        return _ASSURANCE_LABELS[self]


_ASSURANCE_LABELS = {
    Assurance.L1: "注册用户",
    Assurance.L2: "实名核验",
    Assurance.L3: "实人认证",
    Assurance.L4: "现场核验",
}


@attrs.frozen(kw_only=True)
class Authentication:
    """How a principal was authenticated: by which provider, at which level, when."""

    provider: str = attrs.field()
    assurance: Assurance = attrs.field(default=Assurance.L2, converter=Assurance)
    subject: str = ""  # the provider's own id for the account (OIDC ``sub``)
    at: dt.datetime | None = None

    @provider.validator
    def _check_provider(self, _: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("an Authentication needs the identity provider's name")


def _text(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _required(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"{type(instance).__name__}.{attribute.name} must be non-empty text, got {value!r}"
        )
    check_text(value, f"{type(instance).__name__}.{attribute.name}")


def _credit(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"an agency or department is its credit code (text), got {value!r}")
    return CreditCode.parse(value).number


def _credits(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise InvalidInput(f"give a list of credit codes, not the single string {values!r}")
    found: list[str] = []
    for v in values:
        code = _credit(v)
        if code is not None and code not in found:
            found.append(code)
    return tuple(found)


def _division(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not (text.isdigit() and len(text) in (6, 9, 12)):
        raise InvalidInput(
            f"division {value!r} should be a 6-, 9- or 12-digit division code (e.g. 230100)"
        )
    return text


def _scopes(values: Iterable[Any]) -> frozenset[str]:
    if isinstance(values, str):
        raise InvalidInput(f"give a list of actions, not the single string {values!r}")
    return frozenset(getattr(v, "value", v) for v in values)


@attrs.frozen(kw_only=True)
class Actor:
    """Who did something, as the trail and the logs record it (not a free-text string).

    ``agency`` is the credit code of the agency or department the actor belongs to.
    """

    kind: PrincipalKind
    id: str
    name: str
    agency: str | None = None

    def masked(self) -> Actor:
        """The actor as an applicant sees it in a trail: staff without their staff id and
        with the name masked (窗口工作人员 王*), as a hall's printed receipts show them."""
        if not self.kind.is_staff:
            return self
        return attrs.evolve(self, id="", name=mask_name(self.name))

    @property
    def label(self) -> str:
        """Role and name for display, e.g. ``审查人员 王芳``."""
        return f"{self.kind.label} {self.name}".strip()

    def __str__(self) -> str:
        return self.name


@attrs.frozen(kw_only=True)
class Principal:
    """An authenticated actor: who they are, whom they act for, where they work.

    Build one with the named constructor of its kind (:meth:`applicant`, :meth:`agent`,
    :meth:`clerk`, :meth:`reviewer`, :meth:`approver`, :meth:`supervisor`,
    :meth:`catalogue_admin`, :meth:`system_admin`, :meth:`department_system`,
    :meth:`channel`, :meth:`platform`, :meth:`public`). Fields:

    * ``party`` — the person this principal is (applicants and agents; their 一号);
    * ``acting_for`` — the organisation an agent acts for (its credit code key);
    * ``agency`` — the credit code of the agency or department the principal belongs to;
    * ``serves`` — the agencies a clerk's hall accepts applications for (一窗受理);
    * ``hall`` and ``division`` — the hall and the division (行政区划) served;
    * ``scopes`` — the actions a channel application was granted;
    * ``auth`` — how the principal was authenticated (None: not authenticated).
    """

    kind: PrincipalKind
    id: str = attrs.field(converter=_text, validator=_required)
    name: str = attrs.field(converter=_text, validator=_required)
    party: PartyKey | None = None
    acting_for: PartyKey | None = None
    agency: str | None = attrs.field(default=None, converter=_credit)
    serves: tuple[str, ...] = attrs.field(default=(), converter=_credits)
    hall: str = ""
    division: str | None = attrs.field(default=None, converter=_division)
    scopes: frozenset[str] = attrs.field(default=frozenset(), converter=_scopes)
    auth: Authentication | None = None

    def __attrs_post_init__(self) -> None:
        problem = _shape_problem(self)
        if problem:
            raise InvalidInput(f"a {self.kind.value} principal {problem}")

    # --- named constructors ------------------------------------------------------------------

    @classmethod
    def applicant(
        cls, person: PartyKey, name: str, *, auth: Authentication | None, id: str | None = None
    ) -> Principal:
        """A person acting for themselves (or for another with a :class:`Mandate`)."""
        return cls(
            kind=PrincipalKind.APPLICANT, id=id or str(person), name=name, party=person, auth=auth
        )

    @classmethod
    def agent(
        cls,
        person: PartyKey,
        name: str,
        *,
        organisation: PartyKey | str,
        auth: Authentication | None,
        id: str | None = None,
    ) -> Principal:
        """A person acting for an organisation (经办人; e.g. its legal representative)."""
        org = organisation if isinstance(organisation, PartyKey) else PartyKey.of(organisation)
        return cls(
            kind=PrincipalKind.AGENT,
            id=id or str(person),
            name=name,
            party=person,
            acting_for=org,
            auth=auth,
        )

    @classmethod
    def clerk(
        cls,
        id: str,
        name: str,
        *,
        agency: str,
        serves: Iterable[str] = (),
        hall: str = "",
        division: str | None = None,
        auth: Authentication | None,
    ) -> Principal:
        """A window clerk of a hall that accepts applications for ``serves`` (and ``agency``)."""
        return cls(
            kind=PrincipalKind.CLERK,
            id=id,
            name=name,
            agency=agency,
            serves=(agency, *serves),
            hall=hall,
            division=division,
            auth=auth,
        )

    @classmethod
    def reviewer(
        cls, id: str, name: str, *, department: str, auth: Authentication | None
    ) -> Principal:
        """A department's reviewer: decides its department's review tasks."""
        return cls(kind=PrincipalKind.REVIEWER, id=id, name=name, agency=department, auth=auth)

    @classmethod
    def approver(
        cls, id: str, name: str, *, department: str, auth: Authentication | None
    ) -> Principal:
        """A department's approver or leader: also approves extensions (延期)."""
        return cls(kind=PrincipalKind.APPROVER, id=id, name=name, agency=department, auth=auth)

    @classmethod
    def supervisor(
        cls,
        id: str,
        name: str,
        *,
        division: str,
        agency: str | None = None,
        auth: Authentication | None,
    ) -> Principal:
        """A supervisor (电子监察): reads everything in ``division``, changes nothing."""
        return cls(
            kind=PrincipalKind.SUPERVISOR,
            id=id,
            name=name,
            division=division,
            agency=agency,
            auth=auth,
        )

    @classmethod
    def catalogue_admin(
        cls, id: str, name: str, *, agency: str, auth: Authentication | None
    ) -> Principal:
        """An agency's catalogue administrator: publishes the agency's service items."""
        return cls(kind=PrincipalKind.CATALOGUE_ADMIN, id=id, name=name, agency=agency, auth=auth)

    @classmethod
    def system_admin(cls, id: str, name: str, *, auth: Authentication | None) -> Principal:
        """An operator: calendars, department health, logs; never case or personal data."""
        return cls(kind=PrincipalKind.SYSTEM_ADMIN, id=id, name=name, auth=auth)

    @classmethod
    def department_system(
        cls, department: str, name: str, *, auth: Authentication | None
    ) -> Principal:
        """A department's own system (e.g. pushing decisions to a callback endpoint)."""
        code = _credit(department)
        return cls(
            kind=PrincipalKind.DEPARTMENT_SYSTEM,
            id=f"system:{code}",
            name=name,
            agency=code,
            auth=auth,
        )

    @classmethod
    def channel(
        cls, id: str, name: str, *, scopes: Iterable[Any], auth: Authentication | None
    ) -> Principal:
        """A channel application (移动端, 自助终端, 12345 热线) granted ``scopes`` (actions)."""
        return cls(kind=PrincipalKind.CHANNEL, id=id, name=name, scopes=scopes, auth=auth)

    @classmethod
    def platform(cls) -> Principal:
        """The platform itself, for background work (workers, recomputes, polling)."""
        return _PLATFORM

    @classmethod
    def public(cls) -> Principal:
        """An anonymous visitor: reads the published catalogue, nothing else."""
        return _PUBLIC

    # --- derived -----------------------------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        """True when the principal carries how it was authenticated (or is the platform)."""
        return self.auth is not None or self.kind is PrincipalKind.PLATFORM

    @property
    def actor(self) -> Actor:
        """The principal as events and logs record it."""
        return Actor(kind=self.kind, id=self.id, name=self.name, agency=self.agency)

    def acts_for(self, key: PartyKey) -> bool:
        """True if the principal is this party, or an agent acting for it."""
        return key == self.party or (key == self.acting_for and self.acting_for is not None)

    def __str__(self) -> str:
        return f"{self.kind.label} {self.name} ({self.id})"


def _shape_problem(p: Principal) -> str | None:
    kind = p.kind
    if kind in (PrincipalKind.APPLICANT, PrincipalKind.AGENT):
        if p.party is None:
            return "needs the party it is (its PartyKey)"
        if p.party.is_organisation:
            return (
                f"is a person, but its key {p.party.masked()} is an organisation's; an "
                "organisation acts through an agent (Principal.agent)"
            )
    if kind is PrincipalKind.AGENT and (p.acting_for is None or not p.acting_for.is_organisation):
        return "needs the organisation it acts for (its credit code)"
    if kind is PrincipalKind.APPLICANT and p.acting_for is not None:
        return "acts for another party only with a Mandate given at apply time"
    needs_agency = (
        PrincipalKind.CLERK,
        PrincipalKind.REVIEWER,
        PrincipalKind.APPROVER,
        PrincipalKind.CATALOGUE_ADMIN,
        PrincipalKind.DEPARTMENT_SYSTEM,
    )
    if kind in needs_agency and p.agency is None:
        return "needs the credit code of its agency or department"
    if kind is PrincipalKind.SUPERVISOR and p.division is None:
        return "needs the division (行政区划代码) it supervises"
    if p.scopes and kind is not PrincipalKind.CHANNEL:
        return "cannot hold scopes; only channel applications are granted scopes"
    return None


_PLATFORM = Principal(kind=PrincipalKind.PLATFORM, id="platform", name="政务服务平台")
_PUBLIC = Principal(kind=PrincipalKind.PUBLIC, id="public", name="访客")


@attrs.frozen(kw_only=True)
class Mandate:
    """A written authorisation (委托书): ``agent`` may apply for ``grantor``.

    ``items`` lists the implementation codes (实施编码) it covers; empty means every item.
    It is checked when the application is made; the case records it, and the agent keeps
    acting on that case while the mandate is valid.
    """

    id: str = attrs.field(converter=_text, validator=_required)
    agent: PartyKey
    grantor: PartyKey
    valid_from: dt.date
    valid_until: dt.date
    items: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    document: str = ""  # the signed document: a digest, a file reference or an e-certificate

    def __attrs_post_init__(self) -> None:
        if self.valid_until < self.valid_from:
            raise InvalidInput(
                f"mandate {self.id}: valid_until {self.valid_until} is before valid_from "
                f"{self.valid_from}"
            )
        if self.agent == self.grantor:
            raise InvalidInput(f"mandate {self.id}: a party cannot give a mandate to itself")

    def problem(self, *, agent: PartyKey, grantor: PartyKey, item_code: str, on: dt.date) -> str:
        """Why this mandate does not cover the application, or "" when it does."""
        if agent != self.agent:
            return f"mandate {self.id} was given to {self.agent.masked()}, not to this agent"
        if grantor != self.grantor:
            return f"mandate {self.id} is for {self.grantor.masked()}, not for this applicant"
        if on < self.valid_from:
            return f"mandate {self.id} is valid only from {self.valid_from}"
        if on > self.valid_until:
            return f"mandate {self.id} expired on {self.valid_until}; ask for a new 委托书"
        if self.items and item_code not in self.items:
            covered = ", ".join(self.items)
            return f"mandate {self.id} does not cover item {item_code}; it covers {covered}"
        return ""


STAFF_KINDS = frozenset(
    {
        PrincipalKind.CLERK,
        PrincipalKind.REVIEWER,
        PrincipalKind.APPROVER,
        PrincipalKind.SUPERVISOR,
        PrincipalKind.CATALOGUE_ADMIN,
        PrincipalKind.SYSTEM_ADMIN,
    }
)
"""The kinds of principal a staff directory entry can make."""


@attrs.frozen(kw_only=True)
class StaffRecord:
    """A member of staff as the platform's directory keeps them: which login (``provider``
    and its ``subject``, e.g. the OIDC ``sub``) is which principal.

    Identity providers of many government networks authenticate a person but say nothing
    of their role; the directory says it. ``principal(auth)`` builds the principal of
    ``kind`` (checked like the named constructors, when the record is made). A record
    whose ``valid_until`` has passed, or that was deactivated, makes no principal.
    """

    provider: str = attrs.field(converter=_text, validator=_required)
    subject: str = attrs.field(converter=_text, validator=_required)
    kind: PrincipalKind = attrs.field(converter=PrincipalKind)
    staff_id: str = attrs.field(converter=_text, validator=_required)
    name: str = attrs.field(converter=_text, validator=_required)
    agency: str | None = attrs.field(default=None, converter=_credit)
    serves: tuple[str, ...] = attrs.field(default=(), converter=_credits)
    hall: str = attrs.field(default="", converter=_text)
    division: str | None = attrs.field(default=None, converter=_division)
    valid_until: dt.date | None = None
    active: bool = True

    def __attrs_post_init__(self) -> None:
        if self.kind not in STAFF_KINDS:
            allowed = ", ".join(sorted(k.value for k in STAFF_KINDS))
            raise InvalidInput(
                f"a staff record makes a staff principal ({allowed}), not {self.kind.value}"
            )
        if len(self.provider) > 60 or len(self.subject) > 200 or len(self.staff_id) > 100:
            raise InvalidInput(
                "a staff record's provider is at most 60 characters, its subject 200, its "
                "staff_id 100"
            )
        check_text(self.hall, "StaffRecord.hall")
        self.principal(auth=None)  # refuses a shape the kind cannot have, naming it

    def valid_on(self, day: dt.date) -> bool:
        """True if the record is active and not expired on ``day``."""
        return self.active and (self.valid_until is None or day <= self.valid_until)

    def principal(self, auth: Authentication | None) -> Principal:
        """The principal this record makes, authenticated by ``auth``."""
        if self.kind is PrincipalKind.CLERK:
            if self.agency is None:
                raise InvalidInput("a clerk's staff record needs the agency (credit code)")
            return Principal.clerk(
                self.staff_id,
                self.name,
                agency=self.agency,
                serves=self.serves,
                hall=self.hall,
                division=self.division,
                auth=auth,
            )
        return Principal(
            kind=self.kind,
            id=self.staff_id,
            name=self.name,
            agency=self.agency,
            hall=self.hall,
            division=self.division,
            auth=auth,
        )
