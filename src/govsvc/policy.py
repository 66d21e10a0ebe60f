"""What principals may do: actions, resources, and one deny-by-default policy.

Every command and query of a :class:`~govsvc.Session` asks the platform's policy one question
before it touches anything::

    policy.allowed(principal, action, resource) -> Decision

and refuses with :class:`~govsvc.PermissionDenied` (recorded in the access log) when the
answer is no. There is no other place where authorization is decided: services never check
a department code or an applicant number on the side. Lists are filtered in SQL by the same
rules (:mod:`govsvc.services`), so nothing is fetched and then hidden.

The default policy (:class:`DefaultPolicy`) encodes the rules of the trade. Its rules are a
table — :data:`RULES`, one row per :class:`Action`, one cell per :class:`PrincipalKind` — that
the documentation prints and a test walks cell by cell (every kind × every action × own and
another's resource). A cell is ``ANY`` (allowed on every resource), ``OWN`` (allowed on the
principal's own resources only: see :meth:`DefaultPolicy.owns`), ``SCOPED`` (a channel
application, if it was granted the action) or absent (denied).

A province tightens or extends it by passing its own policy (any object with ``allowed``) to
``Platform.open(policy=...)`` or from a plugin's ``govsvc_policy`` hook — typically a subclass
of :class:`DefaultPolicy` that calls ``super().allowed(...)`` and adds a rule.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import attrs

from govsvc.cases import Case
from govsvc.ecert import Certificate
from govsvc.identity import PartyKey
from govsvc.principals import Assurance, Mandate, Principal, PrincipalKind
from govsvc.ratings import Rating

__all__ = [
    "RULES",
    "Action",
    "Decision",
    "DefaultPolicy",
    "Policy",
    "Resource",
    "ResourceKind",
    "Scope",
    "division_covers",
]


class ResourceKind(enum.Enum):
    """What an action is about."""

    ITEM = "item"  # a service item of an agency (事项)
    PARTY = "party"  # a person or organisation and the data about them (一号)
    APPLICATION = "application"  # a new application: applicant + item (before a case exists)
    CASE = "case"  # a case (办件)
    TASK = "task"  # a department's review task of a case
    DEPARTMENT = "department"  # a department: its queue, its systems
    DIVISION = "division"  # an administrative division: supervision lists and statistics
    RATING = "rating"  # a rating (好差评) and the rectification it opened
    CERTIFICATE = "certificate"  # an e-certificate (电子证照): its holder, issuer, division
    PLATFORM = "platform"  # the platform as a whole: calendars, outbox, logs


class Action(enum.Enum):
    """Every command and query a session offers; the value is ``service.verb``."""

    # catalogue (事项)
    CATALOGUE_READ = "catalogue.read"
    CATALOGUE_PUBLISH = "catalogue.publish"
    # parties (一号): records, the one-number profile, certificates, data-use log
    PARTY_REGISTER = "parties.register"
    PARTY_READ = "parties.read"
    PARTY_IDENTIFY = "parties.identify"
    PARTY_CERTIFICATES = "parties.certificates"
    PARTY_DATA_USE = "parties.data_use"
    # cases (办件): the applicant's side
    CASE_APPLY = "cases.apply"
    CASE_UPDATE_DRAFT = "cases.update_draft"
    CASE_SUBMIT = "cases.submit"
    CASE_RESUBMIT = "cases.resubmit"
    CASE_SUPPLY = "cases.supply"
    CASE_WITHDRAW = "cases.withdraw"
    # cases: the window (一窗受理)
    CASE_PREREVIEW = "cases.prereview"
    CASE_ACCEPT = "cases.accept"
    CASE_REFUSE = "cases.refuse"
    CASE_ISSUE_RESULT = "cases.issue_result"
    CASE_COMPLETE = "cases.complete"
    # cases: the departments
    CASE_SUSPEND = "cases.suspend"
    CASE_RESUME = "cases.resume"
    CASE_REQUEST_EXTENSION = "cases.request_extension"
    CASE_EXTEND = "cases.extend"
    CASE_VERIFY_COMMITMENT = "cases.verify_commitment"
    # cases: reading
    CASE_READ = "cases.read"
    CASE_TRAIL = "cases.trail"
    CASE_LIST = "cases.list"
    CASE_TRACK = "cases.track"
    # reviews (审查)
    REVIEW_QUEUE = "reviews.queue"
    REVIEW_DECIDE = "reviews.decide"
    REVIEW_RECORD = "reviews.record"
    # supervision (电子监察)
    SUPERVISION_OVERDUE = "supervision.overdue"
    SUPERVISION_STATISTICS = "supervision.statistics"
    SUPERVISION_ACCESS_LOG = "supervision.access_log"
    LIGHTS_SWEEP = "supervision.sweep_lights"
    INDICATORS_REPORT = "indicators.report"  # the national evaluation's indicators
    # outbox
    OUTBOX_READ = "outbox.read"
    OUTBOX_MARK = "outbox.mark_delivered"
    # departments (部门系统对接)
    DEPARTMENT_HEALTH = "departments.health"
    DEPARTMENT_PREREVIEW = "departments.prereview"
    DEPARTMENT_DELIVER = "departments.deliver"
    DEPARTMENT_POLL = "departments.poll"
    DEPARTMENT_EXCHANGE_LOG = "departments.exchange_log"
    DEPARTMENT_VERIFY_LOG = "departments.verify_log"
    # calendar (工作日)
    CALENDAR_LOAD = "calendar.load"
    # the chained logs' keyed checkpoints
    LOG_CHECKPOINT = "logs.checkpoint"
    # the staff directory
    STAFF_READ = "staff.read"
    STAFF_MANAGE = "staff.manage"
    # ratings (好差评) and their rectifications (整改)
    RATING_RATE = "ratings.rate"
    RATING_READ = "ratings.read"
    RATING_QUEUE = "ratings.queue"
    RATING_ANSWER = "ratings.answer"
    RATING_RERATE = "ratings.rerate"
    RATING_APPEAL = "ratings.appeal"
    RATING_DECIDE_APPEAL = "ratings.decide_appeal"
    RATING_STATISTICS = "ratings.statistics"
    RATING_CONFIGURE = "ratings.configure"
    # e-certificates (电子证照): reading, the holder's library, the issuer's lifecycle
    # commands, sharing and consent by the holder, verification and publication by anyone
    CERTIFICATE_READ = "certificates.read"
    CERTIFICATE_LIBRARY = "certificates.library"
    CERTIFICATE_MANAGE = "certificates.manage"
    CERTIFICATE_SHARE = "certificates.share"
    CERTIFICATE_CONSENT = "certificates.consent"
    CERTIFICATE_VERIFY = "certificates.verify"
    CERTIFICATE_WORK = "certificates.work"

    @property
    def command(self) -> str:
        """The case command this action runs (``"accept"``), or "" for other actions."""
        service, _, verb = self.value.partition(".")
        if service == "reviews" and verb == "decide":
            return "decide"
        return verb if service == "cases" and self in _CASE_COMMANDS else ""

    @property
    def reads_personal_data(self) -> bool:
        """True for reads that return another party's personal data (recorded, with purpose)."""
        return self in _PERSONAL_READS


