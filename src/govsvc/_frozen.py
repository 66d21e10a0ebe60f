"""Deep-frozen plain data for the mappings inside frozen domain values.

A case's form, an outbox payload or a result's face data are plain JSON-like data inside an
``attrs.frozen`` value. Frozen attrs classes stop ``case.form = …`` but not
``case.form["x"] = …``: an in-place edit of a returned case would change the object the
platform keeps (and may store again). :func:`freeze` makes such data read-only all the way
down — mappings become :class:`FrozenMap` over private copies, lists and tuples become tuples,
sets frozensets — and :func:`thaw` turns it back into plain JSON data for the store.

By hand because no well-kept library does both deep freezing and equality with plain dicts:
a :class:`FrozenMap` compares equal to a dict with the same items, so ``case.form == {...}``
keeps working, while ``frozendict`` and ``immutables.Map`` are shallow (and a proxy over a
dict someone else holds is not frozen at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from typing import Any

__all__ = ["FrozenMap", "freeze", "thaw"]


class FrozenMap(dict[Any, Any]):
    """A read-only dict: JSON-serialisable and equal to plain data with the same content.

    A ``dict`` subclass so that ``json.dumps`` and every library expecting a dict take it; all
    mutating methods raise ``TypeError``. Equality compares content as plain data, so a form
    holding a list equals the dict it was made from although the list is stored as a tuple.
    """

    __slots__ = ("_hash",)

    def __init__(self, items: Mapping[Any, Any] | None = None) -> None:
        super().__init__({k: freeze(v) for k, v in (items or {}).items()})
        self._hash: int | None = None

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "this mapping is part of a frozen govsvc value and cannot be changed; build a new "
            "dict (dict(value) | {...}) and pass it to the command that changes it"
        )

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return dict.__eq__(self, other)
        if isinstance(other, Mapping):
            return bool(thaw(self) == thaw(other))
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:  # type: ignore[override]
        if self._hash is None:
            self._hash = hash(frozenset(self.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenMap({dict.__repr__(self)})"

    def __reduce__(self) -> Any:
        return (FrozenMap, (dict(self),))


EMPTY = FrozenMap()


def freeze(value: Any) -> Any:
    """A deep read-only copy of JSON-like data (mappings, sequences, sets, scalars).

    Already-frozen data is returned as it is (freezing again on every ``attrs.evolve`` would
    copy a case's form on every command).
    """
    if isinstance(value, FrozenMap):
        return value
    if isinstance(value, Mapping):
        return FrozenMap(value) if value else EMPTY
    if isinstance(value, tuple):
        return value if all(_frozen(v) for v in value) else tuple(freeze(v) for v in value)
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, Set) and not isinstance(value, frozenset):
        return frozenset(freeze(v) for v in value)
    return value


def _frozen(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_frozen(v) for v in value)
    return not isinstance(value, list | dict | set) and (
        isinstance(value, FrozenMap) or not isinstance(value, Mapping)
    )


def thaw(value: Any) -> Any:
    """Plain JSON data (dicts and lists) for frozen data."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    if isinstance(value, Set):
        return [thaw(v) for v in sorted(value, key=repr)]
    return value
