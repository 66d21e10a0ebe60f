"""The relying party: real logins end in the right principal; every check refuses what it must."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from govsvc_host import claims as C
from govsvc_host.auth import (
    ClaimsError,
    IdTokenRejected,
    LoginFailed,
    RelyingParty,
    principal_from_claims,
    principal_from_machine_claims,
)
from govsvc_host.idp import OpenIDProvider, SigningKey, load_directory

from govsvc import Assurance, PrincipalKind
from govsvc.testing import FakeClock

SAMR = "11230100013114525L"
HEALTH = "11230100MB1935270B"
PSB = "11230100003108738D"
HRSS = "11230100003109212K"
CENTER = "12230100MB1A03528R"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# --- the real flow, one role at a time -------------------------------------------------------


def test_citizen_logs_in_as_an_applicant(site: Any, http: httpx.Client) -> None:
    me = site.login(http, "zhangwei")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["kind"] == "applicant"
    assert body["party"] == "111:230103198503120316"
    assert body["name"] == "张伟"
    assert body["provider"] == "test-idp"
    assert body["assurance"] == "L3"
    assert body["subject"] == "demo-citizen-0001"
    assert body["at"] is not None


def test_business_user_logs_in_as_an_agent_of_the_company(site: Any, http: httpx.Client) -> None:
    body = site.login(http, "wangxiuying.beifang").json()
    assert body["kind"] == "agent"
    assert body["party"] == "111:230102197905210428"
    assert body["acting_for"] == "001:91230102MA19QW7R1Q"


@pytest.mark.parametrize(
    ("username", "kind", "expected"),
    [
        ("wangfang", "clerk", {"id": "c-0301", "agency": CENTER,
                               "serves": [CENTER, SAMR, HEALTH, PSB, HRSS],
                               "hall": "哈尔滨市政务服务中心", "division": "230100"}),
        ("liming", "reviewer", {"id": "r-0101", "agency": SAMR}),
        ("zhaomin", "reviewer", {"agency": HEALTH}),
        ("chenqiang", "approver", {"id": "a-0201", "agency": SAMR}),
        ("zhoujie", "supervisor", {"division": "230100", "agency": None}),
        ("wuqiang", "catalogue_admin", {"agency": SAMR}),
        ("zhenghao", "system_admin", {"id": "o-0601", "agency": None}),
    ],
)
def test_staff_log_in_with_their_role(
    site: Any, http: httpx.Client, username: str, kind: str, expected: dict[str, Any]
) -> None:
    body = site.login(http, username).json()
    assert body["kind"] == kind
    assert {k: body[k] for k in expected} == expected
    assert body["party"] is None


def test_every_principal_kind_a_person_can_be_has_a_demo_user() -> None:
    people = {u.role for u in load_directory().users}
    machines = {PrincipalKind.DEPARTMENT_SYSTEM, PrincipalKind.CHANNEL}
    nobody = {PrincipalKind.PLATFORM, PrincipalKind.PUBLIC, PrincipalKind.UNKNOWN}
    assert people == set(PrincipalKind) - machines - nobody


def test_login_returns_to_the_page_asked_for_but_never_off_site(
    site: Any, http: httpx.Client
) -> None:
    assert site.login(http, "lina", next="/me?tab=cases").url.path == "/me"
    http.cookies.clear()
    landed = site.login(http, "lina", next="https://evil.example/")
    assert landed.url.host == "127.0.0.1"
    assert landed.url.path == "/"


def test_a_province_naming_claims_its_own_way_is_mapped_in(
    make_site: Any, http: httpx.Client
) -> None:
    def province(claims: Any) -> dict[str, Any]:
        # e.g. a provider that says "certNo" and has levels of its own
        renamed = {("certNo" if k == C.ID_NUMBER else k): v for k, v in claims.items()}
        return {**renamed, C.ID_NUMBER: renamed.pop("certNo"), "acr": "face"}

    site = make_site(map_claims=province, acr_values={"face": Assurance.L3})
    body = site.login(http, "lina").json()
    assert body["kind"] == "applicant" and body["assurance"] == "L3"


def test_a_public_client_logs_in_with_pkce_alone(make_site: Any, http: httpx.Client) -> None:
    site = make_site(client_id="public-site", client_secret=None)
    assert site.login(http, "chenjing").json()["kind"] == "applicant"


def test_single_sign_on_then_logout_asks_to_log_in_again(
    site: Any, http: httpx.Client
) -> None:
    assert site.login(http, "liuyang").json()["kind"] == "applicant"
    # A second login in the same browser: the provider's session answers without a page.
    again = http.get(f"{site.base}/login", params={"next": "/me"}, follow_redirects=True)
    assert again.json()["name"] == "刘洋"
    token = http.get(f"{site.base}/me")  # still logged in at the site
    assert token.status_code == 200

    out = http.get(f"{site.base}/logout", follow_redirects=True)
    assert out.url.host == "127.0.0.1" and out.url.path == "/"
    assert http.get(f"{site.base}/me").status_code == 401
    page = http.get(f"{site.base}/login", params={"next": "/me"}, follow_redirects=True)
    assert 'name="csrf"' in page.text  # the login page again, not a silent login


# --- refusals --------------------------------------------------------------------------------


def test_a_callback_with_a_forged_state_is_refused(site: Any, http: httpx.Client) -> None:
    page = http.get(f"{site.base}/login", params={"next": "/me"}, follow_redirects=True)
    action = page.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    redirect = http.post(f"{site.idp.issuer}{action}", data={"csrf": csrf, "pick": "lina"})
    callback = httpx.URL(redirect.headers["location"])
    forged = callback.copy_merge_params({"state": "forged-state"})
    refused = http.get(forged)
    assert refused.status_code == 400
    assert "state" in refused.text and "log in again" in refused.text
    assert http.get(f"{site.base}/me").status_code == 401
    # The genuine callback still works: the forged one did not consume its state.
    assert http.get(callback, follow_redirects=True).json()["name"] == "李娜"


def test_a_replayed_callback_is_refused(site: Any, http: httpx.Client) -> None:
    page = http.get(f"{site.base}/login", params={"next": "/me"}, follow_redirects=True)
    action = page.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    redirect = http.post(f"{site.idp.issuer}{action}", data={"csrf": csrf, "pick": "lina"})
    callback = redirect.headers["location"]
    assert http.get(callback).status_code == 303
    assert http.get(callback).status_code == 400


def test_the_provider_refusing_is_reported(site: Any, http: httpx.Client) -> None:
    start = http.get(f"{site.base}/login", params={"next": "/me"})
    authorize = httpx.URL(start.headers["location"])
    state = authorize.params["state"]
    refused = http.get(f"{site.base}/auth/callback",
                       params={"state": state, "error": "access_denied"})
    assert refused.status_code == 400
    assert "access_denied" in refused.text


def _issued(site: Any, http: httpx.Client, username: str) -> dict[str, Any]:
    """Log in through the site's router and return the id_token the session stored."""
    site.login(http, username)
    cookie = http.cookies.get("session")
    assert cookie
    payload = cookie.split(".")[0]
    data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    record: dict[str, Any] = data["govsvc_auth"]
    return record


