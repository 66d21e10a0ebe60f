"""The fault benchmark's quick mode holds the line: nothing lost, twice, stuck or unrecorded.

``bench/faults.py --quick`` runs 60 cases through the whole department pipeline on SQLite
against the reference simulators failing 30 % of calls and answering 5 % late, while the
worker is killed with SIGKILL 3 times and an applying process twice (see the benchmark's
docstring for what each count means). Also the fault injector itself: it fails and delays
what it says, repeatably, and keeps the legacy system's record of every call.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from govsvc.faultkit import FaultInjector, FaultSettings, rest_review_classifier

ROOT = Path(__file__).resolve().parents[1]
SIMULATORS = ("govsvc_samr", "govsvc_health", "govsvc_hrss")


@pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in SIMULATORS),
    reason="the benchmark needs the samr, health and hrss reference plugins installed",
)
def test_the_quick_fault_benchmark_counts_no_fault_on_sqlite() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSVC_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "faults.py"), "--db", "sqlite", "--quick"],
        capture_output=True,
        text=True,
        timeout=170,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    table = "\n".join(lines)
    counts = dict(line.split()[:2] for line in lines if len(line.split()) == 2)
    assert counts["done"] == "True", table  # everything reached its result in time
    assert int(counts["worker_kills"]) == 3, table
    assert int(counts["faults_injected"]) > 0, table
    for name in ("lost", "duplicated", "delivered_twice", "fetched_twice", "unfinished",
                 "no_result", "unlogged"):
        assert counts[name] == "0", f"{name}:\n{table}"
    assert lines[-1] == "faults=0", table


# --- the injector -------------------------------------------------------------------------


async def _echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _call(
    injector: FaultInjector, method: str, path: str, body: bytes = b"", key: str = ""
) -> int:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"idempotency-key", key.encode())] if key else []
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    asyncio.run(injector(scope, receive, send))
    return int(sent[0]["status"])


def _injector(**settings: Any) -> FaultInjector:
    known = {"L1": ("T1", "C1")}
    classify = rest_review_classifier("/api/tasks", known.get, others={"/health": "health"})
    return FaultInjector(settings=FaultSettings(**settings), classify=classify).wrap(_echo)


def test_the_injector_fails_a_share_of_calls_repeatably_and_records_each() -> None:
    def run() -> list[int]:
        injector = _injector(failure_rate=0.5, seed=3)
        return [_call(injector, "GET", "/api/tasks/L1") for _ in range(40)]

    first = run()
    assert first == run()  # the same seed, the same faults
    assert 10 <= first.count(503) <= 30 and set(first) == {201, 503}
    injector = _injector(failure_rate=0.5, seed=3)
    for _ in range(4):
        _call(injector, "GET", "/api/tasks/L1")
    assert {(c.operation, c.task_id, c.case_id) for c in injector.calls} == {
        ("poll_review", "T1", "C1")
    }
    assert [c.fault == "failed" for c in injector.calls] == [s == 503 for s in first[:4]]


def test_a_late_answer_comes_after_the_work_is_done() -> None:
    injector = _injector(late_rate=1.0, late_delay=0.2)
    status = _call(injector, "POST", "/api/tasks", b'{"caseId": "C9"}', key="T9")
    [call] = injector.calls
    assert status == 201
    assert (call.operation, call.task_id, call.case_id, call.fault) == (
        "open_review", "T9", "C9", "late"
    )
    assert call.sent - call.answered >= 0.2


def test_no_settings_inject_nothing_and_the_controls_are_not_recorded() -> None:
    injector = _injector()
    assert [_call(injector, "GET", "/health") for _ in range(20)] == [201] * 20
    _call(injector, "POST", "/admin/decide")
    assert {c.operation for c in injector.calls} == {"health"}
    assert not any(c.fault for c in injector.calls)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"failure_rate": 1.5}, "failure_rate must be between 0 and 1"),
        ({"late_delay": -1}, "late_delay must be 0 or more seconds"),
        ({"failure_rate": 0.7, "late_rate": 0.4}, "at most 1"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultSettings(**settings)


def test_settings_from_the_environment_name_a_bad_variable() -> None:
    env = {"SIM_FAILURE_RATE": "0.3", "SIM_SEED": "7", "SIM_LATE_RATE": ""}
    assert FaultSettings.from_env("SIM", env) == FaultSettings(failure_rate=0.3, seed=7)
    with pytest.raises(ValueError, match="SIM_LATE_DELAY must be a number"):
        FaultSettings.from_env("SIM", {"SIM_LATE_DELAY": "soon"})
    assert not FaultSettings.from_env("SIM", {}).active


# --- found by the benchmark ---------------------------------------------------------------


@pytest.mark.postgres
def test_two_schemas_do_not_queue_on_each_others_exchange_log(
    postgres_url: str, pg_schema: str, _drop_test_schemas: list[str]
) -> None:
    """Found by bench/faults.py on a PostgreSQL server other platforms used too: the
    exchange log's advisory lock had one key per server, so every platform on it — one per
    schema, e.g. a city each, or the test suite's — queued on every other's appends. The key
    is now the table's and the schema's."""
    import threading

    import sqlalchemy as sa

    import govsvc
    from govsvc.exchange import ExchangeRecord
    from govsvc.store import exchange as exchange_store
    from govsvc.testing import FakeClock

    other = f"{pg_schema}_b"
    _drop_test_schemas.append(other)
    one = govsvc.Platform.open(postgres_url, schema=pg_schema, load_entry_points=False)
    two = govsvc.Platform.open(postgres_url, schema=other, load_entry_points=False)
    now = FakeClock()()

    def record() -> ExchangeRecord:
        return ExchangeRecord(
            at=now, requester="platform", department="11230100003109212K",
            operation="health", on_behalf_of="platform", case_id=None, purpose="健康检查",
            outcome="ok", detail="", duration_ms=1.0,
        )

    done = threading.Event()
    try:
        with one.engine.begin() as holding:  # schema one's appender holds its lock
            exchange_store.append(holding, [record()])

            def append_in_two() -> None:
                with two.engine.begin() as conn:
                    conn.execute(sa.text("SET LOCAL lock_timeout = '3s'"))
                    exchange_store.append(conn, [record()])
                done.set()

            thread = threading.Thread(target=append_in_two)
            thread.start()
            thread.join(timeout=10)
        assert done.is_set(), "an append in one schema waited for another schema's"
    finally:
        one.close()
        two.close()
