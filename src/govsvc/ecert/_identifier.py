"""E-certificate identifiers (电子证照标识, GB/T 36904-2018) and their ISO 7064 check.

An identifier reads ``1.2.156.3005.2.<type code>.<issuer>.<serial>.<version>.<check>``:

* ``1.2.156.3005.2`` — the fixed prefix of national e-certificate identifiers;
* type code (证照类型代码) — the defining agency's credit code (18) and a 3-digit serial;
* issuer (颁发机构代码) — the issuing agency's unified social credit code (18);
* serial (证照颁发序号) — upper-case letters and digits, unique per type and issuer;
* version (版本号) — 3 digits from ``001``; a re-issue (换发/补发) takes the next one;
* check (校验位) — ISO 7064 MOD 37,36 over type code, issuer, serial and version
  concatenated without the dots (the fixed prefix is not included).

Some deployed systems compute the check character differently, so a third-party identifier
with a wrong check character still parses, with a :class:`CertificateIdWarning`; pass
``strict=True`` to refuse it instead.
"""

from __future__ import annotations

import functools
import warnings

import attrs
import cattrs

from govsvc._converter import on_each
from govsvc.errors import InvalidIdentifier
from govsvc.identity import CreditCode

__all__ = [
    "ID_PREFIX",
    "CertificateId",
    "CertificateIdWarning",
    "mod37_36_check",
]

ID_PREFIX = "1.2.156.3005.2"
"""The fixed prefix of every national e-certificate identifier."""

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_MAX_SERIAL = 64
_HINT = "check the identifier printed under the certificate's QR code"


def _hybrid_step(p: int, value: int, modulus: int = 36) -> int:
    # ISO 7064 hybrid system: add, reduce mod M (0 becomes M), double, reduce mod M + 1.
    p = (p + value) % modulus or modulus
    return (2 * p) % (modulus + 1)


# The step as a table (state x character value): identifiers are checked on every
# verification, and one list lookup per character is several times faster than arithmetic.
_STEP = [_hybrid_step(p, v) for p in range(37) for v in range(36)]


# Character code -> value 0-35, 255 for anything outside 0-9A-Z.
_VALUES_OF = bytes(_VALUE.get(chr(code), 255) for code in range(256))


def mod37_36_check(text: str) -> str:
    """The ISO 7064 MOD 37,36 check character (hybrid system, alphabet ``0-9A-Z``).

    Written here rather than imported: it is a few lines, and the tests cross-check it
    against python-stdnum's ``stdnum.iso7064.mod_37_36`` on random input, the reference.
    """
    values = text.encode("ascii").translate(_VALUES_OF) if text.isascii() else b"\xff"
    if 255 in values:
        bad = next((c for c in text if c not in _VALUE), text)
        raise InvalidIdentifier(
            f"cannot compute an ISO 7064 MOD 37,36 check character over {text!r}: "
            f"{bad!r} is not a digit or capital letter A-Z"
        )
    p = 36
    step = _STEP
    for value in values:
        p = step[p * 36 + value]
    return _ALPHABET[(37 - p) % 36]


class CertificateIdWarning(UserWarning):
    """A third-party identifier parsed although its check character is not the expected one."""


def _alnum_upper(text: str) -> bool:
    return bool(text) and text.isascii() and text.isalnum() and text == text.upper()


def _check_type_code(code: str, label: str) -> None:
    if len(code) != 21:
        raise InvalidIdentifier(
            f"{label} {code!r} has {len(code)} characters; it must have 21: the defining "
            f"agency's credit code (18) followed by a 3-digit serial, e.g. "
            f"11100000MB0143028R001"
        )
    if not code[18:].isdigit() or not code[18:].isascii():
        raise InvalidIdentifier(
            f"{label} {code}: its last 3 characters ({code[18:]}) must be digits (the serial "
            f"of the type within the defining agency)"
        )
    try:
        _credit(code[:18])
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(
            f"{label} {code}: its first 18 characters must be the defining agency's credit "
            f"code, but {exc}"
        ) from None


@functools.lru_cache(maxsize=4096)
def _credit(code: str) -> str:
    # Issuers and defining agencies are few, and verification parses their codes in every
    # identifier: remember the ones that passed (failures are not cached, they raise).
    return CreditCode.parse(code, strict=False).number


def _check_issuer(code: str, label: str) -> None:
    try:
        _credit(code)
    except InvalidIdentifier as exc:
        raise InvalidIdentifier(
            f"{label}: the issuer part must be the issuing agency's credit code, but {exc}"
        ) from None
    if code != code.upper() or code != "".join(code.split()):
        raise InvalidIdentifier(f"{label}: issuer credit code {code!r} must be in canonical form")


def _check_serial(serial: str, label: str) -> None:
    if not _alnum_upper(serial) or len(serial) > _MAX_SERIAL:
        raise InvalidIdentifier(
            f"{label}: serial {serial!r} must be 1 to {_MAX_SERIAL} capital letters A-Z and "
            f"digits (no dots, spaces or Chinese characters)"
        )


def _check_version(version: str, label: str) -> None:
    if len(version) != 3 or not version.isascii() or not version.isdigit() or version == "000":
        raise InvalidIdentifier(
            f"{label}: version {version!r} must be 3 digits from 001 to 999 (001 for a first "
            f"issue, the next number for each re-issue)"
        )


def _validate(instance: CertificateId) -> None:
    label = f"e-certificate identifier for serial {instance.serial!r}"
    _check_type_code(instance.type_code, "certificate type code")
    _check_issuer(instance.issuer, label)
    _check_serial(instance.serial, label)
    _check_version(instance.version, label)
    if len(instance.check) != 1 or instance.check not in _VALUE:
        raise InvalidIdentifier(
            f"{label}: check character {instance.check!r} must be one digit or capital letter"
        )


