"""JSON and CSV import/export of the catalogue, and the sample Harbin items."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from govsvc.catalogue import (
    CaseKind,
    Channel,
    Fee,
    FeeInfo,
    ItemType,
    ItemVersion,
    MaterialSource,
    Necessity,
    OnlineDepth,
    ProcessStep,
    ServiceItem,
    check_version,
)
from govsvc.catalogue_io import (
    ITEM_COLUMNS,
    MATERIAL_COLUMNS,
    export_csv,
    export_json,
    import_csv,
    import_json,
    load_sample_items,
)
from govsvc.deadlines import TimeLimit, TimeUnit
from govsvc.errors import ImportFileError, InvalidInput

Entries = list[tuple[ServiceItem, list[ItemVersion]]]


@pytest.fixture(scope="module")
def entries() -> Entries:
    """The sample catalogue with every version; 食品经营许可 (first) has two."""
    return import_json(_sample_text())


def _sample_text() -> str:
    import importlib.resources

    resource = importlib.resources.files("govsvc") / "data" / "items" / "harbin.json"
    return resource.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Sample data


def test_sample_items_are_publishable() -> None:
    samples = load_sample_items()
    assert 4 <= len(samples) <= 6
    for item, version in samples:
        assert check_version(item, version) == [], item.name
        assert len(item.implementation_code) == 31


def test_sample_items_cover_what_the_case_engine_needs() -> None:
    by_name = {item.name: version for item, version in load_sample_items()}
    food = by_name["食品经营许可（新办）"]
    assert food.version == 2
    assert (food.statutory_limit, food.promised_limit) == (
        TimeLimit(20, TimeUnit.WORKDAY),
        TimeLimit(5, TimeUnit.WORKDAY),
    )
    assert food.material("M02").name == "营业执照" and food.material("M02").may_use_ecert
    assert any(m.commitment_allowed for m in food.materials)
    assert [m.code for m in food.tolerated_materials] == ["M06"]
    assert len(food.review_stages) == 1 and len(food.review_stages[0].departments) == 2
    household = by_name["户口迁移（市内跨区迁移）"]
    assert len(household.review_stages) == 2
    assert by_name["个体工商户设立登记"].case_kind is CaseKind.IMMEDIATE
    assert by_name["社会保障卡申领"].online_depth is OnlineDepth.IV
    legal = [b.law for v in by_name.values() for b in v.legal_basis]
    assert "《中华人民共和国食品安全法》" in legal


def test_sample_file_keeps_the_old_version_of_a_revised_item() -> None:
    (_food, versions), *_ = import_json(_sample_text())
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].promised_limit == TimeLimit(10, TimeUnit.WORKDAY)


# ---------------------------------------------------------------------------------------------
# JSON


def test_json_round_trip(entries: Entries) -> None:
    text = export_json(entries)
    assert import_json(text, source="cat.json") == entries
    assert export_json(import_json(text)) == text


def test_json_round_trip_of_every_optional_field(entries: Entries) -> None:
    item, (version,) = entries[1]
    rich = attrs.evolve(
        version,
        fees=FeeInfo(
            charged=True,
            basis="发改价格规〔2019〕1931号",
            items=(Fee(name="工本费", amount=Decimal("20.50"), basis="发改价格规〔2019〕1931号"),),
            waivers="低保对象免收",
            online_payment=True,
        ),
        steps=(ProcessStep(name="受理"), ProcessStep(name="核准", limit=TimeLimit(0))),
        appointment=True,
    )
    assert check_version(item, rich) == []
    text = export_json([(item, [rich])])
    assert '"amount": "20.50"' in text
    assert import_json(text) == [(item, [rich])]


def test_json_syntax_error_names_the_line() -> None:
    text = '{\n  "format": "govsvc.catalogue/1",\n  "items": [,]\n}\n'
    with pytest.raises(ImportFileError) as caught:
        import_json(text, source="items.json")
    error = caught.value
    assert (error.source, error.line, error.field) == ("items.json", 3, None)
    assert str(error).startswith("items.json, line 3: not valid JSON")


def test_json_needs_the_format_marker() -> None:
    with pytest.raises(
        ImportFileError, match=re.escape('"format": "govsvc.catalogue/1"')
    ) as caught:
        import_json('{"items": []}', source="x.json")
    assert caught.value.field == "$.format"


def _sample_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_sample_text())
    return data


def test_json_wrong_enum_value_names_the_path_and_the_allowed_values() -> None:
    data = _sample_data()
    data["items"][1]["versions"][0]["case_kind"] = "3"
    with pytest.raises(ImportFileError) as caught:
        import_json(json.dumps(data), source="items.json")
    error = caught.value
    assert error.field == "$.items[1].versions[0].case_kind"
    assert "'3' is not one of '1', '2'" in str(error)


def test_json_bad_credit_code_names_the_agency() -> None:
    data = _sample_data()
    data["items"][2]["item"]["agency"]["credit_code"] = "112301000030692499"
    with pytest.raises(ImportFileError) as caught:
        import_json(json.dumps(data))
    assert caught.value.field == "$.items[2].item.agency"
    assert "112301000030692499" in str(caught.value)


def test_json_missing_and_extra_fields() -> None:
    data = _sample_data()
    del data["items"][0]["versions"][1]["location"]
    data["items"][0]["versions"][1]["colour"] = "red"
    with pytest.raises(ImportFileError) as caught:
        import_json(json.dumps(data))
    message = str(caught.value)
    assert "required field missing @ $.items[0].versions[1].location" in message
    assert "extra fields found (colour)" in message


def test_json_import_checks_the_catalogue_rules() -> None:
    data = _sample_data()
    data["items"][1]["versions"][0]["complaint_phone"] = ""
    with pytest.raises(ImportFileError) as caught:
        import_json(json.dumps(data))
    assert caught.value.field == "$.items[1].versions[0]"
    assert "complaint phone" in str(caught.value)
    assert import_json(json.dumps(data), check=False)[1][1][0].complaint_phone == ""


def test_json_rejects_duplicate_items_and_versions() -> None:
    data = _sample_data()
    data["items"].append(data["items"][0])
    with pytest.raises(ImportFileError, match="appears twice") as caught:
        import_json(json.dumps(data))
    assert caught.value.field == "$.items[6]"

    data = _sample_data()
    data["items"][0]["versions"][1]["version"] = 1
    with pytest.raises(ImportFileError, match=r"version 1 of \w+ appears twice"):
        import_json(json.dumps(data))


def test_json_version_must_carry_its_items_code() -> None:
    data = _sample_data()
    data["items"][1]["versions"][0]["item_code"] = data["items"][2]["versions"][0]["item_code"]
    with pytest.raises(ImportFileError, match="not the item's implementation code") as caught:
        import_json(json.dumps(data), check=False)
    assert caught.value.field == "$.items[1].versions[0]"


def test_json_bytes_are_read_as_utf8_with_or_without_a_byte_order_mark(entries: Entries) -> None:
    raw = _sample_text().encode("utf-8")
    assert import_json(raw) == entries
    assert import_json(b"\xef\xbb\xbf" + raw) == entries
    assert import_json(_sample_text().encode("utf-16")) == entries
    assert import_json("\ufeff" + _sample_text()) == entries


def test_json_bytes_that_are_not_utf8_name_the_line_and_column() -> None:
    raw = _sample_text().encode("gb18030")
    with pytest.raises(ImportFileError) as caught:
        import_json(raw, source="harbin.json")
    error = caught.value
    first_bad = next(
        i for i, (a, b) in enumerate(zip(raw, _sample_text().encode(), strict=False)) if a != b
    )
    line = raw.count(b"\n", 0, first_bad) + 1
    assert (error.line, error.field) == (line, None)
    assert str(error).startswith(f"harbin.json, line {line}: not UTF-8 text: byte 0x")
    assert "save the file as UTF-8" in str(error)


@pytest.mark.parametrize("mark", [b"", b"\xef\xbb\xbf"], ids=["plain", "byte-order mark"])
def test_the_bad_byte_is_placed_by_line_and_character_column(mark: bytes) -> None:
    raw = mark + '{\n  "名称": "'.encode() + b'\xff"}'  # line 2: 9 characters, 13 bytes, then FF
    with pytest.raises(ImportFileError) as caught:
        import_json(raw, source="x.json")
    assert caught.value.line == 2
    assert f"byte 0xFF at column 10 (byte offset {len(mark) + 15})" in str(caught.value)


def test_deeply_nested_json_is_refused_at_its_line_and_column() -> None:
    text = '{\n  "format": "govsvc.catalogue/1",\n  "items": ' + "[" * 100_000
    with pytest.raises(ImportFileError) as caught:
        import_json(text, source="deep.json")
    assert caught.value.line == 3
    assert str(caught.value) == (
        "deep.json, line 3: not a catalogue: lists and objects are nested more than 32 levels "
        "deep here (column 43)"
    )


def test_brackets_inside_strings_do_not_count_as_nesting(entries: Entries) -> None:
    data = _sample_data()
    data["items"][1]["versions"][0]["hours"] = "[[[[" * 20 + '\\"{{{{' * 20
    (_item, (version,)) = import_json(json.dumps(data), check=False)[1]
    assert version.hours.startswith("[[[[")


def test_a_number_too_long_to_read_is_an_import_error() -> None:
    with pytest.raises(ImportFileError, match="not valid JSON: Exceeds the limit"):
        import_json('{"format": "govsvc.catalogue/1", "items": [' + "1" * 5000 + "]}")


@pytest.mark.parametrize(
    ("numbers", "index", "message"),
    [
        ([1, 3], 1, "are numbered 1, 3, without 2; each version must be the one after the last"),
        ([1, 5], 1, "are numbered 1, 5, without 2 to 4"),
        ([1, 2**31 - 1], 1, f"are numbered 1, {2**31 - 1}, without 2 to {2**31 - 2}"),
        ([2, 1], 1, "are listed as 2, 1; list them oldest first (1, 2)"),
    ],
)
def test_json_versions_must_be_in_order_without_gaps(
    numbers: list[int], index: int, message: str
) -> None:
    data = _sample_data()
    for version, number in zip(data["items"][0]["versions"], numbers, strict=True):
        version["version"] = number
    with pytest.raises(ImportFileError) as caught:
        import_json(json.dumps(data), source="x.json", check=False)
    assert caught.value.field == f"$.items[0].versions[{index}]"
    assert "the versions of item 11230100013114525L3000176010001 " + message in str(caught.value)


def test_a_file_may_carry_only_the_newer_versions_of_an_item() -> None:
    data = _sample_data()
    for version, number in zip(data["items"][0]["versions"], (4, 5), strict=True):
        version["version"] = number
    assert [v.version for v in import_json(json.dumps(data))[0][1]] == [4, 5]


def test_version_numbers_the_store_cannot_hold_are_refused() -> None:
    data = _sample_data()
    data["items"][1]["versions"][0]["version"] = 2**31
    with pytest.raises(ImportFileError, match="larger than the store can hold") as caught:
        import_json(json.dumps(data))
    assert caught.value.field == "$.items[1].versions[0]"


@pytest.mark.parametrize(
    ("text", "what"),
    [("\x00", "a NUL character (U+0000)"), ("\ud800", "a lone surrogate (U+D800")],
)
@pytest.mark.parametrize("ascii_only", [True, False], ids=["escaped", "raw"])
def test_json_text_the_database_cannot_store_is_refused_naming_the_field(
    text: str, what: str, ascii_only: bool
) -> None:
    data = _sample_data()
    data["items"][2]["versions"][0]["materials"][1]["notes"] = "请" + text + "提交"
    with pytest.raises(ImportFileError) as caught:
        import_json(json.dumps(data, ensure_ascii=ascii_only), source="x.json")
    assert caught.value.field == "$.items[2].versions[0].materials[1].notes"
    assert f"the text contains {what}" in str(caught.value)
    assert "at position 2, which cannot be stored; remove it" in str(caught.value)


def test_json_keys_the_database_cannot_store_are_refused() -> None:
    data = _sample_data()
    data["items"][0]["item"]["na\x00me"] = "x"
    with pytest.raises(ImportFileError, match="the key contains a NUL") as caught:
        import_json(json.dumps(data))
    assert caught.value.field == "a key in $.items[0].item"


# ---------------------------------------------------------------------------------------------
# CSV


def test_csv_round_trip(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries)
    assert items_csv.splitlines()[0] == ",".join(ITEM_COLUMNS)
    assert materials_csv.splitlines()[0] == ",".join(MATERIAL_COLUMNS)
    imported = import_csv(items_csv, materials_csv, source="cat")
    assert sorted(imported, key=_code) == sorted(entries, key=_code)
    assert export_csv(imported) == (items_csv, materials_csv)


def _code(entry: tuple[ServiceItem, list[ItemVersion]]) -> str:
    return entry[0].implementation_code


def test_csv_round_trip_with_fees(entries: Entries) -> None:
    item, (version,) = entries[1]
    charged = attrs.evolve(
        version,
        fees=FeeInfo(
            charged=True,
            basis="依据",
            items=(Fee(name="工本费", amount=Decimal("5.00")),),
            online_payment=True,
        ),
    )
    assert import_csv(*export_csv([(item, [charged])])) == [(item, [charged])]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _write(rows: list[dict[str, str]], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _first_data_line_after(text: str, records: int) -> int:
    """Physical line on which data record number ``records`` (0-based) starts."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    for _ in range(records):
        next(reader)
    return reader.line_num + 1


