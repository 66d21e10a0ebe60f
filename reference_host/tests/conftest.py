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


# --- the host application ----------------------------------------------------------------------
#
# Route tests drive the ASGI app in process (starlette's TestClient). A logged-in browser is a
# session cookie signed with the app's secret holding what the login router stores after a
# real login (the demo directory's claims for that user); the real authorization-code flow
# with PKCE is exercised end to end in test_host_login.py.

import base64 as _base64  # noqa: E402
import json as _json  # noqa: E402
import os as _os  # noqa: E402

import itsdangerous  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from govsvc_host import courier  # noqa: E402
from govsvc_host.app import create_app  # noqa: E402
from govsvc_host.auth import SESSION_KEY, principal_from_claims  # noqa: E402
from govsvc_host.context import SEEN_KEY  # noqa: E402
from govsvc_host.idp import load_directory  # noqa: E402
from govsvc_host.settings import ApiToken, IdentitySettings, Settings, UploadSettings  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

import govsvc  # noqa: E402

HOST_SECRET = "host-test-secret-0123456789"
CSRF_KEY = "govsvc_host.csrf"
DIRECTORY = load_directory()
CHANNEL_TOKEN = "gst_channel-test-token-000000000000000000000"
SYSTEM_TOKEN = "gst_samr-system-test-token-0000000000000000"
PG_URL = _os.environ.get("GOVSVC_TEST_POSTGRES_URL",
                         "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def user_claims(username: str) -> dict[str, Any]:
    user = DIRECTORY.user(username)
    assert user is not None, username
    return {**user.claims_for("openid profile phone govsvc"), "acr": user.acr}


def sign_session(data: dict[str, Any]) -> str:
    signer = itsdangerous.TimestampSigner(HOST_SECRET)
    return signer.sign(_base64.b64encode(_json.dumps(data).encode())).decode()


def read_session(cookie: str) -> dict[str, Any]:
    signer = itsdangerous.TimestampSigner(HOST_SECRET)
    data: dict[str, Any] = _json.loads(_base64.b64decode(signer.unsign(cookie)))
    return data


@attrs.define
class Seconds:
    """The host's clock for login idle time, moved by hand."""

    now: float

    def __call__(self) -> float:
        return self.now


@attrs.define
class HostKit:
    platform: govsvc.Platform
    settings: Settings
    app: FastAPI
    seconds: Seconds
    clients: list[TestClient]

    def principal(self, username: str) -> govsvc.Principal:
        return principal_from_claims(user_claims(username), provider="hrb-idp")

    def session(self, username: str) -> govsvc.Session:
        return self.app.state.host.session(self.principal(username))

    def client(self, username: str | None = None, *, csrf: str = "csrf-token-for-tests-0001"
               ) -> TestClient:
        client = TestClient(self.app, base_url="http://127.0.0.1:8000", follow_redirects=False)
        self.clients.append(client)
        data: dict[str, Any] = {CSRF_KEY: csrf}
        if username is not None:
            data[SESSION_KEY] = {"claims": user_claims(username), "id_token": "",
                                 "provider": "hrb-idp"}
            data[SEEN_KEY] = self.seconds.now
        client.cookies.set("govsvc_host", sign_session(data), domain="127.0.0.1")
        return client

    def denied(self, principal: govsvc.Principal) -> int:
        log = self.platform.system().supervision.access_log(
            outcome="denied", principal_id=principal.id, limit=1000
        )
        return len(log)

    # cases to work on ----------------------------------------------------------------------

    def food_case(self, *, accept: bool = True) -> govsvc.Case:
        """食品经营许可 for 冰城饺子馆 (SAMR implements; SAMR and HEALTH review)."""
        clerk = self.session("wangfang")
        code = FOOD
        org = govsvc.Organisation(key=govsvc.PartyKey.of("91230103MA1BX4K238"),
                                  name="哈尔滨市冰城饺子馆有限公司", legal_representative="张伟")
        agent = govsvc.Person(key=govsvc.PartyKey.of("230103198503120316"), name="张伟")
        case = clerk.cases.apply(code, org, materials=all_materials(self.platform, code),
                                 agent=agent, form={"经营场所": "南岗区学府路52号"})
        return clerk.cases.accept(case) if accept else case

    def finish(self, case: govsvc.Case) -> govsvc.Case:
        """A food case's reviews approved (SAMR by 李明, HEALTH by 赵敏), the licence issued and
        handed over at the window by 王芳 (办结)."""
        reviewers = {"11230100013114525L": "liming", "11230100MB1935270B": "zhaomin"}
        while case.state is govsvc.CaseState.IN_REVIEW:
            task = case.open_tasks[0]
            case = self.session(reviewers[task.department]).reviews.decide(
                case, task.id, approve=True)
        clerk = self.session("wangfang")
        case = clerk.cases.issue_result(
            case, govsvc.CaseResult(name="食品经营许可证", number="JY12301030000001"))
        return clerk.cases.complete(case, delivery="窗口领取")

    def shop_case(self) -> govsvc.Case:
        """个体工商户设立登记 by 张伟 himself (道里区 implements), submitted online."""
        zhang = self.session("zhangwei")
        person = govsvc.Person(key=govsvc.PartyKey.of("230103198503120316"), name="张伟")
        return zhang.cases.apply(SHOP, person, materials=all_materials(self.platform, SHOP))


FOOD = "11230100013114525L3000176010001"
SHOP = "11230102MB1C3376104000175001001"


def all_materials(platform: govsvc.Platform, code: str) -> list[govsvc.ProvidedMaterial]:
    version = platform.public().catalogue.version(code)
    return [
        govsvc.ProvidedMaterial(code=m.code, kind=govsvc.MaterialKind.PAPER,
                                reference="纸质原件已核")
        for m in version.materials
        if m.necessity is not govsvc.Necessity.OPTIONAL
    ]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def host_database(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[str, str | None]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'host.db'}", None
        return
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # no server: skip, unless CI demands it
        if _os.environ.get("GOVSVC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {PG_URL} is unreachable: {exc}")
    schema = f"host_t_{secrets.token_hex(4)}"
    yield PG_URL, schema
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def make_settings(url: str, schema: str | None, tmp_path: Any, **extra: Any) -> Settings:
    from govsvc_host.security import hash_api_token

    options: dict[str, Any] = {
        "database_url": url,
        "database_schema": schema,
        "session_secret": HOST_SECRET,
        "materials_dir": tmp_path / "materials",
        "identity": IdentitySettings(issuer="http://127.0.0.1:9"),
        "uploads": UploadSettings(max_bytes=64 * 1024),
        "api_tokens": (
            ApiToken(name="kiosk", hash=hash_api_token(CHANNEL_TOKEN), role="channel",
                     scopes=("catalogue.read", "cases.track")),
            ApiToken(name="samr-system", hash=hash_api_token(SYSTEM_TOKEN),
                     role="department_system", department="11230100013114525L"),
        ),
        "demo": True,
    }
    options.update(extra)
    return Settings(**options)


@pytest.fixture
def host_plugins() -> list[Any]:
    """Plugins the host's platform loads besides the courier (a test module overrides it)."""
    return []


@pytest.fixture
def host(host_database: tuple[str, str | None], tmp_path: Any,
         host_plugins: list[Any]) -> Iterator[HostKit]:
    url, schema = host_database
    platform = govsvc.Platform.open(url, schema=schema, load_entry_points=False,
                                    provisional_calendar=True, plugins=[courier, *host_plugins])
    platform.system().catalogue.import_items(govsvc.load_sample_catalogue())
    settings = make_settings(url, schema, tmp_path)
    seconds = Seconds(1_000_000.0)
    app = create_app(platform, settings, clock=seconds)
    kit = HostKit(platform, settings, app, seconds, [])
    yield kit
    for client in kit.clients:
        client.close()
    platform.close()


@pytest.fixture
def clocked_host(host_database: tuple[str, str | None], tmp_path: Any
                 ) -> Iterator[tuple[HostKit, FakeClock]]:
    """A host whose platform runs on a clock the test moves: 1 December, 09:00 China time, of
    the last year with official calendar data (so the next year's deadlines are provisional)."""
    url, schema = host_database
    last = max(govsvc.WorkCalendar.default().years)
    clock = FakeClock(moment=dt.datetime(last, 12, 1, 1, 0, tzinfo=dt.UTC))
    platform = govsvc.Platform.open(url, schema=schema, load_entry_points=False, clock=clock,
                                    provisional_calendar=True, plugins=[courier])
    platform.system().catalogue.import_items(govsvc.load_sample_catalogue())
    settings = make_settings(url, schema, tmp_path)
    seconds = Seconds(1_000_000.0)
    kit = HostKit(platform, settings, create_app(platform, settings, clock=seconds), seconds, [])
    yield kit, clock
    for client in kit.clients:
        client.close()
    platform.close()
