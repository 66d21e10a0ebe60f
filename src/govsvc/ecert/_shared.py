"""Shared copies (加注件): a certificate handed to a user of it, for one purpose, until a date.

When a holder's certificate is shared — a department reusing it as a material, a bank
checking a licence — the receiver gets a *shared copy*: a credential of type
``SharedCertificateCopy`` signed by the sharing party (the platform or a department), whose
``credentialSubject`` carries the purpose of use (用证事由), the recipient, and the original
credential itself as an ``EnvelopedVerifiableCredential`` (VC 2.0: ``data:application/
vc+jwt,<JWS>``). Its ``validUntil`` is the expiry. :func:`~govsvc.ecert.verify` checks the
copy's signature and expiry, shows the purpose, and verifies the original in full,
status included: a copy of a revoked certificate is not valid, however fresh the copy.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from govsvc.catalogue import Agency
from govsvc.errors import InvalidInput

from ._credential import CREDENTIALS_V2, EcertUrls, sign_credential
from ._jose import CompactJws, JwsFormatError
from ._signing import Signer

__all__ = ["MAX_SHARE_DAYS", "issue_shared_copy", "shared_copy_document"]

MAX_SHARE_DAYS = 366
"""A shared copy expires within a year: it is a copy for a purpose, not a second original."""


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def shared_copy_document(
    original: str,
    *,
    purpose: str,
    expires: dt.datetime,
    shared_by: Agency,
    urls: EcertUrls,
    at: dt.datetime,
    recipient: str = "",
    copy_id: str | None = None,
) -> dict[str, Any]:
    """The unsigned shared copy of ``original`` (the certificate's compact JWS)."""
    purpose = purpose.strip() if isinstance(purpose, str) else ""
    if not purpose:
        raise InvalidInput(
            "a shared copy needs its purpose of use (用证事由), e.g. 办理食品经营许可；it is "
            "shown to whoever verifies the copy and recorded in the audit log"
        )
    if at.tzinfo is None or expires.tzinfo is None:
        raise InvalidInput("give the sharing time and the expiry as aware datetimes")
    if expires <= at:
        raise InvalidInput(
            f"the shared copy would expire ({expires.isoformat()}) before it is made "
            f"({at.isoformat()}); give a later expiry"
        )
    if expires - at > dt.timedelta(days=MAX_SHARE_DAYS):
        raise InvalidInput(
            f"a shared copy may be valid for at most {MAX_SHARE_DAYS} days; share it again "
            f"when it is needed again"
        )
    try:
        payload = CompactJws.split(original).payload_json()
    except JwsFormatError as exc:
        raise InvalidInput(
            f"the original is not a signed credential (compact JWS): {exc}"
        ) from None
    original_id = payload.get("id") if isinstance(payload, dict) else None
    return {
        "@context": [CREDENTIALS_V2],
        "id": copy_id or f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", "SharedCertificateCopy"],
        "name": f"{payload.get('name', '电子证照')}（加注件）"
        if isinstance(payload, dict)
        else "电子证照（加注件）",
        "issuer": {"id": urls.issuer(shared_by.credit_code), "name": shared_by.name},
        "validFrom": _timestamp(at),
        "validUntil": _timestamp(expires),
        "credentialSubject": {
            "purpose": purpose,
            "recipient": recipient.strip(),
            "originalId": original_id,
            "original": {
                "@context": CREDENTIALS_V2,
                "id": f"data:application/vc+jwt,{original}",
                "type": "EnvelopedVerifiableCredential",
            },
        },
    }


def issue_shared_copy(
    original: str,
    signer: Signer,
    urls: EcertUrls,
    *,
    purpose: str,
    expires: dt.datetime,
    shared_by: Agency,
    at: dt.datetime,
    recipient: str = "",
) -> str:
    """A signed shared copy (compact JWS) of ``original``, signed by the sharing party."""
    document = shared_copy_document(
        original,
        purpose=purpose,
        expires=expires,
        shared_by=shared_by,
        urls=urls,
        at=at,
        recipient=recipient,
    )
    return sign_credential(document, signer, at=at)
