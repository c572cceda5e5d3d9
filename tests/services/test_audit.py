"""The audit trail: changes recorded where they are made (who, what, which meeting and patient, never the CPR
number or a name), the search and export of the trail, and a database that refuses to edit it."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel, select

from scheduler import crypto
from scheduler.db import make_engine, new_session
from scheduler.errors import InvalidInput
from scheduler.migrate import alembic_config, upgrade_database
from scheduler.models import (AnswerStatus, AuditEntry, MeetingOutcome, OfferResponse, Participant, ParticipantRole,
                              Role, UptakeStatus)
from scheduler.schemas import MeetingCancel, MeetingCreate, MeetingReschedule, OfferIn, parse_input
from scheduler.services import answers, audit, booking, exports, recording
from scheduler.services import offers as catalogue

ZONE = ZoneInfo("Europe/Copenhagen")
CPR = "010150-1234"
NAMES = ("Karl Jensen", "Grete Jensen", "Sygeplejerske Sofie")
COLUMNS = ("user_email", "role", "action", "object_type", "object_id", "patient_ref", "detail", "ip")


def entries(session, **where) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id)
    for name, value in where.items():
        query = query.where(getattr(AuditEntry, name) == value)
    return list(session.exec(query))


def assert_no_personal_data(rows: list[AuditEntry]) -> None:
    """No column of any entry holds the CPR number (with or without hyphen) or a party's name."""
    for entry in rows:
        for name in COLUMNS:
            value = str(getattr(entry, name) or "")
            assert CPR not in value and CPR.replace("-", "") not in value, (name, value)
            assert not any(person in value for person in NAMES), (name, value)


@pytest.fixture
def world(session, factory):
    ward = factory.ward(code="ONK")
    secretary = factory.secretary(ward)
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    catalogue.create_offer(session, municipality_code="0540",
                           data=OfferIn(code="rygestop", name="Rygestop", category="rygestop"))
    session.commit()
    return ward, secretary, advisor


def book(session, ctx, ward, secretary):
    data = parse_input(MeetingCreate, {
        "ward": ward.code, "municipality": "0540", "start": "2026-11-24T10:00:00+01:00", "duration_minutes": 45,
        "patient": {"name": NAMES[0], "cpr": CPR, "email": "karl@example.net"},
        "relatives": [{"name": NAMES[1], "email": "grete@example.net"}],
        "staff": [{"name": NAMES[2], "email": "sofie@hospital.example"}]})
    meeting = booking.book_meeting(session, ctx=ctx, data=data, booked_by=secretary)
    session.commit()
    return meeting


# ---- changes, recorded next to the meeting's history


def test_booking_rescheduling_and_cancelling_are_audited_with_the_patients_digest(session, ctx, world):
    ward, secretary, advisor = world
    audit.remember_client(session, ip="10.0.0.7")
    meeting = book(session, ctx, ward, secretary)
    booking.reschedule_meeting(session, ctx=ctx, meeting=meeting, actor=secretary, data=parse_input(
        MeetingReschedule, {"start": "2026-11-24T13:00:00+01:00", "reason": f"{NAMES[0]} er træt"}))
    booking.cancel_meeting(session, ctx=ctx, meeting=meeting, actor=secretary,
                           data=parse_input(MeetingCancel, {"reason": f"{NAMES[0]} er indlagt igen"}))
    session.commit()

    rows = entries(session)
    assert [(e.action, e.detail) for e in rows] == [
        ("create", "booked"), ("update", "rescheduled"), ("cancel", "cancelled")]
    digest = session.exec(select(Participant.cpr_digest).where(Participant.role == ParticipantRole.patient)).one()
    assert digest == crypto.cpr_digest(CPR.replace("-", ""))
    for entry in rows:
        assert (entry.user_id, entry.user_email, entry.role) == (secretary.id, secretary.email, "secretary")
        assert (entry.object_type, entry.object_id, entry.meeting_id) == ("meeting", str(meeting.id), meeting.id)
        assert (entry.patient_ref, entry.ip, entry.at) == (digest, "10.0.0.7", ctx.now)
    assert_no_personal_data(rows)  # the reasons, which may name the patient, stay out of the trail


def test_an_answer_from_the_emailed_link_names_no_user_but_the_party(session, ctx, world):
    ward, secretary, advisor = world
    meeting = book(session, ctx, ward, secretary)
    parties = {p.role: p for p in booking.participants_of(session, meeting)}

    answers.record_answer(session, ctx=ctx, participant=parties[ParticipantRole.advisor],
                          status=AnswerStatus.accepted, comment=None, actor=None)
    answers.record_answer(session, ctx=ctx, participant=parties[ParticipantRole.staff],
                          status=AnswerStatus.declined, comment=f"{NAMES[0]} har feber", actor=None)
    answers.record_answer(session, ctx=ctx, participant=parties[ParticipantRole.advisor],
                          status=AnswerStatus.tentative, comment=None, actor=advisor)
    session.commit()

    rows = entries(session, action="update")
    assert [(e.user_id, e.user_email, e.detail) for e in rows] == [
        (None, None, "answered role=advisor status=accepted via=answer_link"),
        (None, None, "answered role=staff status=declined via=answer_link"),
        (advisor.id, advisor.email, "answered role=advisor status=tentative")]
    assert {e.patient_ref for e in rows} == {crypto.cpr_digest(CPR.replace("-", ""))}
    assert_no_personal_data(rows)


