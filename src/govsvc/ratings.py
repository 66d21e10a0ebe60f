"""Ratings of government services (好差评, 国办发〔2019〕51号): the pure-domain life of a rating.

A :class:`Rating` is an immutable value, like a :class:`~govsvc.Case`. Every command is a
method returning a :class:`RatingStep` — the new rating, the typed :class:`RatingEvent` that
records what happened (with the structured :class:`~govsvc.Actor` who did it), and outbox
messages — or raising an error that says what was wrong and what to do. No I/O happens here:
the platform loads a rating, calls one method, and stores the step in one transaction.

* **One rating per matter.** Online, a case is rated once (一事一评), when it is finished;
  at a window, each occasion (a visit, a queue ticket) is rated once (一次一评). The re-rating
  after a rectification is the only second rating.
* **Five levels, by name** (:class:`RatingLevel`); codes exist only at the edges, through an
  explicit :class:`RatingCodes` order: GB/T 39046 numbers 1 = 非常满意 … 5 = 非常不满意, the
  platform interfaces 1 = 非常不满意 … 5 = 非常满意.
* **A bad rating (差评: 不满意, 非常不满意) opens a rectification** (:class:`Rectification`,
  整改) assigned to the responsible department, due in working days (15 by default,
  :class:`RectificationRules` per region). The department answers the rater (回访整改); the
  rater may then rate once more (:meth:`Rating.rerate`).
* **Appeals** (申诉): the department may claim a bad rating is mistaken (误评) or malicious
  (恶意差评); a supervisor decides, with a reason. An upheld appeal excludes the rating from the
  statistics.

The life of a bad rating::

    rated ─▶ rectification open ─answer─▶ answered ─rerate─▶ (second rating recorded)
                  │  ▲
            appeal│  │appeal rejected
                  ▼  │
               appealed ─appeal upheld─▶ excluded (误评 / 恶意差评)
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeAlias

import attrs

from govsvc._frozen import FrozenMap, freeze
from govsvc._text import check_text
from govsvc.calendar import WorkCalendar
from govsvc.cases import Case, CaseState, OutboxMessage, TaskStatus, local_date, new_id
from govsvc.deadlines import TimeLimit, TimeUnit, due_date
from govsvc.errors import GovsvcError, InvalidInput, InvalidTransition
from govsvc.identity import PartyKey
from govsvc.masking import mask_name
from govsvc.principals import Actor

__all__ = [
    "RATEABLE_STATES",
    "RATING_PAYLOADS",
    "Answered",
    "Appeal",
    "AppealDecided",
    "Appealed",
    "Exclusion",
    "Rated",
    "Rating",
    "RatingBasis",
    "RatingChannel",
    "RatingCodes",
    "RatingEvent",
    "RatingEventKind",
    "RatingLevel",
    "RatingPayload",
    "RatingRefused",
    "RatingStep",
    "Rectification",
    "RectificationRules",
    "RectificationStatus",
    "Rerated",
    "Rerating",
    "UnknownRatingPayload",
    "responsible_department",
]

MAX_TEXT = 500  # characters of a rater's comment or a department's answer
MAX_OCCASION = 64  # characters of a window occasion's id


class RatingRefused(InvalidTransition):
    """A rating command is not possible now: the case is not finished, the matter was rated
    already, the rectification is not open, … The message says why and what to do instead.

    It is an :class:`~govsvc.InvalidTransition`: ``state`` is what the rating (or case) is in,
    ``command`` what was tried, ``allowed`` the moves that are possible now.
    """

    def __init__(
        self, message: str, *, state: str, command: str, allowed: Iterable[str] = ()
    ) -> None:
        GovsvcError.__init__(self, message)  # the message is ours, not the generic template
        self.state = state
        self.command = command
        self.what = "rating"
        self.allowed = tuple(sorted(allowed))


# --------------------------------------------------------------------------------------------
# Levels, codes, channels


class RatingLevel(enum.Enum):
    """How satisfied the rater is (评价等级), by name. The last two are bad ratings (差评)."""

    VERY_SATISFIED = "非常满意"
    SATISFIED = "满意"
    BASICALLY_SATISFIED = "基本满意"
    DISSATISFIED = "不满意"
    VERY_DISSATISFIED = "非常不满意"

    @property
    def label(self) -> str:
        """The Chinese name, e.g. 非常满意."""
        return self.value

    @property
    def is_bad(self) -> bool:
        """True for 不满意 and 非常不满意 (差评): such a rating opens a rectification."""
        return self in (RatingLevel.DISSATISFIED, RatingLevel.VERY_DISSATISFIED)

    @property
    def is_satisfied(self) -> bool:
        """True for 非常满意, 满意 and 基本满意 (what the satisfaction rate counts)."""
        return not self.is_bad

    @classmethod
    def parse(cls, value: RatingLevel | str) -> RatingLevel:
        """A level from itself, its Chinese name (非常满意) or its member name (VERY_SATISFIED).

        Numbers are refused: they mean opposite things in GB/T 39046 and in the platform
        interfaces, so map them with :class:`RatingCodes` at the edge.
        """
        if isinstance(value, RatingLevel):
            return value
        if isinstance(value, str):
            text = value.strip()
            for member in cls:
                if text in (member.value, member.name):
                    return member
            if text.isdigit():
                raise InvalidInput(
                    f"rating level {value!r} is a code, and codes mean opposite things in "
                    "GB/T 39046 (1 = 非常满意) and in the platform interfaces (1 = 非常不满意); "
                    "map it with RatingCodes.GB_T_39046.level(code) or "
                    "RatingCodes.PLATFORM.level(code)"
                )
        names = "、".join(m.value for m in cls)
        raise InvalidInput(f"rating level {value!r} is not one of {names}")


def _level_codes(value: Mapping[RatingLevel, Any]) -> Mapping[RatingLevel, str]:
    return FrozenMap({RatingLevel(k): str(v).strip() for k, v in value.items()})


@attrs.frozen
class RatingCodes:
    """One order of numeric codes for the five levels, used only where codes come in or go out.

    Two orders exist and disagree: :attr:`GB_T_39046` (the catalogue standard: 1 = 非常满意 …
    5 = 非常不满意) and :attr:`PLATFORM` (the national platform's 好差评 interfaces:
    1 = 非常不满意 … 5 = 非常满意). Name the order you read, e.g.
    ``RatingCodes.PLATFORM.level("5")`` for a platform message or an SMS reply.
    """

    GB_T_39046: ClassVar[RatingCodes]
    PLATFORM: ClassVar[RatingCodes]

    name: str
    codes: Mapping[RatingLevel, str] = attrs.field(converter=_level_codes)

    def __attrs_post_init__(self) -> None:
        if set(self.codes) != set(RatingLevel):
            missing = [lv.value for lv in RatingLevel if lv not in self.codes]
            raise InvalidInput(f"code order {self.name} has no code for {missing}")
        if len(set(self.codes.values())) != len(self.codes):
            raise InvalidInput(f"code order {self.name} gives two levels the same code")

    def code(self, level: RatingLevel | str) -> str:
        """The code of ``level`` in this order."""
        return self.codes[RatingLevel.parse(level)]

    def level(self, code: str | int) -> RatingLevel:
        """The level a code means in this order; InvalidInput names the order's codes."""
        if not isinstance(code, bool) and isinstance(code, str | int):
            text = str(code).strip()
            for level, known in self.codes.items():
                if text == known:
                    return level
        order = ", ".join(f"{c} = {lv.value}" for lv, c in sorted(self.codes.items(), key=_by_code))
        raise InvalidInput(f"{code!r} is not a rating code in the {self.name} order ({order})")

    def __repr__(self) -> str:
        return f"RatingCodes({self.name!r})"


