"""govsvc reference department: 哈尔滨市公安局 household register (户籍).

:class:`~govsvc_psb.client.PsbClient` talks to the bureau's SOAP 1.1 service;
:mod:`govsvc_psb.simulator` simulates that service for tests and the demo.
"""

from govsvc_psb.client import (
    DEPARTMENT,
    Household,
    HouseholdEntry,
    HouseholdMember,
    Person,
    PsbClient,
    ReviewDecision,
    ReviewStatus,
    ReviewTicket,
    Sex,
)

__all__ = [
    "DEPARTMENT",
    "Household",
    "HouseholdEntry",
    "HouseholdMember",
    "Person",
    "PsbClient",
    "ReviewDecision",
    "ReviewStatus",
    "ReviewTicket",
    "Sex",
]