def test_recording_outcome_offers_and_uptake_is_audited(session, ctx, factory, world):
    _ward, _secretary, advisor = world
    meeting = factory.meeting(advisor, datetime(2026, 11, 20, 9, tzinfo=UTC))  # no patient CPR: no patient_ref
    session.commit()
    recording.record_meeting(session, ctx=ctx, meeting=meeting, outcome=MeetingOutcome.held,
                             offers=[("rygestop", OfferResponse.accepted)], note="Ryger 20 om dagen", actor=advisor)
    recording.record_uptake(session, ctx=ctx, meeting=meeting, code="rygestop", status=UptakeStatus.started,
                            started_on=date(2026, 11, 21), actor=advisor)
    session.commit()

    rows = entries(session)
    assert [(e.action, e.detail) for e in rows] == [
        ("update", "outcome_recorded"), ("update", "offers_recorded"), ("update", "uptake_recorded")]
    assert {(e.user_id, e.role, e.meeting_id, e.patient_ref) for e in rows} == {
        (advisor.id, "advisor", meeting.id, None)}
    assert not any("Ryger" in (e.detail or "") for e in rows)


def test_a_failed_change_leaves_no_entry(session, ctx, world):
    ward, secretary, _advisor = world
    meeting = book(session, ctx, ward, secretary)
    before = len(entries(session))
    with pytest.raises(InvalidInput):
        booking.reschedule_meeting(session, ctx=ctx, meeting=meeting, actor=secretary,
                                   data=parse_input(MeetingReschedule, {"start": "2026-11-20T10:00:00+01:00"}))
    session.rollback()
    assert len(entries(session)) == before


# ---- the database refuses to edit the trail


def test_the_database_refuses_to_update_or_delete_an_entry(engine, session, now):
    audit.record(session, actor=None, action=audit.LOGIN_FAILED, object_type="user", now=now,
                 actor_email="someone@example.org", detail="bad password")
    session.commit()

    for statement in ("UPDATE audit_entry SET detail = 'nothing happened'", "DELETE FROM audit_entry"):
        with new_session(engine) as other, pytest.raises(DBAPIError, match="append-only"):
            other.execute(text(statement))
            other.commit()
    with new_session(engine) as other:
        entry = other.exec(select(AuditEntry)).one()
        entry.detail = "edited through the ORM"
        other.add(entry)
        with pytest.raises(DBAPIError, match="append-only"):
            other.commit()
    with new_session(engine) as other:
        assert [(e.user_email, e.detail) for e in other.exec(select(AuditEntry))] == [
            ("someone@example.org", "bad password")]


def _empty(engine) -> None:
    with engine.begin() as conn:
        SQLModel.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture
def migrated(database_url):
    """The test's database built by the migrations, then put back as the models build it (the PostgreSQL
    database is shared by the tests that follow)."""
    engine = make_engine(database_url)
    _empty(engine)
    upgrade_database(engine)
    yield engine
    _empty(engine)
    SQLModel.metadata.create_all(engine)
    engine.dispose()


def test_the_migration_creates_and_drops_the_same_triggers(migrated):
    from alembic import command

    insert = text("INSERT INTO audit_entry (at, action, object_type) VALUES (:at, 'view', 'meeting')")
    at = {"at": datetime(2026, 11, 23, 8)}
    with migrated.begin() as conn:
        conn.execute(insert, at)
    for statement in ("UPDATE audit_entry SET action = 'export'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append-only"), migrated.begin() as conn:
            conn.execute(text(statement))

    command.downgrade(alembic_config(migrated), "0004")  # drops the triggers (and the PostgreSQL function)
    with migrated.connect() as conn:
        if migrated.dialect.name == "postgresql":
            assert conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_entry_refuse_change'"
                                     )).scalar_one() == 0
        else:
            assert conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")).scalar_one() == 0
    upgrade_database(migrated)
    with migrated.begin() as conn:
        conn.execute(insert, at)
    with pytest.raises(DBAPIError, match="append-only"), migrated.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry"))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_truncate_still_empties_the_postgresql_test_database(engine, session, now):
    """The fixtures empty PostgreSQL with TRUNCATE, which the statement triggers do not refuse."""
    audit.record(session, actor=None, action=audit.VIEW, object_type="meeting", now=now)
    session.commit()
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_entry"))
    with new_session(engine) as other:
        assert other.exec(select(AuditEntry)).all() == []


# ---- search


