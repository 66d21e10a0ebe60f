"""Signing keys of issuing departments: backends, rotation, remote signers (HSM/KMS).

Two backends, selectable per department:

* **Ed25519** (``cryptography``), JWS ``alg`` ``EdDSA``, JWK ``{"kty": "OKP", "crv":
  "Ed25519", "x": …}`` — what international verifiers and JOSE libraries accept.
* **SM2 with SM3** (GB/T 32918, GB/T 38540) on ``tongsuopy`` (Tongsuo, the OpenSSL fork with
  the Chinese algorithms), JWS ``alg`` ``SM2SM3``, JWK ``{"kty": "EC", "crv": "SM2", "x": …,
  "y": …}`` (32-byte big-endian coordinates, base64url). The signer's distinguishing
  identifier is the default ``1234567812345678`` of GB/T 32918 / GM/T 0009, and the JWS
  signature is ``r || s`` (2 × 32 bytes), as JOSE does for ECDSA, not DER. No JOSE registry
  has an SM2 algorithm name; ``SM2SM3`` names the signature and the hash, like ``ES256``.

A :class:`KeyRing` holds the keys of every issuing department by key id (``kid``). Rotation
retires the current key: a retired key keeps verifying what it signed before it was retired,
and signs nothing (:class:`~govsvc.errors.KeyRetired`); a revoked (compromised) key verifies
nothing. Private keys come from PEM files or from a remote signer — never from a database.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

import attrs
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from tongsuopy.crypto import hashes as ts_hashes
from tongsuopy.crypto import serialization as ts_serialization
from tongsuopy.crypto.asymciphers import ec as ts_ec

from govsvc.errors import InvalidInput, KeyRetired, SigningError, UnknownKey
from govsvc.identity import CreditCode

from ._jose import b64url_decode, b64url_encode, jwk_thumbprint

__all__ = [
    "EDDSA",
    "SM2SM3",
    "SM2_USER_ID",
    "Ed25519Signer",
    "Ed25519Verifier",
    "KeyLookup",
    "KeyRing",
    "KeyState",
    "PublishedKey",
    "PublishedKeySets",
    "RemoteSigner",
    "RemoteSigningService",
    "SM2Signer",
    "SM2Verifier",
    "Signer",
    "Verifier",
    "verifier_from_jwk",
]

EDDSA: Final = "EdDSA"
"""JWS ``alg`` of Ed25519 signatures (RFC 8037)."""
SM2SM3: Final = "SM2SM3"
"""JWS ``alg`` this library uses for SM2 signatures over SM3 (GB/T 38540); not registered."""
SM2_USER_ID: Final = b"1234567812345678"
"""The signer's distinguishing identifier in SM2 signatures (the GB/T 32918 default)."""

_SM3 = ts_ec.ECDSA(ts_hashes.SM3())


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------------------------
# Protocols
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Verifier(Protocol):
    """The public side of a key: checks JWS signatures."""

    @property
    def algorithm(self) -> str:
        """The JWS ``alg`` this key verifies (``EdDSA`` or ``SM2SM3``)."""
        ...

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True if ``signature`` (JWS form) signs ``data``. Never raises for a bad one."""
        ...

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (no ``kid``, no private members)."""
        ...


