"""Verified claims → :class:`govsvc.Principal`: a pure function, all or nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from govsvc import (
    Assurance,
    Authentication,
    CreditCode,
    DocumentType,
    GovsvcError,
    InvalidInput,
    PartyKey,
    Principal,
    PrincipalKind,
)
from govsvc_host import claims as C

__all__ = [
    "ClaimsError",
    "LoginFailed",
    "principal_from_claims",
    "principal_from_machine_claims",
]


class LoginFailed(GovsvcError):
    """A login did not complete; ``reason`` says which step refused it.

    Reasons: ``state`` (the callback does not belong to a login this browser started),
    ``provider`` (the provider answered with an error, e.g. ``access_denied``), ``token``
    (the token request failed), ``id_token`` (the ID token failed a check), ``userinfo``,
    ``claims`` (the claims do not make a principal), ``discovery`` (the provider's metadata
    is unusable).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ClaimsError(LoginFailed, ValueError):
    """The claims do not describe a principal the host can build; names the claim."""

    def __init__(self, message: str) -> None:
        super().__init__("claims", message)


_PERSON_KINDS = (PrincipalKind.APPLICANT, PrincipalKind.AGENT)
_STAFF_KINDS = (
    PrincipalKind.CLERK,
    PrincipalKind.REVIEWER,
    PrincipalKind.APPROVER,
    PrincipalKind.SUPERVISOR,
    PrincipalKind.CATALOGUE_ADMIN,
    PrincipalKind.SYSTEM_ADMIN,
)
_STAFF_CLAIMS = (C.STAFF_ID, C.AGENCY, C.SERVES, C.HALL, C.DIVISION)
# Which staff claims each role uses; any other govsvc_ claim is a misconfigured provider.
_ROLE_CLAIMS: dict[PrincipalKind, frozenset[str]] = {
    PrincipalKind.CLERK: frozenset({C.STAFF_ID, C.AGENCY, C.SERVES, C.HALL, C.DIVISION}),
    PrincipalKind.REVIEWER: frozenset({C.STAFF_ID, C.AGENCY}),
    PrincipalKind.APPROVER: frozenset({C.STAFF_ID, C.AGENCY}),
    PrincipalKind.SUPERVISOR: frozenset({C.STAFF_ID, C.DIVISION, C.AGENCY}),
    PrincipalKind.CATALOGUE_ADMIN: frozenset({C.STAFF_ID, C.AGENCY}),
    PrincipalKind.SYSTEM_ADMIN: frozenset({C.STAFF_ID}),
}


def _text(claims: Mapping[str, Any], name: str, *, required: str = "") -> str:
    value = claims.get(name)
    if value is None or value == "":
        if required:
            raise ClaimsError(f"claim {name!r} is missing; {required}")
        return ""
    if not isinstance(value, str):
        raise ClaimsError(f"claim {name!r} must be a string, got {type(value).__name__}")
    return value.strip()


def _credit(claims: Mapping[str, Any], name: str, *, required: str = "") -> str:
    code = _text(claims, name, required=required)
    if not code:
        return ""
    try:
        return CreditCode.parse(code).number
    except InvalidInput as exc:
        raise ClaimsError(f"claim {name!r}: {exc}") from None


def _assurance(claims: Mapping[str, Any], acr_values: Mapping[str, Assurance]) -> Assurance:
    acr = claims.get("acr")
    if acr is None:
        # No acr: the provider vouches for nothing beyond a registered account.
        return Assurance.L1
    if not isinstance(acr, str) or acr not in acr_values:
        known = ", ".join(acr_values)
        raise ClaimsError(
            f"claim 'acr' is {acr!r}, which the host does not know; map the provider's "
            f"values to assurance levels (acr_values), known: {known}"
        )
    return acr_values[acr]


