"""Fixtures: the simulator served over loopback HTTP (govsvc.testing.serve_app)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from govsvc_health.adapter import BIRTH_CERTIFICATE_ITEM, HealthAdapter, HealthConfig
from govsvc_health.client import DEPARTMENT_CREDIT_CODE, DEPARTMENT_NAME, HealthClient
from govsvc_health.plugin import AUTHORITATIVE_FOR, DIVISION, ITEMS
from govsvc_health.simulator import HealthLegacySystem, create_app
from starlette.types import ASGIApp, Receive, Scope, Send

from govsvc import Department, ReviewTicket, testing
from govsvc.testing import serve_app


@pytest.fixture(scope="module")
def health_url() -> Iterator[str]:
    """One simulator with default options, shared by a test module (tests use distinct keys)."""
    with serve_app(create_app()) as url:
        yield url


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start a simulator with the given ``create_app`` options; stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> str:
            return stack.enter_context(serve_app(create_app(**options)))

        yield start


@pytest.fixture(scope="module")
def health_system() -> Iterator[tuple[str, HealthLegacySystem]]:
    """A simulator shared by a test module: its URL and its state (tasks, certificates)."""
    app = create_app()
    with serve_app(app) as url:
        yield url, app.state.system


class RequestLog:
    """ASGI middleware that notes the path of every HTTP request reaching the simulator."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture
def serve_logged() -> Iterator[Callable[..., tuple[str, RequestLog]]]:
    """Like ``serve``, but also returns the log of the requests the simulator received."""
    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> tuple[str, RequestLog]:
            logged = RequestLog(create_app(**options))
            return stack.enter_context(serve_app(logged)), logged

        yield start


@pytest.fixture
def govsvc_contract_department(health_system: tuple[str, HealthLegacySystem]) -> Department:
    """The commission on the module's simulator, for the govsvc contract suite."""
    config = HealthConfig(base_url=health_system[0])
    return Department(
        code=DEPARTMENT_CREDIT_CODE,
        name=DEPARTMENT_NAME,
        division=DIVISION,
        adapter=HealthAdapter(config),
        items=ITEMS,
        authoritative_for=AUTHORITATIVE_FOR,
        timeout=config.timeout,
    )


CONTRACT_BIRTH_FORM: dict[str, Any] = {
    "newbornName": "契约测",
    "newbornSex": "女",
    "birthTime": "2026-02-26 10:15",
    "birthPlace": "黑龙江省哈尔滨市南岗区",
    "hospital": "哈尔滨医科大学附属第一医院",
    "motherName": "李娜",
    "motherIdCard": "230104199208090266",
}
"""The form of the contract suite's review cases: a birth the commission can certify."""


@pytest.fixture
def govsvc_contract_samples() -> dict[str, Any]:
    """孙悦 (born with certificate Q230123456), a valid citizen ID nobody in the records has,
    and the birth certificate item with its form: the commission issues a result only for
    that item (any other item's review asks for its opinion)."""
    return {
        "known_party": "230103202401050029",
        "unknown_party": "230103199001010015",
        "item": BIRTH_CERTIFICATE_ITEM,
        "form": CONTRACT_BIRTH_FORM,
    }


@pytest.fixture
def govsvc_contract_approve(
    health_system: tuple[str, HealthLegacySystem],
) -> Callable[[ReviewTicket], None]:
    """The commission's auditor approves a task in the back office (the simulator's control)."""

    def approve(ticket: ReviewTicket) -> None:
        async def go() -> None:
            async with HealthClient(health_system[0]) as client:
                await client.decide_review(ticket.legacy_id, approve=True, reason="契约测试：同意")

        asyncio.run(go())

    return approve


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was just released)."""
    return testing.refused_url()
