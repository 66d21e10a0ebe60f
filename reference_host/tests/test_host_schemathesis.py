"""schemathesis against /openapi.json: no 5xx and no response outside the schema, every operation.

Generated requests run in process against the ASGI app, once as a clerk (a bearer API
token would reach few operations; the browser session with its CSRF header reaches all of
them) and once as a department system's token, on a database with cases in it.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
SYSTEM_TOKEN = "gst_samr-system-test-token-0000000000000000"
CSRF = "csrf-token-for-tests-0001"


@pytest.fixture
def api(host: Any) -> Any:
    host.food_case()
    host.shop_case()
    return host


@pytest.mark.parametrize("who", ["clerk", "department"])
def test_every_operation_keeps_to_the_schema(api: Any, who: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    operations = list(schema.get_all_operations())
    assert len(operations) >= 14  # every operation of /api/v1, /healthz and /metrics
    if who == "clerk":
        client = api.client("wangfang")
        headers = {"X-CSRF-Token": CSRF, "Cookie": f"govsvc_host={client.cookies['govsvc_host']}"}
    else:
        headers = {"Authorization": f"Bearer {SYSTEM_TOKEN}"}
    api.app.state.host.limiter.reset()
    failures: list[str] = []
    for result in operations:
        operation = result.ok()

        @settings(max_examples=12, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect, so one run names every broken operation
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
        api.app.state.host.limiter.reset()
    assert not failures, "\n\n".join(failures)
