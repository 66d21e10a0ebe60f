"""Import and export of service items and their guides, as JSON or as a pair of CSV files.

JSON holds everything (one object per item with all its versions) and is the format of the
sample catalogue shipped in ``govsvc/data/items/``. CSV is for people working in a spreadsheet:
one file with a row per item version (the guide's scalar fields; lists of structured values go
in JSON cells) and one with a row per material. Both formats are described with examples in
``docs/catalogue.md``.

Every problem in a file raises :class:`~govsvc.errors.ImportFileError` naming the file, the
line (JSON syntax errors and CSV rows) and the field (a JSON path such as
``$.items[0].versions[1].case_kind``, or a CSV column). Files may be given as text or as bytes
(UTF-8, with or without a byte-order mark, unless said otherwise). Whatever a file holds,
nothing else comes out: bytes that do not decode, nesting deeper than a catalogue needs, text
the database cannot store (NUL, lone surrogates) and version numbers that could not be
published in order are all refused with the place named.
"""

from __future__ import annotations

import codecs
import csv
import enum
import functools
import importlib.resources
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.v import format_exception

from govsvc._converter import converter
from govsvc._text import check_text, unstorable_texts
from govsvc.catalogue import (
    Agency,
    CaseKind,
    Channel,
    CrossRegion,
    ExerciseLevel,
    Fee,
    FeeInfo,
    ItemType,
    ItemVersion,
    LegalBasis,
    Material,
    MaterialSource,
    Medium,
    Necessity,
    OnlineDepth,
    ProcessStep,
    ResultSpec,
    ReviewStage,
    ServiceItem,
    ServiceTarget,
    check_version,
)
from govsvc.deadlines import TimeLimit
from govsvc.errors import ImportFileError, InvalidInput

__all__ = [
    "ITEM_COLUMNS",
    "JSON_FORMAT",
    "MATERIAL_COLUMNS",
    "OPTIONAL_ITEM_COLUMNS",
    "export_csv",
    "export_json",
    "import_csv",
    "import_json",
    "load_sample_catalogue",
    "load_sample_items",
]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

ItemWithVersions = tuple[ServiceItem, list[ItemVersion]]

JSON_FORMAT = "govsvc.catalogue/1"
"""The value of the ``format`` key of a catalogue JSON file."""


# --------------------------------------------------------------------------------------------
# Shared checks


def _problems(exc: BaseException, path: str) -> list[tuple[str, str]]:
    """``(path, message)`` pairs for a structuring failure, keeping our own messages."""

    def fmt(error: BaseException, target: type | None) -> str:
        # The SDK's validators and enum hook write messages a clerk can act on (allowed values,
        # the check character expected); cattrs' default would replace them with "invalid value".
        if isinstance(error, ValueError) and not isinstance(error, cattrs.BaseValidationError):
            return str(error)
        return format_exception(error, target)

    if isinstance(exc, cattrs.BaseValidationError):
        lines = cattrs.transform_error(exc, path=path, format_exception=fmt)
    else:
        lines = [f"{fmt(exc, None)} @ {path}"]
    pairs = []
    for line in lines:
        message, _, where = line.rpartition(" @ ")
        pairs.append((where, message) if message else (path, line))
    return pairs


def _structure(data: Any, cls: Any, *, path: str) -> Any:
    """Structure ``data`` through the SDK converter, or raise _StructureFailure with every path."""
    try:
        return converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise _StructureFailure(_problems(exc, path)) from exc


