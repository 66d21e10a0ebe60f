"""The e-certificate library (电子证照库): the pure domain and cryptography layer.

Everything here works without a database or a platform:

* identifiers (电子证照标识, GB/T 36904): :class:`CertificateId`;
* certificate types (证照目录) as data: :class:`CertificateType`, :func:`load_certificate_types`;
* the certificate aggregate and its life: :class:`Certificate`, :class:`CertificateEvent`;
* signing keys per issuing department, Ed25519 and SM2/SM3: :class:`KeyRing`, :class:`Signer`;
* the W3C Verifiable Credential 2.0 form, secured as a compact JWS: :func:`issue_credential`;
* W3C Bitstring Status Lists for revocation and suspension: :class:`StatusList`;
* verification with per-check reasons: :func:`verify`, :class:`VerificationResult`;
* QR payloads, the HTML print view and the PDF: :func:`online_payload`, :func:`render_pdf`;
* shared copies (加注件) for one purpose until a date: :func:`issue_shared_copy`.

Issuance on approval, storage, the holder's library and reuse as a material are the
platform's: ``session.certificates`` (see the docs page "E-certificates").
"""

from govsvc.errors import FontMissing, KeyRetired, SigningError, StatusListFull, UnknownKey

from ._certificate import (
    BY_RULE,
    CHINA,
    Certificate,
    CertificateEvent,
    CertificateEventKind,
    CertificateStatus,
    CertificateStep,
    Reissue,
    ReissueKind,
    local_date,
)
from ._credential import (
    CREDENTIALS_V2,
    JWS_CTY,
    JWS_TYP,
    EcertUrls,
    credential_document,
    issue_credential,
    sign_credential,
)
from ._identifier import ID_PREFIX, CertificateId, CertificateIdWarning, mod37_36_check
from ._jose import canonical_json
from ._keys import (
    KEYS_FORMAT,
    DepartmentSigner,
    load_key_config,
    signer_from_jwk,
    write_demo_keys,
)
from ._print import find_cjk_font, render_html, render_pdf, shared_copy_watermark
from ._qr import (
    OFFLINE_PREFIX,
    OfflinePayload,
    OnlinePayload,
    base45_decode,
    base45_encode,
    offline_payload,
    online_payload,
    parse_payload,
    qr_code,
    render_png,
    render_svg,
)
from ._shared import MAX_SHARE_DAYS, issue_shared_copy, shared_copy_document
from ._signing import (
    EDDSA,
    SM2_USER_ID,
    SM2SM3,
    Ed25519Signer,
    Ed25519Verifier,
    KeyLookup,
    KeyRing,
    KeyState,
    PublishedKey,
    PublishedKeySets,
    RemoteSigner,
    RemoteSigningService,
    Signer,
    SM2Signer,
    SM2Verifier,
    Verifier,
    verifier_from_jwk,
)
from ._status import (
    MIN_LIST_SIZE,
    StatusList,
    StatusPurpose,
    allocate_index,
    status_list_credential,
)
from ._types import (
    TYPES_FORMAT,
    CertificateType,
    CertificateTypes,
    FaceField,
    FieldKind,
    Validity,
    ValidityKind,
    load_certificate_types,
)
from ._verify import (
    Check,
    CheckName,
    DocumentResolver,
    FetchedStatusList,
    KeyResolver,
    Outcome,
    Reason,
    SharedCopyInfo,
    StatusListResolver,
    StatusOutcome,
    VerificationResult,
    verify,
)

__all__ = [
    "BY_RULE",
    "CHINA",
    "CREDENTIALS_V2",
    "EDDSA",
    "ID_PREFIX",
    "JWS_CTY",
    "JWS_TYP",
    "KEYS_FORMAT",
    "MAX_SHARE_DAYS",
    "MIN_LIST_SIZE",
    "OFFLINE_PREFIX",
    "SM2SM3",
    "SM2_USER_ID",
    "TYPES_FORMAT",
    "Certificate",
    "CertificateEvent",
    "CertificateEventKind",
    "CertificateId",
    "CertificateIdWarning",
    "CertificateStatus",
    "CertificateStep",
    "CertificateType",
    "CertificateTypes",
    "Check",
    "CheckName",
    "DepartmentSigner",
    "DocumentResolver",
    "EcertUrls",
    "Ed25519Signer",
    "Ed25519Verifier",
    "FaceField",
    "FetchedStatusList",
    "FieldKind",
    "FontMissing",
    "KeyLookup",
    "KeyResolver",
    "KeyRetired",
    "KeyRing",
    "KeyState",
    "OfflinePayload",
    "OnlinePayload",
    "Outcome",
    "PublishedKey",
    "PublishedKeySets",
    "Reason",
    "Reissue",
    "ReissueKind",
    "RemoteSigner",
    "RemoteSigningService",
    "SM2Signer",
    "SM2Verifier",
    "SharedCopyInfo",
    "Signer",
    "SigningError",
    "StatusList",
    "StatusListFull",
    "StatusListResolver",
    "StatusOutcome",
    "StatusPurpose",
    "UnknownKey",
    "Validity",
    "ValidityKind",
    "VerificationResult",
    "Verifier",
    "allocate_index",
    "base45_decode",
    "base45_encode",
    "canonical_json",
    "credential_document",
    "find_cjk_font",
    "issue_credential",
    "issue_shared_copy",
    "load_certificate_types",
    "load_key_config",
    "local_date",
    "mod37_36_check",
    "offline_payload",
    "online_payload",
    "parse_payload",
    "qr_code",
    "render_html",
    "render_pdf",
    "render_png",
    "render_svg",
    "shared_copy_document",
    "shared_copy_watermark",
    "sign_credential",
    "signer_from_jwk",
    "status_list_credential",
    "verifier_from_jwk",
    "verify",
    "write_demo_keys",
]
