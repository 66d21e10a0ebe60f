"""Fixtures: a provider and a tiny relying-party app, each on its own loopback port.

Everything runs over real sockets on 127.0.0.1 (the browser is an httpx client that follows
redirects and posts the login form), so cookies, redirects and the token exchange are the
real ones. Helpers live here as fixtures because test modules are imported by path.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import re
import secrets
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest
from fastapi import FastAPI, Request
from govsvc_host.auth import RelyingParty, current_principal, login_router
from govsvc_host.idp import Client, OpenIDProvider, create_idp, hash_secret, serve_idp
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import JSONResponse

from govsvc.testing import FakeClock, serve_app

RP_SECRET = "rp-test-secret"
WEB_CLIENT = "test-host"
PUBLIC_CLIENT = "test-public"
CALLBACK = "http://127.0.0.1:9/cb"  # protocol tests never follow the redirect to it
# Hashed once: scrypt is deliberately slow, and every provider and site registers a client.
RP_SECRET_HASH = hash_secret(RP_SECRET)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def login_form(page: httpx.Response) -> tuple[str, str]:
    """(action URL, csrf token) of the provider's login page."""
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert action and csrf, "the response is not the login page"
    return html.unescape(action.group(1)), csrf.group(1)


def is_login_page(response: httpx.Response) -> bool:
    return response.status_code == 200 and 'name="csrf"' in response.text


@pytest.fixture
def clock() -> FakeClock:
    """A clock at the real present, moved by hand (tokens must be fresh for both sides)."""
    return FakeClock(moment=dt.datetime.now(dt.UTC).replace(microsecond=0))


def _test_clients() -> tuple[Client, ...]:
    return (
        Client(
            client_id=WEB_CLIENT,
            name="测试网站",
            secret_hash=RP_SECRET_HASH,
            grant_types=("authorization_code", "refresh_token"),
            scopes=("openid", "profile", "phone", "govsvc"),
            redirect_uris=(CALLBACK,),
            post_logout_redirect_uris=("http://127.0.0.1:9/",),
        ),
        Client(
            client_id=PUBLIC_CLIENT,
            name="测试移动网页",
            grant_types=("authorization_code",),
            scopes=("openid", "profile", "govsvc"),
            redirect_uris=(CALLBACK,),
        ),
    )


@pytest.fixture
def make_idp() -> Iterator[Any]:
    """make_idp(**create_idp options) → a served provider; all stopped after the test."""
    stops = []

    def make(**options: Any) -> OpenIDProvider:
        provider = create_idp(clients=_test_clients(), **options)
        _, stop = serve_idp(provider=provider)
        stops.append(stop)
        return provider

    yield make
    for stop in stops:
        stop()


@pytest.fixture
def idp(make_idp: Any) -> OpenIDProvider:
    provider: OpenIDProvider = make_idp()
    return provider


@attrs.define
class Browser:
    """Drives the provider's endpoints directly, as the protocol tests need."""

    idp: OpenIDProvider
    http: httpx.Client

    pkce = staticmethod(pkce)
    login_form = staticmethod(login_form)
    is_login_page = staticmethod(is_login_page)

    def authorize(self, **params: str) -> httpx.Response:
        query = {
            "response_type": "code",
            "client_id": WEB_CLIENT,
            "redirect_uri": CALLBACK,
            "scope": "openid profile govsvc",
            "state": "s-1",
            "nonce": secrets.token_urlsafe(8),  # a reused nonce is refused as a replay
        }
        query.update(params)
        return self.http.get(f"{self.idp.issuer}/authorize", params=query)

    def pick(self, page: httpx.Response, username: str) -> httpx.Response:
        action, csrf = login_form(page)
        return self.http.post(f"{self.idp.issuer}{action}", data={"csrf": csrf, "pick": username})

    def code_for(self, username: str, **params: str) -> tuple[str, str]:
        """Log ``username`` in; (code, PKCE verifier)."""
        verifier, challenge = pkce()
        page = self.authorize(code_challenge=challenge, code_challenge_method="S256", **params)
        if is_login_page(page):
            page = self.pick(page, username)
        assert page.status_code == 302, page.text
        location = httpx.URL(page.headers["location"])
        assert "code" in location.params, location
        return location.params["code"], verifier

    def token(self, auth: tuple[str, str] | None = (WEB_CLIENT, RP_SECRET),
              **form: str) -> httpx.Response:
        return self.http.post(f"{self.idp.issuer}/token", data=form, auth=auth)

    def redeem(self, code: str, verifier: str, **extra: str) -> httpx.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
                "code_verifier": verifier, **extra}
        return self.token(**form)

    def userinfo(self, access_token: str) -> httpx.Response:
        return self.http.get(f"{self.idp.issuer}/userinfo",
                             headers={"Authorization": f"Bearer {access_token}"})


