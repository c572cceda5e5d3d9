"""Connections for long read-only work (statistics, exports): one consistent snapshot, no write lock.

The app's SQLite engine starts every transaction with BEGIN IMMEDIATE, which takes the write
lock (see db.py); a report or a download that takes its time would hold up every booking. Its
read-mostly connections begin deferred instead and read a WAL snapshot. PostgreSQL reads one
REPEATABLE READ snapshot, so the tables of one report add up even while meetings are being recorded.
Both come from the app's own engine and pool, so their statements are compiled once per process.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from ..db import READ_MOSTLY


@contextmanager
def reading_connection(engine: Engine) -> Iterator[Connection]:
    options = {READ_MOSTLY: True} if engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as connection:
        yield connection


@contextmanager
def reading_session(engine: Engine) -> Iterator[Session]:
    with reading_connection(engine) as connection, Session(bind=connection) as session:
        yield session