@runtime_checkable
class Signer(Protocol):
    """A private key (or a handle on one in an HSM/KMS) that signs JWS signing input."""

    @property
    def key_id(self) -> str:
        """The ``kid`` put in JWS headers and published in the department's key set."""
        ...

    @property
    def algorithm(self) -> str:
        """The JWS ``alg``: ``EdDSA`` or ``SM2SM3``."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The JWS signature of ``data`` (Ed25519: 64 bytes; SM2: ``r || s``, 64 bytes)."""
        ...

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK (no ``kid``, no private members)."""
        ...


class RemoteSigningService(Protocol):
    """What an HSM or KMS adapter offers: signing with a key that never leaves it.

    ``key_ref`` is the service's own name for the key (an HSM slot label, a KMS key ARN).
    ``sign`` returns the JWS form of the signature (for SM2 ``r || s``, 64 bytes — convert
    a DER answer in the adapter). Exceptions are reported as :class:`SigningError`.
    """

    def sign(self, key_ref: str, data: bytes) -> bytes: ...

    def public_jwk(self, key_ref: str) -> Mapping[str, Any]: ...


# --------------------------------------------------------------------------------------------
# Ed25519 (cryptography)
# --------------------------------------------------------------------------------------------


class Ed25519Verifier:
    """An Ed25519 public key (JWS ``EdDSA``)."""

    algorithm: Final = EDDSA
    __slots__ = ("_jwk", "_key")

    def __init__(self, key: ed25519.Ed25519PublicKey) -> None:
        self._key = key
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self._jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> Ed25519Verifier:
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise InvalidInput(f"not an Ed25519 JWK (kty OKP, crv Ed25519): {dict(jwk)!r}")
        try:
            raw = b64url_decode(str(jwk["x"]))
            return cls(ed25519.Ed25519PublicKey.from_public_bytes(raw))
        except (KeyError, ValueError) as exc:
            raise InvalidInput(f"Ed25519 JWK has no valid 32-byte x: {exc}") from None

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self._key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def public_jwk(self) -> dict[str, str]:
        return dict(self._jwk)


class Ed25519Signer:
    """An Ed25519 private key held in this process (loaded from a PEM file)."""

    algorithm: Final = EDDSA

    def __init__(self, key: ed25519.Ed25519PrivateKey, key_id: str | None = None) -> None:
        self._key = key
        self._verifier = Ed25519Verifier(key.public_key())
        self._key_id = key_id or jwk_thumbprint(self._verifier.public_jwk())[:16]

    @classmethod
    def generate(cls, key_id: str | None = None) -> Ed25519Signer:
        """A fresh key (tests, development; production keys come from PEM files or an HSM)."""
        return cls(ed25519.Ed25519PrivateKey.generate(), key_id)

    @classmethod
    def from_pem(
        cls, pem: bytes, key_id: str | None = None, *, password: bytes | None = None
    ) -> Ed25519Signer:
        """Load a PKCS#8 PEM private key (``openssl genpkey -algorithm ed25519``)."""
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise InvalidInput(f"cannot load the Ed25519 PEM private key: {exc}") from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise InvalidInput(
                f"the PEM file holds a {type(key).__name__}, not an Ed25519 private key"
            )
        return cls(key, key_id)

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    def public_jwk(self) -> dict[str, str]:
        return self._verifier.public_jwk()

    def verifier(self) -> Ed25519Verifier:
        return self._verifier

    def private_pem(self, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM (to write a key file; encrypted with ``password``)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _encryption(password)
        )


def _encryption(password: bytes | None) -> serialization.KeySerializationEncryption:
    if password is None:
        return serialization.NoEncryption()
    return serialization.BestAvailableEncryption(password)


# --------------------------------------------------------------------------------------------
# SM2 / SM3 (tongsuopy)
# --------------------------------------------------------------------------------------------


def _sm2_raw_signature(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class SM2Verifier:
    """An SM2 public key (JWS ``SM2SM3``, signer id ``1234567812345678``)."""

    algorithm: Final = SM2SM3
    __slots__ = ("_jwk", "_key")

    def __init__(self, key: Any) -> None:
        self._key = key
        numbers = key.public_numbers()
        self._jwk = {
            "kty": "EC",
            "crv": "SM2",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> SM2Verifier:
        if jwk.get("kty") != "EC" or jwk.get("crv") != "SM2":
            raise InvalidInput(f"not an SM2 JWK (kty EC, crv SM2): {dict(jwk)!r}")
        try:
            x, y = b64url_decode(str(jwk["x"])), b64url_decode(str(jwk["y"]))
            if len(x) != 32 or len(y) != 32:
                raise ValueError("x and y must be 32 bytes each")
            numbers = ts_ec.EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), ts_ec.SM2()
            )
            return cls(numbers.public_key())
        except (KeyError, ValueError) as exc:
            raise InvalidInput(f"SM2 JWK has no valid point (x, y): {exc}") from None

    @classmethod
    def from_raw(cls, public_key: bytes) -> SM2Verifier:
        """From the 64-byte ``x || y`` form other SM2 packages (gmssl_pyx) use."""
        if len(public_key) == 65 and public_key[0] == 4:
            public_key = public_key[1:]
        if len(public_key) != 64:
            raise InvalidInput(f"an SM2 public key is 64 bytes (x || y), got {len(public_key)}")
        return cls.from_jwk(
            {
                "kty": "EC",
                "crv": "SM2",
                "x": b64url_encode(public_key[:32]),
                "y": b64url_encode(public_key[32:]),
            }
        )

    def verify(self, signature: bytes, data: bytes) -> bool:
        if len(signature) != 64:
            return False
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            self._key.verify(der, data, _SM3)
        except Exception:  # tongsuopy raises InvalidSignature, or InternalError for junk
            return False
        return True

    def public_jwk(self) -> dict[str, str]:
        return dict(self._jwk)

    def raw_public_key(self) -> bytes:
        """``x || y`` (64 bytes), the form gmssl_pyx and most SM2 hardware use."""
        return b64url_decode(self._jwk["x"]) + b64url_decode(self._jwk["y"])


