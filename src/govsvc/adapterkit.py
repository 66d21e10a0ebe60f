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
import datetime as dt
import enum
import functools
import json
import os
import re
import ssl
import urllib.parse
import weakref
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Generic, NoReturn, Protocol, Self, TypeVar

import attrs
import httpx

from govsvc.errors import AdapterProtocolError, AdapterUnavailable, InvalidInput

__all__ = [
    "BEIJING",
    "JsonNode",
    "LegacyClient",
    "LegacySystem",
    "PerLoopClient",
    "excerpt",
    "flat_form",
    "is_http_url",
    "is_positive_seconds",
    "json_form",
    "read_json",
    "seconds_from_env",
    "tls_context",
]

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
"""China Standard Time (UTC+8). Legacy systems send local times without an offset; they mean
Beijing time, and :meth:`JsonNode.datetime` reads them so."""

E = TypeVar("E", bound=enum.Enum)
R = TypeVar("R")


def _nonempty(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise InvalidInput(f"{attribute.name} must not be empty")


def excerpt(body: bytes | str, limit: int = 200) -> str:
    """The start of a body on one line, for error messages (white space runs become one space)."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    flat = " ".join(text.split())
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
            f"{self.name} {problem}; try again later",
            department=self.department,
            operation=operation,
        )

    def protocol_error(
        self, operation: str, problem: str, *, path: str = "$"
    ) -> AdapterProtocolError:
        """An :class:`AdapterProtocolError` saying ``"<name> <problem>"``, at ``path``."""
        return AdapterProtocolError(
            f"{self.name} {problem}", path=path, department=self.department, operation=operation
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
            raise self.unavailable(
                operation, f"answered HTTP {status}{hint}: {excerpt(response.content)}"
            )

    def refused(
        self, response: httpx.Response, operation: str, *, hint: str = "", path: str = "$"
    ) -> AdapterProtocolError:
        """The error for a 3xx/4xx answer: status, a body excerpt and ``hint`` (what to check).

        ``hint`` is appended as written, e.g. ``"; check the API key"``.
        """
        status = response.status_code
        detail = excerpt(response.content) or "(empty body)"
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

    def read_json(self, body: bytes | str, operation: str) -> JsonNode:
        """The root :class:`JsonNode` of a JSON body (see :func:`read_json`)."""
        return read_json(body, department=self.department, operation=operation, name=self.name)


def _time_limit(timeout: httpx.Timeout, exc: httpx.TimeoutException) -> str:
    seconds = {
        httpx.ConnectTimeout: timeout.connect,
        httpx.ReadTimeout: timeout.read,
        httpx.WriteTimeout: timeout.write,
        httpx.PoolTimeout: timeout.pool,
    }.get(type(exc), timeout.read)
    return "the time limit" if seconds is None else f"{seconds:g} s"


# --- reading JSON bodies ----------------------------------------------------------------------


def read_json(
    body: bytes | str, *, department: str, operation: str, name: str = "the legacy system"
) -> JsonNode:
    """The root node (path ``$``) of a JSON body from a legacy system.

    Text that is not JSON raises :class:`AdapterProtocolError` at ``$``. Errors found later,
    through the node's accessors, carry ``department`` and ``operation`` and start with
    ``name`` (the system as a clerk knows it).
    """
    system = LegacySystem(department=department, name=name)
    try:
        value = json.loads(body)
    except ValueError as exc:  # also UnicodeDecodeError
        raise system.protocol_error(
            operation,
            f"answered {operation} with a malformed body: the answer is not JSON ({exc}); "
            f"body starts {excerpt(body, 60)!r}",
        ) from exc
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
    shown = json.dumps(value, ensure_ascii=False)
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
        """A string exactly as sent, possibly empty."""
        if not isinstance(self.value, str):
            self._expected("a string")
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

    def date(self) -> dt.date:
        """A date written ``YYYY-MM-DD``."""
        text = self.text()
        if len(text) != 10:
            self._expected("a date written YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            self._expected("a real date written YYYY-MM-DD")

    def datetime(self, *, assume: dt.tzinfo | None = BEIJING) -> dt.datetime:
        """An aware date and time, ISO 8601 (``YYYY-MM-DD HH:MM[:SS]`` or with ``T``).

        A time without an offset is taken in ``assume`` (Beijing time by default, what
        legacy systems mean); ``assume=None`` refuses it, for systems that always send one.
        """
        text = self.text()
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            value = None
        if value is not None and value.tzinfo is not None:
            return value
        if value is not None and assume is not None:
            return value.replace(tzinfo=assume)
        if assume is None:
            self._expected("a date and time with an offset such as 2025-03-02T10:00:00+08:00")
        self._expected("a time written YYYY-MM-DD HH:MM:SS")

    # -- choices and records ---------------------------------------------------------------

    def enum(self, kind: type[E]) -> E:
        """The member of ``kind`` whose value is this text."""
        text = self.text()
        for member in kind:
            if member.value == text:
                return member
        allowed = ", ".join(repr(m.value) for m in kind)
        self.fail(f"expected one of {allowed}, got {text!r}")

    def build(self, cls: Callable[..., R], /, **fields: Any) -> R:
        """``cls(**fields)``; a broken invariant (ValueError, TypeError) is malformed here.

        Use it for records whose validators check more than one field, e.g. a licence that
        ends before it starts.
        """
        try:
            return cls(**fields)
        except (ValueError, TypeError) as exc:
            self.fail(str(exc))


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