_CASE_COMMANDS = frozenset(
    {
        Action.CASE_UPDATE_DRAFT,
        Action.CASE_SUBMIT,
        Action.CASE_RESUBMIT,
        Action.CASE_SUPPLY,
        Action.CASE_WITHDRAW,
        Action.CASE_PREREVIEW,
        Action.CASE_ACCEPT,
        Action.CASE_REFUSE,
        Action.CASE_ISSUE_RESULT,
        Action.CASE_COMPLETE,
        Action.CASE_SUSPEND,
        Action.CASE_RESUME,
        Action.CASE_REQUEST_EXTENSION,
        Action.CASE_EXTEND,
        Action.CASE_VERIFY_COMMITMENT,
    }
)
_PERSONAL_READS = frozenset(
    {
        Action.PARTY_READ,
        Action.PARTY_IDENTIFY,
        Action.PARTY_CERTIFICATES,
        Action.CASE_READ,
        Action.RATING_READ,  # the rater's identity, for the department's call-back (回访)
        Action.CERTIFICATE_READ,
        Action.CERTIFICATE_LIBRARY,
    }
)


class Scope(enum.Enum):
    """A cell of the rule table: on which resources a kind of principal may act."""

    ANY = "any"
    OWN = "own"
    SCOPED = "scoped"  # a channel application granted this action in its scopes


