"""Certificates as W3C Verifiable Credentials 2.0, secured as compact JWS (VC-JOSE-COSE).

:func:`credential_document` maps a :class:`~govsvc.ecert.Certificate` to a VC document;
:func:`sign_credential` signs any document as ``header.payload.signature`` with the
protected header ``{"alg", "kid", "typ": "vc+jwt", "cty": "vc"}``. The payload is the
document plus the JWT claim ``iat`` (signing time, seconds since 1970) in canonical JSON
(keys sorted, UTF-8, no spaces). ``iat`` lets a verifier tell whether a retired key signed
before or after its retirement; it is a payload claim, not a header parameter, because
strict JOSE libraries (joserfc) refuse header parameters they do not know.

Where things live is the deployment's choice, named by :class:`EcertUrls` from one base URL:
issuers ``{base}/issuers/{credit code}`` (their key set at ``…/jwks.json``), credentials
``{base}/certificates/{identifier}``, status lists
``{base}/status/{issuer credit code}/{list number}/{revocation|suspension}`` and the page a
scanned QR code opens, ``{base}/v/{identifier}``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

import attrs

from govsvc.errors import InvalidInput

from ._certificate import CHINA, Certificate
from ._identifier import CertificateId
from ._jose import CompactJws, canonical_json
from ._signing import Signer
from ._status import StatusPurpose
from ._types import RESERVED_FIELD_KEYS

__all__ = [
    "CREDENTIALS_V2",
    "JWS_CTY",
    "JWS_TYP",
    "EcertUrls",
    "credential_document",
    "issue_credential",
    "sign_credential",
]

CREDENTIALS_V2: Final = "https://www.w3.org/ns/credentials/v2"
JWS_TYP: Final = "vc+jwt"
JWS_CTY: Final = "vc"


def _base(value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise InvalidInput(
            f"the e-certificate base URL must be an http(s) URL such as "
            f"https://zwfw.harbin.gov.cn/ecert, got {value!r}"
        )
    return value.rstrip("/")


@attrs.frozen
class EcertUrls:
    """Where the platform publishes issuers, credentials, status lists and the verify page."""

    base: str = attrs.field(converter=_base)

    def issuer(self, credit_code: str) -> str:
        """The issuer's ``id`` in credentials."""
        return f"{self.base}/issuers/{credit_code}"

    def jwks(self, credit_code: str) -> str:
        """Where the issuer's public key set is published."""
        return f"{self.issuer(credit_code)}/jwks.json"

    def credential(self, certificate_id: CertificateId | str) -> str:
        """The credential's ``id``: where its current signed form can be fetched."""
        return f"{self.base}/certificates/{certificate_id}"

    def status_list(self, issuer: str, number: int, purpose: StatusPurpose) -> str:
        """The URL of one of the issuer's status list credentials."""
        return f"{self.base}/status/{issuer}/{number}/{purpose.value}"

    def verification(self, certificate_id: CertificateId | str) -> str:
        """The page a scanned QR code opens: shows the verification result."""
        return f"{self.base}/v/{certificate_id}"


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _day_start(day: dt.date) -> str:
    # Certificate dates are days in China: valid from 00:00 and until 23:59:59 China time.
    return dt.datetime(day.year, day.month, day.day, tzinfo=CHINA).isoformat()


def _day_end(day: dt.date) -> str:
    return dt.datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=CHINA).isoformat()


def credential_document(certificate: Certificate, urls: EcertUrls) -> dict[str, Any]:
    """The certificate as an unsigned W3C VC 2.0 document.

    ``credentialSubject`` holds the holder (name, code, code type) and the face fields;
    ``ecert`` holds the GB/T 36903 metadata (identifier, type, printed number, issue date,
    defining agency, jurisdiction, predecessor). Two ``BitstringStatusListEntry`` entries
    point at the issuer's revocation and suspension lists.
    """
    if certificate.status_index is None:
        raise InvalidInput(
            f"certificate {certificate.id} has no status list index; allocate one "
            f"(allocate_index) before issuing its credential: a credential without a status "
            f"entry could never be revoked"
        )
    cid = certificate.id
    clash = RESERVED_FIELD_KEYS.intersection(certificate.face)
    if clash:
        raise InvalidInput(f"face fields {sorted(clash)} clash with the holder's properties")
    subject: dict[str, Any] = {
        "holderName": certificate.holder_name,
        "holderCodeType": certificate.holder.doc_type.value,
        "holderCode": certificate.holder.number,
    }
    subject.update(certificate.face)  # already in JSON form (CertificateType.check_face)
    issuer = certificate.issuer.credit_code
    statuses = []
    for purpose in (StatusPurpose.REVOCATION, StatusPurpose.SUSPENSION):
        list_url = urls.status_list(issuer, certificate.status_list, purpose)
        # No entry "id": it is optional, and every byte here is decoded at each verification.
        statuses.append(
            {
                "type": "BitstringStatusListEntry",
                "statusPurpose": purpose.value,
                "statusListIndex": str(certificate.status_index),
                "statusListCredential": list_url,
            }
        )
    meta: dict[str, Any] = {
        "identifier": str(cid),
        "typeCode": certificate.type_code,
        "typeName": certificate.type_name,
        "number": certificate.number,
        "issueDate": certificate.issued_on.isoformat(),
        "definingAgency": {
            "name": certificate.defining_agency.name,
            "creditCode": certificate.defining_agency.credit_code,
        },
        "jurisdiction": certificate.division,
    }
    if certificate.predecessor is not None:
        meta["predecessor"] = str(certificate.predecessor)
    document: dict[str, Any] = {
        "@context": [CREDENTIALS_V2],
        "id": urls.credential(cid),
        "type": ["VerifiableCredential", certificate.vc_type],
        "name": certificate.name,
        "issuer": {"id": urls.issuer(issuer), "name": certificate.issuer.name},
        "validFrom": _day_start(certificate.valid_from),
        "credentialSubject": subject,
        "credentialStatus": statuses,
        "ecert": meta,
    }
    if certificate.valid_until is not None:
        document["validUntil"] = _day_end(certificate.valid_until)
    return document


def sign_credential(document: Mapping[str, Any], signer: Signer, *, at: dt.datetime) -> str:
    """The document secured as a compact JWS (``typ`` ``vc+jwt``) signed by ``signer``."""
    if at.tzinfo is None:
        raise InvalidInput("give the signing time as an aware datetime")
    if "iat" in document:
        raise InvalidInput("the document already has an iat claim; sign the unsigned document")
    header = {"alg": signer.algorithm, "kid": signer.key_id, "typ": JWS_TYP, "cty": JWS_CTY}
    payload = canonical_json({**document, "iat": int(at.timestamp())})
    return CompactJws.encode(header, payload, signer.sign)


def issue_credential(
    certificate: Certificate, signer: Signer, urls: EcertUrls, *, at: dt.datetime
) -> str:
    """The certificate signed as a credential (:func:`credential_document`, then signed)."""
    return sign_credential(credential_document(certificate, urls), signer, at=at)
