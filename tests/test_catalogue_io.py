"""JSON and CSV import/export of the catalogue, and the sample Harbin items."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from typing import Any

import attrs
import pytest

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
