"""GET requests on SQLite: a read-mostly session reads beside a writer, and its own first write waits
for the write lock like any other instead of failing on a snapshot that another request made old."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from scheduler.db import make_engine, new_session
from scheduler.models import Hospital


@pytest.fixture
def sqlite_engine(tmp_path):
    from sqlmodel import SQLModel

    engine = make_engine(f"sqlite:///{tmp_path / 'read-mostly.db'}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_a_reader_does_not_hold_up_a_writer_and_then_writes_itself(sqlite_engine):
    reader = new_session(sqlite_engine, read_mostly=True)
    assert reader.execute(text("SELECT count(*) FROM hospital")).scalar_one() == 0  # transaction open, reading

    writer = new_session(sqlite_engine)
    writer.connection().exec_driver_sql("PRAGMA busy_timeout=200")  # an IMMEDIATE reader would block this
    began = time.monotonic()
    writer.add(Hospital(name="Written meanwhile"))
    writer.commit()
    assert time.monotonic() - began < 0.2
    writer.close()

    assert reader.execute(text("SELECT count(*) FROM hospital")).scalar_one() == 0  # its snapshot
    reader.add(Hospital(name="Written by the reader"))  # the snapshot is old: upgrading it would fail
    reader.commit()
    reader.close()
    with new_session(sqlite_engine) as check:
        assert check.execute(text("SELECT count(*) FROM hospital")).scalar_one() == 2
