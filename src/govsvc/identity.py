"""One number per party (一号申请): citizen IDs, credit codes and the parties they key.

Every applicant is keyed by a document type and a number, never by a login account:

* :class:`CitizenId` — 公民身份号码 (GB 11643-1999): 18 characters, ISO 7064 MOD 11-2 check.
  Legacy 15-digit numbers (GB 11643-1989) are upgraded on parse.
* :class:`CreditCode` — 统一社会信用代码 (GB 32100-2015): 18 characters from a 31-symbol
  alphabet, MOD 31 check, embedded organisation code (GB 11714) with its own check.
* :class:`DocumentType` — the GA/T 2000.156 document-type code stored with every number.
* :class:`PartyKey`, :class:`Person`, :class:`Organisation` — the applicants themselves.

Every rule that fails raises :class:`~govsvc.errors.InvalidIdentifier`; the message names the
rule and, for a check character, the character that was expected.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs
import cattrs

from govsvc import _converter
from govsvc._text import check_text
from govsvc.errors import InvalidIdentifier

__all__ = [
    "CREDIT_ALPHABET",
    "CREDIT_CODE_TABLE",
    "CitizenId",
    "CreditCode",
    "DocumentType",
    "Organisation",
    "Party",
    "PartyKey",
    "Person",
    "parse_identifier",
]

# China Standard Time: a birth date "in the future" is judged on the calendar of the person
# being registered, not of the server (a UTC host would reject babies born after 16:00 UTC).
_CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")


def _today_in_china() -> dt.date:
    return dt.datetime.now(_CHINA_TZ).date()


def _mask(text: str) -> str:
    """Keep the first 4 and last 4 characters, star the rest (short text is starred whole)."""
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def _compact(text: str) -> str:
    """Remove all whitespace, including the spaces people type between groups of digits.

    A number that is not text (an ``int`` from a spreadsheet loses its leading zeros and an
    ``X`` check character cannot be one) is refused rather than converted.
    """
    if not isinstance(text, str):
        raise InvalidIdentifier(
            f"an identification number must be text (as printed on the document), got "
            f"{type(text).__name__} {text!r}"
        )
    return "".join(text.split())


class DocumentType(enum.Enum):
    """Document-type code stored with every party number (GA/T 2000.156 证件类型)."""

    RESIDENT_ID = "111"  # 居民身份证
    PASSPORT = "414"  # 普通护照
    HK_MACAO_PERMIT = "516"  # 港澳居民来往内地通行证
    TAIWAN_PERMIT = "511"  # 台湾居民来往大陆通行证
    FOREIGN_PERMANENT_RESIDENT = "553"  # 外国人永久居留身份证
    OTHER_PERSONAL = "999"  # 其他个人证件
    CREDIT_CODE = "001"  # 统一社会信用代码
    OTHER_ORGANISATION = "099"  # 其他法人或组织证件

    @property
    def is_organisation(self) -> bool:
        """True for the document types that identify a legal person or organisation."""
        return self in (DocumentType.CREDIT_CODE, DocumentType.OTHER_ORGANISATION)

    @property
    def label(self) -> str:
        """The Chinese name of the document type, for display."""
        return _DOCUMENT_LABELS[self]


_DOCUMENT_LABELS: dict[DocumentType, str] = {
    DocumentType.RESIDENT_ID: "居民身份证",
    DocumentType.PASSPORT: "普通护照",
    DocumentType.HK_MACAO_PERMIT: "港澳居民来往内地通行证",
    DocumentType.TAIWAN_PERMIT: "台湾居民来往大陆通行证",
    DocumentType.FOREIGN_PERMANENT_RESIDENT: "外国人永久居留身份证",
    DocumentType.OTHER_PERSONAL: "其他个人证件",
    DocumentType.CREDIT_CODE: "统一社会信用代码",
    DocumentType.OTHER_ORGANISATION: "其他法人或组织证件",
}

# --------------------------------------------------------------------------------------------
# 公民身份号码 (GB 11643-1999)
# --------------------------------------------------------------------------------------------

_CITIZEN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CITIZEN_CHECK = "10X98765432"
_CITIZEN_HINT = "check the number on the card and enter it again"
_EARLIEST_BIRTH_YEAR = 1800


def _mod11_2(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _CITIZEN_WEIGHTS, strict=True))
    return _CITIZEN_CHECK[total % 11]


def _birth_date_of(
    number: str, label: str, today: dt.date | None, *, check_future: bool
) -> dt.date:
    digits = number[6:14]
    try:
        born = dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise InvalidIdentifier(
            f"{label} {number}: birth date {digits[:4]}-{digits[4:6]}-{digits[6:8]} "
            f"(characters 7-14) is not a real calendar date; {_CITIZEN_HINT}"
        ) from None
    if born.year < _EARLIEST_BIRTH_YEAR:
        raise InvalidIdentifier(
            f"{label} {number}: birth year {born.year} is before {_EARLIEST_BIRTH_YEAR}; "
            f"{_CITIZEN_HINT}"
        )
    limit = today or _today_in_china()
    if check_future and born > limit:
        raise InvalidIdentifier(
            f"{label} {number}: birth date {born.isoformat()} is in the future "
            f"(today is {limit.isoformat()}); {_CITIZEN_HINT}"
        )
    return born


def _check_citizen_number(
    number: str, today: dt.date | None = None, *, check_future: bool = True
) -> None:
    """Raise InvalidIdentifier unless ``number`` is a canonical 18-character citizen ID."""
    label = "citizen ID"
    if len(number) == 15:
        raise InvalidIdentifier(
            f"{label} {number} is a first-generation 15-digit number; upgrade it to 18 "
            f"characters with CitizenId.parse (or PartyKey.of) before storing it"
        )
    if len(number) != 18:
        raise InvalidIdentifier(
            f"{label} {number!r} has {len(number)} characters; it must have 18 "
            f"(or 15 for a first-generation card); {_CITIZEN_HINT}"
        )
    first17, check = number[:17], number[17]
    for position, char in enumerate(first17, start=1):
        if not ("0" <= char <= "9"):
            raise InvalidIdentifier(
                f"{label} {number}: character {position} is {char!r}; the first 17 characters "
                f"must be digits; {_CITIZEN_HINT}"
            )
    if check not in "0123456789X":
        raise InvalidIdentifier(
            f"{label} {number}: the last character is {check!r}; it must be a digit or X; "
            f"{_CITIZEN_HINT}"
        )
    if number[0] in "09":
        hint = (
            " (numbers starting with 9 are 外国人永久居留身份证: record them with document "
            "type 553)"
            if number[0] == "9"
            else ""
        )
        raise InvalidIdentifier(
            f"{label} {number}: address code {number[:6]} cannot start with {number[0]}; "
            f"no province code does{hint}; {_CITIZEN_HINT}"
        )
    expected = _mod11_2(first17)
    if check != expected:
        raise InvalidIdentifier(
            f"{label} {number}: check character should be {expected}, got {check}; "
            f"{_CITIZEN_HINT}"
        )
    _birth_date_of(number, label, today, check_future=check_future)


def _validate_citizen_number(_instance: object, _attribute: object, value: str) -> None:
    # "Not in the future" depends on the clock, so it is checked where input arrives
    # (parse), not when a stored number is loaded.
    _check_citizen_number(value, check_future=False)


@attrs.frozen
class CitizenId:
    """A citizen identity number (公民身份号码), always in its 18-character form.

    Build one with :meth:`parse`, which accepts spaces, a lower-case ``x`` and legacy
    15-digit numbers. The constructor takes only the canonical form and checks every rule
    except "birth date not in the future", which depends on the clock and belongs to input.

    The address code (first 6 digits) is deliberately *not* checked against the division list:
    people keep numbers issued under codes that were later retired, or that did not yet exist
    in their birth year.
    """

    number: str = attrs.field(
        validator=[attrs.validators.instance_of(str), _validate_citizen_number]
    )

    @classmethod
    def parse(cls, text: str, *, today: dt.date | None = None) -> CitizenId:
        """Parse a citizen ID as typed or read from a card.

        Whitespace is removed and ``x`` upper-cased. A 15-digit first-generation number is
        upgraded: ``19`` is inserted before the 2-digit birth year and a check character is
        appended. ``today`` (default: today in China) is the latest acceptable birth date.

        Raises InvalidIdentifier naming the rule that failed.
        """
        number = _compact(text).upper()
        if len(number) == 15:
            if not number.isascii() or not number.isdigit():
                raise InvalidIdentifier(
                    f"citizen ID {number}: a 15-character (first-generation) number must be "
                    f"all digits; {_CITIZEN_HINT}"
                )
            first17 = number[:6] + "19" + number[6:]
            number = first17 + _mod11_2(first17)
        _check_citizen_number(number, today)
        return cls(number)

    @staticmethod
    def check_char(first17: str) -> str:
        """The ISO 7064 MOD 11-2 check character (``0``-``9`` or ``X``) for 17 digits."""
        if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
            raise InvalidIdentifier(
                f"cannot compute a citizen ID check character for {first17!r}: "
                f"give exactly 17 digits"
            )
        return _mod11_2(first17)

    @property
    def division_code(self) -> str:
        """The 6-digit address code (GB/T 2260) of the place of first registration."""
        return self.number[:6]

    @property
    def birth_date(self) -> dt.date:
        """Date of birth (characters 7-14)."""
        n = self.number
        return dt.date(int(n[6:10]), int(n[10:12]), int(n[12:14]))

    @property
    def sex(self) -> str:
        """``"male"`` if the sequence number (characters 15-17) is odd, else ``"female"``."""
        return "male" if int(self.number[16]) % 2 else "female"

    def age_on(self, day: dt.date) -> int:
        """Age in whole years on ``day`` (a person born on 29 February ages on 1 March)."""
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def masked(self) -> str:
        """The number with all but the first 4 and last 4 characters hidden, for lists."""
        return _mask(self.number)

    def __str__(self) -> str:
        return self.number


# --------------------------------------------------------------------------------------------
# 统一社会信用代码 (GB 32100-2015)
# --------------------------------------------------------------------------------------------

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_VALUE = {c: i for i, c in enumerate(CREDIT_ALPHABET)}
_CREDIT_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_CREDIT_HINT = "check the code on the business licence or registration certificate"

# Registering authority (position 1) × entity category (position 2), GB 32100-2015 table 1.
# Kept as data: the registering authorities add categories over time.
CREDIT_CODE_TABLE: dict[str, tuple[str, dict[str, str]]] = {
    "1": ("机构编制", {"1": "机关", "2": "事业单位", "3": "群众团体", "9": "其他"}),
    "2": ("外交", {"1": "外国常驻新闻机构", "9": "其他"}),
    "3": (
        "司法行政",
        {
            "1": "律师事务所",
            "2": "公证处",
            "3": "基层法律服务所",
            "4": "司法鉴定机构",
            "5": "仲裁委员会",
            "9": "其他",
        },
    ),
    "4": ("文化", {"1": "外国在华文化中心", "9": "其他"}),
    "5": ("民政", {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"}),
    "6": (
        "旅游",
        {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地代表机构", "9": "其他"},
    ),
    "7": ("宗教", {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"}),
    "8": ("工会", {"1": "基层工会", "9": "其他"}),
    "9": ("工商/市场监管", {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"}),
    "A": ("军队", {"1": "军队事业单位", "9": "其他"}),
    "N": (
        "农业",
        {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},
    ),
    "Y": ("其他", {"1": "其他"}),
}


def _credit_check(first17: str) -> str:
    total = sum(_CREDIT_VALUE[c] * w for c, w in zip(first17, _CREDIT_WEIGHTS, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


def _org_value(char: str) -> int:
    return int(char) if char.isdigit() else ord(char) - ord("A") + 10


def _org_check(first8: str) -> str:
    total = sum(_org_value(c) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def _check_credit_number(number: str, *, strict: bool) -> None:
    label = "credit code"
    if len(number) != 18:
        raise InvalidIdentifier(
            f"{label} {number!r} has {len(number)} characters; it must have 18; {_CREDIT_HINT}"
        )
    for position, char in enumerate(number, start=1):
        if char not in _CREDIT_VALUE:
            raise InvalidIdentifier(
                f"{label} {number}: character {position} is {char!r}, which credit codes never "
                f"use (allowed: digits and {CREDIT_ALPHABET[10:]}; no I, O, Z, S or V); "
                f"{_CREDIT_HINT}"
            )
    authority, category = number[0], number[1]
    entry = CREDIT_CODE_TABLE.get(authority)
    if entry is None:
        raise InvalidIdentifier(
            f"{label} {number}: registering authority {authority!r} (character 1) is unknown; "
            f"known: {', '.join(CREDIT_CODE_TABLE)}; {_CREDIT_HINT}"
        )
    authority_name, categories = entry
    if category not in categories:
        raise InvalidIdentifier(
            f"{label} {number}: entity category {category!r} (character 2) does not exist for "
            f"registering authority {authority} ({authority_name}); it allows "
            f"{', '.join(categories)}; {_CREDIT_HINT}"
        )
    division = number[2:8]
    if not division.isdigit():
        raise InvalidIdentifier(
            f"{label} {number}: characters 3-8 ({division}) must be the 6-digit division code "
            f"of the registering authority; {_CREDIT_HINT}"
        )
    expected = _credit_check(number[:17])
    if number[17] != expected:
        raise InvalidIdentifier(
            f"{label} {number}: check character should be {expected}, got {number[17]}; "
            f"{_CREDIT_HINT}"
        )
    if strict:
        org_expected = _org_check(number[8:16])
        if number[16] != org_expected:
            raise InvalidIdentifier(
                f"{label} {number}: the embedded organisation code {number[8:17]} fails its "
                f"GB 11714 check: character 17 should be {org_expected}, got {number[16]}; "
                f"{_CREDIT_HINT}, or parse with strict=False for codes known to be issued "
                f"this way"
            )


def _validate_credit_number(_instance: object, _attribute: object, value: str) -> None:
    # The embedded GB 11714 check is a parse-time option: a code once accepted with
    # strict=False must still load from storage.
    _check_credit_number(value, strict=False)


@attrs.frozen
class CreditCode:
    """A unified social credit code (统一社会信用代码) of an organisation.

    Build one with :meth:`parse`. Positions 1-2 are not always digits: military (``A``),
    rural collective economic organisations (``N``) and others (``Y``) are valid.
    """

    number: str = attrs.field(
        validator=[attrs.validators.instance_of(str), _validate_credit_number]
    )

    @classmethod
    def parse(cls, text: str, *, strict: bool = True) -> CreditCode:
        """Parse a credit code; whitespace is removed and letters upper-cased.

        With ``strict`` (the default) the organisation code embedded in characters 9-17 must
        pass its own GB 11714 check too. Raises InvalidIdentifier naming the rule that failed.
        """
        number = _compact(text).upper()
        _check_credit_number(number, strict=strict)
        return cls(number)

    @staticmethod
    def check_char(first17: str) -> str:
        """The MOD 31 check character (GB 32100) for the first 17 characters."""
        first17 = first17.upper()
        if len(first17) != 17 or any(c not in _CREDIT_VALUE for c in first17):
            raise InvalidIdentifier(
                f"cannot compute a credit code check character for {first17!r}: give exactly "
                f"17 characters from {CREDIT_ALPHABET}"
            )
        return _credit_check(first17)

    @staticmethod
    def organisation_check_char(first8: str) -> str:
        """The GB 11714 check character (``0``-``9`` or ``X``) for an 8-character body."""
        first8 = first8.upper()
        if len(first8) != 8 or not first8.isascii() or not first8.isalnum():
            raise InvalidIdentifier(
                f"cannot compute an organisation code check character for {first8!r}: give "
                f"exactly 8 digits or capital letters"
            )
        return _org_check(first8)

    @property
    def authority(self) -> str:
        """Registering authority code (character 1), e.g. ``"9"`` for market regulation."""
        return self.number[0]

    @property
    def category(self) -> str:
        """Entity category code (character 2) within the registering authority."""
        return self.number[1]

    @property
    def authority_name(self) -> str:
        """Chinese name of the registering authority, e.g. ``"民政"``."""
        return CREDIT_CODE_TABLE[self.authority][0]

    @property
    def category_name(self) -> str:
        """Chinese name of the entity category, e.g. ``"企业"``."""
        return CREDIT_CODE_TABLE[self.authority][1][self.category]

    @property
    def division_code(self) -> str:
        """6-digit division code of the registering authority (``100000`` = central level)."""
        return self.number[2:8]

    @property
    def organisation_code(self) -> str:
        """The embedded 9-character organisation code (组织机构代码, GB 11714), no hyphen."""
        return self.number[8:17]

    def masked(self) -> str:
        """The code with all but the first 4 and last 4 characters hidden, for lists."""
        return _mask(self.number)

    def __str__(self) -> str:
        return self.number


def parse_identifier(text: str, *, strict: bool = True) -> CitizenId | CreditCode:
    """Parse text as a citizen ID or, failing that, as a credit code.

    Raises InvalidIdentifier explaining why both readings failed.
    """
    try:
        return CitizenId.parse(text)
    except InvalidIdentifier as as_citizen:
        try:
            return CreditCode.parse(text, strict=strict)
        except InvalidIdentifier as as_credit:
            raise InvalidIdentifier(
                f"{_compact(text)!r} is neither a citizen ID nor a credit code. "
                f"As a citizen ID: {as_citizen}. As a credit code: {as_credit}."
            ) from None


# --------------------------------------------------------------------------------------------
# Parties
# --------------------------------------------------------------------------------------------

_MAX_OTHER_NUMBER = 64


def _normalise_key_number(value: object) -> object:
    return _compact(value).upper() if isinstance(value, str) else value


@attrs.frozen
class PartyKey:
    """What identifies an applicant: a document type plus its number (一号).

    Citizen IDs and credit codes are stored in canonical form (use :meth:`of` or
    :meth:`for_document` to normalise 15-digit IDs and lower-case input). A login account is
    never a key: one person may have many accounts, and an account may change hands.
    """

    doc_type: DocumentType = attrs.field(validator=attrs.validators.instance_of(DocumentType))
    number: str = attrs.field(converter=_normalise_key_number)

    @number.validator
    def _check_number(self, _attribute: object, value: object) -> None:
        if not isinstance(value, str):
            raise InvalidIdentifier(f"document number must be text, got {type(value).__name__}")
        if self.doc_type is DocumentType.RESIDENT_ID:
            _check_citizen_number(value, check_future=False)
        elif self.doc_type is DocumentType.CREDIT_CODE:
            _check_credit_number(value, strict=False)
        elif not value:
            raise InvalidIdentifier(
                f"the {self.doc_type.label} number is empty; enter the number on the document"
            )
        elif len(value) > _MAX_OTHER_NUMBER:
            raise InvalidIdentifier(
                f"the {self.doc_type.label} number has {len(value)} characters; at most "
                f"{_MAX_OTHER_NUMBER} are allowed; check what was entered"
            )
        elif (
            self.doc_type is DocumentType.FOREIGN_PERMANENT_RESIDENT
            and len(value) == 18
            and value[:17].isdigit()
        ):
            # The 2023 card uses the citizen ID check (GB 11643); the 2004 card (15
            # characters, letters first) has no check character we know of.
            expected = _mod11_2(value[:17])
            if value[17] != expected:
                raise InvalidIdentifier(
                    f"外国人永久居留身份证 {value}: check character should be {expected}, "
                    f"got {value[17]}; check the number on the card"
                )

    @classmethod
    def of(cls, text: str, *, strict: bool = True) -> PartyKey:
        """Detect the document type from the number itself.

        A citizen ID (18 or 15 characters) gives 111, a credit code 001, an 18-digit number
        starting with 9 that passes the GB 11643 check (the 2023 外国人永久居留身份证) 553.
        Passports and permits cannot be told apart by shape: use :meth:`for_document`.
        Raises InvalidIdentifier explaining every reading that was tried.
        """
        number = _compact(text).upper()
        try:
            return cls(DocumentType.RESIDENT_ID, CitizenId.parse(number).number)
        except InvalidIdentifier as as_citizen:
            citizen_error = as_citizen
        try:
            return cls(DocumentType.CREDIT_CODE, CreditCode.parse(number, strict=strict).number)
        except InvalidIdentifier as as_credit:
            credit_error = as_credit
        if len(number) == 18 and number.startswith("9") and number[:17].isdigit():
            try:
                return cls(DocumentType.FOREIGN_PERMANENT_RESIDENT, number)
            except InvalidIdentifier:
                pass
        raise InvalidIdentifier(
            f"cannot tell what document {number!r} is. As a citizen ID: {citizen_error}. "
            f"As a credit code: {credit_error}. For a passport or permit, give the document "
            f"type explicitly with PartyKey.for_document."
        )

    @classmethod
    def for_document(cls, doc_type: DocumentType | str, number: str) -> PartyKey:
        """Key for a known document type (``DocumentType`` or its code such as ``"414"``).

        Citizen IDs are parsed (15-digit numbers upgraded, ``x`` upper-cased) and credit codes
        parsed strictly before the key is built.
        """
        try:
            kind = DocumentType(doc_type)
        except ValueError:
            known = ", ".join(f"{t.value} {t.label}" for t in DocumentType)
            raise InvalidIdentifier(
                f"unknown document type {doc_type!r}; use one of: {known}"
            ) from None
        if kind is DocumentType.RESIDENT_ID:
            return cls(kind, CitizenId.parse(number).number)
        if kind is DocumentType.CREDIT_CODE:
            return cls(kind, CreditCode.parse(number).number)
        return cls(kind, number)

    @property
    def is_organisation(self) -> bool:
        """True if the key identifies a legal person or organisation."""
        return self.doc_type.is_organisation

    def masked(self) -> str:
        """Document type code and masked number, e.g. ``111:1101**********002X``."""
        return f"{self.doc_type.value}:{_mask(self.number)}"

    def __str__(self) -> str:
        return f"{self.doc_type.value}:{self.number}"


def _strip_text(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _strip_optional(value: object) -> object:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _storable(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, str):
        check_text(value, f"{type(instance).__name__}.{attribute.name}")


def _non_empty(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    _storable(instance, attribute, value)
    if not value:
        raise InvalidIdentifier(
            f"{type(instance).__name__}.{attribute.name} is empty; enter the name as it "
            f"appears on the document"
        )


def _personal_key(_instance: object, _attribute: object, key: PartyKey) -> None:
    if key.is_organisation:
        raise InvalidIdentifier(
            f"a person cannot be keyed by document type {key.doc_type.value} "
            f"({key.doc_type.label}); use Organisation for legal persons"
        )


def _organisation_key(_instance: object, _attribute: object, key: PartyKey) -> None:
    if not key.is_organisation:
        raise InvalidIdentifier(
            f"an organisation cannot be keyed by document type {key.doc_type.value} "
            f"({key.doc_type.label}); use a credit code (001) or 099, or Person for people"
        )


_optional_str = attrs.validators.and_(
    attrs.validators.optional(attrs.validators.instance_of(str)), _storable
)


@attrs.frozen
class Person:
    """A natural person applying for a service (自然人)."""

    key: PartyKey = attrs.field(
        validator=[attrs.validators.instance_of(PartyKey), _personal_key]
    )
    name: str = attrs.field(
        converter=_strip_text, validator=[attrs.validators.instance_of(str), _non_empty]
    )
    phone: str | None = attrs.field(
        default=None, converter=_strip_optional, validator=_optional_str
    )
    address: str | None = attrs.field(
        default=None, converter=_strip_optional, validator=_optional_str
    )

    @property
    def is_organisation(self) -> bool:
        """Always False; lets code branch on a :data:`Party` without isinstance."""
        return False


@attrs.frozen
class Organisation:
    """A legal person or other organisation applying for a service (法人或其他组织)."""

    key: PartyKey = attrs.field(
        validator=[attrs.validators.instance_of(PartyKey), _organisation_key]
    )
    name: str = attrs.field(
        converter=_strip_text, validator=[attrs.validators.instance_of(str), _non_empty]
    )
    legal_representative: str | None = attrs.field(
        default=None, converter=_strip_optional, validator=_optional_str
    )
    phone: str | None = attrs.field(
        default=None, converter=_strip_optional, validator=_optional_str
    )
    address: str | None = attrs.field(
        default=None, converter=_strip_optional, validator=_optional_str
    )

    @property
    def is_organisation(self) -> bool:
        """Always True; lets code branch on a :data:`Party` without isinstance."""
        return True


Party = Person | Organisation
"""An applicant: a :class:`Person` or an :class:`Organisation`."""


def _party_hook(c: cattrs.Converter) -> None:
    def structure_party(value: Any, _: Any) -> Person | Organisation:
        # The document type decides the class, so a stored payload never depends on which
        # optional fields happen to be present.
        if not isinstance(value, dict) or not isinstance(value.get("key"), dict):
            raise ValueError("a party needs an object with a 'key' object")
        doc_type = DocumentType(value["key"].get("doc_type"))
        target: type[Person] | type[Organisation] = (
            Organisation if doc_type.is_organisation else Person
        )
        party: Person | Organisation = c.structure(value, target)
        return party

    c.register_structure_hook_func(lambda t: t == Party, structure_party)


_converter.on_each(_party_hook)
