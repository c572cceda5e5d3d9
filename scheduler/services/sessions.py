"""Browser sessions kept on the server as well as in the signed cookie: logging out or the idle timeout
ends the record, and a cookie without a live record signs nobody in (a copied cookie stops working
when its owner logs out). Only a hash of the session's id is stored."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col

from ..models import LoginSession, User
from .timeutil import USE_RECORDED_EVERY, use_to_record
from .users import hash_token as _hash


def start(session: Session, *, user: User, now: datetime) -> str:
    """A new session for `user`; the id to keep in her cookie."""
    token = secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=_hash(token), user_id=user.id, started_at=now, seen_at=now))
    return token


def is_live(session: Session, *, token: object, user_id: int, now: datetime, idle: timedelta) -> bool:
    """Whether the session is still on: not ended, hers, and used within `idle`; notes this use (to the minute).
    The cookie keeps the exact idle time (web/auth.py); this record, a minute coarser, is the backstop."""
    if not isinstance(token, str) or not token:
        return False
    row = session.get(LoginSession, _hash(token))
    if row is None or row.ended_at is not None or row.user_id != user_id or now - row.seen_at > _idle_limit(idle):
        return False
    if use_to_record(row.seen_at, now):
        row.seen_at = now
        session.add(row)
    return True


def _idle_limit(idle: timedelta) -> timedelta:
    """`seen_at` may be up to a minute old (it is written once a minute): never end a session early."""
    return idle + USE_RECORDED_EVERY


def end(session: Session, *, token: object, now: datetime) -> None:
    if isinstance(token, str) and token:
        session.execute(update(LoginSession).where(col(LoginSession.token_hash) == _hash(token),
                                                   col(LoginSession.ended_at).is_(None)).values(ended_at=now))


def remove_finished(session: Session, *, now: datetime, idle: timedelta) -> int:
    """Delete the records of sessions that ended or sat idle past the timeout (the job)."""
    result = session.execute(delete(LoginSession).where(or_(col(LoginSession.ended_at).is_not(None),
                                                            col(LoginSession.seen_at) < now - _idle_limit(idle))))
    return result.rowcount or 0
