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
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock

from govsvc import AdapterProtocolError, AdapterUnavailable, InvalidInput
from govsvc.adapterkit import (
    BEIJING,
    SOAP_ENVELOPE,
    CodeTable,
    DateFormat,
    JsonNode,
    LegacyClient,
    LegacySystem,
    PerLoopClient,
    XmlNode,
    excerpt,
    flat_form,
    is_http_url,
    is_positive_seconds,
    json_form,
    parse_legacy_date,
    parse_legacy_datetime,
    read_json,
    read_xml,
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


def test_excerpt_escapes_what_no_store_can_hold() -> None:
    assert excerpt("<b>\x00\ud800</b>") == "<b>\\u0000\\ud800</b>"
    assert excerpt("示例".encode("gbk"), encoding="gb18030") == "示例"


# --- charsets -------------------------------------------------------------------------------

GBK_BODY = '{"name": "张伟", "rare": "𠮷", "note": "中文"}'.encode("gb18030")


def response(content: bytes, content_type: str) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"Content-Type": content_type})


@pytest.mark.parametrize("declared", ["GBK", "gbk", "GB2312", '"gb2312"', "GB18030", "cp936"])
def test_a_gbk_answer_is_read_by_its_declared_charset_as_gb18030(declared: str) -> None:
    # 𠮷 is outside GBK: systems that declare GBK send GB18030, and the kit reads it so.
    root = SYSTEM.read_json(response(GBK_BODY, f"application/json; charset={declared}"), "lookup")
    assert (root["name"].text(), root["rare"].text()) == ("张伟", "𠮷")


def test_charset_given_by_the_adapter_overrides_the_header() -> None:
    lying = response(GBK_BODY, "application/json; charset=utf-8")
    assert SYSTEM.read_json(lying, "lookup", charset="gbk")["note"].text() == "中文"
    assert read_json(GBK_BODY, department=CODE, operation="lookup", charset="GBK")["name"]


def test_a_body_that_does_not_decode_names_the_charset_and_the_offset() -> None:
    bad = '{"name": "张伟'.encode("gbk") + b'\xff"}'
    error = malformed(
        lambda: SYSTEM.read_json(response(bad, "application/json;charset=GBK"), "lookup")
    )
    assert error.path == "$"
    assert (
        "the body is not GB18030 text (the declared charset gbk): byte(s) FF at offset 14"
        in str(error)
    )


def test_the_offset_counts_from_the_start_of_the_body_byte_order_mark_included() -> None:
    error = malformed(lambda: SYSTEM.read_json(b'\xef\xbb\xbf{"a": "\xff"}', "lookup"))
    assert "not UTF-8 text (its byte-order mark): byte(s) FF at offset 10" in str(error)


def test_gbk_sent_without_a_charset_says_how_to_read_it() -> None:
    error = malformed(lambda: SYSTEM.read_json(GBK_BODY, "lookup"))
    assert "the body is not UTF-8 text (no charset declared): byte(s) D5 at offset 10" in str(error)
    assert "it reads as GB18030: the system probably sends GBK without saying so" in str(error)
    assert "pass charset='gbk'" in str(error)


@pytest.mark.parametrize("declared", ["x-unknown", "base64", "rot13"])
def test_a_charset_python_does_not_know_as_text_is_malformed(declared: str) -> None:
    error = malformed(lambda: SYSTEM.read_json(b"{}", "lookup", charset=declared))
    assert f"the declared charset {declared!r} is not a text encoding Python knows" in str(error)


@pytest.mark.parametrize(
    ("raw", "marked"),
    [
        ('\ufeff{"a": "中"}'.encode(), True),
        ('{"a": "中"}'.encode("utf-16"), True),
        ('{"a": "中"}'.encode("utf-32"), True),
        ('{"a": "中"}'.encode("utf-16-le"), False),
    ],
)
def test_byte_order_marks_and_utf16_are_recognised(raw: bytes, marked: bool) -> None:
    assert SYSTEM.read_json(raw, "lookup")["a"].text() == "中"
    if marked:  # a byte-order mark outranks a declared charset (RFC 7303)
        assert SYSTEM.read_json(raw, "lookup", charset="gbk")["a"].text() == "中"


