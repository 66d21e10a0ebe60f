"""REST API v1: tokens, problem+json, idempotency keys, callbacks, health and metrics."""

from __future__ import annotations

from typing import Any

import govsvc

FOOD = "11230100013114525L3000176010001"
SHOP = "11230100013114525L3000176010001"
CHANNEL_TOKEN = "gst_channel-test-token-000000000000000000000"
SYSTEM_TOKEN = "gst_samr-system-test-token-0000000000000000"
CSRF = "csrf-token-for-tests-0001"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def application(**extra: Any) -> dict[str, Any]:
    body = {
        "item_code": "11230102MB1C3376104000175001001",
        "applicant": {"number": "230103198503120316", "name": "张伟"},
        "materials": [{"code": "M01", "kind": "paper", "reference": "原件已核"},
                      {"code": "M02", "kind": "ecert", "reference": "居民身份证电子证照"},
                      {"code": "M03", "kind": "commitment", "reference": "承诺书"}],
        "form": {"经营场所": "道里区中央大街1号"},
    }
    body.update(extra)
    return body


def test_items_are_public(host: Any) -> None:
    response = host.client().get("/api/v1/items")
    assert response.status_code == 200
    names = [i["name"] for i in response.json()["items"]]
    assert "食品经营许可（新办）" in names
    item = host.client().get(f"/api/v1/items/{FOOD}").json()
    assert item["promised_limit"] == "5 工作日" and item["materials"][0]["code"] == "M01"
    missing = host.client().get("/api/v1/items/11230100013114525L3000176019999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_no_credentials_is_401_problem(host: Any) -> None:
    client = host.client()
    client.cookies.clear()
    response = client.get("/api/v1/cases/ABCD")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["title"] == "需要登录或访问令牌"
    bad = client.get("/api/v1/cases/ABCD", headers=bearer("gst_not-a-token"))
    assert bad.status_code == 401


def test_a_browser_applies_through_the_api_with_its_csrf_token(host: Any) -> None:
    client = host.client("zhangwei")
    without = client.post("/api/v1/applications", json=application())
    assert without.status_code == 401  # the cookie alone is not enough for an unsafe call
    created = client.post("/api/v1/applications", json=application(),
                          headers={"X-CSRF-Token": CSRF})
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["state"] == "submitted" and case["applicant"] == "111:2301**********0316"
    fetched = client.get(f"/api/v1/cases/{case['tracking_code']}").json()
    assert fetched["id"] == case["id"]
    trail = client.get(f"/api/v1/cases/{case['tracking_display']}/trail").json()
    assert [e["kind"] for e in trail["events"]] == ["drafted", "submitted"]
    mine = client.get("/api/v1/cases").json()
    assert [c["tracking_code"] for c in mine["items"]] == [case["tracking_code"]]


def test_a_replayed_post_with_the_same_idempotency_key_creates_nothing_new(host: Any) -> None:
    client = host.client("zhangwei")
    headers = {"X-CSRF-Token": CSRF, "Idempotency-Key": "kiosk-7f3a-0001"}
    first = client.post("/api/v1/applications", json=application(), headers=headers)
    again = client.post("/api/v1/applications", json=application(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert len(host.session("zhangwei").cases.mine()) == 1
    other = client.post("/api/v1/applications", json=application(form={"x": "y"}),
                        headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "header.Idempotency-Key"
    fresh = client.post("/api/v1/applications", json=application(),
                        headers={**headers, "Idempotency-Key": "kiosk-7f3a-0002"})
    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]


def test_a_refused_application_can_be_retried_with_its_key(host: Any) -> None:
    client = host.client("lina")  # 李娜 applying for 张伟: refused by the policy
    headers = {"X-CSRF-Token": CSRF, "Idempotency-Key": "retry-1"}
    refused = client.post("/api/v1/applications", json=application(), headers=headers)
    assert refused.status_code == 403
    body = refused.json()
    assert refused.headers["content-type"] == "application/problem+json"
    assert body["rule"] and body["type"].endswith("permission-denied")
    again = client.post("/api/v1/applications", json=application(), headers=headers)
    assert again.status_code == 403 and "idempotent-replayed" not in again.headers


def test_invalid_bodies_are_422_with_field_errors(host: Any) -> None:
    client = host.client("zhangwei")
    response = client.post("/api/v1/applications", json={"item_code": "x", "applicant": {}},
                           headers={"X-CSRF-Token": CSRF})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert "body.item_code" in fields and "body.applicant.number" in fields
    bad_number = client.post(
        "/api/v1/applications",
        json=application(applicant={"number": "230103198503120317", "name": "张伟"}),
        headers={"X-CSRF-Token": CSRF})
    assert bad_number.status_code == 422 and "check character" in bad_number.json()["detail"]


def test_clerk_commands_over_the_api_and_version_checks(host: Any) -> None:
    case = host.food_case(accept=False)
    client = host.client("wangfang")
    headers = {"X-CSRF-Token": CSRF}
    stale = client.post(f"/api/v1/cases/{case.tracking_code}/commands/accept",
                        json={"version": case.version - 1}, headers=headers)
    assert stale.status_code == 409
    accepted = client.post(f"/api/v1/cases/{case.tracking_code}/commands/accept",
                           json={"version": case.version}, headers=headers)
    assert accepted.status_code == 200 and accepted.json()["state"] == "in_review"
    again = client.post(f"/api/v1/cases/{case.tracking_code}/commands/accept", json={},
                        headers=headers)
    assert again.status_code == 409 and again.json()["type"].endswith("invalid-transition")


def test_department_tasks_and_the_decision_of_a_reviewer(host: Any) -> None:
    case = host.food_case()
    client = host.client("liming")
    queue = client.get("/api/v1/tasks").json()
    assert [e["case"]["tracking_code"] for e in queue["items"]] == [case.tracking_code]
    task = queue["items"][0]["task"]["id"]
    decided = client.post(f"/api/v1/cases/{case.tracking_code}/tasks/{task}/decision",
                          json={"approve": True}, headers={"X-CSRF-Token": CSRF})
    assert decided.status_code == 200
    assert client.get("/api/v1/tasks").json()["items"] == []


def test_legacy_systems_push_decisions_and_results_as_their_department(host: Any) -> None:
    case = host.food_case()
    samr = next(t for t in case.open_tasks if t.department == "11230100013114525L")
    health = next(t for t in case.open_tasks if t.department != samr.department)
    client = host.client()
    client.cookies.clear()
    wrong = client.post("/api/v1/callbacks/decisions",
                        json={"task_id": health.id, "approved": True},
                        headers=bearer(SYSTEM_TOKEN))
    assert wrong.status_code == 403 and wrong.json()["rule"]
    system = host.platform.session(govsvc.Principal.department_system(
        "11230100013114525L", "samr-system",
        auth=govsvc.Authentication(provider="host-api-token", subject="samr-system")))
    assert system.can(govsvc.Action.REVIEW_RECORD, (case, samr.id))
    pushed = client.post("/api/v1/callbacks/decisions",
                         json={"task_id": samr.id, "approved": True, "decided_by": "李明"},
                         headers=bearer(SYSTEM_TOKEN))
    assert pushed.status_code == 200, pushed.text
    host.session("zhaomin").reviews.decide(case.id, health.id, approve=True)
    result = client.post("/api/v1/callbacks/results",
                         json={"case": case.tracking_code,
                               "result": {"name": "食品经营许可证", "number": "JY1"}},
                         headers=bearer(SYSTEM_TOKEN))
    assert result.status_code == 200 and result.json()["state"] == "result_ready"


def test_a_channel_token_may_track_but_not_read_cases(host: Any) -> None:
    case = host.shop_case()
    client = host.client()
    client.cookies.clear()
    tracked = client.get("/api/v1/track", params={"code": case.tracking_code, "suffix": "0316"},
                         headers=bearer(CHANNEL_TOKEN))
    assert tracked.status_code == 200 and tracked.json()["state"] == "submitted"
    assert tracked.json()["applicant_name"] == "张*"
    read = client.get(f"/api/v1/cases/{case.tracking_code}", headers=bearer(CHANNEL_TOKEN))
    assert read.status_code == 403


def test_healthz_and_metrics(host: Any) -> None:
    client = host.client()
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "up", "departments": {}}
    host.food_case()
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    assert 'govsvc_outbox_pending{topic="review.open"} 2.0' in text
    assert "govsvc_outbox_oldest_age_seconds" in text
    assert 'govsvc_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "govsvc_http_request_seconds_bucket" in text


def test_openapi_documents_problems(host: Any) -> None:
    schema = host.client().get("/openapi.json").json()
    paths = schema["paths"]
    assert "/api/v1/applications" in paths and "/healthz" in paths
    assert "/window" not in paths  # pages are not API
    responses = paths["/api/v1/applications"]["post"]["responses"]
    assert "application/problem+json" in responses["403"]["content"]
    assert "application/problem+json" in responses["422"]["content"]
    assert "Problem" in schema["components"]["schemas"]


def test_text_the_database_cannot_store_is_422_not_500(host: Any) -> None:
    client = host.client()
    client.cookies.clear()
    pushed = client.post("/api/v1/callbacks/decisions", json={"task_id": "\x00", "approved": True},
                         headers=bearer(SYSTEM_TOKEN))
    assert pushed.status_code == 422
    assert pushed.json()["errors"][0]["field"] == "body.task_id"
    queue = client.get("/api/v1/tasks", params={"department": "\x00"},
                       headers=bearer(SYSTEM_TOKEN))
    assert queue.status_code == 422 and "NUL" in queue.json()["detail"]


def test_identity_provider_plugins_vouch_for_applicants(tmp_path: Any) -> None:
    """A token verified by a plugin's govsvc_identity_providers entry acts as that person."""
    from govsvc_host.app import create_app
    from govsvc_host.settings import Settings
    from starlette.testclient import TestClient

    class Province:
        @govsvc.hookimpl
        def govsvc_identity_providers(self) -> list[govsvc.IdentityProvider]:
            tokens = {"t-zhang": govsvc.PartyKey.of("230103198503120316")}
            return [govsvc.IdentityProvider(name="hlj-app", label="黑龙江全省事一网通办",
                                            verify=tokens.get)]

    platform = govsvc.Platform.open(f"sqlite:///{tmp_path / 'p.db'}", load_entry_points=False,
                                    plugins=[Province()], provisional_calendar=True)
    platform.system().catalogue.import_items(govsvc.load_sample_catalogue())
    platform.system().parties.register(
        govsvc.Person(key=govsvc.PartyKey.of("230103198503120316"), name="张伟"))
    app = create_app(platform, Settings(database_url=f"sqlite:///{tmp_path / 'p.db'}",
                                        materials_dir=tmp_path / "m"))
    with TestClient(app) as client:
        headers = {"Authorization": "Bearer t-zhang", "X-Identity-Provider": "hlj-app"}
        created = client.post("/api/v1/applications", json=application(), headers=headers)
        assert created.status_code == 201, created.text
        case = platform.system().cases.get(created.json()["id"])
        assert case.applicant == govsvc.PartyKey.of("230103198503120316")
        trail = client.get(f"/api/v1/cases/{case.tracking_code}/trail", headers=headers)
        assert trail.json()["events"][0]["actor"]["label"] == "申请人 张伟"
        wrong = client.get("/api/v1/cases", headers={**headers, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        unknown = client.get("/api/v1/cases", headers={**headers, "X-Identity-Provider": "x"})
        assert unknown.status_code == 401
    platform.close()


def test_the_look_up_fast_path_answers_like_the_documented_route(host: Any) -> None:
    client = host.client()
    client.cookies.clear()
    missing = client.get("/api/v1/track", params={"code": "ABCD"})
    assert missing.status_code == 422
    assert {e["field"] for e in missing.json()["errors"]} == {"query.suffix"}
    assert missing.headers["content-type"] == "application/problem+json"
    unknown = client.get("/api/v1/track", params={"code": "ABCD", "suffix": "1234"})
    assert unknown.status_code == 404 and unknown.json()["status"] == 404
    assert 'route="/api/v1/track",status="404"' in client.get("/metrics").text
