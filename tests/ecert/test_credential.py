"""The W3C VC 2.0 document and its compact JWS, verified with an independent JOSE library."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc import jws as jose_jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from govsvc.ecert import (
    CREDENTIALS_V2,
    Certificate,
    KeyRing,
    canonical_json,
    credential_document,
    issue_credential,
)
from govsvc.errors import InvalidInput

from .conftest import ISSUED_AT, SAMR, URLS


def decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_document_shape(licence: Certificate) -> None:
    doc = credential_document(licence, URLS)
    assert doc["@context"] == [CREDENTIALS_V2]
    assert doc["id"] == f"https://zwfw.harbin.gov.cn/ecert/certificates/{licence.id}"
    assert doc["type"] == ["VerifiableCredential", "FoodBusinessLicence"]
    assert doc["name"] == "食品经营许可证"
    assert doc["issuer"] == {
        "id": "https://zwfw.harbin.gov.cn/ecert/issuers/11230100013114525L",
        "name": "哈尔滨市市场监督管理局",
    }
    assert doc["validFrom"] == "2026-03-02T00:00:00+08:00"
    assert doc["validUntil"] == "2031-03-01T23:59:59+08:00"
    subject = doc["credentialSubject"]
    assert (subject["holderCodeType"], subject["holderCode"], subject["holderName"]) == (
        "001", "91230103MA1BX4K238", "哈尔滨市冰城饺子馆有限公司"
    )
    assert subject["premises"] == "黑龙江省哈尔滨市南岗区红军街15号"
    base = "https://zwfw.harbin.gov.cn/ecert/status/11230100013114525L/0"
    assert doc["credentialStatus"] == [
        {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "4242",
            "statusListCredential": f"{base}/revocation",
        },
        {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "suspension",
            "statusListIndex": "4242",
            "statusListCredential": f"{base}/suspension",
        },
    ]
    meta = doc["ecert"]
    assert meta["identifier"] == str(licence.id) and meta["number"] == "JY22301030012345"
    assert meta["definingAgency"]["creditCode"] == "11100000MB0143028R"
    assert meta["jurisdiction"] == "230103" and meta["issueDate"] == "2026-03-02"


def test_jws_header_and_canonical_payload(licence: Certificate, licence_jws: str) -> None:
    header_part, payload_part, signature_part = licence_jws.split(".")
    header = json.loads(decode(header_part))
    assert header == {"alg": "EdDSA", "kid": "samr-2026a", "typ": "vc+jwt", "cty": "vc"}
    payload = decode(payload_part)
    expected = {**credential_document(licence, URLS), "iat": int(ISSUED_AT.timestamp())}
    assert payload == canonical_json(expected)
    assert b": " not in payload and "哈尔滨".encode() in payload  # compact, UTF-8 unescaped
    assert len(decode(signature_part)) == 64


def test_canonical_json_sorts_keys_and_refuses_floats() -> None:
    assert canonical_json({"b": 1, "a": ["中", {"d": 2, "c": 3}]}) == '{"a":["中",{"c":3,"d":2}],"b":1}'.encode()
    with pytest.raises(TypeError, match="floats are not allowed"):
        canonical_json({"weight": 3.25})


# joserfc flags "EdDSA" as deprecated by RFC 9864 (which names it "Ed25519"); govsvc signs
# with "EdDSA" because most verifiers in the field know only that name.
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning")


def test_joserfc_verifies_the_credential_against_the_published_key_set(
    ring: KeyRing, licence_jws: str
) -> None:
    key_set = KeySet.import_key_set(ring.jwks(SAMR.credit_code))  # public keys only
    verified = jose_jws.deserialize_compact(licence_jws, key_set, algorithms=["EdDSA"])
    assert verified.protected["kid"] == "samr-2026a"
    assert verified.protected["typ"] == "vc+jwt"
    assert json.loads(verified.payload)["ecert"]["number"] == "JY22301030012345"


def test_joserfc_refuses_a_tampered_credential(ring: KeyRing, licence_jws: str) -> None:
    key_set = KeySet.import_key_set(ring.jwks(SAMR.credit_code))
    header, payload, signature = licence_jws.split(".")
    doc = json.loads(decode(payload))
    doc["credentialSubject"]["premises"] = "别处"
    forged = base64.urlsafe_b64encode(canonical_json(doc)).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        jose_jws.deserialize_compact(f"{header}.{forged}.{signature}", key_set, algorithms=["EdDSA"])


def test_a_credential_needs_a_status_index(licence: Certificate) -> None:
    import attrs

    with pytest.raises(InvalidInput, match="no status list index"):
        credential_document(attrs.evolve(licence, status_index=None), URLS)


def test_issue_credential_refuses_naive_times(licence: Certificate, ring: KeyRing) -> None:
    with pytest.raises(InvalidInput, match="aware datetime"):
        issue_credential(licence, ring.signer_for(SAMR.credit_code), URLS, at=ISSUED_AT.replace(tzinfo=None))


def test_urls_need_http() -> None:
    from govsvc.ecert import EcertUrls

    with pytest.raises(InvalidInput, match="http\\(s\\) URL"):
        EcertUrls("zwfw.harbin.gov.cn")
    assert EcertUrls("https://a.example/ecert/").jwks(SAMR.credit_code) == (
        "https://a.example/ecert/issuers/11230100013114525L/jwks.json"
    )
