"""审查: a department's back office — the task queue with warning lights, filters and paging.

The queue is the SDK's ``reviews.queue`` (filtered in SQL to the department the policy lets
the principal see, keyset pages, no exact counts over huge sets). Opening a task opens its
case page, where the decisions, suspensions and extensions are.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

import govsvc
from govsvc import Action, Resource, TaskStatus
from govsvc_host.web.common import Me, host_of

router = APIRouter(prefix="/backoffice")

STATUS_LABELS = {
    TaskStatus.OPEN: "待审查",
    TaskStatus.APPROVED: "已准予",
    TaskStatus.DENIED: "已不予",
    TaskStatus.CANCELLED: "已撤销",
}
LIGHT_LABELS = {"green": "正常", "yellow": "预警", "red": "超期"}


@router.get("", name="backoffice")
def queue(
    request: Request,
    me: Me,
    status: str = "open",
    light: str = "",
    department: str = "",
    after: str | None = None,
) -> Response:
    host = host_of(request)
    session = host.session(me)
    try:
        wanted = TaskStatus(status)
    except ValueError:
        wanted = TaskStatus.OPEN
    code = department.strip() or me.agency
    if code is None:
        # No department of their own (an applicant, a supervisor without a choice yet): the
        # policy answers for the platform as a whole, and records a refusal.
        session.authorize(Action.REVIEW_QUEUE, Resource.platform())
        code = ""
    page = session.reviews.queue(code or None, status=wanted, after=after, limit=25)
    rows = [v for v in page if not light or (v.light is not None and v.light.value == light)]
    item_names = {i.implementation_code: i.name for i in host.platform.public().catalogue.items()}
    return host.render(
        request,
        "backoffice.html",
        principal=me,
        page=page,
        rows=rows,
        task_status=wanted.value,
        light=light,
        department=code,
        status_labels=STATUS_LABELS,
        light_labels=LIGHT_LABELS,
        item_names=item_names,
        after=after,
        statuses=list(TaskStatus),
        Light=govsvc.Light,
    )