def _by_code(pair: tuple[RatingLevel, str]) -> tuple[int, str]:
    code = pair[1]
    return (int(code), code) if code.isdigit() else (10**9, code)


_ORDER = list(RatingLevel)  # 非常满意 first
RatingCodes.GB_T_39046 = RatingCodes(
    name="GB/T 39046", codes={level: str(i) for i, level in enumerate(_ORDER, 1)}
)
RatingCodes.PLATFORM = RatingCodes(
    name="好差评平台接口", codes={level: str(i) for i, level in enumerate(reversed(_ORDER), 1)}
)


class RatingChannel(enum.Enum):
    """Where a rating was given (评价渠道), the channels of 国办发〔2019〕51号."""

    PC = "pc"  # 电脑端 (the portal)
    MOBILE = "mobile"  # 移动端 (the app, mini programs)
    QR_CODE = "qr_code"  # 二维码 (on a window receipt or a result)
    HALL_TABLET = "hall_tablet"  # 政务大厅平板电脑 (the window's rating pad)
    HALL_TERMINAL = "hall_terminal"  # 政务大厅其他终端 (self-service kiosks)
    PHONE = "phone"  # 电话 (12345 hotline, call-backs)
    SMS = "sms"  # 短信 (a reply to the rating SMS)

    @property
    def label(self) -> str:
        """The Chinese name, e.g. 二维码."""
        return _CHANNEL_LABELS[self]


