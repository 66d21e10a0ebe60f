"""Signing backends (Ed25519, SM2/SM3), interoperability, key rings and remote signers."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gmssl_pyx
import pytest
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from govsvc.ecert import (
    EDDSA,
    SM2_USER_ID,
    SM2SM3,
    Ed25519Signer,
    Ed25519Verifier,
    KeyRetired,
    KeyRing,
    KeyState,
    PublishedKey,
    PublishedKeySets,
    RemoteSigner,
    SigningError,
    SM2Signer,
    SM2Verifier,
    UnknownKey,
    verifier_from_jwk,
)
from govsvc.errors import InvalidInput

from .conftest import HALL, ISSUED_AT, SAMR, Clock

MESSAGE = b"eyJhbGciOiJTTTJTTTMifQ.eyLmlofnibmjp-iusOaWhyJ9"


def der_to_raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_to_der(raw: bytes) -> bytes:
    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


@pytest.mark.parametrize("signer_class", [Ed25519Signer, SM2Signer])
def test_sign_and_verify(signer_class: type[Ed25519Signer] | type[SM2Signer]) -> None:
    signer = signer_class.generate("k1")
    signature = signer.sign(MESSAGE)
    assert len(signature) == 64
    verifier = verifier_from_jwk(signer.public_jwk())
    assert verifier.verify(signature, MESSAGE)
    assert not verifier.verify(signature, MESSAGE + b"x")
    assert not verifier.verify(signature[:-1] + bytes([signature[-1] ^ 1]), MESSAGE)
    assert not verifier.verify(b"junk", MESSAGE)
    assert signer.key_id == "k1" and verifier.algorithm == signer.algorithm


def test_jwk_shapes() -> None:
    ed = Ed25519Signer.generate().public_jwk()
    assert set(ed) == {"kty", "crv", "x"} and (ed["kty"], ed["crv"]) == ("OKP", "Ed25519")
    sm2 = SM2Signer.generate().public_jwk()
    assert set(sm2) == {"kty", "crv", "x", "y"} and (sm2["kty"], sm2["crv"]) == ("EC", "SM2")
    assert EDDSA == "EdDSA" and SM2SM3 == "SM2SM3" and SM2_USER_ID == b"1234567812345678"
    with pytest.raises(InvalidInput, match="unsupported key type 'RSA'"):
        verifier_from_jwk({"kty": "RSA", "n": "x", "e": "AQAB"})
    with pytest.raises(InvalidInput, match="SM2 JWK has no valid point"):
        SM2Verifier.from_jwk({"kty": "EC", "crv": "SM2", "x": "AA", "y": "AA"})


def test_sm2_signatures_made_with_tongsuopy_verify_with_gmssl_pyx() -> None:
    signer = SM2Signer.generate()
    public = signer.verifier().raw_public_key()
    for _ in range(20):
        signature = signer.sign(MESSAGE)
        # gmssl_pyx takes DER and uses the default signer id 1234567812345678 (GB/T 32918).
        assert gmssl_pyx.sm2_verify(public, MESSAGE, raw_to_der(signature), SM2_USER_ID)
        assert not gmssl_pyx.sm2_verify(public, MESSAGE, raw_to_der(signature), b"another id")


def test_sm2_signatures_made_with_gmssl_pyx_verify_with_tongsuopy() -> None:
    public, private = gmssl_pyx.sm2_key_generate()
    verifier = SM2Verifier.from_raw(public)
    for _ in range(20):
        der = gmssl_pyx.sm2_sign(private, public, MESSAGE, SM2_USER_ID)
        assert verifier.verify(der_to_raw(der), MESSAGE)
        assert not verifier.verify(der_to_raw(der), MESSAGE[:-1])
    # The same private key loaded into the tongsuopy signer gives the same public key.
    signer = SM2Signer.from_private_value(private)
    assert signer.verifier().raw_public_key() == public
    assert gmssl_pyx.sm2_verify(public, MESSAGE, raw_to_der(signer.sign(MESSAGE)))


def test_pem_files_load_and_the_algorithm_is_recognised(tmp_path: Path, clock: Clock) -> None:
    ed, sm2 = Ed25519Signer.generate(), SM2Signer.generate()
    (tmp_path / "ed.pem").write_bytes(ed.private_pem(password=b"secret"))
    (tmp_path / "sm2.pem").write_bytes(sm2.private_pem())
    (tmp_path / "junk.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    ring = KeyRing(clock=clock)
    a = ring.load_pem(SAMR.credit_code, tmp_path / "ed.pem", key_id="samr-ed", password=b"secret")
    b = ring.load_pem(HALL.credit_code, tmp_path / "sm2.pem", key_id="hall-sm2")
    assert (a.algorithm, b.algorithm) == (EDDSA, SM2SM3)
    assert a.verifier.public_jwk() == ed.public_jwk() and b.verifier.public_jwk() == sm2.public_jwk()
    signature = ring.signer_for(HALL.credit_code).sign(MESSAGE)
    assert sm2.verifier().verify(signature, MESSAGE)
    with pytest.raises(InvalidInput, match="neither an Ed25519 nor an SM2 private key"):
        ring.load_pem(SAMR.credit_code, tmp_path / "junk.pem")
    with pytest.raises(InvalidInput, match="cannot read the private key file"):
        ring.load_pem(SAMR.credit_code, tmp_path / "missing.pem")
    with pytest.raises(InvalidInput, match="Ed25519 PEM"):
        Ed25519Signer.from_pem(ed.private_pem(password=b"secret"), password=b"wrong")


def test_rotation_retires_the_old_key_which_keeps_verifying_but_signs_nothing(clock: Clock) -> None:
    ring = KeyRing(clock=clock)
    old = ring.generate(SAMR.credit_code, EDDSA, key_id="old", activated_at=ISSUED_AT - dt.timedelta(days=1))
    kept = ring.signer_for(SAMR.credit_code)
    signature = kept.sign(MESSAGE)
    rotation = ISSUED_AT + dt.timedelta(hours=1)
    new = ring.rotate(SAMR.credit_code, SM2Signer.generate("new"), at=rotation)
    assert ring.key("old").retired_at == rotation and new.algorithm == SM2SM3
    clock.moment = rotation + dt.timedelta(minutes=1)
    with pytest.raises(KeyRetired, match="key old of department 11230100013114525L is retired since"):
        kept.sign(MESSAGE)  # a signer kept from before the rotation cannot sign
    with pytest.raises(KeyRetired, match="signer_for"):
        ring.sign("old", MESSAGE)
    assert ring.signer_for(SAMR.credit_code).key_id == "new"
    assert ring.key("old").verifier.verify(signature, MESSAGE)
    assert old.state_at(ISSUED_AT) is KeyState.ACTIVE
    assert ring.key("old").state_at(clock.moment) is KeyState.RETIRED
    assert [k["kid"] for k in ring.jwks(SAMR.credit_code)["keys"]] == ["old", "new"]


def test_revoked_keys_leave_the_published_set(clock: Clock) -> None:
    ring = KeyRing(clock=clock)
    ring.generate(SAMR.credit_code, key_id="k1")
    ring.revoke("k1", at=ISSUED_AT)
    assert ring.jwks(SAMR.credit_code) == {"keys": []}
    assert ring.key("k1").state_at(ISSUED_AT) is KeyState.REVOKED
    with pytest.raises(UnknownKey, match="no current signing key \\(its keys k1 are retired\\)"):
        ring.signer_for(SAMR.credit_code)
    with pytest.raises(UnknownKey, match="it has no key"):
        ring.signer_for(HALL.credit_code)
    with pytest.raises(UnknownKey, match="no key 'nope'"):
        ring.retire("nope")


def test_published_key_set_holds_public_keys_only_and_reads_back(ring: KeyRing) -> None:
    ring.retire("hall-2026a", at=ISSUED_AT)
    published = ring.jwks()
    text = json.dumps(published)
    assert '"d"' not in text
    for jwk in published["keys"]:
        assert set(jwk) <= {"kty", "crv", "x", "y", "kid", "alg", "use", "retired_at"}
        assert jwk["use"] == "sig"
    sets = PublishedKeySets.of({
        SAMR.credit_code: (ring.jwks(SAMR.credit_code), ISSUED_AT),
        HALL.credit_code: (ring.jwks(HALL.credit_code), ISSUED_AT),
    })
    found = sets(HALL.credit_code, "hall-2026a", online=False)
    assert found.key is not None and found.key.retired_at == ISSUED_AT and found.fetched_at == ISSUED_AT
    assert sets(SAMR.credit_code, "nope", online=False).issuer_known
    assert not sets("91230103MA1BX4K238", "samr-2026a", online=False).issuer_known
    with pytest.raises(InvalidInput, match="private key members"):
        PublishedKey.from_jwk({**published["keys"][0], "d": "secret"}, issuer=SAMR.credit_code)


def test_key_ring_resolves_by_issuer_and_key_id(ring: KeyRing) -> None:
    assert ring.resolve(SAMR.credit_code, "samr-2026a").key is not None
    assert ring.resolve(HALL.credit_code, "samr-2026a").key is None  # another department's kid
    assert ring.resolve(SAMR.credit_code, "x").issuer_known
    assert not ring.resolve("91230103MA1BX4K238", "x").issuer_known
    with pytest.raises(InvalidInput, match="already in the key ring"):
        ring.add(SAMR.credit_code, Ed25519Signer.generate("samr-2026a"))


class FakeHsm:
    """A test double of an HSM: keeps SM2 keys by slot label, signs with them."""

    def __init__(self) -> None:
        self.keys = {"slot-1": SM2Signer.generate()}
        self.calls: list[str] = []
        self.mode = "ok"

    def sign(self, key_ref: str, data: bytes) -> bytes:
        self.calls.append(key_ref)
        if self.mode == "down":
            raise ConnectionError("HSM at 10.0.0.5:1792 refused the connection")
        signature = self.keys[key_ref].sign(data)
        return raw_to_der(signature) if self.mode == "der" else signature

    def public_jwk(self, key_ref: str) -> Mapping[str, Any]:
        return self.keys[key_ref].public_jwk()


def test_remote_signer_signs_through_the_hsm_and_checks_what_it_returns(clock: Clock) -> None:
    hsm = FakeHsm()
    ring = KeyRing(clock=clock)
    ring.add_remote(SAMR.credit_code, hsm, key_ref="slot-1", key_id="samr-hsm")
    signer = ring.signer_for(SAMR.credit_code)
    signature = signer.sign(MESSAGE)
    assert hsm.calls == ["slot-1"] and signer.algorithm == SM2SM3
    assert ring.key("samr-hsm").verifier.verify(signature, MESSAGE)
    hsm.mode = "der"
    with pytest.raises(SigningError, match="not DER"):
        signer.sign(MESSAGE)
    hsm.mode = "down"
    with pytest.raises(SigningError, match="refused the connection; nothing was issued"):
        signer.sign(MESSAGE)
    with pytest.raises(SigningError, match="could not give the public key"):
        RemoteSigner(hsm, key_ref="slot-9")


def test_ed25519_verifier_from_jwk_round_trip() -> None:
    signer = Ed25519Signer.generate()
    verifier = Ed25519Verifier.from_jwk(signer.public_jwk())
    assert verifier.verify(signer.sign(MESSAGE), MESSAGE)
    with pytest.raises(InvalidInput, match="not an Ed25519 JWK"):
        Ed25519Verifier.from_jwk({"kty": "EC", "crv": "SM2"})
