"""Helpers for department adapters that talk to a legacy system over HTTP (adapter kit).

Every HTTP adapter needs the same plumbing around its department-specific parsing, and
every one of them must map failures the same way, because the platform decides what to do
(retry later, open the circuit, record a protocol fault) from the class of the error:

=============================================  =============================================
what happened                                   what the adapter raises
=============================================  =============================================
timeout, refused connection, broken exchange,   :class:`~govsvc.errors.AdapterUnavailable`
HTTP 5xx or 429                                 (the platform retries later)
any other 3xx/4xx, a body that is not JSON,     :class:`~govsvc.errors.AdapterProtocolError`
a missing field, a wrong type                   whose ``path`` names the bad field
=============================================  =============================================

The pieces:

* :class:`LegacySystem` names the legacy system (业务系统) in every error and sends requests
  with :meth:`LegacySystem.send`, :meth:`LegacySystem.check_status` and friends;
* :func:`read_json` and :class:`JsonNode` read a JSON body field by field, keeping the path of
  every value (``$.data.list[0].licNo``) so a malformed answer says exactly where it broke;
  :func:`read_xml` and :class:`XmlNode` do the same for XML and SOAP 1.1
  (``/Envelope/Body/QueryResponse/item[2]/name``). Both decode the body by the charset it
  declares (GBK is read as its superset GB18030), so a legacy system answering in GBK reads
  like any other;
* :func:`parse_legacy_date` and :func:`parse_legacy_datetime` read the date forms legacy
  systems write (``20190418``, ``2019/4/18``, ``2019年4月18日``, ``20190418103000`` …), also
  through the nodes' ``date(formats=DateFormat.LEGACY)``;
* :class:`CodeTable` maps a legacy code table (代码表, such as 性别 ``1``/``2``) to canonical
  values (:mod:`govsvc.vocabulary` has the national ones and the canonical values);
* :class:`LegacyClient` is a base class for the client that owns the ``httpx.AsyncClient``;
  :class:`PerLoopClient` keeps one client per running event loop (the platform calls
  adapters on its own loop, and an ``httpx.AsyncClient`` works only on the loop it was first
  used on);
* :func:`is_http_url`, :func:`is_positive_seconds` and :func:`seconds_from_env` validate an
  adapter's configuration; :func:`json_form` and :func:`flat_form` prepare a case's form for
  the wire; :func:`tls_context` is one shared TLS context for every client.

What stays in your adapter is what is really your department's: the envelope
(``{"code": "0000", "data": …}``, a SOAP fault, an OAuth token), what "not found" looks like,
and how legacy records become govsvc types. A short example::

    SYSTEM = LegacySystem(department="11230100013114525L", name="哈尔滨市市场监督管理局")

    async def licence(http: httpx.AsyncClient, number: str) -> str:
        response = await SYSTEM.send(http, "licence", "GET", f"/licences/{number}")
        SYSTEM.check_status(response, "licence")
        body = SYSTEM.read_json(response.content, "licence")
        return body["data"]["licNo"].text()
"""

from __future__ import annotations

import asyncio
import codecs
import datetime as dt
import enum
import functools
import json
import os
import re
import ssl
import types
import urllib.parse
import weakref
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Generic, NoReturn, Protocol, Self, TypeVar

import attrs
import defusedxml
import defusedxml.ElementTree as DET
import httpx

from govsvc._text import escape_unstorable, unstorable
from govsvc.errors import AdapterProtocolError, AdapterUnavailable, InvalidInput
from govsvc.legacy import (
    BEIJING,
    CodeTable,
    DateFormat,
    _read_date,
    _read_datetime,
    _Unreadable,
    parse_legacy_date,
    parse_legacy_datetime,
)

__all__ = [
    "BEIJING",
    "SOAP_ENVELOPE",
    "CodeTable",
    "DateFormat",
    "JsonNode",
    "LegacyClient",
    "LegacySystem",
    "PerLoopClient",
    "SoapFault",
    "XmlNode",
    "excerpt",
    "flat_form",
    "is_http_url",
    "is_positive_seconds",
    "json_form",
    "parse_legacy_date",
    "parse_legacy_datetime",
    "read_json",
    "read_xml",
    "seconds_from_env",
    "tls_context",
]

E = TypeVar("E", bound=enum.Enum)
R = TypeVar("R")
V = TypeVar("V")


