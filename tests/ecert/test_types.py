"""Certificate types (证照目录) as data: the packaged catalogue, its loader, face validation."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import json
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from govsvc import load_sample_catalogue
from govsvc.ecert import (
    TYPES_FORMAT,
    CertificateType,
    CertificateTypes,
    FaceField,
    FieldKind,
    Validity,
    ValidityKind,
    load_certificate_types,
)
from govsvc.errors import ImportFileError, InvalidInput, StructureError, UnknownItem

from .conftest import BIRTH_FACE, FOOD_FACE

ROOT = Path(__file__).resolve().parents[2]


def harbin_results() -> list[tuple[str, str, str]]:
    """(item implementation code, result name, ecert type code) from the sample catalogue."""
    text = importlib.resources.files("govsvc").joinpath("data/items/harbin.json").read_text("utf-8")
    found = []
    for item in json.loads(text)["items"]:
        for version in item["versions"]:
            for result in version["results"]:
                if result.get("ecert_type"):
                    found.append((version["item_code"], result["name"], result["ecert_type"]))
    return found


def test_packaged_catalogue_covers_every_result_of_the_reference_departments(
    types: CertificateTypes,
) -> None:
    results = harbin_results()
    assert len(results) >= 5
    for item_code, name, code in results:
        ctype = types.get(code)
        assert item_code in ctype.items, f"{name}: {item_code} should issue {ctype.name}"
        assert ctype in types.issued_by_item(item_code)
    names = {t.name for t in types}
    assert {"营业执照", "食品经营许可证", "出生医学证明", "社会保障卡", "居民户口簿"} <= names


def test_materials_that_accept_ecerts_name_known_types(types: CertificateTypes) -> None:
    text = importlib.resources.files("govsvc").joinpath("data/items/harbin.json").read_text("utf-8")
    codes = {
        m["ecert_type"]
        for item in json.loads(text)["items"]
        for v in item["versions"]
        for m in v["materials"]
        if m.get("ecert_type")
    }
    for code in codes:
        assert types.get(code).code == code


def test_defining_agencies_are_the_type_codes_credit_codes(types: CertificateTypes) -> None:
    for t in types:
        assert t.code.startswith(t.defining_agency.credit_code)
    assert types.get("11100000MB0143028R001").defining_agency.name == "国家市场监督管理总局"


def test_unknown_type_lists_the_known_ones(types: CertificateTypes) -> None:
    with pytest.raises(UnknownItem, match=r"known types: .*营业执照"):
        types.get("11100000MB0143028R999")


def test_validity_rules() -> None:
    five = Validity.of_years(5)
    assert five.until(dt.date(2023, 5, 20)) == dt.date(2028, 5, 19)
    assert five.until(dt.date(2024, 2, 29)) == dt.date(2029, 2, 28)  # anniversary 1 March
    assert Validity.long_term().until(dt.date(2024, 1, 8)) is None
    assert five.label == "5年" and Validity.long_term().label == "长期"
    with pytest.raises(InvalidInput, match="set by the issuer"):
        Validity(kind=ValidityKind.BY_ISSUER).until(dt.date(2024, 1, 1))
    with pytest.raises(InvalidInput, match="years exactly when"):
        Validity(kind=ValidityKind.LONG_TERM, years=3)


def test_face_is_normalised(birth_type: CertificateType) -> None:
    face = dict(BIRTH_FACE, birthDate=dt.date(2024, 1, 5), weightGrams=" 3250 ",
                lengthCm=Decimal("50.50"), birthPlace=" 黑龙江省哈尔滨市南岗区 ")
    checked = birth_type.check_face(face)
    # The JSON form: what the credential carries and the store keeps.
    assert checked["birthDate"] == "2024-01-05"
    assert checked["weightGrams"] == 3250
    assert checked["lengthCm"] == "50.50"
    assert checked["birthPlace"] == "黑龙江省哈尔滨市南岗区"
    assert birth_type.check_face(dict(BIRTH_FACE, lengthCm="50"))["lengthCm"] == 50
    without_father = {k: v for k, v in BIRTH_FACE.items() if not k.startswith("father")}
    assert "fatherName" not in birth_type.check_face(without_father)


def test_face_problems_are_all_named_at_once(food_type: CertificateType, birth_type: CertificateType) -> None:
    face = dict(FOOD_FACE)
    del face["premises"]
    face["creditCode"] = "not a code"
    face["colour"] = "red"
    with pytest.raises(StructureError) as caught:
        food_type.check_face(face)
    problems = caught.value.problems
    assert any("premises (经营场所) is required but missing" in p for p in problems)
    assert any(p.startswith("creditCode (统一社会信用代码（身份证号码）) 'not a code' does not match") for p in problems)
    assert any("'colour' is not face field(s) of 食品经营许可证" in p for p in problems)
    with pytest.raises(StructureError) as caught:
        birth_type.check_face(dict(BIRTH_FACE, sex="未知", birthDate="2024-13-01", weightGrams=3.2,
                                   gestationalWeeks=True))
    text = str(caught.value)
    assert "sex (性别) must be one of 男, 女" in text
    assert "birthDate (出生日期) must be a date (YYYY-MM-DD)" in text
    assert "(floats lose digits)" in text
    assert "gestationalWeeks (出生孕周) must be a whole number" in text


def test_face_fields_are_well_formed() -> None:
    with pytest.raises(InvalidInput, match="lower camel case"):
        FaceField(key="Business Scope", label="经营范围")
    with pytest.raises(InvalidInput, match="reserved for the holder"):
        FaceField(key="holderName", label="持证人")
    with pytest.raises(InvalidInput, match="enum without choices"):
        FaceField(key="sex", label="性别", kind=FieldKind.ENUM)
    with pytest.raises(InvalidInput, match="code without a pattern"):
        FaceField(key="number", label="编号", kind=FieldKind.CODE)
    with pytest.raises(InvalidInput, match="not a valid regular expression"):
        FaceField(key="number", label="编号", kind=FieldKind.CODE, pattern="[")


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "types.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), "utf-8")
    return path


def packaged() -> dict:
    text = importlib.resources.files("govsvc").joinpath("data/ecert/types.json").read_text("utf-8")
    return json.loads(text)


def test_loader_reads_another_file(tmp_path: Path) -> None:
    data = packaged()
    data["types"] = data["types"][:1]
    loaded = load_certificate_types(write(tmp_path, data))
    assert [t.name for t in loaded] == ["营业执照"]


def test_loader_errors_name_file_type_and_field(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"types.json, line 1: not valid JSON"):
        load_certificate_types(write(tmp_path, "{oops"))
    with pytest.raises(ImportFileError, match=f'"format": "{TYPES_FORMAT}"'):
        load_certificate_types(write(tmp_path, {"format": "other/1", "types": []}))
    with pytest.raises(ImportFileError, match="cannot read the file"):
        load_certificate_types(tmp_path / "missing.json")
    data = packaged()
    data["types"][1]["fields"][0]["kind"] = "colour"
    with pytest.raises(ImportFileError) as caught:
        load_certificate_types(write(tmp_path, data))
    assert caught.value.field == "types[1] (食品经营许可证)"
    assert "'colour' is not a FieldKind; use one of text, date" in str(caught.value)
    data = packaged()
    data["types"][1]["defining_agency"]["credit_code"] = "11230100013114525L"
    with pytest.raises(ImportFileError, match="must start with the defining agency's credit code"):
        load_certificate_types(write(tmp_path, data))
    data = packaged()
    data["types"].append(data["types"][0])
    with pytest.raises(ImportFileError, match="used twice"):
        load_certificate_types(write(tmp_path, data))


def test_type_field_lookup_names_the_fields(food_type: CertificateType) -> None:
    assert food_type.field("premises").label == "经营场所"
    with pytest.raises(InvalidInput, match="its fields are operatorName"):
        food_type.field("colour")


def test_an_item_versions_certificate_type_is_its_results_else_the_catalogues(
    types: CertificateTypes,
) -> None:
    versions = [v for _, vs in load_sample_catalogue() for v in vs]
    food = next(v for v in versions if v.item_code == "11230100013114525L3000176010001")
    assert types.of_version(food) == types.get("11100000MB0143028R006")  # 食品经营许可证
    # A result naming no type here falls back to the types' list of issuing items …
    unnamed = attrs.evolve(food, results=[attrs.evolve(r, ecert_type=None) for r in food.results])
    assert types.of_version(unnamed) == types.get("11100000MB0143028R006")
    # … and an item no type lists, whose result names none, issues no e-certificate.
    plain = next(v for v in versions if not any(r.ecert_type for r in v.results)
                 and not types.issued_by_item(v.item_code))
    assert types.of_version(plain) is None