def test_csv_unknown_enum_value_names_line_field_and_allowed_values(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries)
    rows = _rows(items_csv)
    rows[2]["case_kind"] = "3"
    text = _write(rows, ITEM_COLUMNS)
    with pytest.raises(ImportFileError) as caught:
        import_csv(text, materials_csv, source=("items.csv", "materials.csv"))
    error = caught.value
    # Earlier rows hold multi-line cells (conditions), so the line is not simply 4.
    assert error.line == _first_data_line_after(text, 2) > 4
    assert (error.source, error.field) == ("items.csv", "case_kind")
    assert "'3' is not one of 1 (即办件), 2 (承诺件)" in str(error)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("statutory_limit", "20天", "time unit '天'"),
        ("visits", "one", "not a whole number"),
        ("appointment", "maybe", "write 是 or 否"),
        ("agency_credit_code", "11230100MB1C70415K", "credit code"),
        ("targets", "1;9", "'9' is not one of"),
        ("name", "", "is empty"),
        ("steps", '[{"name": "受理", "limit": {"amount": -1}}]', "@ $[0].limit"),
        ("legal_basis", "[{", "not valid JSON"),
    ],
)
def test_csv_bad_item_cells(entries: Entries, column: str, value: str, expected: str) -> None:
    items_csv, materials_csv = export_csv(entries[:2])
    rows = _rows(items_csv)
    rows[1][column] = value
    text = _write(rows, ITEM_COLUMNS)
    with pytest.raises(ImportFileError) as caught:
        import_csv(text, materials_csv, source="cat")
    error = caught.value
    assert (error.source, error.line, error.field) == (
        "cat items",
        _first_data_line_after(text, 1),
        column,
    )
    assert expected in str(error)


