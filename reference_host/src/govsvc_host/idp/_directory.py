"""Who may log in to the demo provider: users and clients, loaded from data and validated.

A directory is data (``demo.toml`` in this package, or a file of your own), checked when it
is loaded: an invalid citizen ID, a staff member without an agency or a client with an
unknown grant type fails at start, naming the entry, rather than at somebody's login.
Passwords and client secrets are stored as scrypt hashes (:func:`hash_secret`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from govsvc import (
    Assurance,
    CitizenId,
    CreditCode,
    DocumentType,
    InvalidInput,
    PartyKey,
    PrincipalKind,
)
from govsvc_host import claims as C

__all__ = [
    "Client",
    "DemoUser",
    "Directory",
    "DirectoryError",
    "hash_secret",
    "load_directory",
    "verify_secret",
]


class DirectoryError(InvalidInput):
    """A user or client entry of the provider's directory is wrong (names the entry)."""


# --- secrets ---------------------------------------------------------------------------------

# scrypt with n=2**14, r=8 (16 MiB, some 40 ms a check): slow enough to make guessing a leaked
# hash expensive, fast enough for a test suite that logs in dozens of times.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str) -> str:
    """Hash a password or client secret for a directory file (``scrypt:N:r:p$salt$hash``).

    Make one with ``python -c "from govsvc_host.idp import hash_secret; print(hash_secret('…'))"``.
    """
    if not secret:
        raise DirectoryError("cannot hash an empty secret; choose a password or client secret")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt:{_SCRYPT_N}:{_SCRYPT_R}:{_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse_hash(hashed: str) -> tuple[int, int, int, bytes, bytes]:
    try:
        params, salt, digest = hashed.split("$")
        scheme, n, r, p = params.split(":")
        if scheme != "scrypt":
            raise ValueError(scheme)
        return int(n), int(r), int(p), _unb64(salt), _unb64(digest)
    except ValueError:
        raise DirectoryError(
            f"{hashed[:20]!r}… is not a secret hash made by hash_secret "
            "(expected scrypt:N:r:p$salt$hash); hash the secret with govsvc_host.idp.hash_secret"
        ) from None


def verify_secret(secret: str, hashed: str) -> bool:
    """True if ``secret`` matches ``hashed`` (compared in constant time)."""
    n, r, p, salt, digest = _parse_hash(hashed)
    candidate = hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest)
    )
    return hmac.compare_digest(candidate, digest)


# --- users -----------------------------------------------------------------------------------

PERSON_ROLES = frozenset({PrincipalKind.APPLICANT, PrincipalKind.AGENT})
STAFF_ROLES = frozenset(
    {
        PrincipalKind.CLERK,
        PrincipalKind.REVIEWER,
        PrincipalKind.APPROVER,
        PrincipalKind.SUPERVISOR,
        PrincipalKind.CATALOGUE_ADMIN,
        PrincipalKind.SYSTEM_ADMIN,
    }
)
MACHINE_ROLES = frozenset({PrincipalKind.DEPARTMENT_SYSTEM, PrincipalKind.CHANNEL})
_AGENCY_ROLES = frozenset(
    {
        PrincipalKind.CLERK,
        PrincipalKind.REVIEWER,
        PrincipalKind.APPROVER,
        PrincipalKind.CATALOGUE_ADMIN,
    }
)


def _role(value: object) -> PrincipalKind:
    if isinstance(value, PrincipalKind):
        return value
    try:
        return PrincipalKind(value)
    except ValueError:
        known = ", ".join(k.value for k in (*PERSON_ROLES, *STAFF_ROLES, *MACHINE_ROLES))
        raise DirectoryError(f"unknown role {value!r}; use one of: {known}") from None


