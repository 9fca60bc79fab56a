"""Accounts' credentials: argon2 password hashes, API tokens and the role check. The only
module that sees a password or a plain token; storage keeps what this module makes of them."""

from __future__ import annotations

import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kernel.errors import UserError
from kernel.roles import ROLES, Role, allows

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "TOKEN_PREFIX",
    "Role",
    "allows",
    "bearer_token",
    "check_name",
    "check_password_rules",
    "hash_password",
    "needs_rehash",
    "new_token",
    "token_hash",
    "verify_password",
]

MAX_NAME_LENGTH = 64
MIN_PASSWORD_LENGTH = 12
# A password longer than this is refused unhashed: argon2 of megabytes is a cheap way to load
# the server, and no one types it.
MAX_PASSWORD_LENGTH = 1024
# Tokens start with it, so one pasted into a chat or a log is recognisable (and greppable).
TOKEN_PREFIX = "meiyu_"

# argon2-cffi's defaults (argon2id, RFC 9106's low-memory profile: 3 passes over 64 MiB):
# newer defaults in a later argon2-cffi make needs_rehash true for the stored hashes.
_hasher = PasswordHasher()


def check_name(name: str) -> None:
    """A one-line UserError unless the account name is 1 to 64 printable characters without
    spaces (any script: 王 is a name), so it reads the same in a table and on a login page."""
    if not 0 < len(name) <= MAX_NAME_LENGTH or any(
        c.isspace() or not c.isprintable() for c in name
    ):
        raise UserError(
            f"NAME: expected 1 to {MAX_NAME_LENGTH} printable characters without spaces, "
            f"got {name!r}"
        )


def check_password_rules(password: str) -> None:
    """A one-line UserError when the password is too weak to store; it is never quoted."""
    if not password.strip():
        raise UserError("password: empty or only whitespace")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(
            f"password: at least {MIN_PASSWORD_LENGTH} characters needed, got {len(password)}"
        )


def hash_password(password: str) -> str:
    """The argon2id PHC string to store ($argon2id$v=19$m=…,t=…,p=…$salt$hash)."""
    return _hasher.hash(password)


@cache
def _unknown_user_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` is the one `stored` was made from. `stored` None (no such account)
    still costs one argon2 verification, so a login's answer time does not say which names
    exist. A malformed stored hash is False, not an error."""
    try:
        return _hasher.verify(stored or _unknown_user_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a hash that just verified was made with older parameters than the current ones:
    then store hash_password(password) in its place (storage.users.rehash_password)."""
    return _hasher.check_needs_rehash(stored)


def token_hash(plain: str) -> str:
    """The sha256 hex digest stored for a token. A fast hash is enough (unlike passwords):
    the token is 256 random bits, not something a person chose, and it lets a request's token
    be found by its hash."""
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A new API token: (the plain token, shown once; its hash, stored)."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return plain, token_hash(plain)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, or None when the header
    is missing or of another scheme (the scheme is case-insensitive, RFC 9110)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token
