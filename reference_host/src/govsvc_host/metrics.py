"""Prometheus metrics (``GET /metrics``): requests, latencies, queues, outbox age, departments.

Request counters and latency histograms are counted by a middleware, labelled by the route's
*template* (``/cases/{ref}``, never the tracking code: label values must stay few). Queue
depths, the age of the oldest outbox message and the departments' failures are read when
Prometheus scrapes, through the SDK's own services as the platform principal, so they are the
same numbers in every host process.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from govsvc import Platform

__all__ = ["Metrics", "MetricsMiddleware"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _PlatformCollector(Collector):
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def collect(self) -> Iterator[GaugeMetricFamily]:
        system = self.platform.system()
        depth = GaugeMetricFamily(
            "govsvc_outbox_pending", "Outbox messages waiting for delivery", labels=["topic"]
        )
        age = GaugeMetricFamily(
            "govsvc_outbox_oldest_age_seconds", "Age of the oldest undelivered outbox message"
        )
        pending = system.outbox.pending(limit=5000)
        by_topic = Counter(m.topic for m in pending)
        for topic in ("review.open", "review.cancel", "applicant.notify", "commitment.verify"):
            depth.add_metric([topic], by_topic.get(topic, 0))
        oldest = min((m.created_at for m in pending), default=None)
        age.add_metric([], (self.platform.now() - oldest).total_seconds() if oldest else 0.0)
        yield depth
        yield age
        failures = GaugeMetricFamily(
            "govsvc_department_recent_failures",
            "Failed calls among the last 500 exchanges with each department",
            labels=["department"],
        )
        circuit = GaugeMetricFamily(
            "govsvc_department_circuit_open",
            "1 while this process's circuit to the department is open",
            labels=["department"],
        )
        recent = system.departments.exchange_log(limit=500)
        failed = Counter(r.department for r in recent if r.outcome != "ok")
        for code in self.platform.departments:
            failures.add_metric([code], failed.get(code, 0))
            state = self.platform.caller.circuits.get(code)
            circuit.add_metric([code], 1.0 if state is not None and state.state == "open" else 0.0)
        yield failures
        yield circuit


class Metrics:
    def __init__(self, platform: Platform) -> None:
        self.registry = CollectorRegistry()
        self.requests = PromCounter(
            "govsvc_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "govsvc_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.registry.register(_PlatformCollector(platform))

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE)


class MetricsMiddleware:
    """Counts requests and latencies: a pure ASGI middleware (no per-request task or stream)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The router leaves the matched route in the scope: label by its template.
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - start)
