"""Verification: every failure gives a precise reason, never an exception, never "valid"."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govsvc.ecert import (
    SM2SM3,
    Certificate,
    CertificateType,
    CheckName,
    Ed25519Signer,
    FetchedStatusList,
    KeyLookup,
    KeyRing,
    Outcome,
    PublishedKeySets,
    Reason,
    StatusList,
    StatusOutcome,
    StatusPurpose,
    VerificationResult,
    canonical_json,
    credential_document,
    issue_credential,
    offline_payload,
    online_payload,
    sign_credential,
    status_list_credential,
    verify,
)
from govsvc.ecert._jose import b64url_encode

from .conftest import (
    HALL,
    HEALTH,
    ISSUED_AT,
    SAMR,
    URLS,
    Clock,
    StatusService,
    food_licence,
)

NOW = ISSUED_AT + dt.timedelta(days=1)


def run(document: str | bytes, ring: Any, status: Any, **kw: Any) -> VerificationResult:
    kw.setdefault("now", NOW)
    return verify(document, keys=ring, status=status, **kw)


def reasons(result: VerificationResult) -> dict[CheckName, Reason]:
    return {c.name: c.reason for c in result.checks}


def assert_refused(result: VerificationResult, name: CheckName, reason: Reason) -> None:
    assert not result.valid, result.summary
    assert reasons(result)[name] is reason, [(c.name.value, c.reason.value, c.detail) for c in result.checks]
    assert result.reason.reason is reason
    assert result.label == f"核验未通过：{reason.label}"


def resign(jws: str, ring: KeyRing, change: Any, *, issuer: str = SAMR.credit_code,
           at: dt.datetime = ISSUED_AT) -> str:
    """The credential's document changed by ``change(doc)`` and signed again by ``issuer``."""
    payload = json.loads(base64.urlsafe_b64decode(jws.split(".")[1] + "=="))
    payload.pop("iat")
    change(payload)
    return sign_credential(payload, ring.signer_for(issuer), at=at)


def test_a_good_certificate_is_valid(ring: KeyRing, status: StatusService, licence: Certificate,
                                     licence_jws: str) -> None:
    result = run(licence_jws, ring, status)
    assert result.valid and result.status is StatusOutcome.VALID
    assert [c.name for c in result.checks] == [
        CheckName.FORMAT, CheckName.SIGNATURE, CheckName.ISSUER, CheckName.VALIDITY, CheckName.STATUS
    ]
    assert all(c.outcome is Outcome.PASSED for c in result.checks)
    assert result.certificate_id == str(licence.id)
    assert result.credential is not None and result.credential["ecert"]["number"] == licence.number
    assert result.label == "核验通过" and result.summary.startswith("valid:")
    assert result.key_age is None and result.status_age is None and result.online
    assert len(status.calls) == 2  # revocation and suspension lists


def test_bytes_are_accepted(ring: KeyRing, status: StatusService, licence_jws: str) -> None:
    assert run(licence_jws.encode(), ring, status).valid


