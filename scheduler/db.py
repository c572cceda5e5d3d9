"""Engine and session set-up for SQLite (embedded) and PostgreSQL (production)."""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from .config import PROJECT_ROOT
from .services import statistics_summary  # noqa: F401  (its session hook keeps the offer totals current)


class _NoRows(logging.Filter):
    """SQLAlchemy's logger at DEBUG prints every row it reads, decrypted CPR numbers and names included."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Row %r"


logging.getLogger("sqlalchemy.engine.Engine").addFilter(_NoRows())


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and writer serialisation.

    Personal data stays out of the log at any level: bound values (names, e-mail addresses, CPR numbers) are
    hidden in SQL log lines and in the messages of database errors, and rows read are never logged."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not Path(database).is_absolute():
            database = str(PROJECT_ROOT / database)
            parsed = parsed.set(database=database)
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30}, hide_parameters=True)
        _configure_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA secure_delete=ON")  # deleted personal data is overwritten in the file
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):  # type: ignore[no-untyped-def]
        # IMMEDIATE takes the write lock at the start, so two bookings can never both read
        # "free" and both write: SQLite's equivalent of the row locks used on PostgreSQL.
        if connection.get_execution_options().get(READ_MOSTLY):
            connection.exec_driver_sql("BEGIN")  # deferred: reads a snapshot beside the others
            connection.info[_NOT_WRITTEN_YET] = True
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "before_cursor_execute")
    def before_first_write(connection, cursor, statement, *_args):  # type: ignore[no-untyped-def]
        # A read-mostly transaction that writes (an audit entry, a last-used time) ends its read
        # snapshot, which holds nothing written, and continues as an IMMEDIATE one: upgrading the
        # snapshot itself would fail whenever another request had written since it was taken.
        if connection.info.get(_NOT_WRITTEN_YET) and statement.lstrip()[:6].upper() in _WRITES:
            connection.info[_NOT_WRITTEN_YET] = False
            cursor.execute("COMMIT")
            cursor.execute("BEGIN IMMEDIATE")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def on_end(connection):  # type: ignore[no-untyped-def]
        connection.info.pop(_NOT_WRITTEN_YET, None)


READ_MOSTLY = "scheduler_read_mostly"
_NOT_WRITTEN_YET = "scheduler_not_written_yet"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC", "SAVEPO")  # a savepoint: switch before it, not inside


def new_session(engine: Engine, *, read_mostly: bool = False) -> Session:
    """A session; `read_mostly` (GET requests): on SQLite its transactions begin deferred, so requests
    that only read run side by side instead of one at a time, and the write lock is taken at the
    first write. Whatever it read before that write may be older than the write: fine for what a
    GET writes (audit entries, last-used times), never for a booking (a POST)."""
    if read_mostly and engine.dialect.name == "sqlite":
        return Session(_read_mostly(engine), expire_on_commit=False)
    return Session(engine, expire_on_commit=False)


@lru_cache(maxsize=8)
def _read_mostly(engine: Engine) -> Engine:
    return engine.execution_options(**{READ_MOSTLY: True})


def on_commit(session: Session, callback) -> None:  # type: ignore[no-untyped-def]
    """Run `callback()` after the session's transaction commits; dropped on rollback.

    Used for side effects outside the database (writing invite files) so a rolled-back
    change never leaves a file behind.
    """
    session.info.setdefault("after_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session):  # type: ignore[no-untyped-def]
    for callback in session.info.pop("after_commit", []):
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session, _previous_transaction):  # type: ignore[no-untyped-def]
    session.info.pop("after_commit", None)