def _nonempty(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise InvalidInput(f"{attribute.name} must not be empty")


def excerpt(body: bytes | str, limit: int = 200, *, encoding: str = "utf-8") -> str:
    """The start of a body on one line, for error messages (white space runs become one space).

    Bytes are decoded with ``encoding``, replacing what does not decode; NUL and lone
    surrogates are written as escapes, because messages are stored (the exchange log).
    """
    text = body.decode(encoding, errors="replace") if isinstance(body, bytes) else body
    flat = escape_unstorable(" ".join(text.split()))
    return flat if len(flat) <= limit else flat[:limit] + "…"


# --- the legacy system and its errors -------------------------------------------------------


@attrs.frozen
class LegacySystem:
    """A department's legacy system (业务系统) as an adapter sees it: who to name in errors.

    ``department`` is the department's unified social credit code (the ``department`` of
    every error); ``name`` starts every message, e.g. ``"哈尔滨市市场监督管理局"``. A system
    with several endpoints can name each: ``attrs.evolve(system, name="… token endpoint")``.
    """

    department: str = attrs.field(validator=_nonempty)
    name: str = attrs.field(validator=_nonempty)

    def unavailable(self, operation: str, problem: str) -> AdapterUnavailable:
        """An :class:`AdapterUnavailable` saying ``"<name> <problem>; try again later"``."""
        return AdapterUnavailable(
            escape_unstorable(f"{self.name} {problem}; try again later"),
            department=self.department,
            operation=operation,
        )

    def protocol_error(
        self, operation: str, problem: str, *, path: str = "$"
    ) -> AdapterProtocolError:
        """An :class:`AdapterProtocolError` saying ``"<name> <problem>"``, at ``path``.

        NUL and lone surrogates quoted from an answer are written as escapes: the message is
        stored in the exchange log, which cannot hold them.
        """
        return AdapterProtocolError(
            escape_unstorable(f"{self.name} {problem}"),
            path=escape_unstorable(path),
            department=self.department,
            operation=operation,
        )

    async def send(
        self,
        http: httpx.AsyncClient,
        operation: str,
        method: str,
        url: str,
        **options: Any,
    ) -> httpx.Response:
        """Send one request with ``http.request(method, url, **options)``; any answer returns.

        A timeout, a refused connection or a broken exchange raises
        :class:`AdapterUnavailable` (the message names the time limit that ran out); a body
        that cannot be decoded or endless redirects raise :class:`AdapterProtocolError`. The
        status is not looked at: call :meth:`check_status` (or :meth:`check_available`, then
        your envelope's own error handling).
        """
        try:
            return await http.request(method, url, **options)
        except httpx.TimeoutException as exc:
            limit = _time_limit(http.timeout, exc)
            raise self.unavailable(
                operation, f"did not answer within {limit} ({type(exc).__name__})"
            ) from exc
        except httpx.ConnectError as exc:
            raise self.unavailable(
                operation,
                f"cannot be reached: it refused the connection or the address is wrong ({exc})",
            ) from exc
        except httpx.TransportError as exc:
            raise self.unavailable(operation, f"broke off the exchange ({exc!r})") from exc
        except httpx.RequestError as exc:  # DecodingError, TooManyRedirects
            raise self.protocol_error(
                operation, f"answered {operation} in a way HTTP cannot read ({exc})"
            ) from exc

    def check_available(self, response: httpx.Response, operation: str) -> None:
        """Raise :class:`AdapterUnavailable` for HTTP 429 and 5xx (with ``Retry-After``)."""
        status = response.status_code
        if status == 429 or status >= 500:
            retry = response.headers.get("retry-after", "").strip()
            unit = " s" if retry.isdigit() else ""
            hint = f" (Retry-After: {retry}{unit})" if retry else ""
            raise self.unavailable(operation, f"answered HTTP {status}{hint}: {_excerpt(response)}")

    def refused(
        self, response: httpx.Response, operation: str, *, hint: str = "", path: str = "$"
    ) -> AdapterProtocolError:
        """The error for a 3xx/4xx answer: status, a body excerpt and ``hint`` (what to check).

        ``hint`` is appended as written, e.g. ``"; check the API key"``.
        """
        status = response.status_code
        detail = _excerpt(response) or "(empty body)"
        if 300 <= status < 400:
            detail = f"redirect to {response.headers.get('location', '?')}; check the base URL"
        return self.protocol_error(
            operation, f"refused {operation} with HTTP {status}: {detail}{hint}", path=path
        )

    def check_status(self, response: httpx.Response, operation: str, *, hint: str = "") -> None:
        """Raise for any answer but 1xx/2xx: :meth:`check_available`, then :meth:`refused`."""
        self.check_available(response, operation)
        if response.status_code >= 300:
            raise self.refused(response, operation, hint=hint)

    def read_json(
        self, body: bytes | str | httpx.Response, operation: str, *, charset: str | None = None
    ) -> JsonNode:
        """The root :class:`JsonNode` of a JSON body (see :func:`read_json`)."""
        return read_json(
            body, department=self.department, operation=operation, name=self.name, charset=charset
        )

    def read_xml(
        self, body: bytes | str | httpx.Response, operation: str, *, charset: str | None = None
    ) -> XmlNode:
        """The root :class:`XmlNode` of an XML body (see :func:`read_xml`)."""
        return read_xml(
            body, department=self.department, operation=operation, name=self.name, charset=charset
        )


def _time_limit(timeout: httpx.Timeout, exc: httpx.TimeoutException) -> str:
    seconds = {
        httpx.ConnectTimeout: timeout.connect,
        httpx.ReadTimeout: timeout.read,
        httpx.WriteTimeout: timeout.write,
        httpx.PoolTimeout: timeout.pool,
    }.get(type(exc), timeout.read)
    return "the time limit" if seconds is None else f"{seconds:g} s"


# --- decoding bodies -------------------------------------------------------------------------

# Names legacy stacks put in ``charset=`` that Python's codec registry does not know.
_CHARSET_ALIASES: Mapping[str, str] = types.MappingProxyType(
    {
        "x-gbk": "gbk",
        "windows-936": "gbk",
        "cp-936": "gbk",
        "csgbk": "gbk",
        "csgb2312": "gb2312",
        "gb-18030": "gb18030",
    }
)
# GB18030 contains GBK, which contains GB2312. Systems that declare the smaller sets send
# characters from the larger one (rare characters in names, 𠮷), so decoding strictly by
# the declared name would refuse answers that are fine.
_SUPERSETS: Mapping[str, str] = types.MappingProxyType({"gbk": "gb18030", "gb2312": "gb18030"})

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_XML_DECLARATION = re.compile(
    rb"<\?xml[ \t\r\n][^>]*?encoding[ \t\r\n]*=[ \t\r\n]*[\"']([A-Za-z][A-Za-z0-9._-]*)[\"']"
)


def _codec(charset: str) -> str | None:
    """Python's codec for a declared charset (GBK and GB2312 read as GB18030), or None."""
    name = charset.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True):  # base64, zlib and friends
        return None
    return _SUPERSETS.get(info.name, info.name)


