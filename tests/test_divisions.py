"""Administrative divisions: codes, pitfalls, history and CSV import."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from govsvc import _converter
from govsvc.divisions import (
    Division,
    DivisionKind,
    DivisionLevel,
    DivisionRegistry,
    classify,
    code_level,
    infer_parent,
)
from govsvc.errors import ImportFileError, InvalidDivision

TODAY = dt.date(2025, 6, 1)
HEADER = "code,name,level,parent,valid_from,valid_to\n"


@pytest.fixture
def registry() -> DivisionRegistry:
    return DivisionRegistry.default()


# -- codes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "full"),
    [
        ("230103", "230103000000"),
        ("230103001", "230103001000"),
        ("230103001001", "230103001001"),
        (" 230103 ", "230103000000"),
    ],
)
def test_codes_are_padded_to_twelve_digits(text: str, full: str) -> None:
    assert Division.normalise_code(text) == full


@pytest.mark.parametrize("bad", ["2301", "2301030", "23010300100", "23010A", ""])
def test_malformed_codes_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidDivision, match="6 digits"):
        Division.normalise_code(bad)


@pytest.mark.parametrize(
    ("code", "level"),
    [
        ("230000", DivisionLevel.PROVINCE),
        ("230100", DivisionLevel.PREFECTURE),
        ("230103", DivisionLevel.COUNTY),
        ("230103001", DivisionLevel.TOWNSHIP),
        ("230103001001", DivisionLevel.VILLAGE),
    ],
)
def test_code_level(code: str, level: DivisionLevel) -> None:
    assert code_level(code) is level


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("230103001000", DivisionKind.SUBDISTRICT),
        ("230103099000", DivisionKind.SUBDISTRICT),
        ("230103101000", DivisionKind.TOWN),
        ("230103201000", DivisionKind.TOWNSHIP),
        ("230103399000", DivisionKind.TOWNSHIP),
        ("230103500000", DivisionKind.TOWNSHIP_LEVEL_UNIT),
        ("230103600000", None),
        ("230102001001", DivisionKind.RESIDENTS_COMMITTEE),
        ("230103101201", DivisionKind.VILLAGERS_COMMITTEE),
        ("230103101401", DivisionKind.VILLAGE_LEVEL_UNIT),
        ("230103101498", DivisionKind.VIRTUAL_VILLAGE),
        ("230103101598", DivisionKind.VIRTUAL_VILLAGE),
        ("230103101700", None),
        ("230103", None),
    ],
)
def test_township_and_village_kinds(code: str, kind: DivisionKind | None) -> None:
    assert classify(code) is kind


def test_division_refuses_a_level_its_code_contradicts() -> None:
    with pytest.raises(InvalidDivision, match="by its digits"):
        Division("230103", "南岗区", DivisionLevel.TOWNSHIP, parent="230100")


def test_division_needs_a_parent_below_province_and_none_at_province() -> None:
    with pytest.raises(InvalidDivision, match="needs a parent"):
        Division("230103", "南岗区", DivisionLevel.COUNTY)
    with pytest.raises(InvalidDivision, match="cannot have a parent"):
        Division("230000", "黑龙江省", DivisionLevel.PROVINCE, parent="110000")


def test_division_round_trips_through_the_sdk_converter(registry: DivisionRegistry) -> None:
    division = registry.get("230182")
    assert _converter.loads(_converter.dumps(division), Division) == division


# -- the packaged slice -----------------------------------------------------------------------


def test_packaged_slice_has_all_thirteen_prefectures(registry: DivisionRegistry) -> None:
    prefectures = registry.children("230000")
    assert len(prefectures) == 13
    assert prefectures[0].name == "哈尔滨市"
    assert prefectures[-1].code == "232700000000"
    assert prefectures[-1].name == "大兴安岭地区"


def test_harbin_has_eighteen_current_counties(registry: DivisionRegistry) -> None:
    current = registry.children("230100", on=TODAY)
    assert len(current) == 18
    assert {"道里区", "南岗区", "双城区", "五常市"} <= {d.name for d in current}
    assert "双城市" not in {d.name for d in current}


def test_default_registry_is_a_fresh_copy_each_time() -> None:
    first = DivisionRegistry.default()
    first.load_csv(HEADER + "230103020001,示例社区居委会,5,230103020,,\n")
    assert "230103020001" in first
    assert "230103020001" not in DivisionRegistry.default()


def test_ancestors_and_path_names(registry: DivisionRegistry) -> None:
    assert [d.name for d in registry.ancestors("230103001")] == ["黑龙江省", "哈尔滨市", "南岗区"]
    assert registry.ancestors("230000") == []
    assert registry.path_names("230103") == "黑龙江省 / 哈尔滨市 / 南岗区"
    assert registry.path_names("230102001001", separator="") == (
        "黑龙江省哈尔滨市道里区兆麟街道省报社社区居委会"
    )


def test_find_by_name(registry: DivisionRegistry) -> None:
    assert [d.code for d in registry.find("南岗区")] == ["230103000000"]
    names = [d.name for d in registry.find("东城")]
    assert names == ["东城区", "东城街道"]
    assert [d.name for d in registry.find("双城", on=TODAY)] == ["双城区"]
    assert registry.find("  ") == []


def test_unknown_code_gives_a_helpful_error(registry: DivisionRegistry) -> None:
    with pytest.raises(InvalidDivision, match="no administrative division has code 230199000000"):
        registry.get("230199")


# -- the three pitfalls -----------------------------------------------------------------------


def test_prefecture_city_without_counties(registry: DivisionRegistry) -> None:
    # 东莞: townships sit directly under 441900, whose digits look like a county code.
    township = registry.get("441900003")
    assert township.parent == "441900000000"
    assert registry.get(township.parent).level is DivisionLevel.PREFECTURE
    assert infer_parent("441900003000") == "441900000000"
    assert registry.path_names("441900003") == "广东省 / 东莞市 / 东城街道"


def test_province_administered_county(registry: DivisionRegistry) -> None:
    # 仙桃 429004: the parent is 湖北省, not the placeholder 429000.
    assert registry.get("429004").parent == "420000000000"
    assert infer_parent("429004") == "420000000000"
    assert infer_parent("429004001") == "429004000000"
    assert [d.name for d in registry.ancestors("429004001")] == ["湖北省", "仙桃市"]


def test_municipality_placeholder_prefecture(registry: DivisionRegistry) -> None:
    # 北京市 / 110100 市辖区 / 110101 东城区: the placeholder sits between them when listed.
    assert registry.get("110101").parent == "110100000000"
    assert registry.get("110100").parent == "110000000000"
    assert infer_parent("110101") == "110100000000"
    assert registry.infer_parent("110101") == "110100000000"
    # A list without the placeholder (民政部 style) puts districts under the municipality.
    assert infer_parent("110101", known={"110000000000"}) == "110000000000"
    assert infer_parent("500230", known=set()) == "500000000000"


def test_infer_parent_for_ordinary_codes() -> None:
    assert infer_parent("230000") is None
    assert infer_parent("230100") == "230000000000"
    assert infer_parent("230103") == "230100000000"
    assert infer_parent("230103001") == "230103000000"
    assert infer_parent("230103001001") == "230103001000"


# -- validity intervals -----------------------------------------------------------------------


def test_retired_code_is_found_on_an_old_date_only(registry: DivisionRegistry) -> None:
    old = registry.get("230182", on=dt.date(2010, 1, 1))
    assert old.name == "双城市"
    assert old.retired
    assert registry.is_valid_on("230182", dt.date(2014, 5, 20))
    assert not registry.is_valid_on("230182", dt.date(2014, 5, 21))
    with pytest.raises(InvalidDivision) as info:
        registry.get("230182", on=TODAY)
    message = str(info.value)
    assert "retired" in message
    assert "2014-05-20" in message
    assert "replaced by 230113000000" in message
    assert "双城区" in message


def test_retired_code_is_still_returned_without_a_date(registry: DivisionRegistry) -> None:
    # ID numbers and old cases refer to retired codes: history lookups must work.
    assert registry.get("230181").name == "阿城市"


def test_code_not_yet_created(registry: DivisionRegistry) -> None:
    with pytest.raises(InvalidDivision, match="did not exist on 2000-01-01"):
        registry.get("230113", on=dt.date(2000, 1, 1))
    names_2000 = {d.name for d in registry.children("230100", on=dt.date(2000, 1, 1))}
    assert {"双城市", "阿城市", "呼兰县"} <= names_2000
    assert not {"双城区", "阿城区", "呼兰区", "松北区"} & names_2000


def test_is_valid_on_never_raises(registry: DivisionRegistry) -> None:
    assert not registry.is_valid_on("nonsense", TODAY)
    assert not registry.is_valid_on("999999", TODAY)
    assert registry.is_valid_on("230103", TODAY)


# -- CSV import -------------------------------------------------------------------------------


def test_csv_import_happy_path(registry: DivisionRegistry) -> None:
    text = (
        "\ufeffcode,name,level,parent,valid_from,valid_to,replaced_by\n"
        "# comment lines and blank lines are skipped\n"
        "\n"
        "230600,大庆市,市,230000,,,\n"
        "230602,萨尔图区,county,230600,,,\n"
        "230602001,萨尔图街道,4,230602,1990-01-01,,\n"
        '230602001001,"示例社区,一区",village,230602001,,,\n'
    )
    before = len(registry)
    assert registry.load_csv(text, source="daqing.csv") == 4
    assert len(registry) == before + 3  # 大庆市 was already known: merged, not duplicated
    assert registry.path_names("230602001001", separator="/") == (
        "黑龙江省/大庆市/萨尔图区/萨尔图街道/示例社区,一区"
    )
    assert registry.get("230602001").valid_from == dt.date(1990, 1, 1)


def test_csv_import_from_a_path(tmp_path: Path, registry: DivisionRegistry) -> None:
    file = tmp_path / "harbin.csv"
    file.write_text(HEADER + "230103021,示例街道,4,230103,,\n", encoding="utf-8")
    assert registry.load_csv(file) == 1
    assert registry.get("230103021").kind is DivisionKind.SUBDISTRICT


def test_csv_import_of_a_missing_file(tmp_path: Path, registry: DivisionRegistry) -> None:
    with pytest.raises(ImportFileError, match="cannot read the file"):
        registry.load_csv(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("rows", "line", "field", "words"),
    [
        ("2301030220,示例街道,4,230103,,\n", 2, "code", "give 6, 9 or 12 digits"),
        ("230103022,示例街道,4,2301030,,\n", 2, "parent", "give 6, 9 or 12 digits"),
        ("230103022,示例街道,town,230103,,\n", 2, "level", "level 'town' is unknown"),
        ("230103022,示例街道,3,230103,,\n", 2, "level", "by its digits"),
        ("230103022,示例街道,4,230199,,\n", 2, "parent", "parent 230199000000"),
        ("230103022,示例街道,4,,,\n", 2, "parent", "230103000000"),
        ("230103022,示例街道,4,230103001,,\n", 2, "parent", "higher level"),
        ("230103022,示例街道,4,230103,2020-02-30,\n", 2, "valid_from", "YYYY-MM-DD"),
        ("230103022,示例街道,4,230103,2020-01-01,2019-01-01\n", 2, "valid_to", "before"),
        ("230103022,,4,230103,,\n", 2, "name", "no name"),
        ("230103022,示例街道,4,230103,,\n230103022,又一个,4,230103,,\n", 3, "code", "line 2"),
        ("230103022,示例街道,4,230103,,,\n", 2, None, "fields"),
    ],
)
def test_csv_import_errors_name_line_and_field(
    registry: DivisionRegistry, rows: str, line: int, field: str | None, words: str
) -> None:
    before = list(registry)
    with pytest.raises(ImportFileError) as info:
        registry.load_csv(HEADER + rows, source="upload.csv")
    error = info.value
    assert (error.line, error.field) == (line, field)
    assert words in str(error)
    assert str(error).startswith(f"upload.csv, line {line}")
    assert list(registry) == before  # all or nothing


def test_csv_parent_listed_later_in_the_file_is_missing(registry: DivisionRegistry) -> None:
    text = HEADER + "230603001,示例街道,4,230603,,\n230603,龙凤区,3,230600,,\n"
    with pytest.raises(ImportFileError) as info:
        registry.load_csv(text, source="order.csv")
    assert (info.value.line, info.value.field) == (2, "parent")
    assert "earlier line" in str(info.value)


def test_csv_header_problems(registry: DivisionRegistry) -> None:
    with pytest.raises(ImportFileError) as info:
        registry.load_csv("code,name,level,parent\n230103022,示例街道,4,230103\n")
    assert (info.value.line, info.value.field) == (1, "valid_from")
    assert "missing column(s) valid_from, valid_to" in str(info.value)
    with pytest.raises(ImportFileError, match="the file is empty"):
        registry.load_csv("# nothing here\n")


def test_csv_unknown_successor_is_rejected(registry: DivisionRegistry) -> None:
    text = (
        "code,name,level,parent,valid_from,valid_to,replaced_by\n"
        "230190,示例市,3,230100,,2001-01-01,230191\n"
    )
    with pytest.raises(ImportFileError) as info:
        registry.load_csv(text)
    assert (info.value.line, info.value.field) == (2, "replaced_by")


def test_from_divisions_accepts_any_order() -> None:
    registry = DivisionRegistry.from_divisions(
        [
            Division("230103", "南岗区", DivisionLevel.COUNTY, parent="230100"),
            Division("230100", "哈尔滨市", DivisionLevel.PREFECTURE, parent="230000"),
            Division("230000", "黑龙江省", DivisionLevel.PROVINCE),
        ]
    )
    assert registry.path_names("230103") == "黑龙江省 / 哈尔滨市 / 南岗区"
    with pytest.raises(InvalidDivision, match="not known"):
        registry.add(Division("230203", "建华区", DivisionLevel.COUNTY, parent="230200"))