@pytest.fixture
def trail(session, factory):
    """Entries at known times: local days in Copenhagen start at 23:00 UTC in winter."""
    secretary = factory.user(role=Role.secretary, email="Sekretaer.Sonderborg@hospital.example")
    admin = factory.user(role=Role.admin, email="admin@region.example")
    base = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for i, (actor, action, object_type, meeting_id) in enumerate([
            (secretary, audit.VIEW, audit.MEETING, 7), (secretary, audit.CREATE, audit.MEETING, 8),
            (admin, audit.EXPORT, audit.UPTAKE_LOG, None), (secretary, audit.VIEW, audit.MEETING_LIST, None),
            (None, audit.LOGIN_FAILED, "user", None)]):
        entry = audit.record(session, actor=actor, action=action, object_type=object_type, now=base + timedelta(
            days=i), actor_email="=HYPERLINK(\"http://evil\")" if actor is None else None, detail=f"entry {i}")
        entry.meeting_id = meeting_id
    audit.record(session, actor=secretary, action=audit.VIEW, object_type=audit.MEETING,
                 now=datetime(2026, 11, 24, 23, 30, tzinfo=UTC), detail="entry 5")  # 25 Nov 00:30 local
    session.commit()
    return secretary, admin


def details(page: audit.AuditPage) -> list[str]:
    return [e.detail for e in page.entries]


def found(session, per_page=50, page=1, **args):
    return audit.search(session, found=audit.parse_filter(args), zone=ZONE, page=page, per_page=per_page)


def test_search_filters_newest_first(session, trail):
    assert details(found(session)) == ["entry 5", "entry 4", "entry 3", "entry 2", "entry 1", "entry 0"]
    assert details(found(session, email="sekretaer.SONDERBORG")) == ["entry 5", "entry 3", "entry 1", "entry 0"]
    assert details(found(session, email="%")) == []  # a wildcard is a character, not "everything"
    assert details(found(session, email="HYPERLINK")) == ["entry 4"]
    assert details(found(session, action="view")) == ["entry 5", "entry 3", "entry 0"]
    assert details(found(session, object_type="uptake_log")) == ["entry 2"]
    assert details(found(session, meeting_id="8")) == ["entry 1"]
    assert details(found(session, action="view", email="sekretaer", object_type="meeting")) == ["entry 5", "entry 0"]


def test_search_by_local_days_both_included(session, trail):
    assert details(found(session, **{"from": "2026-11-21", "to": "2026-11-22"})) == ["entry 2", "entry 1"]
    assert details(found(session, **{"from": "2026-11-25"})) == ["entry 5"]  # 23:30 UTC is the next local day
    assert details(found(session, to="2026-11-24")) == ["entry 4", "entry 3", "entry 2", "entry 1", "entry 0"]


def test_search_pages(session, trail):
    first, last = found(session, per_page=4), found(session, per_page=4, page=2)
    assert (first.total, first.pages, details(first)) == (6, 2, ["entry 5", "entry 4", "entry 3", "entry 2"])
    assert details(last) == ["entry 1", "entry 0"]
    assert found(session, per_page=4, page=3).entries == []


@pytest.mark.parametrize("args, field", [
    ({"meeting_id": "abc"}, "meeting_id"), ({"meeting_id": "0"}, "meeting_id"),
    ({"meeting_id": str(2**31)}, "meeting_id"), ({"from": "2026-13-01"}, "from"), ({"to": "1999-12-31"}, "to"),
    ({"from": "2026-11-22", "to": "2026-11-21"}, "to"), ({"action": "DROP TABLE"}, "action"),
    ({"object_type": "x" * 31}, "object_type"), ({"email": "a" * 255}, "email"), ({"email": "a\nb"}, "email"),
    ({"email": "0101501234"}, "email"), ({"email": "010150-1234"}, "email"),
])
def test_bad_filters_name_the_field(args, field):
    with pytest.raises(InvalidInput) as exc:
        audit.parse_filter(args)
    assert set(exc.value.fields) == {field}


def test_bad_page_names_the_field():
    assert audit.parse_page(None) == audit.parse_page("1") == 1
    for value in ("0", "-1", "x", str(2**31)):
        with pytest.raises(InvalidInput) as exc:
            audit.parse_page(value)
        assert set(exc.value.fields) == {"page"}


def test_the_filter_describes_itself_for_its_own_audit_entry():
    chosen = audit.parse_filter({"email": "sekr", "action": "view", "meeting_id": "7", "from": "2026-11-01"})
    assert chosen.describe() == "email=sekr action=view meeting_id=7 from=2026-11-01"
    assert audit.parse_filter({}).describe() == "all"
    assert audit.parse_filter(chosen.args()) == chosen


# ---- export


def test_export_rows_stream_the_filtered_entries_with_formulas_neutralised(engine, session, trail):
    secretary, _admin = trail
    rows = list(audit.export_rows(engine, found=audit.parse_filter({"to": "2026-11-24"}), zone=ZONE))
    assert [row[8] for row in rows] == ["entry 4", "entry 3", "entry 2", "entry 1", "entry 0"]
    assert rows[-1][:5] == ("2026-11-20T13:00:00+01:00", secretary.email, "secretary", "view", "meeting")

    data = b"".join(exports.csv_chunks(rows, header=audit.COLUMNS)).decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(data), delimiter=";"))
    assert list(table[0]) == list(audit.COLUMNS)
    assert table[0]["user_email"] == "'=HYPERLINK(\"http://evil\")"
    assert table[4]["meeting_id"] == "7" and table[4]["action"] == "view"
