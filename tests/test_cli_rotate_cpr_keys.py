"""`discharge-scheduler rotate-cpr-keys`: every stored CPR number re-encrypted with the newest key."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text
from sqlmodel import select

from scheduler import crypto
from scheduler.db import new_session
from scheduler.models import AnswerStatus, Participant, ParticipantRole

from .conftest import TEST_CPR_KEY, TEST_SECRET_KEY

NEW_KEY = Fernet.generate_key().decode()
CPRS = ["0101501234", "0202602345", "0303703456", "0404804567", "0505904678"]


def rotate(tmp_path, database_url, keys: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SCHEDULER_DATABASE_URL": database_url, "SCHEDULER_CALENDARS_DIR": str(tmp_path / "ics"),
           "SCHEDULER_SECRET_KEY": "s" * 40, "SCHEDULER_CPR_KEYS": keys, "SCHEDULER_PSEUDONYM_KEY": TEST_SECRET_KEY,
           "SCHEDULER_CONFIG": os.path.join(os.path.dirname(__file__), "..", "config.toml")}
    return subprocess.run([sys.executable, "-m", "scheduler", "rotate-cpr-keys", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def stored(session, factory):
    """Five patients with a CPR number encrypted with the old (test) key, and a relative without one."""
    meeting = factory.meeting(factory.advisor("0540"), datetime(2026, 12, 1, 9, tzinfo=UTC))
    for cpr in CPRS:
        session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name="Karl", cpr=cpr,
                                cpr_digest=crypto.cpr_digest(cpr), status=AnswerStatus.accepted))
    session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.relative, name="Grete",
                            status=AnswerStatus.accepted))
    session.commit()
    return meeting


def raw_cprs(engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT cpr FROM participant WHERE cpr IS NOT NULL ORDER BY id"))]


def read_cprs(engine) -> list[str]:
    with new_session(engine) as session:
        return [p.cpr for p in session.exec(select(Participant).where(Participant.cpr.is_not(None))
                                            .order_by(Participant.id))]


def test_rotation_re_encrypts_every_cpr_with_the_new_key_in_batches(tmp_path, database_url, engine, stored):
    before = raw_cprs(engine)
    result = rotate(tmp_path, database_url, f"{NEW_KEY},{TEST_CPR_KEY}", "--batch-size", "2")
    assert result.returncode == 0, result.stderr
    assert "5 CPR numbers re-encrypted with the newest key" in result.stdout
    assert [line.strip() for line in result.stderr.splitlines()] == ["2 so far ...", "4 so far ...", "5 so far ..."]

    after = raw_cprs(engine)
    assert len(after) == 5 and not set(after) & set(before)
    for token, cpr in zip(after, CPRS):
        assert Fernet(NEW_KEY.encode()).decrypt(token.encode()).decode() == cpr
        with pytest.raises(InvalidToken):
            Fernet(TEST_CPR_KEY.encode()).decrypt(token.encode())

    crypto.configure_keys([NEW_KEY], digest_secret=TEST_SECRET_KEY)  # the new key alone reads them
    assert read_cprs(engine) == CPRS
    crypto.configure_keys([TEST_CPR_KEY], digest_secret=TEST_SECRET_KEY)  # the old one alone: a clear error
    with pytest.raises(crypto.CprKeyError, match="cannot be decrypted with the configured keys"):
        read_cprs(engine)
    with new_session(engine) as session:  # the digests, which statistics join on, did not change
        assert session.exec(select(Participant.cpr_digest).where(Participant.cpr_digest.is_not(None))
                            .order_by(Participant.id)).all() == [crypto.cpr_digest(cpr) for cpr in CPRS]


def test_rotation_without_the_old_key_fails_clearly_and_changes_nothing(tmp_path, database_url, engine, stored):
    before = raw_cprs(engine)
    result = rotate(tmp_path, database_url, NEW_KEY)  # forgot to keep the old key in the list
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot be decrypted with the configured keys" in result.stderr and "SCHEDULER_CPR_KEYS" in result.stderr
    assert raw_cprs(engine) == before
    assert read_cprs(engine) == CPRS
