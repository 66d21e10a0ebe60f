"""The provider, endpoint by endpoint, over loopback HTTP: what it issues and what it refuses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.oidc import discovery, rpinitiated
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from govsvc_host.idp import (
    DirectoryError,
    OpenIDProvider,
    SigningKey,
    hash_secret,
    load_directory,
    parse_directory,
    serve_idp,
    verify_secret,
)
from joserfc import jwt

from govsvc import PrincipalKind
from govsvc.testing import FakeClock, refused_url

WEB_CLIENT, RP_SECRET, CALLBACK = "test-host", "rp-test-secret", "http://127.0.0.1:9/cb"


def decode(idp: OpenIDProvider, token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, idp.key.public_key_set()).claims
    return claims


# --- discovery and keys ----------------------------------------------------------------------


def test_discovery_document_is_valid_and_announces_pkce_s256_only(idp: OpenIDProvider) -> None:
    meta = httpx.get(f"{idp.issuer}/.well-known/openid-configuration").json()
    discovery.OpenIDProviderMetadata(meta).validate(
        metadata_classes=[rpinitiated.OpenIDProviderMetadata]
    )
    assert meta["issuer"] == idp.issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["end_session_endpoint"] == f"{idp.issuer}/logout"
    assert set(meta["grant_types_supported"]) == {
        "authorization_code", "refresh_token", "client_credentials"}
    assert {"govsvc", "cases.track", "reviews.record"} <= set(meta["scopes_supported"])
    assert meta["acr_values_supported"] == ["L1", "L2", "L3", "L4"]


def test_jwks_publishes_the_public_key_only(idp: OpenIDProvider) -> None:
    keys = httpx.get(f"{idp.issuer}/jwks.json").json()["keys"]
    assert [k["kid"] for k in keys] == [idp.key.kid]
    assert keys[0]["alg"] == "RS256" and "d" not in keys[0]


def test_an_unbound_provider_says_so() -> None:
    from govsvc_host.idp import create_idp

    from govsvc.testing import serve_app

    with serve_app(create_idp()) as base:
        answer = httpx.get(f"{base}/.well-known/openid-configuration")
    assert answer.status_code == 503
    assert "bind_issuer" in answer.json()["error_description"]


def test_serve_idp_on_a_fixed_port_with_another_host_name() -> None:
    port = int(refused_url().rsplit(":", 1)[1])
    url, stop = serve_idp(port=port, issuer_host="localhost")
    try:
        assert url == f"http://localhost:{port}"
        meta = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration").json()
        assert meta["issuer"] == url
    finally:
        stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/jwks.json")


# --- the login page --------------------------------------------------------------------------


def test_login_page_is_chinese_lists_demo_users_and_needs_no_javascript(browser: Any) -> None:
    _, challenge = browser.pkce()
    page = browser.authorize(code_challenge=challenge, code_challenge_method="S256")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    for text in ("统一身份认证", "账号密码登录", "演示用户", "测试网站", "市民", "法人（经办人）",
                 "工作人员", "张伟", "窗口工作人员", "实人认证"):
        assert text in page.text
    assert "<script" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_password_login_and_wrong_password(browser: Any) -> None:
    verifier, challenge = browser.pkce()
    page = browser.authorize(code_challenge=challenge, code_challenge_method="S256")
    action, csrf = browser.login_form(page)
    wrong = browser.http.post(f"{browser.idp.issuer}{action}",
                              data={"csrf": csrf, "username": "lina", "password": "guess"})
    assert wrong.status_code == 200
    assert "用户名或密码错误" in wrong.text
    assert "govsvc_idp_session" not in wrong.cookies
    action, csrf = browser.login_form(wrong)
    right = browser.http.post(f"{browser.idp.issuer}{action}",
                              data={"csrf": csrf, "username": "lina", "password": "govsvc-demo"})
    assert right.status_code == 302
    code = httpx.URL(right.headers["location"]).params["code"]
    tokens = browser.redeem(code, verifier).json()
    assert decode(browser.idp, tokens["id_token"])["amr"] == ["pwd"]


def test_a_login_form_without_its_csrf_cookie_is_refused(browser: Any) -> None:
    _, challenge = browser.pkce()
    action, csrf = browser.login_form(
        browser.authorize(code_challenge=challenge, code_challenge_method="S256"))
    browser.http.cookies.clear()
    refused = browser.http.post(f"{browser.idp.issuer}{action}",
                                data={"csrf": csrf, "pick": "lina"})
    assert refused.status_code == 400
    assert "登录页面已过期" in refused.text


def test_demo_picks_can_be_turned_off(make_idp: Any, make_browser: Any) -> None:
    idp = make_idp(allow_pick=False)
    browser = make_browser(idp)
    _, challenge = browser.pkce()
    page = browser.authorize(code_challenge=challenge, code_challenge_method="S256")
    assert "演示用户" not in page.text
    action, csrf = browser.login_form(page)
    refused = browser.http.post(f"{idp.issuer}{action}", data={"csrf": csrf, "pick": "lina"})
    assert "未开放演示用户登录" in refused.text


# --- authorization code with PKCE ------------------------------------------------------------


def test_the_id_token_carries_the_login_and_only_the_scopes_claims(browser: Any) -> None:
    code, verifier = browser.code_for("zhangwei.bingcheng", scope="openid profile", nonce="n-1")
    tokens = browser.redeem(code, verifier).json()
    claims = decode(browser.idp, tokens["id_token"])
    assert claims["iss"] == browser.idp.issuer
    assert claims["aud"] == WEB_CLIENT
    assert claims["nonce"] == "n-1"
    assert claims["acr"] == "L3"
    assert claims["amr"] == ["demo"]
    assert claims["sid"] and claims["at_hash"] and claims["auth_time"]
    assert claims["sub"] == "demo-business-0001" and claims["name"] == "张伟"
    assert "credit_code" not in claims and "id_number" not in claims  # no govsvc scope
    header = jwt.decode(tokens["id_token"], browser.idp.key.public_key_set()).header
    assert header["kid"] == browser.idp.key.kid


def test_a_wrong_pkce_verifier_is_refused(browser: Any) -> None:
    code, verifier = browser.code_for("lina")
    wrong = browser.redeem(code, verifier[::-1])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("pkce_params", "message"),
    [({}, "PKCE is required"), ({"code_challenge": "x" * 43, "code_challenge_method": "plain"},
                                "must be S256")],
)
def test_pkce_s256_is_required_even_of_a_confidential_client(
    browser: Any, pkce_params: dict[str, str], message: str
) -> None:
    browser.code_for("lina")  # log in once, so the next authorize needs no page
    answer = browser.authorize(**pkce_params)
    assert answer.status_code == 302
    back = httpx.URL(answer.headers["location"])
    assert back.params["error"] == "invalid_request"
    assert message in back.params["error_description"]
    assert back.params["state"] == "s-1"


def test_a_code_without_its_verifier_is_refused(browser: Any) -> None:
    code, _ = browser.code_for("lina")
    answer = browser.token(grant_type="authorization_code", code=code, redirect_uri=CALLBACK)
    assert answer.status_code == 400
    assert "code_verifier" in answer.json()["error_description"]


def test_a_reused_code_is_refused_and_revokes_what_it_gave(browser: Any) -> None:
    code, verifier = browser.code_for("lina")
    first = browser.redeem(code, verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert browser.userinfo(access).status_code == 200
    again = browser.redeem(code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert browser.userinfo(access).status_code == 401  # RFC 6749 §4.1.2


def test_a_wrong_redirect_uri_is_refused_at_both_ends(browser: Any) -> None:
    _, challenge = browser.pkce()
    page = browser.authorize(redirect_uri="http://127.0.0.1:9/elsewhere",
                             code_challenge=challenge, code_challenge_method="S256")
    assert page.status_code == 400
    assert "location" not in page.headers  # never redirect to an unregistered URI
    assert "登录请求无效" in page.text and "not supported by client" in page.text
    code, verifier = browser.code_for("lina")
    answer = browser.redeem(code, verifier, redirect_uri="http://127.0.0.1:9/elsewhere")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_an_unknown_client_gets_an_error_page_not_a_redirect(browser: Any) -> None:
    _, challenge = browser.pkce()
    page = browser.authorize(client_id="nobody", code_challenge=challenge,
                             code_challenge_method="S256")
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "invalid_client" in page.text


def test_a_code_expires_after_ten_minutes(
    make_idp: Any, make_browser: Any, clock: FakeClock
) -> None:
    browser = make_browser(make_idp(clock=clock))
    code, verifier = browser.code_for("lina")
    clock.advance(hours=1)
    answer = browser.redeem(code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_prompt_none_and_prompt_login(browser: Any) -> None:
    _, challenge = browser.pkce()
    silent = browser.authorize(prompt="none", code_challenge=challenge,
                               code_challenge_method="S256")
    assert httpx.URL(silent.headers["location"]).params["error"] == "login_required"
    browser.code_for("lina")
    assert "code" in httpx.URL(browser.authorize(
        prompt="none", code_challenge=challenge, code_challenge_method="S256"
    ).headers["location"]).params
    assert browser.is_login_page(browser.authorize(prompt="login", code_challenge=challenge,
                                           code_challenge_method="S256"))


# --- tokens ----------------------------------------------------------------------------------


def test_userinfo_answers_for_a_valid_token_only(
    make_idp: Any, make_browser: Any, clock: FakeClock
) -> None:
    browser = make_browser(make_idp(clock=clock))
    code, verifier = browser.code_for("wangfang")
    access = browser.redeem(code, verifier).json()["access_token"]
    info = browser.userinfo(access).json()
    assert info["govsvc_role"] == "clerk" and info["govsvc_hall"] == "哈尔滨市政务服务中心"
    assert browser.http.get(f"{browser.idp.issuer}/userinfo").status_code == 401
    clock.advance(hours=1)  # access tokens live 30 minutes
    expired = browser.userinfo(access)
    assert expired.status_code == 401
    assert "invalid_token" in expired.headers["www-authenticate"]


def test_refresh_tokens_rotate_and_die_with_the_session(browser: Any) -> None:
    code, verifier = browser.code_for("lina")
    first = browser.redeem(code, verifier).json()
    second = browser.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    renewed = second.json()
    assert renewed["refresh_token"] != first["refresh_token"]
    reuse = browser.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    out = browser.http.get(f"{browser.idp.issuer}/logout",
                           params={"id_token_hint": first["id_token"]})
    assert out.status_code == 200 and "已退出" in out.text
    dead = browser.token(grant_type="refresh_token", refresh_token=renewed["refresh_token"])
    assert dead.status_code == 400
    assert browser.userinfo(renewed["access_token"]).status_code == 401


def test_client_credentials_give_a_scoped_jwt(idp: OpenIDProvider) -> None:
    answer = httpx.post(f"{idp.issuer}/token", data={"grant_type": "client_credentials"},
                        auth=("samr-system", "demo-secret-samr-system"))
    assert answer.status_code == 200
    body = answer.json()
    assert "refresh_token" not in body
    claims = decode(idp, body["access_token"])
    assert claims["aud"] == idp.api_audience
    assert claims["scope"] == "reviews.record cases.issue_result cases.read"
    assert claims["govsvc_role"] == "department_system"
    assert claims["govsvc_agency"] == "11230100013114525L"


@pytest.mark.parametrize(
    ("client_id", "secret", "form", "status", "error"),
    [
        ("nobody", "x", {}, 401, "invalid_client"),
        ("samr-system", "demo-secret-psb-system", {}, 401, "invalid_client"),
        ("mobile-app", "demo-secret-mobile-app", {"scope": "cases.read"}, 400, "invalid_scope"),
        (WEB_CLIENT, RP_SECRET, {}, 400, "unauthorized_client"),
    ],
)
def test_client_credentials_refusals(
    idp: OpenIDProvider, client_id: str, secret: str, form: dict[str, str], status: int,
    error: str
) -> None:
    answer = httpx.post(f"{idp.issuer}/token",
                        data={"grant_type": "client_credentials", **form},
                        auth=(client_id, secret))
    assert answer.status_code == status
    assert answer.json()["error"] == error


def test_a_machine_token_cannot_read_userinfo(idp: OpenIDProvider) -> None:
    token = httpx.post(f"{idp.issuer}/token", data={"grant_type": "client_credentials"},
                       auth=("mobile-app", "demo-secret-mobile-app")).json()["access_token"]
    answer = httpx.get(f"{idp.issuer}/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403


# --- logout ----------------------------------------------------------------------------------


def test_logout_without_an_id_token_asks_first(browser: Any) -> None:
    browser.code_for("lina")
    ask = browser.http.get(f"{browser.idp.issuer}/logout")
    assert ask.status_code == 200 and "确认退出" in ask.text
    done = browser.http.post(f"{browser.idp.issuer}/logout")
    assert "已退出" in done.text
    _, challenge = browser.pkce()
    assert browser.is_login_page(browser.authorize(code_challenge=challenge,
                                           code_challenge_method="S256"))


def test_logout_redirects_only_to_a_registered_uri(browser: Any) -> None:
    code, verifier = browser.code_for("lina")
    id_token = browser.redeem(code, verifier).json()["id_token"]
    stray = browser.http.get(f"{browser.idp.issuer}/logout", params={
        "id_token_hint": id_token, "post_logout_redirect_uri": "http://127.0.0.1:9/other"})
    assert stray.status_code == 200 and "location" not in stray.headers
    code, verifier = browser.code_for("lina")
    id_token = browser.redeem(code, verifier).json()["id_token"]
    back = browser.http.get(f"{browser.idp.issuer}/logout", params={
        "id_token_hint": id_token, "post_logout_redirect_uri": "http://127.0.0.1:9/",
        "state": "bye"})
    assert back.status_code == 302
    assert back.headers["location"] == "http://127.0.0.1:9/?state=bye"


# --- the directory and keys ------------------------------------------------------------------

USER = '''
[[users]]
username = "u"
sub = "s"
name = "某人"
role = "{role}"
password_hash = "{hash}"
{extra}
'''


def _directory(role: str, extra: str) -> str:
    return USER.format(role=role, hash=hash_secret("pw"), extra=extra)


def test_the_demo_directory_loads_and_every_user_maps_to_its_principal() -> None:
    from govsvc_host.auth import principal_from_claims

    directory = load_directory()
    assert len(directory.users) >= 15
    for user in directory.users:
        principal = principal_from_claims({**user.all_claims(), "acr": user.acr}, provider="p")
        assert principal.kind is user.role
    kinds = {c.role for c in directory.clients if c.role}
    assert kinds == {PrincipalKind.DEPARTMENT_SYSTEM, PrincipalKind.CHANNEL}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_directory("applicant", 'id_number = "230103198503120317"'), "check character"),
        (_directory("reviewer", 'staff_id = "r-1"'), "needs agency"),
        (_directory("clerk", 'staff_id = "c"\nagency = "11230100013114525L"'), "hall"),
        (_directory("applicant", 'id_number = "230103198503120316"\nnickname = "x"'),
         "unknown keys"),
        (_directory("channel", ""), "machine"),
        (_directory("supervisor", 'staff_id = "s"'), "division"),
        (_directory("applicant", 'id_number = "230103198503120316"') * 2, "appears twice"),
        ('[[clients]]\nclient_id = "c"\nname = "n"\ngrant_types = ["password"]', "not offered"),
        ('[[clients]]\nclient_id = "c"\nname = "n"\ngrant_types = ["client_credentials"]',
         "needs a secret"),
        ('[[clients]]\nclient_id = "c"\nname = "n"', "redirect_uri"),
        ("[[users]\n", "not valid TOML"),
    ],
)
def test_a_bad_directory_entry_fails_at_load_naming_it(text: str, message: str) -> None:
    with pytest.raises(DirectoryError, match=message) as caught:
        parse_directory(text, source="mine.toml")
    assert "mine.toml" in str(caught.value)


def test_secrets_are_hashed_and_checked() -> None:
    hashed = hash_secret("s3cret")
    assert "s3cret" not in hashed
    assert verify_secret("s3cret", hashed) and not verify_secret("s3cret!", hashed)
    with pytest.raises(DirectoryError, match="hash_secret"):
        verify_secret("x", "plain-text")


def test_an_es256_provider_signs_and_a_pem_key_loads(
    make_idp: Any, make_browser: Any, tmp_path: Path
) -> None:
    pem = tmp_path / "key.pem"
    pem.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    key = SigningKey.from_pem(pem)
    assert key.alg == "ES256"
    idp = make_idp(key_pem=pem)
    browser = make_browser(idp)
    code, verifier = browser.code_for("lina")
    token = browser.redeem(code, verifier).json()["id_token"]
    assert jwt.decode(token, idp.key.public_key_set()).header["alg"] == "ES256"
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(DirectoryError, match="no RSA or EC private key"):
        SigningKey.from_pem(tmp_path / "bad.pem")


def test_the_clock_fixture_starts_now(clock: FakeClock) -> None:
    assert abs(clock().timestamp() - dt.datetime.now(dt.UTC).timestamp()) < 5


def test_repeated_wrong_passwords_are_slowed_down(browser: Any) -> None:
    _verifier, challenge = browser.pkce()
    statuses = []
    for _ in range(12):
        page = browser.authorize(code_challenge=challenge, code_challenge_method="S256")
        action, csrf = browser.login_form(page)
        answer = browser.http.post(f"{browser.idp.issuer}{action}",
                                   data={"csrf": csrf, "username": "lina", "password": "wrong"})
        statuses.append(answer.status_code)
    assert statuses[0] == 200 and statuses[-1] == 429
    assert "密码错误次数过多" in answer.text
