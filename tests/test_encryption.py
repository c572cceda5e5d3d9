"""CPR numbers are encrypted at rest: a meeting booked through the real form leaves no CPR number in the
database file (SQLite, WAL included) or in the column (PostgreSQL); a wrong key is a clear error."""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlmodel import select

from scheduler import crypto
from scheduler.db import new_session
from scheduler.models import Participant, ParticipantRole

from .conftest import TEST_CPR_KEY, TEST_SECRET_KEY
from .web.conftest import book_via_form, booked_id

CPR, CPR_WITH_HYPHEN = "1703831117", "170383-1117"  # fails modulus 11, like many numbers issued since 2007


@pytest.fixture
def booked(login, session, factory):
    """A meeting booked by a secretary through the new-meeting form; its id."""
    ward = factory.ward(code="ONK")
    secretary = factory.secretary(ward)
    factory.advisor("0540", name="Mette Rådgiver")
    client = login(secretary, session)
    return booked_id(book_via_form(client, ward, **{"patient.cpr": CPR_WITH_HYPHEN}))


def _stored(engine, meeting_id: int) -> tuple[str, str]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT cpr, cpr_digest FROM participant WHERE meeting_id = :id AND role = 'patient'"),
                            {"id": meeting_id}).one()


def test_the_cpr_number_is_stored_encrypted_with_its_digest(engine, booked):
    token, digest = _stored(engine, booked)
    assert token.startswith("gAAAAA") and CPR not in token and CPR_WITH_HYPHEN not in token
    assert Fernet(TEST_CPR_KEY).decrypt(token.encode()).decode() == CPR  # normalised, then encrypted
    assert digest == crypto.cpr_digest(CPR) and CPR not in digest
    with new_session(engine) as session:  # the app reads it back as the number
        patient = session.exec(select(Participant).where(Participant.meeting_id == booked,
                                                         Participant.role == ParticipantRole.patient)).one()
        assert patient.cpr == CPR


def test_the_raw_sqlite_file_holds_no_cpr_number(engine, booked, database_url):
    if engine.dialect.name != "sqlite":
        pytest.skip("a database file to read exists on SQLite; PostgreSQL is checked column by column above")
    path = Path(database_url.removeprefix("sqlite:///"))
    wal = path.with_name(path.name + "-wal")
    raw = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"Karl Jensen" in raw  # the booking is in what was read ...
    assert CPR.encode() not in raw and CPR_WITH_HYPHEN.encode() not in raw  # ... but not its CPR number


def test_a_wrong_key_is_a_clear_error_not_garbage(engine, booked):
    crypto.configure_keys([Fernet.generate_key().decode()], digest_secret=TEST_SECRET_KEY)
    with new_session(engine) as session, pytest.raises(crypto.CprKeyError, match="cannot be decrypted"):
        session.exec(select(Participant).where(Participant.meeting_id == booked)).all()

    crypto.configure_keys([Fernet.generate_key().decode(), TEST_CPR_KEY], digest_secret=TEST_SECRET_KEY)
    with new_session(engine) as session:  # with the old key still listed, it reads again
        cprs = [p.cpr for p in session.exec(select(Participant).where(Participant.meeting_id == booked))]
        assert CPR in cprs

    token, _digest = _stored(engine, booked)
    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(crypto.CprKeyError):
        crypto.decrypt(tampered)


def test_keys_are_checked_when_configured():
    with pytest.raises(ValueError, match="key 2 is not a Fernet key"):
        crypto.parse_keys(f"{TEST_CPR_KEY}, not-a-key")
    assert crypto.parse_keys(f" {TEST_CPR_KEY} ,, ") == [TEST_CPR_KEY]
    with pytest.raises(crypto.CprKeyError, match="no CPR encryption key"):
        crypto.configure_keys([], digest_secret="x")
