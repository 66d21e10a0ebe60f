"""The ratings service (好差评): rating finished cases and window occasions, the departments'
rectification queues (整改), answers, re-ratings, appeals, and the indicators.

Each command authorizes, loads, calls one method of :class:`~govsvc.ratings.Rating` and stores
the rating, its event and its outbox messages in one transaction; a command that raises
(a refusal by the policy included) leaves the database as it was. Lists are filtered in SQL by
the principal (a department's queue holds its own rectifications only) and the statistics are
SQL aggregates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import sqlalchemy as sa

from govsvc._frozen import FrozenMap
from govsvc.cases import Case, local_date
from govsvc.errors import ConcurrentUpdate, InvalidInput, NotFound
from govsvc.identity import CreditCode, Organisation, PartyKey, Person
from govsvc.policy import Action, Resource, significant_prefix
from govsvc.principals import Actor, PrincipalKind
from govsvc.ratings import (
    Exclusion,
    Rating,
    RatingBasis,
    RatingChannel,
    RatingEvent,
    RatingLevel,
    RatingStep,
    RectificationRules,
    RectificationStatus,
)
from govsvc.services._base import Service
from govsvc.services.views import Page, decode_cursor, encode_cursor
from govsvc.store import ratings as store
from govsvc.store.tables import ratings_t

__all__ = ["RatingService", "RatingStatistics", "RatingSummary"]

RatingRef = Rating | str
StepFn = Callable[[Rating, dt.datetime, Actor], RatingStep]

COMMAND_ACTIONS: Mapping[str, Action] = {
    "answer": Action.RATING_ANSWER,
    "appeal": Action.RATING_APPEAL,
    "decide_appeal": Action.RATING_DECIDE_APPEAL,
    "rerate": Action.RATING_RERATE,
}
GROUPINGS = ("department", "agency", "item", "month")


@attrs.frozen(kw_only=True)
class RatingSummary:
    """A rating in a list: a department's rectification queue, the rater's own ratings.

    Staff lists show the rater's name masked (张*); :meth:`RatingService.get` gives the whole
    rating, recorded as a read of personal data.
    """

    id: str
    basis: RatingBasis
    tracking_code: str | None
    occasion: str | None
    item_code: str | None
    agency: str
    department: str
    level: RatingLevel  # the first rating
    current_level: RatingLevel  # the re-rating after a rectification, if any
    bad: bool
    text: str
    channel: RatingChannel
    rated_at: dt.datetime
    rater_name: str
    status: RectificationStatus | None  # None: a good rating, no rectification
    due: dt.date | None
    answered_at: dt.datetime | None
    on_time: bool | None
    excluded: Exclusion | None

    @classmethod
    def of(cls, rating: Rating, *, mask_names: bool) -> RatingSummary:
        shown = rating.masked() if mask_names else rating
        r = rating.rectification
        return cls(
            id=rating.id,
            basis=rating.basis,
            tracking_code=rating.tracking_code,
            occasion=rating.occasion,
            item_code=rating.item_code,
            agency=rating.agency,
            department=rating.department,
            level=rating.level,
            current_level=rating.current_level,
            bad=rating.is_bad,
            text=rating.text,
            channel=rating.channel,
            rated_at=rating.rated_at,
            rater_name=shown.rater_name,
            status=r.status if r else None,
            due=r.due if r else None,
            answered_at=r.answered_at if r else None,
            on_time=r.on_time if r else None,
            excluded=rating.excluded,
        )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@attrs.frozen(kw_only=True)
class RatingStatistics:
    """The 好差评 indicators of one group — a department, an item or a month — from SQL.

    Ratings excluded after an upheld appeal (mistaken or malicious) count only in
    ``excluded``. ``by_level`` counts the level that counts now (the re-rating after a
    rectification, if any); ``bad`` counts bad first ratings, each of which opened a
    rectification.
    """

    group: str  # a department's credit code, an item's implementation code or "2026-03"
    ratings: int
    by_level: Mapping[RatingLevel, int]
    bad: int
    rectified: int  # answered by the department (整改回访)
    rectified_on_time: int  # answered by the due date
    pending: int  # still owed: open or under appeal
    overdue: int  # still owed after the due date
    excluded: int

    @property
    def satisfaction(self) -> float | None:
        """Share of 非常满意, 满意 and 基本满意 among the counted ratings (满意率)."""
        good = sum(n for level, n in self.by_level.items() if level.is_satisfied)
        return _share(good, self.ratings)

    @property
    def rectification_rate(self) -> float | None:
        """Share of bad ratings rectified and answered (差评整改率; the target is 100 %)."""
        return _share(self.rectified, self.bad)

    @property
    def timeliness(self) -> float | None:
        """Share of bad ratings rectified by their due date (整改及时率)."""
        return _share(self.rectified_on_time, self.bad)


class RatingService(Service):
    """Ratings (好差评) as the session's principal may give, see and handle them."""

    # --- loading -----------------------------------------------------------------------------

    def _load(self, conn: sa.Connection, ref: RatingRef) -> Rating:
        rating_id = ref.id if isinstance(ref, Rating) else ref
        if not isinstance(rating_id, str):
            raise InvalidInput(f"a rating is named by a Rating or its id, got {type(ref).__name__}")
        found = store.load(conn, rating_id)
        if found is None:
            raise NotFound(
                f"no rating with id {rating_id!r}; find a case's rating with "
                "session.ratings.of_case(case)"
            )
        if isinstance(ref, Rating) and found.version != ref.version:
            raise ConcurrentUpdate(
                f"rating {found.id} changed since you loaded it (your copy is version "
                f"{ref.version}, the stored one {found.version}); reload it and act again"
            )
        return found

    def _run(self, ref: RatingRef, action: Action, step: StepFn) -> Rating:
        """Authorize, load, apply one domain command and store it, in one transaction."""
        rt = self._rt
        now = rt.now()
        with rt.write() as conn:
            rating = self._load(conn, ref)
            self._authorize(action, Resource.of_rating(rating, today=local_date(now)))
            result = step(rating, now, self.principal.actor)
            store.save_step(conn, result, now=now)
        return result.rating

    def _channel(self, channel: RatingChannel | str | None, *, occasion: bool) -> RatingChannel:
        if channel is not None:
            try:
                return RatingChannel(channel)
            except ValueError:
                allowed = ", ".join(c.value for c in RatingChannel)
                raise InvalidInput(f"channel {channel!r} is not one of {allowed}") from None
        kind = self.principal.kind
        if kind is PrincipalKind.CLERK:
            return RatingChannel.HALL_TABLET
        if kind.is_applicant_side:
            return RatingChannel.QR_CODE if occasion else RatingChannel.PC
        raise InvalidInput(
            f"say through which channel the rating came (channel=RatingChannel.SMS, …); "
            f"{self.principal} relays ratings from several"
        )

    # --- rating ------------------------------------------------------------------------------

    def rate(
        self,
        case: Case | str,
        level: RatingLevel | str,
        *,
        text: str = "",
        channel: RatingChannel | str | None = None,
    ) -> Rating:
        """Rate a finished case (一事一评): its applicant, their agent, or a channel relaying
        the applicant's rating (an SMS reply, a 12345 call).

        Only cases handled to a decision can be rated (completed, denied, not accepted,
        revoked; see :data:`govsvc.ratings.RATEABLE_STATES`), once. A bad rating (不满意,
        非常不满意) opens a rectification for the responsible department, due in working days
        (:meth:`rules`). Codes from an interface are mapped first:
        ``level=RatingCodes.PLATFORM.level("1")``.
        """
        rt = self._rt
        now = rt.now()
        principal = self.principal
        found = self._session.cases.peek(case)
        self._authorize(Action.RATING_RATE, Resource.of_case(found, today=local_date(now)))
        if principal.kind is PrincipalKind.CLERK:
            raise InvalidInput(
                "a window clerk records the rating of an occasion (一次一评) with "
                "rate_occasion(); the case's own rating (一事一评) is the applicant's to give"
            )
        if principal.kind.is_applicant_side:
            rater, rater_name = principal.party, principal.name
        else:  # a channel relays the applicant's own rating
            rater, rater_name = found.applicant, found.applicant_name
        via = self._channel(channel, occasion=False)
        with rt.write() as conn:
            step = Rating.of_case(
                found,
                level,
                channel=via,
                rater=rater,
                rater_name=rater_name,
                text=text,
                rules=store.load_rules(conn),
                calendar=rt.calendar,
                now=now,
                actor=principal.actor,
            )
            self._store_new(conn, step, now)
        return step.rating

    def rate_occasion(
        self,
        occasion: str,
        level: RatingLevel | str,
        *,
        agency: str | None = None,
        item_code: str | None = None,
        case: Case | str | None = None,
        rater: Person | Organisation | None = None,
        text: str = "",
        channel: RatingChannel | str | None = None,
    ) -> Rating:
        """Rate one occasion at a window (一次一评), named by the hall's own id for it (a queue
        ticket, a visit number), once.

        A clerk records it for the agency the window acted for (``agency``; or the item's, or
        the case's), for the person served (``rater``) or anonymously; an applicant rates their
        own visit (by the receipt's QR code). A bad rating opens a rectification for the agency.
        """
        rt = self._rt
        now = rt.now()
        principal = self.principal
        linked = self._session.cases.peek(case) if case is not None else None
        code = agency or (item_code[:18] if item_code else None) or (linked and linked.agency)
        if not code:
            raise InvalidInput(
                "say which agency the window acted for (agency=its credit code), or give the "
                "item_code or case of the visit"
            )
        agency_code = CreditCode.parse(code).number
        if item_code is not None:
            self._session.catalogue.version(item_code)  # UnknownItem for an unpublished item
            if item_code[:18] != agency_code:
                raise InvalidInput(
                    f"item {item_code} belongs to agency {item_code[:18]}, not {agency_code}; "
                    "give the agency the window acted for"
                )
        party, party_name, who, who_name = self._occasion_people(rater)
        via = self._channel(channel, occasion=True)
        with rt.write() as conn:
            step = Rating.of_occasion(
                occasion,
                level,
                agency=agency_code,
                channel=via,
                party=party,
                party_name=party_name,
                rater=who,
                rater_name=who_name,
                item_code=item_code,
                case=linked,
                text=text,
                rules=store.load_rules(conn),
                calendar=rt.calendar,
                now=now,
                actor=principal.actor,
            )
            self._authorize(
                Action.RATING_RATE, Resource.of_rating(step.rating, today=local_date(now))
            )
            self._store_new(conn, step, now)
        return step.rating

    def _occasion_people(
        self, rater: Person | Organisation | None
    ) -> tuple[PartyKey | None, str, PartyKey | None, str]:
        """(party, its name, rater, their name) of a window rating."""
        principal = self.principal
        if principal.kind.is_applicant_side:
            if rater is not None:
                raise InvalidInput(
                    "rater= is for a clerk recording who was served; an applicant rates as "
                    "themselves"
                )
            assert principal.party is not None
            whose = principal.acting_for or principal.party
            return (
                whose,
                "" if principal.acting_for else principal.name,
                principal.party,
                (principal.name),
            )
        if rater is None:
            return None, "", None, ""
        if not isinstance(rater, Person | Organisation):
            raise InvalidInput(
                "rater must be a govsvc.Person or govsvc.Organisation (or None for an "
                "anonymous rating)"
            )
        return rater.key, rater.name, rater.key, rater.name

    def _store_new(self, conn: sa.Connection, step: RatingStep, now: dt.datetime) -> None:
        if store.find(conn, matter=step.rating.matter) is not None:
            raise store.already_rated(conn, step.rating)
        store.save_step(conn, step, now=now)

    # --- one rating --------------------------------------------------------------------------

    def get(self, rating: RatingRef, *, purpose: str | None = None) -> Rating:
        """A rating with its rectification, appeal and re-rating.

        It names the rater (a department calls them back, 回访): staff reading it state a
        purpose of use (the session's by default) and the read is recorded.
        """
        rt = self._rt
        why = self._purpose(purpose)
        with rt.read() as conn:
            found = self._load(conn, rating)
        return self._read(found, why)

    def _read(self, rating: Rating, purpose: str) -> Rating:
        rt = self._rt
        resource = Resource.of_rating(rating, today=rt.today(), purpose=purpose)
        decision = self._authorize(Action.RATING_READ, resource)
        if self._session.reads_personal_data_of(resource):
            rt.record_access([self._session.read_record(Action.RATING_READ, resource, decision)])
        return rating

    def of_case(self, case: Case | str, *, purpose: str | None = None) -> Rating | None:
        """The rating of a case (一事一评), or None while it is not rated."""
        rt = self._rt
        why = self._purpose(purpose)
        found = self._session.cases.peek(case)
        with rt.read() as conn:
            rating = store.find(conn, matter=f"case:{found.id}")
        if rating is None:
            self._authorize(
                Action.RATING_READ, Resource.of_case(found, today=rt.today(), purpose=why)
            )
            return None
        return self._read(rating, why)

    def trail(self, rating: RatingRef) -> list[RatingEvent]:
        """Every event of a rating, oldest first; raters see staff masked (王*)."""
        rt = self._rt
        with rt.read() as conn:
            found = self._load(conn, rating)
            resource = Resource.of_rating(found, today=rt.today(), purpose=self._purpose(None))
            self._authorize(Action.RATING_READ, resource)
            events = store.events_of(conn, found.id)
        if self.principal.kind.is_staff or self.principal.kind is PrincipalKind.PLATFORM:
            return events
        return [e.masked() for e in events]

    def commands(self, rating: Rating) -> frozenset[str]:
        """The rating commands this principal may use now (what a page shows as buttons)."""
        resource = Resource.of_rating(rating, today=self._rt.today())
        return frozenset(
            command
            for command in rating.allowed_commands()
            if self._session.can(COMMAND_ACTIONS[command], resource)
        )

    # --- the rectification (整改) -------------------------------------------------------------

    def answer(self, rating: RatingRef, text: str) -> Rating:
        """The responsible department's answer to the rater (整改回访): what it found and
        changed. The rater is told and may rate once more; on time or late counts in the
        statistics."""
        return self._run(
            rating, Action.RATING_ANSWER, lambda r, now, actor: r.answer(text, now=now, actor=actor)
        )

    def rerate(
        self,
        rating: RatingRef,
        level: RatingLevel | str,
        *,
        text: str = "",
        channel: RatingChannel | str | None = None,
    ) -> Rating:
        """The rater's second rating, after the department answered (the only second one)."""
        via = self._channel(channel, occasion=False)
        return self._run(
            rating,
            Action.RATING_RERATE,
            lambda r, now, actor: r.rerate(level, channel=via, text=text, now=now, actor=actor),
        )

    def appeal(self, rating: RatingRef, ground: Exclusion | str, *, reason: str) -> Rating:
        """The department's appeal (申诉, by its leader) that a bad rating is mistaken (误评) or
        malicious (恶意差评); a supervisor decides. The deadline keeps running."""
        return self._run(
            rating,
            Action.RATING_APPEAL,
            lambda r, now, actor: r.lodge_appeal(ground, reason=reason, now=now, actor=actor),
        )

    def decide_appeal(self, rating: RatingRef, *, upheld: bool, reason: str) -> Rating:
        """A supervisor's decision on an appeal, with the reason: upheld, the rating is left
        out of the statistics; rejected, the department must rectify and answer."""
        return self._run(
            rating,
            Action.RATING_DECIDE_APPEAL,
            lambda r, now, actor: r.decide_appeal(
                upheld=upheld, reason=reason, now=now, actor=actor
            ),
        )

    # --- lists -------------------------------------------------------------------------------

    def queue(
        self,
        department: str | None = None,
        *,
        status: RectificationStatus | None = RectificationStatus.OPEN,
        limit: int = 50,
        after: str | None = None,
    ) -> Page[RatingSummary]:
        """A department's rectifications, soonest due first (filtered in SQL).

        Department staff see their own department's (the default); a supervisor names a
        department, or sees every one in the division. ``status`` None lists every
        rectification, answered and excluded ones too.
        """
        principal = self.principal
        where: list[Any] = []
        if department is None and principal.kind is not PrincipalKind.SUPERVISOR:
            department = principal.agency
        if department is not None:
            code = CreditCode.parse(department).number
            self._authorize(Action.RATING_QUEUE, self._session.resource(code))
            where.append(ratings_t.c.department == code)
        else:
            self._authorize(Action.RATING_QUEUE, Resource.division_of(principal.division))
        where += self._scope()
        if status is None:
            where.append(ratings_t.c.rect_status.is_not(None))
        else:
            where.append(ratings_t.c.rect_status == RectificationStatus(status).value)
        limit = _limit(limit)
        if after is not None:
            due, last = decode_cursor(after, 2)
            day = dt.date.fromisoformat(due)
            where.append(
                sa.or_(
                    ratings_t.c.rect_due > day,
                    sa.and_(ratings_t.c.rect_due == day, ratings_t.c.id > last),
                )
            )
        with self._rt.read() as conn:
            found = store.page(
                conn, where, order=[ratings_t.c.rect_due, ratings_t.c.id], limit=limit + 1
            )
        more = len(found) > limit
        found = found[:limit]
        last_due = found[-1].rectification.due if more and found[-1].rectification else None
        nxt = encode_cursor(last_due, found[-1].id) if more and last_due else None
        return Page([RatingSummary.of(r, mask_names=True) for r in found], next=nxt)

    def mine(self, *, limit: int = 50, after: str | None = None) -> Page[RatingSummary]:
        """The principal's own ratings, newest first: of their cases and visits, their
        organisation's, and those they gave."""
        principal = self.principal
        if principal.party is None:
            raise InvalidInput(f"{principal} gives no ratings of their own")
        self._authorize(Action.RATING_READ, Resource.of_party(principal.party))
        where: list[Any] = self._scope()
        limit = _limit(limit)
        if after is not None:
            at, last = decode_cursor(after, 2)
            moment = dt.datetime.fromisoformat(at)
            where.append(
                sa.or_(
                    ratings_t.c.rated_at < moment,
                    sa.and_(ratings_t.c.rated_at == moment, ratings_t.c.id < last),
                )
            )
        with self._rt.read() as conn:
            found = store.page(
                conn,
                where,
                order=[ratings_t.c.rated_at.desc(), ratings_t.c.id.desc()],
                limit=limit + 1,
            )
        more = len(found) > limit
        found = found[:limit]
        nxt = encode_cursor(found[-1].rated_at, found[-1].id) if more else None
        return Page([RatingSummary.of(r, mask_names=False) for r in found], next=nxt)

    def _scope(self) -> list[Any]:
        """SQL clauses restricting ``ratings`` to what the principal may list."""
        principal = self.principal
        kind = principal.kind
        t = ratings_t.c
        if kind is PrincipalKind.SUPERVISOR:
            assert principal.division is not None
            return [t.division.startswith(significant_prefix(principal.division))]
        if kind in (PrincipalKind.REVIEWER, PrincipalKind.APPROVER):
            return [t.department == principal.agency]
        if kind.is_applicant_side:
            assert principal.party is not None
            keys = [principal.party] + ([principal.acting_for] if principal.acting_for else [])
            return [
                sa.or_(
                    *(
                        sa.and_(t.party_type == k.doc_type.value, t.party_number == k.number)
                        for k in keys
                    ),
                    sa.and_(
                        t.rater_type == principal.party.doc_type.value,
                        t.rater_number == principal.party.number,
                    ),
                )
            ]
        if kind in (PrincipalKind.PLATFORM, PrincipalKind.CHANNEL):
            return []
        return [sa.false()]

    # --- indicators --------------------------------------------------------------------------

    def statistics(
        self,
        *,
        by: str = "department",
        department: str | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        on: dt.date | None = None,
    ) -> list[RatingStatistics]:
        """The 好差评 indicators per department (``by="department"``, the responsible one),
        rated ``agency``, ``item`` or ``month``, computed with SQL aggregates: the satisfaction
        distribution, the bad ratings' rectification rate and timeliness, what is still owed
        and overdue on ``on`` (default today). ``since``/``until`` bound the rating day.

        A supervisor sees the division, department staff their own department; a channel
        application granted the action (a public dashboard) sees everything.
        """
        if by not in GROUPINGS:
            raise InvalidInput(f"statistics by {by!r}: choose one of {', '.join(GROUPINGS)}")
        principal = self.principal
        where: list[Any] = []
        if department is None and principal.kind in (
            PrincipalKind.REVIEWER,
            PrincipalKind.APPROVER,
        ):
            department = principal.agency
        if department is not None:
            code = CreditCode.parse(department).number
            self._authorize(Action.RATING_STATISTICS, self._session.resource(code))
            where.append(ratings_t.c.department == code)
        elif principal.kind is PrincipalKind.SUPERVISOR:
            self._authorize(Action.RATING_STATISTICS, Resource.division_of(principal.division))
        else:
            self._authorize(Action.RATING_STATISTICS, Resource.platform())
        where += self._scope()
        for bound, op in ((since, "ge"), (until, "le")):
            if bound is not None:
                if not isinstance(bound, dt.date) or isinstance(bound, dt.datetime):
                    raise InvalidInput(f"since and until are dates, got {bound!r}")
                column = ratings_t.c.rated_on
                where.append(column >= bound if op == "ge" else column <= bound)
        today = on or self._rt.today()
        with self._rt.read() as conn:
            rows = store.statistics(conn, by=by, where=where, today=today)
        groups: dict[str, dict[str, Any]] = {}
        for group, level, n, bad, rectified, on_time, pending, overdue, excluded in rows:
            entry = groups.setdefault(
                str(group or ""),
                {
                    "by_level": {},
                    "bad": 0,
                    "rectified": 0,
                    "on_time": 0,
                    "pending": 0,
                    "overdue": 0,
                    "excluded": 0,
                },
            )
            if n:
                entry["by_level"][RatingLevel[level]] = int(n)
            for key, value in (
                ("bad", bad),
                ("rectified", rectified),
                ("on_time", on_time),
                ("pending", pending),
                ("overdue", overdue),
                ("excluded", excluded),
            ):
                entry[key] += int(value or 0)
        return [
            RatingStatistics(
                group=group,
                ratings=sum(e["by_level"].values()),
                by_level=FrozenMap({lv: e["by_level"].get(lv, 0) for lv in RatingLevel}),
                bad=e["bad"],
                rectified=e["rectified"],
                rectified_on_time=e["on_time"],
                pending=e["pending"],
                overdue=e["overdue"],
                excluded=e["excluded"],
            )
            for group, e in sorted(groups.items())
        ]

    # --- deadlines ---------------------------------------------------------------------------

    def rules(self) -> RectificationRules:
        """The rectification deadlines in force (整改时限; 15 working days unless configured)."""
        self._authorize(Action.RATING_CONFIGURE, Resource.platform())
        with self._rt.read() as conn:
            return store.load_rules(conn)

    def configure(self, workdays: int, *, region: str | None = None) -> RectificationRules:
        """Set the rectification deadline in working days for the platform (``region`` None)
        or for a division (e.g. ``"230100"`` where local rules give 7 or 5). Applies to bad
        ratings given from now on; open rectifications keep their due dates."""
        self._authorize(Action.RATING_CONFIGURE, Resource.platform())
        rules = RectificationRules().with_region(region, workdays)  # validates both
        key = None if region is None else next(iter(rules.regions))
        with self._rt.write() as conn:
            store.save_rule(
                conn, key, workdays, now=self._rt.now(), by=str(self.principal.actor.label)
            )
            return store.load_rules(conn)


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise InvalidInput(f"limit must be a whole number from 1 to 1000, got {limit!r}")
    return limit
