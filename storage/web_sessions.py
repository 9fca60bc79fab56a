"""The dashboard's login sessions. Storage keeps the sha256 of the cookie's secret, never the
secret (web.sessions makes both), and answers only sessions that have not expired, of accounts
that still exist."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import User, WebSession, utcnow
from storage.users import UserRow, user_row


@dataclass(frozen=True)
class WebSessionRow:
    id: str = field(repr=False)  # the secret's hash: enough to look the session up
    user_id: int
    csrf_token: str = field(repr=False)
    created_at: dt.datetime
    expires_at: dt.datetime


def _row(w: WebSession) -> WebSessionRow:
    return WebSessionRow(w.id, w.user_id, w.csrf_token, w.created_at, w.expires_at)


def add_web_session(
    session: Session, session_hash: str, user_id: int, csrf_token: str, lifetime: dt.timedelta
) -> WebSessionRow:
    now = utcnow()
    row = WebSession(
        id=session_hash,
        user_id=user_id,
        csrf_token=csrf_token,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return _row(row)


def live_web_session(
    session: Session, session_hash: str, now: dt.datetime | None = None
) -> tuple[WebSessionRow, UserRow] | None:
    """The session with this hash and its account, unless it has expired (checked here, on the
    server, whatever the cookie's own Max-Age said) or the account is gone."""
    stmt = (
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.id == session_hash)
    )
    found = session.execute(stmt).one_or_none()
    if found is None or found[0].expires_at <= (now or utcnow()):
        return None
    return _row(found[0]), user_row(found[1])


def end_web_session(session: Session, session_hash: str) -> bool:
    """Delete the session (logout); whether there was one."""
    result = session.execute(delete(WebSession).where(WebSession.id == session_hash))
    return bool(getattr(result, "rowcount", 0))


def delete_expired_sessions(session: Session, now: dt.datetime | None = None) -> int:
    """Delete every expired session (done at each login, so the table does not grow)."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= (now or utcnow())))
    return int(getattr(result, "rowcount", 0) or 0)
