"""Fixtures: the simulator served by a real uvicorn on 127.0.0.1, on a free port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from govsvc_hrss.simulator import create_app
from starlette.applications import Starlette

_stopping: list[tuple[threading.Thread, socket.socket]] = []


@pytest.fixture(scope="session", autouse=True)
def _join_stopped_servers() -> Iterator[None]:
    # uvicorn notices should_exit on its 0.1 s tick; waiting for each server in turn would
    # double the suite's time, so servers wind down in the background and are joined here.
    yield
    for thread, sock in _stopping:
        thread.join(10)
        sock.close()


@contextlib.contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve ``app`` in a background thread; yields its base URL and stops it afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this; without it every small answer waits ~40 ms for
    # Nagle's algorithm and the peer's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        _stopping.append((thread, sock))


@pytest.fixture
def simulator() -> Iterator[Callable[..., tuple[str, Starlette]]]:
    """Start simulators with given ``create_app`` options: ``base_url, app = simulator(...)``."""
    with contextlib.ExitStack() as stack:

        def start(**options: Any) -> tuple[str, Starlette]:
            app = create_app(**options)
            return stack.enter_context(serve(app)), app

        yield start


@pytest.fixture
def serve_app() -> Iterator[Callable[[Starlette], str]]:
    """Serve any ASGI app, e.g. another department's simulator: ``base_url = serve_app(app)``."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(serve(app))
