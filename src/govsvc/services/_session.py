"""A session: the platform bound to one principal, with its resource services.

A session lives as long as one request (a page, an API call, a worker pass); the platform
lives as long as the process. Every service method authorizes through :meth:`Session.authorize`
— the one place the policy is asked — before it reads or changes anything.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import TYPE_CHECKING

from govsvc._text import check_text
from govsvc.audit import AccessRecord
from govsvc.cases import Case
from govsvc.catalogue import ItemVersion, ServiceItem
from govsvc.errors import InvalidInput, PermissionDenied
from govsvc.identity import PartyKey
from govsvc.policy import Action, Decision, Resource
from govsvc.principals import Principal

if TYPE_CHECKING:
    from govsvc.services._runtime import Runtime
    from govsvc.services.calendar import CalendarService
    from govsvc.services.cases import CaseService
    from govsvc.services.catalogue import CatalogueService
    from govsvc.services.certificates import CertificateService
    from govsvc.services.departments import DepartmentService
    from govsvc.services.indicators import IndicatorService
    from govsvc.services.outbox import OutboxService
    from govsvc.services.parties import PartyService
    from govsvc.services.ratings import RatingService
    from govsvc.services.reviews import ReviewService
    from govsvc.services.staff import StaffService
    from govsvc.services.supervision import SupervisionService

__all__ = ["Session"]

ResourceLike = (
    Resource | Case | tuple[Case, str] | PartyKey | ServiceItem | ItemVersion | str | None
)


class Session:
    """The platform as one principal sees it: ``session.cases.accept(code)``.

    Made by :meth:`govsvc.Platform.session`. ``purpose`` is the default purpose of use
    (用证事由) of this session's reads of other parties' personal data (a back-office page
    would say "办件审查"); a read may also state its own.
    """

    def __init__(self, runtime: Runtime, principal: Principal, *, purpose: str = "") -> None:
        if not isinstance(principal, Principal):
            raise InvalidInput(
                f"a session needs a govsvc.Principal, got {type(principal).__name__}; build "
                "one with a named constructor such as Principal.clerk(...)"
            )
        self._runtime = runtime
        self.principal = principal
        self.purpose = check_text(purpose, "purpose").strip()

    def __repr__(self) -> str:
        return f"<Session {self.principal}>"

    def with_purpose(self, purpose: str) -> Session:
        """The same principal with another default purpose of use."""
        return Session(self._runtime, self.principal, purpose=purpose)

    # --- services ----------------------------------------------------------------------------

    @cached_property
    def catalogue(self) -> CatalogueService:
        """Service items (事项) and their guides: read by anyone, published by their agency."""
        from govsvc.services.catalogue import CatalogueService

        return CatalogueService(self)

    @cached_property
    def parties(self) -> PartyService:
        """Persons and organisations (一号): records, the profile, certificates, data use."""
        from govsvc.services.parties import PartyService

        return PartyService(self)

    @cached_property
    def cases(self) -> CaseService:
        """Cases (办件): apply … withdraw, get, trail, lists, lights."""
        from govsvc.services.cases import CaseService

        return CaseService(self)

    @cached_property
    def reviews(self) -> ReviewService:
        """Department review tasks (审查): queues and decisions."""
        from govsvc.services.reviews import ReviewService

        return ReviewService(self)

    @cached_property
    def supervision(self) -> SupervisionService:
        """Supervision (电子监察): overdue cases, statistics, the access log."""
        from govsvc.services.supervision import SupervisionService

        return SupervisionService(self)

    @cached_property
    def indicators(self) -> IndicatorService:
        """The national evaluation's indicators (政务服务能力评估): online depth, visits,
        time limits, online acceptance, handling time, satisfaction, rectification."""
        from govsvc.services.indicators import IndicatorService

        return IndicatorService(self)

    @cached_property
    def outbox(self) -> OutboxService:
        """Work committed with commands, waiting to be delivered."""
        from govsvc.services.outbox import OutboxService

        return OutboxService(self)

    @cached_property
    def departments(self) -> DepartmentService:
        """The departments' legacy systems: health, delivery, polling, the exchange log."""
        from govsvc.services.departments import DepartmentService

        return DepartmentService(self)

    @cached_property
    def staff(self) -> StaffService:
        """The staff directory: which identity provider login is which staff principal."""
        from govsvc.services.staff import StaffService

        return StaffService(self)

    @cached_property
    def ratings(self) -> RatingService:
        """Ratings (好差评): rating cases and window visits, rectifications, appeals, indicators."""
        from govsvc.services.ratings import RatingService

        return RatingService(self)

    @cached_property
    def calendar(self) -> CalendarService:
        """The working-day calendar (工作日): loading new years and regional overlays."""
        from govsvc.services.calendar import CalendarService

        return CalendarService(self)

    @cached_property
    def certificates(self) -> CertificateService:
        """E-certificates (电子证照): library, lifecycle, verification, sharing, reuse."""
        from govsvc.services.certificates import CertificateService

        return CertificateService(self)

    # --- authorization -----------------------------------------------------------------------

    def resource(self, of: ResourceLike, *, purpose: str = "") -> Resource:
        """The policy resource for a domain object (what :meth:`can` accepts)."""
        today = self._runtime.today()
        if of is None:
            return Resource.platform()
        if isinstance(of, Resource):
            return of
        if isinstance(of, Case):
            return Resource.of_case(of, today=today, purpose=purpose)
        if isinstance(of, tuple):
            case, task_id = of
            return Resource.of_task(case, task_id, today=today)
        if isinstance(of, PartyKey):
            return Resource.of_party(of, purpose=purpose)
        if isinstance(of, ServiceItem):
            return Resource.item(of.agency.credit_code, item_code=of.implementation_code)
        if isinstance(of, ItemVersion):
            return Resource.item(of.agency.credit_code, item_code=of.item_code)
        if isinstance(of, str):
            department = self._runtime.departments.get(of)
            return Resource.department_of(
                of, division=(department.division if department else "") or of[2:8]
            )
        raise InvalidInput(f"cannot tell what resource a {type(of).__name__} is")

    def can(self, action: Action, resource: ResourceLike = None) -> Decision:
        """Whether this principal may do ``action`` on ``resource`` (for showing buttons).

        ``resource`` may be a :class:`Case`, ``(case, task_id)`` for a review task, a
        :class:`PartyKey`, a service item or version, a department's credit code, a
        :class:`Resource`, or None for the platform as a whole. Nothing is recorded.
        """
        return self._runtime.policy.allowed(
            self.principal, action, self.resource(resource, purpose=self.purpose)
        )

    def authorize(self, action: Action, resource: Resource) -> Decision:
        """Ask the policy; on a refusal raise :class:`PermissionDenied` and record the attempt.

        Inside a transaction the record is written after the rollback (see
        :meth:`Runtime.flush_denial`); outside, at once.
        """
        runtime = self._runtime
        decision = runtime.policy.allowed(self.principal, action, resource)
        if not isinstance(decision, Decision):
            raise TypeError(
                f"the policy {type(runtime.policy).__name__} answered {decision!r}; a policy "
                "must return govsvc.Decision"
            )
        if decision.allowed:
            return decision
        exc = PermissionDenied(
            f"{self.principal} may not {action.value}: {decision.reason} "
            f"(rule {decision.rule}); nothing was changed",
            principal=str(self.principal),
            action=action.value,
            rule=decision.rule,
        )
        exc._govsvc_record = self._access_record(  # type: ignore[attr-defined]
            action, resource, outcome="denied", rule=decision.rule, detail=decision.reason
        )
        runtime.flush_denial(exc)
        raise exc

    def _access_record(
        self,
        action: Action,
        resource: Resource,
        *,
        outcome: str,
        rule: str,
        detail: str = "",
        at: dt.datetime | None = None,
    ) -> AccessRecord:
        return AccessRecord(
            at=at or self._runtime.now(),
            actor=self.principal.actor,
            action=action.value,
            outcome=outcome,
            rule=rule,
            subject=str(resource.party) if resource.party else None,
            case_id=resource.case_id,
            purpose=resource.purpose,
            detail=detail,
        )

    def reads_personal_data_of(self, resource: Resource) -> bool:
        """True when a read of ``resource`` must be recorded: someone else's personal data,
        read by anyone but the platform itself."""
        from govsvc.principals import PrincipalKind

        principal = self.principal
        if principal.kind is PrincipalKind.PLATFORM or resource.party is None:
            return False
        if principal.acts_for(resource.party):
            return False
        return not (resource.agent is not None and resource.agent == principal.party)

    def change_record(self, action: Action, *, detail: str) -> AccessRecord:
        """The access record of a change to who may do what (e.g. the staff directory)."""
        return self._access_record(
            action, Resource.platform(), outcome="changed", rule="allowed", detail=detail
        )

    def read_record(self, action: Action, resource: Resource, decision: Decision) -> AccessRecord:
        """The access record of an allowed read of personal data."""
        return self._access_record(action, resource, outcome="read", rule=decision.rule)