def test_csv_bad_material_row(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries)
    rows = _rows(materials_csv)
    rows[3]["necessity"] = "可选"
    with pytest.raises(ImportFileError) as caught:
        import_csv(items_csv, _write(rows, MATERIAL_COLUMNS), source="cat")
    error = caught.value
    assert (error.source, error.line, error.field) == ("cat materials", 5, "necessity")
    assert "必要, 非必要, 容缺后补" in str(error)


def test_csv_material_for_an_unknown_version(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries)
    rows = _rows(materials_csv)
    rows[0]["version"] = "9"
    with pytest.raises(ImportFileError, match=r"no row for item \w+ version 9") as caught:
        import_csv(items_csv, _write(rows, MATERIAL_COLUMNS))
    assert (caught.value.line, caught.value.field) == (2, "item_code")


def test_csv_header_problems(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries[:1])
    missing = items_csv.replace("complaint_phone", "complaints", 1)
    with pytest.raises(ImportFileError, match="column missing") as caught:
        import_csv(missing, materials_csv)
    assert (caught.value.line, caught.value.field) == (1, "complaint_phone")
    with pytest.raises(ImportFileError, match="the file is empty"):
        import_csv("", materials_csv)

    extra = materials_csv.replace("notes", "notes,colour", 1)
    with pytest.raises(ImportFileError, match="unknown column") as caught:
        import_csv(items_csv, extra)
    assert caught.value.field == "colour"