class _StructureFailure(Exception):
    """Internal: structuring failed; callers turn it into an ImportFileError with a location."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{m} @ {p}" for p, m in problems))

    @property
    def field(self) -> str:
        return self.problems[0][0]

    @property
    def message(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0][1]
        return "; ".join(f"{m} @ {p}" for p, m in self.problems)


# A catalogue nests eight levels deep (items, versions, review stages, departments). The
# limit keeps well away from the JSON parser's recursion limit, which a hostile file of a few
# kilobytes of brackets would otherwise hit (RecursionError, not an import error).
_MAX_DEPTH = 32
# Version numbers are stored as 32-bit integers (PostgreSQL INTEGER).
_MAX_VERSION = 2**31 - 1
# A JSON string (so that brackets inside it are not counted) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _too_deep(text: str) -> int | None:
    """The offset of the first bracket that opens a level beyond ``_MAX_DEPTH``, or None."""
    depth = 0
    for token in _JSON_TOKEN.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return token.start()
        elif char in "]}":
            depth -= 1
    return None


def _line_and_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _decoded(data: str | bytes, source: str, encoding: str | None = None, hint: str = "") -> str:
    """The text of a file given as text or bytes, without a byte-order mark.

    ``encoding`` None is JSON's rule: UTF-8, or UTF-16/32 recognised by their zero bytes.
    Bytes that do not decode raise ImportFileError at their line and column; ``hint`` ends
    the message.
    """
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if encoding is None:
        encoding = json.detect_encoding(data)
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise InvalidInput(f"unknown encoding {encoding!r}; try 'utf-8' or 'gb18030'") from None
    codec = "utf-8" if name in ("utf-8", "utf-8-sig") else encoding
    # Dropped here rather than by utf-8-sig, which would count offsets after the mark.
    skip = len(codecs.BOM_UTF8) if codec == "utf-8" and data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode(codec).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        offset = exc.start + skip
        start = data.rfind(b"\n", 0, offset) + 1
        line = data.count(b"\n", 0, offset) + 1
        column = len(data[start:offset].decode(codec, errors="replace").lstrip("\ufeff")) + 1
        shown = "UTF-8" if codec == "utf-8" else encoding.upper()
        raise ImportFileError(
            f"not {shown} text: byte 0x{data[offset]:02X} at column {column} "
            f"(byte offset {offset}) cannot be decoded ({exc.reason}); save the file as "
            f"UTF-8 (files saved as GBK by Chinese-language Windows programs fail so){hint}",
            source=source,
            line=line,
            field=None,
        ) from None


def _json_value(text: str, source: str, line: int | None = None, field: str | None = None) -> Any:
    """``json.loads(text)``, refusing what json.loads would crash on or accept wrongly.

    ``line`` and ``field`` place a JSON cell of a CSV file; for a whole file they are None
    and the error names the line of the text.
    """

    def error(message: str, offset: int | None) -> ImportFileError:
        at_line = line
        if offset is not None and line is None:
            at_line, column = _line_and_column(text, offset)
            message += f" (column {column})"
        elif offset is not None:  # a JSON cell of a CSV row: the row has the line
            message += f" (character {offset + 1} of the cell)"
        return ImportFileError(message, source=source, line=at_line, field=field)

    deep = _too_deep(text)
    if deep is not None:
        raise error(
            f"not a catalogue: lists and objects are nested more than {_MAX_DEPTH} levels "
            f"deep here",
            deep,
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON: {exc.msg}", exc.pos) from None
    except (ValueError, RecursionError) as exc:  # a number of over 4300 digits, mostly
        raise error(f"not valid JSON: {exc}", None) from None


def _storable(data: Any, path: str, fail: Callable[[str, str], ImportFileError]) -> None:
    """Refuse text the database cannot store anywhere in decoded JSON (keys included).

    ``fail(message, where)`` builds the error for the string at path ``where``.
    """
    for where, _problem, text in unstorable_texts(data, path):
        try:
            check_text(text, "the key" if where.startswith("a key in ") else "the text")
        except InvalidInput as exc:
            raise fail(str(exc), where) from None


def _numbering(numbers: Sequence[int]) -> str | None:
    """Why versions numbered so (in file order) could not be published in order, or None."""
    if list(numbers) != sorted(numbers):
        return (
            f"are listed as {_listed(numbers)}; list them oldest first "
            f"({_listed(sorted(numbers))}), the order they are published in"
        )
    gap = next((i for i in range(1, len(numbers)) if numbers[i] != numbers[i - 1] + 1), None)
    if gap is not None:
        # Named, not listed: a file may number a version 10**30.
        first, last = numbers[gap - 1] + 1, numbers[gap] - 1
        missing = str(first) if first == last else f"{first} to {last}"
        return (
            f"are numbered {_listed(numbers)}, without {missing}; each version must be the "
            f"one after the last (publish checks it), so number them without gaps"
        )
    return None


def _listed(numbers: Iterable[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _check_entry(
    item: ServiceItem,
    versions: Sequence[ItemVersion],
    *,
    check: bool,
    fail: Callable[[int | None, str], ImportFileError],
) -> list[ItemVersion]:
    """The versions, after the checks every import makes (they are listed oldest first).

    ``fail(index, message)`` builds the error for the version at ``index`` (None: the item).
    """
    if not versions:
        raise fail(None, f"item {item.implementation_code} has no version: give at least one")
    seen: dict[int, int] = {}
    for index, version in enumerate(versions):
        if version.item_code != item.implementation_code:
            raise fail(
                index,
                f"version item code {version.item_code} is not the item's implementation code "
                f"{item.implementation_code}",
            )
        if version.version in seen:
            raise fail(index, f"version {version.version} of {version.item_code} appears twice")
        seen[version.version] = index
        if version.version > _MAX_VERSION:
            raise fail(
                index,
                f"version number {version.version} is larger than the store can hold "
                f"({_MAX_VERSION}); number versions 1, 2, 3, …",
            )
    numbers = [version.version for version in versions]
    problem = _numbering(numbers)
    if problem is not None:
        # Point at the first version out of place: the first that is not one more than the
        # version before it.
        index = next(i for i in range(1, len(numbers)) if numbers[i] != numbers[i - 1] + 1)
        raise fail(index, f"the versions of item {item.implementation_code} {problem}")
    for index, version in enumerate(versions if check else ()):
        violations = check_version(item, version)
        if violations:
            raise fail(
                index,
                f"version {version.version} of {item.name} breaks {len(violations)} "
                f"catalogue rule(s): " + "; ".join(violations),
            )
    return list(versions)


# --------------------------------------------------------------------------------------------
# JSON


@attrs.frozen(kw_only=True)
class _JsonEntry:
    item: ServiceItem
    versions: list[ItemVersion]


@attrs.frozen(kw_only=True)
class _JsonFile:
    format: str
    items: list[_JsonEntry]


def export_json(items: Iterable[tuple[ServiceItem, Sequence[ItemVersion]]]) -> str:
    """A catalogue JSON document with every item and all its versions (indented, UTF-8 text)."""
    document = _JsonFile(
        format=JSON_FORMAT,
        items=[
            _JsonEntry(item=item, versions=sorted(versions, key=lambda v: v.version))
            for item, versions in items
        ],
    )
    return json.dumps(converter.unstructure(document), ensure_ascii=False, indent=2) + "\n"


def import_json(
    text: str | bytes, source: str = "<json>", *, check: bool = True
) -> list[ItemWithVersions]:
    """Items and their versions (oldest first) from a catalogue JSON document.

    ``text`` is the document as text, or its bytes (UTF-8, with or without a byte-order
    mark). The versions of each item must be listed oldest first and numbered without gaps
    (1, 2, 3; a file may start later, at the number after the last one published). With
    ``check`` (the default) every version must also pass :func:`check_version`; turn it off
    only to inspect a file that is known to be inconsistent.
    """
    data = _json_value(_decoded(text, source), source)
    if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ImportFileError(
            f'not a govsvc catalogue: expected an object with "format": "{JSON_FORMAT}", '
            f"found {found!r}",
            source=source,
            line=None,
            field="$.format",
        )
    _storable(
        data,
        "$",
        lambda message, where: ImportFileError(message, source=source, line=None, field=where),
    )
    try:
        document: _JsonFile = _structure(data, _JsonFile, path="$")
    except _StructureFailure as exc:
        raise ImportFileError(exc.message, source=source, line=None, field=exc.field) from None

    result: list[ItemWithVersions] = []
    codes: dict[str, int] = {}
    for i, entry in enumerate(document.items):

        def fail(index: int | None, message: str, i: int = i) -> ImportFileError:
            field = f"$.items[{i}]" + (f".versions[{index}]" if index is not None else "")
            return ImportFileError(message, source=source, line=None, field=field)

        code = entry.item.implementation_code
        if code in codes:
            raise fail(None, f"item {code} appears twice (also at $.items[{codes[code]}])")
        codes[code] = i
        versions = _check_entry(entry.item, entry.versions, check=check, fail=fail)
        result.append((entry.item, versions))
    return result


def load_sample_items() -> list[tuple[ServiceItem, ItemVersion]]:
    """The sample Harbin catalogue shipped with govsvc: each item with its current version."""
    return [(item, versions[-1]) for item, versions in load_sample_catalogue()]


def load_sample_catalogue(agency: str | None = None) -> list[ItemWithVersions]:
    """The sample Harbin catalogue with every version of each item (oldest first).

    ``agency`` (a credit code) keeps only the items that agency implements: a reference
    department plugin registers its own items this way (``govsvc_service_items``).
    """
    return [
        (item, list(versions))
        for item, versions in _sample_entries()
        if agency is None or item.agency.credit_code == agency
    ]


@functools.cache
def _sample_entries() -> tuple[tuple[ServiceItem, tuple[ItemVersion, ...]], ...]:
    # Parsed and checked once per process: every reference plugin asks for its share each
    # time a platform opens, and the values are immutable.
    resource = importlib.resources.files("govsvc") / "data" / "items" / "harbin.json"
    text = resource.read_text(encoding="utf-8")
    entries = import_json(text, source="govsvc/data/items/harbin.json")
    return tuple((item, tuple(versions)) for item, versions in entries)


# --------------------------------------------------------------------------------------------
# CSV

ITEM_COLUMNS: tuple[str, ...] = (
    "item_code",
    "version",
    "catalogue_code",
    "level",
    "item_name",
    "item_type",
    "name",
    "agency_name",
    "agency_credit_code",
    "co_agencies",
    "targets",
    "legal_basis",
    "conditions",
    "statutory_limit",
    "promised_limit",
    "case_kind",
    "online_depth",
    "visits",
    "visit_reason",
    "appointment",
    "channels",
    "cross_region",
    "location",
    "hours",
    "consultation_phone",
    "complaint_phone",
    "fees_charged",
    "fees_basis",
    "fee_items",
    "fees_waivers",
    "fees_online_payment",
    "results",
    "steps",
    "review_stages",
    "themes",
    "life_stages",
)
"""Columns of the item CSV, one row per item version (any order; all required but the
:data:`OPTIONAL_ITEM_COLUMNS`)."""

OPTIONAL_ITEM_COLUMNS: frozenset[str] = frozenset({"themes", "life_stages"})
"""Item columns a file may leave out (files written before the item tags existed)."""

MATERIAL_COLUMNS: tuple[str, ...] = (
    "item_code",
    "version",
    "code",
    "name",
    "necessity",
    "source",
    "originals",
    "copies",
    "medium",
    "formats",
    "ecert_type",
    "shared_from",
    "commitment_allowed",
    "blank_form",
    "sample",
    "notes",
)
"""Columns of the material CSV, one row per material of a version, in the guide's order."""