def test_text_with_a_byte_order_mark_is_json_too() -> None:
    assert SYSTEM.read_json('\ufeff{"a": 1}', "lookup")["a"].integer() == 1


def test_deeply_nested_json_is_malformed_not_a_recursion_error() -> None:
    error = malformed(lambda: SYSTEM.read_json(b"[" * 100_000, "lookup"))
    assert "nests lists and objects too deeply to read" in str(error)


@pytest.mark.parametrize(
    ("escape", "what"), [("\\u0000", "a NUL character"), ("\\ud800", "a lone surrogate")]
)
def test_text_no_store_can_hold_is_malformed_at_its_field(escape: str, what: str) -> None:
    root = SYSTEM.read_json(f'{{"name": "张{escape}伟", "map": {{"k{escape}": "v"}}}}', "lookup")
    error = malformed(lambda: root["name"].text())
    assert error.path == "$.name"
    assert f"the text contains {what}" in str(error)
    assert "\x00" not in str(error) and "\ud800" not in str(error)  # quoted as escapes
    assert "the member name" in str(malformed(lambda: root["map"].text_map()))


def test_error_pages_are_quoted_in_their_own_charset(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        status_code=503,
        content="系统维护中".encode("gbk"),
        headers={"Content-Type": "text/html; charset=GBK"},
    )
    with pytest.raises(AdapterUnavailable, match="answered HTTP 503: 系统维护中"):
        SYSTEM.check_status(run(lambda http: http.get("/x")), "lookup")


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=200) | st.sampled_from(["中文".encode("gbk"), b"\xff\xfe\x00", b"[" * 5000]),
    st.sampled_from([None, "utf-8", "GBK", "gb2312", "utf-16", "latin-1", "nope"]),
)
def test_fuzz_any_body_in_any_charset_is_a_node_or_a_protocol_error(
    raw: bytes, charset: str | None
) -> None:
    for read in (SYSTEM.read_json, SYSTEM.read_xml):
        try:
            node = read(raw, "lookup", charset=charset)
        except AdapterProtocolError as exc:
            assert exc.department == CODE and exc.path in ("$", "/")
        else:
            assert isinstance(node, JsonNode | XmlNode)


# --- legacy dates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "19850312",
        "1985-03-12",
        "1985/03/12",
        "1985/3/12",
        "1985年3月12日",
        "1985年03月12日",
        " 19850312 ",
        "1985-03-12 00:00:00",
        "1985-03-12T00:00",
        "19850312000000",
        "1985/3/12 0:00:00",
    ],
)
def test_legacy_dates_are_read_in_every_form(text: str) -> None:
    assert parse_legacy_date(text, "csrq") == dt.date(1985, 3, 12)
    assert body({"csrq": text})["csrq"].date(formats=DateFormat.LEGACY) == dt.date(1985, 3, 12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20240105082600", dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING)),
        ("2024-01-05 08:26:00", dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING)),
        ("2024-01-05T08:26:00.250", dt.datetime(2024, 1, 5, 8, 26, 0, 250000, tzinfo=BEIJING)),
        ("2024-01-05T00:26:00Z", dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING)),
        ("2024-01-05T01:26:00+0100", dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING)),
        ("2024/1/5 8:26", dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING)),
        ("2024年1月5日 08:26:00", dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING)),
        ("2024年1月5日8:26", dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING)),
        ("20240105", dt.datetime(2024, 1, 5, tzinfo=BEIJING)),
    ],
)
def test_legacy_times_are_aware_and_naive_ones_are_china_time(
    text: str, expected: dt.datetime
) -> None:
    value = parse_legacy_datetime(text, "createTime")
    assert value == expected and value.tzinfo is not None
    assert body({"t": text})["t"].datetime(formats=DateFormat.LEGACY) == expected