K = PrincipalKind
ANY, OWN, SCOPED = Scope.ANY, Scope.OWN, Scope.SCOPED

RULES: Mapping[Action, Mapping[PrincipalKind, Scope]] = {
    Action.CATALOGUE_READ: {kind: ANY for kind in PrincipalKind if kind is not K.UNKNOWN},
    Action.CATALOGUE_PUBLISH: {K.CATALOGUE_ADMIN: OWN, K.PLATFORM: ANY},
    Action.PARTY_REGISTER: {K.APPLICANT: OWN, K.AGENT: OWN, K.CLERK: ANY, K.PLATFORM: ANY},
    Action.PARTY_READ: {
        K.APPLICANT: OWN,
        K.AGENT: OWN,
        K.CLERK: ANY,
        K.REVIEWER: ANY,
        K.APPROVER: ANY,
        K.PLATFORM: ANY,
    },
    Action.PARTY_IDENTIFY: {
        K.APPLICANT: OWN,
        K.AGENT: OWN,
        K.CLERK: ANY,
        K.REVIEWER: ANY,
        K.APPROVER: ANY,
        K.PLATFORM: ANY,
    },
    Action.PARTY_CERTIFICATES: {
        K.APPLICANT: OWN,
        K.AGENT: OWN,
        K.CLERK: ANY,
        K.REVIEWER: ANY,
        K.APPROVER: ANY,
        K.PLATFORM: ANY,
    },
    Action.PARTY_DATA_USE: {K.APPLICANT: OWN, K.AGENT: OWN, K.SUPERVISOR: ANY, K.PLATFORM: ANY},
    Action.CASE_APPLY: {K.APPLICANT: OWN, K.AGENT: OWN, K.CLERK: OWN},
    Action.CASE_UPDATE_DRAFT: {K.APPLICANT: OWN, K.AGENT: OWN, K.CLERK: OWN},
    Action.CASE_SUBMIT: {K.APPLICANT: OWN, K.AGENT: OWN, K.CLERK: OWN},
    Action.CASE_RESUBMIT: {K.APPLICANT: OWN, K.AGENT: OWN, K.CLERK: OWN},
    Action.CASE_SUPPLY: {K.APPLICANT: OWN, K.AGENT: OWN, K.CLERK: OWN},
    Action.CASE_WITHDRAW: {K.APPLICANT: OWN, K.AGENT: OWN, K.CLERK: OWN},
    Action.CASE_PREREVIEW: {K.CLERK: OWN},
    Action.CASE_ACCEPT: {K.CLERK: OWN},
    Action.CASE_REFUSE: {K.CLERK: OWN},
    Action.CASE_ISSUE_RESULT: {
        K.CLERK: OWN,
        K.REVIEWER: OWN,
        K.APPROVER: OWN,
        K.DEPARTMENT_SYSTEM: OWN,
        K.PLATFORM: ANY,
    },
    Action.CASE_COMPLETE: {K.CLERK: OWN, K.PLATFORM: ANY},
    Action.CASE_SUSPEND: {K.REVIEWER: OWN, K.APPROVER: OWN},
    Action.CASE_RESUME: {K.REVIEWER: OWN, K.APPROVER: OWN},
    Action.CASE_REQUEST_EXTENSION: {K.REVIEWER: OWN, K.APPROVER: OWN},
    Action.CASE_EXTEND: {K.APPROVER: OWN},
    Action.CASE_VERIFY_COMMITMENT: {K.REVIEWER: OWN, K.APPROVER: OWN},
    Action.CASE_READ: {
        K.APPLICANT: OWN,
        K.AGENT: OWN,
        K.CLERK: OWN,
        K.REVIEWER: OWN,
        K.APPROVER: OWN,
        K.SUPERVISOR: OWN,
        K.DEPARTMENT_SYSTEM: OWN,
        K.PLATFORM: ANY,
    },
    Action.CASE_TRAIL: {
        K.APPLICANT: OWN,
        K.AGENT: OWN,
        K.CLERK: OWN,
        K.REVIEWER: OWN,
        K.APPROVER: OWN,
        K.SUPERVISOR: OWN,
        K.DEPARTMENT_SYSTEM: OWN,
        K.PLATFORM: ANY,
    },
    Action.CASE_LIST: {
        K.APPLICANT: OWN,
        K.AGENT: OWN,
        K.CLERK: ANY,
        K.SUPERVISOR: ANY,
        K.PLATFORM: ANY,
    },
    Action.CASE_TRACK: {
        K.PUBLIC: ANY,
        K.APPLICANT: ANY,
        K.AGENT: ANY,
        K.CHANNEL: SCOPED,
        K.PLATFORM: ANY,
    },
    Action.REVIEW_QUEUE: {
        K.REVIEWER: OWN,
        K.APPROVER: OWN,
        K.SUPERVISOR: OWN,
        K.DEPARTMENT_SYSTEM: OWN,
        K.PLATFORM: ANY,
    },
    Action.REVIEW_DECIDE: {K.REVIEWER: OWN, K.APPROVER: OWN},
    Action.REVIEW_RECORD: {K.DEPARTMENT_SYSTEM: OWN},
    Action.SUPERVISION_OVERDUE: {K.SUPERVISOR: OWN, K.PLATFORM: ANY},
    Action.SUPERVISION_STATISTICS: {K.SUPERVISOR: OWN, K.CHANNEL: SCOPED, K.PLATFORM: ANY},
    Action.SUPERVISION_ACCESS_LOG: {K.SUPERVISOR: ANY, K.PLATFORM: ANY},
    Action.LIGHTS_SWEEP: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
    # Aggregates only (no personal data): supervisors of the division read them.
    Action.INDICATORS_REPORT: {K.SUPERVISOR: OWN, K.PLATFORM: ANY},
    Action.OUTBOX_READ: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
    Action.OUTBOX_MARK: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
    Action.DEPARTMENT_HEALTH: {K.SYSTEM_ADMIN: ANY, K.SUPERVISOR: ANY, K.PLATFORM: ANY},
    Action.DEPARTMENT_PREREVIEW: {K.CLERK: OWN, K.PLATFORM: ANY},
    Action.DEPARTMENT_DELIVER: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
    Action.DEPARTMENT_POLL: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
    Action.DEPARTMENT_EXCHANGE_LOG: {K.SUPERVISOR: ANY, K.PLATFORM: ANY},
    Action.DEPARTMENT_VERIFY_LOG: {K.SYSTEM_ADMIN: ANY, K.SUPERVISOR: ANY, K.PLATFORM: ANY},
    Action.CALENDAR_LOAD: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
    Action.LOG_CHECKPOINT: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
    Action.STAFF_READ: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
    Action.STAFF_MANAGE: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
    # 好差评: applicants rate their own finished cases, a hall's clerks record window ratings
    # of the agencies the hall serves, a channel (12345 hotline, SMS gateway) relays ratings.
    Action.RATING_RATE: {K.APPLICANT: OWN, K.AGENT: OWN, K.CLERK: OWN, K.CHANNEL: SCOPED},
    Action.RATING_READ: {
        K.APPLICANT: OWN,
        K.AGENT: OWN,
        K.CLERK: OWN,
        K.REVIEWER: OWN,
        K.APPROVER: OWN,
        K.SUPERVISOR: OWN,
        K.PLATFORM: ANY,
    },
    # A department works through its own rectification queue and answers its own ratings;
    # its leader (approver) appeals; supervisors decide appeals in their division.
    Action.RATING_QUEUE: {K.REVIEWER: OWN, K.APPROVER: OWN, K.SUPERVISOR: OWN, K.PLATFORM: ANY},
    Action.RATING_ANSWER: {K.REVIEWER: OWN, K.APPROVER: OWN},
    Action.RATING_RERATE: {K.APPLICANT: OWN, K.AGENT: OWN},
    Action.RATING_APPEAL: {K.APPROVER: OWN},
    Action.RATING_DECIDE_APPEAL: {K.SUPERVISOR: OWN},
    Action.RATING_STATISTICS: {
        K.REVIEWER: OWN,
        K.APPROVER: OWN,
        K.SUPERVISOR: OWN,
        K.CHANNEL: SCOPED,
        K.PLATFORM: ANY,
    },
    Action.RATING_CONFIGURE: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
    # 电子证照: the holder and staff handling applications read (staff with a purpose); the
    # issuing department suspends, revokes, cancels and re-issues its own; the holder shares
    # and consents to reuse; anyone verifies and fetches key sets and status lists.
    Action.CERTIFICATE_READ: {
        K.APPLICANT: OWN,
        K.AGENT: OWN,
        K.CLERK: ANY,
        K.REVIEWER: ANY,
        K.APPROVER: ANY,
        K.SUPERVISOR: OWN,
        K.DEPARTMENT_SYSTEM: OWN,
        K.PLATFORM: ANY,
    },
    Action.CERTIFICATE_LIBRARY: {
        K.APPLICANT: OWN,
        K.AGENT: OWN,
        K.CLERK: ANY,
        K.REVIEWER: ANY,
        K.APPROVER: ANY,
        K.PLATFORM: ANY,
    },
    Action.CERTIFICATE_MANAGE: {K.APPROVER: OWN, K.DEPARTMENT_SYSTEM: OWN, K.PLATFORM: ANY},
    Action.CERTIFICATE_SHARE: {K.APPLICANT: OWN, K.AGENT: OWN, K.PLATFORM: ANY},
    Action.CERTIFICATE_CONSENT: {K.APPLICANT: OWN, K.AGENT: OWN},
    Action.CERTIFICATE_VERIFY: {kind: ANY for kind in PrincipalKind if kind is not K.UNKNOWN},
    Action.CERTIFICATE_WORK: {K.SYSTEM_ADMIN: ANY, K.PLATFORM: ANY},
}
"""The default rules: action → principal kind → scope. Absent cells are denied."""

