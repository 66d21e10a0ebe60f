"""The whole host behind the real OIDC authorization-code flow with PKCE, over loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pytest
from govsvc_host import courier
from govsvc_host.app import create_app
from govsvc_host.idp import Client, OpenIDProvider, hash_secret
from govsvc_host.settings import IdentitySettings, Settings
from govsvc_host.store import HostStore, StaffRecord

import govsvc
from govsvc.testing import serve_app

SECRET = "rp-test-secret"
SECRET_HASH = hash_secret(SECRET)


@attrs.define
class Seconds:
    now: float

    def __call__(self) -> float:
        return self.now


@attrs.define
class LiveHost:
    base: str
    idp: OpenIDProvider
    platform: govsvc.Platform
    seconds: Seconds

    def login(self, http: httpx.Client, username: str, path: str = "/") -> httpx.Response:
        page = http.get(f"{self.base}{path}", follow_redirects=True)
        if 'name="csrf"' not in page.text:
            return page  # single sign-on: the provider answered without a page
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert action and csrf
        return http.post(f"{self.idp.issuer}{action.group(1).replace('&amp;', '&')}",
                         data={"csrf": csrf.group(1), "pick": username}, follow_redirects=True)


@pytest.fixture
def live(idp: OpenIDProvider, tmp_path: Any) -> Iterator[LiveHost]:
    platform = govsvc.Platform.open(f"sqlite:///{tmp_path / 'live.db'}", load_entry_points=False,
                                    provisional_calendar=True, plugins=[courier])
    platform.system().catalogue.import_items(govsvc.load_sample_catalogue())
    holder: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    with serve_app(app) as base:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'live.db'}",
            base_url=base,
            session_secret="live-test-secret-0123456789",
            materials_dir=tmp_path / "materials",
            identity=IdentitySettings(issuer=idp.issuer, client_id="live-host",
                                      client_secret=SECRET),
        )
        seconds = Seconds(1_000_000.0)
        holder["app"] = create_app(platform, settings, clock=seconds)
        idp.register_client(Client(
            client_id="live-host", name="测试宿主", secret_hash=SECRET_HASH,
            grant_types=("authorization_code", "refresh_token"),
            scopes=("openid", "profile", "phone", "govsvc"),
            redirect_uris=(f"{base}/auth/callback",),
            post_logout_redirect_uris=(f"{base}/logout/callback",),
        ))
        yield LiveHost(base, idp, platform, seconds)
    platform.close()


def test_a_clerk_logs_in_through_the_provider_and_reaches_the_window(
    live: LiveHost, http: httpx.Client
) -> None:
    planted = http.get(f"{live.base}/")  # a session exists before the login
    before = planted.cookies.get("govsvc_host") or http.cookies.get("govsvc_host")
    landed = live.login(http, "wangfang", "/window")
    assert landed.status_code == 200, landed.text
    assert landed.url.path == "/window" and "一窗受理" in landed.text
    assert "窗口工作人员 王芳" in landed.text
    assert http.cookies.get("govsvc_host") != before  # a fresh session at login
    # Single sign-on: another page needs no new login.
    assert http.get(f"{live.base}/account").status_code == 200


def test_logout_ends_the_host_and_provider_sessions(live: LiveHost, http: httpx.Client) -> None:
    page = live.login(http, "liming", "/backoffice")
    assert page.url.path == "/backoffice"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    out = http.post(f"{live.base}/logout", data={"csrf_token": csrf.group(1)},
                    follow_redirects=True)
    assert out.url.path == "/" and "登录" in out.text
    again = http.get(f"{live.base}/backoffice", follow_redirects=True)
    assert 'name="csrf"' in again.text  # the provider's login page, not a silent login


def test_a_subject_in_the_staff_directory_logs_in_as_that_staff_member(
    live: LiveHost, http: httpx.Client
) -> None:
    user = live.idp.directory.user("zhenghao")
    assert user is not None
    HostStore(live.platform).add_staff(StaffRecord(
        subject=f"hrb-idp:{user.sub}", role="supervisor", staff_id="s-9001", name="郑浩",
        division="230100"))
    landed = live.login(http, "zhenghao", "/supervision")
    assert landed.url.path == "/supervision" and landed.status_code == 200
    assert "电子监察人员 郑浩" in landed.text


def test_a_forged_callback_is_refused_with_a_page(live: LiveHost, http: httpx.Client) -> None:
    refused = http.get(f"{live.base}/auth/callback", params={"state": "forged", "code": "x"})
    assert refused.status_code == 400 and "登录失败" in refused.text


def _machine_token(live: LiveHost, http: httpx.Client, client_id: str, scope: str) -> str:
    answer = http.post(f"{live.idp.issuer}/token",
                       data={"grant_type": "client_credentials", "scope": scope},
                       auth=(client_id, f"demo-secret-{client_id}"))
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def test_department_systems_and_channels_call_the_api_with_client_credentials(
    live: LiveHost, http: httpx.Client
) -> None:
    system = _machine_token(live, http, "samr-system", "reviews.record cases.read")
    queue = http.get(f"{live.base}/api/v1/tasks", headers={"Authorization": f"Bearer {system}"})
    assert queue.status_code == 200 and queue.json() == {"items": [], "next": None}
    channel = _machine_token(live, http, "mobile-app", "catalogue.read cases.track")
    refused = http.get(f"{live.base}/api/v1/tasks",
                       headers={"Authorization": f"Bearer {channel}"})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    items = http.get(f"{live.base}/api/v1/items", headers={"Authorization": f"Bearer {channel}"})
    assert items.status_code == 200
    forged = http.get(f"{live.base}/api/v1/tasks",
                      headers={"Authorization": f"Bearer {system[:-4]}AAAA"})
    assert forged.status_code == 401


def test_an_expired_login_keeps_the_draft_through_a_real_login(
    live: LiveHost, http: httpx.Client
) -> None:
    login = govsvc.Authentication(provider="t", assurance=govsvc.Assurance.L3)
    clerk = live.platform.session(govsvc.Principal.clerk(
        "c-0301", "王芳", agency="12230100MB1A03528R", serves=["11230100003109212K"],
        hall="x", auth=login), purpose="窗口受理")
    person = govsvc.Person(key=govsvc.PartyKey.of("230109198801150175"), name="刘洋")
    case = clerk.cases.apply("11230100003109212K3002005001000", person)
    page = live.login(http, "wangfang", f"/cases/{case.tracking_code}")
    assert page.status_code == 200 and "不予受理" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    live.seconds.now += 3600  # the clerk went to lunch
    back = http.post(
        f"{live.base}/cases/{case.tracking_code}/do/refuse",
        data={"csrf_token": csrf.group(1), "version": str(case.version), "command": "refuse",
              "reason": "申请人不符合申领条件", "basis": "社会保险法第五十八条"},
        headers={"referer": str(page.url)}, follow_redirects=True,
    )
    # Back at the case page after a login (single sign-on at the provider), draft restored.
    assert back.url.path == f"/cases/{case.tracking_code}", back.url
    assert "申请人不符合申领条件" in back.text and "社会保险法第五十八条" in back.text
    assert live.platform.system().cases.get(case.id).state is govsvc.CaseState.SUBMITTED
