"""govsvc reference department: 哈尔滨市人力资源和社会保障局 (social security, 人社).

:class:`~govsvc_hrss.client.HrssClient` talks to the bureau's REST API (OAuth 2.0 client
credentials); :mod:`govsvc_hrss.simulator` simulates that API for tests and the demo.
"""

from govsvc_hrss.client import (
    DEPARTMENT,
    CardStatus,
    Employer,
    HrssClient,
    Insurance,
    InsuranceStatus,
    InsuredEmployee,
    InsuredPerson,
    ReviewDecision,
    ReviewTicket,
    Sex,
    SocialSecurityCard,
)

__all__ = [
    "DEPARTMENT",
    "CardStatus",
    "Employer",
    "HrssClient",
    "Insurance",
    "InsuranceStatus",
    "InsuredEmployee",
    "InsuredPerson",
    "ReviewDecision",
    "ReviewTicket",
    "Sex",
    "SocialSecurityCard",
]