_FIELDS = ("type_code", "issuer", "serial", "version", "check")


@attrs.frozen(order=False)
class CertificateId:
    """An e-certificate identifier (电子证照标识, GB/T 36904).

    Build one with :meth:`new` (computes the check character) or :meth:`parse` (reads
    printed or scanned text). ``str(cid)`` gives the dotted form.
    """

    type_code: str
    issuer: str
    serial: str
    version: str
    check: str

    def __attrs_post_init__(self) -> None:
        _validate(self)

    @classmethod
    def new(cls, type_code: str, issuer: str, serial: str, version: int = 1) -> CertificateId:
        """A new identifier with its check character computed by the standard algorithm.

        ``issuer`` is the issuing agency's credit code; ``version`` 1 is a first issue.
        """
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 999:
            raise InvalidIdentifier(
                f"version {version!r} must be a whole number from 1 to 999 (1 for a first issue)"
            )
        type_code, issuer, serial = (
            "".join(str(part).split()).upper() for part in (type_code, issuer, serial)
        )
        label = f"e-certificate identifier for serial {serial!r}"
        _check_type_code(type_code, "certificate type code")
        _check_issuer(issuer, label)
        _check_serial(serial, label)
        v = f"{version:03d}"
        return cls(type_code, issuer, serial, v, mod37_36_check(type_code + issuer + serial + v))

    @classmethod
    def parse(cls, text: str, *, strict: bool = False) -> CertificateId:
        """Parse the dotted form; whitespace is removed and letters upper-cased.

        A wrong check character raises :class:`~govsvc.errors.InvalidIdentifier` naming the
        expected one when ``strict``; otherwise it warns with :class:`CertificateIdWarning`
        (some deployed systems compute it differently) and the identifier is returned with
        :attr:`check_char_valid` False. Every other malformed part raises.
        """
        if not isinstance(text, str):
            raise InvalidIdentifier(
                f"an e-certificate identifier is text, got {type(text).__name__}"
            )
        compact = "".join(text.split()).upper()
        if not compact.startswith(ID_PREFIX + "."):
            raise InvalidIdentifier(
                f"{compact[:40]!r} is not an e-certificate identifier: it must start with "
                f"{ID_PREFIX}. (GB/T 36904); {_HINT}"
            )
        parts = compact[len(ID_PREFIX) + 1 :].split(".")
        if len(parts) != 5:
            raise InvalidIdentifier(
                f"e-certificate identifier {compact!r} has {len(parts)} parts after "
                f"{ID_PREFIX}; it needs 5 separated by dots: type code, issuer credit code, "
                f"serial, version, check character; {_HINT}"
            )
        type_code, issuer, serial, version, check = parts
        label = f"e-certificate identifier {compact}"
        _check_type_code(type_code, f"{label}: type code")
        _check_issuer(issuer, label)
        _check_serial(serial, label)
        _check_version(version, label)
        if len(check) != 1 or check not in _VALUE:
            raise InvalidIdentifier(
                f"{label}: the check character (last part) must be one digit or capital "
                f"letter, got {check!r}; {_HINT}"
            )
        expected = mod37_36_check(type_code + issuer + serial + version)
        if check != expected:
            message = (
                f"{label}: check character should be {expected}, got {check} "
                f"(ISO 7064 MOD 37,36 over type code, issuer, serial and version)"
            )
            if strict:
                raise InvalidIdentifier(f"{message}; {_HINT}")
            warnings.warn(
                f"{message}; accepted because some deployed systems compute it differently",
                CertificateIdWarning,
                stacklevel=2,
            )
        # Every part was checked above, with messages naming the whole text: build the value
        # without running the same checks again in __attrs_post_init__.
        instance = object.__new__(cls)
        for name, value in zip(_FIELDS, (type_code, issuer, serial, version, check), strict=True):
            object.__setattr__(instance, name, value)
        return instance

    @property
    def check_char_valid(self) -> bool:
        """True if the check character is the one the standard algorithm gives."""
        return self.check == mod37_36_check(
            self.type_code + self.issuer + self.serial + self.version
        )

    @property
    def defining_agency(self) -> str:
        """Credit code of the agency that defines the certificate type (first 18 of the type)."""
        return self.type_code[:18]

    @property
    def version_number(self) -> int:
        """The version as a number (1 for a first issue)."""
        return int(self.version)

    def next_version(self) -> CertificateId:
        """The identifier of a re-issue (换发/补发): same serial, next version, new check."""
        if self.version_number >= 999:
            raise InvalidIdentifier(
                f"e-certificate {self} is at version 999, the last one GB/T 36904 allows; "
                f"issue a new certificate with a new serial instead"
            )
        return CertificateId.new(self.type_code, self.issuer, self.serial, self.version_number + 1)

    def same_certificate(self, other: CertificateId) -> bool:
        """True if both identify versions of one certificate (same type, issuer, serial)."""
        return (self.type_code, self.issuer, self.serial) == (
            other.type_code,
            other.issuer,
            other.serial,
        )

    def __str__(self) -> str:
        return (
            f"{ID_PREFIX}.{self.type_code}.{self.issuer}.{self.serial}.{self.version}.{self.check}"
        )


# Stored and sent as its dotted text; a stored identifier is ours, so its check must hold.
def _register(c: cattrs.Converter) -> None:
    c.register_unstructure_hook(CertificateId, str)
    c.register_structure_hook(
        CertificateId, lambda value, _: CertificateId.parse(str(value), strict=True)
    )


on_each(_register)
