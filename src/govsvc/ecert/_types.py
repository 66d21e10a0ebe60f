"""Certificate types (证照目录): what a type of certificate carries, as data.

A :class:`CertificateType` says what the certificate is called, which agency defines it
(its code starts with that agency's credit code), which face fields (照面信息) it carries and
of which kind, how long it is valid, and which service items (by implementation code)
issue it. The packaged file ``govsvc/data/ecert/types.json`` holds the types of the
reference departments' results; :func:`load_certificate_types` reads it or another file.
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib.resources
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import attrs

from govsvc._converter import on_each, structure
from govsvc.catalogue import Agency, ItemVersion
from govsvc.errors import ImportFileError, InvalidInput, StructureError, UnknownItem

from ._identifier import _check_type_code

__all__ = [
    "TYPES_FORMAT",
    "CertificateType",
    "CertificateTypes",
    "FaceField",
    "FieldKind",
    "Validity",
    "ValidityKind",
    "load_certificate_types",
]

TYPES_FORMAT = "govsvc.ecert-types/1"
"""The ``format`` value a certificate types file must declare."""

# Properties the credential's subject uses for the holder; a face field may not take them.
RESERVED_FIELD_KEYS = frozenset({"id", "type", "holderName", "holderCode", "holderCodeType"})
_VC_TYPE = re.compile(r"[A-Z][A-Za-z0-9]{2,63}")
_FIELD_KEY = re.compile(r"[a-z][A-Za-z0-9]{0,63}")
_ITEM_CODE = re.compile(r"[0-9A-Z]{24,36}")
_E = TypeVar("_E", bound=enum.Enum)


class FieldKind(enum.Enum):
    """The kind of value a face field holds."""

    TEXT = "text"  # free text, as printed
    DATE = "date"  # a calendar date (ISO 8601 in documents)
    NUMBER = "number"  # a whole or decimal number (never a float)
    ENUM = "enum"  # one of the field's ``choices``
    CODE = "code"  # a code matching the field's ``pattern`` (credit code, licence number …)


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _not_blank(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"{type(instance).__name__}.{attribute.name} must be non-empty text, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class FaceField:
    """One face field (照面项) of a certificate type.

    ``key`` is the field's name in documents (lower camel case ASCII, e.g. ``businessScope``);
    ``label`` is the Chinese caption printed on the certificate (经营范围).
    """

    key: str = attrs.field(converter=_strip)
    label: str = attrs.field(converter=_strip, validator=_not_blank)
    kind: FieldKind = FieldKind.TEXT
    required: bool = True
    choices: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    pattern: str | None = None
    max_length: int | None = None

    @key.validator
    def _check_key(self, _: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not _FIELD_KEY.fullmatch(value):
            raise InvalidInput(
                f"face field key {value!r} must be lower camel case ASCII (e.g. businessScope): "
                f"it becomes a property name in the W3C credential"
            )
        if value in RESERVED_FIELD_KEYS:
            raise InvalidInput(
                f"face field key {value!r} is reserved for the holder in the credential "
                f"(reserved: {', '.join(sorted(RESERVED_FIELD_KEYS))}); choose another name"
            )

    def __attrs_post_init__(self) -> None:
        if self.kind is FieldKind.ENUM and not self.choices:
            raise InvalidInput(f"face field {self.key} ({self.label}) is an enum without choices")
        if self.kind is not FieldKind.ENUM and self.choices:
            raise InvalidInput(
                f"face field {self.key} ({self.label}) has choices but is of kind "
                f"{self.kind.value}; make it an enum or drop the choices"
            )
        if self.kind is FieldKind.CODE and not self.pattern:
            raise InvalidInput(
                f"face field {self.key} ({self.label}) is a code without a pattern; give the "
                f"regular expression its values must match"
            )
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise InvalidInput(
                    f"face field {self.key} ({self.label}): pattern {self.pattern!r} is not a "
                    f"valid regular expression ({exc})"
                ) from None

    def problem(self, value: object) -> tuple[object, str | None]:
        """``(normalised value, None)`` or ``(value, what is wrong)`` for one value.

        Values are normalised to their JSON form, the form the credential carries and the
        store keeps: a date as ``YYYY-MM-DD`` text, a whole number as an int, any other
        number as decimal text (never a float), text stripped.
        """
        kind = self.kind
        if kind is FieldKind.DATE:
            if isinstance(value, dt.datetime):
                return value, "is a date and time; give the date only (YYYY-MM-DD)"
            if isinstance(value, dt.date):
                return value.isoformat(), None
            if isinstance(value, str):
                try:
                    return dt.date.fromisoformat(value.strip()).isoformat(), None
                except ValueError:
                    pass
            return value, f"must be a date (YYYY-MM-DD), got {value!r}"
        if kind is FieldKind.NUMBER:
            if isinstance(value, bool | float):
                return value, (
                    f"must be a whole number or a decimal given as text, got {value!r}"
                    + (" (floats lose digits)" if isinstance(value, float) else "")
                )
            if isinstance(value, int):
                return value, None
            if isinstance(value, Decimal | str):
                try:
                    number = Decimal(value.strip() if isinstance(value, str) else value)
                except InvalidOperation:
                    return value, f"must be a number, got {value!r}"
                if not number.is_finite():
                    return value, f"must be a finite number, got {value!r}"
                if number == number.to_integral_value():
                    return int(number), None
                return str(number), None
            return value, f"must be a number, got {type(value).__name__}"
        if not isinstance(value, str):
            return value, f"must be text, got {type(value).__name__} {value!r}"
        text = value.strip()
        if not text:
            return value, "is empty"
        if self.max_length is not None and len(text) > self.max_length:
            return value, f"has {len(text)} characters; at most {self.max_length} are allowed"
        if kind is FieldKind.ENUM and text not in self.choices:
            return value, f"must be one of {', '.join(self.choices)}; got {text!r}"
        if self.pattern is not None and not re.fullmatch(self.pattern, text):
            return value, f"{text!r} does not match the pattern {self.pattern}"
        return text, None


def _structure_enum(value: object, cls: type[_E]) -> _E:
    # An SDK error keeps its words through structure(): say which values are allowed.
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in cls)
        raise InvalidInput(f"{value!r} is not a {cls.__name__}; use one of {allowed}") from None


class ValidityKind(enum.Enum):
    """How a certificate type's validity period is set."""

    YEARS = "years"  # a fixed number of years from valid_from (e.g. 5 for 食品经营许可证)
    LONG_TERM = "long_term"  # 长期: no end date
    BY_ISSUER = "by_issuer"  # the issuer sets the end date (or 长期) at issue