def test_csv_row_with_wrong_number_of_cells(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries[:1])
    lines = materials_csv.splitlines()
    lines[2] += ",extra"
    with pytest.raises(ImportFileError, match="header has 16") as caught:
        import_csv(items_csv, "\n".join(lines))
    assert caught.value.line == 3


def test_csv_duplicate_version_row(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries[:1])
    rows = _rows(items_csv)
    text = _write(rows + rows, ITEM_COLUMNS)
    with pytest.raises(ImportFileError, match="appears twice") as caught:
        import_csv(text, materials_csv)
    assert caught.value.field == "version"


def test_csv_checks_the_catalogue_rules(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries[:1])
    rows = _rows(items_csv)
    rows[0]["channels"] = "1"  # a fully online item without an online channel
    text = _write(rows, ITEM_COLUMNS)
    with pytest.raises(ImportFileError, match="needs an online channel") as caught:
        import_csv(text, materials_csv)
    assert caught.value.line == 2
    assert import_csv(text, materials_csv, check=False)[0][1][0].channels == (Channel.WINDOW,)


def test_csv_accepts_spreadsheet_habits(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries[:1])
    rows = _rows(items_csv)
    rows[0].update(
        item_type="1",  # Excel dropped the leading zero
        level="市级",
        case_kind="承诺件",
        online_depth="Ⅳ",
        targets="自然人",
        appointment="true",
        cross_region="",
    )
    material_rows = _rows(materials_csv)
    material_rows[0]["source"] = "GOVERNMENT"
    text = "\ufeff" + _write(rows, ITEM_COLUMNS)
    ((item, (version, _)),) = import_csv(text, _write(material_rows, MATERIAL_COLUMNS))
    assert item.item_type is ItemType.LICENSING
    assert version.case_kind is CaseKind.PROMISED
    assert version.appointment is True
    assert version.materials[0].source is MaterialSource.GOVERNMENT


