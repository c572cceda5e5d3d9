"""Per-request access to the app's services and the request's database session."""
from __future__ import annotations

from datetime import datetime

from flask import current_app, g, has_request_context, request
from sqlmodel import Session

from .. import AppServices
from ..db import new_session
from ..services.context import BookingContext


def services() -> AppServices:
    return current_app.extensions["scheduler"]


def db() -> Session:
    """The request's session; the view commits, teardown closes (rolling back what was not).
    GET and HEAD requests only read (and log): on SQLite they read side by side (db.new_session)."""
    if "db_session" not in g:
        read_mostly = has_request_context() and request.method in ("GET", "HEAD")
        g.db_session = new_session(services().engine, read_mostly=read_mostly)
    return g.db_session


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def now() -> datetime:
    return services().clock()


def booking_context() -> BookingContext:
    return services().booking_context()
