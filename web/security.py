"""The dashboard's security shell, apart from routes: signed cookie values, the login throttle
and the response headers. No value made here (a secret, a signature) is ever logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import deque

SESSION_COOKIE = "meiyu_session"
LOGIN_COOKIE = "meiyu_login"  # the pre-login CSRF cookie of the login form

# No inline script or style anywhere: the pages load /static/meiyu.css and, where the
# browser has no CJK font of its own, the packaged Noto Sans CJK from /static/fonts/.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages show accounts' data: no shared or back-button copies
}


def new_secret() -> str:
    """256 random bits, URL-safe: a session's secret, a CSRF token, a login nonce."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """The sha256 hex a session is stored under (fast is enough: the secret is random)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Signer:
    """HMAC-SHA256 signatures of cookie values under the server's key: a cookie the server did
    not make is refused before any database lookup."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, value: str) -> str:
        mac = hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def sign(self, purpose: str, value: str) -> str:
        return f"{value}.{self._mac(purpose, value)}"

    def unsign(self, purpose: str, signed: str | None) -> str | None:
        """The value of a signed cookie, or None when it is missing, malformed or forged."""
        if not signed or len(signed) > 256:
            return None
        value, _, mac = signed.rpartition(".")
        if not value or not hmac.compare_digest(mac, self._mac(purpose, value)):
            return None
        return value

    def form_token(self, login_nonce: str) -> str:
        """The login form's CSRF token, bound to the pre-login cookie's nonce (a signed double
        submit: a page elsewhere can neither read the cookie nor make the token)."""
        return self._mac("login-form", login_nonce)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens; a missing one is never equal."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


class LoginThrottle:
    """Failed logins per account name and per client address, in this process's memory: after
    `limit` failures within `window` seconds, either key is refused until its oldest failure
    leaves the window. Memory is bounded: old failures are dropped, and past `max_keys` keys
    the least recently failed go first."""

    def __init__(self, limit: int = 5, window: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def keys(name: str, address: str) -> tuple[str, str]:
        # names are compared without case, as storage.users.name_in_use does; cut to bound
        return "name:" + name.casefold()[:80], "addr:" + address[:64]

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def retry_after(self, name: str, address: str, now: float | None = None) -> int | None:
        """Seconds to wait when the name or the address is throttled, else None."""
        now = time.monotonic() if now is None else now
        wait = 0.0
        with self._lock:
            for key in self.keys(name, address):
                failures = self._recent(key, now)
                if len(failures) >= self.limit:
                    wait = max(wait, failures[-self.limit] + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, name: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for key in self.keys(name, address):
                failures = self._recent(key, now)
                failures.append(now)
                self._failures.pop(key, None)
                self._failures[key] = failures  # last in the dict: the most recent
            while len(self._failures) > self.max_keys:
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, name: str) -> None:
        """A good password clears the name's failures, not the address's (one account of
        one's own must not reset the count of guesses at others)."""
        with self._lock:
            self._failures.pop(self.keys(name, "")[0], None)