@pytest.fixture
def make_browser() -> Iterator[Any]:
    """make_browser(provider) → a Browser with its own cookie jar."""
    clients: list[httpx.Client] = []

    def make(provider: OpenIDProvider) -> Browser:
        clients.append(httpx.Client(timeout=10))
        return Browser(provider, clients[-1])

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def browser(idp: OpenIDProvider, make_browser: Any) -> Browser:
    made: Browser = make_browser(idp)
    return made


@attrs.define
class RpSite:
    """The tiny relying-party site: ``/me`` shows who the session's principal is."""

    base: str
    rp: RelyingParty
    idp: OpenIDProvider

    def login(self, http: httpx.Client, username: str, next: str = "/me") -> httpx.Response:
        page = http.get(f"{self.base}/login", params={"next": next}, follow_redirects=True)
        if not is_login_page(page):
            return page  # already logged in at the provider (single sign-on)
        action, csrf = login_form(page)
        return http.post(
            f"{self.idp.issuer}{action}", data={"csrf": csrf, "pick": username},
            follow_redirects=True,
        )


def build_rp_app(rp: RelyingParty) -> FastAPI:
    app = FastAPI()
    app.include_router(login_router(rp))

    @app.get("/me")
    async def me(request: Request) -> JSONResponse:
        principal = current_principal(request, rp)
        if principal is None:
            return JSONResponse({"logged_in": False}, status_code=401)
        auth = principal.auth
        assert auth is not None
        return JSONResponse(
            {
                "kind": principal.kind.value,
                "id": principal.id,
                "name": principal.name,
                "party": str(principal.party) if principal.party else None,
                "acting_for": str(principal.acting_for) if principal.acting_for else None,
                "agency": principal.agency,
                "serves": list(principal.serves),
                "hall": principal.hall,
                "division": principal.division,
                "provider": auth.provider,
                "assurance": auth.assurance.name,
                "subject": auth.subject,
                "at": auth.at.isoformat() if auth.at else None,
            }
        )

    app.add_middleware(SessionMiddleware, secret_key="test-" + secrets.token_hex(8))
    return app


@pytest.fixture
def make_site(idp: OpenIDProvider) -> Iterator[Any]:
    """make_site(**RelyingParty options) → an RpSite on its own port, registered at idp."""
    stack: list[Any] = []

    def make(provider: OpenIDProvider = idp, **options: Any) -> RpSite:
        options.setdefault("client_id", f"site-{len(stack)}")
        secret = options.pop("client_secret", RP_SECRET)
        rp = RelyingParty(issuer=provider.issuer, client_secret=secret, name="test-idp",
                          **options)
        server = serve_app(build_rp_app(rp))
        base = server.__enter__()
        stack.append(server)
        provider.register_client(
            Client(
                client_id=rp.client_id,
                name="测试站点",
                secret_hash=(RP_SECRET_HASH if secret == RP_SECRET else hash_secret(secret))
                if secret else None,
                grant_types=("authorization_code", "refresh_token"),
                scopes=("openid", "profile", "phone", "govsvc"),
                redirect_uris=(f"{base}/auth/callback",),
                post_logout_redirect_uris=(f"{base}/logout/callback",),
            )
        )
        return RpSite(base, rp, provider)

    yield make
    for server in reversed(stack):
        server.__exit__(None, None, None)


@pytest.fixture
def site(make_site: Any) -> RpSite:
    made: RpSite = make_site()
    return made


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client
