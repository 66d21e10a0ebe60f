"""The canonical vocabulary (govsvc.vocabulary) and the text boundary checks (govsvc._text)."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from govsvc import AdapterProtocolError, InvalidInput, PartyKey
from govsvc._text import check_text, check_texts, escape_unstorable, unstorable
from govsvc.adapterkit import CodeTable
from govsvc.vocabulary import (
    ETHNICITY_CODES,
    MARITAL_STATUS_CODES,
    SEX_CODES,
    VOCABULARY,
    Attribute,
    Form,
    Problem,
    check_profile,
    ensure_profile,
)

DOCS = Path(__file__).resolve().parents[1] / "docs"


def paths(problems: list[Problem]) -> list[str]:
    return [p.path for p in problems]


# --- the reliability finding: non-canonical values were accepted ------------------------------


def test_the_values_of_the_finding_are_refused_with_the_canonical_form_to_send() -> None:
    problems = check_profile({"name": "张伟", "sex": "男", "birth_date": "19850312"})
    assert [str(p) for p in problems] == [
        "sex (性别) is '男'; send 'male' (男) @ $.sex",
        "birth_date (出生日期) is '19850312'; send the ISO date '1985-03-12' @ $.birth_date",
    ]
    assert [p.attribute for p in problems] == ["sex", "birth_date"]


def test_canonical_answers_have_no_problems() -> None:
    answer = {
        "name": "张伟",
        "sex": "male",
        "birth_date": "1985-03-12",
        "ethnicity": "汉族",
        "address": "黑龙江省哈尔滨市南岗区西大直街74号",
        "phone": "13945012345",
        "household_type": "resident",
        "marital_status": "married",
        "insured_status": "paying",
        "insurances": [{"type": "110", "name": "企业职工基本养老保险", "status": "paying",
                        "since": "2008-07-01", "employer": "秋林"}],
        "employer_credit_code": "91230103MA1BX4K238",
        "insured_employees": 0,
        "registered_capital": "12.5万元美元",
        "registration_status": "存续",
        "enterprises": [],
    }  # fmt: skip
    assert check_profile(answer) == []


def test_unknown_attributes_are_allowed_and_empty_values_are_not_known() -> None:
    answer = {"properties": ["示房权证2020第0001号"], "score": 7, "sex": None, "birth_date": ""}
    assert check_profile(answer) == []


@pytest.mark.parametrize(
    ("attribute", "value", "expected"),
    [
        ("sex", "M", "the canonical values are 'male' (男), 'female' (女)"),
        ("sex", "女性", "send 'female' (女)"),
        ("marital_status", "再婚", "send 'married' (已婚)"),
        ("marital_status", "20", "the canonical values are 'unmarried' (未婚)"),
        ("ethnicity", "汉", "send '汉族'"),
        ("ethnicity", "Han", "the 58 names of GB/T 3304"),
        ("household_type", "非农业家庭户口", "send 'non_agricultural' (非农业)"),
        ("registration_status", "在业", "send '存续' (存续（在营、开业、在册）)"),
        ("registration_status", "吊销，已注销", "send '注销'"),
        ("insured_status", "参保缴费", "send 'paying' (参保缴费)"),
        ("social_security_card_status", "挂失", "send 'reported_lost' (挂失)"),
        ("birth_date", "1985年3月12日", "send the ISO date '1985-03-12'"),
        ("birth_date", "1985-02-30", "which is no real date"),
        ("birth_date", "12.03.1985", "send an ISO date (YYYY-MM-DD), e.g. '1985-03-12'"),
        ("birth_date", dt.date(1985, 3, 12), "is a date object; send its ISO text '1985-03-12'"),
        ("established_on", 20190418, "is 20190418 (int); send text (YYYY-MM-DD)"),
        ("name", " 张伟", "has white space around it; send '张伟'"),
        ("name", "   ", "is blank; leave it out (None)"),
        ("household_number", 230103000152, "is 230103000152 (int); send text, e.g."),
        ("phone", "+86 139 4501 2345", "send 11-digit mobile number, or area code-number"),
        ("birth_certificate", "q230123456", "a capital letter (the edition) and 9 digits"),
        ("registered_capital", "50.00万元人民币", "without trailing zeros"),
        ("employer_credit_code", "91230103ma1bx4k238", "send it as '91230103MA1BX4K238'"),
        ("employer_credit_code", "91230103MA1BX4K239", "not a valid credit code"),
        ("insured_employees", -1, "send a whole number of 0 or more"),
        ("insured_employees", True, "send a whole number of 0 or more"),
        ("address", "南岗区\x00", "contains a NUL character (U+0000) at position 4"),
        ("insurances", {"type": "110"}, "send a list of records (mappings)"),
    ],
)
def test_a_value_that_is_not_canonical_says_what_to_send(
    attribute: str, value: object, expected: str
) -> None:
    (problem,) = check_profile({attribute: value})
    assert problem.path == f"$.{attribute}"
    assert problem.message.startswith(f"{attribute} ({VOCABULARY[attribute].label}) ")
    assert expected in problem.message


def test_records_are_checked_field_by_field_and_keep_unknown_fields() -> None:
    problems = check_profile(
        {
            "insurances": [
                {"type": "110", "status": "paying", "since": "2008-07-01", "note": "ok"},
                {"type": "11", "status": "none", "since": "20080701"},
                "not a record",
            ],
            "enterprises": [{"credit_code": "91230103MA1BX4K238", "registration_status": "在业"}],
        }
    )
    assert [(p.path, p.attribute) for p in problems] == [
        ("$.insurances[1].type", "insurances[].type"),
        ("$.insurances[1].status", "insurances[].status"),
        ("$.insurances[1].since", "insurances[].since"),
        ("$.insurances[2]", "insurances[]"),
        ("$.enterprises[0].registration_status", "enterprises[].registration_status"),
    ]
    assert "'none'; the canonical values are 'paying'" in problems[1].message  # not for one


def test_text_that_cannot_be_stored_is_refused_anywhere_even_in_unknown_attributes() -> None:
    problems = check_profile(
        {"extra": {"list": ["ok", "bad\ud800"]}, "k\x00": 1, 3: "x", "名称": ["\x00"]}
    )
    assert paths(problems) == ["$.extra.list[1]", "$", "$[3]", "$.名称[0]"]
    assert "lone surrogate (U+D800" in problems[0].message
    assert "attribute name 'k\\x00' contains a NUL" in problems[1].message
    assert "attribute names are text, got 3 (int)" in problems[2].message


def test_an_answer_that_is_not_a_mapping_is_one_problem() -> None:
    assert [str(p) for p in check_profile(["sex", "male"])] == [  # type: ignore[arg-type]
        "a profile is a mapping of attribute names to values, got list @ $"
    ]


def test_ensure_profile_raises_a_protocol_error_listing_every_problem() -> None:
    good = {"sex": "female"}
    assert ensure_profile(good) is good
    with pytest.raises(AdapterProtocolError) as caught:
        ensure_profile({"sex": "女", "birth_date": "1985/3/12"}, department="11230100003108738D")
    error = caught.value
    assert (error.path, error.department, error.operation) == (
        "$.sex",
        "11230100003108738D",
        "profile",
    )
    assert "2 value(s) that are not canonical" in str(error)
    assert "send the ISO date '1985-03-12' (at $.birth_date)" in str(error)


# --- code tables ------------------------------------------------------------------------------


def test_national_code_tables() -> None:
    assert [SEX_CODES["1"], SEX_CODES["2"], SEX_CODES.get("9"), SEX_CODES.get("0")] == [
        "male",
        "female",
        None,
        None,
    ]
    assert {MARITAL_STATUS_CODES[c] for c in ("20", "21", "22", "23")} == {"married"}
    assert (MARITAL_STATUS_CODES["10"], MARITAL_STATUS_CODES["30"]) == ("unmarried", "widowed")
    assert MARITAL_STATUS_CODES["40"] == "divorced"
    assert MARITAL_STATUS_CODES.get("90") is None
    assert (ETHNICITY_CODES["01"], ETHNICITY_CODES["10"], ETHNICITY_CODES["11"]) == (
        "汉族",
        "朝鲜族",
        "满族",
    )
    assert (ETHNICITY_CODES["56"], ETHNICITY_CODES["98"]) == ("基诺族", "外国血统中国籍人士")
    assert len(ETHNICITY_CODES.codes) == 58


def test_every_code_table_maps_to_canonical_values() -> None:
    tables: list[tuple[CodeTable[str], str]] = [
        (SEX_CODES, "sex"),
        (MARITAL_STATUS_CODES, "marital_status"),
        (ETHNICITY_CODES, "ethnicity"),
    ]
    for table, attribute in tables:
        assert set(table.codes.values()) <= set(VOCABULARY[attribute].values), attribute
    for attribute in VOCABULARY.values():
        if attribute.form is Form.CHOICE:
            words = attribute.words()
            assert set(words.codes.values()) == set(attribute.values)
            assert all(words[label] == value for value, label in attribute.values.items())


def test_words_read_what_legacy_systems_write() -> None:
    assert VOCABULARY["sex"].words()["男"] == "male"
    assert VOCABULARY["registration_status"].words()["在营"] == "存续"
    assert VOCABULARY["household_type"].words()["农业集体户口"] == "agricultural"
    assert VOCABULARY["ethnicity"].words()["蒙古"] == "蒙古族"
    with pytest.raises(InvalidInput, match="'男人' is not a code of sex"):
        VOCABULARY["sex"].words()["男人"]
    with pytest.raises(InvalidInput, match="birth_date is a date, not a choice"):
        VOCABULARY["birth_date"].words()


def test_the_vocabulary_checks_itself_when_written() -> None:
    with pytest.raises(InvalidInput, match="example 'x' is not canonical"):
        Attribute(name="sex", label="性别", form=Form.CHOICE, spelled="", example="x",
                  values={"male": "男"})  # fmt: skip
    with pytest.raises(InvalidInput, match="synonyms lead to unknown values"):
        Attribute(name="sex", label="性别", form=Form.CHOICE, spelled="", example="male",
                  values={"male": "男"}, synonyms={"女": "female"})  # fmt: skip
    with pytest.raises(InvalidInput, match="only a choice, lists values"):
        Attribute(name="x", label="某", form=Form.TEXT, spelled="", example="a",
                  values={"a": "甲"})  # fmt: skip


# --- the documentation is the vocabulary ------------------------------------------------------

_ROW = re.compile(r"^\| `(?P<name>[\w\[\].]+)` \| (?P<label>[^|]+) \| (?P<form>[^|]+) \| "
                  r"(?P<values>.+?) \| (?P<example>[^|]*) \|\s*$", re.M)  # fmt: skip
_VALUE = re.compile(r"`(?P<value>[^`]+)`(?: (?P<label>[^,`]+))?")


def _documented(values: str) -> dict[str, str]:
    return {m["value"]: (m["label"] or m["value"]).strip() for m in _VALUE.finditer(values)}


def _expected_rows() -> list[tuple[str, Attribute]]:
    rows = []
    for attribute in VOCABULARY.values():
        rows.append((attribute.name, attribute))
        rows.extend((f"{attribute.name}[].{field.name}", field) for field in attribute.fields)
    return rows


def test_the_vocabulary_page_documents_every_attribute_as_the_code_has_it() -> None:
    text = (DOCS / "vocabulary.md").read_text(encoding="utf-8")
    table = text.split("\n## The attributes", 1)[1].split("\n## ", 1)[0]
    documented = {m["name"]: m for m in _ROW.finditer(table)}
    expected = _expected_rows()
    assert list(documented) == [name for name, _ in expected], (
        "docs/vocabulary.md lists other attributes (or another order) than VOCABULARY"
    )
    for name, attribute in expected:
        row = documented[name]
        assert row["label"].strip() == attribute.label, name
        assert row["form"].strip() == attribute.form.value, name
        if attribute.form is Form.CHOICE:
            values = row["values"].partition("; also read: ")[0]
            assert _documented(values) == dict(attribute.values), name
        else:
            assert row["values"].strip() == attribute.spelled, name
        example = row["example"].strip().strip("`")
        assert example == attribute.example, name


def test_the_vocabulary_page_lists_the_words_each_choice_also_reads() -> None:
    text = (DOCS / "vocabulary.md").read_text(encoding="utf-8")
    section = text.split("\n## Words legacy systems also write", 1)[1].split("\n## ", 1)[0]
    documented = {
        name: set(re.findall(r"(\S+) → `([^`]+)`", words))
        for name, words in re.findall(r"^- `([\w\[\].]+)`: (.*)$", section, re.M)
    }
    expected = {
        name: set(attribute.synonyms.items())
        for name, attribute in _expected_rows()
        if attribute.synonyms
    }
    assert documented == expected


def test_the_vocabulary_page_lists_the_code_tables() -> None:
    text = (DOCS / "vocabulary.md").read_text(encoding="utf-8")
    section = text.split("\n## Code tables", 1)[1].split("\n## ", 1)[0]
    tables = {"SEX_CODES": SEX_CODES, "MARITAL_STATUS_CODES": MARITAL_STATUS_CODES,
              "ETHNICITY_CODES": ETHNICITY_CODES}  # fmt: skip
    for name, table in tables.items():
        part = section.split(f"`{name}`", 1)[1].split("\n\n", 2)[1]
        mapped, _, unknown = part.partition("; ")
        assert dict(re.findall(r"`(\d+)` → `([^`]+)`", mapped)) == dict(table.codes), name
        assert set(re.findall(r"`(\d+)`", unknown)) == table.unknown, name


# --- the reference plugins answer canonically --------------------------------------------------


def _plugin(name: str) -> Any:
    return pytest.importorskip(f"govsvc_{name}", reason="the reference plugins come with `make`")


def _profiles(adapter: Any, numbers: list[str]) -> list[Mapping[str, Any] | None]:
    async def ask() -> list[Mapping[str, Any] | None]:
        try:
            return [await adapter.profile(PartyKey.of(n)) for n in numbers]
        finally:
            await adapter.aclose()

    return asyncio.run(ask())


def _served(plugin: str, config: str, adapter: str, numbers: Callable[[Any], list[str]]) -> Any:
    from govsvc.testing import serve_app

    _plugin(plugin)
    simulator = importlib.import_module(f"govsvc_{plugin}.simulator")
    module = importlib.import_module(f"govsvc_{plugin}.adapter")
    seed = importlib.import_module(f"govsvc_{plugin}.seed")
    with serve_app(simulator.create_app()) as url:
        made = getattr(module, adapter)(getattr(module, config)(base_url=url))
        return _profiles(made, numbers(seed))


@pytest.mark.parametrize(
    ("plugin", "config", "adapter", "numbers"),
    [
        ("psb", "PsbConfig", "PsbAdapter", lambda seed: [p.id_number for p in seed.PEOPLE]),
        ("hrss", "HrssConfig", "HrssAdapter",
         lambda seed: [p.id_number for p in seed.PEOPLE] + [e.credit_code for e in seed.EMPLOYERS]),
        ("health", "HealthConfig", "HealthAdapter",
         lambda seed: [p.id_number for p in seed.PERSONS] + ["230103202401050029"]),
        ("samr", "SamrConfig", "SamrAdapter",
         lambda seed: [e.credit_code for e in seed.ENTERPRISES]
         + [e.legal_representative_id for e in seed.ENTERPRISES]),
    ],
    ids=["psb", "hrss", "health", "samr"],
)  # fmt: skip
def test_the_reference_plugins_answer_canonically(
    plugin: str, config: str, adapter: str, numbers: Callable[[Any], list[str]]
) -> None:
    answers = _served(plugin, config, adapter, numbers)
    known = [a for a in answers if a is not None]
    assert known, f"{plugin}: no seed party was known; the test asks the wrong numbers"
    for answer in known:
        assert check_profile(answer) == [], answer


def test_the_example_plugin_answers_canonically() -> None:
    _plugin("example")
    from govsvc_example.adapter import ExampleAdapter
    from govsvc_example.legacy import KNOWN_RESIDENT, CivilAffairsRegister

    answer = ExampleAdapter(CivilAffairsRegister()).profile(PartyKey.of(KNOWN_RESIDENT))
    assert answer is not None and answer["marital_status"] == "widowed"
    assert check_profile(answer) == []


# --- text the database can store (govsvc._text) -----------------------------------------------


def test_check_text_passes_storable_text_through() -> None:
    text = "张伟 𠮷 \u2028 \ufffe \x01"  # PostgreSQL (UTF8) stores every one of these
    assert check_text(text, "name") is text
    assert unstorable(text) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ab\x00", r"name contains a NUL character \(U\+0000\) at position 3, which cannot be "
                   r"stored; remove it \(a NUL usually comes from binary data"),
        ("\ud83d", r"name contains a lone surrogate \(U\+D83D, half of a broken character\) at "
                   r"position 1, .*broken \\u escape"),
        ("\udfff", r"lone surrogate \(U\+DFFF"),
        (b"bytes", r"name must be text, got bytes"),
    ],
)  # fmt: skip
def test_check_text_refuses_what_cannot_be_stored_naming_the_field(
    value: Any, expected: str
) -> None:
    with pytest.raises(InvalidInput, match=expected):
        check_text(value, "name")


def test_check_texts_walks_forms_and_names_the_path() -> None:
    form = {"applicant": {"name": "张伟"}, "children": [{"name": "孙悦"}, {"name": "x\x00"}]}
    with pytest.raises(InvalidInput, match=r"^form\.children\[1\]\.name contains a NUL"):
        check_texts(form, "form")
    with pytest.raises(InvalidInput, match=r"^a key in form\.a contains a lone surrogate"):
        check_texts({"a": {"\ud800": 1}}, "form")
    with pytest.raises(InvalidInput, match=r"^form\['出生 日期'\] contains"):
        check_texts({"出生 日期": "\x00"}, "form")
    good = {"n": 1, "when": dt.date(2024, 1, 5), "tags": ("a", "b"), "none": None}
    assert check_texts(good, "form") is good


def test_check_texts_survives_deep_and_cyclic_values() -> None:
    deep: list[Any] = ["\x00"]
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInput, match=r"contains a NUL"):
        check_texts(deep, "form")
    cyclic: dict[str, Any] = {"name": "ok"}
    cyclic["self"] = cyclic
    assert check_texts(cyclic, "form") is cyclic


def test_messages_escape_what_they_quote() -> None:
    assert escape_unstorable("a\x00b\ud800") == "a\\u0000b\\ud800"


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=())))
def test_check_text_refuses_exactly_what_utf8_without_nul_cannot_carry(text: str) -> None:
    if "\x00" not in text and _encodes(text):
        assert check_text(text, "t") == text
    else:
        with pytest.raises(InvalidInput):
            check_text(text, "t")


def test_the_vocabulary_page_examples_run() -> None:
    text = (DOCS / "vocabulary.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    assert len(blocks) >= 2
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/vocabulary.md python block {number}", "exec"), {})