def test_csv_export_refuses_what_it_cannot_hold(entries: Entries) -> None:
    item, (version,) = entries[1]
    other = attrs.evolve(version, item_type=ItemType.CONFIRMATION)
    with pytest.raises(InvalidInput, match="export JSON"):
        export_csv([(item, [other])])


def test_csv_materials_keep_their_order(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries)
    imported = {item.implementation_code: vs for item, vs in import_csv(items_csv, materials_csv)}
    for item, versions in entries:
        for original, back in zip(versions, imported[item.implementation_code], strict=True):
            assert [m.code for m in back.materials] == [m.code for m in original.materials]
            assert [m.necessity for m in back.materials] == [
                m.necessity for m in original.materials
            ]
    assert Necessity.TOLERATED in {
        m.necessity for _, vs in entries for v in vs for m in v.materials
    }


@pytest.mark.parametrize(
    ("text", "what"),
    [("\x00", "a NUL character (U+0000)"), ("\udc80", "a lone surrogate (U+DC80")],
)
def test_csv_text_the_database_cannot_store_names_line_and_column(
    entries: Entries, text: str, what: str
) -> None:
    items_csv, materials_csv = export_csv(entries)
    rows = _rows(materials_csv)
    rows[3]["notes"] = "原件" + text
    with pytest.raises(ImportFileError) as caught:
        import_csv(items_csv, _write(rows, MATERIAL_COLUMNS), source="cat")
    error = caught.value
    assert (error.source, error.line, error.field) == ("cat materials", 5, "notes")
    assert f"the cell contains {what}" in str(error)
    assert "at position 3, which cannot be stored" in str(error)