_CHANNEL_LABELS = {
    RatingChannel.PC: "电脑端",
    RatingChannel.MOBILE: "移动端",
    RatingChannel.QR_CODE: "二维码",
    RatingChannel.HALL_TABLET: "政务大厅平板电脑",
    RatingChannel.HALL_TERMINAL: "政务大厅其他终端",
    RatingChannel.PHONE: "电话",
    RatingChannel.SMS: "短信",
}


def _channel(value: RatingChannel | str) -> RatingChannel:
    try:
        return RatingChannel(value)
    except ValueError:
        allowed = ", ".join(f"{c.value} ({c.label})" for c in RatingChannel)
        raise InvalidInput(f"rating channel {value!r} is not one of {allowed}") from None


class RatingBasis(enum.Enum):
    """What a rating is about: a case online (一事一评) or an occasion at a window (一次一评)."""

    CASE = "case"
    OCCASION = "occasion"


class RectificationStatus(enum.Enum):
    """Where the rectification (整改) of a bad rating stands."""

    OPEN = "open"  # 待整改: the department must investigate, rectify and answer
    APPEALED = "appealed"  # 申诉中: waiting for a supervisor's decision
    ANSWERED = "answered"  # 已整改回访: the department answered the rater
    EXCLUDED = "excluded"  # the appeal was upheld: a mistaken or malicious rating

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def pending(self) -> bool:
        """True while the department still owes an answer (open or under appeal)."""
        return self in (RectificationStatus.OPEN, RectificationStatus.APPEALED)


_STATUS_LABELS = {
    RectificationStatus.OPEN: "待整改",
    RectificationStatus.APPEALED: "申诉中",
    RectificationStatus.ANSWERED: "已整改",
    RectificationStatus.EXCLUDED: "已剔除",
}


class Exclusion(enum.Enum):
    """Why a rating is left out of the statistics after an appeal (申诉)."""

    MISTAKEN = "mistaken"  # 误评: e.g. the wrong button, the wrong case
    MALICIOUS = "malicious"  # 恶意差评: abusive, extortionate or unrelated to the service

    @property
    def label(self) -> str:
        return "误评" if self is Exclusion.MISTAKEN else "恶意差评"


# --------------------------------------------------------------------------------------------
# Rectification deadlines