# A channel application can be granted only actions that reveal nobody's personal data.
CHANNEL_GRANTABLE = frozenset(
    action for action, cells in RULES.items() if cells.get(PrincipalKind.CHANNEL) is SCOPED
) | {Action.CATALOGUE_READ}


def division_covers(supervised: str, division: str | None) -> bool:
    """True if ``division`` lies inside ``supervised`` (a province covers its cities, …).

    Division codes are compared by their significant prefix: ``230000`` (a province) covers
    ``23…``, ``230100`` (a city) covers ``2301…``, ``230103`` (a district) covers
    ``230103…``; 12-digit township and village codes likewise.
    """
    if division is None:
        return False
    return division.startswith(significant_prefix(supervised))


def significant_prefix(code: str) -> str:
    """The part of a division code that names it: trailing all-zero levels removed."""
    text = code.strip()
    for cut in (12, 9, 6, 4, 2):
        if len(text) > cut and set(text[cut:]) == {"0"}:
            text = text[:cut]
    return text


@attrs.frozen(kw_only=True)
class Resource:
    """What an action is about, with what the policy needs to decide (no database access).

    Build one with a named constructor: :meth:`item`, :meth:`party`, :meth:`application`,
    :meth:`case`, :meth:`task`, :meth:`of_rating`, :meth:`of_certificate`, :meth:`department`,
    :meth:`division_of`,
    :meth:`platform`.
    ``purpose`` is the purpose of use (用证事由) of a read of personal data.
    """

    kind: ResourceKind
    agency: str | None = None  # the item's or case's implementing agency (credit code)
    party: PartyKey | None = None  # whose data it is: the case's applicant, the party read
    agent: PartyKey | None = None  # the case's agent (经办人 / 受托人), if any
    agent_until: dt.date | None = None  # the agent's mandate runs until (None: no expiry)
    mandate: Mandate | None = None  # the mandate offered with a new application
    item_code: str | None = None
    departments: frozenset[str] = frozenset()  # departments with review tasks on the case
    department: str | None = None  # the task's department; the department itself
    division: str | None = None  # where the case, department or list lies
    case_id: str | None = None
    purpose: str = ""
    today: dt.date | None = None

    @classmethod
    def item(cls, agency: str, *, item_code: str | None = None) -> Resource:
        return cls(kind=ResourceKind.ITEM, agency=agency, item_code=item_code)

    @classmethod
    def of_party(cls, key: PartyKey, *, purpose: str = "") -> Resource:
        return cls(kind=ResourceKind.PARTY, party=key, purpose=purpose)

    @classmethod
    def application(
        cls,
        applicant: PartyKey,
        *,
        agency: str,
        item_code: str,
        division: str | None,
        mandate: Mandate | None = None,
        today: dt.date,
    ) -> Resource:
        return cls(
            kind=ResourceKind.APPLICATION,
            party=applicant,
            agency=agency,
            item_code=item_code,
            division=division,
            mandate=mandate,
            agent=mandate.agent if mandate else None,
            agent_until=mandate.valid_until if mandate else None,
            today=today,
        )

    @classmethod
    def of_case(cls, case: Case, *, today: dt.date | None = None, purpose: str = "") -> Resource:
        agent = case.agent
        return cls(
            kind=ResourceKind.CASE,
            agency=case.agency,
            party=case.applicant,
            agent=agent.key if agent else None,
            agent_until=agent.mandate_until if agent else None,
            item_code=case.item_code,
            departments=case.departments,
            division=case.division,
            case_id=case.id,
            purpose=purpose,
            today=today,
        )

    @classmethod
    def of_task(cls, case: Case, task_id: str, *, today: dt.date | None = None) -> Resource:
        """A review task (its department decides it); InvalidInput if the case has no such task."""
        task = case.task(task_id)
        return attrs.evolve(
            cls.of_case(case, today=today), kind=ResourceKind.TASK, department=task.department
        )

    @classmethod
    def of_rating(
        cls, rating: Rating, *, today: dt.date | None = None, purpose: str = ""
    ) -> Resource:
        """A rating: whose matter it is (``party``; the rater as ``agent`` when someone else
        rated), the rated agency, the department answering for it, its division."""
        rater = rating.rater if rating.rater != rating.party else None
        return cls(
            kind=ResourceKind.RATING,
            agency=rating.agency,
            party=rating.party or rating.rater,
            agent=rater,
            item_code=rating.item_code,
            departments=frozenset({rating.department}),
            department=rating.department,
            division=rating.division,
            case_id=rating.case_id,
            purpose=purpose,
            today=today,
        )

    @classmethod
    def of_certificate(
        cls, certificate: Certificate, *, purpose: str = "", today: dt.date | None = None
    ) -> Resource:
        """An e-certificate: its holder (``party``), its issuing department (``agency`` and
        ``department``), its jurisdiction (``division``) and the case that issued it."""
        issuer = certificate.issuer.credit_code
        return cls(
            kind=ResourceKind.CERTIFICATE,
            agency=issuer,
            party=certificate.holder,
            departments=frozenset({issuer}),
            department=issuer,
            division=certificate.division,
            case_id=certificate.case_id,
            purpose=purpose,
            today=today,
        )

    @classmethod
    def department_of(cls, code: str, *, division: str | None = None) -> Resource:
        return cls(kind=ResourceKind.DEPARTMENT, department=code, division=division)

    @classmethod
    def division_of(cls, code: str | None) -> Resource:
        return cls(kind=ResourceKind.DIVISION, division=code)

    @classmethod
    def platform(cls) -> Resource:
        return _PLATFORM


