"""Resource services bound to a principal: ``platform.session(principal).cases.accept(code)``.

One module per resource — :mod:`~govsvc.services.catalogue`, :mod:`~govsvc.services.parties`,
:mod:`~govsvc.services.cases`, :mod:`~govsvc.services.reviews`,
:mod:`~govsvc.services.supervision`, :mod:`~govsvc.services.outbox`,
:mod:`~govsvc.services.departments`, :mod:`~govsvc.services.calendar`,
:mod:`~govsvc.services.staff` — each command
authorizing through the session, loading, calling one domain method and storing the step in
one transaction. SQL lives in :mod:`govsvc.store`, rules in the domain.
"""

from govsvc.services._session import Session
from govsvc.services.supervision import AwaitingResult, DepartmentStatistics
from govsvc.services.views import (
    CaseLights,
    CaseSummary,
    DeliveryReport,
    HolderCertificates,
    LightsReport,
    OutboxEntry,
    Page,
    PollReport,
    ResultReport,
    TaskView,
)

__all__ = [
    "AwaitingResult",
    "CaseLights",
    "CaseSummary",
    "DeliveryReport",
    "DepartmentStatistics",
    "HolderCertificates",
    "LightsReport",
    "OutboxEntry",
    "Page",
    "PollReport",
    "ResultReport",
    "Session",
    "TaskView",
]