def _excerpt(response: httpx.Response) -> str:
    """The start of a response body, decoded by its declared charset where Python knows it."""
    declared = response.charset_encoding
    codec = (_codec(declared) if declared else None) or "utf-8"
    return excerpt(response.content, encoding=codec)


@attrs.frozen
class _Encoding:
    """The encoding a body is decoded with, and why (for the message when it fails)."""

    codec: str
    reason: str  # "the declared charset GBK", "no charset declared", ...


def _choose_encoding(
    body: bytes,
    declared: str | None,
    sniffed: tuple[str, str] | None,
    fail: Callable[[str], AdapterProtocolError],
) -> _Encoding:
    # The order of RFC 7303 (XML media types), which suits JSON as well: a byte-order mark,
    # then the charset the HTTP header (or the adapter) declares, then what the body says
    # of itself, then UTF-8.
    for mark, bom_codec in _BOMS:
        if body.startswith(mark):
            return _Encoding(bom_codec, "its byte-order mark")
    if declared is not None:
        codec = _codec(declared)
        if codec is None:
            raise fail(
                f"the declared charset {declared!r} is not a text encoding Python knows; if "
                f"you know what the system really sends, pass charset=... to read it"
            )
        return _Encoding(codec, f"the declared charset {declared.strip()}")
    if sniffed is not None:
        name, reason = sniffed
        sniffed_codec = _codec(name)
        if sniffed_codec is None:
            raise fail(f"{reason} {name!r} is not a text encoding Python knows")
        return _Encoding(sniffed_codec, f"{reason} {name}")
    return _Encoding("utf-8", "no charset declared")


def _decode(
    body: bytes,
    declared: str | None,
    sniffed: tuple[str, str] | None,
    fail: Callable[[str], AdapterProtocolError],
) -> str:
    """The text of ``body``; a body that does not decode fails naming the charset and offset."""
    encoding = _choose_encoding(body, declared, sniffed, fail)
    # The utf-8-sig codec counts offsets after the mark it drops; decode past it ourselves so
    # that the offset in the message is the body's.
    skip = len(codecs.BOM_UTF8) if encoding.codec == "utf-8-sig" else 0
    try:
        return body[skip:].decode("utf-8" if skip else encoding.codec)
    except UnicodeDecodeError as exc:
        start, end = exc.start + skip, exc.end + skip
        bad = body[start : min(end, start + 4)].hex(" ").upper()
        hint = "check the charset the system declares"
        if encoding.codec in ("utf-8", "utf-8-sig") and _decodes(body, "gb18030"):
            hint = (
                "it reads as GB18030: the system probably sends GBK without saying so; "
                "pass charset='gbk'"
            )
        shown = encoding.codec.upper().removesuffix("-SIG")
        raise fail(
            f"the body is not {shown} text ({encoding.reason}): byte(s) {bad} at offset "
            f"{start} cannot be decoded ({exc.reason}); {hint}"
        ) from None


def _decodes(body: bytes, codec: str) -> bool:
    try:
        body.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _split(
    body: bytes | str | httpx.Response, charset: str | None
) -> tuple[bytes | str, str | None]:
    """The body and its declared charset: ``charset`` if given, else the response's header."""
    if isinstance(body, httpx.Response):
        return body.content, charset or body.charset_encoding
    return body, charset


def _sniff_json(body: bytes) -> tuple[str, str] | None:
    # JSON is UTF-8 (RFC 8259); UTF-16 and UTF-32 show themselves by their zero bytes.
    codec = json.detect_encoding(body)
    return None if codec == "utf-8" else (codec, "the body's zero bytes say")


def _sniff_xml(body: bytes) -> tuple[str, str] | None:
    if body.startswith(b"<\x00?\x00"):
        return "utf-16-le", "the body's zero bytes say"
    if body.startswith(b"\x00<\x00?"):
        return "utf-16-be", "the body's zero bytes say"
    declaration = _XML_DECLARATION.match(body, 0, 200)
    if declaration is None:
        return None
    return declaration.group(1).decode("ascii"), "the XML declaration's encoding"


# --- reading JSON bodies ----------------------------------------------------------------------