_LIST_SEPARATOR = ";"
_TRUE = frozenset({"是", "true", "yes", "y", "1"})
_FALSE = frozenset({"否", "false", "no", "n", "0", ""})


def _bool_cell(value: bool) -> str:
    return "是" if value else "否"


def _json_cell(value: Any) -> str:
    data = converter.unstructure(value)
    return json.dumps(data, ensure_ascii=False) if data else ""


def _codes_cell(values: Iterable[enum.Enum]) -> str:
    return _LIST_SEPARATOR.join(v.value for v in values)


def _optional(value: str | None) -> str:
    return "" if value is None else value


def export_csv(items: Iterable[tuple[ServiceItem, Sequence[ItemVersion]]]) -> tuple[str, str]:
    """``(items_csv, materials_csv)`` for these items and all their versions.

    The item CSV stores one agency and one item type per item, so each version must have the
    item's agency and type (as :func:`check_version` requires); otherwise InvalidInput.
    """
    item_out, material_out = io.StringIO(), io.StringIO()
    item_writer = csv.DictWriter(item_out, fieldnames=ITEM_COLUMNS, lineterminator="\n")
    material_writer = csv.DictWriter(material_out, fieldnames=MATERIAL_COLUMNS, lineterminator="\n")
    item_writer.writeheader()
    material_writer.writeheader()
    for item, versions in items:
        for v in sorted(versions, key=lambda v: v.version):
            if v.agency != item.agency or v.item_type is not item.item_type:
                raise InvalidInput(
                    f"{v.item_code} version {v.version}: its agency or item type differs from "
                    f"the item's, which the CSV format cannot hold; fix the version (see "
                    f"check_version) or export JSON"
                )
            item_writer.writerow(_item_row(item, v))
            for m in v.materials:
                material_writer.writerow(_material_row(v, m))
    return item_out.getvalue(), material_out.getvalue()