class SM2Signer:
    """An SM2 private key held in this process, signing with SM3 (GB/T 38540)."""

    algorithm: Final = SM2SM3

    def __init__(self, key: Any, key_id: str | None = None) -> None:
        if not isinstance(getattr(key, "curve", None), ts_ec.SM2):
            raise InvalidInput("the key is not on the SM2 curve (sm2p256v1)")
        self._key = key
        self._verifier = SM2Verifier(key.public_key())
        self._key_id = key_id or jwk_thumbprint(self._verifier.public_jwk())[:16]

    @classmethod
    def generate(cls, key_id: str | None = None) -> SM2Signer:
        """A fresh key (tests, development; production keys come from PEM files or an HSM)."""
        return cls(ts_ec.generate_private_key(ts_ec.SM2()), key_id)

    @classmethod
    def from_pem(
        cls, pem: bytes, key_id: str | None = None, *, password: bytes | None = None
    ) -> SM2Signer:
        """Load a PKCS#8 or SEC1 PEM SM2 private key (``tongsuo genpkey -algorithm SM2``)."""
        try:
            key = ts_serialization.load_pem_private_key(pem, password=password)
        except Exception as exc:  # tongsuopy raises ValueError, TypeError or its own errors
            raise InvalidInput(f"cannot load the SM2 PEM private key: {exc}") from None
        return cls(key, key_id)

    @classmethod
    def from_private_value(cls, private_key: bytes, key_id: str | None = None) -> SM2Signer:
        """From the 32-byte private scalar (the form gmssl_pyx returns)."""
        if len(private_key) != 32:
            raise InvalidInput(f"an SM2 private key is 32 bytes, got {len(private_key)}")
        return cls(
            ts_ec.derive_private_key(int.from_bytes(private_key, "big"), ts_ec.SM2()), key_id
        )

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign(self, data: bytes) -> bytes:
        return _sm2_raw_signature(self._key.sign(data, _SM3))

    def public_jwk(self) -> dict[str, str]:
        return self._verifier.public_jwk()

    def verifier(self) -> SM2Verifier:
        return self._verifier

    def private_pem(self, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM (to write a key file; encrypted with ``password``)."""
        encryption: Any = (
            ts_serialization.NoEncryption()
            if password is None
            else ts_serialization.BestAvailableEncryption(password)
        )
        pem: bytes = self._key.private_bytes(
            ts_serialization.Encoding.PEM, ts_serialization.PrivateFormat.PKCS8, encryption
        )
        return pem


def verifier_from_jwk(jwk: Mapping[str, Any]) -> Verifier:
    """The verifier for a public JWK: Ed25519 (OKP) or SM2 (EC, crv SM2)."""
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        return Ed25519Verifier.from_jwk(jwk)
    if jwk.get("kty") == "EC" and jwk.get("crv") == "SM2":
        return SM2Verifier.from_jwk(jwk)
    raise InvalidInput(
        f"unsupported key type {jwk.get('kty')!r} / curve {jwk.get('crv')!r}: govsvc verifies "
        f"Ed25519 (kty OKP) and SM2 (kty EC, crv SM2) keys"
    )


# --------------------------------------------------------------------------------------------
# Remote signers (HSM / KMS)
# --------------------------------------------------------------------------------------------


class RemoteSigner:
    """A :class:`Signer` whose private key lives in an HSM or KMS.

    The public key is read from the service once. With ``check`` (default) every signature
    the service returns is verified before use, so a service answering in the wrong form
    (DER instead of ``r || s``) or with the wrong key fails loudly instead of issuing
    certificates nobody can verify.
    """

    def __init__(
        self,
        service: RemoteSigningService,
        *,
        key_ref: str,
        key_id: str | None = None,
        check: bool = True,
    ) -> None:
        self._service = service
        self._key_ref = key_ref
        try:
            jwk = dict(service.public_jwk(key_ref))
        except Exception as exc:
            raise SigningError(
                f"the remote signer could not give the public key of {key_ref!r}: {exc}"
            ) from exc
        self._verifier = verifier_from_jwk(jwk)
        self._key_id = key_id or jwk_thumbprint(self._verifier.public_jwk())[:16]
        self._check = check

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def algorithm(self) -> str:
        return self._verifier.algorithm

    def sign(self, data: bytes) -> bytes:
        try:
            signature = bytes(self._service.sign(self._key_ref, data))
        except Exception as exc:
            raise SigningError(
                f"the remote signer failed to sign with {self._key_ref!r}: {exc}; nothing was "
                f"issued, retry when the HSM/KMS is reachable"
            ) from exc
        if self._check and not self._verifier.verify(signature, data):
            raise SigningError(
                f"the remote signer returned a signature for {self._key_ref!r} that its own "
                f"public key does not verify ({len(signature)} bytes); it must return the JWS "
                f"form ({self.algorithm}: 64 bytes, r || s for SM2, not DER)"
            )
        return signature

    def public_jwk(self) -> dict[str, str]:
        return self._verifier.public_jwk()

    def verifier(self) -> Verifier:
        return self._verifier


# --------------------------------------------------------------------------------------------
# Published keys and the key ring
# --------------------------------------------------------------------------------------------


class KeyState(enum.Enum):
    """Where a key stands at a moment."""

    PENDING = "pending"  # not yet activated
    ACTIVE = "active"  # signs and verifies
    RETIRED = "retired"  # rotated out: verifies what it signed before, signs nothing
    REVOKED = "revoked"  # compromised: verifies nothing, signs nothing


def _credit(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"an issuer is its credit code (text), got {value!r}")
    return CreditCode.parse(value, strict=False).number


def _optional_aware(_i: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, dt.datetime) or value.tzinfo is None):
        raise InvalidInput(f"{attribute.name} must be an aware datetime or None, got {value!r}")


@attrs.frozen(kw_only=True)
class PublishedKey:
    """A department's public key as verifiers see it: the key and its life.

    ``retired_at`` is when rotation retired it; ``revoked_at`` when it was declared
    compromised. ``thumbprint`` is the RFC 7638 thumbprint of the public JWK.
    """

    key_id: str
    issuer: str = attrs.field(converter=_credit)
    verifier: Verifier = attrs.field(eq=False, repr=False)
    activated_at: dt.datetime | None = attrs.field(default=None, validator=_optional_aware)
    retired_at: dt.datetime | None = attrs.field(default=None, validator=_optional_aware)
    revoked_at: dt.datetime | None = attrs.field(default=None, validator=_optional_aware)
    thumbprint: str = attrs.field(init=False)

    @thumbprint.default
    def _thumbprint(self) -> str:
        return jwk_thumbprint(self.verifier.public_jwk())

    @property
    def algorithm(self) -> str:
        return self.verifier.algorithm

    def state_at(self, moment: dt.datetime) -> KeyState:
        """The key's state at ``moment``."""
        if self.revoked_at is not None and moment >= self.revoked_at:
            return KeyState.REVOKED
        if self.retired_at is not None and moment >= self.retired_at:
            return KeyState.RETIRED
        if self.activated_at is not None and moment < self.activated_at:
            return KeyState.PENDING
        return KeyState.ACTIVE

    def jwk(self) -> dict[str, str]:
        """The public JWK as published: key, ``kid``, ``alg``, ``use`` and, once retired,
        ``retired_at`` (an extra member, which RFC 7517 §4 lets other verifiers ignore)."""
        jwk = {**self.verifier.public_jwk(), "kid": self.key_id, "alg": self.algorithm}
        jwk["use"] = "sig"
        if self.retired_at is not None:
            jwk["retired_at"] = self.retired_at.isoformat()
        return jwk

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any], *, issuer: str) -> PublishedKey:
        """Read a published JWK (as :meth:`jwk` writes it) back."""
        if any(name in jwk for name in ("d", "p", "q", "dp", "dq", "qi", "k")):
            raise InvalidInput("a published JWK must not hold private key members (d, …)")
        verifier = verifier_from_jwk(jwk)
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidInput("a published JWK needs its kid")
        alg = jwk.get("alg")
        if alg is not None and alg != verifier.algorithm:
            raise InvalidInput(
                f"JWK {kid}: alg {alg!r} does not fit its key ({verifier.algorithm})"
            )
        retired = jwk.get("retired_at")
        return cls(
            key_id=kid,
            issuer=issuer,
            verifier=verifier,
            retired_at=dt.datetime.fromisoformat(retired) if isinstance(retired, str) else None,
        )