@pytest.mark.parametrize("part", [0, 1, 2])
def test_one_changed_byte_anywhere_is_caught(ring: KeyRing, status: StatusService,
                                             licence_jws: str, part: int) -> None:
    parts = licence_jws.split(".")
    raw = bytearray(base64.urlsafe_b64decode(parts[part] + "=" * (-len(parts[part]) % 4)))
    for position in (0, len(raw) // 2, len(raw) - 1):
        changed = bytearray(raw)
        changed[position] ^= 0x01
        tampered = list(parts)
        tampered[part] = b64url_encode(bytes(changed))
        result = run(".".join(tampered), ring, status)
        assert not result.valid, (part, position)
        assert result.reason.reason in (Reason.SIGNATURE_INVALID, Reason.MALFORMED_JWS,
                                        Reason.NOT_A_CREDENTIAL, Reason.UNSUPPORTED_ALGORITHM)
        if result.reason.reason is not Reason.SIGNATURE_INVALID:
            assert part in (0, 1)  # a byte changed in JSON may break the JSON itself
        assert result.credential is None


def test_changed_text_character_in_the_signature_is_caught(ring: KeyRing, status: StatusService,
                                                           licence_jws: str) -> None:
    # The last base64url character carries unused bits; changing them must not verify either.
    last = licence_jws[-1]
    for replacement in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh":
        if replacement != last:
            assert not run(licence_jws[:-1] + replacement, ring, status).valid


def test_a_document_re_signed_by_another_department_is_refused(ring: KeyRing, status: StatusService,
                                                              licence_jws: str) -> None:
    def as_hall(doc: dict[str, Any]) -> None:
        doc["issuer"] = {"id": URLS.issuer(HALL.credit_code), "name": HALL.name}
    forged = resign(licence_jws, ring, as_hall, issuer=HALL.credit_code)
    assert_refused(run(forged, ring, status), CheckName.ISSUER, Reason.ISSUER_MISMATCH)


def test_unknown_issuer_and_unknown_key(ring: KeyRing, status: StatusService, licence: Certificate,
                                        food_type: CertificateType) -> None:
    stranger = Ed25519Signer.generate("samr-2026a")  # right kid, wrong key
    forged = issue_credential(licence, stranger, URLS, at=ISSUED_AT)
    assert_refused(run(forged, ring, status), CheckName.SIGNATURE, Reason.SIGNATURE_INVALID)
    unknown_kid = issue_credential(licence, Ed25519Signer.generate("samr-9"), URLS, at=ISSUED_AT)
    result = run(unknown_kid, ring, status)
    assert_refused(result, CheckName.ISSUER, Reason.KEY_UNKNOWN)
    assert reasons(result)[CheckName.SIGNATURE] is Reason.NOT_CHECKED
    other_ring = KeyRing()
    other_ring.generate(HEALTH.credit_code)
    assert_refused(run(unknown_kid, other_ring, status), CheckName.ISSUER, Reason.ISSUER_UNKNOWN)


def test_retired_key_verifies_what_it_signed_before_retirement(
    ring: KeyRing, status: StatusService, licence: Certificate, clock: Clock
) -> None:
    before = issue_credential(licence, ring.signer_for(SAMR.credit_code), URLS, at=ISSUED_AT)
    retired = ISSUED_AT + dt.timedelta(hours=2)
    ring.rotate(SAMR.credit_code, Ed25519Signer.generate("samr-2026b"), at=retired)
    clock.moment = retired + dt.timedelta(minutes=1)
    result = run(before, ring, status)
    assert result.valid and reasons(result)[CheckName.ISSUER] is Reason.KEY_RETIRED_AFTER_SIGNING
    # A document carrying a signing time after the retirement: only a stolen key makes one.
    after = sign_credential(
        credential_document(licence, URLS), ring._entries["samr-2026a"].signer, at=retired
    )
    assert_refused(run(after, ring, status), CheckName.ISSUER, Reason.KEY_RETIRED)
    renewed = resign(before, ring, lambda d: None, at=clock.moment)
    assert run(renewed, ring, status).valid  # signed by the new key


def test_retired_key_without_signing_time_is_refused(ring: KeyRing, status: StatusService,
                                                     licence: Certificate) -> None:
    signer = ring._entries["samr-2026a"].signer
    header = {"alg": "EdDSA", "kid": "samr-2026a", "typ": "vc+jwt", "cty": "vc"}
    signing_input = f"{b64url_encode(canonical_json(header))}.{b64url_encode(canonical_json(credential_document(licence, URLS)))}"
    undated = f"{signing_input}.{b64url_encode(signer.sign(signing_input.encode()))}"
    assert run(undated, ring, status).valid  # a current key: fine without iat
    ring.retire("samr-2026a", at=ISSUED_AT)
    result = run(undated, ring, status)
    assert_refused(result, CheckName.ISSUER, Reason.KEY_RETIRED)
    assert "no signing time" in result.reason.detail


def test_revoked_key_verifies_nothing(ring: KeyRing, status: StatusService, licence_jws: str) -> None:
    ring.revoke("samr-2026a", at=NOW - dt.timedelta(hours=1))
    result = run(licence_jws, ring, status)
    assert_refused(result, CheckName.ISSUER, Reason.KEY_REVOKED)


def test_signing_time_in_the_future_or_before_activation(ring: KeyRing, status: StatusService,
                                                         licence: Certificate) -> None:
    future = issue_credential(licence, ring.signer_for(SAMR.credit_code), URLS, at=NOW + dt.timedelta(hours=1))
    assert_refused(run(future, ring, status), CheckName.ISSUER, Reason.SIGNED_IN_FUTURE)
    early = issue_credential(licence, ring.signer_for(SAMR.credit_code), URLS, at=ISSUED_AT - dt.timedelta(days=60))
    assert_refused(run(early, ring, status), CheckName.ISSUER, Reason.KEY_NOT_YET_ACTIVE)


def test_validity_period(ring: KeyRing, status: StatusService, licence_jws: str, licence: Certificate) -> None:
    after_end = dt.datetime(2031, 3, 1, 16, 0, 1, tzinfo=dt.UTC)  # 00:00:01 on 2 March in China
    assert run(licence_jws, ring, status, now=after_end - dt.timedelta(seconds=2)).check(CheckName.VALIDITY).passed
    result = run(licence_jws, ring, status, now=after_end)
    assert_refused(result, CheckName.VALIDITY, Reason.EXPIRED)
    future = attrs.evolve(licence, valid_from=dt.date(2026, 4, 1))
    jws = issue_credential(future, ring.signer_for(SAMR.credit_code), URLS, at=ISSUED_AT)
    assert_refused(run(jws, ring, status), CheckName.VALIDITY, Reason.NOT_YET_VALID)


def test_suspended_and_revoked_certificates(ring: KeyRing, status: StatusService,
                                            licence: Certificate, licence_jws: str) -> None:
    status.set(SAMR, StatusPurpose.SUSPENSION, licence.status_index)
    result = run(licence_jws, ring, status)
    assert_refused(result, CheckName.STATUS, Reason.SUSPENDED)
    assert result.status is StatusOutcome.SUSPENDED
    status.set(SAMR, StatusPurpose.SUSPENSION, licence.status_index, False)
    assert run(licence_jws, ring, status).valid  # resumed
    status.set(SAMR, StatusPurpose.REVOCATION, licence.status_index)
    result = run(licence_jws, ring, status)
    assert_refused(result, CheckName.STATUS, Reason.REVOKED)
    assert result.status is StatusOutcome.REVOKED


def test_revocation_wins_even_if_the_suspension_list_is_unavailable(
    ring: KeyRing, status: StatusService, licence: Certificate, licence_jws: str
) -> None:
    status.set(SAMR, StatusPurpose.REVOCATION, licence.status_index)
    del status.signed[status.url(SAMR.credit_code, StatusPurpose.SUSPENSION)]
    assert_refused(run(licence_jws, ring, status), CheckName.STATUS, Reason.REVOKED)


def test_unavailable_status_is_unknown_and_never_valid(ring: KeyRing, status: StatusService,
                                                       licence_jws: str) -> None:
    result = run(licence_jws, ring, lambda url, online: None)
    assert_refused(result, CheckName.STATUS, Reason.STATUS_UNAVAILABLE)
    assert result.status is StatusOutcome.UNKNOWN
    assert result.check(CheckName.STATUS).outcome is Outcome.UNKNOWN

    def broken(url: str, *, online: bool) -> FetchedStatusList:
        raise TimeoutError("status endpoint timed out after 5 s")
    result = run(licence_jws, ring, broken)
    assert_refused(result, CheckName.STATUS, Reason.STATUS_UNAVAILABLE)
    assert "timed out" in result.reason.detail
    del status.signed[status.url(SAMR.credit_code, StatusPurpose.SUSPENSION)]
    assert_refused(run(licence_jws, ring, status), CheckName.STATUS, Reason.STATUS_UNAVAILABLE)
    result = run(licence_jws, ring, lambda url, online: "not a fetched list")
    assert_refused(result, CheckName.STATUS, Reason.STATUS_UNAVAILABLE)


def test_status_list_must_be_the_issuers_own_and_intact(
    ring: KeyRing, status: StatusService, licence: Certificate, licence_jws: str
) -> None:
    url = status.url(SAMR.credit_code, StatusPurpose.REVOCATION)
    status.set(SAMR, StatusPurpose.REVOCATION, licence.status_index)
    good = status.signed[url]
    # Another department's list served at this URL.
    hall_list = status.signed[status.url(HALL.credit_code, StatusPurpose.REVOCATION)]
    status.signed[url] = hall_list
    result = run(licence_jws, ring, status)
    assert_refused(result, CheckName.STATUS, Reason.STATUS_LIST_INVALID)
    # A tampered list: the revocation bit cleared by someone in the middle.
    header, payload, signature = good.credential.split(".")
    doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    doc["credentialSubject"]["encodedList"] = StatusList.empty(StatusPurpose.REVOCATION).encode()
    status.signed[url] = FetchedStatusList(f"{header}.{b64url_encode(canonical_json(doc))}.{signature}")
    assert_refused(run(licence_jws, ring, status), CheckName.STATUS, Reason.STATUS_LIST_INVALID)
    # The suspension list served as the revocation list.
    status.signed[url] = status.signed[status.url(SAMR.credit_code, StatusPurpose.SUSPENSION)]
    result = run(licence_jws, ring, status)
    assert_refused(result, CheckName.STATUS, Reason.STATUS_LIST_INVALID)
    status.signed[url] = FetchedStatusList("garbage")
    assert_refused(run(licence_jws, ring, status), CheckName.STATUS, Reason.STATUS_LIST_INVALID)


def test_status_list_signed_by_a_revoked_key_is_not_trusted(
    ring: KeyRing, status: StatusService, licence_jws: str
) -> None:
    assert run(licence_jws, ring, status).valid  # the lists are now cached as verified
    ring.rotate(SAMR.credit_code, Ed25519Signer.generate("samr-2026b"), at=ISSUED_AT)
    ring.revoke("samr-2026a", at=ISSUED_AT)
    result = run(licence_jws, ring, status)
    assert not result.valid  # the certificate's key and the lists' key are both revoked
    fresh = resign(licence_jws, ring, lambda d: None)
    assert_refused(run(fresh, ring, status), CheckName.STATUS, Reason.STATUS_LIST_INVALID)


def test_index_outside_the_list_and_missing_entries(ring: KeyRing, status: StatusService,
                                                    licence_jws: str) -> None:
    def far_index(doc: dict[str, Any]) -> None:
        for entry in doc["credentialStatus"]:
            entry["statusListIndex"] = "999999999"
    assert_refused(run(resign(licence_jws, ring, far_index), ring, status),
                   CheckName.STATUS, Reason.STATUS_LIST_INVALID)

    def no_status(doc: dict[str, Any]) -> None:
        del doc["credentialStatus"]
    assert_refused(run(resign(licence_jws, ring, no_status), ring, status),
                   CheckName.STATUS, Reason.STATUS_MISSING)

    def suspension_only(doc: dict[str, Any]) -> None:
        doc["credentialStatus"] = doc["credentialStatus"][1:]
    assert_refused(run(resign(licence_jws, ring, suspension_only), ring, status),
                   CheckName.STATUS, Reason.STATUS_MISSING)

    def bad_index(doc: dict[str, Any]) -> None:
        doc["credentialStatus"][0]["statusListIndex"] = 12
    assert_refused(run(resign(licence_jws, ring, bad_index), ring, status),
                   CheckName.STATUS, Reason.STATUS_LIST_INVALID)


def test_offline_mode_reports_how_old_the_cache_is(ring: KeyRing, status: StatusService,
                                                   licence_jws: str) -> None:
    fetched = NOW - dt.timedelta(hours=5)
    keys = PublishedKeySets.of({SAMR.credit_code: (ring.jwks(SAMR.credit_code), fetched)})
    cached = {url: attrs.evolve(item, fetched_at=fetched) for url, item in status.signed.items()}
    result = verify(licence_jws, keys=keys, status=lambda url, online: cached.get(url),
                    online=False, now=NOW)
    assert result.valid and not result.online
    assert result.key_age == result.status_age == dt.timedelta(hours=5)
    assert "cached 5.0 h ago" in result.check(CheckName.ISSUER).detail
    assert "cached 5.0 h ago" in result.check(CheckName.STATUS).detail
    stale = {url: attrs.evolve(item, fetched_at=NOW - dt.timedelta(days=3)) for url, item in status.signed.items()}
    result = verify(licence_jws, keys=keys, status=lambda url, online: stale.get(url),
                    online=False, now=NOW)
    assert_refused(result, CheckName.STATUS, Reason.STATUS_STALE)
    assert "cached 3.0 days ago" in result.reason.detail
    relaxed = verify(licence_jws, keys=keys, status=lambda url, online: stale.get(url),
                     online=False, now=NOW, max_status_age=dt.timedelta(days=7))
    assert relaxed.valid


def test_status_list_past_its_own_validity_is_stale(ring: KeyRing, status: StatusService,
                                                    licence_jws: str) -> None:
    url = status.url(SAMR.credit_code, StatusPurpose.REVOCATION)
    _, payload, _ = status.signed[url].credential.split(".")
    doc = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    doc.pop("iat")
    doc["validUntil"] = "2026-03-02T12:00:00Z"
    status.signed[url] = FetchedStatusList(sign_credential(doc, ring.signer_for(SAMR.credit_code), at=ISSUED_AT))
    assert_refused(run(licence_jws, ring, status), CheckName.STATUS, Reason.STATUS_STALE)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("", Reason.NOT_RECOGNISED),
        ("hello", Reason.NOT_RECOGNISED),
        ("WIFI:S:cafe;T:WPA;P:secret;;", Reason.NOT_RECOGNISED),  # another system's QR code
        ("https://u.wechat.com/abc", Reason.NOT_RECOGNISED),
        ("https://zwfw.harbin.gov.cn/ecert/v/1.2.156.3005.2.bad", Reason.NOT_RECOGNISED),
        ("EC1:%%%%", Reason.MALFORMED_QR),
        ("EC1:" + "A" * 30, Reason.MALFORMED_QR),
        ("eyJhbGciOiJFZERTQSJ9.e30", Reason.NOT_RECOGNISED),
        ("eyJ.eyJ.sig", Reason.MALFORMED_JWS),
        ("eyJub3QganNvbg.e30.AA", Reason.MALFORMED_JWS),
        (b"\xff\xfe", Reason.NOT_RECOGNISED),
    ],
)
def test_malformed_input_gives_a_reason(ring: KeyRing, status: StatusService, document: Any,
                                        reason: Reason) -> None:
    result = run(document, ring, status)
    assert_refused(result, CheckName.FORMAT, reason)
    assert [c.reason for c in result.checks[1:]] == [Reason.NOT_CHECKED] * 4