def test_date_errors_name_the_field_and_the_formats_accepted() -> None:
    with pytest.raises(
        InvalidInput,
        match=r"^csrq: expected a date written YYYY-MM-DD, YYYYMMDD, YYYY/MM/DD or YYYY年M月D日, "
        r"got '1985\.03\.12'$",
    ):
        parse_legacy_date("1985.03.12", "csrq")
    with pytest.raises(InvalidInput, match=r"^\$\.csrq: expected a real date written"):
        parse_legacy_date("19850231", "$.csrq")
    with pytest.raises(InvalidInput, match="without a time of day"):
        parse_legacy_date("1985-03-12 10:00", "csrq")
    with pytest.raises(
        InvalidInput, match=r"^csrq: expected a date written YYYYMMDD or YYYY年M月D日"
    ):
        parse_legacy_date("1985-03-12", "csrq", formats=DateFormat.COMPACT | DateFormat.CHINESE)
    with pytest.raises(InvalidInput, match="formats must name at least one DateFormat"):
        parse_legacy_date("1985-03-12", "csrq", formats=DateFormat(0))


def test_time_errors_name_the_field_the_formats_and_the_offset_rule() -> None:
    with pytest.raises(
        InvalidInput,
        match=r"^t: expected a time written YYYY-MM-DD HH:MM:SS, YYYYMMDDHHMMSS, YYYY/MM/DD "
        r"HH:MM:SS or YYYY年M月D日 HH:MM:SS, got '05/01/2024'$",
    ):
        parse_legacy_datetime("05/01/2024", "t")
    with pytest.raises(InvalidInput, match="a real date and time"):
        parse_legacy_datetime("2024-01-05T25:00", "t")
    with pytest.raises(InvalidInput, match="a real date and time"):
        parse_legacy_datetime("2024-01-05T08:00+25:00", "t")
    with pytest.raises(InvalidInput, match="with an offset such as 2025-03-02T10:00:00"):
        parse_legacy_datetime("20240105082600", "t", assume=None)
    utc = parse_legacy_datetime("20240105082600", "t", assume=dt.UTC)
    assert utc.utcoffset() == dt.timedelta(0)


def test_nodes_read_iso_only_unless_told_and_errors_carry_the_path() -> None:
    root = body({"d": "20190418", "t": "20190418103000"})
    error = malformed(lambda: root["d"].date())
    assert (error.path, 'expected a date written YYYY-MM-DD, got "20190418"' in str(error)) == (
        "$.d",
        True,
    )
    assert root["d"].date(formats=DateFormat.ISO | DateFormat.COMPACT) == dt.date(2019, 4, 18)
    assert "YYYYMMDDHHMMSS" not in str(malformed(lambda: root["t"].datetime()))
    assert root["t"].datetime(formats=DateFormat.LEGACY).hour == 10


# --- code tables ------------------------------------------------------------------------------

SEX = CodeTable("性别 (GB/T 2261.1)", {"1": "male", "2": "female"}, unknown={"0", "9"})


class Sex(enum.Enum):
    MALE = "1"
    FEMALE = "2"


def test_a_code_table_maps_codes_and_reads_not_recorded_as_none() -> None:
    assert (SEX["1"], SEX[" 2 "], SEX[2]) == ("male", "female", "female")
    assert (SEX.get("9"), SEX.get("0"), SEX.get(""), SEX.get(None), SEX.get("1")) == (
        None,
        None,
        None,
        None,
        "male",
    )


def test_a_code_table_names_the_table_the_code_and_the_known_codes() -> None:
    with pytest.raises(InvalidInput) as caught:
        SEX["3"]
    assert str(caught.value) == (
        "'3' is not a code of 性别 (GB/T 2261.1); known codes: 1 (male), 2 (female); "
        "0, 9 mean not recorded"
    )
    with pytest.raises(InvalidInput, match="'3' is not a code of"):
        SEX.get("3")
    with pytest.raises(InvalidInput, match=r"code '9' of 性别 .* means the value is not recorded"):
        SEX["9"]
    with pytest.raises(InvalidInput, match="got an empty one"):
        SEX["  "]
    with pytest.raises(InvalidInput, match="a code is text or a whole number, got bool"):
        SEX[True]


