"""Parties: persons and organisations keyed by document type and number (一号)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from govsvc.errors import InvalidInput
from govsvc.identity import Organisation, Party, PartyKey, Person
from govsvc.store import documents
from govsvc.store.fast import FastStatement
from govsvc.store.tables import parties_t

__all__ = ["load_party", "party_values", "upsert_party"]

_PARTY_UPDATE = ("name", "is_organisation", "updated_at", "data")


def _party_upsert(dialect: str) -> Any:
    stmt: Any = (
        postgresql.insert(parties_t) if dialect == "postgresql" else sqlite.insert(parties_t)
    )
    return stmt.on_conflict_do_update(
        index_elements=[parties_t.c.doc_type, parties_t.c.number],
        set_={k: stmt.excluded[k] for k in _PARTY_UPDATE},
    )


_PARTY_COLUMNS = ["doc_type", "number", *_PARTY_UPDATE]
_PARTY_UPSERTS = {
    name: FastStatement(_party_upsert(name), _PARTY_COLUMNS) for name in ("sqlite", "postgresql")
}


def party_values(party: Party, now: dt.datetime) -> dict[str, Any]:
    """The row values of a party (its document is the whole value, schema-stamped)."""
    return {
        "doc_type": party.key.doc_type.value,
        "number": party.key.number,
        "name": party.name,
        "is_organisation": isinstance(party, Organisation),
        "updated_at": now,
        "data": {"kind": type(party).__name__, **documents.dump("party", party)},
    }


def upsert_party(conn: sa.Connection, values: dict[str, Any]) -> None:
    """Insert or update a party row (persons and organisations keyed by document + number)."""
    stmt = _PARTY_UPSERTS.get(conn.dialect.name)
    if stmt is None:
        raise InvalidInput(f"govsvc supports SQLite and PostgreSQL, not {conn.dialect.name}")
    stmt.execute(conn, values)


def load_party(conn: sa.Connection, key: PartyKey) -> Party | None:
    """The registered person or organisation with this key, or None."""
    data = conn.execute(
        sa.select(parties_t.c.data).where(
            parties_t.c.doc_type == key.doc_type.value, parties_t.c.number == key.number
        )
    ).scalar_one_or_none()
    if data is None:
        return None
    doc = dict(data)
    kind = doc.pop("kind")
    cls: type[Party] = Organisation if kind == "Organisation" else Person
    return documents.load("party", doc, cls)
