"""The catalogue: service items (事项) and their immutable, numbered guide versions."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from govsvc.catalogue import ItemVersion, ServiceItem
from govsvc.store import documents
from govsvc.store.fast import FastStatement
from govsvc.store.tables import items_t, versions_t

__all__ = [
    "insert_version",
    "latest_number",
    "load_item",
    "load_items",
    "load_version",
    "upsert_item",
    "version_numbers",
]

_LATEST_VERSION = FastStatement(
    sa.select(sa.func.max(versions_t.c.version)).where(
        versions_t.c.item_code == sa.bindparam("code")
    )
)


def latest_number(conn: sa.Connection, code: str) -> int | None:
    """The newest published version number of an item, or None."""
    row = _LATEST_VERSION.first(conn, {"code": code})
    return row[0] if row else None


def version_numbers(conn: sa.Connection, code: str) -> list[int]:
    """Every published version number of an item, oldest first."""
    return list(
        conn.execute(
            sa.select(versions_t.c.version)
            .where(versions_t.c.item_code == code)
            .order_by(versions_t.c.version)
        ).scalars()
    )


def load_version(conn: sa.Connection, code: str, number: int) -> ItemVersion | None:
    data = conn.execute(
        sa.select(versions_t.c.data).where(
            versions_t.c.item_code == code, versions_t.c.version == number
        )
    ).scalar_one_or_none()
    return None if data is None else documents.load("item_version", data, ItemVersion)


def load_item(conn: sa.Connection, code: str) -> ServiceItem | None:
    data = conn.execute(
        sa.select(items_t.c.data).where(items_t.c.implementation_code == code)
    ).scalar_one_or_none()
    return None if data is None else documents.load("item", data, ServiceItem)


def load_items(conn: sa.Connection, *, agency: str | None = None) -> list[ServiceItem]:
    """Every item (of one agency, if given), by name."""
    stmt = sa.select(items_t.c.data).order_by(items_t.c.name, items_t.c.implementation_code)
    if agency is not None:
        stmt = stmt.where(items_t.c.agency == agency)
    return [documents.load("item", d, ServiceItem) for d in conn.execute(stmt).scalars()]


def upsert_item(conn: sa.Connection, item: ServiceItem) -> None:
    values = {
        "catalogue_code": item.catalogue_code,
        "agency": item.agency.credit_code,
        "name": item.name,
        "item_type": item.item_type.value,
        "data": documents.dump("item", item),
    }
    code = item.implementation_code
    updated = conn.execute(
        sa.update(items_t).where(items_t.c.implementation_code == code).values(**values)
    ).rowcount
    if not updated:
        conn.execute(sa.insert(items_t).values(implementation_code=code, **values))


def insert_version(conn: sa.Connection, version: ItemVersion, now: dt.datetime) -> None:
    conn.execute(
        sa.insert(versions_t).values(
            item_code=version.item_code,
            version=version.version,
            name=version.name,
            published_at=now,
            data=documents.dump("item_version", version),
        )
    )