def test_a_code_table_with_a_default_takes_every_other_code() -> None:
    kinds = CodeTable("证件类型", {"01": "resident_id"}, default="other")
    assert (kinds["01"], kinds["77"], kinds.get("77")) == ("resident_id", "other", "other")


def test_a_long_code_table_is_shortened_in_messages() -> None:
    table = CodeTable("民族", {f"{i:02d}": f"族{i}" for i in range(1, 58)})
    assert table.known(limit=2) == "01 (族1), 02 (族2), … (57 codes in all)"


@pytest.mark.parametrize(
    ("codes", "unknown", "message"),
    [
        ({}, (), "needs at least one code"),
        ({" 1": "male"}, (), "without surrounding white space"),
        ({"1": "male"}, ("1",), "both mapped and listed as unknown"),
        ({"1": "male"}, ("",), "non-empty text"),
    ],
)
def test_a_code_table_is_written_correctly_or_not_at_all(
    codes: dict[str, str], unknown: tuple[str, ...], message: str
) -> None:
    with pytest.raises((InvalidInput, ValueError), match=message):
        CodeTable("性别", codes, unknown=unknown)


def test_nodes_read_codes_with_the_path_in_the_error() -> None:
    root = body({"xb": 1, "xb2": "2", "bad": "3", "blank": "9", "none": None})
    assert (root["xb"].code(SEX), root["xb2"].code(SEX)) == ("male", "female")
    error = malformed(lambda: root["bad"].code(SEX))
    assert error.path == "$.bad" and "'3' is not a code of 性别 (GB/T 2261.1)" in str(error)
    assert malformed(lambda: root["blank"].code(SEX)).path == "$.blank"
    assert [root.optional_code(k, SEX) for k in ("blank", "none", "absent", "xb")] == [
        None,
        None,
        None,
        "male",
    ]
    assert malformed(lambda: root.optional_code("bad", SEX)).path == "$.bad"
    assert "expected a string" in str(malformed(lambda: body({"x": 1.5})["x"].code(SEX)))


# --- reading XML ------------------------------------------------------------------------------

ENVELOPE = f"""<?xml version="1.0" encoding="GBK"?>
<soap:Envelope xmlns:soap="{SOAP_ENVELOPE}"
               xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <soap:Body>
    <hk:QueryResponse xmlns:hk="urn:hukou">
      <hk:item id="A1"><name> 张伟 </name><csrq>19850312</csrq><xb>1</xb><n>12</n>
        <ok>true</ok><fee>12.50</fee><at>2024-01-05 08:26:00</at></hk:item>
      <item><name>王𠮷</name><csrq>1985年3月2日</csrq><xb>9</xb><spouse xsi:nil="true"/>
        <n>x</n><ok>maybe</ok><fee>lots</fee><at>yesterday</at></item>
    </hk:QueryResponse>
  </soap:Body>
</soap:Envelope>
""".encode("gb18030")


def xml(raw: bytes | str | httpx.Response = ENVELOPE, **options: Any) -> XmlNode:
    return SYSTEM.read_xml(raw, "lookup", **options)


def test_read_xml_works_without_a_legacy_system_object() -> None:
    root = read_xml(b"<a><b>1</b></a>", department=CODE, operation="lookup", name="示例局")
    assert root["b"].integer() == 1 and root.system == SYSTEM


def items() -> list[XmlNode]:
    return xml().soap_body()["QueryResponse"].children("item")


