"""Connections for long read-only work (statistics, exports): one consistent snapshot, no write lock.

The app's SQLite engine starts every transaction with BEGIN IMMEDIATE, which takes the write
lock (see db.py); a report or a download that takes its time would hold up every booking. A
plain deferred BEGIN reads a WAL snapshot instead. PostgreSQL reads one REPEATABLE READ
snapshot, so the tables of one report add up even while meetings are being recorded.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session


@contextmanager
def reading_connection(engine: Engine) -> Iterator[Connection]:
    database = engine.url.database
    if engine.dialect.name != "sqlite":
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
            yield connection
        return
    if not database or database == ":memory:":  # a private in-memory database: nobody to hold up
        with engine.connect() as connection:
            yield connection
        return
    reader = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(reader, "connect")
    def on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below issues BEGIN itself

    @event.listens_for(reader, "begin")
    def on_begin(connection):  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN")  # deferred: a read snapshot, never the write lock

    try:
        with reader.connect() as connection:
            yield connection
    finally:
        reader.dispose()


@contextmanager
def reading_session(engine: Engine) -> Iterator[Session]:
    with reading_connection(engine) as connection, Session(bind=connection) as session:
        yield session
