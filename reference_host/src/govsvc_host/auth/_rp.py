"""The relying party: OpenID Connect authorization code flow with PKCE, from the host's side.

authlib's protocol pieces do the work — PKCE (``create_s256_code_challenge``), the
authorization URL, provider metadata validation, ID token claims (``CodeIDToken``) and JOSE
(joserfc) — over the project's own httpx client. authlib's ready-made clients
(``starlette_client.OAuth``, ``httpx_client.AsyncOAuth2Client``) are not used, because:

* they now prefer the ``httpx2`` package and fall back to ``httpx`` with a deprecation
  warning, so an httpx transport (the project's test seam) would stop fitting the day
  ``httpx2`` is installed next to it;
* their ID token check reads the wall clock (``time.time()``): an expiry cannot be tested
  with an injected clock;
* they check ``aud`` only through ``azp`` unless the caller passes claim options.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import attrs
import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc import discovery, rpinitiated
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from govsvc import Assurance, Principal
from govsvc_host import claims as C
from govsvc_host.auth._claims import (
    ClaimsError,
    LoginFailed,
    principal_from_claims,
    principal_from_machine_claims,
)

__all__ = ["IdTokenRejected", "LoginResult", "PendingLogin", "RelyingParty"]

Clock = Callable[[], dt.datetime]

_SIGNING_ALGORITHMS = ("RS256", "ES256")  # never "none", never HMAC with a public secret
_PENDING_LIFETIME = 600  # a login left at the provider's page longer than this starts over


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class IdTokenRejected(LoginFailed):
    """The ID token (or an access token) failed a check: signature, issuer, audience,
    expiry or nonce. The message names which."""

    def __init__(self, message: str) -> None:
        super().__init__("id_token", message)


@attrs.frozen(kw_only=True)
class PendingLogin:
    """What the relying party remembers between the redirect and the callback.

    Keep it server side or in a signed session (the router uses ``request.session``): the
    code verifier is what makes a stolen authorization code useless.
    """

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    return_to: str
    started_at: float

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingLogin:
        try:
            return cls(**{f.name: data[f.name] for f in attrs.fields(cls)})
        except (KeyError, TypeError):
            raise LoginFailed(
                "state", "the stored login is unreadable; start the login again"
            ) from None


@attrs.frozen(kw_only=True)
class LoginResult:
    """A completed login: the principal, the verified claims and the tokens.

    ``claims`` are the ID token's claims with the UserInfo response's added (after
    ``map_claims``): what :func:`principal_from_claims` was given. Keep
    ``id_token`` for logout (``id_token_hint``); ``access_token`` calls UserInfo again.
    """

    principal: Principal
    claims: Mapping[str, Any]
    id_token: str
    access_token: str
    refresh_token: str | None
    expires_at: float
    return_to: str


class RelyingParty:
    """The host's OpenID Connect client for one provider.

    ``client_secret`` None makes a public client (PKCE alone binds the code). ``name`` is the
    provider's name in every :class:`govsvc.Authentication`. A province whose provider names
    claims its own way passes ``map_claims`` (verified claims → the contract of
    :mod:`govsvc_host.claims`) and ``acr_values``. ``clock`` and ``leeway`` (seconds of clock
    skew tolerated) decide token expiry; ``transport`` is the httpx seam.
    """

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        name: str = "idp",
        redirect_uri: str = "",
        post_logout_redirect_uri: str = "",
        scope: str = f"openid profile phone {C.GOVSVC_SCOPE}",
        acr_values: Mapping[str, Assurance] = C.ACR_VALUES,
        map_claims: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
        clock: Clock = _utcnow,
        leeway: int = 60,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.name = name
        self.redirect_uri = redirect_uri
        self.post_logout_redirect_uri = post_logout_redirect_uri
        self.scope = scope
        self.acr_values = dict(acr_values)
        self.map_claims = map_claims
        self.clock = clock
        self.leeway = leeway
        self._transport = transport
        self._timeout = timeout
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None

    # --- HTTP --------------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._transport, timeout=self._timeout)

    async def _get_json(self, url: str, *, what: str, reason: str) -> dict[str, Any]:
        try:
            async with self._client() as client:
                response = await client.get(url)
        except httpx.HTTPError as exc:
            raise LoginFailed(reason, f"{what} at {url} is unreachable: {exc}") from None
        return self._json(response, what=what, reason=reason)

    @staticmethod
    def _json(response: httpx.Response, *, what: str, reason: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400 or not isinstance(data, dict):
            detail = ""
            if isinstance(data, dict):
                detail = f" {data.get('error', '')}: {data.get('error_description', '')}"
            raise LoginFailed(
                reason, f"{what} answered HTTP {response.status_code}{detail}".rstrip(": ")
            )
        return data

    # --- discovery and keys ------------------------------------------------------------------

    async def metadata(self) -> dict[str, Any]:
        """The provider's metadata, fetched once and checked (issuer, endpoints, PKCE)."""
        if self._metadata is not None:
            return self._metadata
        url = f"{self.issuer}/.well-known/openid-configuration"
        data = await self._get_json(url, what="the provider's discovery document",
                                    reason="discovery")
        # OIDC Discovery §4.3: the issuer in the document must be the one we asked, or a
        # look-alike provider could hand out another's endpoints.
        if data.get("issuer") != self.issuer:
            raise LoginFailed(
                "discovery",
                f"the discovery document at {url} names issuer {data.get('issuer')!r}, not "
                f"{self.issuer!r}; configure the issuer exactly as the provider states it",
            )
        try:
            discovery.OpenIDProviderMetadata(data).validate(
                metadata_classes=[rpinitiated.OpenIDProviderMetadata]
            )
        except (ValueError, JoseError) as exc:
            raise LoginFailed("discovery", f"the provider's metadata is invalid: {exc}") from None
        if "S256" not in data.get("code_challenge_methods_supported", []):
            raise LoginFailed(
                "discovery",
                "the provider does not announce PKCE S256 (code_challenge_methods_supported); "
                "the host logs in only with PKCE",
            )
        self._metadata = data
        return data

    async def key_set(self, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys (JWKS), cached; ``refresh`` after a key rotation."""
        if self._keys is None or refresh:
            meta = await self.metadata()
            data = await self._get_json(meta["jwks_uri"], what="the provider's JWKS",
                                        reason="discovery")
            try:
                self._keys = KeySet.import_key_set(data)  # type: ignore[arg-type]
            except (ValueError, JoseError) as exc:
                raise LoginFailed("discovery", f"the provider's JWKS is unusable: {exc}") from None
        return self._keys

    async def _decode(self, token: str, *, what: str) -> jwt.Token:
        meta = await self.metadata()
        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        registry = JWSRegistry(algorithms=[a for a in offered if a in _SIGNING_ALGORITHMS])
        for attempt in (False, True):
            keys = await self.key_set(refresh=attempt)
            try:
                return jwt.decode(token, keys, registry=registry)
            except (InvalidKeyIdError, BadSignatureError):
                if attempt:
                    break  # a fresh JWKS did not help either: the signature is bad
            except (JoseError, ValueError) as exc:
                raise IdTokenRejected(f"the {what} is malformed or uses an unaccepted "
                                      f"algorithm: {exc}") from None
        raise IdTokenRejected(
            f"the {what}'s signature does not verify with the provider's published keys "
            f"({meta['jwks_uri']}); it was altered or not issued by {self.issuer}"
        )

    # --- the flow ----------------------------------------------------------------------------

    async def begin(
        self, *, return_to: str = "/", redirect_uri: str = "", prompt: str = ""
    ) -> tuple[str, PendingLogin]:
        """The URL to send the browser to, and what to remember until the callback."""
        meta = await self.metadata()
        target = redirect_uri or self.redirect_uri
        if not target:
            raise LoginFailed("state", "no redirect_uri: configure the host's callback URL")
        pending = PendingLogin(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(64),  # 86 characters, within RFC 7636's 43-128
            redirect_uri=target,
            return_to=return_to,
            started_at=self.clock().timestamp(),
        )
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": target,
            "scope": self.scope,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": create_s256_code_challenge(pending.code_verifier),
            "code_challenge_method": "S256",
        }
        if prompt:
            params["prompt"] = prompt
        url: str = add_params_to_uri(meta["authorization_endpoint"], params)
        return url, pending

    async def complete(
        self, pending: PendingLogin | None, params: Mapping[str, str]
    ) -> LoginResult:
        """Finish a login from the callback's query parameters.

        Checks the state against ``pending``, exchanges the code with the PKCE verifier,
        validates the ID token (signature by JWKS, issuer, audience, expiry, nonce, at_hash),
        fetches UserInfo (its ``sub`` must match) and maps the claims to a principal.
        Raises :class:`LoginFailed` (or :class:`IdTokenRejected`, :class:`ClaimsError`).
        """
        state = params.get("state", "")
        if pending is None or not state or not secrets.compare_digest(state, pending.state):
            raise LoginFailed(
                "state",
                "the callback's state does not match a login started in this browser "
                "(a forged or replayed callback, or the session expired); log in again",
            )
        if self.clock().timestamp() - pending.started_at > _PENDING_LIFETIME:
            raise LoginFailed("state", "the login took too long; start it again")
        if params.get("error"):
            raise LoginFailed(
                "provider",
                f"the provider refused the login: {params['error']} "
                f"{params.get('error_description', '')}".strip(),
            )
        code = params.get("code")
        if not code:
            raise LoginFailed("provider", "the callback carries neither a code nor an error")
        tokens = await self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending.redirect_uri,
                "code_verifier": pending.code_verifier,
            }
        )
        id_token = tokens.get("id_token")
        access_token = tokens.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise LoginFailed("token", "the token response lacks id_token or access_token")
        claims = await self.validate_id_token(
            id_token, nonce=pending.nonce, access_token=access_token
        )
        info = await self.userinfo(access_token)
        merged = _merge(claims, info)
        if self.map_claims is not None:
            merged = dict(self.map_claims(merged))
        principal = principal_from_claims(merged, provider=self.name, acr_values=self.acr_values)
        expires_in = tokens.get("expires_in")
        now = self.clock().timestamp()
        return LoginResult(
            principal=principal,
            claims=merged,
            id_token=id_token,
            access_token=access_token,
            refresh_token=tokens.get("refresh_token"),
            expires_at=now + expires_in if isinstance(expires_in, int) else now,
            return_to=pending.return_to,
        )

    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        meta = await self.metadata()
        headers: dict[str, str] = {"Accept": "application/json"}
        if self._secret is None:
            form = {**form, "client_id": self.client_id}
        else:
            # RFC 6749 §2.3.1: form-encode the id and secret before Basic encoding them.
            pair = f"{quote(self.client_id, safe='')}:{quote(self._secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            async with self._client() as client:
                response = await client.post(meta["token_endpoint"], data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise LoginFailed("token", f"the token endpoint is unreachable: {exc}") from None
        return self._json(response, what="the token endpoint", reason="token")

    async def validate_id_token(
        self, id_token: str, *, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """The ID token's claims once signature, iss, aud, exp, iat, nonce and at_hash hold."""
        token = await self._decode(id_token, what="ID token")
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": self.client_id},
            "sub": {"essential": True},
            "nonce": {"essential": True, "value": nonce},
        }
        params: dict[str, Any] = {"nonce": nonce, "client_id": self.client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(token.claims, token.header, options, params)
        try:
            claims.validate(now=int(self.clock().timestamp()), leeway=self.leeway)
        except JoseError as exc:
            raise IdTokenRejected(_explain(exc, what="ID token")) from None
        return dict(claims)

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        """The UserInfo response for ``access_token``."""
        meta = await self.metadata()
        try:
            async with self._client() as client:
                response = await client.get(
                    meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {access_token}"}
                )
        except httpx.HTTPError as exc:
            raise LoginFailed("userinfo", f"the UserInfo endpoint is unreachable: {exc}") from None
        return self._json(response, what="the UserInfo endpoint", reason="userinfo")

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """A new access token (and rotated refresh token) for ``refresh_token``."""
        return await self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )

    async def logout_url(
        self, *, id_token_hint: str, state: str, post_logout_redirect_uri: str = ""
    ) -> str:
        """The provider's end-session URL (RP-initiated logout) for this login."""
        meta = await self.metadata()
        params = {"id_token_hint": id_token_hint, "client_id": self.client_id, "state": state}
        target = post_logout_redirect_uri or self.post_logout_redirect_uri
        if target:
            params["post_logout_redirect_uri"] = target
        url: str = add_params_to_uri(meta["end_session_endpoint"], params)
        return url

    # --- machine tokens ----------------------------------------------------------------------

    async def machine_principal(self, access_token: str, *, audience: str) -> Principal:
        """The principal of a department system's or channel app's bearer token.

        Verifies the RFC 9068 JWT (``typ`` at+jwt, signature, issuer, ``aud`` = the host's
        API ``audience``, expiry) and maps it with :func:`principal_from_machine_claims`.
        """
        token = await self._decode(access_token, what="access token")
        if token.header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
            raise IdTokenRejected("the bearer token is not a JWT access token (typ at+jwt)")
        registry = jwt.JWTClaimsRegistry(
            now=int(self.clock().timestamp()),
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            client_id={"essential": True},
        )
        try:
            registry.validate(token.claims)
        except JoseError as exc:
            raise IdTokenRejected(_explain(exc, what="access token")) from None
        return principal_from_machine_claims(token.claims, provider=self.name)


def _merge(id_claims: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    # OIDC Core §5.3.2: UserInfo's sub must be the ID token's, or the response is another
    # user's. Where both carry a claim they must agree; the signed ID token is the reference.
    if info.get("sub") != id_claims.get("sub"):
        raise ClaimsError(
            f"UserInfo is for sub {info.get('sub')!r}, the ID token for "
            f"{id_claims.get('sub')!r}; the responses belong to different users"
        )
    merged = dict(id_claims)
    for key, value in info.items():
        if key in merged and merged[key] != value:
            raise ClaimsError(
                f"claim {key!r} differs between the ID token and UserInfo "
                f"({merged[key]!r} vs {value!r}); the provider is inconsistent"
            )
        merged.setdefault(key, value)
    return merged


def _explain(exc: JoseError, *, what: str) -> str:
    if isinstance(exc, ExpiredTokenError):
        return f"the {what} has expired (exp has passed, leeway included); log in again"
    if isinstance(exc, MissingClaimError):
        return f"the {what} lacks the claim {exc.claim!r}"
    if isinstance(exc, ClaimError):
        return f"the {what}'s claim {exc.claim!r} is wrong: {exc.description}"
    return f"the {what} is invalid: {exc.description or exc.error}"
