"""What the QR code on a certificate carries, and drawing it.

Two payloads, both chosen to fit QR *alphanumeric* mode (digits, capitals, ``space $ % * + -
. / :``; 5.5 bits a character instead of 8), scanned at error correction level M:

* **online** (the default printed on certificates): the verification page's URL with the
  identifier, upper-cased, e.g. ``HTTPS://ZWFW.HARBIN.GOV.CN/ECERT/V/1.2.156.3005.2.….001.O``
  — about 110 characters, QR version 5 (37 modules), easy for any phone camera. The
  phone opens the platform's page, which fetches the current credential and its status.
  The platform must route the upper-cased path (``/V/…``) like the lower-case one.
* **offline**: ``EC1:`` + Base45 (RFC 9285) of the zlib-compressed JWS parts (header JSON,
  payload JSON, signature; the compact JWS is rebuilt exactly from them). A verifier app
  checks the signature without a network and the status against its cached lists. A
  food business licence gives ~1,400 characters, QR version 25 (117 modules) at M: fine
  for a verifier app on a screen or a good print, too dense for a small sticker.

Anything else (another system's QR, a URL without an identifier) is reported as
"not a govsvc e-certificate QR code" by verification.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from typing import Final

import attrs
import segno

from govsvc.errors import InvalidInput

from ._credential import EcertUrls
from ._identifier import ID_PREFIX, CertificateId
from ._jose import CompactJws, b64url_decode, b64url_encode

__all__ = [
    "OFFLINE_PREFIX",
    "OfflinePayload",
    "OnlinePayload",
    "base45_decode",
    "base45_encode",
    "offline_payload",
    "online_payload",
    "parse_payload",
    "qr_code",
    "render_png",
    "render_svg",
]

OFFLINE_PREFIX: Final = "EC1:"
"""Prefix of the offline payload (version 1 of the container)."""

_B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_B45_VALUE = {c: i for i, c in enumerate(_B45)}
_ONLINE = re.compile(
    r"^HTTPS?://[^\s]+?/V/(?P<id>" + re.escape(ID_PREFIX) + r"\.[0-9A-Z.]+)/?$", re.IGNORECASE
)
_MAX_INFLATED = 64 * 1024


def base45_encode(data: bytes) -> str:
    """Base45 (RFC 9285): two bytes become three characters of the QR alphanumeric set."""
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        c, n = divmod(n, 45 * 45)
        b, a = divmod(n, 45)
        out += (_B45[a], _B45[b], _B45[c])
    if len(data) % 2:
        b, a = divmod(data[-1], 45)
        out += (_B45[a], _B45[b])
    return "".join(out)


def base45_decode(text: str) -> bytes:
    """Decode Base45; ValueError if the text is not valid Base45."""
    if len(text) % 3 == 1:
        raise ValueError("Base45 text has an impossible length")
    try:
        values = [_B45_VALUE[c] for c in text]
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not a Base45 character") from None
    out = bytearray()
    for i in range(0, len(values), 3):
        chunk = values[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 45 * 45
            if n > 0xFFFF:
                raise ValueError("Base45 triple out of range")
            out += n.to_bytes(2, "big")
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise ValueError("Base45 pair out of range")
            out.append(n)
    return bytes(out)


@attrs.frozen
class OnlinePayload:
    """A QR payload naming a certificate; verification fetches its current credential."""

    certificate_id: CertificateId
    url: str


@attrs.frozen
class OfflinePayload:
    """A QR payload carrying the whole signed credential (compact JWS)."""

    jws: str


def online_payload(certificate_id: CertificateId, urls: EcertUrls) -> str:
    """The verification URL, upper-cased so the QR code uses alphanumeric mode."""
    return urls.verification(certificate_id).upper()


def offline_payload(jws: str) -> str:
    """``EC1:`` + Base45(zlib(header, payload, signature)) of a compact JWS."""
    parts = CompactJws.split(jws)
    header_bytes = b64url_decode(jws.split(".", 1)[0])
    blob = b"".join(
        struct.pack(">H", len(part)) + part
        for part in (header_bytes, parts.payload, parts.signature)
    )
    return OFFLINE_PREFIX + base45_encode(zlib.compress(blob, 9))


def parse_payload(text: str) -> OnlinePayload | OfflinePayload:
    """Read a scanned payload; :class:`~govsvc.errors.InvalidInput` if it is not ours."""
    text = text.strip()
    if text.startswith(OFFLINE_PREFIX):
        try:
            blob = base45_decode(text[len(OFFLINE_PREFIX) :])
            inflater = zlib.decompressobj()
            raw = inflater.decompress(blob, _MAX_INFLATED)
            if inflater.unconsumed_tail or not inflater.eof:
                raise ValueError("the compressed credential is truncated or too large")
            parts: list[bytes] = []
            offset = 0
            for _ in range(3):
                (length,) = struct.unpack_from(">H", raw, offset)
                offset += 2
                part = raw[offset : offset + length]
                if len(part) != length:
                    raise ValueError("a part of the credential is cut short")
                parts.append(part)
                offset += length
            if offset != len(raw):
                raise ValueError("bytes after the signature")
        except (ValueError, struct.error, zlib.error) as exc:
            raise InvalidInput(f"the offline QR payload is damaged: {exc}") from None
        return OfflinePayload(".".join(b64url_encode(p) for p in parts))
    match = _ONLINE.match(text)
    if match:
        try:
            cid = CertificateId.parse(match["id"], strict=True)
        except InvalidInput as exc:
            raise InvalidInput(f"the QR code's URL names no valid certificate: {exc}") from None
        return OnlinePayload(cid, text)
    raise InvalidInput(
        "not a govsvc e-certificate QR code: expected a verification URL ending in "
        f"/v/{ID_PREFIX}.… or an offline payload starting with {OFFLINE_PREFIX}"
    )


def qr_code(payload: str) -> segno.QRCode:
    """The QR code for ``payload`` at error correction level M (never a Micro QR)."""
    return segno.make(payload, error="m", micro=False, boost_error=False)


def render_png(payload: str, *, scale: int = 4, border: int = 4) -> bytes:
    """The QR code as PNG bytes: ``scale`` pixels a module, ``border`` modules of quiet zone."""
    buffer = io.BytesIO()
    qr_code(payload).save(buffer, kind="png", scale=scale, border=border)
    return buffer.getvalue()


def render_svg(payload: str, *, scale: int = 4, border: int = 4) -> str:
    """The QR code as an inline SVG element (for the HTML print view)."""
    return str(qr_code(payload).svg_inline(scale=scale, border=border, title="电子证照核验二维码"))