def test_xml_declared_gbk_is_read_and_paths_follow_xpath() -> None:
    root = xml()
    assert (root.path, root.name, root.namespace) == ("/Envelope", "Envelope", SOAP_ENVELOPE)
    first, second = items()
    assert [first.path, second.path] == [
        "/Envelope/Body/QueryResponse/item[1]",
        "/Envelope/Body/QueryResponse/item[2]",
    ]
    assert (first["name"].text(), second["name"].text()) == ("张伟", "王𠮷")
    assert first["name"].string() == " 张伟 "
    error = malformed(lambda: second["n"].integer())
    assert error.path == "/Envelope/Body/QueryResponse/item[2]/n"
    assert str(error) == (
        "示例局 answered lookup with a malformed body: expected a whole number, got 'x' "
        "@ /Envelope/Body/QueryResponse/item[2]/n"
    )


def test_xml_charset_order_is_bom_then_header_then_declaration() -> None:
    utf8_declared = '<?xml version="1.0" encoding="UTF-8"?><a>中文</a>'.encode("gbk")
    assert xml(response(utf8_declared, "text/xml; charset=GBK")).text() == "中文"
    assert xml(utf8_declared, charset="gb2312").text() == "中文"
    error = malformed(lambda: xml(utf8_declared))
    assert error.path == "/"
    assert "not UTF-8 text (the XML declaration's encoding UTF-8)" in str(error)
    assert xml("<a>中文</a>".encode("utf-16")).text() == "中文"
    assert xml(codecs_bom_utf8() + "<a>中文</a>".encode()).text() == "中文"
    assert xml('<?xml version="1.0" encoding="UTF-16"?><a>中</a>'.encode("utf-16-le")).text()


def codecs_bom_utf8() -> bytes:
    return b"\xef\xbb\xbf"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<a>", "not well-formed XML (no element found: line 1, column 3)"),
        (b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "carries a DTD or an entity declaration"),
        (b'<?xml version="1.0" encoding="klingon"?><a/>', "'klingon' is not a text encoding"),
        (b"<a>&#0;</a>", "not well-formed XML"),
        ("<a>\ud800</a>", "cannot be read as XML"),
    ],
)
def test_unreadable_xml_is_malformed_at_the_root(raw: bytes | str, message: str) -> None:
    error = malformed(lambda: xml(raw))
    assert error.path == "/" and message in str(error)


def test_xml_children_optional_nil_and_attributes() -> None:
    first, second = items()
    response_node = xml().soap_body()["QueryResponse"]
    assert response_node.optional("nothing") is None
    assert second.optional("spouse") is None and second.optional_text("spouse") == ""
    assert "required element <spouse> is nil" in str(malformed(lambda: second["spouse"]))
    missing = malformed(lambda: first["spouse"])
    assert missing.path == "/Envelope/Body/QueryResponse/item[1]/spouse"
    assert "required element <spouse> is missing" in str(missing)
    twice = malformed(lambda: response_node["item"])
    assert "expected one <item>, found 2" in str(twice)
    assert (first.attribute("id"), first.optional_attribute("x")) == ("A1", None)
    assert "required attribute 'x' is missing" in str(malformed(lambda: first.attribute("x")))
    assert [c.path.rsplit("/", 1)[1] for c in first.children()][:3] == [
        "name[1]",
        "csrq[1]",
        "xb[1]",
    ]
    assert "got an element holding <item>, <item>" in str(malformed(lambda: response_node.text()))
    assert response_node.texts("nothing") == ()


def test_xml_names_match_any_namespace_unless_qualified() -> None:
    body_node = xml().soap_body()
    assert body_node["{urn:hukou}QueryResponse"].name == "QueryResponse"
    assert len(body_node["QueryResponse"].children("{urn:hukou}item")) == 1  # only the first
    assert body_node.optional("{urn:other}QueryResponse") is None


