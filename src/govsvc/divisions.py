"""Administrative divisions (行政区划) and the registry that knows their history.

Codes are stored in the 12-digit statistical form ``PPCCDDTTTVVV`` (province, prefecture,
county, township, village); a 6-digit GB/T 2260 county code ``230103`` is the same node as
``230103000000``. Every node keeps an explicit parent, because the digits lie in three places
(see :func:`infer_parent`), and a validity interval, because ID numbers and old cases refer to
codes that have since been retired. Retired codes are never reused.

The packaged data is a real slice (黑龙江省 with 哈尔滨市 and 齐齐哈尔市 down to townships, plus
one example of each pitfall); load the full list from the statistics bureau with
:meth:`DivisionRegistry.load_csv`.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import functools
import io
from collections.abc import Container, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from govsvc.errors import ImportFileError, InvalidDivision

__all__ = [
    "CSV_COLUMNS",
    "MUNICIPALITIES",
    "Division",
    "DivisionKind",
    "DivisionLevel",
    "DivisionRegistry",
    "classify",
    "code_level",
    "infer_parent",
]

# 直辖市: their prefecture-level codes PP0100 (市辖区) and PP0200 (县) are placeholders.
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
# Columns of an import file, in order; ``replaced_by`` is optional.
CSV_COLUMNS = ("code", "name", "level", "parent", "valid_from", "valid_to", "replaced_by")
_REQUIRED_COLUMNS = CSV_COLUMNS[:6]
_PACKAGED_FILES = ("heilongjiang.csv", "pitfalls.csv")


class DivisionLevel(enum.IntEnum):
    """The five levels 省/市/县/乡/村; a smaller number is a higher level."""

    PROVINCE = 1  # 省级
    PREFECTURE = 2  # 地级
    COUNTY = 3  # 县级
    TOWNSHIP = 4  # 乡级
    VILLAGE = 5  # 村级

    @property
    def label(self) -> str:
        """Chinese name of the level, e.g. ``"县级"``."""
        return ("省级", "地级", "县级", "乡级", "村级")[self - 1]


_LEVEL_NAMES: dict[str, DivisionLevel] = {
    **{str(level.value): level for level in DivisionLevel},
    **{level.name.lower(): level for level in DivisionLevel},
    **{level.label: level for level in DivisionLevel},
    "省": DivisionLevel.PROVINCE,
    "市": DivisionLevel.PREFECTURE,
    "县": DivisionLevel.COUNTY,
    "乡": DivisionLevel.TOWNSHIP,
    "村": DivisionLevel.VILLAGE,
}


class DivisionKind(enum.Enum):
    """Kind of a township- or village-level unit, read from its TTT or VVV digits."""

    SUBDISTRICT = "街道"  # TTT 001-099
    TOWN = "镇"  # TTT 100-199
    TOWNSHIP = "乡"  # TTT 200-399
    TOWNSHIP_LEVEL_UNIT = "乡级单位"  # TTT 400-599: development zones, farms, forestry bureaus
    RESIDENTS_COMMITTEE = "居委会"  # VVV 001-199
    VILLAGERS_COMMITTEE = "村委会"  # VVV 200-399
    VILLAGE_LEVEL_UNIT = "村级单位"  # VVV 400-599
    VIRTUAL_VILLAGE = "虚拟村"  # VVV 498 and 598


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _normalise(text: str) -> str:
    code = "".join(str(text).split())
    if not _digits(code) or len(code) not in (6, 9, 12):
        raise InvalidDivision(
            f"division code {text!r} is not valid: give 6 digits (county, GB/T 2260), "
            f"9 digits (township) or 12 digits (statistical code)"
        )
    return code.ljust(12, "0")


def code_level(code: str) -> DivisionLevel:
    """The level the digits of a code imply (the last non-zero group).

    This is exact for the level of the node itself; it is the *parent* the digits can get
    wrong (see :func:`infer_parent`).
    """
    code = _normalise(code)
    if code[9:] != "000":
        return DivisionLevel.VILLAGE
    if code[6:9] != "000":
        return DivisionLevel.TOWNSHIP
    if code[4:6] != "00":
        return DivisionLevel.COUNTY
    if code[2:4] != "00":
        return DivisionLevel.PREFECTURE
    if code[:2] == "00":
        raise InvalidDivision(f"division code {code} is all zeros; no division has it")
    return DivisionLevel.PROVINCE


def classify(code: str) -> DivisionKind | None:
    """The kind of a township- or village-level code; None for higher levels.

    TTT: 001-099 街道, 100-199 镇, 200-399 乡, 400-599 乡级单位. VVV: 001-199 居委会,
    200-399 村委会, 400-599 村级单位, with 498 and 598 虚拟村. Codes outside those ranges
    give None.
    """
    code = _normalise(code)
    level = code_level(code)
    if level is DivisionLevel.VILLAGE:
        vvv = int(code[9:])
        if vvv in (498, 598):
            return DivisionKind.VIRTUAL_VILLAGE
        if vvv <= 199:
            return DivisionKind.RESIDENTS_COMMITTEE
        if vvv <= 399:
            return DivisionKind.VILLAGERS_COMMITTEE
        if vvv <= 599:
            return DivisionKind.VILLAGE_LEVEL_UNIT
        return None
    if level is DivisionLevel.TOWNSHIP:
        ttt = int(code[6:9])
        if ttt <= 99:
            return DivisionKind.SUBDISTRICT
        if ttt <= 199:
            return DivisionKind.TOWN
        if ttt <= 399:
            return DivisionKind.TOWNSHIP
        if ttt <= 599:
            return DivisionKind.TOWNSHIP_LEVEL_UNIT
    return None


def infer_parent(code: str, known: Container[str] | None = None) -> str | None:
    """Best guess at a division's parent from its code, knowing where the digits lie.

    * Prefecture cities without counties (东莞 441900, 中山 442000): their townships
      ``PPCC00TTT000`` sit directly under the prefecture ``PPCC00000000``.
    * Province-administered counties ``PP90DD`` (仙桃 429004): the parent is the province
      ``PP0000000000``, not the placeholder ``PP9000``.
    * Municipalities' placeholder prefectures ``PP0100`` (市辖区) and ``PP0200`` (县) in
      北京, 天津, 上海, 重庆: counties sit under the placeholder when ``known`` contains it
      (as in the statistical list), otherwise directly under the municipality.

    ``known`` is the set of codes that exist (12-digit); without it the statistical layout is
    assumed. Returns a 12-digit code, or None for a province. Prefer an explicit parent from
    the source data whenever there is one: this is for suggestions and checks.
    """
    code = _normalise(code)
    level = code_level(code)
    province = code[:2] + "0" * 10
    if level is DivisionLevel.PROVINCE:
        return None
    if level is DivisionLevel.PREFECTURE:
        return province
    if level is DivisionLevel.COUNTY:
        prefecture = code[:4] + "0" * 8
        if code[2:4] == "90":
            return province
        if code[:2] in MUNICIPALITIES and code[2:4] in ("01", "02"):
            if known is None or prefecture in known:
                return prefecture
            return province
        return prefecture
    if level is DivisionLevel.TOWNSHIP:
        if code[4:6] == "00":
            return code[:4] + "0" * 8
        return code[:6] + "0" * 6
    return code[:9] + "000"


def _optional_code(value: object) -> object:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _normalise(value) if isinstance(value, str) else value


def _code(value: object) -> object:
    return _normalise(value) if isinstance(value, str) else value


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _check_name(_instance: object, _attribute: object, value: str) -> None:
    if not value:
        raise InvalidDivision("a division needs a name; give it as in the official list")


@attrs.frozen
class Division:
    """One administrative division (行政区划) with its explicit parent and validity.

    ``valid_from`` is the first day the code was in use and ``valid_to`` the last (both
    inclusive); None means "since before our records" and "still in use". ``replaced_by``
    names the code that took over a retired one, when known.
    """

    code: str = attrs.field(converter=_code, validator=attrs.validators.instance_of(str))
    name: str = attrs.field(
        converter=_strip,
        validator=[attrs.validators.instance_of(str), _check_name],
    )
    level: DivisionLevel = attrs.field(converter=DivisionLevel)
    parent: str | None = attrs.field(default=None, converter=_optional_code)
    valid_from: dt.date | None = attrs.field(default=None)
    valid_to: dt.date | None = attrs.field(default=None)
    replaced_by: str | None = attrs.field(default=None, converter=_optional_code)

    def __attrs_post_init__(self) -> None:
        implied = code_level(self.code)
        if implied is not self.level:
            raise InvalidDivision(
                f"division {self.code} {self.name}: the code is {implied.label} "
                f"({implied.name.lower()}) by its digits but the level given is "
                f"{self.level.label} ({self.level.name.lower()}); check the code or the level"
            )
        if self.level is DivisionLevel.PROVINCE:
            if self.parent is not None:
                raise InvalidDivision(
                    f"division {self.code} {self.name} is a province and cannot have a parent "
                    f"({self.parent}); leave the parent empty"
                )
        elif self.parent is None:
            raise InvalidDivision(
                f"division {self.code} {self.name} needs a parent; the digits suggest "
                f"{infer_parent(self.code)} but give it explicitly from the source list"
            )
        elif self.parent == self.code:
            raise InvalidDivision(f"division {self.code} {self.name} cannot be its own parent")
        if (
            self.valid_from is not None
            and self.valid_to is not None
            and self.valid_to < self.valid_from
        ):
            raise InvalidDivision(
                f"division {self.code} {self.name}: valid_to {self.valid_to} is before "
                f"valid_from {self.valid_from}; swap them or correct the dates"
            )
        if self.replaced_by == self.code:
            raise InvalidDivision(
                f"division {self.code} {self.name} cannot be replaced by itself"
            )

    @staticmethod
    def normalise_code(text: str) -> str:
        """A 6-, 9- or 12-digit code padded with zeros to 12 digits."""
        return _normalise(text)

    @property
    def county_code(self) -> str:
        """The first 6 digits: the GB/T 2260 code (or the prefix of a higher division)."""
        return self.code[:6]

    @property
    def short_code(self) -> str:
        """The code without its trailing zero groups: 6 digits down to county, 9, or 12."""
        return {1: self.code[:6], 2: self.code[:6], 3: self.code[:6], 4: self.code[:9]}.get(
            self.level, self.code
        )

    @property
    def kind(self) -> DivisionKind | None:
        """街道/镇/乡/… for township and village levels (see :func:`classify`)."""
        return classify(self.code)

    @property
    def retired(self) -> bool:
        """True if the code has a last day of validity."""
        return self.valid_to is not None

    def is_valid_on(self, day: dt.date) -> bool:
        """True if the code was in use on ``day``."""
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_to is None or day <= self.valid_to


@functools.cache
def _packaged_divisions() -> tuple[Division, ...]:
    registry = DivisionRegistry()
    folder = resources.files("govsvc") / "data" / "divisions"
    for name in _PACKAGED_FILES:
        text = (folder / name).read_text(encoding="utf-8")
        registry.load_csv(text, source=f"govsvc/data/divisions/{name}")
    return tuple(registry)


def _parse_date(text: str) -> dt.date | None:
    text = text.strip()
    return dt.date.fromisoformat(text) if text else None


@attrs.define
class DivisionRegistry:
    """All known divisions, past and present, with lookups by code, parent and name.

    :meth:`default` gives a fresh registry with the packaged slice; :meth:`load_csv` merges
    more rows (all or nothing).
    """

    _by_code: dict[str, Division] = attrs.field(factory=dict, init=False)
    _children: dict[str, list[str]] = attrs.field(factory=dict, init=False)

    @classmethod
    def default(cls) -> DivisionRegistry:
        """A new registry with the packaged data (parsed once per process, then copied)."""
        return cls.from_divisions(_packaged_divisions())

    @classmethod
    def from_divisions(cls, divisions: Iterable[Division]) -> DivisionRegistry:
        """A registry holding ``divisions`` (any order); each parent must be among them."""
        registry = cls()
        registry._merge(list(divisions))
        return registry

    # -- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Division]:
        return iter(sorted(self._by_code.values(), key=lambda d: d.code))

    def __contains__(self, code: object) -> bool:
        if not isinstance(code, str):
            return False
        try:
            return _normalise(code) in self._by_code
        except InvalidDivision:
            return False

    def get(self, code: str, on: dt.date | None = None) -> Division:
        """The division with ``code`` (6, 9 or 12 digits).

        Without ``on`` a retired code is returned too (history refers to it); with ``on``
        the code must have been valid that day. Raises InvalidDivision saying why not and,
        for a retired code, what replaced it.
        """
        full = _normalise(code)
        division = self._by_code.get(full)
        if division is None:
            raise InvalidDivision(
                f"no administrative division has code {full}; check the code, or load the "
                f"current division list with DivisionRegistry.load_csv"
            )
        if on is not None and not division.is_valid_on(on):
            raise InvalidDivision(self._invalid_on_message(division, on))
        return division

    def _invalid_on_message(self, division: Division, on: dt.date) -> str:
        head = f"division {division.code} {division.name}"
        if division.valid_from is not None and on < division.valid_from:
            return (
                f"{head} did not exist on {on}: it was created on {division.valid_from}; "
                f"use the code valid on that date"
            )
        message = (
            f"{head} was retired (last day in use {division.valid_to}) and is not valid on {on}"
        )
        successor = self._by_code.get(division.replaced_by or "")
        if successor is not None:
            where = self.path_names(successor.code)
            return f"{message}; it was replaced by {successor.code} {where}"
        if division.replaced_by:
            return f"{message}; it was replaced by {division.replaced_by}"
        return f"{message}; use the code that covered the area on that date"

    def is_valid_on(self, code: str, day: dt.date) -> bool:
        """True if ``code`` is known and was in use on ``day``; never raises."""
        try:
            full = _normalise(code)
        except InvalidDivision:
            return False
        division = self._by_code.get(full)
        return division is not None and division.is_valid_on(day)

    def children(self, code: str, on: dt.date | None = None) -> list[Division]:
        """Direct children by explicit parent, ordered by code; only those valid ``on``."""
        parent = self.get(code).code
        found = [self._by_code[c] for c in self._children.get(parent, [])]
        return [d for d in found if on is None or d.is_valid_on(on)]

    def ancestors(self, code: str) -> list[Division]:
        """Parents of the division, province first, walking explicit parents (not digits)."""
        chain: list[Division] = []
        current = self.get(code)
        seen = {current.code}
        while current.parent is not None:
            current = self.get(current.parent)
            if current.code in seen:  # only reachable through a hand-built registry
                raise InvalidDivision(f"division parents form a loop at {current.code}")
            seen.add(current.code)
            chain.append(current)
        chain.reverse()
        return chain

    def path_names(self, code: str, separator: str = " / ") -> str:
        """Names from the province down, e.g. ``"黑龙江省 / 哈尔滨市 / 南岗区"``."""
        division = self.get(code)
        return separator.join([d.name for d in self.ancestors(code)] + [division.name])

    def find(self, name: str, on: dt.date | None = None) -> list[Division]:
        """Divisions whose name contains ``name``: exact matches first, then by code.

        Names repeat across the country (many 新兴街道), so expect several results; narrow
        them with :meth:`path_names` or by ``on`` (only divisions valid that day).
        """
        needle = name.strip()
        if not needle:
            return []
        hits = [
            d
            for d in self._by_code.values()
            if needle in d.name and (on is None or d.is_valid_on(on))
        ]
        return sorted(hits, key=lambda d: (d.name != needle, d.code))

    def infer_parent(self, code: str) -> str | None:
        """:func:`infer_parent` using this registry's codes to decide about placeholders."""
        return infer_parent(code, known=self._by_code)

    # -- writing ------------------------------------------------------------------------------

    def add(self, division: Division) -> None:
        """Add or replace one division; its parent must already be known."""
        self._merge([division])

    def load_csv(self, path_or_text: str | Path, *, source: str | None = None) -> int:
        """Merge divisions from CSV; return the number of rows merged.

        Columns (header required, UTF-8, BOM allowed): ``code,name,level,parent,valid_from,
        valid_to`` and optionally ``replaced_by``. ``code``/``parent`` take 6, 9 or 12
        digits; ``level`` is 1-5, ``province``…``village`` or 省/市/县/乡/村; dates are
        ``YYYY-MM-DD`` or empty. A parent must be known already or appear on an earlier line,
        and be of a higher level. Lines starting with ``#`` and blank lines are skipped.

        A ``Path`` (or a string without a newline) is read as a file; other strings are the
        CSV text itself. Nothing is merged if any row is wrong: ImportFileError names the
        line and field.
        """
        if isinstance(path_or_text, Path) or "\n" not in path_or_text:
            file = Path(path_or_text)
            label = source or str(file)
            try:
                text = file.read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise ImportFileError(
                    f"cannot read the file ({exc.strerror or exc}); check the path",
                    source=label,
                    line=None,
                    field=None,
                ) from exc
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    "the file is not UTF-8; save it as UTF-8 CSV and try again",
                    source=label,
                    line=None,
                    field=None,
                ) from exc
        else:
            text = path_or_text.removeprefix("\ufeff")
            label = source or "<division CSV>"
        rows = _read_rows(text, label, self._by_code)
        self._merge(rows)
        return len(rows)

    def _merge(self, divisions: list[Division]) -> None:
        staged = dict(self._by_code)
        # Parents before children, whatever order the caller used.
        for division in sorted(divisions, key=lambda d: d.level):
            if division.parent is not None:
                parent = staged.get(division.parent)
                if parent is None:
                    raise InvalidDivision(
                        f"division {division.code} {division.name}: parent {division.parent} "
                        f"is not known; add the parent first"
                    )
                _check_parent_level(division, parent)
            staged[division.code] = division
        self._by_code = staged
        self._reindex()

    def _reindex(self) -> None:
        children: dict[str, list[str]] = {}
        for code in sorted(self._by_code):
            parent = self._by_code[code].parent
            if parent is not None:
                children.setdefault(parent, []).append(code)
        self._children = children