@attrs.frozen
class KeyLookup:
    """What a key resolver found for ``(issuer, kid)``.

    ``fetched_at`` is when the key set it came from was fetched (None: live, this instant);
    verification reports the age in offline mode.
    """

    key: PublishedKey | None
    issuer_known: bool
    fetched_at: dt.datetime | None = None

    @classmethod
    def found(cls, key: PublishedKey, *, fetched_at: dt.datetime | None = None) -> KeyLookup:
        return cls(key, True, fetched_at)

    @classmethod
    def unknown_issuer(cls) -> KeyLookup:
        return cls(None, False)

    @classmethod
    def unknown_key(cls, *, fetched_at: dt.datetime | None = None) -> KeyLookup:
        return cls(None, True, fetched_at)


@attrs.define
class _Entry:
    signer: Signer | None
    published: PublishedKey


class _RingSigner:
    """A department's signer as the ring hands it out: it re-checks the key's state on
    every call, so a signer kept after rotation cannot sign."""

    def __init__(self, ring: KeyRing, key_id: str) -> None:
        self._ring = ring
        self._key_id = key_id
        entry = ring._entry(key_id)
        assert entry.signer is not None
        self._signer: Signer = entry.signer

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def algorithm(self) -> str:
        return self._signer.algorithm

    def sign(self, data: bytes) -> bytes:
        return self._ring.sign(self._key_id, data)

    def public_jwk(self) -> dict[str, str]:
        return self._signer.public_jwk()


