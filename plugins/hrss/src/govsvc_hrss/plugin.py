"""govsvc plugin: plugs 哈尔滨市人力资源和社会保障局 (social security, 人社) into a Platform.

Installed, it is found through the ``govsvc`` entry point ``hrss``; it can also be passed
explicitly: ``Platform.open(url, plugins=[govsvc_hrss.plugin], load_entry_points=False)``.
Configuration comes from the environment when the platform opens (see
:meth:`govsvc_hrss.adapter.HrssConfig.from_env`):

``GOVSVC_HRSS_URL``            the API address (default ``http://127.0.0.1:8103``)
``GOVSVC_HRSS_CLIENT_ID``      OAuth 2.0 client id (default ``govsvc``)
``GOVSVC_HRSS_CLIENT_SECRET``  OAuth 2.0 client secret (default ``hrss-sim-secret``, the
                               simulator's)
``GOVSVC_HRSS_TIMEOUT``        seconds per call (default ``5``)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from govsvc import Case, Department, IssuedResult, ItemBundle, hookimpl, load_sample_catalogue
from govsvc.ecert import CertificateType
from govsvc_hrss.adapter import HrssAdapter, HrssConfig
from govsvc_hrss.client import DEPARTMENT
from govsvc_hrss.seed import DEPARTMENT_NAME

__all__ = [
    "AUTHORITATIVE_FOR",
    "DIVISION",
    "ITEMS",
    "govsvc_certificate_face",
    "govsvc_departments",
    "govsvc_service_items",
]

DIVISION: Final = "230100"  # 哈尔滨市

ITEMS: Final = ("11230100003109212K3002005001000",)
"""Implementation codes of the bureau's items in the sample catalogue: 社会保障卡申领."""

AUTHORITATIVE_FOR: Final = ("social_security_card", "insured_status")
"""Profile attributes the bureau is the source of truth for (一数一源)."""


@hookimpl
def govsvc_departments() -> list[Department]:
    """哈尔滨市人力资源和社会保障局, with an adapter configured from ``GOVSVC_HRSS_*``."""
    config = HrssConfig.from_env()
    return [
        Department(
            code=DEPARTMENT,
            name=DEPARTMENT_NAME,
            division=DIVISION,
            adapter=HrssAdapter(config),
            items=ITEMS,
            authoritative_for=AUTHORITATIVE_FOR,
            timeout=config.timeout,
        )
    ]


@hookimpl
def govsvc_service_items() -> list[ItemBundle]:
    """The department's items with their full service guides (办事指南), every version.

    They come from the sample Harbin catalogue shipped with govsvc. Publishing them is an
    explicit step (``Platform.open(..., publish_plugin_items=True)`` or
    ``govsvc items publish-plugins``) that skips the versions already out.
    """
    return [
        ItemBundle(item, tuple(versions)) for item, versions in load_sample_catalogue(DEPARTMENT)
    ]


SOCIAL_SECURITY_CARD_TYPE: Final = "1110000071783888XL001"
"""The certificate type (证照目录) of the card the bureau's 社会保障卡申领 issues."""


@hookimpl
def govsvc_certificate_face(
    certificate_type: CertificateType, result: IssuedResult, case: Case
) -> Mapping[str, Any] | None:
    """The face of a 社会保障卡 from the card the bureau issued: the card number is the
    result's number; the sex is read from the 社会保障号码 (the citizen ID's 17th digit, odd
    for men, GB 11643)."""
    if certificate_type.code != SOCIAL_SECURITY_CARD_TYPE:
        return None
    data = result.data
    number = str(data.get("social_security_number", ""))
    sex = None
    if len(number) == 18 and number[16].isdigit():
        sex = "男" if int(number[16]) % 2 else "女"
    return {
        "name": data.get("holder_name"),
        "sex": sex,
        "socialSecurityNumber": number,
        "cardNumber": result.number,
        "bank": data.get("bank"),
    }
