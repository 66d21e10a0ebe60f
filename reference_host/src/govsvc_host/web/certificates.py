"""E-certificates (电子证照) on the host: the published key set and status lists, verification
(an API, a public page, the page a scanned QR code opens), a certificate's page with its QR
code, print view and PDF, and the citizen's 我的证照.

Every answer comes from ``session.certificates``: the SDK decides who may see what; this
module only renders. Verification never fails with an error page: any input, however
broken, gets a result with its reasons in plain Chinese.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

import govsvc
from govsvc.ecert import (
    CertificateId,
    VerificationResult,
    online_payload,
    render_html,
    render_pdf,
    render_svg,
)
from govsvc_host.web.common import Anyone, Me, host_of

__all__ = ["api_router", "ecert_base", "router"]

router = APIRouter()
api_router = APIRouter(prefix="/api/v1")

_JWS_MEDIA = "application/vc+jwt"  # the VC-JOSE-COSE media type of a secured credential
_MAX_INPUT = 20_000  # a pasted credential or QR payload; an offline QR holds ~1,500 characters


def ecert_base(base_url: str) -> str:
    """Where the host publishes e-certificates: ``{base_url}/ecert``."""
    return base_url.rstrip("/") + "/ecert"


def _platform(request: Request) -> govsvc.Platform:
    return host_of(request).platform


def result_json(result: VerificationResult) -> dict[str, Any]:
    """A verification result as the API returns it (every check, its reason, in both words)."""
    return {
        "valid": result.valid,
        "status": result.status.value,
        "label": result.label,
        "summary": result.summary,
        "certificate_id": result.certificate_id,
        "checked_at": result.checked_at.isoformat(),
        "online": result.online,
        "reason": result.reason.reason.value,
        "checks": [
            {
                "name": c.name.value,
                "outcome": c.outcome.value,
                "reason": c.reason.value,
                "label": c.label,
                "text": c.text,
            }
            for c in result.checks
        ],
        "shared_copy": None
        if result.shared_copy is None
        else {
            "purpose": result.shared_copy.purpose,
            "recipient": result.shared_copy.recipient,
            "expires": result.shared_copy.expires.isoformat()
            if result.shared_copy.expires
            else None,
            "shared_by": result.shared_copy.shared_by,
        },
    }


def _verify_text(
    platform: govsvc.Platform, text: str, *, online: bool = True
) -> VerificationResult:
    """Verify what a person typed or scanned: a bare identifier is looked up online."""
    candidate = "".join(text.split())
    if candidate.startswith("1.2.156.3005.2."):
        try:
            cid = CertificateId.parse(candidate)
        except govsvc.InvalidInput:
            pass  # verified as typed: the result says it is not recognised
        else:
            text = online_payload(cid, platform.certificate_urls)
    return platform.public().certificates.verify(text[:_MAX_INPUT], online=online)


# --- what verifiers fetch -----------------------------------------------------------------


@router.get("/.well-known/jwks.json", name="jwks")
def jwks(request: Request) -> Response:
    """Every issuing department's public keys (retired ones too, revoked ones not)."""
    keys = _platform(request).public().certificates.jwks()
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


@router.get("/ecert/issuers/{issuer}/jwks.json", name="issuer_jwks")
def issuer_jwks(request: Request, issuer: str) -> Response:
    keys = _platform(request).public().certificates.jwks(issuer[:18])
    if not keys["keys"]:
        return JSONResponse({"error": f"no keys of issuer {issuer[:18]!r}"}, status_code=404)
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


@router.get("/ecert/status/{issuer}/{number}/{purpose}", name="status_list")
def status_list(request: Request, issuer: str, number: str, purpose: str) -> Response:
    """A department's signed status list (W3C Bitstring Status List), at EcertUrls' URL."""
    if not number.isdigit() or len(number) > 4:
        return JSONResponse({"error": "the list number is a whole number"}, status_code=404)
    try:
        credential = (
            _platform(request)
            .public()
            .certificates.status_list(issuer[:18], int(number), purpose[:12])
        )
    except (govsvc.InvalidInput, govsvc.NotFound) as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    # Short caching: a revocation must reach verifiers within minutes.
    return Response(
        credential, media_type=_JWS_MEDIA, headers={"Cache-Control": "public, max-age=60"}
    )