def _flip_claim(id_token: str, **changes: Any) -> str:
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_a_tampered_id_token_is_rejected(site: Any, http: httpx.Client) -> None:
    record = _issued(site, http, "lina")
    nonce = record["claims"]["nonce"]
    rp: RelyingParty = site.rp
    genuine = run(rp.validate_id_token(record["id_token"], nonce=nonce))
    assert genuine["sub"] == "demo-citizen-0002"
    forged = _flip_claim(record["id_token"], govsvc_role="system_admin")
    with pytest.raises(IdTokenRejected, match="signature does not verify"):
        run(rp.validate_id_token(forged, nonce=nonce))


def test_an_id_token_from_another_key_is_rejected(site: Any, http: httpx.Client) -> None:
    from joserfc import jwt

    record = _issued(site, http, "lina")
    claims = dict(record["claims"])
    other = SigningKey.generate()
    forged = jwt.encode(other.header, claims, other.key)
    with pytest.raises(IdTokenRejected, match="signature"):
        run(site.rp.validate_id_token(forged, nonce=claims["nonce"]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nonce": "someone-elses"}, "nonce"),
        ({"aud": "another-client"}, "aud"),
        ({"iss": "http://127.0.0.1:1"}, "iss"),
    ],
)
def test_id_token_claims_must_match_this_login(
    site: Any, http: httpx.Client, change: dict[str, str], message: str
) -> None:
    from joserfc import jwt

    record = _issued(site, http, "lina")
    key = site.idp.key
    signed = jwt.encode(key.header, {**record["claims"], **change}, key.key)  # signed, wrong
    with pytest.raises(IdTokenRejected, match=message):
        run(site.rp.validate_id_token(signed, nonce=record["claims"]["nonce"]))


