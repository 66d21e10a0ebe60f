"""The provider's signing key: generated at start for the demo, or read from a PEM file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from govsvc_host.idp._directory import DirectoryError

__all__ = ["SigningKey"]

_ALGORITHMS = {"RS256": "RSA", "ES256": "EC"}


@attrs.frozen
class SigningKey:
    """A private key and the JWS algorithm it signs ID and access tokens with.

    ``kid`` is the key's RFC 7638 thumbprint, so a relying party that caches the JWKS finds
    a rotated key by its id.
    """

    key: RSAKey | ECKey
    alg: str

    @classmethod
    def generate(cls, alg: str = "RS256") -> SigningKey:
        """A fresh key: RSA 2048 for ``RS256`` (every OIDC client supports it) or P-256."""
        if alg == "RS256":
            rsa = RSAKey.generate_key(2048, auto_kid=True)
            return cls(rsa, alg)
        if alg == "ES256":
            return cls(ECKey.generate_key("P-256", auto_kid=True), alg)
        raise DirectoryError(f"unsupported signing algorithm {alg!r}; use RS256 or ES256")

    @classmethod
    def from_pem(cls, path: str | Path) -> SigningKey:
        """Load a PKCS#8 or traditional PEM private key (RSA → RS256, P-256 → ES256)."""
        data = Path(path).read_bytes()
        try:
            return cls(RSAKey.import_key(data, parameters={"use": "sig"}), "RS256")
        except (ValueError, TypeError, JoseError):
            pass
        try:
            ec = ECKey.import_key(data, parameters={"use": "sig"})
        except (ValueError, TypeError, JoseError):
            raise DirectoryError(
                f"{path} holds no RSA or EC private key in PEM form; make one with "
                "`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`"
            ) from None
        if ec.curve_name != "P-256":
            raise DirectoryError(f"{path}: EC keys must use curve P-256 (ES256)")
        return cls(ec, "ES256")

    def __attrs_post_init__(self) -> None:
        if self.key.is_private is False:
            raise DirectoryError("the signing key must be a private key, not a public one")
        if _ALGORITHMS.get(self.alg) != self.key.key_type:
            raise DirectoryError(f"a {self.key.key_type} key cannot sign {self.alg}")

    @property
    def kid(self) -> str:
        return self.key.kid or self.key.thumbprint()

    @property
    def header(self) -> dict[str, str]:
        """The JOSE header of an ID token (``alg`` and ``kid``)."""
        return {"alg": self.alg, "kid": self.kid}

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS document the provider publishes (public part only)."""
        public = self.key.as_dict(private=False)
        public.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        return {"keys": [public]}

    def public_key_set(self) -> KeySet:
        return KeySet.import_key_set(self.public_jwks())  # type: ignore[arg-type]
