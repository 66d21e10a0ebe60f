"""Stored JSON documents: schema versions, upcasting, tolerance of newer fields.

Every JSON document govsvc stores (a case aggregate, an item and its versions, a party, an
event payload) carries ``"_schema": N``, the version of its shape. Reading it:

1. a document older than this release's version is *upcast* step by step
   (:data:`UPCASTERS`, one function per ``(kind, from_version)``), the way eventsourcing's
   ``upcast_v1_v2`` does, so rows written years ago stay readable without a data migration;
2. the result is structured with the lenient converter: fields this release does not know
   (added by a newer release, in a rolling upgrade where several processes run different
   versions) are ignored instead of failing with :class:`StructureError`.

Documents written before schema versions existed (wave 1) count as version 1. Adding a
field with a default needs no new version; renaming, removing or re-typing one does, with an
upcaster and a test reading a document of the old version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from govsvc import _converter

__all__ = ["SCHEMAS", "UPCASTERS", "dump", "load", "upcast"]

T = TypeVar("T")
Document = dict[str, Any]

KEY = "_schema"

SCHEMAS: dict[str, int] = {
    "case": 2,
    "certificate": 1,
    "event": 2,
    "item": 1,
    "item_version": 1,
    "party": 1,
    "rating": 1,
    "rating_event": 1,
}
"""The current schema version of each kind of stored document."""


def _case_v1(doc: Document) -> Document:
    # Wave 1 cases had no agent and no pending extension request: the defaults apply. The
    # step exists so a v1 document is recognised, not guessed at.
    return doc


def _event_v1(doc: Document) -> Document:
    # Wave 1 wrote a false commitment's denial with the material under "code"; the typed
    # payload names it "commitment". Other v1 payloads carried extra keys ("approved",
    # "outcome", "truthful") that the typed payloads dropped: the lenient read ignores them.
    if "code" in doc and "commitment" not in doc and "reason" not in doc:
        doc = {**doc, "commitment": doc["code"]}
    return doc


UPCASTERS: dict[tuple[str, int], Callable[[Document], Document]] = {
    ("case", 1): _case_v1,
    ("event", 1): _event_v1,
}
"""``(kind, version) -> function`` turning a document of that version into the next one."""


def dump(kind: str, obj: Any) -> Document:
    """The JSON document for a domain object, stamped with its kind's schema version."""
    data: Document = _converter.unstructure(obj)
    data[KEY] = SCHEMAS[kind]
    return data


def upcast(kind: str, data: Mapping[str, Any]) -> Document:
    """The document brought up to this release's schema version (a copy; ``_schema`` removed)."""
    doc = dict(data)
    version = doc.pop(KEY, 1)
    current = SCHEMAS[kind]
    while isinstance(version, int) and version < current:
        step = UPCASTERS.get((kind, version))
        if step is not None:
            doc = step(doc)
        version += 1
    return doc


def load(kind: str, data: Any, cls: type[T]) -> T:
    """The domain object of a stored document (upcast, newer fields ignored)."""
    if not isinstance(data, Mapping):
        return _converter.structure(data, cls, what=f"stored {kind}", lenient=True)
    return _converter.structure(upcast(kind, data), cls, what=f"stored {kind}", lenient=True)