def test_an_expired_id_token_is_rejected(
    make_site: Any, http: httpx.Client, clock: FakeClock
) -> None:
    site = make_site(clock=clock, leeway=60)
    record = _issued(site, http, "lina")
    nonce = record["claims"]["nonce"]
    assert run(site.rp.validate_id_token(record["id_token"], nonce=nonce))["sub"]
    clock.advance(hours=1)  # the provider's ID tokens live 10 minutes
    with pytest.raises(IdTokenRejected, match="expired"):
        run(site.rp.validate_id_token(record["id_token"], nonce=nonce))


def test_a_login_left_waiting_too_long_starts_over(
    make_site: Any, http: httpx.Client, clock: FakeClock
) -> None:
    site = make_site(clock=clock)
    page = http.get(f"{site.base}/login", params={"next": "/me"}, follow_redirects=True)
    action = page.text.split('action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    redirect = http.post(f"{site.idp.issuer}{action}", data={"csrf": csrf, "pick": "lina"})
    clock.advance(hours=1)
    refused = http.get(redirect.headers["location"])
    assert refused.status_code == 400
    assert "took too long" in refused.text


def test_discovery_must_name_the_configured_issuer(idp: OpenIDProvider) -> None:
    rp = RelyingParty(issuer=idp.issuer.replace("127.0.0.1", "localhost"), client_id="x")
    with pytest.raises(LoginFailed, match="names issuer") as caught:
        run(rp.begin(redirect_uri="http://127.0.0.1:9/cb"))
    assert caught.value.reason == "discovery"


def test_an_unreachable_provider_is_a_clear_failure() -> None:
    from govsvc.testing import refused_url

    rp = RelyingParty(issuer=refused_url(), client_id="x")
    with pytest.raises(LoginFailed, match="unreachable"):
        run(rp.metadata())


# --- machine tokens --------------------------------------------------------------------------


def _machine_token(idp: OpenIDProvider, client_id: str, scope: str = "") -> str:
    form = {"grant_type": "client_credentials"}
    if scope:
        form["scope"] = scope
    response = httpx.post(f"{idp.issuer}/token", data=form,
                          auth=(client_id, f"demo-secret-{client_id}"))
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_a_department_system_token_becomes_its_principal(idp: OpenIDProvider) -> None:
    rp = RelyingParty(issuer=idp.issuer, client_id="host-api", name="test-idp")
    token = _machine_token(idp, "samr-system")
    principal = run(rp.machine_principal(token, audience=idp.api_audience))
    assert principal.kind is PrincipalKind.DEPARTMENT_SYSTEM
    assert principal.agency == SAMR
    assert principal.name == "哈尔滨市市场监督管理局业务系统"


def test_a_channel_token_carries_only_the_scopes_granted(idp: OpenIDProvider) -> None:
    rp = RelyingParty(issuer=idp.issuer, client_id="host-api", name="test-idp")
    token = _machine_token(idp, "mobile-app", scope="cases.track")
    principal = run(rp.machine_principal(token, audience=idp.api_audience))
    assert principal.kind is PrincipalKind.CHANNEL
    assert principal.scopes == frozenset({"cases.track"})


def test_a_machine_token_for_another_audience_is_rejected(idp: OpenIDProvider) -> None:
    rp = RelyingParty(issuer=idp.issuer, client_id="host-api")
    token = _machine_token(idp, "psb-system")
    with pytest.raises(IdTokenRejected, match="aud"):
        run(rp.machine_principal(token, audience="some-other-api"))


def test_an_id_token_is_not_accepted_as_a_machine_token(site: Any, http: httpx.Client) -> None:
    record = _issued(site, http, "lina")
    with pytest.raises(IdTokenRejected, match="at\\+jwt"):
        run(site.rp.machine_principal(record["id_token"], audience=site.idp.api_audience))


# --- the mapping, claim by claim -------------------------------------------------------------

CITIZEN = {"sub": "u1", "name": "张伟", C.ID_NUMBER: "230103198503120316", "acr": "L3",
           "auth_time": 1_780_000_000}


def test_claims_map_to_an_applicant_with_its_authentication() -> None:
    principal = principal_from_claims(CITIZEN, provider="hljzwfw")
    assert principal.kind is PrincipalKind.APPLICANT
    assert principal.auth is not None
    assert principal.auth.provider == "hljzwfw"
    assert principal.auth.assurance is Assurance.L3
    assert principal.auth.subject == "u1"
    assert principal.auth.at is not None and principal.auth.at.tzinfo is not None


def test_a_credit_code_without_a_role_makes_an_agent() -> None:
    claims = {**CITIZEN, C.CREDIT_CODE: "91230103MA1BX4K238", C.ORG_NAME: "冰城饺子馆"}
    principal = principal_from_claims(claims, provider="p")
    assert principal.kind is PrincipalKind.AGENT
    assert str(principal.acting_for) == "001:91230103MA1BX4K238"


def test_no_acr_means_the_lowest_assurance() -> None:
    claims = {k: v for k, v in CITIZEN.items() if k != "acr"}
    auth = principal_from_claims(claims, provider="p").auth
    assert auth is not None and auth.assurance is Assurance.L1


def test_a_province_acr_vocabulary_can_be_mapped() -> None:
    claims = {**CITIZEN, "acr": "urn:hlj:loa:face"}
    auth = principal_from_claims(claims, provider="p",
                                 acr_values={"urn:hlj:loa:face": Assurance.L3}).auth
    assert auth is not None and auth.assurance is Assurance.L3


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({**CITIZEN, C.ID_NUMBER: "230103198503120317"}, "check character should be 6"),
        ({k: v for k, v in CITIZEN.items() if k != C.ID_NUMBER}, "id_number"),
        ({k: v for k, v in CITIZEN.items() if k != "name"}, "'name' is missing"),
        ({k: v for k, v in CITIZEN.items() if k != "sub"}, "'sub' is missing"),
        ({**CITIZEN, "acr": "gold"}, "acr"),
        ({**CITIZEN, C.ROLE: "platform"}, "no person can log in as"),
        ({**CITIZEN, C.ROLE: "wizard"}, "no person can log in as"),
        ({**CITIZEN, C.AGENCY: SAMR}, "staff claims"),
        ({**CITIZEN, C.ROLE: "agent", C.ORG_NAME: "某公司"}, "credit_code"),
        ({**CITIZEN, C.CREDIT_CODE: "91230103MA1BX4K239", C.ORG_NAME: "x"}, "check character"),
        ({**CITIZEN, C.ROLE: "applicant", C.CREDIT_CODE: "91230103MA1BX4K238"}, "agent"),
        ({**CITIZEN, C.ID_TYPE: "001"}, "organisation"),
        ({**CITIZEN, "auth_time": "yesterday"}, "auth_time"),
    ],
)
def test_person_claims_that_do_not_add_up_are_refused(
    claims: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClaimsError, match=message):
        principal_from_claims(claims, provider="p")