on_each(lambda c: c.register_structure_hook(FieldKind, _structure_enum))
on_each(lambda c: c.register_structure_hook(ValidityKind, _structure_enum))


@attrs.frozen(kw_only=True)
class Validity:
    """A certificate type's validity rule (有效期规则)."""

    kind: ValidityKind
    years: int | None = None

    def __attrs_post_init__(self) -> None:
        if (self.kind is ValidityKind.YEARS) != (self.years is not None):
            raise InvalidInput(
                "a validity rule gives years exactly when its kind is 'years' "
                f"(got kind {self.kind.value!r}, years {self.years!r})"
            )
        if self.years is not None and not 1 <= self.years <= 100:
            raise InvalidInput(f"a validity of {self.years} years is outside 1-100")

    @classmethod
    def of_years(cls, years: int) -> Validity:
        return cls(kind=ValidityKind.YEARS, years=years)

    @classmethod
    def long_term(cls) -> Validity:
        return cls(kind=ValidityKind.LONG_TERM)

    def until(self, valid_from: dt.date) -> dt.date | None:
        """The last valid day for a certificate valid from ``valid_from`` (None: 长期).

        N years from 20 May 2023 ends on 19 May 2028 (the day before the anniversary), as
        licences print it; from 29 February the anniversary is 1 March.
        """
        if self.kind is ValidityKind.LONG_TERM:
            return None
        if self.kind is ValidityKind.BY_ISSUER or self.years is None:
            raise InvalidInput(
                "this certificate type's validity is set by the issuer: give valid_until "
                "(or None for 长期) when issuing"
            )
        year = valid_from.year + self.years
        try:
            anniversary = valid_from.replace(year=year)
        except ValueError:  # 29 February into a common year
            anniversary = dt.date(year, 3, 1)
        return anniversary - dt.timedelta(days=1)

    @property
    def label(self) -> str:
        """The rule as printed, e.g. ``5年`` or ``长期``."""
        if self.kind is ValidityKind.YEARS:
            return f"{self.years}年"
        return "长期" if self.kind is ValidityKind.LONG_TERM else "由发证机关确定"