def _item_row(item: ServiceItem, v: ItemVersion) -> dict[str, str]:
    return {
        "item_code": v.item_code,
        "version": str(v.version),
        "catalogue_code": item.catalogue_code,
        "level": item.level.value,
        "item_name": item.name,
        "item_type": v.item_type.value,
        "name": v.name,
        "agency_name": v.agency.name,
        "agency_credit_code": v.agency.credit_code,
        "co_agencies": _json_cell(v.co_agencies),
        "targets": _codes_cell(v.targets),
        "legal_basis": _json_cell(v.legal_basis),
        "conditions": "\n".join(v.conditions),
        "statutory_limit": str(v.statutory_limit),
        "promised_limit": str(v.promised_limit),
        "case_kind": v.case_kind.value,
        "online_depth": v.online_depth.value,
        "visits": str(v.visits),
        "visit_reason": v.visit_reason,
        "appointment": _bool_cell(v.appointment),
        "channels": _codes_cell(v.channels),
        "cross_region": v.cross_region.value,
        "location": v.location,
        "hours": v.hours,
        "consultation_phone": v.consultation_phone,
        "complaint_phone": v.complaint_phone,
        "fees_charged": _bool_cell(v.fees.charged),
        "fees_basis": v.fees.basis,
        "fee_items": _json_cell(v.fees.items),
        "fees_waivers": v.fees.waivers,
        "fees_online_payment": _bool_cell(v.fees.online_payment),
        "results": _json_cell(v.results),
        "steps": _json_cell(v.steps),
        "review_stages": _json_cell(v.review_stages),
        "themes": _LIST_SEPARATOR.join(item.themes),
        "life_stages": _LIST_SEPARATOR.join(item.life_stages),
    }