def test_csv_json_cells_are_checked_for_nul_and_nesting(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries[:2])
    rows = _rows(items_csv)
    rows[1]["steps"] = '[{"name": "受\\u0000理"}]'
    text = _write(rows, ITEM_COLUMNS)
    with pytest.raises(ImportFileError) as caught:
        import_csv(text, materials_csv, source="cat")
    assert (caught.value.line, caught.value.field) == (_first_data_line_after(text, 1), "steps")
    assert "the text contains a NUL character" in str(caught.value)
    assert str(caught.value).endswith("@ $[0].name")

    rows[1]["steps"] = "[" * 50_000
    with pytest.raises(
        ImportFileError, match=r"nested more than 32 levels deep here \(character 33"
    ):
        import_csv(_write(rows, ITEM_COLUMNS), materials_csv, source="cat")


def test_csv_bytes_in_utf8_or_a_named_encoding(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries)
    expected = import_csv(items_csv, materials_csv)
    assert import_csv(b"\xef\xbb\xbf" + items_csv.encode(), materials_csv.encode()) == expected
    gbk = (items_csv.encode("gb18030"), materials_csv.encode("gb18030"))
    assert import_csv(*gbk, encoding="gb18030") == expected
    with pytest.raises(ImportFileError) as caught:
        import_csv(*gbk, source=("items.csv", "materials.csv"))
    assert (caught.value.source, caught.value.line) == ("items.csv", 2)
    assert "not UTF-8 text" in str(caught.value) and "or pass encoding='gb18030'" in str(
        caught.value
    )
    with pytest.raises(InvalidInput, match="unknown encoding 'klingon'"):
        import_csv(*gbk, encoding="klingon")


def test_csv_versions_must_be_in_order_without_gaps(entries: Entries) -> None:
    items_csv, materials_csv = export_csv(entries[:1])  # 食品经营许可: versions 1 and 2
    rows = _rows(items_csv)
    swapped = _write([rows[1], rows[0]], ITEM_COLUMNS)
    with pytest.raises(ImportFileError, match=r"listed as 2, 1; list them oldest first") as caught:
        import_csv(swapped, materials_csv)
    assert caught.value.line == _first_data_line_after(swapped, 1)

    rows[1]["version"] = "3"
    material_rows = [r for r in _rows(materials_csv) if r["version"] != "2"]
    with pytest.raises(ImportFileError, match=r"numbered 1, 3, without 2"):
        import_csv(_write(rows, ITEM_COLUMNS), _write(material_rows, MATERIAL_COLUMNS))


# ---------------------------------------------------------------------------------------------
# Fuzzing: whatever comes in, only ImportFileError or a valid catalogue comes out

