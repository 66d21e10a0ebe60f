"""A small OpenID Connect provider (统一身份认证) for the demo and the tests.

It stands in for a province's unified identity platform: the reference host logs citizens,
business users and staff in through it exactly as it would through the real one (OIDC
authorization code flow with PKCE), and department systems and channel apps get tokens from
it with ``client_credentials``. It is built on authlib's server side::

    from govsvc_host.idp import create_idp, serve_idp

    url, stop = serve_idp()                 # a fresh key, the packaged demo users
    ...                                     # point the relying party at url
    stop()

Endpoints: ``/.well-known/openid-configuration``, ``/jwks.json``, ``/authorize`` (a login
page in Chinese), ``/token``, ``/userinfo`` and ``/logout`` (RP-initiated logout). The claims
it issues are the contract in :mod:`govsvc_host.claims`; the users and clients are data
(:func:`load_directory`). Everything is kept in memory: a restart logs everybody out.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from govsvc_host.idp._app import SESSION_COOKIE, build_app
from govsvc_host.idp._directory import (
    Client,
    DemoUser,
    Directory,
    DirectoryError,
    hash_secret,
    load_directory,
    parse_directory,
    verify_secret,
)
from govsvc_host.idp._keys import SigningKey
from govsvc_host.idp._server import Clock, Lifetimes, ProviderCore, utcnow

__all__ = [
    "SESSION_COOKIE",
    "Client",
    "Clock",
    "DemoUser",
    "Directory",
    "DirectoryError",
    "Lifetimes",
    "OpenIDProvider",
    "SigningKey",
    "create_idp",
    "hash_secret",
    "load_directory",
    "parse_directory",
    "serve_idp",
    "verify_secret",
]


class OpenIDProvider:
    """The provider: an ASGI application plus the handles a test or the demo needs.

    Build it with :func:`create_idp`. It is itself the ASGI app (serve it with uvicorn, or
    with :func:`serve_idp`).
    """

    def __init__(self, core: ProviderCore, *, allow_pick: bool, name: str) -> None:
        self._core = core
        self.name = name
        self.app = build_app(core, allow_pick=allow_pick, name=name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    @property
    def issuer(self) -> str:
        """The issuer URL (``iss``), empty until bound."""
        return self._core.issuer

    def bind_issuer(self, url: str) -> None:
        """Set the issuer URL once the listening port is known (before any request)."""
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise DirectoryError(f"issuer {url!r} must be an http(s) URL")
        if self._core.issuer and self._core.issuer != url:
            raise DirectoryError(
                f"the provider is already bound to {self._core.issuer}; tokens it issued "
                "name that issuer, so make a new provider for another URL"
            )
        self._core.issuer = url

    @property
    def directory(self) -> Directory:
        return self._core.directory

    @property
    def key(self) -> SigningKey:
        return self._core.key

    @property
    def api_audience(self) -> str:
        """The ``aud`` of machine (client_credentials) tokens: the host's API."""
        return self._core.api_audience

    def register_client(self, client: Client) -> None:
        """Add a client (e.g. the host's web client once its callback URL is known)."""
        self._core.directory = self._core.directory.with_clients(client)

    @property
    def clock(self) -> Clock:
        return self._core.clock


def create_idp(
    *,
    issuer: str = "",
    directory: Directory | None = None,
    clients: tuple[Client, ...] = (),
    key: SigningKey | None = None,
    key_pem: str | Path | None = None,
    alg: str = "RS256",
    clock: Clock = utcnow,
    lifetimes: Lifetimes | None = None,
    allow_pick: bool = True,
    api_audience: str = "govsvc-api",
    name: str = "govsvc 演示身份认证",
) -> OpenIDProvider:
    """Build a provider.

    ``directory`` defaults to the packaged demo users and clients; ``clients`` are added to
    it. The signing key is ``key``, else read from ``key_pem``, else generated (``alg``
    ``RS256`` or ``ES256``). ``allow_pick`` shows the demo users as one-click logins; turn it
    off anywhere people other than developers can reach the page. ``issuer`` may be left
    empty and bound later (:meth:`OpenIDProvider.bind_issuer`).
    """
    if key is None:
        key = SigningKey.from_pem(key_pem) if key_pem is not None else SigningKey.generate(alg)
    found = (directory or load_directory()).with_clients(*clients)
    core = ProviderCore(
        directory=found,
        key=key,
        clock=clock,
        lifetimes=lifetimes or Lifetimes(),
        api_audience=api_audience,
    )
    provider = OpenIDProvider(core, allow_pick=allow_pick, name=name)
    if issuer:
        provider.bind_issuer(issuer)
    return provider


def serve_idp(
    port: int = 0,
    issuer_host: str = "127.0.0.1",
    *,
    provider: OpenIDProvider | None = None,
    **options: Any,
) -> tuple[str, Callable[[], None]]:
    """Serve a provider on 127.0.0.1 in a background thread; returns ``(issuer URL, stop)``.

    ``port=0`` takes a free port (tests); give a fixed one for the demo, so the host's
    configuration can name the issuer. ``issuer_host`` is the host name in the issuer URL:
    ``localhost`` keeps the provider's cookies apart from a relying party served on
    ``127.0.0.1`` (browsers share cookies across ports of one host). Pass an existing
    ``provider`` (not yet bound to an issuer), or ``options`` for :func:`create_idp`.
    ``stop()`` stops listening at once; calling it twice is harmless.
    """
    # Imported here: govsvc.testing pulls in pytest, which a host serving the demo lacks.
    from govsvc.testing import serve_app

    provider = provider or create_idp(**options)
    stack = contextlib.ExitStack()
    if port == 0:
        base = stack.enter_context(serve_app(provider))
    else:
        base = stack.enter_context(_serve_on_port(provider, port))
    bound_port = base.rsplit(":", 1)[1]
    url = f"http://{issuer_host}:{bound_port}"
    try:
        provider.bind_issuer(url)
    except BaseException:
        stack.close()
        raise
    return url, stack.close


@contextlib.contextmanager
def _serve_on_port(app: Any, port: int, *, startup_timeout: float = 10.0) -> Iterator[str]:
    # govsvc.testing.serve_app always binds a free port; the demo needs a known one. This is
    # the same idea without its quick-stop tuning (a demo stops once, not per test).
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="govsvc-idp", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(
                    f"the identity provider could not start on 127.0.0.1:{port} "
                    "(is the port in use?); see the log above"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the identity provider did not start within "
                                   f"{startup_timeout:g} s")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
