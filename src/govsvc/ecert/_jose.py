"""The small part of JOSE the library needs: canonical JSON, base64url, compact JWS.

Written here rather than taken from a JOSE library because SM2 (GB/T 38540) is in none of
them and the hot path of verification must stay lean; the tests verify what this module
produces with an independent library (joserfc) to keep it honest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "CompactJws",
    "JwsFormatError",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "jwk_thumbprint",
]

_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def canonical_json(value: Any) -> bytes:
    """The bytes that get signed: keys sorted, UTF-8 (Chinese unescaped), no spaces.

    Floats are refused: their text form differs between implementations, so a document
    with one could not be re-serialised to the same bytes.
    """
    _refuse_floats(value)
    return _ENCODER.encode(value).encode("utf-8")


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError(f"{value!r}: floats are not allowed in signed documents; use int or text")
    if isinstance(value, Mapping):
        for v in value.values():
            _refuse_floats(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _refuse_floats(v)


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_VALUE = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
# base64url to standard base64 in one pass; "+", "/" and "=" (standard alphabet only)
# become "!", which strict decoding refuses, so no separate scan is needed for them.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")


def b64url_decode(text: str) -> bytes:
    """Decode base64url without padding; ValueError if it is not canonical base64url."""
    # strict_mode refuses characters outside the alphabet (urlsafe_b64decode would skip
    # them silently).
    if len(text) % 4 == 1:
        raise ValueError("not base64url text")
    try:
        raw = text.encode("ascii").translate(_TO_STANDARD) + b"=" * (-len(text) % 4)
        data = binascii.a2b_base64(raw, strict_mode=True)
    except UnicodeEncodeError:
        raise ValueError("not base64url text (non-ASCII characters)") from None
    except binascii.Error as exc:
        raise ValueError(f"not base64url text ({exc})") from None
    # Refuse the other spellings of the same bytes (non-zero unused bits in the last
    # character): a changed character must never leave a signature or payload "valid".
    tail = len(text) % 4
    if tail and _VALUE[text[-1]] & (0x0F if tail == 2 else 0x03):
        raise ValueError("not canonical base64url (unused bits set in the last character)")
    return data


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK."""
    kty = jwk.get("kty")
    required = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y")}.get(str(kty))
    if required is None:
        raise ValueError(f"cannot take the thumbprint of a key of type {kty!r}")
    members = {name: jwk[name] for name in required}
    return b64url_encode(hashlib.sha256(canonical_json(members)).digest())


class JwsFormatError(ValueError):
    """Text that is not a compact JWS with a JSON header and payload."""


@attrs.frozen
class CompactJws:
    """A compact JWS split into its parts (RFC 7515 §7.1), not yet verified."""

    header: Mapping[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes

    @classmethod
    def split(cls, text: str) -> CompactJws:
        """Split and decode ``header.payload.signature``; :class:`JwsFormatError` if malformed."""
        signing_input, _, s = text.rpartition(".")
        h, _, p = signing_input.partition(".")
        if not h or not p or "." in p:
            raise JwsFormatError(
                f"a compact JWS has 3 parts separated by dots; this text has {text.count('.') + 1}"
            )
        try:
            header_bytes, payload, signature = b64url_decode(h), b64url_decode(p), b64url_decode(s)
        except ValueError:
            raise JwsFormatError("a part of the JWS is not base64url text") from None
        try:
            header = json.loads(header_bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise JwsFormatError("the JWS header is not JSON") from None
        if not isinstance(header, dict):
            raise JwsFormatError("the JWS header is not a JSON object")
        return cls(header, payload, signing_input.encode("ascii"), signature)

    def payload_json(self) -> Any:
        """The payload parsed as JSON; :class:`JwsFormatError` if it is not."""
        try:
            return json.loads(self.payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise JwsFormatError("the JWS payload is not JSON") from None

    @staticmethod
    def encode(header: Mapping[str, Any], payload: bytes, sign: Any) -> str:
        """``header.payload.signature`` with ``sign(signing_input) -> bytes``."""
        signing_input = f"{b64url_encode(canonical_json(header))}.{b64url_encode(payload)}"
        signature = sign(signing_input.encode("ascii"))
        return f"{signing_input}.{b64url_encode(signature)}"