def read_json(
    body: bytes | str | httpx.Response,
    *,
    department: str,
    operation: str,
    name: str = "the legacy system",
    charset: str | None = None,
) -> JsonNode:
    """The root node (path ``$``) of a JSON body from a legacy system.

    ``body`` is the response itself (its ``Content-Type`` charset is honoured), its bytes, or
    text. Bytes are decoded by ``charset`` when given (it overrides the header, for a system
    that declares one thing and sends another), else by the header's charset, else as UTF-8;
    GBK and GB2312 are read as GB18030, which contains both. A body that does not decode, or
    text that is not JSON, raises :class:`AdapterProtocolError` at ``$``. Errors found later,
    through the node's accessors, carry ``department`` and ``operation`` and start with
    ``name`` (the system as a clerk knows it).
    """
    system = LegacySystem(department=department, name=name)
    content, declared = _split(body, charset)

    def malformed(problem: str) -> AdapterProtocolError:
        return system.protocol_error(
            operation, f"answered {operation} with a malformed body: {problem}"
        )

    text = (
        _decode(content, declared, _sniff_json(content), malformed)
        if isinstance(content, bytes)
        else content
    )
    text = text.removeprefix("\ufeff")  # a byte-order mark in text already decoded
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise malformed(
            f"the answer is not JSON ({exc}); body starts {excerpt(text, 60)!r}"
        ) from exc
    except RecursionError:
        raise malformed(
            f"the answer nests lists and objects too deeply to read; body starts "
            f"{excerpt(text, 60)!r}"
        ) from None
    return JsonNode(value, "$", system, operation)


_KINDS: dict[type, str] = {
    dict: "object",
    list: "list",
    str: "string",
    bool: "true/false",
    int: "number",
    float: "number",
}


def _describe(value: object) -> str:
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):  # a node not made by read_json, or deep
        shown = "…"
    if len(shown) > 40:
        shown = shown[:37] + "..."
    kind = "null" if value is None else _KINDS.get(type(value), type(value).__name__)
    return f"{shown} ({kind})"


