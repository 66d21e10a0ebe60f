"""What keeps the web side safe: CSRF tokens, login idle time, rate limits, API tokens.

* **CSRF**: one random token per browser session (synchronizer token pattern), in every form
  as ``csrf_token`` and compared in constant time on every unsafe request; API calls that
  ride on the browser's cookie send it as ``X-CSRF-Token``. Bearer-token API calls need none
  (no ambient credential a foreign page could use).
* **Cookies**: Starlette's signed session cookie, ``HttpOnly``, ``SameSite=Lax``, ``Secure``
  when the host is behind TLS (``base_url`` https, or ``cookie_secure = true``).
* **Idle time**: a login unused for ``session_idle_minutes`` ends; an unsafe request that
  arrives after that keeps its form fields as a draft and returns to the login.
* **Rate limits**: the ``limits`` library (moving window, in memory). In memory is right for
  one process; behind several host processes each counts on its own, so the effective limit
  is N times the setting (point ``limits`` at Redis or Memcached to share — a one-line
  change of storage URI, documented in docs/deployment.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import limits
from starlette.requests import Request

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "RateLimiter",
    "client_address",
    "csrf_token",
    "hash_api_token",
    "new_api_token",
    "valid_csrf",
]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_CSRF_KEY = "govsvc_host.csrf"
API_TOKEN_PREFIX = "gst_"


def csrf_token(request: Request) -> str:
    """This browser session's CSRF token (made on first use)."""
    session: dict[str, Any] = request.session
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str) or len(token) < 20:
        token = secrets.token_urlsafe(32)
        session[_CSRF_KEY] = token
    return token


def valid_csrf(request: Request, presented: str | None) -> bool:
    expected = request.session.get(_CSRF_KEY)
    if not isinstance(expected, str) or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def rotate_csrf(request: Request) -> None:
    request.session[_CSRF_KEY] = secrets.token_urlsafe(32)


def client_address(request: Request) -> str:
    # Behind a reverse proxy, run uvicorn with --proxy-headers so this is the client's.
    return request.client.host if request.client else "unknown"


class RateLimiter:
    """Named limits (``"20/minute"``) per key, on a moving window in memory."""

    def __init__(self, storage_uri: str = "memory://") -> None:
        self._storage = limits.storage.storage_from_string(storage_uri)
        self._limiter = limits.strategies.MovingWindowRateLimiter(self._storage)

    def hit(self, rule: str, *key: str) -> bool:
        """Count one attempt; False when the limit is reached (refuse the request)."""
        return bool(self._limiter.hit(limits.parse(rule), *key))

    def test(self, rule: str, *key: str) -> bool:
        """Whether an attempt would be allowed, without counting it."""
        return bool(self._limiter.test(limits.parse(rule), *key))

    def reset(self) -> None:
        self._storage.reset()


def new_api_token() -> tuple[str, str]:
    """A fresh API token and its hash for the settings file: ``(token, "sha256:…")``."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def hash_api_token(token: str) -> str:
    # Tokens are 256 random bits: a plain SHA-256 is enough (no dictionary to guard against),
    # and it keeps the per-request check cheap.
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()
