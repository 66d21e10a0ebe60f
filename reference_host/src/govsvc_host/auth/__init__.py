"""How the host logs people in (统一身份认证): the relying party and the claims mapping.

Mount the router, and every login ends with a :class:`govsvc.Principal`::

    from starlette.middleware.sessions import SessionMiddleware
    from govsvc_host.auth import RelyingParty, login_router, current_principal

    rp = RelyingParty(issuer="http://127.0.0.1:8180", client_id="govsvc-host",
                      client_secret=..., name="hrb-idp")
    app.include_router(login_router(rp, on_login=remember))
    app.add_middleware(SessionMiddleware, secret_key=...)

:func:`principal_from_claims` is the pure mapping from verified claims (the contract in
:mod:`govsvc_host.claims`) to a principal of the right kind; it raises :class:`ClaimsError`
rather than build half a principal.
"""

from govsvc_host.auth._claims import (
    ClaimsError,
    LoginFailed,
    principal_from_claims,
    principal_from_machine_claims,
)
from govsvc_host.auth._router import SESSION_KEY, current_principal, login_router
from govsvc_host.auth._rp import IdTokenRejected, LoginResult, PendingLogin, RelyingParty

__all__ = [
    "SESSION_KEY",
    "ClaimsError",
    "IdTokenRejected",
    "LoginFailed",
    "LoginResult",
    "PendingLogin",
    "RelyingParty",
    "current_principal",
    "login_router",
    "principal_from_claims",
    "principal_from_machine_claims",
]
