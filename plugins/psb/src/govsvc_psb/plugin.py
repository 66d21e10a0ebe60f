"""govsvc plugin: plugs 哈尔滨市公安局 (household register, 户籍) into a Platform.

Installed, it is found through the ``govsvc`` entry point ``psb``; it can also be passed
explicitly: ``Platform.open(url, plugins=[govsvc_psb.plugin], load_entry_points=False)``.
Configuration comes from the environment when the platform opens (see
:meth:`govsvc_psb.adapter.PsbConfig.from_env`):

``GOVSVC_PSB_URL``       the service address (default ``http://127.0.0.1:8102``)
``GOVSVC_PSB_USERNAME``  WS-Security user name (default ``govsvc``)
``GOVSVC_PSB_PASSWORD``  WS-Security password (default ``hukou-sim``, the simulator's)
``GOVSVC_PSB_TIMEOUT``   seconds per call (default ``5``)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from govsvc import Case, Department, IssuedResult, ItemBundle, hookimpl, load_sample_catalogue
from govsvc.ecert import CertificateType
from govsvc_psb.adapter import PsbAdapter, PsbConfig
from govsvc_psb.client import DEPARTMENT
from govsvc_psb.seed import DEPARTMENT_NAME

__all__ = [
    "AUTHORITATIVE_FOR",
    "DIVISION",
    "ITEMS",
    "govsvc_certificate_face",
    "govsvc_departments",
    "govsvc_service_items",
]

DIVISION: Final = "230100"  # 哈尔滨市

ITEMS: Final = ("11230100003108738D3000716002003",)
"""Implementation codes of the bureau's items in the sample catalogue: 户口迁移（市内跨区迁移）."""

AUTHORITATIVE_FOR: Final = ("name", "sex", "birth_date", "address", "ethnicity")
"""Profile attributes the household register is the source of truth for (一数一源)."""


@hookimpl
def govsvc_departments() -> list[Department]:
    """哈尔滨市公安局, with an adapter configured from ``GOVSVC_PSB_*``."""
    config = PsbConfig.from_env()
    return [
        Department(
            code=DEPARTMENT,
            name=DEPARTMENT_NAME,
            division=DIVISION,
            adapter=PsbAdapter(config),
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


HOUSEHOLD_BOOKLET_TYPE: Final = "111000000000193186002"
"""The certificate type (证照目录) of the booklet page the bureau's registrations produce."""


@hookimpl
def govsvc_certificate_face(
    certificate_type: CertificateType, result: IssuedResult, case: Case
) -> Mapping[str, Any] | None:
    """The face of a 居民户口簿 page from the register entry the bureau wrote (the entry
    names neither the household's kind nor its head: those fields stay empty)."""
    if certificate_type.code != HOUSEHOLD_BOOKLET_TYPE:
        return None
    data = result.data
    return {
        "householdNumber": data.get("household_number"),
        "address": data.get("address"),
        "name": data.get("name"),
        "relationToHead": data.get("relation_to_head"),
        "sex": data.get("sex"),
        "ethnicity": data.get("ethnicity"),
        "birthDate": data.get("birth_date"),
        "idNumber": data.get("id_number"),
    }
