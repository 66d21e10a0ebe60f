"""Verifying a certificate (电子证照核验): signature, issuer key, validity, status.

:func:`verify` takes a compact JWS, a scanned QR payload or a shared copy (加注件) and
returns a frozen :class:`VerificationResult` with one :class:`Check` per question, each with
a :class:`Reason` (plain English and a Chinese label for the UI). It never raises: a
malformed document, an unknown issuer, a resolver that fails — each is a result with a
precise reason, and never "valid".

Rules:

* **Never valid without a status check.** If a status list cannot be fetched, is not
  signed by the certificate's issuer, or is older than ``max_status_age``, the status is
  ``unknown`` and the result is not valid.
* **Retired keys** verify what they signed before their retirement (the payload's
  ``iat`` claim); a document signed at or after the retirement is refused, and so is a
  document from a retired key without ``iat``. A **revoked** (compromised) key verifies
  nothing.
* **Offline** (``online=False``) the resolvers answer from their caches; the result says
  how old the key set and the status lists are (``key_age``, ``status_age``).

Resolvers are plain callables the platform implements (:data:`KeyResolver`,
:data:`StatusListResolver`, :data:`DocumentResolver`); :class:`~govsvc.ecert.KeyRing` and
:class:`~govsvc.ecert.PublishedKeySets` are key resolvers already.
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol

import attrs

from govsvc.errors import InvalidInput

from ._credential import CREDENTIALS_V2, JWS_TYP
from ._identifier import ID_PREFIX, CertificateId, _credit, mod37_36_check
from ._jose import CompactJws, JwsFormatError
from ._qr import OFFLINE_PREFIX, OfflinePayload, OnlinePayload, parse_payload
from ._signing import EDDSA, SM2SM3, KeyLookup, KeyState, PublishedKey
from ._status import StatusList, StatusPurpose

__all__ = [
    "Check",
    "CheckName",
    "DocumentResolver",
    "FetchedStatusList",
    "KeyResolver",
    "Outcome",
    "Reason",
    "SharedCopyInfo",
    "StatusListResolver",
    "StatusOutcome",
    "VerificationResult",
    "verify",
]

SHARED_COPY_TYPE: Final = "SharedCertificateCopy"
# "Ed25519" is RFC 9864's fully specified name for what "EdDSA" means with an Ed25519 key.
_ALGORITHMS = {EDDSA: EDDSA, "Ed25519": EDDSA, SM2SM3: SM2SM3}
_CLOCK_SKEW = dt.timedelta(minutes=5)
_ENVELOPE_PREFIX = "data:application/vc+jwt,"
_ID_HEAD = ID_PREFIX + "."


# --------------------------------------------------------------------------------------------
# Resolver protocols
# --------------------------------------------------------------------------------------------


class KeyResolver(Protocol):
    """Find an issuer's key: ``(issuer credit code, kid, *, online) -> KeyLookup``."""

    def __call__(self, issuer: str, key_id: str, /, *, online: bool) -> KeyLookup: ...


@attrs.frozen
class FetchedStatusList:
    """A status list credential (compact JWS) as fetched, and when (None: just now)."""

    credential: str
    fetched_at: dt.datetime | None = None


class StatusListResolver(Protocol):
    """Fetch a status list credential by URL; None (or an exception) when it cannot."""

    def __call__(self, url: str, /, *, online: bool) -> FetchedStatusList | None: ...


DocumentResolver = Callable[[CertificateId], "str | None"]
"""The current signed credential (compact JWS) of a certificate, for online QR payloads."""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


class CheckName(enum.Enum):
    """The questions a verification answers, in order."""

    FORMAT = "format"
    SIGNATURE = "signature"
    ISSUER = "issuer"
    VALIDITY = "validity"
    ORIGINAL = "original"  # shared copies: the certificate they copy
    STATUS = "status"

    @property
    def label(self) -> str:
        return _CHECK_LABELS[self]


_CHECK_LABELS = {
    CheckName.FORMAT: "数据格式",
    CheckName.SIGNATURE: "电子签名",
    CheckName.ISSUER: "签发机构",
    CheckName.VALIDITY: "有效期",
    CheckName.ORIGINAL: "原证照",
    CheckName.STATUS: "证照状态",
}


class Outcome(enum.Enum):
    """How one check came out."""

    PASSED = "passed"
    FAILED = "failed"
    UNKNOWN = "unknown"  # could not be decided (status list unavailable, keys unavailable)
    SKIPPED = "skipped"  # not checked because an earlier check failed


