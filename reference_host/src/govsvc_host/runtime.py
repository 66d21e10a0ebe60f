"""Opening the platform the way every host process does (web, worker, CLI, demo)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from govsvc import Platform, parse_checkpoint_keys
from govsvc_host import courier
from govsvc_host.settings import Settings
from govsvc_host.store import HostStore

__all__ = ["open_platform", "upgrade"]


def open_platform(
    settings: Settings,
    *,
    migrate: bool = True,
    publish_plugin_items: bool = False,
    plugins: Sequence[object] = (),
) -> Platform:
    """One platform for this process, configured from ``settings``.

    The departments' settings are exported as the plugins read them first. ``migrate=False``
    in the web and worker processes of a city (``govsvc-host db upgrade`` runs once per
    deployment, before them). The demo courier is registered only in demo mode. The logs'
    checkpoint keys come from ``GOVSVC_CHECKPOINT_KEY`` (``id:hex[,id:hex]``), a secret the
    settings file never holds.
    """
    settings.apply_department_environment()
    keys = os.environ.get("GOVSVC_CHECKPOINT_KEY", "")
    extra = [*plugins, *([courier] if settings.demo else [])]
    return Platform.open(
        settings.database_url,
        schema=settings.database_schema,
        provisional_calendar=settings.provisional_calendar,
        calendar_region=settings.calendar_region,
        migrate_schema=migrate,
        plugins=extra,
        publish_plugin_items=publish_plugin_items,
        checkpoint_keys=parse_checkpoint_keys(keys) if keys else None,
        keys=str(settings.ecert_keys) if settings.ecert_keys else None,
        ecert_base_url=settings.base_url.rstrip("/") + "/ecert",
    )


def upgrade(settings: Settings) -> None:
    """Migrate the SDK's schema (alembic, inside ``Platform.open``) and add the host's tables."""
    platform = open_platform(settings, migrate=True)
    try:
        HostStore(platform).create()
    finally:
        platform.close()
