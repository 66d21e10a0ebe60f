"""The SDK's own cattrs converter: the one way domain objects become JSON and back.

Never use cattrs' global converter: a plugin that registers hooks on it would change how
govsvc stores cases. Everything that crosses an edge (store, import files, REST, audit log)
goes through :data:`converter`, and structuring errors become :class:`StructureError` naming
the path of every bad field.

There are two converters with the same hooks: :data:`converter` is strict (unknown keys are
an error: a typo in an import file or a REST body must not be silently dropped) and
:data:`stored` tolerates unknown keys, for documents read back from the database that a newer
release may have written with additional fields (a rolling upgrade). Register hooks with
:func:`on_each` so both get them.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import cattrs
import cattrs.v
from cattrs.preconf.json import make_converter

from govsvc._frozen import FrozenMap, thaw
from govsvc.errors import GovsvcError, StructureError

T = TypeVar("T")

converter: cattrs.Converter = make_converter(detailed_validation=True, forbid_extra_keys=True)
stored: cattrs.Converter = make_converter(detailed_validation=True, forbid_extra_keys=False)
_CONVERTERS = (converter, stored)


def on_each(register: Callable[[cattrs.Converter], None]) -> None:
    """Run ``register(c)`` for both converters (a hook that structures nested values must use
    the converter it is given, so strictness stays what the caller chose)."""
    for c in _CONVERTERS:
        register(c)


def _structure_date(value: Any, _: type) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _structure_datetime(value: Any, _: type) -> dt.datetime:
    result = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if result.tzinfo is None:
        raise ValueError(f"datetime {value!r} has no time zone; give an offset such as +08:00")
    return result




def _strict_bool(value: Any, _: type) -> bool:
    # cattrs' default calls bool(): the string "false" would become True.
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {value!r}")


def _strict_int(value: Any, _: type) -> int:
    # cattrs' default calls int(): 5.7 would silently become 5 and True would become 1.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"expected a whole number, got {value!r}")




def _enum_by_value(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise ValueError(f"{value!r} is not one of {allowed}") from None


def _configure(c: cattrs.Converter) -> None:
    c.register_structure_hook(dt.date, _structure_date)
    c.register_unstructure_hook(dt.date, lambda d: d.isoformat())
    c.register_structure_hook(dt.datetime, _structure_datetime)
    c.register_unstructure_hook(dt.datetime, lambda d: d.isoformat())
    c.register_structure_hook(Decimal, lambda v, _: Decimal(str(v)))
    c.register_unstructure_hook(Decimal, str)
    c.register_structure_hook(bool, _strict_bool)
    c.register_structure_hook(int, _strict_int)
    c.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum_by_value
    )
    # Frozen mappings (a case's form, an outbox payload) are plain JSON at every edge.
    c.register_unstructure_hook(FrozenMap, thaw)


on_each(_configure)


def _describe(exc: BaseException, type_: type | None) -> str:
    # Our own validators already say what is wrong and what to do; keep their words.
    if isinstance(exc, GovsvcError):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def structure(data: Any, cls: type[T], *, what: str | None = None, lenient: bool = False) -> T:
    """Build a domain object from plain data, or raise :class:`StructureError` naming paths.

    ``lenient`` ignores unknown keys (documents written by a newer release); input from
    callers and files is always strict.
    """
    try:
        return (stored if lenient else converter).structure(data, cls)
    except cattrs.BaseValidationError as exc:
        problems = cattrs.transform_error(exc, format_exception=_describe)
        raise StructureError(what or cls.__name__, problems) from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise StructureError(what or cls.__name__, [str(exc)]) from exc


def unstructure(obj: Any) -> Any:
    """Plain JSON-ready data (dicts, lists, strings, numbers) for a domain object."""
    return converter.unstructure(obj)


def dumps(obj: Any) -> str:
    """Compact JSON text for a domain object; keys sorted so equal objects give equal text."""
    return json.dumps(unstructure(obj), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def loads(text: str | bytes, cls: type[T], *, what: str | None = None) -> T:
    """Parse JSON text into a domain object (see :func:`structure`)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StructureError(what or cls.__name__, [f"not valid JSON: {exc}"]) from exc
    return structure(data, cls, what=what)
