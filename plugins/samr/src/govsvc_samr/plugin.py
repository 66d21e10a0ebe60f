"""govsvc plugin: plugs 哈尔滨市市场监督管理局 (market regulation bureau) into a Platform.

Installed, it is found through the ``govsvc`` entry point ``samr``; it can also be passed
explicitly: ``Platform.open(url, plugins=[govsvc_samr.plugin], load_entry_points=False)``.
Configuration comes from the environment when the platform opens (see
:meth:`govsvc_samr.adapter.SamrConfig.from_env`):

``GOVSVC_SAMR_URL``      the system's address (default ``http://127.0.0.1:8101``)
``GOVSVC_SAMR_API_KEY``  the key sent as ``X-Api-Key`` (default ``samr-demo-key``, the simulator's)
``GOVSVC_SAMR_TIMEOUT``  seconds per call (default ``5``)
"""

from __future__ import annotations

from typing import Final

from govsvc import Department, ItemBundle, hookimpl, load_sample_catalogue
from govsvc_samr.adapter import SamrAdapter, SamrConfig
from govsvc_samr.client import DEPARTMENT_CREDIT_CODE, DEPARTMENT_NAME

__all__ = ["AUTHORITATIVE_FOR", "DIVISION", "ITEMS", "govsvc_departments", "govsvc_service_items"]

DIVISION: Final = "230100"  # 哈尔滨市

ITEMS: Final = ("11230100013114525L3000176010001",)
"""Implementation codes of the bureau's items in the sample catalogue: 食品经营许可（新办）."""

AUTHORITATIVE_FOR: Final = (
    "enterprises",
    "legal_representative",
    "registered_capital",
    "registration_status",
    "business_scope",
)
"""Profile attributes the bureau's registration records are the source of truth for."""


@hookimpl
def govsvc_departments() -> list[Department]:
    """哈尔滨市市场监督管理局, with an adapter configured from ``GOVSVC_SAMR_*``."""
    config = SamrConfig.from_env()
    return [
        Department(
            code=DEPARTMENT_CREDIT_CODE,
            name=DEPARTMENT_NAME,
            division=DIVISION,
            adapter=SamrAdapter(config),
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