def test_xml_typed_accessors() -> None:
    first, second = items()
    assert first["csrq"].date(formats=DateFormat.LEGACY) == dt.date(1985, 3, 12)
    assert second["csrq"].date(formats=DateFormat.LEGACY) == dt.date(1985, 3, 2)
    assert "expected a date written YYYY-MM-DD" in str(malformed(lambda: first["csrq"].date()))
    assert first["at"].datetime() == dt.datetime(2024, 1, 5, 8, 26, tzinfo=BEIJING)
    assert "a time written" in str(malformed(lambda: second["at"].datetime()))
    assert (first["n"].integer(), first["ok"].boolean(), first["fee"].decimal()) == (
        12,
        True,
        Decimal("12.50"),
    )
    assert "true, false, 1 or 0" in str(malformed(lambda: second["ok"].boolean()))
    assert "a decimal number" in str(malformed(lambda: second["fee"].decimal()))
    assert first["xb"].code(SEX) == "male" and second.optional_code("xb", SEX) is None
    assert "not recorded" in str(malformed(lambda: second["xb"].code(SEX)))
    assert first["xb"].enum(Sex) is Sex.MALE
    assert "expected one of '存续', '注销'" in str(malformed(lambda: first["xb"].enum(Status)))
    assert first.build(Period, start=1, end=first["n"].integer()) == Period(1, 12)
    assert "ends (1) before" in str(malformed(lambda: first.build(Period, start=3, end=1)))
    assert first.texts("name") == ("张伟",)
    assert "a non-empty text" in str(malformed(lambda: xml(b"<a> </a>").text()))
    pattern = re.compile(r"\d{3}")
    assert "expected three digits, got '12'" in str(
        malformed(lambda: first["n"].text(pattern, what="three digits"))
    )


def test_soap_faults_are_read_with_their_code_and_detail() -> None:
    fault = (
        xml(
            f'<s:Envelope xmlns:s="{SOAP_ENVELOPE}"><s:Body><s:Fault>'
            "<faultcode>s:Client.Auth</faultcode><faultstring>密码错误</faultstring>"
            "<detail><error><code>BAD_PASSWORD</code></error></detail>"
            "</s:Fault></s:Body></s:Envelope>".encode()
        )
        .soap_body()
        .soap_fault()
    )
    assert fault is not None
    assert (fault.code, fault.kind, fault.message, fault.actor) == (
        "Client.Auth",
        "Client",
        "密码错误",
        "",
    )
    assert fault.detail is not None and fault.detail["error"]["code"].text() == "BAD_PASSWORD"
    assert fault.node.path == "/Envelope/Body/Fault"
    assert xml().soap_body().soap_fault() is None


@pytest.mark.parametrize(
    ("raw", "path", "message"),
    [
        (b"<a/>", "/", "the root element is 'a', not a SOAP 1.1 Envelope"),
        (
            b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>',
            "/",
            "not a SOAP 1.1 Envelope",
        ),
        (f'<e:Envelope xmlns:e="{SOAP_ENVELOPE}"/>'.encode(), "/Envelope/Body", "found 0"),
        (
            f'<e:Envelope xmlns:e="{SOAP_ENVELOPE}"><e:Body><e:Fault/></e:Body></e:Envelope>'.encode(),
            "/Envelope/Body/Fault/faultcode",
            "required element <faultcode> is missing",
        ),
    ],
)
def test_what_is_not_a_soap_11_envelope_is_malformed(raw: bytes, path: str, message: str) -> None:
    def read() -> object:
        return xml(raw).soap_body().soap_fault()

    error = malformed(read)
    assert error.path == path and message in str(error)


PSB_NS = "http://hukou.gaj.harbin.gov.cn/ws"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)


def test_the_household_register_simulator_reads_through_the_xml_reader() -> None:
    # The SOAP service of plugins/psb, which parses its envelopes by hand today.
    psb = pytest.importorskip("govsvc_psb.simulator", reason="the reference plugins come with make")
    envelope = (
        f'<soap:Envelope xmlns:soap="{SOAP_ENVELOPE}" xmlns:hk="{PSB_NS}" xmlns:wsse="{WSSE}">'
        "<soap:Header><wsse:Security><wsse:UsernameToken><wsse:Username>govsvc</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_TEXT}">hukou-sim</wsse:Password>'
        "</wsse:UsernameToken></wsse:Security></soap:Header>"
        "<soap:Body><hk:QueryPerson><hk:idNumber>230103198503120316</hk:idNumber>"
        "</hk:QueryPerson></soap:Body></soap:Envelope>"
    )
    with serve_app(psb.create_app()) as url:
        answer = httpx.post(
            f"{url}/ws",
            content=envelope.encode(),
            headers={
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": f'"{PSB_NS}/QueryPerson"',
            },
        )
    body = xml(answer).soap_body()
    assert body.soap_fault() is None
    person = body["QueryPersonResponse"]["person"]
    assert person.path == "/Envelope/Body/QueryPersonResponse/person"
    assert (person["name"].text(), person["sex"].code(SEX)) == ("张伟", "male")
    assert person["birthDate"].date() == dt.date(1985, 3, 12)