def jws_of(header: dict[str, Any], payload: Any) -> str:
    return f"{b64url_encode(canonical_json(header))}.{b64url_encode(canonical_json(payload))}.{b64url_encode(b'x' * 64)}"


def test_headers_and_payloads_that_are_not_ours(ring: KeyRing, status: StatusService,
                                                licence: Certificate) -> None:
    doc = credential_document(licence, URLS)
    good = {"alg": "EdDSA", "kid": "samr-2026a", "typ": "vc+jwt"}
    cases = [
        ({**good, "alg": "none"}, doc, Reason.UNSUPPORTED_ALGORITHM),
        ({**good, "alg": "HS256"}, doc, Reason.UNSUPPORTED_ALGORITHM),
        ({**good, "alg": ["EdDSA"]}, doc, Reason.UNSUPPORTED_ALGORITHM),
        ({**good, "crit": ["exp"]}, doc, Reason.UNSUPPORTED_ALGORITHM),
        ({**good, "typ": "JWT"}, doc, Reason.NOT_A_CREDENTIAL),
        ({**good, "kid": 7}, doc, Reason.NOT_A_CREDENTIAL),
        (good, ["not", "an", "object"], Reason.NOT_A_CREDENTIAL),
        (good, {**doc, "@context": ["https://www.w3.org/2018/credentials/v1"]}, Reason.NOT_A_CREDENTIAL),
        (good, {**doc, "issuer": {"id": "https://elsewhere.example/issuers/ACME"}}, Reason.NOT_A_CREDENTIAL),
    ]
    for header, payload, reason in cases:
        assert_refused(run(jws_of(header, payload), ring, status), CheckName.FORMAT, reason)