def _tuple(values: Iterable[str] | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        raise DirectoryError(f"give a list, not the single string {values!r}")
    return tuple(values)


def _credit(code: str, what: str) -> None:
    try:
        CreditCode.parse(code)
    except InvalidInput as exc:
        raise DirectoryError(f"{what}: {exc}") from None


@attrs.frozen(kw_only=True)
class DemoUser:
    """A person who can log in: a citizen, a business user or a member of staff.

    ``role`` is the :class:`govsvc.PrincipalKind` the host will build. ``acr`` is the
    assurance level the provider vouches for (``L1``..``L4``).
    """

    username: str
    sub: str
    name: str
    role: PrincipalKind = attrs.field(converter=_role)
    password_hash: str
    label: str = ""  # shown in the picker after the name, e.g. 个体经营者
    acr: str = "L2"
    phone_number: str = ""
    id_number: str = ""
    id_type: str = DocumentType.RESIDENT_ID.value
    credit_code: str = ""
    org_name: str = ""
    staff_id: str = ""
    agency: str = ""
    serves: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    hall: str = ""
    division: str = ""

    def __attrs_post_init__(self) -> None:
        for field in ("username", "sub", "name"):
            if not getattr(self, field).strip():
                raise DirectoryError(f"user {self.username!r}: {field} must not be empty")
        if self.acr not in C.ACR_VALUES:
            raise DirectoryError(
                f"user {self.username!r}: acr {self.acr!r} is not one of "
                f"{', '.join(C.ACR_VALUES)}"
            )
        _parse_hash(self.password_hash)
        if self.role in PERSON_ROLES:
            self._check_person()
        elif self.role in STAFF_ROLES:
            self._check_staff()
        else:
            raise DirectoryError(
                f"user {self.username!r}: role {self.role.value} is a machine's; machines log "
                "in as clients (client_credentials), not as users"
            )

    def _check_person(self) -> None:
        who = f"user {self.username!r}"
        if not self.id_number:
            raise DirectoryError(f"{who}: a citizen or business user needs id_number (一号)")
        try:
            if self.id_type == DocumentType.RESIDENT_ID.value:
                CitizenId.parse(self.id_number)
            else:
                PartyKey.for_document(self.id_type, self.id_number)
        except InvalidInput as exc:
            raise DirectoryError(f"{who}: {exc}") from None
        if self.role is PrincipalKind.AGENT:
            if not (self.credit_code and self.org_name):
                raise DirectoryError(
                    f"{who}: a business user (agent) needs credit_code and org_name of the "
                    "organisation they act for"
                )
            _credit(self.credit_code, who)
        elif self.credit_code or self.org_name:
            raise DirectoryError(
                f"{who}: a citizen (applicant) has no credit_code; make the user role = "
                "'agent' to act for an organisation"
            )
        if self.staff_id or self.agency or self.serves or self.hall or self.division:
            raise DirectoryError(f"{who}: staff fields (staff_id, agency, …) are for staff only")

    def _check_staff(self) -> None:
        who = f"user {self.username!r} ({self.role.value})"
        if not self.staff_id:
            raise DirectoryError(f"{who}: staff need staff_id (工号)")
        if self.role in _AGENCY_ROLES and not self.agency:
            raise DirectoryError(f"{who}: needs agency, the credit code of their agency")
        if self.agency:
            _credit(self.agency, who)
        for code in self.serves:
            _credit(code, f"{who} serves")
        if self.serves and self.role is not PrincipalKind.CLERK:
            raise DirectoryError(f"{who}: only clerks serve other agencies")
        if self.role is PrincipalKind.CLERK and not self.hall:
            raise DirectoryError(f"{who}: a clerk needs the hall they work in")
        if self.role is PrincipalKind.SUPERVISOR and not self.division:
            raise DirectoryError(f"{who}: a supervisor needs the division they watch")
        if self.division and not (self.division.isdigit() and len(self.division) in (6, 9, 12)):
            raise DirectoryError(f"{who}: division {self.division!r} is not a division code")
        if self.role is PrincipalKind.SYSTEM_ADMIN and (self.agency or self.division):
            raise DirectoryError(f"{who}: a system admin belongs to no agency or division")
        if self.id_number or self.credit_code:
            raise DirectoryError(
                f"{who}: staff log in as staff; give a person's id_number to a citizen account"
            )

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def assurance(self) -> Assurance:
        return C.ACR_VALUES[self.acr]

    def get_user_id(self) -> str:
        """authlib's user protocol: the subject identifier."""
        return self.sub

    def all_claims(self) -> dict[str, Any]:
        """Every claim of the user, before the scope filter (see :data:`claims.SCOPE_CLAIMS`)."""
        out: dict[str, Any] = {"sub": self.sub, "name": self.name}
        if self.phone_number:
            out["phone_number"] = self.phone_number
            out["phone_number_verified"] = True
        if self.role in PERSON_ROLES:
            out[C.ID_NUMBER] = self.id_number
            out[C.ID_TYPE] = self.id_type
            if self.role is PrincipalKind.AGENT:
                out[C.CREDIT_CODE] = self.credit_code
                out[C.ORG_NAME] = self.org_name
            # Citizens carry no govsvc_role: a province's provider does not know the host's
            # roles either, and the absent role means "applicant" by contract.
            if self.role is PrincipalKind.AGENT:
                out[C.ROLE] = self.role.value
            return out
        out[C.ROLE] = self.role.value
        out[C.STAFF_ID] = self.staff_id
        for key, value in (
            (C.AGENCY, self.agency),
            (C.SERVES, list(self.serves)),
            (C.HALL, self.hall),
            (C.DIVISION, self.division),
        ):
            if value:
                out[key] = value
        return out

    def claims_for(self, scope: str) -> dict[str, Any]:
        """The claims released for ``scope`` (a space-separated scope string)."""
        wanted = {c for s in scope.split() for c in C.SCOPE_CLAIMS.get(s, ())}
        return {k: v for k, v in self.all_claims().items() if k in wanted}


# --- clients ---------------------------------------------------------------------------------

_GRANTS = frozenset({"authorization_code", "refresh_token", "client_credentials"})


def _optional_role(value: object) -> PrincipalKind | None:
    return None if value is None else _role(value)


@attrs.frozen(kw_only=True)
class Client:
    """An application registered with the provider.

    Web applications (the host) use ``authorization_code`` (with PKCE, always) and may use
    ``refresh_token``; with no ``secret_hash`` they are public clients (no secret; PKCE
    alone binds the code). Machine clients (a department's system, a channel app) use
    ``client_credentials`` with a secret and get only the ``scopes`` listed; their ``role``
    is ``department_system`` (with ``agency``) or ``channel``.

    The methods are authlib's ``ClientMixin`` protocol.
    """

    client_id: str
    name: str
    secret_hash: str | None = None
    grant_types: tuple[str, ...] = attrs.field(default=("authorization_code",), converter=_tuple)
    scopes: tuple[str, ...] = attrs.field(default=("openid",), converter=_tuple)
    redirect_uris: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    post_logout_redirect_uris: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    role: PrincipalKind | None = attrs.field(default=None, converter=_optional_role)
    agency: str = ""

    def __attrs_post_init__(self) -> None:
        who = f"client {self.client_id!r}"
        if not self.client_id.strip() or not self.name.strip():
            raise DirectoryError(f"{who}: client_id and name must not be empty")
        unknown = set(self.grant_types) - _GRANTS
        if unknown or not self.grant_types:
            raise DirectoryError(
                f"{who}: grant types {sorted(unknown) or '(none)'} are not offered; use "
                f"{', '.join(sorted(_GRANTS))}"
            )
        if self.secret_hash is not None:
            _parse_hash(self.secret_hash)
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise DirectoryError(f"{who}: a web client needs at least one redirect_uri")
        if "client_credentials" in self.grant_types:
            if self.secret_hash is None:
                raise DirectoryError(f"{who}: a machine client needs a secret (secret_hash)")
            if self.role not in MACHINE_ROLES:
                raise DirectoryError(
                    f"{who}: a machine client needs role 'department_system' or 'channel'"
                )
            if self.role is PrincipalKind.DEPARTMENT_SYSTEM and not self.agency:
                raise DirectoryError(f"{who}: a department system needs agency (credit code)")
        elif self.role is not None:
            raise DirectoryError(f"{who}: only client_credentials clients have a role")
        if self.agency:
            _credit(self.agency, who)

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    # authlib's ClientMixin protocol ---------------------------------------------------------

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous registration has a default; with several, the RP must say which.
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return "openid" if "openid" in self.scopes else " ".join(self.scopes)
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match, as OAuth 2.1 requires

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret_hash is not None and verify_secret(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


# --- the directory ---------------------------------------------------------------------------


def _users(values: Iterable[DemoUser]) -> tuple[DemoUser, ...]:
    return tuple(values)


def _clients(values: Iterable[Client]) -> tuple[Client, ...]:
    return tuple(values)


@attrs.frozen
class Directory:
    """Users by username and by ``sub``, clients by id; unique names are checked."""

    users: tuple[DemoUser, ...] = attrs.field(converter=_users)
    clients: tuple[Client, ...] = attrs.field(converter=_clients)

    def __attrs_post_init__(self) -> None:
        for what, keys in (
            ("username", [u.username for u in self.users]),
            ("sub", [u.sub for u in self.users]),
            ("client_id", [c.client_id for c in self.clients]),
        ):
            seen: set[str] = set()
            for key in keys:
                if key in seen:
                    raise DirectoryError(f"{what} {key!r} appears twice in the directory")
                seen.add(key)

    def user(self, username: str) -> DemoUser | None:
        return next((u for u in self.users if u.username == username), None)

    def user_by_sub(self, sub: str) -> DemoUser | None:
        return next((u for u in self.users if u.sub == sub), None)

    def client(self, client_id: str) -> Client | None:
        return next((c for c in self.clients if c.client_id == client_id), None)

    def with_clients(self, *clients: Client) -> Directory:
        """This directory plus ``clients`` (e.g. the host's web client, registered in code)."""
        return Directory(self.users, (*self.clients, *clients))


def _build(cls: type[Any], table: Mapping[str, Any], where: str) -> Any:
    if not isinstance(table, Mapping):
        raise DirectoryError(f"{where}: expected a table, got {table!r}")
    allowed = {f.name for f in attrs.fields(cls)}
    unknown = set(table) - allowed
    if unknown:
        raise DirectoryError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    try:
        return cls(**table)
    except DirectoryError as exc:
        raise DirectoryError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise DirectoryError(f"{where}: {exc}") from None


def parse_directory(text: str, *, source: str = "directory") -> Directory:
    """Parse a directory from TOML text (``[[users]]`` and ``[[clients]]`` tables)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError(f"{source} is not valid TOML: {exc}") from None
    unknown = set(data) - {"users", "clients"}
    if unknown:
        raise DirectoryError(f"{source}: unknown sections {sorted(unknown)}; use users, clients")
    users = [
        _build(DemoUser, t, f"{source} users[{i}] ({t.get('username', '?')})")
        for i, t in enumerate(data.get("users", []))
    ]
    clients = [
        _build(Client, t, f"{source} clients[{i}] ({t.get('client_id', '?')})")
        for i, t in enumerate(data.get("clients", []))
    ]
    try:
        return Directory(users, clients)
    except DirectoryError as exc:
        raise DirectoryError(f"{source}: {exc}") from None


def load_directory(path: str | Path | None = None) -> Directory:
    """Load a directory file; with no path, the packaged demo users and clients."""
    if path is None:
        text = resources.files("govsvc_host.idp").joinpath("demo.toml").read_text("utf-8")
        return parse_directory(text, source="demo.toml")
    file = Path(path)
    return parse_directory(file.read_text("utf-8"), source=str(file))