SAMPLE_BYTES = _sample_text().encode("utf-8")
# Places where a JSON value may start in the sample: after a colon, a bracket or a comma.
_VALUE_STARTS = [m.end() for m in re.finditer(rb"[:\[,]\s*", SAMPLE_BYTES)]
# Strings that break importers: NUL, a lone surrogate, an unpaired low surrogate, a BOM,
# a GBK-encoded word, controls, huge and odd numbers.
_NASTY_TEXT = ["\x00", "\ud800", "\udfff", "\ufeff", "\x1b[2J", "\u202e", "x" * 5000]
_NASTY_BYTES = [b"\x00", b"\xff", b"\xc0\x80", b"\xed\xa0\x80", "食品".encode("gbk"), b"\x80"]

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(_NASTY_TEXT)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def mangled_bytes(
    draw: st.DrawFn, sample: bytes = SAMPLE_BYTES, starts: list[int] = _VALUE_STARTS
) -> bytes:
    """A file with a few byte-level accidents: overwritten, inserted, cut, nested."""
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["set", "insert", "delete", "truncate", "nest"]))
        at = draw(st.integers(0, len(data)))
        if operation == "set" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(_NASTY_BYTES))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif operation == "truncate":
            del data[at:]
        else:  # deep nesting where a value starts: the parser recurses on every bracket
            where = draw(st.sampled_from(starts))
            depth = draw(st.integers(10, 100_000))
            data[where:where] = draw(st.sampled_from([b"[", b'{"a":'])) * depth
    return bytes(data)


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) pair in a decoded JSON value, depth first."""
    found: list[tuple[Any, Any]] = []
    pending = [value]
    while pending:
        current = pending.pop()
        items = current.items() if isinstance(current, dict) else enumerate(current)
        for key, item in items:
            found.append((current, key))
            if isinstance(item, dict | list):
                pending.append(item)
    return found


@st.composite
def mangled_documents(draw: st.DrawFn) -> str:
    """The sample catalogue with a few values replaced, removed, or renumbered."""
    data = _sample_data()
    if draw(st.booleans()):  # renumber versions: gaps, disorder, zero, negative, huge
        for entry in data["items"]:
            for version in entry["versions"]:
                if draw(st.booleans()):
                    version["version"] = draw(st.integers(-2, 6) | st.integers())
    for _ in range(draw(st.integers(0, 3))):
        slots = _slots(data)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        operation = draw(st.sampled_from(["replace", "remove", "text"]))
        if operation == "replace":
            container[key] = draw(_json_values)
        elif operation == "remove" and isinstance(container, dict):
            del container[key]
        elif operation == "text" and isinstance(container[key], str):
            text = container[key]
            at = draw(st.integers(0, len(text)))
            container[key] = text[:at] + draw(st.sampled_from(_NASTY_TEXT)) + text[at:]
    return json.dumps(data, ensure_ascii=draw(st.booleans()))


def _only_import_errors(read: Callable[[], Entries]) -> str:
    """Run an import; it may refuse with ImportFileError, but never crash otherwise."""
    try:
        entries = read()
    except ImportFileError as exc:
        str(exc)  # the message itself must be printable
        return "refused"
    for item, versions in entries:
        assert isinstance(item, ServiceItem)
        assert versions and all(isinstance(v, ItemVersion) for v in versions)
    return "accepted"


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=300) | mangled_bytes())
def test_fuzz_json_bytes_only_ever_give_import_errors(raw: bytes) -> None:
    event(_only_import_errors(lambda: import_json(raw, source="fuzz.json")))


@FUZZ
@given(mangled_documents())
def test_fuzz_json_documents_only_ever_give_import_errors(text: str) -> None:
    event(_only_import_errors(lambda: import_json(text, source="fuzz.json")))


_SAMPLE_CSV = export_csv(import_json(_sample_text()))
_CELL_STARTS = [
    [m.end() for m in re.finditer(r'[,\n]"?', text)] for text in _SAMPLE_CSV
]  # where a cell starts, in the items and the materials CSV


@st.composite
def mangled_csv(draw: st.DrawFn) -> tuple[str | bytes, str | bytes]:
    """The sample CSV pair with one file mangled: its bytes, one cell, or its row order."""
    files: list[str | bytes] = list(_SAMPLE_CSV)
    which = draw(st.sampled_from([0, 1]))
    how = draw(st.sampled_from(["bytes", "cell", "rows"]))
    if how == "bytes":
        sample = files[which]
        assert isinstance(sample, str)
        files[which] = draw(mangled_bytes(sample.encode("utf-8"), _CELL_STARTS[which]))
    else:
        rows = list(csv.reader(io.StringIO(str(files[which]), newline="")))
        if how == "cell":
            row = draw(st.sampled_from(rows))
            at = draw(st.integers(0, len(row) - 1))
            row[at] = draw(
                st.text(max_size=20)
                | st.sampled_from(_NASTY_TEXT).map(lambda nasty: row[at][:3] + nasty + row[at][3:])
                | st.integers().map(str)
                | st.integers(10, 50_000).map(lambda depth: "[" * depth + "]" * depth)
                | _json_values.map(json.dumps)
            )
        else:  # rows swapped: versions out of order, materials moved
            i, j = draw(st.integers(1, len(rows) - 1)), draw(st.integers(1, len(rows) - 1))
            rows[i], rows[j] = rows[j], rows[i]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        files[which] = out.getvalue()
        if draw(st.booleans()):
            # A lone surrogate has no UTF-8 form: such a file stays text.
            with contextlib.suppress(UnicodeEncodeError):
                files[which] = out.getvalue().encode("utf-8")
    return files[0], files[1]


@FUZZ
@given(mangled_csv())
def test_fuzz_csv_only_ever_gives_import_errors(pair: tuple[str | bytes, str | bytes]) -> None:
    event(_only_import_errors(lambda: import_csv(*pair, source="fuzz")))
