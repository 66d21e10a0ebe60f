"""Serving ASGI apps on loopback from a background thread (demo simulators, the provider)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["UVICORN_OPTIONS", "serve_in_thread"]

# How the host is served. httptools (C) parses HTTP instead of h11 (pure Python): +20-40 %
# look-ups a second. The event loop is asyncio's, pinned: with uvloop the look-ups' p99 at
# 50 connections was 190-360 ms against 38 ms with asyncio (bench/host_http.py, both with
# httptools, the same run), so "auto" picking uvloop where it happens to be installed is
# not wanted.
UVICORN_OPTIONS: dict[str, Any] = {"http": "httptools", "loop": "asyncio"}


@contextlib.contextmanager
def serve_in_thread(app: Any, port: int = 0, *, name: str = "server",
                    startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:``port`` (0: a free one); yields the base URL."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", **UVICORN_OPTIONS)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(
                    f"{name} could not start on 127.0.0.1:{port} (is the port in use?)"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start within {startup_timeout:g} s")
            time.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
