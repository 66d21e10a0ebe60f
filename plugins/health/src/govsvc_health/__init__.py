"""Reference adapter pieces for 哈尔滨市卫生健康委员会 (health commission).

:mod:`govsvc_health.client` talks to the commission's legacy REST API;
:mod:`govsvc_health.simulator` is a stand-in for that system, seeded by :mod:`govsvc_health.seed`.
"""

from govsvc_health.client import (
    DEPARTMENT_CREDIT_CODE,
    DEPARTMENT_NAME,
    BirthCertificateRecord,
    HealthClient,
    ParentRecord,
    PersonRecord,
    ReviewDecision,
    ReviewKind,
    ReviewTicket,
    Sex,
)

__all__ = [
    "DEPARTMENT_CREDIT_CODE",
    "DEPARTMENT_NAME",
    "BirthCertificateRecord",
    "HealthClient",
    "ParentRecord",
    "PersonRecord",
    "ReviewDecision",
    "ReviewKind",
    "ReviewTicket",
    "Sex",
]
