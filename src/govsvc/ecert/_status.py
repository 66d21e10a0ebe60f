"""Bitstring status lists (W3C Bitstring Status List v1.0): revocation and suspension.

Each issuing department keeps numbered lists, one per purpose; a certificate holds one
index, and its bit at that index in the department's *revocation* list and in its
*suspension* list says whether it is revoked (or cancelled) and whether it is suspended.
Indexes are handed out at random (:func:`allocate_index`), so neighbouring indexes say
nothing about who holds them, and a list has at least 131,072 entries (16 KiB), the
spec's minimum for group privacy.

The list travels as ``encodedList``: the bitstring GZIP-compressed, base64url-encoded without
padding and prefixed with ``u`` (multibase). Bit 0 is the most significant bit of byte 0.
The list itself is published as a signed credential (``BitstringStatusListCredential``,
:func:`status_list_credential`). Storing lists and bumping them is the platform's part.
"""

from __future__ import annotations

import datetime as dt
import enum
import gzip
import secrets
import zlib
from collections.abc import Collection
from typing import Any, Final

import attrs

from govsvc.errors import InvalidInput, StatusListFull

from ._jose import b64url_decode, b64url_encode

__all__ = [
    "MIN_LIST_SIZE",
    "StatusList",
    "StatusPurpose",
    "allocate_index",
    "status_list_credential",
]

MIN_LIST_SIZE: Final = 131_072
"""Entries in a status list: the spec's minimum (16 KiB), for group privacy."""

_MAX_DECODED = 16 * 1024 * 1024  # refuse "zip bombs" from a status list URL


class StatusPurpose(enum.Enum):
    """What a status list's bits mean (``statusPurpose``)."""

    REVOCATION = "revocation"  # set: revoked or cancelled, for ever
    SUSPENSION = "suspension"  # set: suspended for now

    @property
    def label(self) -> str:
        return "吊销/注销" if self is StatusPurpose.REVOCATION else "暂停"


def allocate_index(
    used: Collection[int], *, size: int = MIN_LIST_SIZE, rng: secrets.SystemRandom | None = None
) -> int:
    """A random index in ``range(size)`` that is not in ``used``.

    Never the same index twice for a list, as long as ``used`` holds every index handed out
    (the platform keeps them in one table, allocating in the same transaction as the
    certificate). Raises :class:`StatusListFull` when none is left.
    """
    if len(used) >= size:
        raise StatusListFull(
            f"all {size} indexes of this status list are used; open the department's next "
            f"list (status_list + 1) for new certificates"
        )
    random = rng or _RANDOM
    # Random probing is fast while the list is mostly free; past half full, pick from what
    # is left so the cost stays bounded.
    if len(used) < size // 2:
        while True:
            index = random.randrange(size)
            if index not in used:
                return index
    free = sorted(set(range(size)).difference(used))
    return free[random.randrange(len(free))]


_RANDOM = secrets.SystemRandom()


@attrs.frozen(eq=True)
class StatusList:
    """One status list: its purpose and its bits (immutable; setting a bit gives a new list)."""

    purpose: StatusPurpose
    bits: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")

    def __attrs_post_init__(self) -> None:
        if len(self.bits) * 8 < MIN_LIST_SIZE:
            raise InvalidInput(
                f"a status list needs at least {MIN_LIST_SIZE} entries ({MIN_LIST_SIZE // 8} "
                f"bytes); got {len(self.bits) * 8}"
            )

    @classmethod
    def empty(cls, purpose: StatusPurpose, size: int = MIN_LIST_SIZE) -> StatusList:
        """A list of ``size`` entries (a multiple of 8, at least 131,072), all clear."""
        if size < MIN_LIST_SIZE or size % 8:
            raise InvalidInput(
                f"a status list has a multiple of 8 entries, at least {MIN_LIST_SIZE}; got {size}"
            )
        return cls(purpose, bytes(size // 8))

    @property
    def size(self) -> int:
        """Number of entries (bits)."""
        return len(self.bits) * 8

    def _position(self, index: int) -> tuple[int, int]:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.size:
            raise InvalidInput(
                f"status list index {index!r} is outside this list (0 to {self.size - 1})"
            )
        return index >> 3, 7 - (index & 7)

    def get(self, index: int) -> bool:
        """True if the bit at ``index`` is set."""
        byte, shift = self._position(index)
        return bool((self.bits[byte] >> shift) & 1)

    def set(self, index: int, value: bool = True) -> StatusList:
        """A copy with the bit at ``index`` set (or cleared with ``value=False``)."""
        byte, shift = self._position(index)
        data = bytearray(self.bits)
        if value:
            data[byte] |= 1 << shift
        else:
            data[byte] &= ~(1 << shift) & 0xFF
        return StatusList(self.purpose, bytes(data))

    def clear(self, index: int) -> StatusList:
        """A copy with the bit at ``index`` cleared (e.g. a suspension lifted)."""
        return self.set(index, False)

    def set_many(self, values: dict[int, bool]) -> StatusList:
        """A copy with several bits changed at once (one copy of the list, not one each)."""
        data = bytearray(self.bits)
        for index, value in values.items():
            byte, shift = self._position(index)
            if value:
                data[byte] |= 1 << shift
            else:
                data[byte] &= ~(1 << shift) & 0xFF
        return StatusList(self.purpose, bytes(data))

    def encode(self) -> str:
        """``encodedList``: ``u`` + base64url (no padding) of the GZIP-compressed bits.

        ``mtime=0`` so the same bits always give the same text (and the same signature).
        """
        return "u" + b64url_encode(gzip.compress(self.bits, compresslevel=9, mtime=0))

    @classmethod
    def decode(cls, encoded: str, purpose: StatusPurpose) -> StatusList:
        """Read ``encodedList``; :class:`~govsvc.errors.InvalidInput` says what is wrong."""
        if not isinstance(encoded, str) or not encoded.startswith("u"):
            raise InvalidInput("encodedList must be multibase base64url: text starting with 'u'")
        try:
            compressed = b64url_decode(encoded[1:])
        except ValueError:
            raise InvalidInput("encodedList is not base64url after its 'u' prefix") from None
        try:
            inflater = zlib.decompressobj(wbits=31)  # 31: GZIP framing
            bits = inflater.decompress(compressed, _MAX_DECODED)
            if inflater.unconsumed_tail:
                raise InvalidInput(f"encodedList expands past {_MAX_DECODED} bytes; refused")
            if not inflater.eof:
                raise InvalidInput("encodedList is a truncated GZIP stream")
        except zlib.error as exc:
            raise InvalidInput(f"encodedList is not GZIP data ({exc})") from None
        return cls(purpose, bits)


def status_list_credential(
    status_list: StatusList,
    *,
    url: str,
    issuer_id: str,
    issuer_name: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime | None = None,
) -> dict[str, Any]:
    """The unsigned ``BitstringStatusListCredential`` document published at ``url``.

    Sign it with :func:`~govsvc.ecert.sign_credential` using the issuer's current key.
    ``valid_until`` tells verifiers how long a cached copy may be trusted.
    """
    document: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": {"id": issuer_id, "name": issuer_name},
        "validFrom": _timestamp(valid_from),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": status_list.purpose.value,
            "encodedList": status_list.encode(),
        },
    }
    if valid_until is not None:
        document["validUntil"] = _timestamp(valid_until)
    return document


def _timestamp(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise InvalidInput(f"{moment.isoformat()} has no time zone; give an aware datetime")
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