_PLATFORM = Resource(kind=ResourceKind.PLATFORM)


@attrs.frozen(kw_only=True)
class Decision:
    """The policy's answer: allowed or not, the rule that decided, and why (in words)."""

    allowed: bool
    rule: str
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed

    @classmethod
    def allow(cls, rule: str, reason: str = "") -> Decision:
        return cls(allowed=True, rule=rule, reason=reason)

    @classmethod
    def deny(cls, rule: str, reason: str) -> Decision:
        return cls(allowed=False, rule=rule, reason=reason)


@runtime_checkable
class Policy(Protocol):
    """Anything that answers whether a principal may perform an action on a resource."""

    def allowed(self, principal: Principal, action: Action, resource: Resource) -> Decision:
        """The decision, with the rule that made it. Must not raise for a refusal."""
        ...


class DefaultPolicy:
    """The rules of the trade, deny by default (see :data:`RULES` and the docs' table).

    ``min_assurance`` is the lowest login level (实名认证等级) with which an applicant or agent
    may apply; reading and tracking need only a login.
    """

    def __init__(
        self,
        rules: Mapping[Action, Mapping[PrincipalKind, Scope]] | None = None,
        *,
        min_assurance: Assurance = Assurance.L2,
    ) -> None:
        self.rules = dict(rules or RULES)
        self.min_assurance = min_assurance

    def allowed(self, principal: Principal, action: Action, resource: Resource) -> Decision:
        if principal.kind is not PrincipalKind.PUBLIC and not principal.authenticated:
            return Decision.deny(
                "authenticated",
                f"{principal} is not authenticated: log in through an identity provider "
                "(the principal carries no Authentication)",
            )
        scope = self.rules.get(action, {}).get(principal.kind)
        if scope is None:
            return Decision.deny(
                "default-deny",
                f"no rule lets a {principal.kind.label} ({principal.kind.value}) do {action.value}",
            )
        if scope is Scope.SCOPED:
            if action.value not in principal.scopes or action not in CHANNEL_GRANTABLE:
                return Decision.deny(
                    "channel-scope",
                    f"channel application {principal.id} was not granted {action.value}; "
                    f"its scopes are {sorted(principal.scopes) or 'none'}",
                )
            return Decision.allow("channel-scope")
        if action is Action.CASE_APPLY and principal.kind.is_applicant_side:
            level = principal.auth.assurance if principal.auth else None
            if level is None or level < self.min_assurance:
                return Decision.deny(
                    "assurance",
                    f"applying needs a login of at least {self.min_assurance.name} "
                    f"({self.min_assurance.label}); {principal.name} logged in at "
                    f"{level.name if level else 'no level'}",
                )
        decision = (
            Decision.allow(f"{principal.kind.value}.any")
            if scope is Scope.ANY
            else self.owns(principal, action, resource)
        )
        if not decision.allowed:
            return decision
        # Only once the principal may read it at all: state why you read it.
        purpose = self._purpose_problem(principal, action, resource)
        if purpose:
            return Decision.deny("purpose-of-use", purpose)
        return decision

    # --- own resources -----------------------------------------------------------------------

    def owns(self, principal: Principal, action: Action, resource: Resource) -> Decision:
        """Whether ``resource`` is the principal's own, for an ``OWN`` cell."""
        kind = principal.kind
        rule = f"{kind.value}.own"
        if kind in (PrincipalKind.APPLICANT, PrincipalKind.AGENT):
            return self._owns_as_applicant(principal, action, resource, rule)
        if kind is PrincipalKind.CLERK:
            if resource.agency is not None and resource.agency in principal.serves:
                return Decision.allow(rule)
            return Decision.deny(
                "clerk.hall-agencies",
                f"{principal.name}'s hall ({principal.hall or principal.agency}) does not accept "
                f"applications for agency {resource.agency}; it serves "
                f"{', '.join(principal.serves)}",
            )
        if kind in (
            PrincipalKind.REVIEWER,
            PrincipalKind.APPROVER,
            PrincipalKind.DEPARTMENT_SYSTEM,
        ):
            return self._owns_as_department(principal, action, resource, rule)
        if kind is PrincipalKind.SUPERVISOR:
            assert principal.division is not None  # a supervisor principal always has one
            if division_covers(principal.division, resource.division):
                return Decision.allow(rule)
            return Decision.deny(
                "supervisor.division",
                f"{resource.kind.value} lies in division {resource.division or 'unknown'}, "
                f"outside {principal.name}'s division {principal.division}",
            )
        if kind is PrincipalKind.CATALOGUE_ADMIN:
            if resource.agency == principal.agency:
                return Decision.allow(rule)
            return Decision.deny(
                "catalogue-admin.agency",
                f"the item belongs to agency {resource.agency}; {principal.name} administers "
                f"the items of {principal.agency} only",
            )
        return Decision.deny("default-deny", f"a {kind.value} owns no {resource.kind.value}")

    def _owns_as_applicant(
        self, principal: Principal, action: Action, resource: Resource, rule: str
    ) -> Decision:
        party = resource.party
        if party is not None and principal.acts_for(party):
            return Decision.allow(rule)
        if resource.kind is ResourceKind.APPLICATION and resource.mandate is not None:
            assert principal.party is not None and party is not None
            problem = resource.mandate.problem(
                agent=principal.party,
                grantor=party,
                item_code=resource.item_code or "",
                on=resource.today or dt.date.today(),
            )
            if problem:
                return Decision.deny("mandate", problem)
            return Decision.allow("mandate")
        if resource.agent is not None and resource.agent == principal.party:
            until, on = resource.agent_until, resource.today
            if until is not None and on is not None and on > until:
                return Decision.deny(
                    "mandate",
                    f"the mandate under which {principal.name} acts on this case expired "
                    f"on {until}; the applicant must act or give a new 委托书",
                )
            return Decision.allow("agent.mandate" if until else rule)
        whose = party.masked() if party else "another party"
        return Decision.deny(
            "applicant.own",
            f"{resource.kind.value} belongs to {whose}; {principal.name} acts only for "
            f"themselves{' and ' + principal.acting_for.masked() if principal.acting_for else ''}"
            + (
                " (a mandate, 委托书, lets a person apply for another)"
                if action is Action.CASE_APPLY
                else ""
            ),
        )

    def _owns_as_department(
        self, principal: Principal, action: Action, resource: Resource, rule: str
    ) -> Decision:
        mine = principal.agency
        if resource.kind is ResourceKind.RATING:
            # A department answers for the ratings it must rectify; the rated agency may
            # also read the ratings of its cases.
            if resource.department == mine or (
                action is Action.RATING_READ and resource.agency == mine
            ):
                return Decision.allow(rule)
            return Decision.deny(
                "department.own-ratings",
                f"the rating is for department {resource.department} to answer; "
                f"{principal.name} ({mine}) acts only on its own department's ratings",
            )
        if resource.kind is ResourceKind.CERTIFICATE:
            if resource.department == mine:
                return Decision.allow(rule)
            return Decision.deny(
                "department.own-certificates",
                f"the certificate was issued by {resource.department}; {principal.name} "
                f"({mine}) acts only on the certificates its own department issued",
            )
        if resource.kind in (ResourceKind.TASK, ResourceKind.DEPARTMENT):
            if resource.department == mine:
                return Decision.allow(rule)
            return Decision.deny(
                "department.own-tasks",
                f"the task belongs to department {resource.department}; {principal.name} "
                f"({mine}) acts only on its own department's tasks",
            )
        if resource.kind is ResourceKind.CASE:
            # A department owns a case it has a review task on, or implements.
            if mine in resource.departments or resource.agency == mine:
                return Decision.allow(rule)
            return Decision.deny(
                "department.own-cases",
                f"department {mine} has no review task on this case (its departments: "
                f"{', '.join(sorted(resource.departments)) or 'none yet'})",
            )
        return Decision.deny("default-deny", f"a department owns no {resource.kind.value}")

    @staticmethod
    def _purpose_problem(principal: Principal, action: Action, resource: Resource) -> str:
        if not action.reads_personal_data or principal.kind is PrincipalKind.PLATFORM:
            return ""
        if resource.party is not None and principal.acts_for(resource.party):
            return ""  # one's own data
        if resource.agent is not None and resource.agent == principal.party:
            return ""  # a case the agent handles
        if resource.purpose.strip():
            return ""
        return (
            f"{action.value} reads another party's personal data: state the purpose of use "
            '(用证事由), e.g. purpose="受理审查"; the read is recorded with it'
        )