def _material_row(v: ItemVersion, m: Material) -> dict[str, str]:
    return {
        "item_code": v.item_code,
        "version": str(v.version),
        "code": m.code,
        "name": m.name,
        "necessity": m.necessity.value,
        "source": m.source.value,
        "originals": str(m.originals),
        "copies": str(m.copies),
        "medium": m.medium.value,
        "formats": _LIST_SEPARATOR.join(m.formats),
        "ecert_type": _optional(m.ecert_type),
        "shared_from": _optional(m.shared_from),
        "commitment_allowed": _bool_cell(m.commitment_allowed),
        "blank_form": _optional(m.blank_form),
        "sample": _optional(m.sample),
        "notes": m.notes,
    }


def _enum_choices(cls: type[enum.Enum]) -> str:
    return ", ".join(
        f"{m.value} ({label})" if (label := getattr(m, "label", m.value)) != m.value else m.value
        for m in cls
    )


def _parse_enum(cls: type[E], text: str) -> E:
    """A member from its value, its Chinese label or its name; spreadsheets drop leading 0s."""
    text = text.strip()
    candidates = [text]
    if cls is ItemType and text.isdigit() and len(text) == 1:
        candidates.append(text.zfill(2))
    for candidate in candidates:
        for member in cls:
            if candidate in (member.value, getattr(member, "label", None), member.name):
                return member
    raise InvalidInput(f"{text!r} is not one of {_enum_choices(cls)}")