@attrs.frozen
class JsonNode:
    """One value of a decoded JSON body and the path that leads to it (``$.data.list[0]``).

    Members are reached with ``node["key"]`` (required) or ``node.optional("key")``; typed
    accessors check the value and return it, or raise :class:`AdapterProtocolError` at this
    node's path with a message that says what was expected and what came::

        ticket = body["data"]
        ticket["taskId"].text()                      # a non-empty string
        ticket["createTime"].datetime()              # naive times are Beijing time
        [row["licNo"].text() for row in ticket["list"].elements()]
    """

    value: object
    path: str
    system: LegacySystem = attrs.field(repr=False)
    operation: str = attrs.field(repr=False)

    # -- errors ----------------------------------------------------------------------------

    def error(self, message: str) -> AdapterProtocolError:
        """The error for a malformed value here (to ``raise`` yourself)."""
        return self.system.protocol_error(
            self.operation,
            f"answered {self.operation} with a malformed body: {message}",
            path=self.path,
        )

    def fail(self, message: str) -> NoReturn:
        """Report this value as malformed: raise :meth:`error`."""
        raise self.error(message)

    def _expected(self, what: str) -> NoReturn:
        self.fail(f"expected {what}, got {_describe(self.value)}")

    def _child(self, value: object, path: str) -> JsonNode:
        return JsonNode(value, path, self.system, self.operation)

    # -- structure -------------------------------------------------------------------------

    def mapping(self) -> dict[str, object]:
        """The value as an object (a dict)."""
        if not isinstance(self.value, dict):
            self._expected("an object")
        return self.value

    def __getitem__(self, key: str) -> JsonNode:
        """The required member ``key``; missing or null is malformed."""
        node = self.optional(key)
        if node is None:
            self._child(None, f"{self.path}.{key}").fail(
                f"required field {key!r} is missing or null"
            )
        return node

    def optional(self, key: str) -> JsonNode | None:
        """The member ``key``, or None when it is absent or null."""
        value = self.mapping().get(key)
        return None if value is None else self._child(value, f"{self.path}.{key}")

    def elements(self) -> list[JsonNode]:
        """The items of a list, each with its index in its path (``$.rows[2]``)."""
        if not isinstance(self.value, list):
            self._expected("a list")
        return [self._child(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    # -- text ------------------------------------------------------------------------------

    def string(self) -> str:
        """A string exactly as sent, possibly empty.

        A NUL (``\\u0000``) or a lone surrogate (``\\ud800``) is malformed: no govsvc store
        can hold them, and they are never part of a real name or address.
        """
        if not isinstance(self.value, str):
            self._expected("a string")
        problem = unstorable(self.value)
        if problem is not None:
            self.fail(f"the text contains {problem}")
        return self.value

    def text(self, pattern: re.Pattern[str] | None = None, *, what: str | None = None) -> str:
        """A non-empty string without surrounding white space (legacy CHAR columns pad).

        With ``pattern``, the whole text must match it; ``what`` says in the message what
        was expected instead, e.g. ``"a unified social credit code"``.
        """
        value = self.string().strip()
        if not value:
            self.fail("expected a non-empty string, got an empty one")
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(f"expected {what or f'text of the form {pattern.pattern}'}, got {value!r}")
        return value

    def optional_text(self, key: str) -> str:
        """The member ``key`` as text without surrounding white space; ``""`` if absent or null."""
        node = self.optional(key)
        return "" if node is None else node.string().strip()

    def texts(self) -> tuple[str, ...]:
        """A list of non-empty strings."""
        return tuple(element.text() for element in self.elements())

    def text_map(self) -> dict[str, str]:
        """An object whose values are all strings (empty allowed, null is not), in order."""
        for key in self.mapping():
            problem = unstorable(key)
            if problem is not None:
                self.fail(f"the member name {key!r} contains {problem}")
        return {key: self[key].string() for key in self.mapping()}

    # -- numbers ---------------------------------------------------------------------------

    def integer(self) -> int:
        """A whole JSON number (not true/false, not a string of digits)."""
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self._expected("an integer")
        return self.value

    def number(self) -> float:
        """Any JSON number, as a float."""
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            self._expected("a number")
        return float(self.value)

    def decimal(self) -> Decimal:
        """A decimal amount, sent as a string (preferred: no rounding) or a JSON number."""
        if isinstance(self.value, bool) or not isinstance(self.value, str | int | float):
            self._expected("a decimal number")
        try:
            amount = Decimal(str(self.value).strip())
        except InvalidOperation:
            self._expected("a decimal number")
        if not amount.is_finite():
            self._expected("a finite decimal number")
        return amount

    # -- dates and times -------------------------------------------------------------------

    def date(self, *, formats: DateFormat = DateFormat.ISO) -> dt.date:
        """A date written ``YYYY-MM-DD``, or in any of ``formats`` (``DateFormat.LEGACY``: also
        ``YYYYMMDD``, ``YYYY/M/D``, ``YYYY年M月D日``). A midnight time after the date
        (``1985-03-12 00:00:00``, as database DATE columns print) is allowed."""
        text = self.text()
        try:
            return _read_date(text, formats)
        except _Unreadable as exc:
            self._expected(exc.expected)

    def datetime(
        self, *, assume: dt.tzinfo | None = BEIJING, formats: DateFormat = DateFormat.ISO
    ) -> dt.datetime:
        """An aware date and time, ISO 8601 (``YYYY-MM-DD HH:MM[:SS]`` or with ``T``), or in
        any of ``formats`` (``DateFormat.LEGACY``: also ``YYYYMMDDHHMMSS``,
        ``YYYY/M/D HH:MM:SS``, ``YYYY年M月D日 HH:MM:SS``); a date alone is its midnight.

        A time without an offset is taken in ``assume`` (Beijing time by default, what
        legacy systems mean); ``assume=None`` refuses it, for systems that always send one.
        """
        text = self.text()
        try:
            return _read_datetime(text, formats, assume)
        except _Unreadable as exc:
            self._expected(exc.expected)

    # -- choices and records ---------------------------------------------------------------

    def enum(self, kind: type[E]) -> E:
        """The member of ``kind`` whose value is this text."""
        text = self.text()
        for member in kind:
            if member.value == text:
                return member
        allowed = ", ".join(repr(m.value) for m in kind)
        self.fail(f"expected one of {allowed}, got {text!r}")

    def code(self, table: CodeTable[V]) -> V:
        """The canonical value of this code in ``table`` (a string, or a JSON whole number).

        A code the table does not know, or one that means "not known" (``table.unknown``),
        is malformed here.
        """
        try:
            return table[self._code()]
        except InvalidInput as exc:
            self.fail(str(exc))

    def optional_code(self, key: str, table: CodeTable[V]) -> V | None:
        """The member ``key`` as a code of ``table``; None if absent, null, empty, or a code
        meaning "not known" (未说明)."""
        node = self.optional(key)
        if node is None:
            return None
        try:
            return table.get(node._code())
        except InvalidInput as exc:
            node.fail(str(exc))

    def _code(self) -> str:
        if isinstance(self.value, int) and not isinstance(self.value, bool):
            return str(self.value)  # legacy JSON often sends codes as numbers: 1, 2
        return self.string()

    def build(self, cls: Callable[..., R], /, **fields: Any) -> R:
        """``cls(**fields)``; a broken invariant (ValueError, TypeError) is malformed here.

        Use it for records whose validators check more than one field, e.g. a licence that
        ends before it starts.
        """
        try:
            return cls(**fields)
        except (ValueError, TypeError) as exc:
            self.fail(str(exc))


# --- reading XML bodies -----------------------------------------------------------------------

SOAP_ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
"""The namespace of SOAP 1.1 envelopes (``soap:Envelope``, ``soap:Body``, ``soap:Fault``)."""

_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_INTEGER = re.compile(r"[+-]?[0-9]+")


def read_xml(
    body: bytes | str | httpx.Response,
    *,
    department: str,
    operation: str,
    name: str = "the legacy system",
    charset: str | None = None,
) -> XmlNode:
    """The root element of an XML body from a legacy system, as an :class:`XmlNode`.

    The root's path is its name (``/Envelope``). Bytes are decoded by their byte-order mark,
    else ``charset`` (when given, it overrides the response's header), else the response's
    ``Content-Type`` charset, else the encoding the XML declaration names, else UTF-8; GBK
    and GB2312 are read as GB18030, which contains both. The parser is ``defusedxml``'s: a
    DTD or an entity declaration (the "billion laughs") is refused unread. A body that does
    not decode, is not well-formed or carries a DTD raises :class:`AdapterProtocolError` at
    ``/``.
    """
    system = LegacySystem(department=department, name=name)
    content, declared = _split(body, charset)

    def malformed(problem: str) -> AdapterProtocolError:
        return system.protocol_error(
            operation, f"answered {operation} with a malformed body: {problem}", path="/"
        )

    # Decoded here, not by the parser: expat reads UTF-8, UTF-16 and Latin-1 only and
    # refuses a GBK declaration outright (ValueError: multi-byte encodings are not supported).
    text = (
        _decode(content, declared, _sniff_xml(content), malformed)
        if isinstance(content, bytes)
        else content
    )
    text = text.removeprefix("\ufeff")  # expat wants the declaration first
    try:
        element = DET.fromstring(text, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise malformed(
            f"the answer carries a DTD or an entity declaration, refused unread ({exc!r}); "
            f"report this to the system's operators"
        ) from None
    except ET.ParseError as exc:
        raise malformed(
            f"the answer is not well-formed XML ({exc}); body starts {excerpt(text, 60)!r}"
        ) from None
    except ValueError as exc:  # text that cannot be encoded (lone surrogates in a str body)
        raise malformed(f"the answer cannot be read as XML ({exc})") from None
    return XmlNode(element, f"/{_local(element.tag)}", system, operation)


def _local(tag: object) -> str:
    """The local name of a tag: ``{ns}name`` → ``name``."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _matches(tag: object, name: str) -> bool:
    # "{ns}name" must match exactly; a bare name matches in any namespace, because legacy
    # stacks disagree on elementFormDefault and qualify children or not.
    return tag == name if name.startswith("{") else _local(tag) == name


@attrs.frozen
class XmlNode:
    """One element of an XML answer and the path that leads to it
    (``/Envelope/Body/QueryResponse/item[2]/name``).

    The accessors mirror :class:`JsonNode`'s. Children are reached by name: ``node["name"]``
    (exactly one required), ``node.optional("name")`` (absent or ``xsi:nil`` is None),
    ``node.children("item")`` (every one, numbered from 1 as in XPath). A bare name matches
    in any namespace; ``"{urn:ns}name"`` only in that one. Typed accessors read the
    element's text and raise :class:`AdapterProtocolError` at this path::

        body = SYSTEM.read_xml(response, "profile").soap_body()
        person = body["QueryPersonResponse"]["person"]
        person["name"].text()
        person["birthDate"].date(formats=DateFormat.LEGACY)
        [m["name"].text() for m in person["members"].children("member")]
    """

    element: ET.Element
    path: str
    system: LegacySystem = attrs.field(repr=False)
    operation: str = attrs.field(repr=False)

    @property
    def name(self) -> str:
        """The element's local name (``Envelope`` for ``soap:Envelope``)."""
        return _local(self.element.tag)

    @property
    def namespace(self) -> str:
        """The element's namespace URI, ``""`` for none."""
        tag = self.element.tag
        return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""

    # -- errors ----------------------------------------------------------------------------

    def error(self, message: str) -> AdapterProtocolError:
        """The error for a malformed element here (to ``raise`` yourself)."""
        return self.system.protocol_error(
            self.operation,
            f"answered {self.operation} with a malformed body: {message}",
            path=self.path,
        )

    def fail(self, message: str) -> NoReturn:
        """Report this element as malformed: raise :meth:`error`."""
        raise self.error(message)

    def _expected(self, what: str) -> NoReturn:
        self.fail(f"expected {what}, got {self._shown()}")

    def _shown(self) -> str:
        inner = [_local(child.tag) for child in self.element]
        if inner:
            return f"an element holding <{'>, <'.join(inner[:5])}>" + (
                ", …" if len(inner) > 5 else ""
            )
        text = self.element.text or ""
        return repr(text if len(text) <= 40 else text[:37] + "...")

    def _child(self, element: ET.Element, path: str) -> XmlNode:
        return XmlNode(element, path, self.system, self.operation)

    # -- structure -------------------------------------------------------------------------

    @property
    def is_nil(self) -> bool:
        """Whether the element is marked ``xsi:nil="true"`` (SOAP's null)."""
        return self.element.get(_XSI_NIL, "").strip() in _TRUE

    def __getitem__(self, name: str) -> XmlNode:
        """The one child element ``name``; missing, repeated or nil is malformed."""
        node = self.optional(name)
        if node is None:
            found = [e for e in self.element if _matches(e.tag, name)]
            problem = "is nil" if found else "is missing"
            self._child(ET.Element(name), f"{self.path}/{_local(name)}").fail(
                f"required element <{_local(name)}> {problem}"
            )
        return node

    def optional(self, name: str) -> XmlNode | None:
        """The child element ``name``, or None when it is absent or nil; two are malformed."""
        found = [e for e in self.element if _matches(e.tag, name)]
        path = f"{self.path}/{_local(name)}"
        if len(found) > 1:
            self._child(found[1], path).fail(f"expected one <{_local(name)}>, found {len(found)}")
        if not found:
            return None
        node = self._child(found[0], path)
        return None if node.is_nil else node

    def children(self, name: str | None = None) -> list[XmlNode]:
        """The child elements called ``name`` (all of them if None), in document order; each
        path carries its position among its namesakes, from 1 (``item[2]``)."""
        counts: dict[str, int] = {}
        nodes = []
        for element in self.element:
            if name is not None and not _matches(element.tag, name):
                continue
            local = _local(element.tag)
            counts[local] = counts.get(local, 0) + 1
            nodes.append(self._child(element, f"{self.path}/{local}[{counts[local]}]"))
        return nodes

    def attribute(self, name: str) -> str:
        """The attribute ``name`` (``"{ns}name"`` for a qualified one) as sent; missing is
        malformed."""
        value = self.element.get(name)
        if value is None:
            self.fail(f"required attribute {_local(name)!r} is missing")
        return value

    def optional_attribute(self, name: str) -> str | None:
        """The attribute ``name`` as sent, or None when absent."""
        return self.element.get(name)

    # -- text ------------------------------------------------------------------------------

    def string(self) -> str:
        """The element's text exactly as sent, ``""`` for an empty element; an element that
        holds other elements is malformed."""
        if len(self.element):
            self._expected("text")
        return self.element.text or ""

    def text(self, pattern: re.Pattern[str] | None = None, *, what: str | None = None) -> str:
        """Non-empty text without surrounding white space; with ``pattern``, the whole text
        must match it (``what`` says in the message what was expected instead)."""
        value = self.string().strip()
        if not value:
            self.fail("expected a non-empty text, got an empty element")
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(f"expected {what or f'text of the form {pattern.pattern}'}, got {value!r}")
        return value

    def optional_text(self, name: str) -> str:
        """The child ``name``'s text without surrounding white space; ``""`` if absent or nil."""
        node = self.optional(name)
        return "" if node is None else node.string().strip()

    def texts(self, name: str) -> tuple[str, ...]:
        """The non-empty texts of every child called ``name`` (a repeated element)."""
        return tuple(child.text() for child in self.children(name))

    # -- numbers and flags -----------------------------------------------------------------

    def integer(self) -> int:
        """A whole number written in decimal digits (``xs:int``, ``xs:long``)."""
        text = self.text()
        if not _INTEGER.fullmatch(text):
            self._expected("a whole number")
        return int(text)

    def decimal(self) -> Decimal:
        """A decimal amount (``xs:decimal``), kept exact."""
        text = self.text()
        try:
            amount = Decimal(text)
        except InvalidOperation:
            self._expected("a decimal number")
        if not amount.is_finite():
            self._expected("a finite decimal number")
        return amount

    def boolean(self) -> bool:
        """``true``/``false`` or ``1``/``0`` (``xs:boolean``)."""
        text = self.text()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self._expected("true, false, 1 or 0")

    # -- dates and times -------------------------------------------------------------------

    def date(self, *, formats: DateFormat = DateFormat.ISO) -> dt.date:
        """A date, as :meth:`JsonNode.date` reads it."""
        try:
            return _read_date(self.text(), formats)
        except _Unreadable as exc:
            self._expected(exc.expected)

    def datetime(
        self, *, assume: dt.tzinfo | None = BEIJING, formats: DateFormat = DateFormat.ISO
    ) -> dt.datetime:
        """An aware date and time, as :meth:`JsonNode.datetime` reads it."""
        try:
            return _read_datetime(self.text(), formats, assume)
        except _Unreadable as exc:
            self._expected(exc.expected)

    # -- choices and records ---------------------------------------------------------------

    def enum(self, kind: type[E]) -> E:
        """The member of ``kind`` whose value is this text."""
        text = self.text()
        for member in kind:
            if member.value == text:
                return member
        allowed = ", ".join(repr(m.value) for m in kind)
        self.fail(f"expected one of {allowed}, got {text!r}")

    def code(self, table: CodeTable[V]) -> V:
        """The canonical value of this code in ``table`` (see :meth:`JsonNode.code`)."""
        try:
            return table[self.string()]
        except InvalidInput as exc:
            self.fail(str(exc))

    def optional_code(self, name: str, table: CodeTable[V]) -> V | None:
        """The child ``name`` as a code of ``table``; None if absent, nil, empty, or a code
        meaning "not recorded"."""
        node = self.optional(name)
        if node is None:
            return None
        try:
            return table.get(node.string())
        except InvalidInput as exc:
            node.fail(str(exc))

    def build(self, cls: Callable[..., R], /, **fields: Any) -> R:
        """``cls(**fields)``; a broken invariant (ValueError, TypeError) is malformed here."""
        try:
            return cls(**fields)
        except (ValueError, TypeError) as exc:
            self.fail(str(exc))

    # -- SOAP 1.1 --------------------------------------------------------------------------

    def soap_body(self) -> XmlNode:
        """The ``soap:Body`` of this SOAP 1.1 envelope (call it on the root).

        The envelope and the body must be in the SOAP 1.1 namespace; a SOAP 1.2 envelope (or
        any other root) is malformed, naming what came instead.
        """
        if self.element.tag != f"{{{SOAP_ENVELOPE}}}Envelope":
            self._child(self.element, "/").fail(
                f"the root element is {self.element.tag!r}, not a SOAP 1.1 Envelope "
                f"({{{SOAP_ENVELOPE}}}Envelope)"
            )
        body = [e for e in self.element if e.tag == f"{{{SOAP_ENVELOPE}}}Body"]
        if len(body) != 1:
            self._child(self.element, f"{self.path}/Body").fail(
                f"expected one SOAP Body, found {len(body)}"
            )
        return self._child(body[0], f"{self.path}/Body")

    def soap_fault(self) -> SoapFault | None:
        """The fault in this ``soap:Body``, or None when the body holds none."""
        fault = self.optional("Fault")
        if fault is None:
            return None
        code = fault["faultcode"].text()
        return SoapFault(
            code=code.rsplit(":", 1)[-1],
            message=fault.optional_text("faultstring"),
            actor=fault.optional_text("faultactor"),
            detail=fault.optional("detail"),
            node=fault,
        )


@attrs.frozen
class SoapFault:
    """A SOAP 1.1 fault (``soap:Fault``) as :meth:`XmlNode.soap_fault` found it.

    ``code`` is the ``faultcode`` without its prefix (``Client``, ``Server.Busy``): the prefix
    is the sender's choice and the standard codes are the SOAP 1.1 ones. ``kind`` is its first
    part: ``Server`` means the system failed (usually :class:`AdapterUnavailable`),
    ``Client`` that it refused the request. ``detail`` holds the system's own error (business
    codes, such as "not found"), and ``node`` is the fault, to raise an error at its path.
    """

    code: str
    message: str
    actor: str
    detail: XmlNode | None
    node: XmlNode = attrs.field(repr=False)

    @property
    def kind(self) -> str:
        """``Server``, ``Client``, ``VersionMismatch`` or ``MustUnderstand``."""
        return self.code.split(".", 1)[0]


# --- clients -------------------------------------------------------------------------------


class LegacyClient:
    """Base class of a legacy system's client: it owns one ``httpx.AsyncClient``.

    The HTTP client is built here, with the shared :func:`tls_context` unless ``verify``
    says otherwise, and used by subclasses as ``self._http``. ``transport`` is the test seam:
    leave it None in production (and under pytest-httpx). The client is an async context
    manager, and :meth:`aclose` closes its connection pool::

        class SamrClient(LegacyClient):
            def __init__(self, base_url: str, api_key: str, *, timeout: float = 5.0) -> None:
                super().__init__(base_url, timeout=timeout, headers={"X-Api-Key": api_key})

        async with SamrClient("http://127.0.0.1:8101", "samr-demo-key") as samr:
            ...
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=verify or tls_context(),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


# --- one client per event loop ------------------------------------------------------------


class _Closeable(Protocol):
    async def aclose(self) -> None: ...


C = TypeVar("C", bound=_Closeable)


class PerLoopClient(Generic[C]):
    """One client per running event loop, made by ``factory`` on first use in that loop.

    The platform calls adapters on its own background event loop, tests call them with
    ``asyncio.run``, and an ``httpx.AsyncClient`` must stay on the loop it was first used on.
    So an adapter creates nothing when it is built and asks for its client in every
    operation::

        self._clients = PerLoopClient(lambda: SamrClient(config.base_url, config.api_key))
        ...
        licences = await self._clients.get().certificates(number)

    A loop that ends drops its client (the mapping holds loops weakly). ``len()`` is the
    number of loops that hold a client.
    """

    def __init__(self, factory: Callable[[], C]) -> None:
        self._factory = factory
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, C] = (
            weakref.WeakKeyDictionary()
        )

    def __len__(self) -> int:
        return len(self._clients)

    def get(self) -> C:
        """The running loop's client, created now if this loop has none (needs a running loop)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._factory()
        return client

    async def aclose(self) -> None:
        """Close the running loop's client, if any; the next :meth:`get` makes a new one."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


# --- configuration ---------------------------------------------------------------------------


def is_http_url(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    """attrs validator: an absolute ``http``/``https`` address (the field's default is the
    example in the message)."""
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        example = attribute.default if isinstance(attribute.default, str) else None
        raise InvalidInput(
            f"{attribute.name} must be an http(s) address such as "
            f"{example or 'https://10.1.2.3:8443/api'}, got {value!r}"
        )


def is_positive_seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    """attrs validator: a time limit in seconds above 0."""
    if not value > 0:
        raise InvalidInput(f"{attribute.name} must be a number of seconds above 0, got {value!r}")


def seconds_from_env(environ: Mapping[str, str] | None, name: str, default: float) -> float:
    """The number of seconds in the environment variable ``name``, or ``default`` if unset.

    ``environ`` None reads ``os.environ``. Whether the number is sensible (above 0) is for
    the config's validator (:func:`is_positive_seconds`) to say.
    """
    env = os.environ if environ is None else environ
    text = env.get(name)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(
            f"{name} must be a number of seconds such as {default:g}, got {text!r}"
        ) from None


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context (public CAs) for every client.

    Building a context loads the CA bundle (tens of milliseconds) and adapters make clients
    often (per loop, per test); pass it as ``httpx.AsyncClient(verify=tls_context())``.
    """
    return httpx.create_ssl_context()


# --- forms on the wire ---------------------------------------------------------------------


def json_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """A case's form as plain JSON values: dates, decimals and other objects become text.

    Keys are sorted, so the same form always gives the same body, which a legacy system's
    idempotency check (same key, same content) compares.
    """
    text = json.dumps(dict(form), ensure_ascii=False, sort_keys=True, default=str)
    result: dict[str, Any] = json.loads(text)
    return result


def flat_form(form: Mapping[str, Any]) -> dict[str, str | int | dt.date]:
    """A case's form for a system that takes only flat fields (text, whole numbers, dates).

    Empty (None) values are left out, as most such systems treat a missing and an empty field
    alike; true/false becomes ``"true"``/``"false"``, decimals their text, and lists and
    objects their JSON text, which keeps them whole.
    """
    flat: dict[str, str | int | dt.date] = {}
    for name, value in form.items():
        if value is None:
            continue
        if isinstance(value, bool):
            flat[name] = "true" if value else "false"
        elif isinstance(value, str | int | dt.date):
            flat[name] = value
        elif isinstance(value, float | Decimal):
            flat[name] = str(value)
        else:
            flat[name] = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return flat
