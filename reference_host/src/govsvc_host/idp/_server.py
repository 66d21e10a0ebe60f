"""authlib's authorization server, its grants and stores, adapted to Starlette by hand.

authlib ships server integrations for Flask and Django only. Both rely on a request that is
readable synchronously (``flask.request.form``); Starlette reads bodies with ``await``. So the
adaptation here is: the route reads the body first, then hands authlib a finished
:class:`ProviderRequest` (an ``OAuth2Request`` over plain dicts), and
:meth:`_Server.handle_response` turns authlib's ``(status, body, headers)`` into a Starlette
response. Everything protocol-related (PKCE, code binding, client authentication, scopes,
ID token contents) stays authlib's code.

The stores live in memory: this provider is for the demo and the tests, and a restart
logging everybody out is the right behaviour for both.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs
from authlib.common.security import generate_token
from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc6749.resource_protector import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from joserfc import jwt
from starlette.responses import JSONResponse, Response

from govsvc_host import claims as C
from govsvc_host.idp._directory import Client, DemoUser, Directory
from govsvc_host.idp._keys import SigningKey

__all__ = ["Clock", "Lifetimes", "ProviderCore", "ProviderRequest", "Session"]

Clock = Callable[[], dt.datetime]
"""Returns the current time as an aware datetime (``govsvc.testing.FakeClock`` fits)."""

STANDARD_SCOPES = ("openid", "profile", "phone", C.GOVSVC_SCOPE)
_CLIENT_AUTH = ["client_secret_basic", "client_secret_post", "none"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class Lifetimes:
    """How long things live, in seconds."""

    code: int = 600  # RFC 6749 §4.1.2: "a maximum authorization code lifetime of 10 minutes"
    id_token: int = 600
    access_token: int = 1800
    refresh_token: int = 8 * 3600  # a working day at the counter
    machine_token: int = 1800
    session: int = 8 * 3600  # the provider's own login session (SSO)


# --- requests --------------------------------------------------------------------------------


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._data = dict(items)  # the first value wins only if repeated; datalist sees all
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class ProviderRequest(OAuth2Request):  # type: ignore[misc]
    """An ``OAuth2Request`` whose body was already read (see the module docstring).

    ``session`` is the provider's login session found from the cookie, for the grants.
    """

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
        *,
        session: Session | None = None,
    ) -> None:
        super().__init__(method=method, uri=uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = _Payload([*query, *form])
        self.session = session

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


# --- stored records --------------------------------------------------------------------------


@attrs.define(kw_only=True)
class Session:
    """The provider's own login session (统一身份认证 single sign-on), kept server side.

    ``cookie`` is the secret the browser holds; ``sid`` is the public session id put into
    ID tokens (OIDC ``sid``), so that a logout naming the ID token ends this session.
    """

    cookie: str
    sid: str
    user: DemoUser
    auth_time: int
    amr: tuple[str, ...]
    expires_at: float


@attrs.define(kw_only=True)
class _Code:
    """An issued authorization code (authlib's ``AuthorizationCodeMixin`` protocol)."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: DemoUser
    nonce: str | None
    auth_time: int
    acr: str
    amr: tuple[str, ...]
    code_challenge: str
    code_challenge_method: str
    expires_at: float
    sid: str
    used: bool = False

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.amr)


@attrs.define(kw_only=True)
class _Token:
    """An issued access token and its refresh token (authlib's ``TokenMixin`` protocol)."""

    access_token: str
    refresh_token: str | None
    client: Client
    user: DemoUser | None
    scope: str
    issued_at: float
    expires_in: int
    refresh_expires_at: float
    sid: str | None
    code: str | None
    clock: Clock = attrs.field(repr=False)
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return self.clock().timestamp() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> DemoUser | None:
        return self.user

    def get_client(self) -> Client:
        return self.client


# --- grants ----------------------------------------------------------------------------------


def _core(grant: Any) -> ProviderCore:
    core: ProviderCore = grant.server.core
    return core


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH

    def save_authorization_code(self, code: str, request: ProviderRequest) -> None:
        _core(self).save_code(code, request)

    def query_authorization_code(self, code: str, client: Client) -> _Code | None:
        return _core(self).redeemable_code(code, client)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        # Kept as a used tombstone until it expires, so that a second use is recognised
        # (and revokes what the first produced, RFC 6749 §4.1.2) rather than just unknown.
        authorization_code.used = True

    def authenticate_user(self, authorization_code: _Code) -> DemoUser:
        return authorization_code.user