def test_every_public_name_of_the_kit_is_in_the_tutorial_table() -> None:
    import govsvc.adapterkit as kit

    text = (Path(__file__).resolve().parents[1] / "docs" / "adapters.md").read_text("utf-8")
    section = text.split("\n## 12. Helpers for HTTP adapters", 1)[1].split("\n### ", 1)[0]
    listed = set(re.findall(r"`(\w+)[(`.]", section))
    missing = sorted(set(kit.__all__) - listed)
    assert not missing, f"add these to the table in docs/adapters.md section 12: {missing}"


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


# --- a blocking call inside an async adapter operation ---------------------------------------


class _BlockingLegacy:
    """An adapter whose coroutine calls a blocking function (as with `requests` in async def)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def profile(self, key: Any) -> None:
        import time

        await asyncio.sleep(0)  # the block comes after the first await, as with a real client
        time.sleep(self.seconds)
        return None


@pytest.mark.parametrize("seconds", [1.2, 2.4], ids=["within-timeout", "past-timeout"])
def test_a_blocking_call_in_an_async_adapter_is_reported_as_such(
    tmp_path: Path, seconds: float
) -> None:
    import govsvc
    from tests.departments import PEOPLE_PSB, PSB, SAMR, ZHANG, FakeLegacy, plugin_for

    plugin = plugin_for(
        {PSB: FakeLegacy(PSB, PEOPLE_PSB), SAMR: _BlockingLegacy(seconds)}, timeout=2.0
    )
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'p.db'}", load_entry_points=False, plugins=[plugin]
    ) as p:
        profile = p.system().parties.identify(ZHANG, purpose="核验身份")
        problem = profile.unavailable[SAMR]
        assert "blocked the event loop" in problem and "in profile" in problem, problem
        assert "CancelledError" not in problem
        assert PSB not in profile.unavailable  # the healthy department is not blamed
        records = p.system().departments.exchange_log(limit=10)
        assert any("blocked the event loop" in r.detail for r in records)


class _CollectedLegacy:
    """An adapter whose step is held up by the garbage collector, not by a blocking call
    (simulated: the interpreter's gc callbacks around a pause as long as a blocking call)."""

    async def profile(self, key: Any) -> None:
        import gc
        import time

        await asyncio.sleep(0)
        for callback in list(gc.callbacks):
            callback("start", {"generation": 2})
        time.sleep(1.2)  # a full collection of a large heap can take this long
        for callback in list(gc.callbacks):
            callback("stop", {"generation": 2, "collected": 0, "uncollectable": 0})
        return None


def test_a_garbage_collection_pause_is_not_blamed_on_the_adapter(tmp_path: Path) -> None:
    """Found by CI: a full-suite run once reported the psb adapter as blocking the loop; a
    gen-2 collection in a long-lived process can hold one step for a second."""
    import govsvc
    from tests.departments import PEOPLE_PSB, PSB, SAMR, ZHANG, FakeLegacy, plugin_for

    plugin = plugin_for({PSB: FakeLegacy(PSB, PEOPLE_PSB), SAMR: _CollectedLegacy()}, timeout=2.0)
    with govsvc.Platform.open(
        f"sqlite:///{tmp_path / 'p.db'}", load_entry_points=False, plugins=[plugin]
    ) as p:
        profile = p.system().parties.identify(ZHANG, purpose="核验身份")
        assert SAMR not in profile.unavailable, profile.unavailable

