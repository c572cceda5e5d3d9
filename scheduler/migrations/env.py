"""Alembic environment: runs against the engine the app built (never a URL in a file)."""
from alembic import context
from sqlmodel import SQLModel

import scheduler.models  # noqa: F401  (registers the tables)

config = context.config
engine = config.attributes["engine"]


def _foreign_keys(connection, on: bool) -> None:  # type: ignore[no-untyped-def]
    """SQLite: the pragma cannot change inside a transaction, so it goes to the driver's connection."""
    connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # Batch mode re-creates a table to change it; with foreign keys on, dropping the old copy of a
        # referenced table (meeting, app_user) fails. Off for the migration only, and every reference
        # is checked before the commit.
        _foreign_keys(connection, on=False)
    try:
        context.configure(connection=connection, target_metadata=SQLModel.metadata, render_as_batch=sqlite,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")
        connection.commit()
    finally:
        if sqlite:
            connection.rollback()  # nothing may be open when the pragma changes
            _foreign_keys(connection, on=True)
