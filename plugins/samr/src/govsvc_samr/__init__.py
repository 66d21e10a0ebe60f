"""Reference adapter pieces for 哈尔滨市市场监督管理局 (market regulation bureau).

:mod:`govsvc_samr.client` talks to the bureau's legacy REST API;
:mod:`govsvc_samr.simulator` is a stand-in for that system, seeded by :mod:`govsvc_samr.seed`.
"""

from govsvc_samr.client import (
    DEPARTMENT_CREDIT_CODE,
    DEPARTMENT_NAME,
    EnterpriseRecord,
    EnterpriseStatus,
    LegalRepresentativeRecord,
    LicenceKind,
    LicenceRecord,
    LicenceStatus,
    ReviewDecision,
    ReviewTicket,
    SamrClient,
)

__all__ = [
    "DEPARTMENT_CREDIT_CODE",
    "DEPARTMENT_NAME",
    "EnterpriseRecord",
    "EnterpriseStatus",
    "LegalRepresentativeRecord",
    "LicenceKind",
    "LicenceRecord",
    "LicenceStatus",
    "ReviewDecision",
    "ReviewTicket",
    "SamrClient",
]
