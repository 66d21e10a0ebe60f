"""Fixtures: the simulator served by a real uvicorn on 127.0.0.1, in a background thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from govsvc_samr.adapter import SamrAdapter, SamrConfig
from govsvc_samr.client import DEPARTMENT_CREDIT_CODE, DEPARTMENT_NAME
from govsvc_samr.plugin import AUTHORITATIVE_FOR, DIVISION, ITEMS
from govsvc_samr.simulator import SamrLegacySystem, create_app
from starlette.types import ASGIApp

from govsvc import Department


@contextlib.contextmanager
def running(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1; yields the base URL."""
    # Port 0 lets uvicorn bind a free port itself. (A socket bound here and handed over
    # would lack IPPROTO_TCP, so asyncio would leave Nagle on: +40 ms per keep-alive request.)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the simulator's server stopped while starting")
            time.sleep(0.002)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def samr_url() -> Iterator[str]:
    """One simulator with default options, shared by a test module (tests use distinct keys)."""
    with running(create_app()) as url:
        yield url


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    """Start a simulator with the given ``create_app`` options; stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> str:
            return stack.enter_context(running(create_app(**options)))

        yield start


@pytest.fixture(scope="module")
def samr_system() -> Iterator[tuple[str, SamrLegacySystem]]:
    """A simulator shared by a test module: its URL and its state (tasks, licences)."""
    app = create_app()
    with running(app) as url:
        yield url, app.state.system


@pytest.fixture(scope="module")
def health_system() -> Iterator[tuple[str, Any]]:
    """The health commission's simulator (govsvc-health), for joint reviews with 卫健."""
    simulator = pytest.importorskip("govsvc_health.simulator")
    app = simulator.create_app()
    with running(app) as url:
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
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