def _type_code(_instance: object, _attribute: object, value: str) -> None:
    _check_type_code(value, "certificate type code")


def _item_codes(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise InvalidInput(f"give a list of implementation codes, not the string {values!r}")
    codes = tuple(str(v).strip().upper() for v in values)
    for code in codes:
        if not _ITEM_CODE.fullmatch(code):
            raise InvalidInput(
                f"{code!r} is not a service item implementation code (实施编码): 24-36 digits "
                f"and capital letters"
            )
    return codes


@attrs.frozen(kw_only=True)
class CertificateType:
    """A type of certificate in the catalogue (证照目录条目), e.g. 食品经营许可证.

    ``code`` is the 21-character type code (defining agency's credit code + 3-digit serial);
    ``vc_type`` is the term added to the W3C credential's ``type`` (e.g.
    ``FoodBusinessLicence``); ``items`` lists the implementation codes of the service items
    whose result it is.
    """

    code: str = attrs.field(converter=_strip, validator=_type_code)
    name: str = attrs.field(converter=_strip, validator=_not_blank)
    vc_type: str = attrs.field(converter=_strip)
    defining_agency: Agency
    holder_kind: str = attrs.field(default="person")  # "person" | "organisation" | "either"
    fields: tuple[FaceField, ...] = attrs.field(converter=tuple)
    validity: Validity
    items: tuple[str, ...] = attrs.field(default=(), converter=_item_codes)

    @vc_type.validator
    def _check_vc_type(self, _: attrs.Attribute[str], value: str) -> None:
        if not _VC_TYPE.fullmatch(value):
            raise InvalidInput(
                f"certificate type {self.code}: vc_type {value!r} must be an upper camel case "
                f"ASCII term (e.g. BusinessLicence)"
            )

    @holder_kind.validator
    def _check_holder_kind(self, _: attrs.Attribute[str], value: str) -> None:
        if value not in ("person", "organisation", "either"):
            raise InvalidInput(
                f"certificate type {self.code}: holder_kind must be person, organisation or "
                f"either, got {value!r}"
            )

    def __attrs_post_init__(self) -> None:
        if self.defining_agency.credit_code != self.code[:18]:
            raise InvalidInput(
                f"certificate type {self.code} ({self.name}): the type code must start with "
                f"the defining agency's credit code {self.defining_agency.credit_code}"
            )
        seen: set[str] = set()
        for f in self.fields:
            if f.key in seen:
                raise InvalidInput(
                    f"certificate type {self.code} ({self.name}) lists face field {f.key} twice"
                )
            seen.add(f.key)

    def field(self, key: str) -> FaceField:
        """The face field named ``key``; :class:`~govsvc.errors.InvalidInput` lists the keys."""
        for f in self.fields:
            if f.key == key:
                return f
        raise InvalidInput(
            f"{self.name} has no face field {key!r}; its fields are "
            f"{', '.join(f.key for f in self.fields)}"
        )

    def check_face(self, face: Mapping[str, object]) -> dict[str, object]:
        """The face values normalised to their JSON form (see :meth:`FaceField.problem`).

        Raises :class:`~govsvc.errors.StructureError` listing every missing required field,
        every field this type does not have, and every ill-typed value, each by key and label.
        """
        if not isinstance(face, Mapping):
            raise StructureError(
                f"face of {self.name}", [f"expected an object of face fields, got {face!r}"]
            )
        problems: list[str] = []
        result: dict[str, object] = {}
        for spec in self.fields:
            value = face.get(spec.key)
            if value is None or (isinstance(value, str) and not value.strip()):
                if spec.required:
                    problems.append(f"{spec.key} ({spec.label}) is required but missing")
                continue
            normalised, problem = spec.problem(value)
            if problem:
                problems.append(f"{spec.key} ({spec.label}) {problem}")
            else:
                result[spec.key] = normalised
        known = {f.key for f in self.fields}
        extra = [k for k in face if k not in known]
        if extra:
            problems.append(
                f"{', '.join(map(repr, extra))} {'is' if len(extra) == 1 else 'are'} not face "
                f"field(s) of {self.name}; its fields are {', '.join(sorted(known))}"
            )
        if problems:
            raise StructureError(f"face of {self.name} ({self.code})", problems)
        return result


def _as_types(values: Iterable[CertificateType]) -> tuple[CertificateType, ...]:
    return tuple(values)


@attrs.frozen
class CertificateTypes:
    """The certificate catalogue: types by code, and which type a service item issues."""

    types: tuple[CertificateType, ...] = attrs.field(converter=_as_types)

    def __attrs_post_init__(self) -> None:
        seen: dict[str, str] = {}
        for t in self.types:
            if t.code in seen:
                raise InvalidInput(
                    f"certificate type code {t.code} is used twice ({seen[t.code]} and {t.name})"
                )
            seen[t.code] = t.name

    def __iter__(self) -> Iterator[CertificateType]:
        return iter(self.types)

    def __len__(self) -> int:
        return len(self.types)

    def get(self, code: str) -> CertificateType:
        """The type with that code; :class:`~govsvc.errors.UnknownItem` lists the known ones."""
        code = "".join(str(code).split()).upper()
        for t in self.types:
            if t.code == code:
                return t
        known = ", ".join(f"{t.code} {t.name}" for t in self.types)
        raise UnknownItem(f"no certificate type {code!r} in the catalogue; known types: {known}")

    def issued_by_item(self, item_code: str) -> tuple[CertificateType, ...]:
        """The types a service item (by implementation code) issues as its result."""
        code = item_code.strip().upper()
        return tuple(t for t in self.types if code in t.items)

    def of_version(self, version: ItemVersion) -> CertificateType | None:
        """The certificate type an item version's result is: its guide's result entry
        (``ecert_type``), else this catalogue's list of issuing items; None when neither
        names a type here (the result is not an e-certificate)."""
        for result in version.results:
            if result.ecert_type:
                try:
                    return self.get(result.ecert_type)
                except UnknownItem:
                    continue
        found = self.issued_by_item(version.item_code)
        return found[0] if found else None


def load_certificate_types(path: str | Path | None = None) -> CertificateTypes:
    """Read a certificate types file (JSON, format ``govsvc.ecert-types/1``).

    Without ``path``, the packaged catalogue of the reference departments' results.
    Raises :class:`~govsvc.errors.ImportFileError` naming the file, and the type and field
    at fault.
    """
    if path is None:
        source = "govsvc/data/ecert/types.json"
        text = (
            importlib.resources.files("govsvc")
            .joinpath("data/ecert/types.json")
            .read_text(encoding="utf-8")
        )
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ImportFileError(
                f"cannot read the file ({exc.strerror or exc})",
                source=source,
                line=None,
                field=None,
            ) from None
    return _parse_types(text, source)


def _parse_types(text: str, source: str) -> CertificateTypes:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"not valid JSON: {exc.msg}", source=source, line=exc.lineno, field=None
        ) from None
    if not isinstance(data, dict) or data.get("format") != TYPES_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ImportFileError(
            f'expected an object with "format": "{TYPES_FORMAT}", found {found!r}',
            source=source,
            line=None,
            field="format",
        )
    entries = data.get("types")
    if not isinstance(entries, list):
        raise ImportFileError(
            'expected a "types" list of certificate types',
            source=source,
            line=None,
            field="types",
        )
    types: list[CertificateType] = []
    for n, entry in enumerate(entries):
        label = entry.get("name", "?") if isinstance(entry, dict) else "?"
        try:
            types.append(structure(entry, CertificateType, what=f"certificate type {label}"))
        except (StructureError, InvalidInput) as exc:
            raise ImportFileError(
                str(exc), source=source, line=None, field=f"types[{n}] ({label})"
            ) from None
    try:
        return CertificateTypes(types)
    except InvalidInput as exc:
        raise ImportFileError(str(exc), source=source, line=None, field="types") from None