def test_signed_but_not_an_ecert(ring: KeyRing, status: StatusService, licence_jws: str) -> None:
    def no_meta(doc: dict[str, Any]) -> None:
        del doc["ecert"]
    result = run(resign(licence_jws, ring, no_meta), ring, status)
    assert_refused(result, CheckName.FORMAT, Reason.NOT_A_CREDENTIAL)

    def bad_dates(doc: dict[str, Any]) -> None:
        doc["validFrom"] = "soon"
    assert_refused(run(resign(licence_jws, ring, bad_dates), ring, status),
                   CheckName.VALIDITY, Reason.NOT_A_CREDENTIAL)


def test_online_qr_payload_fetches_the_current_credential(
    ring: KeyRing, status: StatusService, licence: Certificate, licence_jws: str
) -> None:
    payload = online_payload(licence.id, URLS)
    result = run(payload, ring, status, documents={licence.id: licence_jws}.get)
    assert result.valid and result.certificate_id == str(licence.id)
    assert_refused(run(payload, ring, status), CheckName.FORMAT, Reason.ONLINE_LOOKUP_UNAVAILABLE)
    assert_refused(run(payload, ring, status, documents={}.get), CheckName.FORMAT, Reason.NOT_FOUND)
    offline = run(payload, ring, status, documents={licence.id: licence_jws}.get, online=False)
    assert_refused(offline, CheckName.FORMAT, Reason.ONLINE_LOOKUP_UNAVAILABLE)

    def down(cid: object) -> str:
        raise ConnectionError("platform unreachable")
    assert_refused(run(payload, ring, status, documents=down), CheckName.FORMAT,
                   Reason.ONLINE_LOOKUP_UNAVAILABLE)