def _workdays(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60:
        raise InvalidInput(
            f"a rectification deadline is 1 to 60 working days (local rules use 15, 7 or 5), "
            f"got {value!r}"
        )
    return value


def _region(value: object) -> str:
    text = str(value).strip()
    if not (text.isdigit() and len(text) in (2, 4, 6, 9, 12)):
        raise InvalidInput(
            f"region {value!r} should be a division code (e.g. 230000 for a province, 230100 "
            "for a city)"
        )
    return text


def _regions(value: Mapping[str, int]) -> Mapping[str, int]:
    return FrozenMap({_region(k): _workdays(v) for k, v in value.items()})


def _prefix(code: str) -> str:
    text = code
    for cut in (12, 9, 6, 4, 2):
        if len(text) > cut and set(text[cut:]) == {"0"}:
            text = text[:cut]
    return text


@attrs.frozen(kw_only=True)
class RectificationRules:
    """How many working days a department has to rectify a bad rating (整改时限).

    ``workdays`` is the platform's default (15, the national default); ``regions`` maps a
    division code to its local rule (a province, city or district that uses 7 or 5). The most
    specific region covering the rated department's division wins.
    """

    workdays: int = attrs.field(default=15, converter=_workdays)
    regions: Mapping[str, int] = attrs.field(factory=dict, converter=_regions)

    def workdays_for(self, division: str) -> int:
        """The deadline in working days for a rating in ``division``."""
        best, found = -1, self.workdays
        for region, days in self.regions.items():
            prefix = _prefix(region)
            if division.startswith(prefix) and len(prefix) > best:
                best, found = len(prefix), days
        return found

    def with_region(self, region: str | None, workdays: int) -> RectificationRules:
        """These rules with ``region``'s deadline (the default when ``region`` is None)."""
        if region is None:
            return attrs.evolve(self, workdays=workdays)
        return attrs.evolve(self, regions={**self.regions, _region(region): workdays})


# --------------------------------------------------------------------------------------------
# The aggregate's parts


def _text(value: str, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text, got {type(value).__name__}")
    check_text(value, field)
    text = value.strip()
    if required and not text:
        raise InvalidInput(f"{field} must not be empty; state it in full")
    if len(text) > limit:
        raise InvalidInput(f"{field} has {len(text)} characters; keep it to {limit}")
    return text


@attrs.frozen(kw_only=True)
class Rectification:
    """The rectification (整改) a bad rating opens: who must act, by when, and their answer."""

    department: str  # credit code of the responsible department (the assignee)
    due: dt.date  # the last day, counted in working days from the rating day
    workdays: int
    provisional: bool = False  # the due date rests on a year without official calendar data
    opened_at: dt.datetime
    status: RectificationStatus = RectificationStatus.OPEN
    answer: str = ""  # the department's answer to the rater (回访): what was found and done
    answered_at: dt.datetime | None = None
    answered_by: Actor | None = None

    @property
    def on_time(self) -> bool | None:
        """Whether the answer came by the due date (None while unanswered)."""
        if self.answered_at is None:
            return None
        return local_date(self.answered_at) <= self.due

    def overdue(self, on: dt.date) -> bool:
        """True when the department still owes an answer after the due date."""
        return self.status.pending and on > self.due


@attrs.frozen(kw_only=True)
class Appeal:
    """The department's appeal (申诉) that a bad rating is mistaken or malicious."""

    ground: Exclusion
    reason: str
    lodged_at: dt.datetime
    lodged_by: Actor
    upheld: bool | None = None  # None while a supervisor has not decided
    decision: str = ""  # the supervisor's reason
    decided_at: dt.datetime | None = None
    decided_by: Actor | None = None


@attrs.frozen(kw_only=True)
class Rerating:
    """The rater's second rating, after the department answered (整改后再评价)."""

    level: RatingLevel
    text: str = ""
    channel: RatingChannel
    at: dt.datetime


# --------------------------------------------------------------------------------------------
# Events


class RatingEventKind(enum.Enum):
    """What happened to a rating; the value is what its trail records."""

    RATED = "rated"
    ANSWERED = "answered"
    RERATED = "rerated"
    APPEALED = "appealed"
    APPEAL_DECIDED = "appeal_decided"
    UNKNOWN = "unknown"  # written by a newer release

    @property
    def label(self) -> str:
        return _EVENT_LABELS[self]


_EVENT_LABELS = {
    RatingEventKind.RATED: "评价",
    RatingEventKind.ANSWERED: "整改回访",
    RatingEventKind.RERATED: "再次评价",
    RatingEventKind.APPEALED: "差评申诉",
    RatingEventKind.APPEAL_DECIDED: "申诉复核",
    RatingEventKind.UNKNOWN: "其他",
}


@attrs.frozen(kw_only=True)
class Rated:
    basis: RatingBasis
    level: RatingLevel
    channel: RatingChannel
    bad: bool
    case_id: str | None = None
    occasion: str | None = None
    department: str | None = None  # the rectification's department, for a bad rating
    due: dt.date | None = None  # the rectification's due date, for a bad rating


@attrs.frozen(kw_only=True)
class Answered:
    department: str
    answer: str
    on_time: bool


@attrs.frozen(kw_only=True)
class Rerated:
    level: RatingLevel
    channel: RatingChannel
    bad: bool


@attrs.frozen(kw_only=True)
class Appealed:
    department: str
    ground: Exclusion
    reason: str


@attrs.frozen(kw_only=True)
class AppealDecided:
    upheld: bool
    ground: Exclusion
    reason: str


@attrs.frozen(kw_only=True)
class UnknownRatingPayload:
    """An event of a kind this release does not know (written by a newer one)."""

    kind: str
    data: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze)


RatingPayload: TypeAlias = (
    Rated | Answered | Rerated | Appealed | AppealDecided | UnknownRatingPayload
)

RATING_PAYLOADS: Mapping[RatingEventKind, type[Any]] = {
    RatingEventKind.RATED: Rated,
    RatingEventKind.ANSWERED: Answered,
    RatingEventKind.RERATED: Rerated,
    RatingEventKind.APPEALED: Appealed,
    RatingEventKind.APPEAL_DECIDED: AppealDecided,
    RatingEventKind.UNKNOWN: UnknownRatingPayload,
}
"""The payload class of every rating event kind."""

_KIND_OF = {cls: kind for kind, cls in RATING_PAYLOADS.items()}


@attrs.frozen(kw_only=True)
class RatingEvent:
    """One entry of a rating's trail; ``seq`` is the rating version the event produced."""

    rating_id: str
    seq: int
    kind: RatingEventKind
    at: dt.datetime
    actor: Actor
    payload: RatingPayload

    def masked(self) -> RatingEvent:
        """The event as a rater sees it: staff ids removed, staff names masked."""
        shown = self.actor.masked()
        return self if shown is self.actor else attrs.evolve(self, actor=shown)


@attrs.frozen
class RatingStep:
    """What a rating command produced: the new rating, its event, and outbox messages."""

    rating: Rating
    event: RatingEvent
    outbox: tuple[OutboxMessage, ...] = ()


# --------------------------------------------------------------------------------------------
# Which cases can be rated, and who answers for them

RATEABLE_STATES: frozenset[CaseState] = frozenset(
    {CaseState.COMPLETED, CaseState.DENIED, CaseState.NOT_ACCEPTED, CaseState.REVOKED}
)
"""The states in which a case can be rated online: handled to a decision (办结).

Completed, denied (不予许可), not accepted (不予受理) and revoked (撤销) cases were decided by
the administration, and the applicant rates how it was done. A withdrawn case (撤回) was ended
by the applicant before any decision, so there is nothing handled to rate (the visits can
still be rated at the window, 一次一评); open cases are rated once they are finished.
"""


def responsible_department(case: Case) -> str:
    """The department that answers for a case's rating: the department whose review task
    denied it, else the implementing agency (which accepted, refused or completed it)."""
    if case.state is CaseState.DENIED:
        for task in reversed(case.tasks):
            if task.status is TaskStatus.DENIED:
                return task.department
    return case.agency


def _check_rateable(case: Case) -> None:
    if case.state in RATEABLE_STATES:
        return
    if case.state is CaseState.WITHDRAWN:
        reason = (
            f"case {case.tracking_code} was withdrawn (撤回) by the applicant before any "
            "decision, so no handling can be rated; rate the window visit instead (一次一评)"
        )
    else:
        reason = (
            f"case {case.tracking_code} is {case.state.value} ({case.state.label}), not "
            "finished; a case is rated once it is handled to a decision (办结: completed, "
            "denied, not accepted or revoked) — rate it then"
        )
    raise RatingRefused(reason, state=case.state.value, command="rate")


# --------------------------------------------------------------------------------------------
# The rating


def _occasion(value: str) -> str:
    return _text(value, "occasion", required=True, limit=MAX_OCCASION)


@attrs.frozen(kw_only=True)
class Rating:
    """A rating of a service (好差评): of a case (一事一评) or a window occasion (一次一评).

    ``party`` is whose matter it is (the case's applicant; for an occasion the person or
    organisation served, if known) and ``rater`` the person who rated (the same person, or an
    agent); an occasion may be rated anonymously (both None). ``level`` is the first rating;
    :attr:`current_level` counts the re-rating after a rectification when there is one.
    """

    id: str
    basis: RatingBasis
    case_id: str | None = None
    tracking_code: str | None = None
    occasion: str | None = None
    item_code: str | None = None
    agency: str  # credit code of the rated agency (the case's implementing agency, the hall's)
    department: str  # the department answering for it (see responsible_department)
    division: str  # where it lies (the agency's division)
    party: PartyKey | None = None
    party_name: str = ""
    rater: PartyKey | None = None
    rater_name: str = ""
    level: RatingLevel
    text: str = ""
    channel: RatingChannel
    rated_at: dt.datetime
    version: int = 1
    rectification: Rectification | None = None
    appeal: Appeal | None = None
    second: Rerating | None = None
    excluded: Exclusion | None = None  # an upheld appeal left it out of the statistics

    # --- derived ------------------------------------------------------------------------------

    @property
    def matter(self) -> str:
        """What is rated once: ``case:<id>`` or ``occasion:<agency>:<occasion>``."""
        if self.basis is RatingBasis.CASE:
            return f"case:{self.case_id}"
        return f"occasion:{self.agency}:{self.occasion}"

    @property
    def is_bad(self) -> bool:
        """True when the first rating was a bad one (差评; it opened a rectification)."""
        return self.level.is_bad

    @property
    def current_level(self) -> RatingLevel:
        """The level that counts now: the re-rating after a rectification, else the first."""
        return self.second.level if self.second else self.level

    @property
    def rated_on(self) -> dt.date:
        """The rating day in China (statistics and deadlines count local days)."""
        return local_date(self.rated_at)

    def masked(self) -> Rating:
        """The rating as staff lists show it: the rater's and the party's names masked."""
        return attrs.evolve(
            self, rater_name=mask_name(self.rater_name), party_name=mask_name(self.party_name)
        )

    # --- construction -------------------------------------------------------------------------

    @classmethod
    def of_case(
        cls,
        case: Case,
        level: RatingLevel | str,
        *,
        channel: RatingChannel | str,
        rater: PartyKey | None,
        rater_name: str,
        text: str = "",
        rules: RectificationRules,
        calendar: WorkCalendar,
        now: dt.datetime,
        actor: Actor,
        rating_id: str | None = None,
    ) -> RatingStep:
        """Rate a finished case (一事一评): only closed states a decision ended can be rated
        (:data:`RATEABLE_STATES`); a bad rating opens a rectification for the
        :func:`responsible_department`."""
        _check_rateable(case)
        return cls._new(
            basis=RatingBasis.CASE,
            case_id=case.id,
            tracking_code=case.tracking_code,
            item_code=case.item_code,
            agency=case.agency,
            division=case.division,
            department=responsible_department(case),
            party=case.applicant,
            party_name=case.applicant_name,
            rater=rater,
            rater_name=rater_name,
            level=level,
            text=text,
            channel=channel,
            rules=rules,
            calendar=calendar,
            now=now,
            actor=actor,
            rating_id=rating_id,
        )

    @classmethod
    def of_occasion(
        cls,
        occasion: str,
        level: RatingLevel | str,
        *,
        agency: str,
        channel: RatingChannel | str,
        party: PartyKey | None = None,
        party_name: str = "",
        rater: PartyKey | None = None,
        rater_name: str = "",
        item_code: str | None = None,
        case: Case | None = None,
        text: str = "",
        rules: RectificationRules,
        calendar: WorkCalendar,
        now: dt.datetime,
        actor: Actor,
        rating_id: str | None = None,
    ) -> RatingStep:
        """Rate one occasion at a window (一次一评): a visit named by the hall's own id (a
        queue ticket, a visit number). ``agency`` is the agency the window acted for; a bad
        rating opens its rectification. The rater may stay anonymous."""
        return cls._new(
            basis=RatingBasis.OCCASION,
            case_id=case.id if case else None,
            tracking_code=case.tracking_code if case else None,
            occasion=_occasion(occasion),
            item_code=item_code or (case.item_code if case else None),
            agency=agency,
            division=agency[2:8],
            department=agency,
            party=party,
            party_name=party_name,
            rater=rater,
            rater_name=rater_name,
            level=level,
            text=text,
            channel=channel,
            rules=rules,
            calendar=calendar,
            now=now,
            actor=actor,
            rating_id=rating_id,
        )

    @classmethod
    def _new(
        cls,
        *,
        basis: RatingBasis,
        agency: str,
        division: str,
        department: str,
        level: RatingLevel | str,
        channel: RatingChannel | str,
        text: str,
        party_name: str,
        rater_name: str,
        rules: RectificationRules,
        calendar: WorkCalendar,
        now: dt.datetime,
        actor: Actor,
        rating_id: str | None,
        **fields: Any,
    ) -> RatingStep:
        chosen = RatingLevel.parse(level)
        via = _channel(channel)
        comment = _text(text, "text")
        rectification = None
        if chosen.is_bad:
            # The rule of the region the responsible department is in (from its credit code).
            workdays = rules.workdays_for(department[2:8])
            due = due_date(calendar, local_date(now), TimeLimit(workdays, TimeUnit.WORKDAY))
            rectification = Rectification(
                department=department,
                due=due.date,
                workdays=workdays,
                provisional=due.provisional,
                opened_at=now,
            )
        rating = cls(
            id=rating_id or new_id(),
            basis=basis,
            agency=agency,
            department=department,
            division=division,
            party_name=_text(party_name, "party_name", limit=200),
            rater_name=_text(rater_name, "rater_name", limit=200),
            level=chosen,
            text=comment,
            channel=via,
            rated_at=now,
            rectification=rectification,
            **fields,
        )
        event = RatingEvent(
            rating_id=rating.id,
            seq=1,
            kind=RatingEventKind.RATED,
            at=now,
            actor=actor,
            payload=Rated(
                basis=basis,
                level=chosen,
                channel=via,
                bad=chosen.is_bad,
                case_id=rating.case_id,
                occasion=rating.occasion,
                department=rectification.department if rectification else None,
                due=rectification.due if rectification else None,
            ),
        )
        return RatingStep(rating, event)

    # --- helpers ------------------------------------------------------------------------------

    def _step(
        self,
        payload: RatingPayload,
        *,
        now: dt.datetime,
        actor: Actor,
        outbox: Iterable[OutboxMessage] = (),
        **changes: Any,
    ) -> RatingStep:
        rating = attrs.evolve(self, version=self.version + 1, **changes)
        event = RatingEvent(
            rating_id=self.id,
            seq=rating.version,
            kind=_KIND_OF[type(payload)],
            at=now,
            actor=actor,
            payload=payload,
        )
        return RatingStep(rating, event, tuple(outbox))

    def _open_rectification(self, command: str) -> Rectification:
        """The rectification, if the department still owes its answer; else a refusal."""
        r = self.rectification
        if r is None:
            raise RatingRefused(
                f"rating {self.id} is {self.level.value}, not a bad rating (差评): it opened "
                f"no rectification, so there is nothing to {command}",
                state="no_rectification",
                command=command,
            )
        if r.status is RectificationStatus.OPEN:
            return r
        why = {
            RectificationStatus.APPEALED: (
                "its appeal (申诉) waits for a supervisor's decision; answer after the decision"
            ),
            RectificationStatus.ANSWERED: (
                f"the department answered it on {local_date(r.answered_at or r.opened_at)}"
            ),
            RectificationStatus.EXCLUDED: (
                "the appeal was upheld: the rating is excluded as "
                f"{self.excluded.label if self.excluded else 'mistaken'}, nothing is owed"
            ),
        }[r.status]
        raise RatingRefused(
            f"cannot {command} rating {self.id}: {why}",
            state=r.status.value,
            command=command,
            allowed=self.allowed_commands(),
        )

    def allowed_commands(self) -> frozenset[str]:
        """The commands the rating's state allows (the policy narrows them per principal)."""
        r = self.rectification
        if r is None:
            return frozenset()
        if r.status is RectificationStatus.OPEN:
            return frozenset({"answer"} | (set() if self.appeal else {"appeal"}))
        if r.status is RectificationStatus.APPEALED:
            return frozenset({"decide_appeal"})
        if r.status is RectificationStatus.ANSWERED and self.second is None and self.rater:
            return frozenset({"rerate"})
        return frozenset()

    def _notify_rater(self, kind: str, text: str) -> list[OutboxMessage]:
        if self.rater is None:
            return []  # an anonymous window rating: nobody to tell
        return [
            OutboxMessage(
                id=new_id(),
                topic="applicant.notify",
                payload={
                    "case_id": self.case_id,
                    "tracking_code": self.tracking_code,
                    "rating_id": self.id,
                    "applicant": self.rater.number,
                    "kind": kind,
                    "text": text,
                },
            )
        ]

    # --- commands -----------------------------------------------------------------------------

    def answer(self, text: str, *, now: dt.datetime, actor: Actor) -> RatingStep:
        """The department's answer to the rater (整改回访): what it found and what it changed.

        Closes the rectification; whether it came by the due date counts in the timeliness
        statistics. The rater is told and may rate once more.
        """
        r = self._open_rectification("answer")
        answer = _text(text, "answer", required=True)
        done = attrs.evolve(
            r,
            status=RectificationStatus.ANSWERED,
            answer=answer,
            answered_at=now,
            answered_by=actor,
        )
        assert done.on_time is not None
        return self._step(
            Answered(department=r.department, answer=answer, on_time=done.on_time),
            now=now,
            actor=actor,
            outbox=self._notify_rater(
                "rating_answered",
                f"您的评价已整改：{answer}。欢迎对整改结果再次评价。",
            ),
            rectification=done,
        )

    def rerate(
        self,
        level: RatingLevel | str,
        *,
        channel: RatingChannel | str,
        text: str = "",
        now: dt.datetime,
        actor: Actor,
    ) -> RatingStep:
        """The rater's second rating after the department answered; the only second one."""
        if self.second is not None:
            raise RatingRefused(
                f"rating {self.id} was rated again already on {local_date(self.second.at)} "
                f"({self.second.level.value}); a matter is rated once, plus once after its "
                "rectification",
                state="rerated",
                command="rerate",
            )
        r = self.rectification
        if r is None or r.status is not RectificationStatus.ANSWERED:
            shown = "no rectification" if r is None else f"its rectification is {r.status.label}"
            raise RatingRefused(
                f"rating {self.id} can be rated again only after the department answered its "
                f"rectification (整改回访); {shown}",
                state=r.status.value if r else "no_rectification",
                command="rerate",
                allowed=self.allowed_commands(),
            )
        if self.rater is None:
            raise RatingRefused(
                f"rating {self.id} was given anonymously at a window; nobody can rate it again",
                state="anonymous",
                command="rerate",
            )
        chosen = RatingLevel.parse(level)
        via = _channel(channel)
        second = Rerating(level=chosen, text=_text(text, "text"), channel=via, at=now)
        return self._step(
            Rerated(level=chosen, channel=via, bad=chosen.is_bad),
            now=now,
            actor=actor,
            second=second,
        )

    def lodge_appeal(
        self, ground: Exclusion | str, *, reason: str, now: dt.datetime, actor: Actor
    ) -> RatingStep:
        """The department's appeal (申诉): the bad rating is mistaken (误评) or malicious
        (恶意差评). One appeal per rating; a supervisor decides."""
        r = self._open_rectification("appeal")
        if self.appeal is not None:
            raise RatingRefused(
                f"rating {self.id} was appealed already on {local_date(self.appeal.lodged_at)} "
                "and the appeal was rejected; rectify it and answer the rater",
                state="appeal_rejected",
                command="appeal",
                allowed=self.allowed_commands(),
            )
        why = _exclusion(ground)
        said = _text(reason, "reason", required=True)
        appeal = Appeal(ground=why, reason=said, lodged_at=now, lodged_by=actor)
        return self._step(
            Appealed(department=r.department, ground=why, reason=said),
            now=now,
            actor=actor,
            appeal=appeal,
            rectification=attrs.evolve(r, status=RectificationStatus.APPEALED),
        )

    def decide_appeal(
        self, *, upheld: bool, reason: str, now: dt.datetime, actor: Actor
    ) -> RatingStep:
        """A supervisor's decision on the appeal (申诉复核), with the reason.

        Upheld: the rating is excluded from the statistics as mistaken or malicious and its
        rectification closes. Rejected: the rectification is open again, due as before.
        """
        appeal, r = self.appeal, self.rectification
        if appeal is None or r is None or r.status is not RectificationStatus.APPEALED:
            state = r.status.value if r else "no_rectification"
            raise RatingRefused(
                f"rating {self.id} has no appeal waiting for a decision",
                state=state,
                command="decide_appeal",
                allowed=self.allowed_commands(),
            )
        if not isinstance(upheld, bool):
            raise InvalidInput(f"upheld must be True or False, got {upheld!r}")
        said = _text(reason, "reason", required=True)
        decided = attrs.evolve(
            appeal, upheld=upheld, decision=said, decided_at=now, decided_by=actor
        )
        status = RectificationStatus.EXCLUDED if upheld else RectificationStatus.OPEN
        outbox = (
            self._notify_rater(
                "rating_excluded",
                f"经核实，您的评价被认定为{appeal.ground.label}，不计入统计：{said}",
            )
            if upheld
            else []
        )
        return self._step(
            AppealDecided(upheld=upheld, ground=appeal.ground, reason=said),
            now=now,
            actor=actor,
            outbox=outbox,
            appeal=decided,
            rectification=attrs.evolve(r, status=status),
            excluded=appeal.ground if upheld else None,
        )


def _exclusion(value: Exclusion | str) -> Exclusion:
    if isinstance(value, Exclusion):
        return value
    for member in Exclusion:
        if value in (member.value, member.label, member.name):
            return member
    raise InvalidInput(
        f"appeal ground {value!r} is not one of mistaken (误评), malicious (恶意差评)"
    )
