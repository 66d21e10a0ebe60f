"""A simulated courier (模拟快递) for the demo, registered through the SDK's delivery hook.

The hand-out page lists every delivery provider the plugins register
(``govsvc_delivery_providers``); a city plugs its real courier in the same way. This one
makes up a waybill number from the case id, so a repeated hand-out names the same parcel.
"""

from __future__ import annotations

import hashlib

from govsvc import DeliveryProvider, hookimpl

__all__ = ["govsvc_delivery_providers", "ship"]


def ship(case_id: str, address: str) -> str:
    """A waybill number (运单号) for the case's result sent to ``address``."""
    if not address.strip():
        raise ValueError("a parcel needs an address")
    digest = hashlib.sha256(f"{case_id}|{address}".encode()).hexdigest()
    return "YZ" + str(int(digest[:12], 16))[:12].rjust(12, "0")


@hookimpl
def govsvc_delivery_providers() -> list[DeliveryProvider]:
    return [DeliveryProvider(name="demo-courier", label="模拟邮政速递（演示）", ship=ship)]
