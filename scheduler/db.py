"""Engine and session set-up for SQLite (embedded) and PostgreSQL (production)."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from .config import PROJECT_ROOT


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys and writer serialisation."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not Path(database).is_absolute():
            database = str(PROJECT_ROOT / database)
            parsed = parsed.set(database=database)
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection):  # type: ignore[no-untyped-def]
        # IMMEDIATE takes the write lock at the start, so two bookings can never both read
        # "free" and both write: SQLite's equivalent of the row locks used on PostgreSQL.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


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