class _RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate: a stolen refresh token works at most once

    def authenticate_refresh_token(self, refresh_token: str) -> _Token | None:
        return _core(self).refreshable_token(refresh_token)

    def authenticate_user(self, refresh_token: _Token) -> DemoUser | None:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: _Token) -> None:
        refresh_token.revoked = True


class _MachineGrant(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def validate_requested_scope(self) -> None:
        # authlib checks the scope against the server's list only; a machine client must get
        # nothing beyond what it was registered for, and hear so rather than get less.
        client: Client = self.request.client
        requested = set((self.request.payload.scope or "").split())
        extra = requested - set(client.scopes)
        if extra:
            raise InvalidScopeError(
                f"client {client.client_id} may not request {' '.join(sorted(extra))}; "
                f"it is registered for: {' '.join(client.scopes)}"
            )


class _PkceS256(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, public or confidential, and only the S256 method.

    authlib's ``CodeChallenge(required=True)`` insists on a verifier only from public
    clients and accepts ``plain``; OAuth 2.1 and the 统一身份认证 guidance want it always.
    """

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send code_challenge and code_challenge_method=S256"
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "code_challenge_method must be S256 (plain is not accepted)"
            )
        super().validate_code_challenge(grant, redirect_uri)


class _OpenIDCode(OpenIDCode):  # type: ignore[misc]
    def __init__(self, core: ProviderCore) -> None:
        super().__init__(require_nonce=False)
        self.core = core

    def exists_nonce(self, nonce: str, request: ProviderRequest) -> bool:
        return self.core.nonce_seen(request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: Client) -> Any:
        return self.core.key.key

    def get_client_algorithm(self, client: Client) -> str:
        return self.core.key.alg

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return self.core.key.header

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        # authlib falls back to time.time(); the provider's clock decides, so tests can age it.
        now = self.core.now()
        return {
            "iss": self.core.issuer,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": now + self.core.lifetimes.id_token,
        }

    def get_authorization_code_claims(self, authorization_code: _Code) -> dict[str, Any]:
        # The code's session id goes in as OIDC "sid", so a logout naming this ID token
        # (id_token_hint) ends that session even where the browser's cookie is gone.
        found: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        found["sid"] = authorization_code.sid
        return found

    def generate_user_info(self, user: DemoUser, scope: str) -> UserInfo:
        return UserInfo(user.claims_for(scope))


class _BearerValidator(BearerTokenValidator):  # type: ignore[misc]
    def __init__(self, core: ProviderCore) -> None:
        super().__init__()
        self.core = core

    def authenticate_token(self, token_string: str) -> _Token | None:
        return self.core.token(token_string)


class _UserInfo(UserInfoEndpoint):  # type: ignore[misc]
    """authlib's UserInfo endpoint, minus its Flask-only token lookup.

    ``UserInfoEndpoint.__call__`` asks ``resource_protector.acquire_token("openid")``, which
    only Flask's protector has (it reads ``flask.request``); the framework-neutral protector
    validates the request it is given.
    """

    def __init__(self, core: ProviderCore) -> None:
        protector = ResourceProtector()
        protector.register_token_validator(_BearerValidator(core))
        super().__init__(resource_protector=protector)
        self.core = core

    def __call__(self, request: ProviderRequest) -> tuple[int, Any, list[tuple[str, str]]]:
        token: _Token = self.resource_protector.validate_request(["openid"], request)
        if token.user is None:  # pragma: no cover - machine tokens lack "openid", refused above
            raise InvalidRequestError("a machine token has no user information")
        return 200, self.generate_user_info(token.user, token.scope), default_json_headers

    def generate_user_info(self, user: DemoUser, scope: str) -> UserInfo:
        return UserInfo(user.claims_for(scope))

    def get_issuer(self) -> str:
        return self.core.issuer


class _EndSession(EndSessionEndpoint):  # type: ignore[misc]
    def __init__(self, core: ProviderCore) -> None:
        super().__init__()
        self.core = core

    def get_server_jwks(self) -> dict[str, Any]:
        return self.core.key.public_jwks()

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        request: ProviderRequest = end_session_request.request
        hinted = (end_session_request.id_token_claims or {}).get("sid")
        self.core.end_session(request.session, hinted_sid=hinted)


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, core: ProviderCore) -> None:
        super().__init__()
        self.core = core
        self.register_token_generator("default", core.generate_token)
        self.register_grant(_CodeGrant, [_PkceS256(), _OpenIDCode(core)])
        self.register_grant(_RefreshGrant)
        self.register_grant(_MachineGrant)
        self.register_endpoint(_UserInfo(core))
        self.register_endpoint(_EndSession(core))

    def query_client(self, client_id: str) -> Client | None:
        return self.core.directory.client(client_id)

    def save_token(self, token: dict[str, Any], request: ProviderRequest) -> None:
        self.core.save_token(token, request)

    def validate_requested_scope(self, scope: str | None) -> None:
        known = self.core.scopes_supported()
        unknown = set((scope or "").split()) - set(known)
        if unknown:
            raise InvalidScopeError(
                f"unknown scope {' '.join(sorted(unknown))}; this provider offers "
                f"{' '.join(known)}"
            )

    def create_oauth2_request(self, request: Any) -> ProviderRequest:
        if not isinstance(request, ProviderRequest):  # pragma: no cover - a wiring mistake
            raise TypeError("read the body first and pass a ProviderRequest (see module doc)")
        return request

    def create_json_request(self, request: Any) -> Any:  # pragma: no cover
        # authlib asks for this only for JSON endpoints (dynamic client registration), which
        # this provider does not offer: a request for one is refused as an OAuth2 error.
        raise InvalidRequestError(
            "this provider offers no JSON endpoints (dynamic client registration); clients "
            "are registered in its configuration"
        )

    def handle_response(
        self, status: int, body: Any, headers: list[tuple[str, str]]
    ) -> Response:
        if isinstance(body, dict):
            plain = {k: v for k, v in headers if k.lower() != "content-type"}
            return JSONResponse(body, status_code=status, headers=plain)
        return Response(body or b"", status_code=status, headers=dict(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """authlib's hook for framework signals (Flask blinker); nothing listens here."""


# --- the core --------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class ProviderCore:
    """The provider's state and authlib server; the Starlette routes sit on top of it."""

    directory: Directory
    key: SigningKey
    clock: Clock
    lifetimes: Lifetimes
    issuer: str = ""
    api_audience: str = "govsvc-api"
    _codes: dict[str, _Code] = attrs.field(factory=dict)
    _tokens: dict[str, _Token] = attrs.field(factory=dict)
    _refresh: dict[str, _Token] = attrs.field(factory=dict)
    _sessions: dict[str, Session] = attrs.field(factory=dict)
    _nonces: set[tuple[str, str]] = attrs.field(factory=set)
    _lock: threading.RLock = attrs.field(factory=threading.RLock)
    server: _Server = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.server = _Server(self)

    def now(self) -> int:
        return int(self.clock().timestamp())

    def scopes_supported(self) -> list[str]:
        found = list(STANDARD_SCOPES)
        for client in self.directory.clients:
            found.extend(s for s in client.scopes if s not in found)
        return found

    # sessions ------------------------------------------------------------------------------

    def start_session(self, user: DemoUser, amr: tuple[str, ...]) -> Session:
        now = self.now()
        session = Session(
            cookie=secrets.token_urlsafe(32),
            sid=secrets.token_urlsafe(16),
            user=user,
            auth_time=now,
            amr=amr,
            expires_at=now + self.lifetimes.session,
        )
        with self._lock:
            self._sessions[session.cookie] = session
        return session

    def session(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        with self._lock:
            session = self._sessions.get(cookie)
            if session is not None and session.expires_at <= self.now():
                del self._sessions[cookie]
                return None
            return session

    def end_session(self, session: Session | None, *, hinted_sid: str | None = None) -> None:
        """End the browser's session and the one the ID token names; revoke their tokens."""
        with self._lock:
            ended = {s.sid for s in (session,) if s is not None}
            if hinted_sid:
                ended.add(hinted_sid)
            for cookie in [c for c, s in self._sessions.items() if s.sid in ended]:
                del self._sessions[cookie]
            for token in self._tokens.values():
                if token.sid in ended:
                    token.revoked = True

    # codes ---------------------------------------------------------------------------------

    def save_code(self, code: str, request: ProviderRequest) -> None:
        session = request.session
        if session is None:  # pragma: no cover - the routes always log in first
            raise InvalidRequestError("no login session for this authorization")
        data = request.payload.data
        nonce = data.get("nonce")
        record = _Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=data.get("redirect_uri") or "",
            scope=request.scope,
            user=request.user,
            nonce=nonce,
            auth_time=session.auth_time,
            acr=session.user.acr,
            amr=session.amr,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            expires_at=self.now() + self.lifetimes.code,
            sid=session.sid,
        )
        with self._lock:
            self._purge()
            self._codes[code] = record
            if nonce:
                self._nonces.add((record.client_id, nonce))

    def redeemable_code(self, code: str, client: Client) -> _Code | None:
        with self._lock:
            record = self._codes.get(code)
            if record is None or record.client_id != client.client_id:
                return None
            if record.used:
                for token in self._tokens.values():
                    if token.code == code:
                        token.revoked = True
                return None
            if record.expires_at <= self.now():
                return None
            return record

    def nonce_seen(self, client_id: str, nonce: str) -> bool:
        with self._lock:
            return (client_id, nonce) in self._nonces

    def _purge(self) -> None:
        now = self.now()
        for code in [c for c, r in self._codes.items() if r.expires_at <= now]:
            record = self._codes.pop(code)
            if record.nonce:
                self._nonces.discard((record.client_id, record.nonce))

    # tokens --------------------------------------------------------------------------------

    def generate_token(
        self,
        grant_type: str,
        client: Client,
        user: DemoUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        """authlib's token generator protocol: RFC 9068 JWT access tokens.

        JWTs let the host verify a department system's or channel app's token with the
        published JWKS alone; the provider still records every token, so a logout revokes.
        """
        granted = client.get_allowed_scope(scope)
        now = self.now()
        machine = grant_type == "client_credentials"
        lifetime = expires_in or (
            self.lifetimes.machine_token if machine else self.lifetimes.access_token
        )
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.sub if user else client.client_id,
            "aud": self.api_audience if machine else client.client_id,
            "client_id": client.client_id,
            "scope": granted,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_urlsafe(16),
        }
        if machine and client.role is not None:
            payload[C.ROLE] = client.role.value
            payload[C.CLIENT_NAME] = client.name
            if client.agency:
                payload[C.AGENCY] = client.agency
        header = {**self.key.header, "typ": "at+jwt"}
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": jwt.encode(header, payload, self.key.key),
            "expires_in": lifetime,
            "scope": granted,
        }
        if include_refresh_token:
            token["refresh_token"] = generate_token(48)
        return token

    def save_token(self, token: dict[str, Any], request: ProviderRequest) -> None:
        code: _Code | None = request.authorization_code
        previous: _Token | None = request.refresh_token
        sid = code.sid if code else (previous.sid if previous else None)
        now = self.clock().timestamp()
        record = _Token(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            client=request.client,
            user=request.user,
            scope=token.get("scope", ""),
            issued_at=now,
            expires_in=int(token["expires_in"]),
            refresh_expires_at=now + self.lifetimes.refresh_token,
            sid=sid,
            code=code.code if code else (previous.code if previous else None),
            clock=self.clock,
        )
        with self._lock:
            self._tokens[record.access_token] = record
            if record.refresh_token:
                self._refresh[record.refresh_token] = record

    def token(self, access_token: str) -> _Token | None:
        with self._lock:
            return self._tokens.get(access_token)

    def refreshable_token(self, refresh_token: str) -> _Token | None:
        with self._lock:
            record = self._refresh.get(refresh_token)
            if record is None or record.revoked:
                return None
            if record.refresh_expires_at <= self.clock().timestamp():
                return None
            return record

    # discovery -----------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The OpenID Provider Metadata (OIDC Discovery 1.0, RP-Initiated Logout 1.0)."""
        iss = self.issuer
        claims = sorted(
            {c for names in C.SCOPE_CLAIMS.values() for c in names}
            | {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid"}
        )
        return {
            "issuer": iss,
            "authorization_endpoint": f"{iss}/authorize",
            "token_endpoint": f"{iss}/token",
            "userinfo_endpoint": f"{iss}/userinfo",
            "jwks_uri": f"{iss}/jwks.json",
            "end_session_endpoint": f"{iss}/logout",
            "scopes_supported": self.scopes_supported(),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.key.alg],
            "token_endpoint_auth_methods_supported": list(_CLIENT_AUTH),
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": claims,
            "acr_values_supported": list(C.ACR_VALUES),
            "prompt_values_supported": ["none", "login", "select_account"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "ui_locales_supported": ["zh-CN"],
        }

    def metadata_json(self) -> str:
        return json.dumps(self.metadata(), ensure_ascii=False)