STAFF = {"sub": "s1", "name": "王芳", C.STAFF_ID: "c-1"}


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({**STAFF, C.ROLE: "reviewer"}, "govsvc_agency"),
        ({**STAFF, C.ROLE: "clerk", C.AGENCY: SAMR}, "hall"),
        ({**STAFF, C.ROLE: "clerk", C.AGENCY: SAMR, C.HALL: "h", C.SERVES: SAMR},
         "list of credit codes"),
        ({**STAFF, C.ROLE: "clerk", C.AGENCY: SAMR, C.HALL: "h", C.SERVES: ["nope"]},
         "govsvc_serves"),
        ({**STAFF, C.ROLE: "clerk", C.AGENCY: SAMR, C.HALL: "h", C.DIVISION: "23"},
         "division"),
        ({**STAFF, C.ROLE: "supervisor"}, "govsvc_division"),
        ({**STAFF, C.ROLE: "catalogue_admin", C.AGENCY: "11230100013114525X"}, "agency"),
        ({**STAFF, C.ROLE: "system_admin", C.AGENCY: SAMR}, "no use for"),
        ({**STAFF, C.ROLE: "reviewer", C.AGENCY: SAMR, C.HALL: "h"}, "no use for"),
        ({**STAFF, C.ROLE: "approver", C.AGENCY: SAMR, C.ID_NUMBER: "230103198503120316"},
         "separate accounts"),
        ({"sub": "s1", "name": "王芳", C.ROLE: "reviewer", C.AGENCY: SAMR}, "工号"),
    ],
)
def test_staff_claims_that_do_not_add_up_are_refused(
    claims: dict[str, Any], message: str
) -> None:
    with pytest.raises(ClaimsError, match=message):
        principal_from_claims(claims, provider="p")


def test_machine_claims_need_a_known_role_and_a_department() -> None:
    base = {"client_id": "c", "scope": "cases.read", "iat": 1_780_000_000}
    with pytest.raises(ClaimsError, match="department_system"):
        principal_from_machine_claims(base, provider="p")
    with pytest.raises(ClaimsError, match="govsvc_agency"):
        principal_from_machine_claims({**base, C.ROLE: "department_system"}, provider="p")
    system = principal_from_machine_claims(
        {**base, C.ROLE: "department_system", C.AGENCY: HEALTH}, provider="p"
    )
    assert system.id == f"system:{HEALTH}"