def _auth_time(claims: Mapping[str, Any]) -> dt.datetime | None:
    value = claims.get("auth_time")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ClaimsError(f"claim 'auth_time' must be a number of seconds, got {value!r}")
    return dt.datetime.fromtimestamp(value, dt.UTC)


def _kind(claims: Mapping[str, Any]) -> PrincipalKind:
    role = claims.get(C.ROLE)
    if role is None:
        # Province providers know citizens and businesses, not the host's roles: an
        # organisation's credit code is what makes a business login.
        return PrincipalKind.AGENT if claims.get(C.CREDIT_CODE) else PrincipalKind.APPLICANT
    try:
        kind = PrincipalKind(role)
    except ValueError:
        kind = None
    if kind not in (*_PERSON_KINDS, *_STAFF_KINDS):
        allowed = ", ".join(k.value for k in (*_PERSON_KINDS, *_STAFF_KINDS))
        raise ClaimsError(
            f"claim {C.ROLE!r} is {role!r}, which no person can log in as; use one of "
            f"{allowed} (machines use client_credentials tokens)"
        )
    assert kind is not None
    return kind


def principal_from_claims(
    claims: Mapping[str, Any],
    *,
    provider: str,
    acr_values: Mapping[str, Assurance] = C.ACR_VALUES,
) -> Principal:
    """Build the principal the verified claims describe (see :mod:`govsvc_host.claims`).

    ``provider`` names the identity provider in :class:`govsvc.Authentication`;
    ``acr_values`` maps the provider's ``acr`` values to assurance levels (a missing ``acr``
    means L1). Raises :class:`ClaimsError` naming the claim when anything is missing,
    malformed or contradictory (an invalid ID number, a staff role without an agency, staff
    claims on a citizen): never a half-built principal.
    """
    sub = _text(claims, "sub", required="every ID token names its subject")
    kind = _kind(claims)
    auth = Authentication(
        provider=provider,
        assurance=_assurance(claims, acr_values),
        subject=sub,
        at=_auth_time(claims),
    )
    name = _text(claims, "name", required="release the 'profile' scope (the person's name)")
    try:
        if kind in _PERSON_KINDS:
            return _person(claims, kind, name, auth)
        return _staff(claims, kind, name, auth)
    except InvalidInput as exc:  # the SDK's own checks, e.g. a division code's shape
        raise ClaimsError(f"the claims do not make a {kind.value} principal: {exc}") from None


def _person(
    claims: Mapping[str, Any], kind: PrincipalKind, name: str, auth: Authentication
) -> Principal:
    stray = [c for c in _STAFF_CLAIMS if c in claims]
    if stray:
        raise ClaimsError(
            f"a {kind.value} carries staff claims {stray}; give staff accounts "
            f"{C.ROLE!r} with their role"
        )
    number = _text(claims, C.ID_NUMBER, required=f"release the {C.GOVSVC_SCOPE!r} scope (一号)")
    doc_type = _text(claims, C.ID_TYPE) or DocumentType.RESIDENT_ID.value
    if doc_type in (DocumentType.CREDIT_CODE.value, DocumentType.OTHER_ORGANISATION.value):
        raise ClaimsError(
            f"claim {C.ID_TYPE!r} is {doc_type}, an organisation's document; a person logs "
            f"in with their own and names the organisation in {C.CREDIT_CODE!r}"
        )
    try:
        person = PartyKey.for_document(doc_type, number)
    except InvalidInput as exc:
        raise ClaimsError(f"claim {C.ID_NUMBER!r}: {exc}") from None
    if kind is PrincipalKind.APPLICANT:
        if claims.get(C.CREDIT_CODE) or claims.get(C.ORG_NAME):
            raise ClaimsError(
                f"an applicant carries {C.CREDIT_CODE!r}/{C.ORG_NAME!r}; a business login is "
                f"role 'agent' (or no {C.ROLE!r} at all)"
            )
        return Principal.applicant(person, name, auth=auth)
    organisation = _credit(
        claims, C.CREDIT_CODE, required="a business user acts for an organisation (法人)"
    )
    _text(claims, C.ORG_NAME, required="a business login names its organisation")
    return Principal.agent(person, name, organisation=organisation, auth=auth)


