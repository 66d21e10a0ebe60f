"""Citizen IDs (GB 11643), credit codes (GB 32100) and party keys."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govsvc import _converter
from govsvc.errors import InvalidIdentifier, StructureError
from govsvc.identity import (
    CREDIT_CODE_TABLE,
    CitizenId,
    CreditCode,
    DocumentType,
    Organisation,
    Party,
    PartyKey,
    Person,
    parse_identifier,
)

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CITIZEN_ALPHABET = "0123456789X"
# A day safely in the past in every time zone, so generated birth dates are never "future".
LATEST_BIRTH = dt.date.today() - dt.timedelta(days=2)


def citizen_check(first17: str) -> str:
    """Independent implementation of ISO 7064 MOD 11-2, from the formula in the standard."""
    weights = [pow(2, 17 - i, 11) for i in range(17)]  # 2^(18-i) mod 11 for i = 1..17
    total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
    return "10X98765432"[total % 11]


def credit_check(first17: str) -> str:
    total = sum(CREDIT_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def org_check(first8: str) -> str:
    weights = [3, 7, 9, 10, 5, 8, 4, 2]
    total = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(first8, weights, strict=True)
    )
    return {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))


def make_credit_code(head: str, division: str, org_body: str, *, org: str | None = None) -> str:
    """Assemble a credit code from its parts, computing both check characters."""
    first17 = head + division + org_body + (org if org is not None else org_check(org_body))
    return first17 + credit_check(first17)


@st.composite
def citizen_ids(draw: st.DrawFn) -> str:
    address = str(draw(st.integers(1, 8))) + draw(st.text("0123456789", min_size=5, max_size=5))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=LATEST_BIRTH))
    sequence = draw(st.integers(0, 999))
    first17 = f"{address}{born:%Y%m%d}{sequence:03d}"
    return first17 + citizen_check(first17)


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from(sorted(CREDIT_CODE_TABLE)))
    category = draw(st.sampled_from(sorted(CREDIT_CODE_TABLE[authority][1])))
    division = draw(st.text("0123456789", min_size=6, max_size=6))
    body = draw(st.text(CREDIT_ALPHABET, min_size=8, max_size=8))
    return make_credit_code(authority + category, division, body)


# -- citizen ID: properties -------------------------------------------------------------------


@given(citizen_ids())
def test_every_valid_citizen_id_parses_and_round_trips(number: str) -> None:
    citizen = CitizenId.parse(number)
    assert str(citizen) == number
    assert CitizenId.parse(number.lower()) == citizen
    assert CitizenId.parse(f" {number[:6]} {number[6:14]} {number[14:]} ") == citizen
    assert citizen.birth_date == dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    assert citizen.sex == ("male" if int(number[16]) % 2 else "female")
    assert citizen.division_code == number[:6]
    assert CitizenId.check_char(number[:17]) == number[17]
    assert _converter.loads(_converter.dumps(citizen), CitizenId) == citizen


@given(citizen_ids())
@settings(max_examples=60)
def test_every_single_character_change_of_a_citizen_id_is_rejected(number: str) -> None:
    for position in range(18):
        for char in CITIZEN_ALPHABET:
            if char == number[position]:
                continue
            changed = number[:position] + char + number[position + 1 :]
            with pytest.raises(InvalidIdentifier):
                CitizenId.parse(changed)


@given(
    st.text("12345678", min_size=1, max_size=1),
    st.text("0123456789", min_size=5, max_size=5),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(1999, 12, 31)),
    st.integers(0, 999),
)
def test_fifteen_digit_numbers_upgrade_to_eighteen(
    province: str, rest: str, born: dt.date, sequence: int
) -> None:
    legacy = f"{province}{rest}{born:%y%m%d}{sequence:03d}"
    upgraded = CitizenId.parse(legacy)
    first17 = f"{province}{rest}{born:%Y%m%d}{sequence:03d}"
    assert upgraded.number == first17 + citizen_check(first17)
    assert upgraded.birth_date == born


# -- citizen ID: examples ---------------------------------------------------------------------


def test_standard_example_and_its_properties() -> None:
    citizen = CitizenId.parse("11010519491231002X")
    assert citizen.birth_date == dt.date(1949, 12, 31)
    assert citizen.sex == "female"
    assert citizen.division_code == "110105"
    assert citizen.masked() == "1101**********002X"
    assert citizen.age_on(dt.date(2019, 12, 30)) == 69
    assert citizen.age_on(dt.date(2019, 12, 31)) == 70


def test_gb11643_fifteen_digit_example_upgrades() -> None:
    assert CitizenId.parse("110105491231002").number == "11010519491231002X"


def test_lower_case_x_is_accepted_and_stored_upper_case() -> None:
    assert CitizenId.parse("11010519491231002x").number == "11010519491231002X"


def test_wrong_check_character_names_the_expected_one() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        CitizenId.parse("110105194912310025")
    message = str(info.value)
    assert "check character should be X, got 5" in message
    assert "check the number on the card" in message


def test_check_char_helper() -> None:
    assert CitizenId.check_char("11010519491231002") == "X"
    with pytest.raises(InvalidIdentifier, match="17 digits"):
        CitizenId.check_char("1101051949")


def with_check(first17: str) -> str:
    return first17 + citizen_check(first17)


def test_future_birth_date_is_rejected() -> None:
    number = with_check("23010320300101001")
    with pytest.raises(InvalidIdentifier, match="in the future"):
        CitizenId.parse(number, today=dt.date(2029, 12, 31))
    assert CitizenId.parse(number, today=dt.date(2030, 1, 1)).birth_date == dt.date(2030, 1, 1)
    with pytest.raises(InvalidIdentifier, match="in the future"):
        CitizenId.parse(with_check("23010329990101001"))  # against today's date in China


@pytest.mark.parametrize("born", ["19000229", "20010229", "20230431", "20231301", "20230000"])
def test_impossible_birth_dates_are_rejected(born: str) -> None:
    with pytest.raises(InvalidIdentifier, match="not a real calendar date"):
        CitizenId.parse(with_check(f"230103{born}001"))


def test_leap_day_in_a_leap_year_is_fine() -> None:
    assert CitizenId.parse(with_check("23010320000229001")).birth_date == dt.date(2000, 2, 29)


def test_birth_year_before_1800_is_rejected() -> None:
    with pytest.raises(InvalidIdentifier, match="before 1800"):
        CitizenId.parse(with_check("23010317991231001"))


def test_retired_address_code_is_not_rejected() -> None:
    # 230182 双城市 was retired in 2014; people keep the numbers issued under it.
    assert CitizenId.parse(with_check("23018219800101001")).division_code == "230182"


def test_number_starting_with_9_points_to_foreign_permanent_resident_card() -> None:
    with pytest.raises(InvalidIdentifier, match="553"):
        CitizenId.parse(with_check("91115619800101001"))


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("1101051949123100", "16 characters"),
        ("1101051949123100211", "19 characters"),
        ("11010519491231A02X", "character 15"),
        ("11010519491231002Y", "digit or X"),
        ("11010549123100A", "all digits"),
    ],
)
def test_malformed_numbers_name_the_rule(text: str, rule: str) -> None:
    with pytest.raises(InvalidIdentifier, match=rule):
        CitizenId.parse(text)


def test_constructor_takes_only_the_canonical_form() -> None:
    assert CitizenId("11010519491231002X").number == "11010519491231002X"
    with pytest.raises(InvalidIdentifier):
        CitizenId("11010519491231002x")
    with pytest.raises(InvalidIdentifier):
        CitizenId("110105491231002")


# -- credit code: properties ------------------------------------------------------------------


@given(credit_codes())
def test_every_valid_credit_code_parses_and_round_trips(number: str) -> None:
    code = CreditCode.parse(number)
    assert str(code) == number
    assert CreditCode.parse(number.lower()) == code
    assert code.authority == number[0]
    assert code.category == number[1]
    assert code.division_code == number[2:8]
    assert code.organisation_code == number[8:17]
    assert code.authority_name == CREDIT_CODE_TABLE[number[0]][0]
    assert code.category_name == CREDIT_CODE_TABLE[number[0]][1][number[1]]
    assert CreditCode.check_char(number[:17]) == number[17]
    assert CreditCode.organisation_check_char(number[8:16]) == number[16]
    assert _converter.loads(_converter.dumps(code), CreditCode) == code


@given(credit_codes())
@settings(max_examples=40)
def test_every_single_character_change_of_a_credit_code_is_rejected(number: str) -> None:
    for position in range(18):
        for char in CREDIT_ALPHABET:
            if char == number[position]:
                continue
            changed = number[:position] + char + number[position + 1 :]
            with pytest.raises(InvalidIdentifier):
                CreditCode.parse(changed, strict=True)


# -- credit code: examples --------------------------------------------------------------------

# Published on the business licences of well-known companies (public registration data).
REAL_CODES = ["914403001922038216", "91330100716105852F", "9144030071526726XG"]


@pytest.mark.parametrize("number", REAL_CODES)
def test_real_credit_codes_pass_strict_checks(number: str) -> None:
    code = CreditCode.parse(number)
    assert (code.authority_name, code.category_name) == ("工商/市场监管", "企业")


@pytest.mark.parametrize(
    ("head", "authority_name", "category_name"),
    [("A1", "军队", "军队事业单位"), ("N2", "农业", "村级集体经济组织"), ("Y1", "其他", "其他")],
)
def test_letter_authorities_are_valid(head: str, authority_name: str, category_name: str) -> None:
    code = CreditCode.parse(make_credit_code(head, "230103", "MA1CK7P3"))
    assert code.authority_name == authority_name
    assert code.category_name == category_name


def test_unknown_category_for_an_authority_is_rejected_by_name() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        CreditCode.parse(make_credit_code("94", "230103", "MA1CK7P3"))
    message = str(info.value)
    assert "entity category '4'" in message
    assert "工商/市场监管" in message


def test_unknown_authority_is_rejected() -> None:
    with pytest.raises(InvalidIdentifier, match="registering authority 'B'"):
        CreditCode.parse(make_credit_code("B1", "230103", "MA1CK7P3"))


def test_letters_in_the_division_part_are_rejected() -> None:
    with pytest.raises(InvalidIdentifier, match="characters 3-8"):
        CreditCode.parse(make_credit_code("91", "2301A3", "MA1CK7P3"))


@pytest.mark.parametrize("bad", "IOZSV")
def test_characters_outside_the_alphabet_are_rejected(bad: str) -> None:
    number = make_credit_code("91", "230103", "MA1CK7P3")
    with pytest.raises(InvalidIdentifier, match="never use"):
        CreditCode.parse(number[:10] + bad + number[11:])


def test_wrong_credit_check_character_names_the_expected_one() -> None:
    good = make_credit_code("91", "230103", "MA1CK7P3")
    wrong = "0" if good[17] != "0" else "1"
    with pytest.raises(InvalidIdentifier) as info:
        CreditCode.parse(good[:17] + wrong)
    assert f"check character should be {good[17]}, got {wrong}" in str(info.value)


def test_non_strict_mode_accepts_a_bad_embedded_organisation_check() -> None:
    body = "MA1CK7P3"
    wrong_org = "0" if org_check(body) != "0" else "1"
    number = make_credit_code("92", "230103", body, org=wrong_org)
    with pytest.raises(InvalidIdentifier) as info:
        CreditCode.parse(number)
    assert f"should be {org_check(body)}, got {wrong_org}" in str(info.value)
    assert "strict=False" in str(info.value)
    assert CreditCode.parse(number, strict=False).number == number
    # Once accepted, it loads from storage without the strict check.
    assert _converter.loads(f'{{"number": "{number}"}}', CreditCode).number == number


def test_credit_code_masking() -> None:
    assert CreditCode.parse("914403001922038216").masked() == "9144**********8216"


def test_parse_identifier_picks_the_right_kind() -> None:
    assert isinstance(parse_identifier("11010519491231002x"), CitizenId)
    assert isinstance(parse_identifier("914403001922038216"), CreditCode)
    with pytest.raises(InvalidIdentifier) as info:
        parse_identifier("12345")
    assert "As a citizen ID" in str(info.value)
    assert "As a credit code" in str(info.value)


# -- parties ----------------------------------------------------------------------------------


def test_document_types() -> None:
    assert DocumentType("111") is DocumentType.RESIDENT_ID
    assert DocumentType.CREDIT_CODE.is_organisation
    assert DocumentType.OTHER_ORGANISATION.is_organisation
    assert not DocumentType.PASSPORT.is_organisation


def test_party_key_detects_citizen_ids_and_credit_codes() -> None:
    assert PartyKey.of("110105491231002") == PartyKey(
        DocumentType.RESIDENT_ID, "11010519491231002X"
    )
    key = PartyKey.of(" 914403001922038216 ")
    assert key == PartyKey(DocumentType.CREDIT_CODE, "914403001922038216")
    assert key.is_organisation
    assert str(key) == "001:914403001922038216"
    assert key.masked() == "001:9144**********8216"


def test_party_key_detects_the_2023_foreign_permanent_resident_card() -> None:
    number = with_check("91115619800101001")
    with pytest.raises(InvalidIdentifier):
        CreditCode.parse(number)  # the premise: this number is no credit code
    assert PartyKey.of(number).doc_type is DocumentType.FOREIGN_PERMANENT_RESIDENT


def test_party_key_explains_both_attempts() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        PartyKey.of("E12345678")
    message = str(info.value)
    assert "As a citizen ID" in message
    assert "As a credit code" in message
    assert "for_document" in message


def test_party_key_for_other_documents() -> None:
    key = PartyKey.for_document("414", " e12345678 ")
    assert key == PartyKey(DocumentType.PASSPORT, "E12345678")
    assert PartyKey.for_document(DocumentType.RESIDENT_ID, "110105491231002").number == (
        "11010519491231002X"
    )
    with pytest.raises(InvalidIdentifier, match="unknown document type"):
        PartyKey.for_document("123", "E12345678")
    with pytest.raises(InvalidIdentifier, match="empty"):
        PartyKey(DocumentType.PASSPORT, "  ")


def test_party_key_validates_numbers_of_checked_types() -> None:
    with pytest.raises(InvalidIdentifier, match="should be X"):
        PartyKey(DocumentType.RESIDENT_ID, "110105194912310025")
    with pytest.raises(InvalidIdentifier):
        PartyKey(DocumentType.CREDIT_CODE, "914403001922038217")
    good = with_check("91115619800101001")
    wrong = "0" if good[17] != "0" else "1"
    assert PartyKey(DocumentType.FOREIGN_PERMANENT_RESIDENT, good).number == good
    with pytest.raises(InvalidIdentifier, match=f"check character should be {good[17]}"):
        PartyKey(DocumentType.FOREIGN_PERMANENT_RESIDENT, good[:17] + wrong)


def test_persons_and_organisations_need_matching_keys() -> None:
    citizen = PartyKey.of("11010519491231002X")
    company = PartyKey.of("914403001922038216")
    assert Person(citizen, " 张三 ").name == "张三"
    with pytest.raises(InvalidIdentifier, match="Organisation"):
        Person(company, "某公司")
    with pytest.raises(InvalidIdentifier, match="Person"):
        Organisation(citizen, "张三")
    with pytest.raises(InvalidIdentifier, match="empty"):
        Person(citizen, "   ")


def test_parties_round_trip_through_the_sdk_converter() -> None:
    person = Person(PartyKey.of("11010519491231002X"), "张三", phone="13800000000")
    company = Organisation(
        PartyKey.of("914403001922038216"), "示例科技有限公司", legal_representative="李四"
    )
    for party in (person, company):
        text = _converter.dumps(party)
        assert _converter.loads(text, Party) == party
        assert _converter.loads(text, type(party)) == party
    assert '"doc_type":"111"' in _converter.dumps(person)


def test_bad_stored_party_becomes_a_structure_error() -> None:
    payload = {"key": {"doc_type": "111", "number": "110105194912310025"}, "name": "张三"}
    with pytest.raises(StructureError, match=r"\$\.key"):
        _converter.structure(payload, Person)
