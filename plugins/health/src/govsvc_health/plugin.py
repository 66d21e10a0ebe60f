"""govsvc plugin: plugs 哈尔滨市卫生健康委员会 (health commission) into a Platform.

Installed, it is found through the ``govsvc`` entry point ``health``; it can also be passed
explicitly: ``Platform.open(url, plugins=[govsvc_health.plugin], load_entry_points=False)``.
Configuration comes from the environment when the platform opens (see
:meth:`govsvc_health.adapter.HealthConfig.from_env`):

``GOVSVC_HEALTH_URL``      the system's address (default ``http://127.0.0.1:8104``)
``GOVSVC_HEALTH_TOKEN``    bearer token (default: none, as the simulator runs by default)
``GOVSVC_HEALTH_TIMEOUT``  seconds per call (default ``2``: the system is slow and flaky)
``GOVSVC_HEALTH_CERTIFICATE_ITEMS``  comma-separated implementation codes whose review ends
                           in a birth medical certificate (default: the sample catalogue's
                           ``11230100MB1935270B3002009010001``); other items' review tasks
                           ask for the commission's opinion only
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from govsvc import Case, Department, IssuedResult, ItemBundle, hookimpl, load_sample_catalogue
from govsvc.ecert import CertificateType
from govsvc_health.adapter import BIRTH_CERTIFICATE_ITEM, HealthAdapter, HealthConfig
from govsvc_health.client import DEPARTMENT_CREDIT_CODE, DEPARTMENT_NAME

__all__ = [
    "AUTHORITATIVE_FOR",
    "DIVISION",
    "ITEMS",
    "govsvc_certificate_face",
    "govsvc_departments",
    "govsvc_service_items",
]

DIVISION: Final = "230100"  # 哈尔滨市

ITEMS: Final = (BIRTH_CERTIFICATE_ITEM,)
"""Implementation codes of the commission's items in the sample catalogue:
出生医学证明办理（首次签发）."""

AUTHORITATIVE_FOR: Final = ("birth_certificate",)
"""Profile attributes the commission is the source of truth for (一数一源)."""


@hookimpl
def govsvc_departments() -> list[Department]:
    """哈尔滨市卫生健康委员会, with an adapter configured from ``GOVSVC_HEALTH_*``."""
    config = HealthConfig.from_env()
    return [
        Department(
            code=DEPARTMENT_CREDIT_CODE,
            name=DEPARTMENT_NAME,
            division=DIVISION,
            adapter=HealthAdapter(config),
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
        ItemBundle(item, tuple(versions))
        for item, versions in load_sample_catalogue(DEPARTMENT_CREDIT_CODE)
    ]


BIRTH_CERTIFICATE_TYPE: Final = "11100000MB1613028M001"
"""The certificate type (证照目录) of the 出生医学证明 the commission issues."""

_BORN_AT = re.compile(r"(\d{4})年(\d{2})月(\d{2})日(\d{2})时(\d{2})分")
_NUMBER = re.compile(r"\d+")


@hookimpl
def govsvc_certificate_face(
    certificate_type: CertificateType, result: IssuedResult, case: Case
) -> Mapping[str, Any] | None:
    """The face of a 出生医学证明 from the printed fields the commission returns (出生时间
    ``2024年01月05日08时26分`` gives the birth date and time; weights and lengths lose
    their units)."""
    if certificate_type.code != BIRTH_CERTIFICATE_TYPE:
        return None
    printed = result.data

    def number(label: str) -> str | None:
        found = _NUMBER.match(str(printed.get(label, "")))
        return found.group(0) if found else None

    born = _BORN_AT.fullmatch(str(printed.get("出生时间", "")))
    face = {
        "newbornName": printed.get("新生儿姓名"),
        "sex": printed.get("性别"),
        "birthDate": f"{born[1]}-{born[2]}-{born[3]}" if born else None,
        "birthTime": f"{born[4]}:{born[5]}" if born else None,
        "birthPlace": printed.get("出生地点"),
        "gestationalWeeks": number("出生孕周"),
        "weightGrams": number("出生体重"),
        "lengthCm": number("出生身长"),
        "motherName": printed.get("母亲姓名"),
        "motherId": printed.get("母亲有效身份证件号码"),
        "fatherName": printed.get("父亲姓名") or None,
        "fatherId": printed.get("父亲有效身份证件号码") or None,
        "institution": printed.get("医疗机构名称"),
    }
    return {key: value for key, value in face.items() if value is not None}
