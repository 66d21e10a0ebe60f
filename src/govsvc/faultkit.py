"""Fault injection for simulated legacy systems (故障注入): failed and late answers, on record.

A department's simulator wraps its ASGI app in :class:`FaultInjector` to rehearse what real
legacy systems do: answer a share of calls with HTTP 503 (the gateway in front of a system
that is down, before the system saw the request) and answer another share **late** — the
system does the work, then its answer arrives only after ``late_delay`` seconds, by which
time the platform has usually given up (the case that makes "did it happen or not?" hard).
Both are drawn from ``random.Random(seed)`` in order of arrival, so a run can be repeated.

Every call is also kept as the legacy system's own record (:class:`LegacyCall`): which
operation, for which platform task and case, when it came and was answered, and what was
injected. A benchmark compares these records — the ground truth of what reached the
department — with the platform's database and exchange log (``bench/faults.py``).
``GET /_faults/calls`` returns them as JSON (never faulted, never recorded).

The settings come from the simulator's constructor or from the environment
(:meth:`FaultSettings.from_env`, e.g. ``GOVSVC_SAMR_SIM_FAILURE_RATE=0.3``). Everything is
off by default: a simulator without settings behaves exactly as before.

Pure ASGI (no web framework): any simulator can use it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import attrs

__all__ = ["Classify", "FaultInjector", "FaultSettings", "LegacyCall", "rest_review_classifier"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Classify = Callable[[str, str, Mapping[str, str], bytes], "tuple[str, str | None, str | None]"]
"""``classify(method, path, headers, body) -> (operation, task_id, case_id)``: what a request
is, in the platform's terms (``open_review`` for platform task ``T…`` of case ``C…``);
headers' names are lower case. Unknown parts are ``None``; an unknown request is
``("other", None, None)``."""

CALLS_PATH = "/_faults/calls"
_GATEWAY_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def _rate(name: str) -> Callable[[Any, Any, float], None]:
    def check(_: Any, __: Any, value: float) -> None:
        if not (isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1):
            raise ValueError(f"{name} must be between 0 and 1, got {value!r}")

    return check


def _seconds(_: Any, attribute: Any, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be 0 or more seconds, got {value!r}")


@attrs.frozen(kw_only=True)
class FaultSettings:
    """What to inject. ``failure_rate``: share of calls answered 503 without reaching the
    system; ``late_rate``: share answered after ``late_delay`` seconds (the work done
    first); ``latency``: seconds added to every answer; ``seed`` makes the draws repeatable.
    """

    failure_rate: float = attrs.field(default=0.0, validator=_rate("failure_rate"))
    late_rate: float = attrs.field(default=0.0, validator=_rate("late_rate"))
    late_delay: float = attrs.field(default=10.0, validator=_seconds)
    latency: float = attrs.field(default=0.0, validator=_seconds)
    seed: int = 0

    def __attrs_post_init__(self) -> None:
        if self.failure_rate + self.late_rate > 1:
            raise ValueError(
                f"failure_rate + late_rate must be at most 1, got {self.failure_rate} + "
                f"{self.late_rate}"
            )

    @property
    def active(self) -> bool:
        return bool(self.failure_rate or self.late_rate or self.latency)

    @classmethod
    def from_env(
        cls, prefix: str, environ: Mapping[str, str] | None = None, **defaults: Any
    ) -> FaultSettings:
        """Settings from ``{prefix}_FAILURE_RATE``, ``_LATE_RATE``, ``_LATE_DELAY``,
        ``_LATENCY`` and ``_SEED`` (unset ones keep ``defaults``, else off). A malformed
        value raises :class:`ValueError` naming the variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = dict(defaults)
        for field in attrs.fields(cls):
            name = f"{prefix}_{field.name.upper()}"
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                values[field.name] = int(raw) if field.name == "seed" else float(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
        try:
            return cls(**values)
        except ValueError as exc:
            raise ValueError(f"{prefix}_*: {exc}") from None


@attrs.frozen
class LegacyCall:
    """One request as the legacy system saw it (``fault``: "", "failed" or "late").

    ``received`` and ``answered`` are Unix times (``time.time()``); for a late answer,
    ``answered`` is when the system finished the work, ``sent`` when the answer left."""

    operation: str
    task_id: str | None
    case_id: str | None
    method: str
    path: str
    received: float
    answered: float
    sent: float
    status: int
    fault: str

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


class FaultInjector:
    """ASGI middleware: injects the faults of ``settings`` and records every call.

    ``classify`` names each request in the platform's terms (see :data:`Classify`); without
    it every call is recorded as ``other``. Paths starting with one of ``exempt`` (by default
    the simulator's own controls under ``/admin``) are passed through untouched and
    unrecorded; so is :data:`CALLS_PATH`, which serves the records.

    Wrap an app with ``FaultInjector(...).wrap(app)``; with Starlette, pass
    ``Middleware(injector.wrap)`` and keep ``injector`` (e.g. as ``app.state.faults``) to read
    :attr:`calls`.
    """

    def __init__(
        self,
        *,
        settings: FaultSettings | None = None,
        classify: Classify | None = None,
        exempt: tuple[str, ...] = ("/admin",),
    ) -> None:
        self.app: ASGIApp | None = None
        self.settings = settings or FaultSettings()
        self.classify = classify
        self.exempt = exempt
        self.calls: list[LegacyCall] = []
        self._random = random.Random(self.settings.seed)

    def wrap(self, app: ASGIApp) -> FaultInjector:
        """Put the injector in front of ``app``; returns the wrapped app (the injector)."""
        self.app = app
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            raise RuntimeError("FaultInjector.wrap(app) was not called: nothing to answer")
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        if path == CALLS_PATH:
            await _send_json(send, {"calls": [c.to_json() for c in self.calls]})
            return
        received = time.time()
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = str(scope.get("method", "GET"))
        operation, task_id, case_id = ("other", None, None)
        if self.classify is not None:
            operation, task_id, case_id = self.classify(method, path, headers, body)
        s = self.settings
        # Draw before anything else, so the faults follow the order of arrival.
        draw = self._random.random()
        fault = (
            "failed"
            if draw < s.failure_rate
            else "late"
            if draw < s.failure_rate + s.late_rate
            else ""
        )
        if s.latency:
            await asyncio.sleep(s.latency)
        if fault == "failed":
            status = 503
            await _send_raw(send, 503, b"text/html", _GATEWAY_503)
            answered = sent = time.time()
        else:
            messages: list[Message] = []

            async def capture(message: Message) -> None:
                messages.append(message)

            await self.app(scope, _replay(body), capture)
            answered = time.time()
            status = next((int(m["status"]) for m in messages if "status" in m), 500)
            if fault == "late":
                await asyncio.sleep(s.late_delay)
            try:
                for message in messages:
                    await send(message)
            except OSError:  # the caller gave up and went away; the work is done all the same
                pass
            sent = time.time()
        self.calls.append(
            LegacyCall(
                operation, task_id, case_id, method, path, received, answered, sent, status, fault
            )
        )


_SUFFIXES = {"issue": "issue_result", "cancel": "cancel_review", "decision": "decide"}


def rest_review_classifier(
    tasks_path: str,
    task_of: Callable[[str], tuple[str, str] | None],
    *,
    others: Mapping[str, str] | None = None,
) -> Classify:
    """The :data:`Classify` of a REST legacy system whose review tasks live at ``tasks_path``:
    ``POST tasks_path`` opens one (the platform task id in the ``Idempotency-Key`` header,
    the case in the JSON body's ``caseId``), ``GET tasks_path/{id}`` polls it and
    ``POST tasks_path/{id}/issue|cancel|decision`` issues, withdraws or decides it.
    ``task_of(legacy_id)`` gives ``(task_id, case_id)`` of a known legacy task. ``others``
    names other requests by path prefix (``{"/api/persons": "profile"}``)."""
    prefix = tasks_path.rstrip("/")

    def classify(
        method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[str, str | None, str | None]:
        if path.rstrip("/") == prefix and method == "POST":
            try:
                sent = json.loads(body)
                case_id = sent.get("caseId") if isinstance(sent, dict) else None
            except ValueError:
                case_id = None
            task_id = headers.get("idempotency-key") or None
            return "open_review", task_id, case_id if isinstance(case_id, str) else None
        if path.startswith(prefix + "/"):
            legacy, _, suffix = path[len(prefix) + 1 :].partition("/")
            operation = "poll_review" if not suffix else _SUFFIXES.get(suffix, "other")
            known = task_of(legacy)
            return (operation, *known) if known else (operation, None, None)
        for start, name in (others or {}).items():
            if path.startswith(start):
                return name, None, None
        return "other", None, None

    return classify


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # nothing more comes; wait like a quiet client
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _send_raw(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_json(send: Send, value: Any) -> None:
    body = json.dumps(value, ensure_ascii=False).encode()
    await _send_raw(send, 200, b"application/json", body)
