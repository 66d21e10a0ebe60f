"""The claims contract between an identity provider and the host (统一身份认证 → 主体).

The host builds a :class:`govsvc.Principal` from the claims of a verified ID token (and the
UserInfo response). These names are what the demo provider (:mod:`govsvc_host.idp`) issues
and what a province's real provider must be configured to release; the mapping itself is
:func:`govsvc_host.auth.principal_from_claims`.

People (ID tokens, scope ``openid profile phone govsvc``):

* standard claims ``sub``, ``name``, ``phone_number``, ``acr`` (``L1``..``L4``, see
  :class:`govsvc.Assurance`) and ``auth_time``;
* ``id_number`` and ``id_type`` — the 一号 of a natural person (``id_type`` is the
  GA/T 2000.156 document type, default ``111`` 居民身份证);
* ``credit_code`` and ``org_name`` — the organisation a business user acts for (经办人);
* namespaced staff claims, prefixed ``govsvc_`` so that they never collide with a
  provider's own: :data:`ROLE`, :data:`STAFF_ID`, :data:`AGENCY`, :data:`SERVES`,
  :data:`HALL`, :data:`DIVISION`.

Machine clients (JWT access tokens from ``client_credentials``, RFC 9068) carry ``client_id``,
``scope``, :data:`ROLE` (``department_system`` or ``channel``), :data:`AGENCY` for a
department system and :data:`CLIENT_NAME`.
"""

from __future__ import annotations

from typing import Final

from govsvc import Assurance

__all__ = [
    "ACR_VALUES",
    "AGENCY",
    "CLIENT_NAME",
    "CREDIT_CODE",
    "DIVISION",
    "GOVSVC_SCOPE",
    "HALL",
    "ID_NUMBER",
    "ID_TYPE",
    "ORG_NAME",
    "ROLE",
    "SCOPE_CLAIMS",
    "SERVES",
    "STAFF_ID",
]

ID_NUMBER: Final = "id_number"
"""The person's document number (公民身份号码 for ``id_type`` 111)."""
ID_TYPE: Final = "id_type"
"""GA/T 2000.156 document type of ``id_number``; absent means ``111`` (居民身份证)."""
CREDIT_CODE: Final = "credit_code"
"""Unified social credit code (统一社会信用代码) of the organisation a business user acts for."""
ORG_NAME: Final = "org_name"
"""The registered name of that organisation."""

ROLE: Final = "govsvc_role"
"""A :class:`govsvc.PrincipalKind` value; absent means ``applicant`` (or ``agent`` when
``credit_code`` is present)."""
STAFF_ID: Final = "govsvc_staff_id"
"""A staff member's number (工号), the principal's id; staff only."""
AGENCY: Final = "govsvc_agency"
"""Credit code of the agency or department a staff member (or department system) belongs to."""
SERVES: Final = "govsvc_serves"
"""Clerks: credit codes of the other agencies the clerk's hall accepts applications for."""
HALL: Final = "govsvc_hall"
"""Clerks: the hall (政务服务中心) the clerk works in."""
DIVISION: Final = "govsvc_division"
"""The division code (行政区划代码) a supervisor watches, or a clerk's hall serves."""
CLIENT_NAME: Final = "govsvc_client_name"
"""Machine tokens: the client's display name (e.g. 哈尔滨市市场监督管理局业务系统)."""

GOVSVC_SCOPE: Final = "govsvc"
"""The scope that releases the claims above (besides ``profile`` and ``phone``)."""

SCOPE_CLAIMS: Final[dict[str, tuple[str, ...]]] = {
    "openid": ("sub",),
    "profile": ("name",),
    "phone": ("phone_number", "phone_number_verified"),
    GOVSVC_SCOPE: (ID_NUMBER, ID_TYPE, CREDIT_CODE, ORG_NAME, ROLE, STAFF_ID, AGENCY, SERVES,
                   HALL, DIVISION),
}
"""Which claims each scope releases (the ID token and UserInfo carry the same set)."""

ACR_VALUES: Final[dict[str, Assurance]] = {level.name: level for level in Assurance}
"""``acr`` values the host understands: ``L1``..``L4`` (实名认证等级)."""
