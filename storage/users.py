"""Dashboard accounts and API tokens in the database. Storage keeps the hashes it is given and
never makes or checks one: hashing is the web layer's (web.accounts), so no password or plain
token reaches this module."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kernel.roles import Role
from storage.models import ApiToken, User, WebSession, utcnow


@dataclass(frozen=True)
class UserRow:
    """An account, its password only as the argon2 hash web.accounts made."""

    id: int
    name: str
    role: Role
    # out of repr: a row in a log line or a failed assertion must not show it
    password_hash: str = field(repr=False)
    created_at: dt.datetime
    password_changed_at: dt.datetime


@dataclass(frozen=True)
class TokenRow:
    """An API token as the admin sees it: never the token, never its hash."""

    id: int
    user_id: int
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def user_row(u: User) -> UserRow:
    """The typed row of a `users` row (storage.web_sessions reads sessions' accounts too)."""
    role = cast(Role, u.role)  # written only by add_user, from a Role
    return UserRow(u.id, u.name, role, u.password_hash, u.created_at, u.password_changed_at)


def _token(t: ApiToken) -> TokenRow:
    return TokenRow(t.id, t.user_id, t.created_at, t.last_used_at, t.revoked_at)


def add_user(session: Session, name: str, role: Role, password_hash: str) -> UserRow:
    now = utcnow()
    user = User(
        name=name, role=role, password_hash=password_hash, created_at=now, password_changed_at=now
    )
    session.add(user)
    session.flush()
    return user_row(user)


def user_by_name(session: Session, name: str) -> UserRow | None:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    return user_row(user) if user else None


def name_in_use(session: Session, name: str) -> str | None:
    """The stored name equal to `name` but for case, if any: "Admin" beside "admin" would make
    two accounts a person cannot tell apart on a login page."""
    return session.scalars(select(User.name).where(func.lower(User.name) == name.lower())).first()


def list_users(session: Session) -> list[UserRow]:
    """By name in code-point order, the same on SQLite and PostgreSQL (whose collation varies)."""
    return sorted((user_row(u) for u in session.scalars(select(User))), key=lambda u: u.name)


def active_token_counts(session: Session) -> dict[int, int]:
    """User id → how many of its tokens are not revoked (users without any are left out)."""
    stmt = (
        select(ApiToken.user_id, func.count(ApiToken.id))
        .where(ApiToken.revoked_at.is_(None))
        .group_by(ApiToken.user_id)
    )
    return {user_id: n for user_id, n in session.execute(stmt)}


def user_by_id(session: Session, user_id: int) -> UserRow | None:
    user = session.get(User, user_id)
    return user_row(user) if user else None


def set_role(session: Session, user_id: int, role: Role) -> None:
    """A new role for the account. Its sessions and tokens stay: the role is read afresh with
    the account at every request (live_web_session, token_by_hash), so the change holds from
    the account's next request on."""
    session.get_one(User, user_id).role = role


def admin_count(session: Session) -> int:
    """How many admin accounts there are: the last one must stay (web.admin refuses)."""
    return session.scalar(select(func.count(User.id)).where(User.role == "admin")) or 0


def change_password(session: Session, user_id: int, password_hash: str) -> None:
    """A new password (`meiyu users passwd`): the hash and the time it changed. The account's
    dashboard sessions end (whoever knew the old password is logged out); tokens stay."""
    user = session.get_one(User, user_id)
    user.password_hash = password_hash
    user.password_changed_at = utcnow()
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def rehash_password(session: Session, user_id: int, password_hash: str) -> None:
    """The same password under newer argon2 parameters (after a login): the change time stays."""
    session.get_one(User, user_id).password_hash = password_hash


def remove_user(session: Session, user_id: int) -> int:
    """Delete the account, its tokens and its dashboard sessions; the number of tokens deleted.
    They are deleted here as well as by the foreign keys' cascade, which SQLite honours only
    with its pragma."""
    mine = ApiToken.user_id == user_id
    tokens = session.scalar(select(func.count(ApiToken.id)).where(mine)) or 0
    session.execute(delete(ApiToken).where(mine))
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    session.execute(delete(User).where(User.id == user_id))
    return tokens


def add_token(session: Session, user_id: int, token_hash: str) -> TokenRow:
    token = ApiToken(user_id=user_id, token_hash=token_hash, created_at=utcnow())
    session.add(token)
    session.flush()
    return _token(token)


def tokens_of(session: Session, user_id: int) -> list[TokenRow]:
    stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    return [_token(t) for t in session.scalars(stmt)]


def token_by_id(session: Session, token_id: int) -> tuple[TokenRow, UserRow] | None:
    """The token with this id and its account, revoked or not."""
    token = session.get(ApiToken, token_id)
    return (_token(token), user_row(session.get_one(User, token.user_id))) if token else None


def token_by_hash(session: Session, token_hash: str) -> tuple[TokenRow, UserRow] | None:
    """The token with this hash and its account, unless it was revoked: what a request's
    `Authorization: Bearer` header is checked against."""
    stmt = (
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
    )
    found = session.execute(stmt).one_or_none()
    return (_token(found[0]), user_row(found[1])) if found else None


def touch_token(session: Session, token_id: int, at: dt.datetime | None = None) -> None:
    """Record that the token was used (at `at`, default now)."""
    session.get_one(ApiToken, token_id).last_used_at = at or utcnow()


def revoke_token(session: Session, token_id: int) -> TokenRow | None:
    """Revoke the token (kept, marked with the time); a token revoked before keeps its first
    time. None when there is no such token."""
    token = session.get(ApiToken, token_id)
    if token is None:
        return None
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return _token(token)