def test_online_lookup_answering_with_another_certificate_is_refused(
    ring: KeyRing, status: StatusService, licence: Certificate, food_type: CertificateType
) -> None:
    other = food_licence(food_type, serial="JY99999999999999", index=77)
    other_jws = issue_credential(other, ring.signer_for(SAMR.credit_code), URLS, at=ISSUED_AT)
    result = run(online_payload(licence.id, URLS), ring, status, documents=lambda cid: other_jws)
    assert_refused(result, CheckName.FORMAT, Reason.NOT_A_CREDENTIAL)


def test_offline_qr_payload_verifies_without_the_platform(ring: KeyRing, status: StatusService,
                                                         licence_jws: str) -> None:
    result = run(offline_payload(licence_jws), ring, status)
    assert result.valid


def test_sm2_certificates_verify_end_to_end(clock: Clock, food_type: CertificateType) -> None:
    ring = KeyRing(clock=clock)
    ring.generate(SAMR.credit_code, SM2SM3, key_id="samr-sm2", activated_at=ISSUED_AT - dt.timedelta(days=1))
    service = StatusService(ring)
    for purpose in StatusPurpose:
        service.publish(SAMR, purpose, StatusList.empty(purpose))
    licence = food_licence(food_type)
    jws = issue_credential(licence, ring.signer_for(SAMR.credit_code), URLS, at=ISSUED_AT)
    assert json.loads(base64.urlsafe_b64decode(jws.split(".")[0] + "=="))["alg"] == "SM2SM3"
    result = run(jws, ring, service)
    assert result.valid, result.summary
    assert "SM2SM3" in result.check(CheckName.ISSUER).detail
    header, payload, signature = jws.split(".")
    assert not run(f"{header}.{payload}.{signature[:-2]}AA", ring, service).valid