def _check_parent_level(division: Division, parent: Division) -> None:
    if parent.level >= division.level:
        raise InvalidDivision(
            f"division {division.code} {division.name} is {division.level.label} but its "
            f"parent {parent.code} {parent.name} is {parent.level.label}; a parent must be of "
            f"a higher level"
        )


def _read_rows(text: str, source: str, known: dict[str, Division]) -> list[Division]:
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    header_line = 0
    staged: dict[str, Division] = {}
    line_of: dict[str, int] = {}
    rows: list[Division] = []
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            header_line = line
            _check_header(header, source, line)
            continue
        if len(row) > len(header):
            raise ImportFileError(
                f"{len(row)} fields but the header has {len(header)}; quote names that "
                f"contain commas",
                source=source,
                line=line,
                field=None,
            )
        values = dict(zip(header, (cell.strip() for cell in row), strict=False))
        division = _row_to_division(values, source, line)
        if division.code in staged:
            raise ImportFileError(
                f"code {division.code} already appears on line {line_of[division.code]}; "
                f"each code may appear once per file",
                source=source,
                line=line,
                field="code",
            )
        if division.parent is not None:
            parent = staged.get(division.parent) or known.get(division.parent)
            if parent is None:
                raise ImportFileError(
                    f"parent {division.parent} of {division.code} {division.name} is not "
                    f"known; list the parent on an earlier line or load it first",
                    source=source,
                    line=line,
                    field="parent",
                )
            if parent.level >= division.level:
                raise ImportFileError(
                    f"parent {parent.code} {parent.name} is {parent.level.label}, not higher "
                    f"than {division.code} {division.name} ({division.level.label}); a parent "
                    f"must be of a higher level",
                    source=source,
                    line=line,
                    field="parent",
                )
        staged[division.code] = division
        line_of[division.code] = line
        rows.append(division)
    if header is None:
        raise ImportFileError(
            f"the file is empty; it needs the header {','.join(_REQUIRED_COLUMNS)}",
            source=source,
            line=None,
            field=None,
        )
    for division in rows:
        successor = division.replaced_by
        if successor is not None and successor not in staged and successor not in known:
            raise ImportFileError(
                f"replaced_by {successor} of {division.code} {division.name} is not in the "
                f"file or the registry; add the successor or leave replaced_by empty",
                source=source,
                line=line_of.get(division.code, header_line),
                field="replaced_by",
            )
    return rows


