"""Reading what legacy systems write: their date formats and their code tables (代码表).

Pure functions and values (no HTTP): :mod:`govsvc.adapterkit` uses them in its JSON and XML
readers, :mod:`govsvc.vocabulary` to map legacy words to the canonical vocabulary.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
from collections.abc import Collection, Mapping
from typing import Any, Generic, TypeVar

import attrs

from govsvc.errors import InvalidInput

__all__ = [
    "BEIJING",
    "CodeTable",
    "DateFormat",
    "parse_legacy_date",
    "parse_legacy_datetime",
]

BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
"""China Standard Time (UTC+8). Legacy systems send local times without an offset; they mean
Beijing time, and the readers take them so."""

V = TypeVar("V")


def _nonempty(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise InvalidInput(f"{attribute.name} must not be empty")


# --- legacy dates -----------------------------------------------------------------------------


class DateFormat(enum.Flag):
    """How a legacy system writes dates (日期格式); combine them with ``|``.

    * ``ISO``: ``2019-04-18``; ``2019-04-18 10:30:00`` (or with ``T``, a fraction of a
      second, an offset ``+08:00`` or ``Z``);
    * ``COMPACT``: ``20190418``; ``20190418103000``;
    * ``SLASHED``: ``2019/04/18`` or ``2019/4/8``; ``2019/4/18 10:30:00``;
    * ``CHINESE``: ``2019年4月18日``; ``2019年4月18日 10:30:00``;
    * ``LEGACY``: all of them.

    Seconds may be left out (``10:30``). Only ISO times carry an offset; the others are local
    time (Beijing time unless the reader is told otherwise).
    """

    ISO = enum.auto()
    COMPACT = enum.auto()
    SLASHED = enum.auto()
    CHINESE = enum.auto()
    LEGACY = ISO | COMPACT | SLASHED | CHINESE


_CLOCK = r"(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:[.,](?P<f>[0-9]{1,6}))?)?"
_ISO_CLOCK = r"(?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:[.,](?P<f>[0-9]{1,6}))?)?"


@attrs.frozen
class _DateForm:
    pattern: re.Pattern[str]
    date: str  # how its dates are spelled in messages
    time: str  # how its dates and times are spelled


_DATE_FORMS: Mapping[DateFormat, _DateForm] = types.MappingProxyType(
    {
        DateFormat.ISO: _DateForm(
            re.compile(
                r"(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})"
                rf"(?:[T ]{_ISO_CLOCK}(?P<z>Z|[+-][0-9]{{2}}:?[0-9]{{2}})?)?"
            ),
            "YYYY-MM-DD",
            "YYYY-MM-DD HH:MM:SS",
        ),
        DateFormat.COMPACT: _DateForm(
            re.compile(
                r"(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})"
                r"(?:(?P<H>[0-9]{2})(?P<M>[0-9]{2})(?P<S>[0-9]{2}))?"
            ),
            "YYYYMMDD",
            "YYYYMMDDHHMMSS",
        ),
        DateFormat.SLASHED: _DateForm(
            re.compile(
                rf"(?P<y>[0-9]{{4}})/(?P<m>[0-9]{{1,2}})/(?P<d>[0-9]{{1,2}})(?: +{_CLOCK})?"
            ),
            "YYYY/MM/DD",
            "YYYY/MM/DD HH:MM:SS",
        ),
        DateFormat.CHINESE: _DateForm(
            re.compile(
                rf"(?P<y>[0-9]{{4}})年(?P<m>[0-9]{{1,2}})月(?P<d>[0-9]{{1,2}})日(?: *{_CLOCK})?"
            ),
            "YYYY年M月D日",
            "YYYY年M月D日 HH:MM:SS",
        ),
    }
)


class _Unreadable(Exception):
    """Internal: the text is not a date in the accepted formats; ``expected`` says what is."""

    def __init__(self, expected: str) -> None:
        self.expected = expected
        super().__init__(expected)


def _spelled(formats: DateFormat, *, times: bool) -> str:
    spellings = [
        form.time if times else form.date for f, form in _DATE_FORMS.items() if f in formats
    ]
    if not spellings:
        raise InvalidInput("formats must name at least one DateFormat, e.g. DateFormat.ISO")
    if len(spellings) == 1:
        return spellings[0]
    return ", ".join(spellings[:-1]) + " or " + spellings[-1]


def _match(text: str, formats: DateFormat) -> re.Match[str] | None:
    for f, form in _DATE_FORMS.items():
        if f in formats:
            found = form.pattern.fullmatch(text)
            if found is not None:
                return found
    return None


def _parts(found: re.Match[str]) -> tuple[dt.date, dt.time | None, dt.tzinfo | None]:
    """The date, the time (None when only a date was written) and the offset; ValueError for
    numbers that are no real date or time (2019-02-30, 25:00)."""
    groups = found.groupdict()
    day = dt.date(int(groups["y"]), int(groups["m"]), int(groups["d"]))
    if groups.get("H") is None:
        return day, None, None
    fraction = groups.get("f") or ""
    clock = dt.time(
        int(groups["H"]),
        int(groups["M"]),
        int(groups.get("S") or 0),
        int(fraction.ljust(6, "0")) if fraction else 0,
    )
    zone = groups.get("z")
    if zone is None:
        return day, clock, None
    if zone == "Z":
        return day, clock, dt.UTC
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return day, clock, dt.timezone(sign * offset)  # ValueError beyond ±24 h


def _read_date(text: str, formats: DateFormat) -> dt.date:
    spelled = _spelled(formats, times=False)
    found = _match(text, formats)
    if found is None:
        raise _Unreadable(f"a date written {spelled}")
    try:
        day, clock, zone = _parts(found)
    except ValueError:
        raise _Unreadable(f"a real date written {spelled}") from None
    if clock is not None and (clock != dt.time() or zone is not None):
        raise _Unreadable(f"a date written {spelled}, without a time of day")
    return day


def _read_datetime(text: str, formats: DateFormat, assume: dt.tzinfo | None) -> dt.datetime:
    found = _match(text, formats)
    if found is None:
        raise _Unreadable(f"a time written {_spelled(formats, times=True)}")
    try:
        day, clock, zone = _parts(found)
    except ValueError:
        raise _Unreadable(f"a real date and time written {_spelled(formats, times=True)}") from None
    zone = zone or assume
    if zone is None:
        raise _Unreadable("a date and time with an offset such as 2025-03-02T10:00:00+08:00")
    return dt.datetime.combine(day, clock if clock is not None else dt.time(), zone)


def parse_legacy_date(text: str, field: str, *, formats: DateFormat = DateFormat.LEGACY) -> dt.date:
    """The date in ``text``, written in one of ``formats`` (all legacy forms by default).

    ``field`` names the value in the error (a path such as ``$.data.csrq`` or a column). White
    space around the text is ignored; a midnight time after the date (``1985-03-12
    00:00:00``) is allowed. Anything else raises :class:`InvalidInput` naming the field and
    the formats accepted: ``csrq: expected a date written YYYY-MM-DD, YYYYMMDD, YYYY/MM/DD or
    YYYY年M月D日, got '1985.03.12'``.
    """
    try:
        return _read_date(text.strip(), formats)
    except _Unreadable as exc:
        raise InvalidInput(f"{field}: expected {exc.expected}, got {text!r}") from None


def parse_legacy_datetime(
    text: str,
    field: str,
    *,
    formats: DateFormat = DateFormat.LEGACY,
    assume: dt.tzinfo | None = BEIJING,
) -> dt.datetime:
    """The aware date and time in ``text``, written in one of ``formats`` (all by default).

    A time without an offset is taken in ``assume`` (China Standard Time, UTC+8, unless you
    say otherwise; ``assume=None`` refuses it); a date alone is its midnight. Errors are
    :class:`InvalidInput` naming ``field`` and the formats accepted.
    """
    try:
        return _read_datetime(text.strip(), formats, assume)
    except _Unreadable as exc:
        raise InvalidInput(f"{field}: expected {exc.expected}, got {text!r}") from None


# --- code tables ------------------------------------------------------------------------------


def _codes(value: Mapping[str, V]) -> Mapping[str, V]:
    return types.MappingProxyType(dict(value))


def _code_set(value: Collection[str]) -> frozenset[str]:
    return frozenset(value)


def _well_written_codes(_: object, attribute: attrs.Attribute[Any], value: Collection[str]) -> None:
    if attribute.name == "codes" and not value:
        raise InvalidInput("a code table needs at least one code")
    for code in value:
        if not isinstance(code, str) or not code or code != code.strip():
            raise InvalidInput(
                f"{attribute.name}: every code must be non-empty text without surrounding "
                f"white space (the table strips what it looks up), got {code!r}"
            )


@attrs.frozen
class CodeTable(Generic[V]):
    """A legacy code table (代码表): the codes a system answers and the canonical values.

    ``codes`` maps each code to its canonical value; ``unknown`` lists codes that mean the
    value was not recorded (GB/T 2261.1's ``0`` 未知的性别 and ``9`` 未说明的性别), read
    as None; ``default``, when given, is the value of every code the table does not list
    (for tables whose tail a department extends locally). Codes are looked up without
    surrounding white space (legacy CHAR columns pad)::

        SEX = CodeTable("性别 (GB/T 2261.1)", {"1": "male", "2": "female"}, unknown={"0", "9"})
        SEX["2"]        # "female"
        SEX.get("9")    # None
        SEX["3"]        # InvalidInput: '3' is not a code of 性别 (GB/T 2261.1); known
                        # codes: 1 (male), 2 (female); 0, 9 mean not recorded

    ``JsonNode.code(table)`` and ``XmlNode.code(table)`` turn the error into a malformed
    answer at the node's path. :mod:`govsvc.vocabulary` has the national tables.
    """

    name: str = attrs.field(validator=_nonempty)
    codes: Mapping[str, V] = attrs.field(converter=_codes, validator=_well_written_codes)
    unknown: frozenset[str] = attrs.field(
        default=frozenset(), converter=_code_set, validator=_well_written_codes
    )
    default: V | None = None

    def __attrs_post_init__(self) -> None:
        both = sorted(self.unknown & self.codes.keys())
        if both:
            raise InvalidInput(
                f"{self.name}: code(s) {', '.join(both)} are both mapped and listed as "
                f"unknown; keep each in one place"
            )

    def __getitem__(self, code: str | int) -> V:
        """The canonical value of ``code``; InvalidInput for a code that is empty, means
        "not recorded", or is not in the table (and there is no ``default``)."""
        key = _code_key(code)
        if not key:
            raise InvalidInput(f"expected a code of {self.name}, got an empty one")
        if key in self.unknown:
            raise InvalidInput(
                f"code {key!r} of {self.name} means the value is not recorded, but a value "
                f"is required here"
            )
        return self._value(key)

    def get(self, code: str | int | None) -> V | None:
        """The canonical value of ``code``; None when it is empty or means "not recorded".

        A code not in the table is still an error (unless the table has a ``default``).
        """
        key = "" if code is None else _code_key(code)
        if not key or key in self.unknown:
            return None
        return self._value(key)

    def _value(self, key: str) -> V:
        if key in self.codes:
            return self.codes[key]
        if self.default is not None:
            return self.default
        raise InvalidInput(f"{key!r} is not a code of {self.name}; known codes: {self.known()}")

    def known(self, limit: int = 20) -> str:
        """The codes and their values for messages: ``1 (male), 2 (female); 0, 9 mean not
        recorded`` (at most ``limit`` codes are shown)."""
        shown = [f"{code} ({value})" for code, value in list(self.codes.items())[:limit]]
        if len(self.codes) > limit:
            shown.append(f"… ({len(self.codes)} codes in all)")
        text = ", ".join(shown)
        if self.unknown:
            verb = "means" if len(self.unknown) == 1 else "mean"
            text += f"; {', '.join(sorted(self.unknown))} {verb} not recorded"
        return text


def _code_key(code: str | int) -> str:
    if isinstance(code, bool) or not isinstance(code, str | int):
        raise InvalidInput(f"a code is text or a whole number, got {type(code).__name__}")
    return str(code).strip()


