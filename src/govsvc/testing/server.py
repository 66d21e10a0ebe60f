"""Serve a legacy-system simulator over real loopback HTTP in a test.

An adapter's integration tests should go through real sockets (the platform's timeouts,
retries and connection pools only show there), but never leave 127.0.0.1. :func:`serve_app`
runs any ASGI application (a Starlette simulator, with or without middleware) under uvicorn in
a background thread::

    from govsvc.testing import serve_app

    with serve_app(create_app(failure_rate=0.5)) as base_url:
        adapter = SamrAdapter(SamrConfig(base_url=base_url))
        ...

uvicorn is a development dependency of govsvc (``pip install govsvc[dev]``); it is imported
only when a server is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["refused_url", "serve_app"]


@contextlib.contextmanager
def serve_app(app: Callable[..., Any], *, startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve the ASGI ``app`` on a free port of 127.0.0.1; yields its base URL.

    The server runs in a daemon thread. When the block ends the server stops listening at
    once (the port refuses connections from then on) and finishes its shutdown in the
    background. Lifespan events are off, so the app's state is what the test built.

    Raises :class:`RuntimeError` when the server does not start within ``startup_timeout``
    seconds, and :class:`ModuleNotFoundError` when uvicorn is not installed.
    """
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "govsvc.testing.serve_app needs uvicorn, a development dependency: "
            "pip install 'govsvc[dev]' (or pip install uvicorn)",
            name="uvicorn",
        ) from exc
    # Port 0 lets uvicorn bind a free port itself, through asyncio, which sets TCP_NODELAY on
    # every connection. (A socket bound here and handed over would lack IPPROTO_TCP, so Nagle's
    # algorithm would stay on: some 40 ms more per small keep-alive request.)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = _prompt_server(uvicorn.Server)(config)
    thread = threading.Thread(target=server.run, name="govsvc-serve-app", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server stopped while starting; see the log above")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start within {startup_timeout:g} s")
            time.sleep(0.002)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        # Wait until nothing listens any more; the thread finishes uvicorn's shutdown alone.
        if thread.is_alive():
            server.closed.wait(timeout=5)


@functools.cache
def _prompt_server(base: type[Any]) -> Any:
    """uvicorn's ``Server`` class, made to stop listening as soon as it is told to.

    uvicorn looks at ``should_exit`` on a tick of a tenth of a second and then lingers another
    tenth in ``shutdown``; a suite that starts a simulator per test would spend most of its
    time waiting. This subclass runs the same loop (``on_tick`` every 0.1 s), but :meth:`stop`
    wakes it at once, and ``closed`` is set as soon as the listening sockets are closed. The
    rest of uvicorn's shutdown (closing kept-alive connections) goes on in the background.
    """

    class PromptServer(base):  # type: ignore[misc]
        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.closed = threading.Event()
            self._loop: asyncio.AbstractEventLoop | None = None
            self._wake: asyncio.Event | None = None

        async def main_loop(self) -> None:
            self._wake = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            try:
                counter = 0
                while not await self.on_tick(counter):
                    counter = (counter + 1) % 864000
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.1)
            finally:
                for server in self.servers:
                    server.close()  # shutdown() closes them again, which is harmless
                self.closed.set()

        def stop(self) -> None:
            self.should_exit = True
            loop, wake = self._loop, self._wake
            if loop is not None and wake is not None:
                # A loop that has already finished needs no waking.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(wake.set)

    return PromptServer


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port the system just gave back).

    For testing that a refused connection becomes ``AdapterUnavailable``.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