def _check_header(header: list[str], source: str, line: int) -> None:
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        raise ImportFileError(
            f"{'; '.join(problems)}; the header must be {','.join(CSV_COLUMNS[:6])} "
            f"(optionally ,replaced_by)",
            source=source,
            line=line,
            field=(missing or unknown)[0],
        )


def _row_to_division(values: dict[str, str], source: str, line: int) -> Division:
    def fail(field: str, message: str) -> ImportFileError:
        return ImportFileError(message, source=source, line=line, field=field)

    fields: dict[str, Any] = {}
    for field in ("code", "parent", "replaced_by"):
        raw = values.get(field, "")
        if not raw:
            if field == "code":
                raise fail("code", "the code is empty; every row needs a division code")
            fields[field] = None
            continue
        if not _digits(raw) or len(raw) not in (6, 9, 12):
            raise fail(
                field,
                f"{field} {raw!r} has {len(raw)} characters; give 6, 9 or 12 digits",
            )
        fields[field] = raw.ljust(12, "0")
    name = values.get("name", "")
    if not name:
        raise fail("name", f"division {fields['code']} has no name")
    level_text = values.get("level", "")
    level = _LEVEL_NAMES.get(level_text.lower())
    if level is None:
        raise fail(
            "level",
            f"level {level_text!r} is unknown; use 1-5, province/prefecture/county/"
            f"township/village or 省/市/县/乡/村",
        )
    for field in ("valid_from", "valid_to"):
        try:
            fields[field] = _parse_date(values.get(field, ""))
        except ValueError:
            raise fail(
                field, f"{field} {values.get(field)!r} is not a date; write it as YYYY-MM-DD"
            ) from None
    code = fields["code"]
    if code == "0" * 12:
        raise fail("code", "the code is all zeros; give the division's own code")
    implied = code_level(code)
    if implied is not level:
        raise fail(
            "level",
            f"level {level_text!r} ({level.label}) does not fit code {code}, which is "
            f"{implied.label} ({implied.name.lower()}) by its digits; correct the level or "
            f"the code",
        )
    parent = fields["parent"]
    if level is DivisionLevel.PROVINCE and parent is not None:
        raise fail("parent", f"{code} {name} is a province; leave its parent empty")
    if level is not DivisionLevel.PROVINCE and parent is None:
        raise fail(
            "parent",
            f"division {code} {name} has no parent; give it explicitly (the digits suggest "
            f"{infer_parent(code)})",
        )
    if parent == code:
        raise fail("parent", f"division {code} {name} cannot be its own parent")
    if (
        fields["valid_from"] is not None
        and fields["valid_to"] is not None
        and fields["valid_to"] < fields["valid_from"]
    ):
        raise fail(
            "valid_to",
            f"valid_to {fields['valid_to']} is before valid_from {fields['valid_from']}; "
            f"correct the dates",
        )
    if fields["replaced_by"] == code:
        raise fail("replaced_by", f"division {code} {name} cannot be replaced by itself")
    try:
        return Division(
            code=code,
            name=name,
            level=level,
            parent=parent,
            valid_from=fields["valid_from"],
            valid_to=fields["valid_to"],
            replaced_by=fields["replaced_by"],
        )
    except InvalidDivision as exc:  # a rule above missed; still name the line
        raise ImportFileError(str(exc), source=source, line=line, field=None) from None