def test_algorithm_must_match_the_key(ring: KeyRing, status: StatusService, licence: Certificate) -> None:
    ring.add(SAMR.credit_code, _Liar(Ed25519Signer.generate("liar")), current=True)
    jws = issue_credential(licence, ring.signer_for(SAMR.credit_code), URLS, at=ISSUED_AT)
    assert_refused(run(jws, ring, status), CheckName.SIGNATURE, Reason.SIGNATURE_INVALID)


class _Liar:
    """An Ed25519 signer that claims SM2 in the header."""

    def __init__(self, inner: Ed25519Signer) -> None:
        self.inner = inner
        self.key_id = inner.key_id

    algorithm = SM2SM3

    def sign(self, data: bytes) -> bytes:
        return self.inner.sign(data)

    def public_jwk(self) -> dict[str, str]:
        return self.inner.public_jwk()

    def verifier(self) -> Any:
        return self.inner.verifier()


def test_resolvers_that_fail_or_answer_nonsense(status: StatusService, licence_jws: str) -> None:
    def boom(issuer: str, kid: str, *, online: bool) -> KeyLookup:
        raise RuntimeError("key service down")
    result = verify(licence_jws, keys=boom, status=status, now=NOW)
    assert_refused(result, CheckName.ISSUER, Reason.KEYS_UNAVAILABLE)
    assert result.check(CheckName.ISSUER).outcome is Outcome.UNKNOWN
    nonsense = verify(licence_jws, keys=lambda i, k, online: {"kid": k}, status=status, now=NOW)
    assert_refused(nonsense, CheckName.ISSUER, Reason.KEYS_UNAVAILABLE)