@attrs.frozen
class _Row:
    """One CSV record with the line it starts on; cell readers raise ImportFileError."""

    cells: dict[str, str]
    line: int
    source: str

    def error(self, message: str, column: str | None) -> ImportFileError:
        return ImportFileError(message, source=self.source, line=self.line, field=column)

    def text(self, column: str, *, required: bool = False) -> str:
        value = self.cells[column].strip()
        if required and not value:
            raise self.error("is empty; fill it in", column)
        return value

    def optional(self, column: str) -> str | None:
        return self.text(column) or None

    def texts(self, column: str) -> tuple[str, ...]:
        """A ``;``-separated list; a column the file left out is an empty list."""
        value = self.cells.get(column, "")
        return tuple(p.strip() for p in value.split(_LIST_SEPARATOR) if p.strip())

    def parse(self, column: str, parser: Callable[[str], T], *, required: bool = True) -> T:
        try:
            return parser(self.text(column, required=required))
        except ImportFileError:
            raise
        except (InvalidInput, ValueError) as exc:
            raise self.error(str(exc), column) from None

    def enum(self, column: str, cls: type[E]) -> E:
        return self.parse(column, lambda t: _parse_enum(cls, t))

    def enums(self, column: str, cls: type[E]) -> tuple[E, ...]:
        return self.parse(
            column,
            lambda t: tuple(
                _parse_enum(cls, part) for part in t.split(_LIST_SEPARATOR) if part.strip()
            ),
            required=False,
        )

    def integer(self, column: str) -> int:
        def number(text: str) -> int:
            if not text.isdigit():
                raise InvalidInput(f"{text!r} is not a whole number of 0 or more")
            return int(text)

        return self.parse(column, number)

    def boolean(self, column: str) -> bool:
        def flag(text: str) -> bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise InvalidInput(f"{text!r} is not a yes/no value; write 是 or 否")

        return self.parse(column, flag, required=False)

    def limit(self, column: str) -> TimeLimit:
        return self.parse(column, TimeLimit.parse)

    def structured(self, column: str, cls: Any) -> Any:
        text = self.text(column)
        if not text:
            return ()
        data = _json_value(text, self.source, line=self.line, field=column)
        _storable(data, "$", lambda message, where: self.error(f"{message} @ {where}", column))
        try:
            return _structure(data, cls, path="$")
        except _StructureFailure as exc:
            raise self.error(
                exc.message if len(exc.problems) > 1 else f"{exc.message} @ {exc.field}", column
            ) from None