class Reason(enum.Enum):
    """Why a check came out as it did: a code, plain English and a Chinese label."""

    def __new__(cls, code: str, outcome: Outcome, text: str, label: str) -> Reason:
        member = object.__new__(cls)
        member._value_ = code
        return member

    def __init__(self, code: str, outcome: Outcome, text: str, label: str) -> None:
        self.outcome = outcome
        self.text = text
        self.label = label

    # format
    WELL_FORMED = (
        "well_formed",
        Outcome.PASSED,
        "A W3C verifiable credential secured as a compact JWS.",
        "格式正确",
    )
    NOT_RECOGNISED = (
        "not_recognised",
        Outcome.FAILED,
        "Not a govsvc e-certificate or QR code; it may come from another system.",
        "非本系统电子证照",
    )
    MALFORMED_JWS = (
        "malformed_jws",
        Outcome.FAILED,
        "The document is not a well-formed compact JWS.",
        "数据格式错误",
    )
    MALFORMED_QR = (
        "malformed_qr",
        Outcome.FAILED,
        "The QR code is damaged or incomplete.",
        "二维码已损坏",
    )
    NOT_A_CREDENTIAL = (
        "not_a_credential",
        Outcome.FAILED,
        "The signed content is not an e-certificate credential.",
        "不是电子证照",
    )
    UNSUPPORTED_ALGORITHM = (
        "unsupported_algorithm",
        Outcome.FAILED,
        "The signature algorithm or header is not accepted.",
        "不支持的签名算法",
    )
    ONLINE_LOOKUP_UNAVAILABLE = (
        "online_lookup_unavailable",
        Outcome.UNKNOWN,
        "The QR code carries only the identifier; verifying it needs the platform online.",
        "需联网核验",
    )
    NOT_FOUND = (
        "not_found",
        Outcome.FAILED,
        "The platform has no certificate with this identifier.",
        "证照不存在",
    )
    VERIFICATION_ERROR = (
        "verification_error",
        Outcome.UNKNOWN,
        "Verification could not be completed.",
        "核验出错",
    )
    # signature
    SIGNATURE_VALID = (
        "signature_valid",
        Outcome.PASSED,
        "The signature matches the content.",
        "签名有效",
    )
    SIGNATURE_INVALID = (
        "signature_invalid",
        Outcome.FAILED,
        "The signature does not match: the document was altered or not signed by this key.",
        "签名无效（内容可能被篡改）",
    )
    NOT_CHECKED = (
        "not_checked",
        Outcome.SKIPPED,
        "Not checked because an earlier check failed.",
        "未核验",
    )
    # issuer and key
    KEY_CURRENT = (
        "key_current",
        Outcome.PASSED,
        "Signed by a current key of the issuer.",
        "签发机构密钥有效",
    )
    KEY_RETIRED_AFTER_SIGNING = (
        "key_retired_after_signing",
        Outcome.PASSED,
        "Signed before the issuer retired this key; still valid.",
        "签发时密钥有效（已轮换）",
    )
    KEY_RETIRED = (
        "key_retired",
        Outcome.FAILED,
        "Signed with a key the issuer had already retired.",
        "签名密钥已停用",
    )
    KEY_REVOKED = (
        "key_revoked",
        Outcome.FAILED,
        "The issuer revoked this key (compromised); nothing it signed is trusted.",
        "签名密钥已吊销",
    )
    KEY_NOT_YET_ACTIVE = (
        "key_not_yet_active",
        Outcome.FAILED,
        "Signed before the key was activated.",
        "签名密钥未启用",
    )
    SIGNED_IN_FUTURE = (
        "signed_in_future",
        Outcome.FAILED,
        "The signing time lies in the future.",
        "签名时间异常",
    )
    ISSUER_UNKNOWN = (
        "issuer_unknown",
        Outcome.FAILED,
        "The issuer is not known to this verifier.",
        "签发机构未知",
    )
    KEY_UNKNOWN = (
        "key_unknown",
        Outcome.FAILED,
        "The issuer has no key with this key id.",
        "签名密钥未知",
    )
    ISSUER_MISMATCH = (
        "issuer_mismatch",
        Outcome.FAILED,
        "The issuer does not match the certificate identifier.",
        "签发机构与证照标识不符",
    )
    KEYS_UNAVAILABLE = (
        "keys_unavailable",
        Outcome.UNKNOWN,
        "The issuer's keys could not be fetched.",
        "无法获取签发机构密钥",
    )
    # validity
    WITHIN_VALIDITY = (
        "within_validity",
        Outcome.PASSED,
        "Within its validity period.",
        "在有效期内",
    )
    NOT_YET_VALID = (
        "not_yet_valid",
        Outcome.FAILED,
        "Its validity period has not begun.",
        "尚未生效",
    )
    EXPIRED = ("expired", Outcome.FAILED, "Its validity period has ended.", "已过有效期")
    SHARED_COPY_VALID = (
        "shared_copy_valid",
        Outcome.PASSED,
        "A shared copy within its expiry, for the stated purpose.",
        "加注件在有效期内",
    )
    SHARED_COPY_EXPIRED = (
        "shared_copy_expired",
        Outcome.FAILED,
        "The shared copy has expired; ask the holder to share it again.",
        "加注件已过期",
    )
    # original (shared copies)
    ORIGINAL_VALID = (
        "original_valid",
        Outcome.PASSED,
        "The certificate it copies verifies.",
        "原证照核验通过",
    )
    ORIGINAL_INVALID = (
        "original_invalid",
        Outcome.FAILED,
        "The certificate it copies does not verify.",
        "原证照核验未通过",
    )
    # status
    STATUS_VALID = (
        "status_valid",
        Outcome.PASSED,
        "Neither revoked nor suspended, per the issuer's status lists.",
        "状态正常",
    )
    SUSPENDED = (
        "suspended",
        Outcome.FAILED,
        "The issuer has suspended this certificate.",
        "已暂停",
    )
    REVOKED = (
        "revoked",
        Outcome.FAILED,
        "The issuer has revoked or cancelled this certificate (or re-issued it).",
        "已吊销或注销",
    )
    STATUS_UNAVAILABLE = (
        "status_unavailable",
        Outcome.UNKNOWN,
        "The status list could not be fetched, so the status is unknown.",
        "无法获取证照状态",
    )
    STATUS_LIST_INVALID = (
        "status_list_invalid",
        Outcome.UNKNOWN,
        "The status list is not valid, so the status is unknown.",
        "证照状态列表无效",
    )
    STATUS_STALE = (
        "status_stale",
        Outcome.UNKNOWN,
        "The cached status list is too old to rely on.",
        "状态信息过旧",
    )
    STATUS_MISSING = (
        "status_missing",
        Outcome.UNKNOWN,
        "The credential has no status entry, so its status cannot be checked.",
        "缺少状态信息",
    )


