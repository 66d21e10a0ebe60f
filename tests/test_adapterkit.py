"""The adapter kit (govsvc.adapterkit) and the loopback test server (govsvc.testing.serve_app)."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import json
import re
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import attrs
import httpx
import pytest
from pytest_httpx import HTTPXMock

from govsvc import AdapterProtocolError, AdapterUnavailable, InvalidInput
from govsvc.adapterkit import (
    BEIJING,
    JsonNode,
    LegacyClient,
    LegacySystem,
    PerLoopClient,
    excerpt,
    flat_form,
    is_http_url,
    is_positive_seconds,
    json_form,
    read_json,
    seconds_from_env,
    tls_context,
)
from govsvc.testing import refused_url, serve_app

CODE = "11230100013114525L"
SYSTEM = LegacySystem(department=CODE, name="示例局")
BASE = "http://legacy.test"

T = TypeVar("T")


def run(make: Callable[[httpx.AsyncClient], Awaitable[T]], *, timeout: float = 5.0) -> T:
    async def go() -> T:
        async with httpx.AsyncClient(base_url=BASE, timeout=timeout) as http:
            return await make(http)

    return asyncio.run(go())


def body(value: Any) -> JsonNode:
    return SYSTEM.read_json(json.dumps(value, ensure_ascii=False).encode(), "lookup")


def malformed(read: Callable[[], object]) -> AdapterProtocolError:
    with pytest.raises(AdapterProtocolError) as caught:
        read()
    assert caught.value.department == CODE
    assert caught.value.operation == "lookup"
    return caught.value


# --- reading JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"<html>502</html>", b"", b'{"a": ', b"\xff\xfe"])
def test_a_body_that_is_not_json_is_malformed_at_the_root(raw: bytes) -> None:
    error = malformed(lambda: SYSTEM.read_json(raw, "lookup"))
    assert error.path == "$"
    assert "示例局 answered lookup with a malformed body: the answer is not JSON" in str(error)


def test_read_json_works_without_a_legacy_system_object() -> None:
    root = read_json(b'{"a": 1}', department=CODE, operation="lookup", name="示例局")
    assert root["a"].integer() == 1
    assert root.system == SYSTEM


def test_members_carry_their_path_into_errors() -> None:
    root = body({"data": {"list": [{"licNo": "A1"}, {"licNo": 7}]}})
    rows = root["data"]["list"].elements()
    assert rows[0]["licNo"].text() == "A1"
    error = malformed(lambda: rows[1]["licNo"].text())
    assert error.path == "$.data.list[1].licNo"
    assert str(error) == (
        "示例局 answered lookup with a malformed body: expected a string, got 7 (number) "
        "@ $.data.list[1].licNo"
    )


@pytest.mark.parametrize("value", [{}, {"name": None}])
def test_a_required_member_that_is_missing_or_null_is_malformed(value: dict[str, Any]) -> None:
    error = malformed(lambda: body(value)["name"])
    assert error.path == "$.name"
    assert "required field 'name' is missing or null" in str(error)


def test_optional_members_and_objects() -> None:
    root = body({"employer": None, "boss": {"name": "张伟"}, "oops": "x"})
    assert root.optional("employer") is None
    assert root.optional("absent") is None
    boss = root.optional("boss")
    assert boss is not None and boss["name"].text() == "张伟"
    assert malformed(lambda: root["oops"]["name"]).path == "$.oops"
    assert malformed(lambda: body([1])["a"]).path == "$"
    assert malformed(lambda: root["boss"].elements()).path == "$.boss"


def test_text_is_non_empty_and_trimmed_string_is_as_sent() -> None:
    root = body({"name": "  张伟 ", "blank": "  ", "empty": ""})
    assert root["name"].text() == "张伟"
    assert root["name"].string() == "  张伟 "
    assert root["empty"].string() == ""
    assert "non-empty" in str(malformed(lambda: root["blank"].text()))


def test_text_with_a_pattern_says_what_was_expected() -> None:
    digits = re.compile(r"\d{6}")
    root = body({"code": "230100", "bad": "23010X", "long": "2301001"})
    assert root["code"].text(digits) == "230100"
    error = malformed(lambda: root["bad"].text(digits, what="a division code"))
    assert "expected a division code, got '23010X'" in str(error)
    assert error.path == "$.bad"
    # The whole text must match, not only its start.
    assert r"\d{6}" in str(malformed(lambda: root["long"].text(digits)))


def test_optional_text_texts_and_text_maps() -> None:
    root = body({"reason": " 照片不合格 ", "none": None, "items": ["a", "b"], "face": {"x": ""}})
    assert root.optional_text("reason") == "照片不合格"
    assert root.optional_text("none") == root.optional_text("absent") == ""
    assert root["items"].texts() == ("a", "b")
    assert root["face"].text_map() == {"x": ""}
    assert malformed(lambda: body({"r": 5}).optional_text("r")).path == "$.r"
    assert malformed(lambda: body({"l": ["a", ""]})["l"].texts()).path == "$.l[1]"


@pytest.mark.parametrize("value", ["3250", 3250.0, True, None])
def test_integer_refuses_anything_but_a_whole_json_number(value: object) -> None:
    assert body({"n": 3250})["n"].integer() == 3250
    assert "an integer" in str(
        malformed(lambda: JsonNode(value, "$.n", SYSTEM, "lookup").integer())
    )


def test_number_and_decimal() -> None:
    root = body({"f": 7200, "g": 0.5, "amount": "50.10", "n": 12.5, "t": True, "x": "abc"})
    assert root["f"].number() == 7200.0 and root["g"].number() == 0.5
    assert root["amount"].decimal() == Decimal("50.10")
    assert root["n"].decimal() == Decimal("12.5")
    assert "a number" in str(malformed(lambda: root["amount"].number()))
    assert "decimal" in str(malformed(lambda: root["t"].decimal()))
    assert "decimal" in str(malformed(lambda: root["x"].decimal()))
    assert "finite" in str(malformed(lambda: body({"i": "Infinity"})["i"].decimal()))


@pytest.mark.parametrize(
    ("text", "message"),
    [("2019/04/18", "YYYY-MM-DD"), ("20190418", "YYYY-MM-DD"), ("2019-02-30", "real date")],
)
def test_dates_are_written_yyyy_mm_dd(text: str, message: str) -> None:
    assert body({"d": "2019-04-18"})["d"].date() == dt.date(2019, 4, 18)
    assert message in str(malformed(lambda: body({"d": text})["d"].date()))


def test_times_without_an_offset_are_beijing_time() -> None:
    root = body({"a": "2024-01-05 08:26", "b": "2024-01-05T08:26:00+00:00", "c": "05/01/2024"})
    assert root["a"].datetime() == dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING)
    assert root["a"].datetime().utcoffset() == dt.timedelta(hours=8)
    assert root["b"].datetime() == dt.datetime(2024, 1, 5, 8, 26, tzinfo=dt.UTC)
    assert "YYYY-MM-DD HH:MM:SS" in str(malformed(lambda: root["c"].datetime()))


def test_a_system_that_always_sends_offsets_can_insist_on_them() -> None:
    root = body({"a": "2024-01-05T08:26:00", "b": "2024-01-05T08:26:00+08:00"})
    assert root["b"].datetime(assume=None).utcoffset() == dt.timedelta(hours=8)
    error = malformed(lambda: root["a"].datetime(assume=None))
    assert "with an offset" in str(error)
    assert error.path == "$.a"


class Status(enum.Enum):
    ACTIVE = "存续"
    CANCELLED = "注销"


def test_enums_are_read_by_value_and_a_stranger_lists_the_allowed_values() -> None:
    assert body({"s": "注销"})["s"].enum(Status) is Status.CANCELLED
    error = malformed(lambda: body({"s": "在业"})["s"].enum(Status))
    assert "expected one of '存续', '注销', got '在业'" in str(error)


@attrs.frozen
class Period:
    start: int
    end: int = attrs.field()

    @end.validator
    def _after_start(self, _: attrs.Attribute[int], value: int) -> None:
        if value < self.start:
            raise ValueError(f"the period ends ({value}) before it starts ({self.start})")


def test_build_turns_a_broken_invariant_into_a_malformed_answer_at_the_node() -> None:
    node = body({"p": {"start": 3, "end": 1}})["p"]
    assert node.build(Period, start=1, end=3) == Period(1, 3)
    error = malformed(lambda: node.build(Period, start=3, end=1))
    assert error.path == "$.p"
    assert "ends (1) before it starts (3)" in str(error)


def test_error_returns_and_fail_raises() -> None:
    node = body({"page": 2})["page"]
    error = node.error("asked for page 1, got 2")
    assert isinstance(error, AdapterProtocolError) and error.path == "$.page"
    assert malformed(lambda: node.fail("nope")).path == "$.page"


def test_excerpt_is_one_short_line() -> None:
    assert excerpt(b"<html>\n  <b>busy</b>\n</html>") == "<html> <b>busy</b> </html>"
    assert excerpt("x" * 300, 10) == "x" * 10 + "…"
    assert excerpt(b"\xff ok") == "\ufffd ok"


# --- sending requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (httpx.ReadTimeout("slow"), r"示例局 did not answer within 5 s \(ReadTimeout\)"),
        (httpx.ConnectTimeout("slow"), r"did not answer within 2 s \(ConnectTimeout\)"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "refused the connection"),
        (httpx.RemoteProtocolError("peer closed connection"), "broke off the exchange"),
    ],
)
def test_transport_failures_mean_unavailable(
    httpx_mock: HTTPXMock, failure: Exception, message: str
) -> None:
    httpx_mock.add_exception(failure)

    async def call(http: httpx.AsyncClient) -> httpx.Response:
        http.timeout = httpx.Timeout(5.0, connect=2.0)
        return await SYSTEM.send(http, "lookup", "GET", "/x")

    with pytest.raises(AdapterUnavailable, match=message) as caught:
        run(call)
    assert str(caught.value).endswith("; try again later")
    assert (caught.value.department, caught.value.operation) == (CODE, "lookup")


def test_endless_redirects_are_a_protocol_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.TooManyRedirects("Exceeded maximum allowed redirects."))
    with pytest.raises(AdapterProtocolError, match="redirects"):
        run(lambda http: SYSTEM.send(http, "lookup", "GET", "/x"))


def test_send_passes_options_and_returns_any_answer(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url=f"{BASE}/tasks?x=1",
        match_headers={"Idempotency-Key": "T-1"},
        match_json={"a": 1},
        status_code=404,
        json={"code": "2001"},
    )
    response = run(
        lambda http: SYSTEM.send(
            http,
            "open_review",
            "POST",
            "/tasks",
            params={"x": "1"},
            json={"a": 1},
            headers={"Idempotency-Key": "T-1"},
        )
    )
    assert response.status_code == 404


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_overload_and_server_errors_mean_unavailable(httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(status_code=status, headers={"Retry-After": "30"}, text="busy")
    response = run(lambda http: http.get("/x"))
    with pytest.raises(AdapterUnavailable, match=rf"HTTP {status} \(Retry-After: 30 s\): busy"):
        SYSTEM.check_available(response, "lookup")
    with pytest.raises(AdapterUnavailable):
        SYSTEM.check_status(response, "lookup")


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422])
def test_other_client_errors_are_protocol_errors_naming_status_and_body(
    httpx_mock: HTTPXMock, status: int
) -> None:
    httpx_mock.add_response(status_code=status, json={"message": "参数错误"})
    response = run(lambda http: http.get("/x"))
    SYSTEM.check_available(response, "lookup")  # not an outage
    with pytest.raises(AdapterProtocolError) as caught:
        SYSTEM.check_status(response, "lookup", hint="; check the API key")
    assert str(caught.value) == (
        f'示例局 refused lookup with HTTP {status}: {{"message":"参数错误"}}; check the API key @ $'
    )
    assert SYSTEM.refused(response, "lookup", path="/").path == "/"


def test_a_redirect_points_at_the_base_url(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=302, headers={"Location": "https://sso.example/login"})
    response = run(lambda http: http.get("/x"))
    with pytest.raises(AdapterProtocolError, match=r"redirect to https://sso\.example/login"):
        SYSTEM.check_status(response, "lookup")


def test_successful_answers_pass(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=201, json={})
    SYSTEM.check_status(run(lambda http: http.get("/x")), "lookup")


def test_a_legacy_system_needs_a_code_and_a_name() -> None:
    with pytest.raises(InvalidInput, match="name"):
        LegacySystem(department=CODE, name=" ")
    error = SYSTEM.protocol_error("lookup", "answered a query on 2301********0316 with another")
    assert (error.path, error.department, error.operation) == ("$", CODE, "lookup")
    assert SYSTEM.unavailable("lookup", "is down").args[0] == "示例局 is down; try again later"


# --- clients and event loops -----------------------------------------------------------------


class Client(LegacyClient):
    made: ClassVar[list[Client]] = []

    def __init__(self) -> None:
        super().__init__(BASE, timeout=1.5, headers={"X-Api-Key": "k"})
        self.loop = asyncio.get_running_loop()
        Client.made.append(self)


def test_a_legacy_client_closes_its_pool() -> None:
    async def use() -> Client:
        async with Client() as client:
            assert not client._http.is_closed
            assert client._http.base_url == BASE
            assert client._http.timeout == httpx.Timeout(1.5)
            assert client._http.headers["X-Api-Key"] == "k"
        return client

    assert asyncio.run(use())._http.is_closed


def test_one_client_per_event_loop_created_on_first_use() -> None:
    Client.made.clear()
    clients = PerLoopClient(Client)
    assert len(clients) == 0 and not Client.made  # nothing before the first call
    with pytest.raises(RuntimeError):
        clients.get()  # outside a loop there is nothing to bind a client to

    async def twice() -> tuple[Client, int, bool]:
        first = clients.get()
        assert clients.get() is first and first.loop is asyncio.get_running_loop()
        count = len(clients)
        await clients.aclose()
        await clients.aclose()  # nothing left to close: harmless
        return first, count, first._http.is_closed

    one, count, closed = asyncio.run(twice())
    assert (count, closed) == (1, True)
    two, _, _ = asyncio.run(twice())
    assert two is not one and len(Client.made) == 2


def test_tls_context_is_shared() -> None:
    assert tls_context() is tls_context()


# --- configuration ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Config:
    base_url: str = attrs.field(default="http://127.0.0.1:8199", validator=is_http_url)
    timeout: float = attrs.field(default=5.0, converter=float, validator=is_positive_seconds)


def test_configuration_validators_say_what_to_fix() -> None:
    assert Config(base_url="https://10.0.0.7:8443/gw", timeout="2.5").timeout == 2.5
    with pytest.raises(
        InvalidInput,
        match=r"base_url must be an http\(s\) address such as "
        r"http://127\.0\.0\.1:8199, got '10\.0\.0\.7:8443'",
    ):
        Config(base_url="10.0.0.7:8443")
    with pytest.raises(InvalidInput, match="timeout must be a number of seconds above 0"):
        Config(timeout=0)


def test_seconds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert seconds_from_env({}, "GOVSVC_X_TIMEOUT", 2.0) == 2.0
    assert seconds_from_env({"GOVSVC_X_TIMEOUT": "0.5"}, "GOVSVC_X_TIMEOUT", 2.0) == 0.5
    monkeypatch.setenv("GOVSVC_X_TIMEOUT", "7")
    assert seconds_from_env(None, "GOVSVC_X_TIMEOUT", 2.0) == 7.0
    with pytest.raises(
        InvalidInput, match="GOVSVC_X_TIMEOUT must be a number of seconds such as 2, got '2s'"
    ):
        seconds_from_env({"GOVSVC_X_TIMEOUT": "2s"}, "GOVSVC_X_TIMEOUT", 2.0)


# --- forms -----------------------------------------------------------------------------------


FORM = {
    "name": "孙悦",
    "born": dt.date(2024, 1, 5),
    "weight": 3250,
    "fee": Decimal("12.50"),
    "twins": False,
    "rooms": ["A", "B"],
    "note": None,
}


def test_json_form_is_plain_sorted_json() -> None:
    assert json_form(FORM) == {
        "born": "2024-01-05",
        "fee": "12.50",
        "name": "孙悦",
        "note": None,
        "rooms": ["A", "B"],
        "twins": False,
        "weight": 3250,
    }
    assert list(json_form({"b": 1, "a": 2})) == ["a", "b"]


def test_flat_form_keeps_text_numbers_and_dates_and_spells_out_the_rest() -> None:
    assert flat_form(FORM) == {
        "name": "孙悦",
        "born": dt.date(2024, 1, 5),
        "weight": 3250,
        "fee": "12.50",
        "twins": "false",
        "rooms": '["A", "B"]',
    }


# --- the loopback test server ----------------------------------------------------------------


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": scope["path"].encode()})


def test_serve_app_serves_on_loopback_and_stops_listening_at_the_end() -> None:
    with serve_app(hello) as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        assert httpx.get(f"{url}/ping").text == "/ping"
        with serve_app(hello) as other:
            assert other != url
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/ping")


def test_refused_url_refuses() -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(refused_url())


def test_serve_app_without_uvicorn_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with (
        pytest.raises(ModuleNotFoundError, match=r"pip install 'govsvc\[dev\]'"),
        serve_app(hello),
    ):
        pass  # pragma: no cover
