"""Reading a legacy JSON body field by field, keeping the JSON path of every value.

A department's legacy system is not trusted to send what its documentation promises: every
field the client uses is checked for presence and type here, and a bad one is reported with
its path (``$.data.list[0].licNo``) so the department's developers can find it in their logs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import NoReturn

#: Legacy systems in China send local times without an offset; they mean Beijing time.
BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")

Fail = Callable[[str, str], NoReturn]
"""Raises the client's protocol error: ``fail(message, path)``."""


def _describe(value: object) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    kind = "null" if value is None else type(value).__name__
    return f"{shown} ({kind})"


class Node:
    """One value of a decoded JSON body together with the path that leads to it."""

    __slots__ = ("_fail", "path", "value")

    def __init__(self, value: object, path: str, fail: Fail) -> None:
        self.value = value
        self.path = path
        self._fail = fail

    def fail(self, message: str) -> NoReturn:
        """Report this value as malformed."""
        self._fail(message, self.path)

    def _wrong(self, expected: str) -> NoReturn:
        self.fail(f"expected {expected}, got {_describe(self.value)}")

    def mapping(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            self._wrong("an object")
        return self.value

    def __getitem__(self, key: str) -> Node:
        """The required member ``key``; missing or null is malformed."""
        node = self.optional(key)
        if node is None:
            self._fail(f"required field {key!r} is missing or null", f"{self.path}.{key}")
        return node

    def optional(self, key: str) -> Node | None:
        """The member ``key``, or None when it is absent or null."""
        value = self.mapping().get(key)
        return None if value is None else Node(value, f"{self.path}.{key}", self._fail)

    def elements(self) -> list[Node]:
        if not isinstance(self.value, list):
            self._wrong("a list")
        return [Node(v, f"{self.path}[{i}]", self._fail) for i, v in enumerate(self.value)]

    def string(self) -> str:
        """A string, possibly empty."""
        if not isinstance(self.value, str):
            self._wrong("a string")
        return self.value

    def text(self) -> str:
        """A non-empty string."""
        value = self.string()
        if not value.strip():
            self.fail("expected a non-empty string, got an empty one")
        return value

    def texts(self) -> tuple[str, ...]:
        return tuple(element.text() for element in self.elements())

    def text_map(self) -> dict[str, str]:
        """An object whose values are all strings (empty allowed, null is not)."""
        return {key: self[key].string() for key in self.mapping()}

    def integer(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self._wrong("an integer")
        return self.value

    def decimal(self) -> Decimal:
        """A decimal amount, sent as a string (preferred) or a JSON number."""
        if isinstance(self.value, bool) or not isinstance(self.value, str | int | float):
            self._wrong("a decimal number")
        try:
            amount = Decimal(str(self.value))
        except InvalidOperation:
            self._wrong("a decimal number")
        if not amount.is_finite():
            self._wrong("a finite decimal number")
        return amount

    def date(self) -> dt.date:
        """A date written ``YYYY-MM-DD``."""
        text = self.text()
        if len(text) != 10:
            self._wrong("a date written YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            self._wrong("a real date written YYYY-MM-DD")

    def moment(self) -> dt.datetime:
        """A time ``YYYY-MM-DD HH:MM[:SS]`` in Beijing time, or ISO 8601 with an offset."""
        text = self.text()
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            self._wrong("a time written YYYY-MM-DD HH:MM:SS")
        return value if value.tzinfo is not None else value.replace(tzinfo=BEIJING)


def decode(body: bytes, fail: Fail) -> Node:
    """The root node of a JSON body; text that is not JSON is malformed at ``$``."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"the answer is not JSON ({exc}); body starts {body[:60]!r}", "$")
    return Node(value, "$", fail)


def excerpt(body: bytes, limit: int = 120) -> str:
    """The start of a body, for error messages."""
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