class KeyRing:
    """The signing keys of every issuing department, by key id.

    Each department has at most one current key; :meth:`rotate` makes a new one current and
    retires the old one (it keeps verifying what it signed before). The ring is a
    :data:`~govsvc.ecert.KeyResolver` (:meth:`resolve`) and publishes each department's key
    set (:meth:`jwks`).
    """

    def __init__(self, *, clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._current: dict[str, str] = {}

    # --- adding keys ---------------------------------------------------------------------

    def add(
        self,
        issuer: str,
        signer: Signer,
        *,
        activated_at: dt.datetime | None = None,
        current: bool = True,
    ) -> PublishedKey:
        """Add a key for ``issuer`` (credit code); with ``current`` it signs from now on and
        the department's previous current key is retired at ``activated_at``."""
        issuer = _credit(issuer)
        if signer.key_id in self._entries:
            raise InvalidInput(
                f"key id {signer.key_id!r} is already in the key ring; give each key its own id"
            )
        if signer.algorithm not in (EDDSA, SM2SM3):
            raise InvalidInput(
                f"algorithm {signer.algorithm!r} is not supported; use {EDDSA} or {SM2SM3}"
            )
        at = activated_at or self._clock()
        verifier = (
            signer.verifier()
            if hasattr(signer, "verifier")
            else verifier_from_jwk(signer.public_jwk())
        )
        published = PublishedKey(
            key_id=signer.key_id, issuer=issuer, verifier=verifier, activated_at=at
        )
        self._entries[signer.key_id] = _Entry(signer, published)
        if current:
            previous = self._current.get(issuer)
            if previous is not None:
                self.retire(previous, at=at)
            self._current[issuer] = signer.key_id
        return published

    def rotate(self, issuer: str, signer: Signer, *, at: dt.datetime | None = None) -> PublishedKey:
        """Make ``signer`` the department's current key; the previous one is retired ``at``."""
        return self.add(issuer, signer, activated_at=at, current=True)

    def generate(
        self,
        issuer: str,
        algorithm: str = EDDSA,
        *,
        key_id: str | None = None,
        activated_at: dt.datetime | None = None,
    ) -> PublishedKey:
        """Generate a key in memory (tests, development, demos) and make it current."""
        signer: Signer
        if algorithm == EDDSA:
            signer = Ed25519Signer.generate(key_id)
        elif algorithm == SM2SM3:
            signer = SM2Signer.generate(key_id)
        else:
            raise InvalidInput(f"algorithm {algorithm!r} is not supported; use {EDDSA} or {SM2SM3}")
        return self.add(issuer, signer, activated_at=activated_at)

    def load_pem(
        self,
        issuer: str,
        path: str | os.PathLike[str],
        *,
        key_id: str | None = None,
        password: bytes | None = None,
        activated_at: dt.datetime | None = None,
        current: bool = True,
    ) -> PublishedKey:
        """Load a private key from a PEM file: Ed25519 or SM2, recognised from the file."""
        file = Path(path)
        try:
            pem = file.read_bytes()
        except OSError as exc:
            raise InvalidInput(
                f"cannot read the private key file {file}: {exc.strerror or exc}; check the "
                f"path and that this process may read it"
            ) from None
        signer: Signer
        try:
            signer = Ed25519Signer.from_pem(pem, key_id, password=password)
        except InvalidInput as as_ed25519:
            try:
                signer = SM2Signer.from_pem(pem, key_id, password=password)
            except InvalidInput as as_sm2:
                raise InvalidInput(
                    f"{file} holds neither an Ed25519 nor an SM2 private key in PEM form. "
                    f"As Ed25519: {as_ed25519}. As SM2: {as_sm2}."
                ) from None
        return self.add(issuer, signer, activated_at=activated_at, current=current)

    def add_remote(
        self,
        issuer: str,
        service: RemoteSigningService,
        *,
        key_ref: str,
        key_id: str | None = None,
        activated_at: dt.datetime | None = None,
        current: bool = True,
    ) -> PublishedKey:
        """Add a key held by an HSM or KMS (see :class:`RemoteSigner`)."""
        signer = RemoteSigner(service, key_ref=key_ref, key_id=key_id)
        return self.add(issuer, signer, activated_at=activated_at, current=current)

    def add_public(self, key: PublishedKey) -> None:
        """Add a key without its private part (e.g. a retired key kept for verification)."""
        if key.key_id in self._entries:
            raise InvalidInput(f"key id {key.key_id!r} is already in the key ring")
        self._entries[key.key_id] = _Entry(None, key)

    # --- life of keys --------------------------------------------------------------------

    def _entry(self, key_id: str) -> _Entry:
        entry = self._entries.get(key_id)
        if entry is None:
            raise UnknownKey(
                f"no key {key_id!r} in the key ring; known: {', '.join(self._entries) or 'none'}"
            )
        return entry

    def retire(self, key_id: str, *, at: dt.datetime | None = None) -> PublishedKey:
        """Retire a key: from ``at`` it signs nothing; what it signed before stays valid."""
        entry = self._entry(key_id)
        moment = at or self._clock()
        if entry.published.retired_at is None or entry.published.retired_at > moment:
            entry.published = attrs.evolve(entry.published, retired_at=moment)
        issuer = entry.published.issuer
        if self._current.get(issuer) == key_id:
            del self._current[issuer]
        return entry.published

    def revoke(self, key_id: str, *, at: dt.datetime | None = None) -> PublishedKey:
        """Declare a key compromised: from ``at`` nothing it signed verifies, whenever signed.

        Re-sign the department's valid certificates with its new key afterwards.
        """
        entry = self._entry(key_id)
        moment = at or self._clock()
        entry.published = attrs.evolve(
            entry.published,
            revoked_at=moment,
            retired_at=entry.published.retired_at or moment,
        )
        issuer = entry.published.issuer
        if self._current.get(issuer) == key_id:
            del self._current[issuer]
        return entry.published

    # --- signing -------------------------------------------------------------------------

    def signer_for(self, issuer: str) -> Signer:
        """The department's current signer; :class:`~govsvc.errors.UnknownKey` if none."""
        issuer = _credit(issuer)
        key_id = self._current.get(issuer)
        if key_id is None:
            has = [
                e.published.key_id for e in self._entries.values() if e.published.issuer == issuer
            ]
            detail = f"its keys {', '.join(has)} are retired" if has else "it has no key"
            raise UnknownKey(
                f"department {issuer} has no current signing key ({detail}); load one with "
                f"KeyRing.load_pem(...) or rotate to a new key"
            )
        return _RingSigner(self, key_id)

    def sign(self, key_id: str, data: bytes) -> bytes:
        """Sign with key ``key_id``; :class:`~govsvc.errors.KeyRetired` once it is retired."""
        entry = self._entry(key_id)
        now = self._clock()
        state = entry.published.state_at(now)
        if state is not KeyState.ACTIVE:
            when = entry.published.revoked_at or entry.published.retired_at
            raise KeyRetired(
                f"key {key_id} of department {entry.published.issuer} is {state.value}"
                + (f" since {when.isoformat()}" if when and state is not KeyState.PENDING else "")
                + "; it signs nothing. Sign with the department's current key "
                "(KeyRing.signer_for) instead."
            )
        if entry.signer is None:
            raise KeyRetired(f"key {key_id} is held for verification only (no private key)")
        return entry.signer.sign(data)

    # --- publishing and resolving --------------------------------------------------------

    def key(self, key_id: str) -> PublishedKey:
        return self._entry(key_id).published

    def keys(self, issuer: str | None = None) -> tuple[PublishedKey, ...]:
        code = None if issuer is None else _credit(issuer)
        return tuple(
            e.published for e in self._entries.values() if code in (None, e.published.issuer)
        )

    def jwks(self, issuer: str | None = None) -> dict[str, list[dict[str, str]]]:
        """The published key set ``{"keys": [...]}``: public keys only, retired ones included
        (they verify older documents), revoked ones left out."""
        return {"keys": [k.jwk() for k in self.keys(issuer) if k.revoked_at is None]}

    def resolve(self, issuer: str, key_id: str, *, online: bool = True) -> KeyLookup:
        """A :data:`~govsvc.ecert.KeyResolver`: the ring knows its keys live."""
        entry = self._entries.get(key_id)
        if entry is not None and entry.published.issuer == issuer:
            return KeyLookup.found(entry.published)
        known = any(e.published.issuer == issuer for e in self._entries.values())
        return KeyLookup.unknown_key() if known else KeyLookup.unknown_issuer()

    __call__ = resolve


@attrs.frozen
class PublishedKeySets:
    """A key resolver over fetched key sets (``jwks()`` documents), e.g. a verifier's cache.

    ``sets`` maps an issuer's credit code to ``(jwks document, fetched_at)``. It answers
    from what it holds whether online or not; the platform's own resolver refreshes.
    """

    keys: Mapping[str, tuple[tuple[PublishedKey, ...], dt.datetime]]

    @classmethod
    def of(cls, sets: Mapping[str, tuple[Mapping[str, Any], dt.datetime]]) -> PublishedKeySets:
        keys: dict[str, tuple[tuple[PublishedKey, ...], dt.datetime]] = {}
        for issuer, (document, fetched_at) in sets.items():
            entries = document.get("keys") if isinstance(document, Mapping) else None
            if not isinstance(entries, list):
                raise InvalidInput(f'the key set of {issuer} is not a {{"keys": [...]}} document')
            keys[_credit(issuer)] = (
                tuple(PublishedKey.from_jwk(jwk, issuer=issuer) for jwk in entries),
                fetched_at,
            )
        return cls(keys)

    def __call__(self, issuer: str, key_id: str, *, online: bool = True) -> KeyLookup:
        held = self.keys.get(issuer)
        if held is None:
            return KeyLookup.unknown_issuer()
        keys, fetched_at = held
        for key in keys:
            if key.key_id == key_id:
                return KeyLookup.found(key, fetched_at=fetched_at)
        return KeyLookup.unknown_key(fetched_at=fetched_at)
