"""Signing keys from configuration: a key file names each department's keys by path.

Private keys live in files (or an HSM/KMS, see :meth:`KeyRing.add_remote`), never in the
database. A key configuration is a JSON document::

    {
      "format": "govsvc.ecert-keys/1",
      "issuers": {
        "11230100013114525L": [
          {"key_id": "samr-2025", "pem": "samr-2025.pem", "retired_at": "2026-01-01T00:00:00Z"},
          {"key_id": "samr-2026", "pem": "samr-2026.pem", "password_env": "SAMR_KEY_PASSWORD"}
        ],
        "11230100MB1935270B": [{"key_id": "health-1", "jwk": "health-1.jwk.json"}]
      }
    }

Paths are relative to the configuration file. Each department's last key without
``retired_at`` is its current key; the earlier ones are retired (they keep verifying what
they signed before). ``pem`` is a PKCS#8 PEM private key (Ed25519 or SM2, recognised from
the file); ``jwk`` a private JWK (``OKP``/``Ed25519`` or ``EC``/``SM2`` with ``d``).
``activated_at`` (ISO 8601 with a zone) defaults to "always".
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
from cryptography.hazmat.primitives.asymmetric import ed25519

from govsvc.errors import InvalidInput

from ._jose import b64url_decode
from ._signing import EDDSA, SM2SM3, Ed25519Signer, KeyRing, Signer, SM2Signer

__all__ = [
    "KEYS_FORMAT",
    "DepartmentSigner",
    "load_key_config",
    "signer_from_jwk",
    "write_demo_keys",
]

KEYS_FORMAT: Final = "govsvc.ecert-keys/1"
"""The ``format`` value a key configuration file declares."""


_ALWAYS = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class DepartmentSigner:
    """A signing key of an issuing department, as a ``govsvc_signers`` hook returns it.

    ``signer`` is any :class:`govsvc.ecert.Signer` (a key loaded from a PEM/JWK file, an
    HSM/KMS :class:`~govsvc.ecert.RemoteSigner`); ``current=False`` adds a key that only
    verifies (retired at ``retired_at``).
    """

    issuer: str
    signer: Signer
    activated_at: dt.datetime | None = None
    retired_at: dt.datetime | None = None

    def add_to(self, ring: KeyRing) -> None:
        ring.add(
            self.issuer,
            self.signer,
            activated_at=self.activated_at,
            current=self.retired_at is None,
        )
        if self.retired_at is not None:
            ring.retire(self.signer.key_id, at=self.retired_at)


def signer_from_jwk(jwk: Mapping[str, Any], key_id: str | None = None) -> Signer:
    """A signer from a private JWK (Ed25519 ``OKP`` or SM2 ``EC`` with its ``d`` member)."""
    d = jwk.get("d")
    if not isinstance(d, str):
        raise InvalidInput("the JWK has no private part (d); give the private key, not the public")
    try:
        private = b64url_decode(d)
    except ValueError:
        raise InvalidInput("the JWK's d member is not base64url") from None
    kid = key_id or (jwk.get("kid") if isinstance(jwk.get("kid"), str) else None)
    if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
        if len(private) != 32:
            raise InvalidInput(f"an Ed25519 private key is 32 bytes, got {len(private)}")
        return Ed25519Signer(ed25519.Ed25519PrivateKey.from_private_bytes(private), kid)
    if jwk.get("kty") == "EC" and jwk.get("crv") == "SM2":
        return SM2Signer.from_private_value(private, kid)
    raise InvalidInput(
        f"unsupported JWK (kty {jwk.get('kty')!r}, crv {jwk.get('crv')!r}); use OKP/Ed25519 "
        "or EC/SM2"
    )


def _moment(value: object, where: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    raise InvalidInput(f"{where} must be an ISO 8601 time with a zone (…Z), got {value!r}")


def _signer_of(entry: Mapping[str, Any], base: Path, where: str) -> Signer:
    key_id = entry.get("key_id")
    if key_id is not None and (not isinstance(key_id, str) or not key_id.strip()):
        raise InvalidInput(f"{where}: key_id must be non-empty text")
    password: bytes | None = None
    env = entry.get("password_env")
    if env is not None:
        secret = os.environ.get(str(env))
        if secret is None:
            raise InvalidInput(f"{where}: the key's password is read from ${env}, which is not set")
        password = secret.encode("utf-8")
    if ("pem" in entry) == ("jwk" in entry):
        raise InvalidInput(f"{where}: give exactly one of pem (a PEM file) or jwk (a JWK file)")
    file = base / str(entry.get("pem") or entry.get("jwk"))
    try:
        content = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"{where}: cannot read the private key file {file}: {exc.strerror or exc}"
        ) from None
    if "pem" in entry:
        try:
            return Ed25519Signer.from_pem(content, key_id, password=password)
        except InvalidInput as as_ed25519:
            try:
                return SM2Signer.from_pem(content, key_id, password=password)
            except InvalidInput as as_sm2:
                raise InvalidInput(
                    f"{where}: {file} holds neither an Ed25519 nor an SM2 private key "
                    f"({as_ed25519}; {as_sm2})"
                ) from None
    try:
        jwk = json.loads(content)
    except ValueError:
        raise InvalidInput(f"{where}: {file} is not a JSON web key") from None
    if not isinstance(jwk, dict):
        raise InvalidInput(f"{where}: {file} is not a JSON web key")
    try:
        return signer_from_jwk(jwk, key_id)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None


def load_key_config(
    path: str | os.PathLike[str],
    *,
    ring: KeyRing | None = None,
    clock: Callable[[], dt.datetime] = _utcnow,
) -> KeyRing:
    """The key ring a key configuration file describes (see the module docstring); with
    ``ring``, its keys are added to that ring. Errors name the file, department and key."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the key configuration {file}: {exc.strerror or exc}"
        ) from None
    except ValueError as exc:
        raise InvalidInput(f"the key configuration {file} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != KEYS_FORMAT:
        raise InvalidInput(f'{file}: expected an object with "format": "{KEYS_FORMAT}"')
    issuers = data.get("issuers")
    if not isinstance(issuers, dict) or not issuers:
        raise InvalidInput(f'{file}: "issuers" must map credit codes to lists of keys')
    keys = ring if ring is not None else KeyRing(clock=clock)
    for issuer, entries in issuers.items():
        if not isinstance(entries, list) or not entries:
            raise InvalidInput(f"{file}: issuer {issuer} needs a list of keys")
        for n, entry in enumerate(entries):
            where = f"{file}: issuer {issuer}, key {n + 1}"
            if not isinstance(entry, dict):
                raise InvalidInput(f"{where} must be an object")
            signer = _signer_of(entry, file.parent, where)
            activated = _moment(entry.get("activated_at"), f"{where}: activated_at")
            retired = _moment(entry.get("retired_at"), f"{where}: retired_at")
            # Without activated_at a configured key counts as active from the start of time.
            since = activated or _ALWAYS
            keys.add(issuer, signer, activated_at=since, current=retired is None)
            if retired is not None:
                keys.retire(signer.key_id, at=retired)
    return keys


def write_demo_keys(
    directory: str | os.PathLike[str],
    issuers: Iterable[str],
    *,
    algorithms: Mapping[str, str] | None = None,
) -> Path:
    """Generate one key per department into ``directory`` (PEM files, mode 0600) and write
    their configuration ``keys.json``; existing files are kept. Returns the configuration's
    path. For demonstrations and development: production keys come from the agency's CA."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "keys.json"
    if config.exists():
        return config
    chosen = algorithms or {}
    entries: dict[str, list[dict[str, str]]] = {}
    for issuer in issuers:
        algorithm = chosen.get(issuer, EDDSA)
        signer: Ed25519Signer | SM2Signer
        if algorithm == SM2SM3:
            signer = SM2Signer.generate(f"{issuer}-sm2-1")
        elif algorithm == EDDSA:
            signer = Ed25519Signer.generate(f"{issuer}-1")
        else:
            raise InvalidInput(f"algorithm {algorithm!r} is not supported; use {EDDSA} or {SM2SM3}")
        pem = folder / f"{signer.key_id}.pem"
        pem.write_bytes(signer.private_pem())
        pem.chmod(0o600)
        entries[issuer] = [{"key_id": signer.key_id, "pem": pem.name}]
    config.write_text(
        json.dumps({"format": KEYS_FORMAT, "issuers": entries}, indent=2), encoding="utf-8"
    )
    return config