def _read_csv(
    data: str | bytes,
    columns: Sequence[str],
    source: str,
    encoding: str,
    optional: frozenset[str] = frozenset(),
) -> list[_Row]:
    # Excel saves UTF-8 with a byte-order mark, which _decoded drops.
    text = _decoded(data, source, encoding, hint=", or pass encoding='gb18030'")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFileError(
            "the file is empty; it needs a header row", source=source, line=1, field=None
        ) from None
    except csv.Error as exc:
        raise ImportFileError(f"not valid CSV: {exc}", source=source, line=1, field=None) from None
    for cell in header:
        try:
            check_text(cell, "the header")
        except InvalidInput as exc:
            raise ImportFileError(str(exc), source=source, line=1, field=None) from None
    for column in columns:
        if column not in header and column not in optional:
            raise ImportFileError(
                f"column missing from the header; the header needs: {', '.join(columns)}",
                source=source,
                line=1,
                field=column,
            )
    for column in header:
        if column not in columns:
            raise ImportFileError(
                f"unknown column; allowed columns: {', '.join(columns)}",
                source=source,
                line=1,
                field=column,
            )
    if len(set(header)) != len(header):
        twice = next(c for c in header if header.count(c) > 1)
        raise ImportFileError(
            "column appears twice in the header", source=source, line=1, field=twice
        )
    rows: list[_Row] = []
    while True:
        line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ImportFileError(
                f"not valid CSV: {exc}", source=source, line=line, field=None
            ) from None
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            raise ImportFileError(
                f"row has {len(record)} cells but the header has {len(header)}; check for a "
                f"missing or extra separator",
                source=source,
                line=line,
                field=None,
            )
        row = _Row(dict(zip(header, record, strict=True)), line, source)
        for column, cell in row.cells.items():
            try:
                check_text(cell, "the cell")
            except InvalidInput as exc:
                raise row.error(str(exc), column) from None
        rows.append(row)
    return rows


def _version_from_row(row: _Row) -> tuple[ServiceItem, ItemVersion]:
    agency = row.parse(
        "agency_credit_code",
        lambda code: Agency(name=row.text("agency_name", required=True), credit_code=code),
    )
    item_type = row.enum("item_type", ItemType)
    item = row.parse(
        "catalogue_code",
        lambda code: ServiceItem(
            catalogue_code=code,
            agency=agency,
            level=row.enum("level", ExerciseLevel),
            name=row.text("item_name", required=True),
            item_type=item_type,
            themes=row.texts("themes"),
            life_stages=row.texts("life_stages"),
        ),
    )
    fees = FeeInfo(
        charged=row.boolean("fees_charged"),
        basis=row.text("fees_basis"),
        items=row.structured("fee_items", tuple[Fee, ...]),
        waivers=row.text("fees_waivers"),
        online_payment=row.boolean("fees_online_payment"),
    )
    fields: dict[str, Any] = {
        "item_code": row.text("item_code", required=True),
        "version": row.integer("version"),
        "name": row.text("name", required=True),
        "item_type": item_type,
        "targets": row.enums("targets", ServiceTarget),
        "legal_basis": row.structured("legal_basis", tuple[LegalBasis, ...]),
        "agency": agency,
        "co_agencies": row.structured("co_agencies", tuple[Agency, ...]),
        "conditions": tuple(c.strip() for c in row.text("conditions").splitlines() if c.strip()),
        "steps": row.structured("steps", tuple[ProcessStep, ...]),
        "review_stages": row.structured("review_stages", tuple[ReviewStage, ...]),
        "statutory_limit": row.limit("statutory_limit"),
        "promised_limit": row.limit("promised_limit"),
        "case_kind": row.enum("case_kind", CaseKind),
        "fees": fees,
        "results": row.structured("results", tuple[ResultSpec, ...]),
        "location": row.text("location"),
        "hours": row.text("hours"),
        "consultation_phone": row.text("consultation_phone"),
        "complaint_phone": row.text("complaint_phone"),
        "online_depth": row.enum("online_depth", OnlineDepth),
        "visits": row.integer("visits"),
        "visit_reason": row.text("visit_reason"),
        "appointment": row.boolean("appointment"),
        "channels": row.enums("channels", Channel),
        "cross_region": (
            row.enum("cross_region", CrossRegion) if row.text("cross_region") else CrossRegion.NONE
        ),
    }
    try:
        version = ItemVersion(**fields)
    except (InvalidInput, ValueError) as exc:
        raise row.error(str(exc), None) from None
    return item, version


