"""Fixtures: the simulator served over loopback HTTP (govsvc.testing.serve_app)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from govsvc_hrss.simulator import create_app
from starlette.applications import Starlette

from govsvc.testing import serve_app as serve


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
