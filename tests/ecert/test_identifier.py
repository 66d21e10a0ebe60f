"""E-certificate identifiers (GB/T 36904) and their ISO 7064 MOD 37,36 check character."""

from __future__ import annotations

import random
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.iso7064 import mod_37_36

from govsvc.ecert import ID_PREFIX, CertificateId, CertificateIdWarning, mod37_36_check
from govsvc.errors import InvalidIdentifier

ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TYPE = "11100000MB0143028R006"
ISSUER = "11230100013114525L"
# Credit codes from the reference departments (all valid), to build identifiers from.
CODES = (
    "11100000MB0143028R",
    "11100000MB1613028M",
    "1110000071783888XL",
    "111000000000193186",
    "11230100013114525L",
    "11230100MB1935270B",
    "11230100003109212K",
    "91230103MA1BX4K238",
)


def test_check_character_matches_python_stdnum_reference() -> None:
    rng = random.Random(36)
    for _ in range(5000):
        text = "".join(rng.choice(ALNUM) for _ in range(rng.randint(1, 90)))
        assert mod37_36_check(text) == mod_37_36.calc_check_digit(text), text
        assert mod_37_36.is_valid(text + mod37_36_check(text))


def test_check_character_refuses_characters_outside_the_alphabet() -> None:
    with pytest.raises(InvalidIdentifier, match="'a' is not a digit or capital letter"):
        mod37_36_check("1a")


def test_new_builds_the_dotted_form_with_its_check_character() -> None:
    cid = CertificateId.new(TYPE, ISSUER, "JY22301030012345")
    body = TYPE + ISSUER + "JY22301030012345" + "001"
    assert str(cid) == f"{ID_PREFIX}.{TYPE}.{ISSUER}.JY22301030012345.001.{mod_37_36.calc_check_digit(body)}"
    assert (cid.type_code, cid.issuer, cid.serial, cid.version) == (TYPE, ISSUER, "JY22301030012345", "001")
    assert cid.defining_agency == "11100000MB0143028R"
    assert cid.version_number == 1
    assert cid.check_char_valid


def test_parse_accepts_spaces_and_lower_case_and_exposes_parts() -> None:
    cid = CertificateId.new(TYPE, ISSUER, "A1", version=7)
    text = " " + str(cid).lower().replace(".", ". ", 2) + "\n"
    parsed = CertificateId.parse(text, strict=True)
    assert parsed == cid
    assert parsed.version == "007"


def test_wrong_check_character_warns_unless_strict() -> None:
    cid = CertificateId.new(TYPE, ISSUER, "A1")
    wrong = "0" if cid.check != "0" else "1"
    text = str(cid)[:-1] + wrong
    with pytest.warns(CertificateIdWarning, match=f"check character should be {cid.check}, got {wrong}"):
        parsed = CertificateId.parse(text)
    assert not parsed.check_char_valid
    assert parsed.check == wrong
    with pytest.raises(InvalidIdentifier, match=f"should be {cid.check}, got {wrong}"):
        CertificateId.parse(text, strict=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2.16.156.1.2.3", "must start with 1.2.156.3005.2."),
        (f"{ID_PREFIX}.{TYPE}.{ISSUER}.A1.001", "has 4 parts"),
        (f"{ID_PREFIX}.{TYPE[:-1]}.{ISSUER}.A1.001.X", "has 20 characters; it must have 21"),
        (f"{ID_PREFIX}.{TYPE[:-3]}00A.{ISSUER}.A1.001.X", "last 3 characters"),
        (f"{ID_PREFIX}.11100000MB0143028S006.{ISSUER}.A1.001.X", "defining agency's credit code"),
        (f"{ID_PREFIX}.{TYPE}.11230100013114525K.A1.001.X", "issuer part must be"),
        (f"{ID_PREFIX}.{TYPE}.{ISSUER}.A-1.001.X", "serial 'A-1'"),
        (f"{ID_PREFIX}.{TYPE}.{ISSUER}.黑A1.001.X", "serial"),
        (f"{ID_PREFIX}.{TYPE}.{ISSUER}.A1.000.X", "version '000'"),
        (f"{ID_PREFIX}.{TYPE}.{ISSUER}.A1.01.X", "version '01'"),
        (f"{ID_PREFIX}.{TYPE}.{ISSUER}.A1.001.XY", "check character (last part)"),
    ],
)
def test_every_malformed_part_is_named(text: str, message: str) -> None:
    with pytest.raises(InvalidIdentifier, match=message.replace("(", r"\(").replace(")", r"\)")):
        CertificateId.parse(text)


def test_constructor_refuses_what_parse_would() -> None:
    with pytest.raises(InvalidIdentifier, match="serial"):
        CertificateId(TYPE, ISSUER, "a1", "001", "X")
    with pytest.raises(InvalidIdentifier, match="canonical form"):
        CertificateId(TYPE, ISSUER.lower(), "A1", "001", "X")


def test_new_refuses_bad_versions() -> None:
    for version in (0, 1000, True):
        with pytest.raises(InvalidIdentifier, match="version"):
            CertificateId.new(TYPE, ISSUER, "A1", version=version)


def test_next_version_for_reissue_keeps_the_serial_and_recomputes_the_check() -> None:
    first = CertificateId.new(TYPE, ISSUER, "JY22301030012345")
    second = first.next_version()
    assert second.version == "002"
    assert second.same_certificate(first)
    assert second.check == mod37_36_check(TYPE + ISSUER + "JY22301030012345002")
    last = CertificateId.new(TYPE, ISSUER, "A1", version=999)
    with pytest.raises(InvalidIdentifier, match="version 999"):
        last.next_version()


identifiers = st.builds(
    CertificateId.new,
    st.builds(lambda code, n: code + f"{n:03d}", st.sampled_from(CODES), st.integers(0, 999)),
    st.sampled_from(CODES),
    st.text(ALNUM, min_size=1, max_size=24),
    st.integers(1, 999),
)


@given(identifiers)
@settings(max_examples=300)
def test_every_generated_identifier_parses_back_strictly(cid: CertificateId) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert CertificateId.parse(str(cid), strict=True) == cid


@given(identifiers, st.data())
@settings(max_examples=300)
def test_every_single_character_change_is_detected(cid: CertificateId, data: st.DataObject) -> None:
    text = str(cid)
    # Change one character of the parts after the fixed prefix to another allowed one.
    start = len(ID_PREFIX) + 1
    positions = [i for i in range(start, len(text)) if text[i] != "."]
    position = data.draw(st.sampled_from(positions))
    replacement = data.draw(st.sampled_from([c for c in ALNUM if c != text[position]]))
    changed = text[:position] + replacement + text[position + 1 :]
    with pytest.raises(InvalidIdentifier):
        CertificateId.parse(changed, strict=True)