@attrs.frozen
class Check:
    """One question answered: its outcome, its reason and the specifics (``detail``)."""

    name: CheckName
    reason: Reason
    detail: str = ""

    @property
    def outcome(self) -> Outcome:
        return self.reason.outcome

    @property
    def passed(self) -> bool:
        return self.reason.outcome is Outcome.PASSED

    @property
    def label(self) -> str:
        """The Chinese label for the UI, e.g. ``签名无效（内容可能被篡改）``."""
        return self.reason.label

    @property
    def text(self) -> str:
        """Plain English: the reason, then the specifics."""
        return f"{self.reason.text} {self.detail}".strip()


class StatusOutcome(enum.Enum):
    """A certificate's status as verification found it."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return {"valid": "有效", "suspended": "暂停", "revoked": "吊销/注销", "unknown": "未知"}[
            self.value
        ]


@attrs.frozen(kw_only=True)
class SharedCopyInfo:
    """What a shared copy (加注件) says about its use: purpose (用证事由), expiry, by whom."""

    purpose: str
    recipient: str
    expires: dt.datetime | None
    shared_by: str


@attrs.frozen(kw_only=True)
class VerificationResult:
    """The outcome of :func:`verify`: valid only if every check passed.

    ``credential`` is the verified document, present only when its signature verified (a
    UI must not show the claims of a forged one). ``key_age`` and ``status_age`` say how old
    the cached key set and the oldest status list were (None: fetched live).
    """

    valid: bool
    status: StatusOutcome
    checks: tuple[Check, ...]
    checked_at: dt.datetime
    online: bool
    certificate_id: str | None = None
    credential: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    key_age: dt.timedelta | None = None
    status_age: dt.timedelta | None = None
    shared_copy: SharedCopyInfo | None = None
    original: VerificationResult | None = None

    @property
    def reason(self) -> Check:
        """The deciding check: the first that failed or could not be decided (checks skipped
        because of it do not count), else the last one."""
        for check in self.checks:
            if check.reason.outcome in (Outcome.FAILED, Outcome.UNKNOWN):
                return check
        for check in self.checks:
            if not check.passed:
                return check
        return self.checks[-1]

    @property
    def summary(self) -> str:
        """One line of plain English for logs and screens."""
        verdict = "valid" if self.valid else "NOT valid"
        return f"{verdict}: {self.reason.text}"

    @property
    def label(self) -> str:
        """One Chinese line for the UI, e.g. ``核验通过`` or ``核验未通过：已吊销或注销``."""
        return "核验通过" if self.valid else f"核验未通过：{self.reason.label}"

    def check(self, name: CheckName) -> Check | None:
        for c in self.checks:
            if c.name is name:
                return c
        return None


# --------------------------------------------------------------------------------------------
# The verifier
# --------------------------------------------------------------------------------------------


@attrs.frozen
class _Context:
    keys: KeyResolver
    status: StatusListResolver
    documents: DocumentResolver | None
    online: bool
    now: dt.datetime
    max_status_age: dt.timedelta | None
    # Keys already looked up in this verification: a certificate and its status lists are
    # usually signed by the same key, which then costs one resolver call, not three.
    seen: dict[tuple[str, str], KeyLookup] = attrs.field(factory=dict)

    def key(self, issuer: str, key_id: str) -> object:
        found = self.seen.get((issuer, key_id))
        if found is None:
            answer: object = self.keys(issuer, key_id, online=self.online)
            if not isinstance(answer, KeyLookup):
                return answer
            self.seen[(issuer, key_id)] = found = answer
        return found


class _Failed(Exception):
    """Internal: stop with this check (and skip the rest)."""

    def __init__(self, check: Check) -> None:
        self.check = check


def verify(
    document: str | bytes,
    *,
    keys: KeyResolver,
    status: StatusListResolver,
    online: bool = True,
    now: dt.datetime | None = None,
    documents: DocumentResolver | None = None,
    max_status_age: dt.timedelta | None = dt.timedelta(days=1),
) -> VerificationResult:
    """Verify a certificate credential, a scanned QR payload, or a shared copy (加注件).

    ``keys`` finds issuers' keys, ``status`` fetches status list credentials and
    ``documents`` (needed for online QR payloads, which carry only the identifier) fetches a
    certificate's current credential. ``now`` defaults to the current time. A status list
    older than ``max_status_age`` (None: no limit) leaves the status unknown.
    Never raises; see :class:`VerificationResult`.
    """
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        # A verdict needs a point in time; a naive one could be any time zone's.
        ctx = _Context(keys, status, documents, online, dt.datetime.now(dt.UTC), max_status_age)
        detail = f"now must be an aware datetime, got {now!r}"
        return _result(ctx, [Check(CheckName.FORMAT, Reason.VERIFICATION_ERROR, detail)])
    ctx = _Context(keys, status, documents, online, moment, max_status_age)
    try:
        return _verify_input(document, ctx)
    except Exception as exc:  # the promise: nothing escapes, nothing unexplained is "valid"
        return _result(
            ctx,
            [Check(CheckName.FORMAT, Reason.VERIFICATION_ERROR, f"{type(exc).__name__}: {exc}")],
        )


# JSON gives dicts and lists; the hot path checks for those rather than the slower ABCs.
_CHECK_NAMES = tuple(CheckName)
_ALWAYS = (True, True, True, True, False, True)  # ORIGINAL only for shared copies
_PLAIN = (
    CheckName.FORMAT,
    CheckName.SIGNATURE,
    CheckName.ISSUER,
    CheckName.VALIDITY,
    CheckName.STATUS,
)
_PLAIN_LIST = list(_PLAIN)
_WELL_FORMED = Check(CheckName.FORMAT, Reason.WELL_FORMED)
_SIGNATURE_VALID = Check(CheckName.SIGNATURE, Reason.SIGNATURE_VALID)
_NOT_CHECKED = tuple(Check(name, Reason.NOT_CHECKED) for name in _CHECK_NAMES)


def _result(ctx: _Context, checks: list[Check], **fields: Any) -> VerificationResult:
    if len(checks) == 5 and [c.name for c in checks] == _PLAIN_LIST:
        ordered: tuple[Check, ...] = tuple(checks)  # the usual order: nothing to fill in
        passed = Outcome.PASSED
        return VerificationResult(
            valid=[c.reason.outcome for c in ordered] == [passed] * 5,
            status=fields.pop("status", StatusOutcome.UNKNOWN),
            checks=ordered,
            checked_at=ctx.now,
            online=ctx.online,
            **fields,
        )
    # Identity comparisons, not a dict: an enum member's hash is computed in Python.
    slots = [next((c for c in checks if c.name is name), None) for name in _CHECK_NAMES]
    ordered = tuple(
        c if c is not None else _NOT_CHECKED[n]
        for n, c in enumerate(slots)
        if c is not None or _ALWAYS[n]
    )
    return VerificationResult(
        valid=all(c.reason.outcome is Outcome.PASSED for c in ordered),
        status=fields.pop("status", StatusOutcome.UNKNOWN),
        checks=ordered,
        checked_at=ctx.now,
        online=ctx.online,
        **fields,
    )


def _verify_input(given: str | bytes, ctx: _Context) -> VerificationResult:
    document: object = given  # callers without type checking pass anything
    if isinstance(document, bytes | bytearray):
        try:
            document = bytes(document).decode("utf-8")
        except UnicodeDecodeError:
            return _result(ctx, [Check(CheckName.FORMAT, Reason.NOT_RECOGNISED, "not UTF-8 text")])
    if not isinstance(document, str):
        return _result(
            ctx,
            [
                Check(
                    CheckName.FORMAT,
                    Reason.NOT_RECOGNISED,
                    f"expected text or bytes, got {type(document).__name__}",
                )
            ],
        )
    text = document.strip()
    if text.startswith(OFFLINE_PREFIX) or text[:8].lower().startswith(("https://", "http://")):
        try:
            payload = parse_payload(text)
        except InvalidInput as exc:
            reason = (
                Reason.MALFORMED_QR if text.startswith(OFFLINE_PREFIX) else Reason.NOT_RECOGNISED
            )
            return _result(ctx, [Check(CheckName.FORMAT, reason, str(exc))])
        if isinstance(payload, OfflinePayload):
            return _verify_jws(payload.jws, ctx, depth=0)
        return _verify_online(payload, ctx)
    if text.count(".") == 2:  # a JWS attempt: splitting it says what is wrong, if anything
        return _verify_jws(text, ctx, depth=0)
    return _result(
        ctx,
        [
            Check(
                CheckName.FORMAT,
                Reason.NOT_RECOGNISED,
                "expected a compact JWS (eyJ….….…), a verification URL or an EC1: payload",
            )
        ],
    )


def _verify_online(payload: OnlinePayload, ctx: _Context) -> VerificationResult:
    cid = str(payload.certificate_id)
    if not ctx.online or ctx.documents is None:
        why = "offline mode" if not ctx.online else "no document resolver was given"
        return _result(
            ctx,
            [Check(CheckName.FORMAT, Reason.ONLINE_LOOKUP_UNAVAILABLE, f"{cid} ({why})")],
            certificate_id=cid,
        )
    try:
        jws = ctx.documents(payload.certificate_id)
    except Exception as exc:
        return _result(
            ctx,
            [
                Check(
                    CheckName.FORMAT,
                    Reason.ONLINE_LOOKUP_UNAVAILABLE,
                    f"fetching {cid} failed: {exc}",
                )
            ],
            certificate_id=cid,
        )
    if jws is None:
        return _result(ctx, [Check(CheckName.FORMAT, Reason.NOT_FOUND, cid)], certificate_id=cid)
    result = _verify_jws(jws, ctx, depth=0)
    if result.certificate_id not in (None, cid) and result.credential is not None:
        return attrs.evolve(
            result,
            valid=False,
            checks=tuple(
                Check(
                    CheckName.FORMAT,
                    Reason.NOT_A_CREDENTIAL,
                    f"the platform answered for {cid} with {result.certificate_id}",
                )
                if c.name is CheckName.FORMAT
                else c
                for c in result.checks
            ),
        )
    return result


def _age(ctx: _Context, fetched_at: dt.datetime | None) -> dt.timedelta | None:
    return None if fetched_at is None else max(ctx.now - fetched_at, dt.timedelta(0))


def _describe_age(age: dt.timedelta | None) -> str:
    if age is None:
        return "fetched live"
    hours = age.total_seconds() / 3600
    return f"cached {hours:.1f} h ago" if hours < 48 else f"cached {hours / 24:.1f} days ago"


def _issuer_code(issuer: Any) -> str:
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str):
        raise ValueError("the credential has no issuer id")
    return _credit(issuer_id.rstrip("/").rsplit("/", 1)[-1])


def _parse_time(value: Any, what: str) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError(f"{what} is missing")
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{what} {value!r} has no time zone")
    return moment


@attrs.frozen
class _Verified:
    """A JWS whose signature and key checks passed (or the check that failed)."""

    payload: dict[str, Any]
    issuer: str
    key: PublishedKey
    key_check: Check
    key_age: dt.timedelta | None
    signed_at: dt.datetime | None


def _check_jws(jws: str, ctx: _Context, *, expect_issuer: str | None = None) -> _Verified:
    """Format, signature and key checks shared by certificates, copies and status lists.

    Raises _Failed with the first check that fails; the key's state (retired, revoked,
    activation) is not a failure here but the returned ``key_check``.
    """
    try:
        parts = CompactJws.split(jws)
    except JwsFormatError as exc:
        raise _Failed(Check(CheckName.FORMAT, Reason.MALFORMED_JWS, str(exc))) from None
    header = parts.header
    alg, kid = header.get("alg"), header.get("kid")
    if not isinstance(alg, str) or alg not in _ALGORITHMS:
        raise _Failed(
            Check(
                CheckName.FORMAT,
                Reason.UNSUPPORTED_ALGORITHM,
                f"alg {alg!r}; accepted: {', '.join(sorted(_ALGORITHMS))}",
            )
        )
    if "crit" in header:
        raise _Failed(
            Check(
                CheckName.FORMAT,
                Reason.UNSUPPORTED_ALGORITHM,
                f"critical header parameters {header['crit']!r} are not understood",
            )
        )
    if header.get("typ") != JWS_TYP or not isinstance(kid, str) or not kid:
        raise _Failed(
            Check(
                CheckName.FORMAT,
                Reason.NOT_A_CREDENTIAL,
                f"header typ {header.get('typ')!r} (expected {JWS_TYP!r}) and kid "
                f"{kid!r} (expected a key id)",
            )
        )
    try:
        payload = parts.payload_json()
    except JwsFormatError as exc:
        raise _Failed(Check(CheckName.FORMAT, Reason.MALFORMED_JWS, str(exc))) from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("@context"), list)
        or not payload["@context"]
        or payload["@context"][0] != CREDENTIALS_V2
        or not isinstance(payload.get("type"), list)
        or "VerifiableCredential" not in payload["type"]
    ):
        raise _Failed(
            Check(
                CheckName.FORMAT,
                Reason.NOT_A_CREDENTIAL,
                "the payload is not a W3C VC 2.0 document (@context, type)",
            )
        )
    try:
        issuer = _issuer_code(payload.get("issuer"))
    except (ValueError, InvalidInput) as exc:
        raise _Failed(Check(CheckName.FORMAT, Reason.NOT_A_CREDENTIAL, f"issuer: {exc}")) from None
    if expect_issuer is not None and issuer != expect_issuer:
        raise _Failed(
            Check(
                CheckName.ISSUER,
                Reason.ISSUER_MISMATCH,
                f"signed by {issuer}, expected {expect_issuer}",
            )
        )
    try:
        lookup = ctx.key(issuer, kid)
    except Exception as exc:
        raise _Failed(
            Check(CheckName.ISSUER, Reason.KEYS_UNAVAILABLE, f"{issuer}: {exc}")
        ) from None
    if not isinstance(lookup, KeyLookup):
        raise _Failed(
            Check(
                CheckName.ISSUER,
                Reason.KEYS_UNAVAILABLE,
                f"the key resolver answered {type(lookup).__name__}, not a KeyLookup",
            )
        )
    key_age = _age(ctx, lookup.fetched_at)
    key = lookup.key
    if key is None:
        reason = Reason.KEY_UNKNOWN if lookup.issuer_known else Reason.ISSUER_UNKNOWN
        raise _Failed(
            Check(
                CheckName.ISSUER, reason, f"issuer {issuer}, kid {kid} ({_describe_age(key_age)})"
            )
        )
    if key.algorithm != _ALGORITHMS[alg]:
        raise _Failed(
            Check(
                CheckName.SIGNATURE,
                Reason.SIGNATURE_INVALID,
                f"the header says {alg} but key {kid} is an {key.algorithm} key",
            )
        )
    if not key.verifier.verify(parts.signature, parts.signing_input):
        raise _Failed(Check(CheckName.SIGNATURE, Reason.SIGNATURE_INVALID, f"key {kid}"))
    iat = payload.get("iat")
    signed_at = (
        dt.datetime.fromtimestamp(iat, dt.UTC)
        if isinstance(iat, int) and not isinstance(iat, bool)
        else None
    )
    return _Verified(
        payload, issuer, key, _key_check(key, signed_at, ctx, key_age), key_age, signed_at
    )


def _key_plainly_current(
    key: PublishedKey, signed_at: dt.datetime | None, now: dt.datetime
) -> bool:
    """The common case, without building any text: never retired or revoked, signed while
    active and not in the future."""
    return (
        key.revoked_at is None
        and key.retired_at is None
        and (signed_at is None or signed_at <= now + _CLOCK_SKEW)
        and (key.activated_at is None or signed_at is None or signed_at >= key.activated_at)
    )


def _key_check(
    key: PublishedKey, signed_at: dt.datetime | None, ctx: _Context, age: dt.timedelta | None
) -> Check:
    where = f"issuer {key.issuer}, key {key.key_id} ({key.algorithm}; {_describe_age(age)})"
    if key.revoked_at is not None and ctx.now >= key.revoked_at:
        return Check(
            CheckName.ISSUER, Reason.KEY_REVOKED, f"{where}, revoked {key.revoked_at.isoformat()}"
        )
    if signed_at is not None and signed_at > ctx.now + _CLOCK_SKEW:
        return Check(
            CheckName.ISSUER, Reason.SIGNED_IN_FUTURE, f"{where}, signed at {signed_at.isoformat()}"
        )
    if key.retired_at is not None:
        if signed_at is None:
            return Check(
                CheckName.ISSUER,
                Reason.KEY_RETIRED,
                f"{where}, retired {key.retired_at.isoformat()}; the document has no "
                f"signing time (iat), so it cannot show it was signed before",
            )
        if signed_at >= key.retired_at:
            return Check(
                CheckName.ISSUER,
                Reason.KEY_RETIRED,
                f"{where}, retired {key.retired_at.isoformat()}, signed {signed_at.isoformat()}",
            )
        return Check(
            CheckName.ISSUER,
            Reason.KEY_RETIRED_AFTER_SIGNING,
            f"{where}, signed {signed_at.isoformat()}, retired {key.retired_at.isoformat()}",
        )
    if signed_at is not None and key.state_at(signed_at) is KeyState.PENDING:
        return Check(
            CheckName.ISSUER,
            Reason.KEY_NOT_YET_ACTIVE,
            f"{where}, signed {signed_at.isoformat()}, active from "
            f"{key.activated_at.isoformat() if key.activated_at else '?'}",
        )
    return Check(CheckName.ISSUER, Reason.KEY_CURRENT, where)


def _verify_jws(jws: str, ctx: _Context, *, depth: int) -> VerificationResult:
    checks: list[Check] = []
    try:
        verified = _check_jws(jws, ctx)
    except _Failed as failed:
        check = failed.check
        if check.name in (CheckName.SIGNATURE, CheckName.ISSUER):
            checks.append(Check(CheckName.FORMAT, Reason.WELL_FORMED))
        if check.name is CheckName.ISSUER:
            checks.append(Check(CheckName.SIGNATURE, Reason.NOT_CHECKED, "no key to check it with"))
        checks.append(check)
        return _result(ctx, checks)
    payload = verified.payload
    checks += [_WELL_FORMED, _SIGNATURE_VALID, verified.key_check]
    if SHARED_COPY_TYPE in payload["type"]:
        if depth > 0:
            checks[0] = Check(
                CheckName.FORMAT,
                Reason.NOT_A_CREDENTIAL,
                "a shared copy cannot copy another shared copy",
            )
            return _result(ctx, checks, credential=payload, key_age=verified.key_age)
        return _verify_shared(verified, checks, ctx)
    meta = payload.get("ecert")
    try:
        if not isinstance(meta, dict):
            raise InvalidInput("it has no ecert metadata")
        certificate_id, id_issuer = _identifier(meta.get("identifier"))
    except InvalidInput as exc:
        checks[0] = Check(CheckName.FORMAT, Reason.NOT_A_CREDENTIAL, f"not an e-certificate: {exc}")
        return _result(ctx, checks, credential=payload, key_age=verified.key_age)
    if id_issuer != verified.issuer:
        checks[2] = Check(
            CheckName.ISSUER,
            Reason.ISSUER_MISMATCH,
            f"signed by {verified.issuer}; the identifier names {id_issuer}",
        )
    checks.append(_validity_check(payload, ctx, shared=False))
    status_check, outcome, status_age = _status_check(payload, verified.issuer, ctx)
    checks.append(status_check)
    return _result(
        ctx,
        checks,
        status=outcome,
        certificate_id=certificate_id,
        credential=payload,
        key_age=verified.key_age,
        status_age=status_age,
    )


def _identifier(value: object) -> tuple[str, str]:
    """``(identifier, issuer part)`` of a signed credential's identifier.

    The issuer's own software wrote it and signed it, so the common case needs only the
    shape and the check character; anything else gets the full parse and its message.
    """
    if isinstance(value, str):
        parts = value.split(".")
        if (
            len(parts) == 10
            and value.startswith(_ID_HEAD)
            and len(parts[5]) == 21
            and len(parts[6]) == 18
            and len(parts[8]) == 3
            and mod37_36_check(parts[5] + parts[6] + parts[7] + parts[8]) == parts[9]
        ):
            return value, parts[6]
    cid = CertificateId.parse(str(value), strict=True)
    return str(cid), cid.issuer


def _validity_check(payload: Mapping[str, Any], ctx: _Context, *, shared: bool) -> Check:
    try:
        start = _parse_time(payload.get("validFrom"), "validFrom")
        end = _parse_time(payload["validUntil"], "validUntil") if "validUntil" in payload else None
    except (ValueError, TypeError) as exc:
        return Check(CheckName.VALIDITY, Reason.NOT_A_CREDENTIAL, str(exc))
    if ctx.now < start:
        return Check(CheckName.VALIDITY, Reason.NOT_YET_VALID, f"valid from {payload['validFrom']}")
    if end is not None and ctx.now > end:
        reason = Reason.SHARED_COPY_EXPIRED if shared else Reason.EXPIRED
        return Check(CheckName.VALIDITY, reason, f"valid until {payload['validUntil']}")
    reason = Reason.SHARED_COPY_VALID if shared else Reason.WITHIN_VALIDITY
    until = payload["validUntil"] if end is not None else "long-term (长期)"
    return Check(CheckName.VALIDITY, reason, f"{payload['validFrom']} to {until}")


# --- status ----------------------------------------------------------------------------------


@attrs.frozen
class _DecodedList:
    purpose: StatusPurpose
    bits: StatusList
    key_id: str
    thumbprint: str
    signed_at: dt.datetime | None
    valid_until: dt.datetime | None


class _ListCache:
    """Status list credentials already verified and decoded, by their JWS text.

    A signature check is a pure function of the key and the bytes, so a list fetched again
    unchanged needs no second check as long as its kid still names the same key (same
    thumbprint); the key's state is re-checked on every use. Reads take no lock (a dict
    lookup is atomic); the oldest entry goes when the cache is full.
    """

    def __init__(self, size: int = 256) -> None:
        self._items: dict[str, _DecodedList] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str) -> _DecodedList | None:
        return self._items.get(key)

    def put(self, key: str, value: _DecodedList) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                del self._items[next(iter(self._items))]


_LISTS = _ListCache()
_PURPOSES = {p.value: p for p in StatusPurpose}


def _status_check(
    payload: Mapping[str, Any], issuer: str, ctx: _Context
) -> tuple[Check, StatusOutcome, dt.timedelta | None]:
    entries = payload.get("credentialStatus")
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list) or not entries:
        return Check(CheckName.STATUS, Reason.STATUS_MISSING), StatusOutcome.UNKNOWN, None
    revoked: bool | None = None  # None: not read
    suspended: bool | None = None
    problems: list[Check] = []
    oldest: dt.timedelta | None = None
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
            continue
        try:
            value = entry.get("statusPurpose")
            purpose = _PURPOSES.get(value) if isinstance(value, str) else None
            if purpose is None:
                raise ValueError(f"statusPurpose {entry.get('statusPurpose')!r} is not known")
            index_text = entry.get("statusListIndex")
            if not isinstance(index_text, str) or not index_text.isdigit():
                raise ValueError(f"statusListIndex {index_text!r} is not a whole number")
            index = int(index_text)
            url = entry.get("statusListCredential")
            if not isinstance(url, str):
                raise ValueError("statusListCredential is missing")
        except ValueError as exc:
            problems.append(Check(CheckName.STATUS, Reason.STATUS_LIST_INVALID, str(exc)))
            continue
        found = _read_list(url, purpose, issuer, ctx)
        if isinstance(found, Check):
            problems.append(found)
            continue
        decoded, age = found
        if age is not None and (oldest is None or age > oldest):
            oldest = age
        if index >= decoded.bits.size:
            problems.append(
                Check(
                    CheckName.STATUS,
                    Reason.STATUS_LIST_INVALID,
                    f"index {index} is outside the {purpose.value} list at {url}",
                )
            )
            continue
        raw = decoded.bits.bits  # bit 0 is the most significant bit of byte 0
        bit = bool(raw[index >> 3] >> (7 - (index & 7)) & 1)
        if purpose is StatusPurpose.REVOCATION:
            revoked = bit
        else:
            suspended = bit
    freshness = _describe_age(oldest)
    if revoked:
        return Check(CheckName.STATUS, Reason.REVOKED, freshness), StatusOutcome.REVOKED, oldest
    if problems:
        return problems[0], StatusOutcome.UNKNOWN, oldest
    if revoked is None:
        return (
            Check(CheckName.STATUS, Reason.STATUS_MISSING, "no revocation status entry"),
            StatusOutcome.UNKNOWN,
            oldest,
        )
    if suspended:
        return Check(CheckName.STATUS, Reason.SUSPENDED, freshness), StatusOutcome.SUSPENDED, oldest
    return Check(CheckName.STATUS, Reason.STATUS_VALID, freshness), StatusOutcome.VALID, oldest


def _read_list(
    url: str, purpose: StatusPurpose, issuer: str, ctx: _Context
) -> tuple[_DecodedList, dt.timedelta | None] | Check:
    try:
        fetched: object = ctx.status(url, online=ctx.online)
    except Exception as exc:
        return Check(CheckName.STATUS, Reason.STATUS_UNAVAILABLE, f"{url}: {exc}")
    if fetched is None:
        return Check(
            CheckName.STATUS,
            Reason.STATUS_UNAVAILABLE,
            f"{url} ({'online' if ctx.online else 'offline, not cached'})",
        )
    if not isinstance(fetched, FetchedStatusList):
        return Check(
            CheckName.STATUS,
            Reason.STATUS_UNAVAILABLE,
            f"the status resolver answered {type(fetched).__name__}",
        )
    age = _age(ctx, fetched.fetched_at)
    if ctx.max_status_age is not None and age is not None and age > ctx.max_status_age:
        return Check(
            CheckName.STATUS,
            Reason.STATUS_STALE,
            f"{url} was {_describe_age(age)}; at most {ctx.max_status_age} is accepted",
        )
    decoded = _decode_list(fetched.credential, url, purpose, issuer, ctx)
    if isinstance(decoded, Check):
        return decoded
    if decoded.valid_until is not None and ctx.now > decoded.valid_until:
        return Check(
            CheckName.STATUS,
            Reason.STATUS_STALE,
            f"{url} was valid until {decoded.valid_until.isoformat()}",
        )
    return decoded, age


def _decode_list(
    credential: str, url: str, purpose: StatusPurpose, issuer: str, ctx: _Context
) -> _DecodedList | Check:
    def invalid(detail: str) -> Check:
        return Check(CheckName.STATUS, Reason.STATUS_LIST_INVALID, f"{url}: {detail}")

    cached = _LISTS.get(credential)
    if cached is not None and cached.purpose is purpose:
        # Same bytes as a list already verified: only the key's current state needs asking.
        try:
            lookup = ctx.key(issuer, cached.key_id)
        except Exception as exc:
            return Check(CheckName.STATUS, Reason.STATUS_UNAVAILABLE, f"{url}: keys: {exc}")
        key = lookup.key if isinstance(lookup, KeyLookup) else None
        if key is None or key.thumbprint != cached.thumbprint or key.issuer != issuer:
            cached = None  # the key changed under the same kid: verify afresh
        elif _key_plainly_current(key, cached.signed_at, ctx.now):
            return cached
        else:
            key_check = _key_check(key, cached.signed_at, ctx, None)
            if not key_check.passed:
                return invalid(f"its signing key: {key_check.text}")
            return cached
    try:
        verified = _check_jws(credential, ctx, expect_issuer=issuer)
    except _Failed as failed:
        return invalid(failed.check.text)
    if not verified.key_check.passed:
        return invalid(f"its signing key: {verified.key_check.text}")
    doc = verified.payload
    subject = doc.get("credentialSubject")
    if (
        "BitstringStatusListCredential" not in doc["type"]
        or not isinstance(subject, dict)
        or subject.get("type") != "BitstringStatusList"
    ):
        return invalid("not a BitstringStatusListCredential")
    if doc.get("id") != url:
        return invalid(f"it is the list {doc.get('id')!r}, not this one")
    if subject.get("statusPurpose") != purpose.value:
        return invalid(f"its purpose is {subject.get('statusPurpose')!r}, not {purpose.value}")
    try:
        bits = StatusList.decode(str(subject.get("encodedList")), purpose)
        until = _parse_time(doc["validUntil"], "validUntil") if "validUntil" in doc else None
    except (InvalidInput, ValueError) as exc:
        return invalid(str(exc))
    decoded = _DecodedList(
        purpose, bits, verified.key.key_id, verified.key.thumbprint, verified.signed_at, until
    )
    _LISTS.put(credential, decoded)
    return decoded


# --- shared copies ---------------------------------------------------------------------------


def _verify_shared(verified: _Verified, checks: list[Check], ctx: _Context) -> VerificationResult:
    payload = verified.payload
    subject = payload.get("credentialSubject")
    original = subject.get("original") if isinstance(subject, dict) else None
    envelope = original.get("id") if isinstance(original, dict) else None
    if not isinstance(envelope, str) or not envelope.startswith(_ENVELOPE_PREFIX):
        checks[0] = Check(
            CheckName.FORMAT,
            Reason.NOT_A_CREDENTIAL,
            "the shared copy does not carry its original certificate",
        )
        return _result(ctx, checks, credential=payload, key_age=verified.key_age)
    assert isinstance(subject, dict)
    try:
        expires = _parse_time(payload.get("validUntil"), "validUntil")
    except ValueError:
        checks[0] = Check(
            CheckName.FORMAT,
            Reason.NOT_A_CREDENTIAL,
            "a shared copy must carry its expiry (validUntil)",
        )
        return _result(ctx, checks, credential=payload, key_age=verified.key_age)
    info = SharedCopyInfo(
        purpose=str(subject.get("purpose", "")),
        recipient=str(subject.get("recipient", "")),
        expires=expires,
        shared_by=str(payload.get("issuer", {}).get("name", verified.issuer))
        if isinstance(payload.get("issuer"), dict)
        else verified.issuer,
    )
    validity = _validity_check(payload, ctx, shared=True)
    if validity.passed:
        validity = attrs.evolve(
            validity, detail=f"purpose (用证事由) {info.purpose!r}; {validity.detail}"
        )
    checks.append(validity)
    inner = _verify_jws(envelope[len(_ENVELOPE_PREFIX) :], ctx, depth=1)
    if inner.valid:
        checks.append(Check(CheckName.ORIGINAL, Reason.ORIGINAL_VALID, inner.certificate_id or ""))
    else:
        checks.append(Check(CheckName.ORIGINAL, Reason.ORIGINAL_INVALID, inner.reason.text))
    status = inner.check(CheckName.STATUS)
    if status is not None:
        checks.append(status)
    return _result(
        ctx,
        checks,
        status=inner.status,
        certificate_id=inner.certificate_id,
        credential=payload,
        key_age=verified.key_age,
        status_age=inner.status_age,
        shared_copy=info,
        original=inner,
    )