def _staff(
    claims: Mapping[str, Any], kind: PrincipalKind, name: str, auth: Authentication
) -> Principal:
    stray = [c for c in (C.ID_NUMBER, C.CREDIT_CODE) if claims.get(c)]
    if stray:
        raise ClaimsError(
            f"a {kind.value} login carries {stray}; staff log in as staff, citizens and "
            "businesses as themselves (use separate accounts)"
        )
    unused = [c for c in _STAFF_CLAIMS if c in claims and c not in _ROLE_CLAIMS[kind]]
    if unused:
        raise ClaimsError(f"a {kind.value} has no use for {unused}; check the role mapping")
    staff_id = _text(claims, C.STAFF_ID, required="staff are identified by their 工号")
    needs_agency = "the credit code of the staff member's agency or department"
    if kind is PrincipalKind.CLERK:
        serves = claims.get(C.SERVES, [])
        if not isinstance(serves, list) or not all(isinstance(s, str) for s in serves):
            raise ClaimsError(f"claim {C.SERVES!r} must be a list of credit codes")
        checked = [_credit({C.SERVES: s}, C.SERVES) for s in serves]
        return Principal.clerk(
            staff_id,
            name,
            agency=_credit(claims, C.AGENCY, required=needs_agency),
            serves=checked,
            hall=_text(claims, C.HALL, required="a clerk works in a hall (政务服务中心)"),
            division=_text(claims, C.DIVISION) or None,
            auth=auth,
        )
    if kind in (PrincipalKind.REVIEWER, PrincipalKind.APPROVER):
        make = Principal.reviewer if kind is PrincipalKind.REVIEWER else Principal.approver
        department = _credit(claims, C.AGENCY, required=needs_agency)
        return make(staff_id, name, department=department, auth=auth)
    if kind is PrincipalKind.SUPERVISOR:
        return Principal.supervisor(
            staff_id,
            name,
            division=_text(claims, C.DIVISION, required="a supervisor watches a division"),
            agency=_credit(claims, C.AGENCY) or None,
            auth=auth,
        )
    if kind is PrincipalKind.CATALOGUE_ADMIN:
        agency = _credit(claims, C.AGENCY, required=needs_agency)
        return Principal.catalogue_admin(staff_id, name, agency=agency, auth=auth)
    return Principal.system_admin(staff_id, name, auth=auth)


def principal_from_machine_claims(claims: Mapping[str, Any], *, provider: str) -> Principal:
    """The principal of a verified machine access token (``client_credentials``).

    ``govsvc_role`` ``department_system`` needs ``govsvc_agency``; ``channel`` gets the
    token's ``scope`` as its granted actions. Raises :class:`ClaimsError`.
    """
    client_id = _text(claims, "client_id", required="a machine token names its client")
    role = claims.get(C.ROLE)
    name = _text(claims, C.CLIENT_NAME) or client_id
    auth = Authentication(provider=provider, assurance=Assurance.L1, subject=client_id,
                          at=_auth_time({"auth_time": claims.get("iat")}))
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise ClaimsError("claim 'scope' must be a space-separated string")
    try:
        if role == PrincipalKind.DEPARTMENT_SYSTEM.value:
            department = _credit(claims, C.AGENCY, required="a department system's department")
            return Principal.department_system(department, name, auth=auth)
        if role == PrincipalKind.CHANNEL.value:
            return Principal.channel(client_id, name, scopes=scope.split(), auth=auth)
    except InvalidInput as exc:
        raise ClaimsError(f"the machine token does not make a principal: {exc}") from None
    raise ClaimsError(
        f"claim {C.ROLE!r} of a machine token is {role!r}; register the client with role "
        "'department_system' or 'channel'"
    )