def _material_from_row(row: _Row) -> Material:
    try:
        return Material(
            code=row.text("code", required=True),
            name=row.text("name", required=True),
            necessity=row.enum("necessity", Necessity),
            source=row.enum("source", MaterialSource),
            originals=row.integer("originals"),
            copies=row.integer("copies"),
            medium=row.enum("medium", Medium),
            formats=tuple(f for f in row.text("formats").split(_LIST_SEPARATOR) if f.strip()),
            ecert_type=row.optional("ecert_type"),
            shared_from=row.optional("shared_from"),
            commitment_allowed=row.boolean("commitment_allowed"),
            blank_form=row.optional("blank_form"),
            sample=row.optional("sample"),
            notes=row.text("notes"),
        )
    except ImportFileError:
        raise
    except (InvalidInput, ValueError) as exc:
        raise row.error(str(exc), "code") from None


def import_csv(
    items_csv: str | bytes,
    materials_csv: str | bytes,
    source: str | tuple[str, str] = "<csv>",
    *,
    check: bool = True,
    encoding: str = "utf-8",
) -> list[ItemWithVersions]:
    """Items and their versions (oldest first) from an item CSV and a material CSV.

    The files are text, or bytes in ``encoding`` (UTF-8 by default, with or without the
    byte-order mark Excel writes; ``"gb18030"`` reads files Excel saved as GBK). ``source``
    names the files in errors: one name (the two files are called ``NAME items`` and ``NAME
    materials``) or a pair of names. The rows of each item's versions must be in order and
    numbered without gaps, as in :func:`import_json`.
    """
    if isinstance(source, str):
        item_source, material_source = f"{source} items", f"{source} materials"
    else:
        item_source, material_source = source

    # Version rows first: materials refer to them by item code and version number.
    parsed: dict[str, tuple[ServiceItem, _Row]] = {}
    versions: dict[tuple[str, int], tuple[ItemVersion, _Row]] = {}
    for row in _read_csv(items_csv, ITEM_COLUMNS, item_source, encoding, OPTIONAL_ITEM_COLUMNS):
        item, version = _version_from_row(row)
        code = version.item_code
        if code in parsed and parsed[code][0] != item:
            first = parsed[code][1].line
            raise row.error(
                f"item header (catalogue code, level, item name, type, agency, themes, life "
                f"stages) differs from "
                f"the row of the same item code on line {first}; make them equal",
                "item_code",
            )
        parsed.setdefault(code, (item, row))
        key = (code, version.version)
        if key in versions:
            raise row.error(
                f"version {version.version} of {code} appears twice (also on line "
                f"{versions[key][1].line})",
                "version",
            )
        versions[key] = (version, row)

    materials: dict[tuple[str, int], list[Material]] = {key: [] for key in versions}
    for row in _read_csv(materials_csv, MATERIAL_COLUMNS, material_source, encoding):
        key = (row.text("item_code", required=True).upper(), row.integer("version"))
        if key not in materials:
            raise row.error(
                f"no row for item {key[0]} version {key[1]} in the item CSV; add the version "
                f"there or fix the code",
                "item_code",
            )
        materials[key].append(_material_from_row(row))

    result: list[ItemWithVersions] = []
    for code, (item, _) in parsed.items():
        rows = [(v, r) for (c, _n), (v, r) in versions.items() if c == code]
        complete = [attrs.evolve(v, materials=materials[(code, v.version)]) for v, _r in rows]

        def fail(index: int | None, message: str, rows: list[Any] = rows) -> ImportFileError:
            row: _Row = rows[index if index is not None else 0][1]
            return row.error(message, None)

        result.append((item, _check_entry(item, complete, check=check, fail=fail)))
    return result
