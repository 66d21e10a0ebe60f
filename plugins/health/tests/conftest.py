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
from govsvc_health.adapter import HealthAdapter, HealthConfig
from govsvc_health.client import DEPARTMENT_CREDIT_CODE, DEPARTMENT_NAME
from govsvc_health.plugin import AUTHORITATIVE_FOR, DIVISION, ITEMS
from govsvc_health.simulator import HealthLegacySystem, create_app
from starlette.types import ASGIApp, Receive, Scope, Send

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
def health_url() -> Iterator[str]:
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
def health_system() -> Iterator[tuple[str, HealthLegacySystem]]:
    """A simulator shared by a test module: its URL and its state (tasks, certificates)."""
    app = create_app()
    with running(app) as url:
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
            return stack.enter_context(running(logged)), logged

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


@pytest.fixture
def govsvc_contract_samples() -> dict[str, str]:
    """孙悦 (born with certificate Q230123456), and a valid citizen ID nobody in the records has."""
    return {"known_party": "230103202401050029", "unknown_party": "230103199001010015"}


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (the port was just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
