"""Shared copies (加注件): purpose, expiry, signature, and the original's status."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from govsvc.ecert import (
    CheckName,
    KeyRing,
    Reason,
    StatusOutcome,
    StatusPurpose,
    issue_shared_copy,
    shared_copy_document,
    verify,
)
from govsvc.errors import InvalidInput

from .conftest import HALL, ISSUED_AT, SAMR, URLS, StatusService
from .test_verify import NOW, assert_refused

PURPOSE = "办理食品经营许可（新办）"
EXPIRES = ISSUED_AT + dt.timedelta(days=30)


def share(ring: KeyRing, original: str, **kw: object) -> str:
    args: dict[str, object] = dict(purpose=PURPOSE, expires=EXPIRES, shared_by=HALL, at=ISSUED_AT,
                                   recipient="哈尔滨市市场监督管理局")
    args.update(kw)
    return issue_shared_copy(original, ring.signer_for(HALL.credit_code), URLS, **args)  # type: ignore[arg-type]


def test_shared_copy_verifies_and_shows_its_purpose(ring: KeyRing, status: StatusService,
                                                    licence_jws: str) -> None:
    copy = share(ring, licence_jws)
    result = verify(copy, keys=ring, status=status, now=NOW)
    assert result.valid, result.summary
    assert result.shared_copy is not None
    assert result.shared_copy.purpose == PURPOSE
    assert result.shared_copy.recipient == "哈尔滨市市场监督管理局"
    assert result.shared_copy.shared_by == HALL.name
    assert result.shared_copy.expires == EXPIRES
    assert [c.name for c in result.checks] == [
        CheckName.FORMAT, CheckName.SIGNATURE, CheckName.ISSUER, CheckName.VALIDITY,
        CheckName.ORIGINAL, CheckName.STATUS,
    ]
    assert result.check(CheckName.VALIDITY).reason is Reason.SHARED_COPY_VALID
    assert PURPOSE in result.check(CheckName.VALIDITY).detail
    assert result.original is not None and result.original.valid
    assert result.certificate_id == result.original.certificate_id
    assert result.status is StatusOutcome.VALID


def test_document_carries_the_original_enveloped(licence_jws: str) -> None:
    doc = shared_copy_document(licence_jws, purpose=PURPOSE, expires=EXPIRES, shared_by=HALL,
                               urls=URLS, at=ISSUED_AT)
    assert doc["type"] == ["VerifiableCredential", "SharedCertificateCopy"]
    assert doc["name"] == "食品经营许可证（加注件）"
    assert doc["validUntil"] == "2026-04-01T01:00:00Z"
    original = doc["credentialSubject"]["original"]
    assert original["type"] == "EnvelopedVerifiableCredential"
    assert original["id"] == f"data:application/vc+jwt,{licence_jws}"
    assert doc["id"].startswith("urn:uuid:")


def test_expired_copy_is_refused(ring: KeyRing, status: StatusService, licence_jws: str) -> None:
    result = verify(share(ring, licence_jws), keys=ring, status=status, now=EXPIRES + dt.timedelta(seconds=1))
    assert_refused(result, CheckName.VALIDITY, Reason.SHARED_COPY_EXPIRED)


def test_copy_of_a_revoked_certificate_is_refused(ring: KeyRing, status: StatusService,
                                                  licence_jws: str) -> None:
    copy = share(ring, licence_jws)
    status.set(SAMR, StatusPurpose.REVOCATION, 4242)
    result = verify(copy, keys=ring, status=status, now=NOW)
    assert_refused(result, CheckName.ORIGINAL, Reason.ORIGINAL_INVALID)
    assert result.status is StatusOutcome.REVOKED
    assert result.check(CheckName.STATUS).reason is Reason.REVOKED
    assert "revoked or cancelled" in result.check(CheckName.ORIGINAL).detail


def test_tampered_copy_or_original(ring: KeyRing, status: StatusService, licence_jws: str) -> None:
    copy = share(ring, licence_jws)
    header, payload, signature = copy.split(".")
    doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    doc["credentialSubject"]["purpose"] = "任意用途"
    forged = base64.urlsafe_b64encode(json.dumps(doc, ensure_ascii=False).encode()).rstrip(b"=").decode()
    assert_refused(verify(f"{header}.{forged}.{signature}", keys=ring, status=status, now=NOW),
                   CheckName.SIGNATURE, Reason.SIGNATURE_INVALID)
    h, p, s = licence_jws.split(".")
    broken_original = f"{h}.{p}.{s[:-3]}AAA"
    result = verify(share(ring, broken_original), keys=ring, status=status, now=NOW)
    assert_refused(result, CheckName.ORIGINAL, Reason.ORIGINAL_INVALID)


def test_a_copy_of_a_copy_is_refused(ring: KeyRing, status: StatusService, licence_jws: str) -> None:
    double = share(ring, share(ring, licence_jws))
    result = verify(double, keys=ring, status=status, now=NOW)
    assert_refused(result, CheckName.ORIGINAL, Reason.ORIGINAL_INVALID)


def test_sharing_rules(licence_jws: str) -> None:
    def document(**kw: object) -> object:
        args: dict[str, object] = dict(purpose=PURPOSE, expires=EXPIRES, shared_by=HALL, urls=URLS, at=ISSUED_AT)
        args.update(kw)
        return shared_copy_document(licence_jws, **args)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="用证事由"):
        document(purpose=" ")
    with pytest.raises(InvalidInput, match="before it is made"):
        document(expires=ISSUED_AT)
    with pytest.raises(InvalidInput, match="at most 366 days"):
        document(expires=ISSUED_AT + dt.timedelta(days=400))
    with pytest.raises(InvalidInput, match="not a signed credential"):
        shared_copy_document("nope", purpose=PURPOSE, expires=EXPIRES, shared_by=HALL, urls=URLS, at=ISSUED_AT)