def test_an_unexpected_error_is_a_result_not_an_exception(licence_jws: str) -> None:
    class Weird:
        def __call__(self, *args: Any, **kw: Any) -> Any:
            raise SystemError("bug")
    result = verify(licence_jws, keys=Weird(), status=Weird(), now=NOW)
    assert not result.valid and result.reason.reason is Reason.KEYS_UNAVAILABLE
    result = verify(licence_jws, keys=Weird(), status=Weird(), now="tomorrow")  # type: ignore[arg-type]
    assert not result.valid and result.reason.reason is Reason.VERIFICATION_ERROR


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300),
                 st.from_regex(r"eyJ[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,90}"),
                 st.from_regex(r"EC1:[0-9A-Z $%*+\-./:]{0,80}")))
@settings(max_examples=300, deadline=None)
def test_garbage_never_raises_and_is_never_valid(document: Any) -> None:
    ring = KeyRing()
    ring.generate(SAMR.credit_code, key_id="samr-2026a")
    result = verify(document, keys=ring, status=lambda url, online: None, now=NOW)
    assert not result.valid
    assert result.reason.reason.outcome is not Outcome.PASSED


def test_every_reason_has_text_and_a_chinese_label() -> None:
    for reason in Reason:
        assert reason.text.endswith(".") and reason.text[0].isupper(), reason
        assert reason.label and not reason.label.isascii(), reason
        assert isinstance(reason.outcome, Outcome)
    assert len({r.label for r in Reason}) == len(Reason)


def test_a_cached_status_list_is_rechecked_when_its_key_changes(
    ring: KeyRing, status: StatusService, licence_jws: str
) -> None:
    lists_key = Ed25519Signer.generate("samr-lists")
    ring.add(SAMR.credit_code, lists_key, activated_at=ISSUED_AT - dt.timedelta(days=1), current=False)
    for purpose in StatusPurpose:
        url = status.url(SAMR.credit_code, purpose)
        document = status_list_credential(
            StatusList.empty(purpose), url=url, issuer_id=URLS.issuer(SAMR.credit_code),
            issuer_name=SAMR.name, valid_from=ISSUED_AT,
        )
        status.signed[url] = FetchedStatusList(sign_credential(document, lists_key, at=ISSUED_AT))
    assert run(licence_jws, ring, status).valid  # lists verified with samr-lists, now cached
    # A key set in which the kid samr-lists names another key: the cached verdict must not
    # be reused, and the lists do not verify with that key.
    published = ring.jwks(SAMR.credit_code)["keys"]
    swapped = [k if k["kid"] != "samr-lists" else {**Ed25519Signer.generate().public_jwk(),
                                                   "kid": "samr-lists"} for k in published]
    keys = PublishedKeySets.of({SAMR.credit_code: ({"keys": swapped}, NOW)})
    assert_refused(run(licence_jws, keys, status), CheckName.STATUS, Reason.STATUS_LIST_INVALID)
