"""Text at govsvc's boundary: refuse characters the database cannot store (文本校验).

PostgreSQL (with the UTF8 server encoding govsvc needs) stores every Unicode code point but
two kinds: NUL (U+0000), which no ``text`` or ``jsonb`` value may hold, and the surrogates
U+D800–U+DFFF, which are not characters at all and cannot be encoded as UTF-8. Python
strings carry both without complaint (a ``"\\u0000"`` or ``"\\ud800"`` escape in JSON, a file
read with ``errors="surrogateescape"``, a NUL from a binary field), so without a check they
travel through the SDK and break only deep in the database driver, far from the input that
brought them. :func:`check_text` and :func:`check_texts` refuse them where text comes in,
with :class:`~govsvc.errors.InvalidInput` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TypeVar

from govsvc.errors import InvalidInput

__all__ = [
    "check_text",
    "check_texts",
    "escape_unstorable",
    "unstorable",
    "unstorable_texts",
]

T = TypeVar("T")

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """What is wrong with ``text``, e.g. ``"a NUL character (U+0000) at position 3"``, or None.

    Positions count characters from 1.
    """
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    what = (
        "a NUL character (U+0000)"
        if char == "\x00"
        else f"a lone surrogate (U+{ord(char):04X}, half of a broken character)"
    )
    return f"{what} at position {found.start() + 1}"


def escape_unstorable(text: str) -> str:
    """``text`` with NUL and lone surrogates written as ``\\u0000`` escapes (for messages).

    Error messages quote what came in, and they end up in logs and the database too.
    """
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def check_text(value: str, field: str) -> str:
    """``value`` unchanged, if the database can store it; else :class:`InvalidInput`.

    Refused: anything but a ``str``, NUL (U+0000) and lone surrogates (U+D800–U+DFFF). The
    message names ``field``, the character and its position, and says what usually causes it.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text, got {type(value).__name__}")
    problem = unstorable(value)
    if problem is not None:
        cause = (
            "a NUL usually comes from binary data or a file read with the wrong encoding"
            if "NUL" in problem
            else "a lone surrogate comes from text decoded with errors='surrogateescape' or "
            "from a broken \\u escape in JSON"
        )
        raise InvalidInput(
            f"{field} contains {problem}, which cannot be stored; remove it ({cause})"
        )
    return value


def check_texts(value: T, path: str) -> T:
    """``value`` unchanged, after :func:`check_text` on every string in it, keys included.

    ``value`` is a form or another JSON-like value: mappings, lists and tuples are walked to
    any depth (without recursion, so a deeply nested value cannot exhaust the stack); other
    values (numbers, dates, None) are left alone. A bad string is named by its path from
    ``path``: ``form.children[1].name``, or ``a key in form.children[1]`` for a key.
    """
    for where, _problem, text in unstorable_texts(value, path):
        check_text(text, where)  # raises, with the full message
    return value


def unstorable_texts(value: object, path: str) -> Iterator[tuple[str, str, str]]:
    """``(where, problem, text)`` for every string in ``value`` the database cannot store.

    Walks ``value`` as :func:`check_texts` does, in document order; ``where`` is the path of
    the string (``a key in …`` for a key) and ``problem`` what :func:`unstorable` says.
    """
    pending: list[tuple[object, str]] = [(value, path)]
    seen: set[int] = set()  # a container reached twice (or a cycle) is walked once
    while pending:
        current, where = pending.pop()
        if isinstance(current, str):
            problem = unstorable(current)
            if problem is not None:
                yield where, problem, current
        elif isinstance(current, Mapping | list | tuple):
            if id(current) in seen:
                continue
            seen.add(id(current))
            children: list[tuple[object, str]] = []
            if isinstance(current, Mapping):
                for key, item in current.items():
                    if isinstance(key, str) and (problem := unstorable(key)) is not None:
                        yield f"a key in {where}", problem, key
                        continue  # its value would be named by the broken key
                    children.append((item, _member(where, key)))
            else:
                children.extend((item, f"{where}[{i}]") for i, item in enumerate(current))
            pending.extend(reversed(children))  # so strings come out in document order


def _member(path: str, key: object) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{key!r}]"
