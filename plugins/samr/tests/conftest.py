"""Fixtures: the simulator served over loopback HTTP (govsvc.testing.serve_app)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from govsvc_samr.adapter import SamrAdapter, SamrConfig
from govsvc_samr.client import DEPARTMENT_CREDIT_CODE, DEPARTMENT_NAME, SamrClient
from govsvc_samr.plugin import AUTHORITATIVE_FOR, DIVISION, ITEMS
from govsvc_samr.simulator import SamrLegacySystem, create_app

from govsvc import Department, ReviewTicket, testing
from govsvc.testing import serve_app


@pytest.fixture(scope="module")
def samr_url() -> Iterator[str]:
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
def samr_system() -> Iterator[tuple[str, SamrLegacySystem]]:
    """A simulator shared by a test module: its URL and its state (tasks, licences)."""
    app = create_app()
    with serve_app(app) as url:
        yield url, app.state.system


@pytest.fixture(scope="module")
def health_system() -> Iterator[tuple[str, Any]]:
    """The health commission's simulator (govsvc-health), for joint reviews with 卫健."""
    simulator = pytest.importorskip("govsvc_health.simulator")
    app = simulator.create_app()
    with serve_app(app) as url:
        yield url, app.state.system


@pytest.fixture
def govsvc_contract_department(samr_system: tuple[str, SamrLegacySystem]) -> Department:
    """The bureau on the module's simulator, for the govsvc contract suite (a fresh adapter)."""
    config = SamrConfig(base_url=samr_system[0], timeout=2.0)
    return Department(
        code=DEPARTMENT_CREDIT_CODE,
        name=DEPARTMENT_NAME,
        division=DIVISION,
        adapter=SamrAdapter(config),
        items=ITEMS,
        authoritative_for=AUTHORITATIVE_FOR,
        timeout=config.timeout,
    )


@pytest.fixture
def govsvc_contract_samples() -> dict[str, str]:
    """A registered enterprise, and a valid credit code the bureau has never registered."""
    return {"known_party": "91230103MA1BX4K238", "unknown_party": "9123010000J8NW0EXK"}


@pytest.fixture
def govsvc_contract_approve(
    samr_system: tuple[str, SamrLegacySystem],
) -> Callable[[ReviewTicket], None]:
    """The bureau's reviewer approves a task in the back office (the simulator's control)."""

    def approve(ticket: ReviewTicket) -> None:
        async def go() -> None:
            async with SamrClient(samr_system[0], samr_system[1].api_key) as client:
                await client.decide_review(ticket.legacy_id, approve=True, reason="契约测试：准予")

        asyncio.run(go())

    return approve


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was just released)."""
    return testing.refused_url()
