"""Migration 0005 encrypts the CPR numbers a 0004 database holds in plain text, and fills their digest."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy import MetaData, insert, text
from sqlmodel import SQLModel

from scheduler import crypto
from scheduler.db import make_engine
from scheduler.migrate import alembic_config, upgrade_database

from .conftest import TEST_CPR_KEY

PLAIN_CPRS = [f"{day:02d}0150{serial:04d}" for day in range(1, 29) for serial in range(1000, 1044)][:1205]


def _drop_every_table(conn) -> None:
    """Every table there is (also alembic_version and any a migration made), not only the models' own."""
    tables = MetaData()
    tables.reflect(conn)
    tables.drop_all(conn)


@pytest.fixture
def engine_at_0004(database_url):
    """The test database emptied and migrated to 0004 (plain-text CPR), as before this release."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        _drop_every_table(conn)
    upgrade_database(engine, "0004")
    yield engine
    with engine.begin() as conn:  # leave the schema the next test expects (the PostgreSQL database is shared)
        _drop_every_table(conn)
        SQLModel.metadata.create_all(conn)
    engine.dispose()


def _fill_0004(engine, cprs: list[str | None]) -> None:
    """One meeting whose parties have these CPR numbers, written with the 0004 tables as they are on disk."""
    now = datetime(2026, 5, 4, 8, tzinfo=UTC)
    tables = MetaData()
    tables.reflect(engine)
    t = tables.tables
    with engine.begin() as conn:
        conn.execute(insert(t["municipality"]), [{"code": "0540", "name": "Sønderborg", "region_code": "DK-83",
                                                  "region_name": "Syddanmark"}])
        conn.execute(insert(t["hospital"]), [{"id": 1, "name": "Sygehus", "region_code": "DK-83"}])
        conn.execute(insert(t["ward"]), [{"id": 1, "code": "ONK", "name": "Onkologi", "hospital_id": 1}])
        conn.execute(insert(t["app_user"]), [{"id": 1, "email": "r@example.org", "name": "Rådgiver", "role": "advisor",
                                              "municipality_code": "0540", "language": "da", "is_active": True,
                                              "created_at": now}])
        conn.execute(insert(t["meeting"]), [{
            "id": 1, "uid": "m1@test", "status": "held", "sequence": 0, "start_at": now, "end_at": now,
            "municipality_code": "0540", "ward_id": 1, "advisor_id": 1, "booked_by_id": 1, "created_at": now,
            "updated_at": now, "needs_rebooking": False, "patient_language": "da", "video_provider": "jitsi",
            "video_status": "ready"}])
        conn.execute(insert(t["participant"]), [
            {"id": i, "meeting_id": 1, "role": "patient" if cpr else "relative", "name": f"Person {i}", "cpr": cpr,
             "status": "accepted"} for i, cpr in enumerate(cprs, start=1)])


def _raw(engine) -> dict[int, tuple[str | None, str | None]]:
    with engine.connect() as conn:
        return {row[0]: (row[1], row[2]) for row in conn.execute(text("SELECT id, cpr, cpr_digest FROM participant"))}


def _version(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def test_upgrade_encrypts_plain_cprs_in_batches_and_fills_their_digest(engine_at_0004):
    cprs = [*PLAIN_CPRS, None]  # more than one batch, and a party without CPR
    _fill_0004(engine_at_0004, cprs)
    upgrade_database(engine_at_0004, "0005")

    raw = _raw(engine_at_0004)
    assert _version(engine_at_0004) == "0005" and len(raw) == len(cprs)
    key = Fernet(TEST_CPR_KEY)
    for row_id, plain in enumerate(cprs, start=1):
        token, digest = raw[row_id]
        if plain is None:
            assert (token, digest) == (None, None)
            continue
        assert token.startswith("gAAAAA") and plain not in token
        assert key.decrypt(token.encode()).decode() == plain
        assert digest == crypto.cpr_digest(plain)
    assert crypto.decrypt(raw[1][0]) == PLAIN_CPRS[0]  # as the model's EncryptedText reads it

    command.downgrade(alembic_config(engine_at_0004), "0004")  # and back: plain text again
    with engine_at_0004.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT cpr FROM participant ORDER BY id"))] == cprs


def test_upgrade_without_a_key_fails_clearly_and_changes_nothing(engine_at_0004, monkeypatch):
    _fill_0004(engine_at_0004, ["0101501234"])
    monkeypatch.setattr(crypto, "_cipher", None)
    monkeypatch.setattr(crypto, "_digest_key", None)
    with pytest.raises(RuntimeError, match="no CPR key is configured: set SCHEDULER_CPR_KEYS"):
        upgrade_database(engine_at_0004, "0005")
    assert _version(engine_at_0004) == "0004"
    with engine_at_0004.connect() as conn:
        assert conn.execute(text("SELECT cpr FROM participant")).scalar_one() == "0101501234"


def test_upgrade_of_a_database_without_cprs_needs_no_key(engine_at_0004, monkeypatch):
    monkeypatch.setattr(crypto, "_cipher", None)
    monkeypatch.setattr(crypto, "_digest_key", None)
    upgrade_database(engine_at_0004, "0005")
    assert _version(engine_at_0004) == "0005"


def test_a_database_with_meetings_goes_down_to_0004_and_up_again(engine_at_0004):
    """Every later migration can be undone with data in place; on SQLite batch mode re-creates the
    referenced tables (meeting, app_user), so migrations run with foreign keys off and checked after."""
    _fill_0004(engine_at_0004, ["0101501234", None])
    upgrade_database(engine_at_0004)
    command.downgrade(alembic_config(engine_at_0004), "0004")
    assert _version(engine_at_0004) == "0004"
    with engine_at_0004.connect() as conn:
        assert conn.execute(text("SELECT uid FROM meeting")).scalars().all() == ["m1@test"]
        assert conn.execute(text("SELECT cpr FROM participant ORDER BY id")).scalars().all() == ["0101501234", None]
    upgrade_database(engine_at_0004)
    assert crypto.decrypt(_raw(engine_at_0004)[1][0]) == "0101501234"
    if engine_at_0004.dialect.name == "sqlite":  # and the app's connections enforce references again
        with engine_at_0004.connect() as conn:
            assert conn.connection.driver_connection.execute("PRAGMA foreign_keys").fetchone()[0] == 1