class VerifyRequest(BaseModel):
    """A document to verify: a compact JWS, a scanned QR payload, a shared copy, or an
    e-certificate identifier."""

    document: str = Field(max_length=_MAX_INPUT)
    online: bool = True


@api_router.post("/certificates/verify", name="api_verify_certificate")
def api_verify(request: Request, body: VerifyRequest) -> dict[str, Any]:
    """Verify an e-certificate; always 200 with the structured result (never "valid" without
    a status check)."""
    return result_json(_verify_text(_platform(request), body.document, online=body.online))


# --- pages --------------------------------------------------------------------------------


@router.get("/verify", name="verify_page")
def verify_page(request: Request, me: Anyone, q: str = "") -> Response:
    """The public verification page (证照核验): type the identifier or paste a QR payload."""
    host = host_of(request)
    result = _verify_text(host.platform, q) if q.strip() else None
    return host.render(
        request, "certificate_verify.html", principal=me, result=result, q=q[:_MAX_INPUT]
    )


@router.get("/ecert/v/{identifier}", name="scanned")
@router.get("/ECERT/V/{identifier}", include_in_schema=False)
def scanned(request: Request, me: Anyone, identifier: str) -> Response:
    """What a phone opens from a printed QR code: the certificate verified now (a revoked
    one shows revoked, though the paper is unchanged)."""
    host = host_of(request)
    result = _verify_text(host.platform, identifier.upper())
    return host.render(
        request, "certificate_verify.html", principal=me, result=result, q=identifier
    )


def _issued(request: Request, me: govsvc.Principal, identifier: str) -> govsvc.IssuedCertificate:
    return host_of(request).session(me).certificates.get(identifier)


@router.get("/certificates/{identifier}", name="certificate")
def certificate_page(request: Request, me: Me, identifier: str) -> Response:
    host = host_of(request)
    issued = _issued(request, me, identifier)
    result = host.platform.public().certificates.verify(issued.credential)
    try:
        ctype = host.platform.certificate_types.get(issued.certificate.type_code)
    except govsvc.NotFound:
        ctype = None
    labels = {f.key: f.label for f in ctype.fields} if ctype else {}
    return host.render(
        request,
        "certificate.html",
        principal=me,
        issued=issued,
        cert=issued.certificate,
        labels=labels,
        result=result,
        qr_svg=render_svg(issued.qr_payload, scale=3),
    )


@router.get("/certificates/{identifier}/print", name="certificate_print")
def certificate_print(request: Request, me: Me, identifier: str) -> Response:
    host = host_of(request)
    issued = _issued(request, me, identifier)
    ctype = _type_of(host.platform, issued)
    html = render_html(issued.certificate, ctype, qr_payload=issued.qr_payload)
    return Response(html, media_type="text/html; charset=utf-8")


@router.get("/certificates/{identifier}/pdf", name="certificate_pdf")
def certificate_pdf(request: Request, me: Me, identifier: str) -> Response:
    host = host_of(request)
    issued = _issued(request, me, identifier)
    try:
        pdf = render_pdf(
            issued.certificate, _type_of(host.platform, issued), qr_payload=issued.qr_payload
        )
    except govsvc.ecert.FontMissing as exc:
        return host.render(
            request,
            "error.html",
            status=503,
            principal=me,
            title="暂时无法生成 PDF",
            explain="服务器缺少中文字体，暂时无法生成 PDF，请使用打印页面。",
            detail=str(exc),
        )
    name = f"{issued.certificate.number}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


def _type_of(platform: govsvc.Platform, issued: govsvc.IssuedCertificate) -> Any:
    try:
        return platform.certificate_types.get(issued.certificate.type_code)
    except govsvc.NotFound:
        return None


@router.get("/account/certificates", name="my_certificates")
def my_certificates(request: Request, me: Me) -> Response:
    """我的证照: the certificates issued here and those the departments report."""
    host = host_of(request)
    holder = me.acting_for or me.party
    library = None
    if holder is not None:
        library = host.session(me).certificates.library(holder, purpose="查看我的证照")
    return host.render(request, "my_certificates.html", principal=me, library=library)
