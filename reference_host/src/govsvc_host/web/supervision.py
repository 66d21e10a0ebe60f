"""电子监察 and 运维: supervision's overview and the system administrator's console."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

import govsvc
from govsvc_host.web.common import Me, host_of

router = APIRouter()


@router.get("/supervision", name="supervision")
def supervision(request: Request, me: Me) -> Response:
    host = host_of(request)
    session = host.session(me)
    overdue = session.supervision.overdue(limit=100)
    statistics = session.supervision.statistics()
    refused = session.supervision.access_log(outcome="denied", limit=50)
    chain = session.supervision.verify_access_log()
    listed = host.platform.public().catalogue.items()
    item_names = {i.implementation_code: i.name for i in listed}
    agencies = {i.agency.credit_code: i.agency.name for i in listed}
    return host.render(
        request,
        "supervision.html",
        principal=me,
        overdue=overdue,
        statistics=statistics,
        refused=refused,
        chain=chain,
        item_names=item_names,
        agencies=agencies,
        state_labels={state.value: state.label for state in govsvc.CaseState},
        division=(
            host.divisions.path_names(me.division)
            if me.division and me.division in host.divisions
            else ""
        ),
    )


@router.get("/admin", name="admin")
def admin(request: Request, me: Me) -> Response:
    host = host_of(request)
    session = host.session(me)
    health = session.departments.health()
    pending = session.outbox.pending(limit=1000)
    chain = session.departments.verify_exchange_log()
    calendar = host.platform.calendar
    today = host.platform.today()
    years = sorted(calendar.years)
    by_topic: dict[str, int] = {}
    for message in pending:
        by_topic[message.topic] = by_topic.get(message.topic, 0) + 1
    return host.render(
        request,
        "admin.html",
        principal=me,
        health=health,
        by_topic=by_topic,
        oldest=min((m.created_at for m in pending), default=None),
        chain=chain,
        years=years,
        missing=[y for y in (today.year, today.year + 1) if not calendar.has_data(y)],
        staff=host.store.list_staff(),
    )
