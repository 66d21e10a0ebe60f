"""Built-in behaviour, registered as an ordinary plugin (datasette's DEFAULT_PLUGINS habit).

Window pickup and electronic delivery exist on every platform; posting needs a provider
plugin (EMS, a city courier) because it talks to an outside system.
"""

from __future__ import annotations

from govsvc.adapters import DeliveryProvider
from govsvc.hookspecs import hookimpl


def _window_pickup(case_id: str, address: str) -> str:
    return f"WINDOW-{case_id[:12].upper()}"


def _electronic(case_id: str, address: str) -> str:
    return f"ECERT-{case_id[:12].upper()}"


@hookimpl
def govsvc_delivery_providers() -> list[DeliveryProvider]:
    """Window pickup (窗口领取) and electronic delivery (电子送达)."""
    return [
        DeliveryProvider(name="window", label="窗口领取", ship=_window_pickup),
        DeliveryProvider(name="electronic", label="电子送达", ship=_electronic),
    ]
