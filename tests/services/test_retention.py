"""Retention: after `retention.personal_data_days` a meeting's personal data is gone (names, CPR, contacts,
free text, e-mails, invite), while the pseudonymised meeting, its offers and uptake stay, so statistics
and exports give the same figures. Real bookings, answers, recordings and e-mails, on both databases."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel, select

from scheduler import crypto
from scheduler.db import new_session
from scheduler.jobs import JOBS, remove_personal_data
from scheduler.models import (AnswerStatus, AuditEntry, Meeting, MeetingEvent, MeetingOutcome, OfferResponse,
                              OutboxMessage, Participant, ParticipantRole, UptakeStatus)
from scheduler.schemas import MeetingCancel, MeetingCreate, MeetingReschedule, OfferIn
from scheduler.services import exports, recording, retention
from scheduler.services import offers as catalogue
from scheduler.services.answers import record_answer
from scheduler.services.booking import book_meeting, cancel_meeting, reschedule_meeting
from scheduler.services.statistics import uptake_statistics

ZONE = ZoneInfo("Europe/Copenhagen")
PERIOD = (date(2026, 11, 1), date(2027, 6, 30))
KEY = exports.export_key(configured="retention-test", secret_key="unused")

KARL = {"name": "Karl Retentionsen", "cpr": "010150-1234", "email": "karl.retention@example.net",
        "phone": "+45 20 30 40 51"}
GRETE = {"name": "Grete Retentionsen", "email": "grete.retention@example.net", "phone": "+45 31 32 33 34"}
BIRTHE = {"name": "Birthe Slettesen", "cpr": "020260-4321", "email": "birthe.slet@example.net", "phone": "+45 41 42 43 44"}
CARL = {"name": "Carl Beholdsen", "cpr": "030370-3456", "email": "carl.behold@example.net"}
SOFIE = {"name": "Sygeplejerske Sofie Slet", "email": "sofie.slet@hospital.example"}
NOTE = "Karl har svært ved trapper, hustruen er syg"
RESCHEDULE_REASON = "Karl skal til dialyse om formiddagen"
CANCEL_REASON = "Birthe er indlagt med lungebetændelse"
COMMENT = "Grete kan kun deltage kort pga. kemoterapi"
REMOVED = [KARL["name"], KARL["email"], KARL["phone"], GRETE["name"], GRETE["email"], GRETE["phone"],
           BIRTHE["name"], BIRTHE["email"], BIRTHE["phone"], SOFIE["name"], SOFIE["email"], NOTE, RESCHEDULE_REASON,
           CANCEL_REASON, COMMENT]
CPRS = ["0101501234", "010150-1234", "0202604321", "020260-4321"]  # encrypted at rest: never there in plain


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=ZONE)


@dataclass
class History:
    old: Meeting  # held, recorded, with a relative's comment: due for removal
    cancelled: Meeting  # cancelled with a reason: due for removal
    recent: Meeting  # ended 20 days before the job runs: kept
    advisor_name: str
    advisor_email: str


def _book(session, services, secretary, ward, advisor, start: datetime, patient: dict, relatives=(), staff=(SOFIE,)):
    data = MeetingCreate.model_validate({"ward": ward.code, "municipality": "0540", "start": start,
                                         "advisor_id": advisor.id, "patient": patient, "relatives": list(relatives),
                                         "staff": list(staff)})
    meeting = book_meeting(session, ctx=services.booking_context(), data=data, booked_by=secretary)
    session.commit()
    return meeting


@pytest.fixture
def history(mail_app, session, factory, smtp_server) -> History:
    """Two meetings in November 2026 (one held and recorded, one cancelled) and one in May 2027, with every
    kind of personal data the app keeps, and their e-mails sent."""
    services = mail_app.extensions["scheduler"]
    clock = mail_app.clock
    for code, category in (("genoptraening", "genoptraening"), ("rygestop", "rygestop")):
        catalogue.create_offer(session, municipality_code="0540",
                               data=OfferIn(code=code, name=code.capitalize(), category=category))
    ward = factory.ward(code="ONK")
    secretary = factory.secretary(ward)
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    advisor.email = "mette.raadgiver@sonderborg.example"
    session.add(advisor)
    session.commit()

    old = _book(session, services, secretary, ward, advisor, local(2026, 11, 24, 10), KARL, relatives=[GRETE])
    old = reschedule_meeting(session, ctx=services.booking_context(), meeting=old, actor=secretary,
                             data=MeetingReschedule(start=local(2026, 11, 24, 13), reason=RESCHEDULE_REASON))
    session.commit()
    relative = next(p for p in session.exec(select(Participant).where(Participant.meeting_id == old.id))
                    if p.role == ParticipantRole.relative)
    record_answer(session, ctx=services.booking_context(), participant=relative, status=AnswerStatus.tentative,
                  comment=COMMENT, actor=None)
    advisor_party = next(p for p in session.exec(select(Participant).where(Participant.meeting_id == old.id))
                         if p.role == ParticipantRole.advisor)
    record_answer(session, ctx=services.booking_context(), participant=advisor_party, status=AnswerStatus.accepted,
                  comment=None, actor=advisor)
    session.commit()
    cancelled = _book(session, services, secretary, ward, advisor, local(2026, 11, 25, 10), BIRTHE,
                      staff=[{"name": "Læge Lars", "email": "lars.slet@hospital.example"}])
    cancel_meeting(session, ctx=services.booking_context(), meeting=cancelled, data=MeetingCancel(reason=CANCEL_REASON),
                   actor=secretary)
    session.commit()
    assert JOBS["outbox"](services) >= 6  # invites, update, answers, cancellation: all sent

    clock["now"] = local(2026, 11, 24, 15).astimezone(UTC)  # after the meeting: the advisor records it
    recording.record_meeting(session, ctx=services.booking_context(), meeting=old, outcome=MeetingOutcome.held,
                             offers=[("genoptraening", OfferResponse.accepted), ("rygestop", OfferResponse.declined)],
                             note=NOTE, actor=advisor)
    session.commit()
    clock["now"] = local(2026, 12, 10, 9).astimezone(UTC)
    recording.record_uptake(session, ctx=services.booking_context(), meeting=old, code="genoptraening",
                            status=UptakeStatus.started, started_on=date(2026, 12, 1), actor=advisor)
    session.commit()

    clock["now"] = local(2027, 5, 3, 9).astimezone(UTC)
    recent = _book(session, services, secretary, ward, advisor, local(2027, 5, 4, 10), CARL,
                   staff=[{"name": "Læge Lise Beholdsen", "email": "lise.behold@hospital.example"}])
    JOBS["outbox"](services)
    return History(old=old, cancelled=cancelled, recent=recent, advisor_name=advisor.name,
                   advisor_email=advisor.email)


def _parties(engine, meeting: Meeting) -> dict[ParticipantRole, list[Participant]]:
    with new_session(engine) as session:
        found: dict[ParticipantRole, list[Participant]] = {}
        for p in session.exec(select(Participant).where(Participant.meeting_id == meeting.id).order_by(Participant.id)):
            found.setdefault(p.role, []).append(p)
        return found


def _figures(engine) -> tuple[object, list[tuple[object, ...]]]:
    with new_session(engine) as session:
        stats = uptake_statistics(session, start=PERIOD[0], end=PERIOD[1], municipality_codes=["0540"], zone=ZONE,
                                  threshold=1)
    rows = list(exports.uptake_rows(engine, start=PERIOD[0], end=PERIOD[1], municipality_codes=["0540"], zone=ZONE,
                                    key=KEY))
    return stats, rows


def _every_stored_value(engine) -> str:
    """Every row of every table as text, read with plain SQL."""
    parts = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                parts.append(" ".join(str(value) for value in row))
    return "\n".join(parts)


def test_personal_data_is_removed_and_the_figures_stay(mail_app, engine, history, database_url):
    services = mail_app.extensions["scheduler"]
    calendars = services.calendars
    old, cancelled, recent = history.old, history.cancelled, history.recent
    karl_digest = crypto.cpr_digest("0101501234")
    assert calendars.read(old.uid) and calendars.read(cancelled.uid) and calendars.read(recent.uid)
    stats_before, rows_before = _figures(engine)
    assert len(rows_before) == 2 and stats_before.total.cells["booked"].value == 3
    with new_session(engine) as session:
        assert session.exec(select(OutboxMessage).where(OutboxMessage.meeting_id.in_([old.id, cancelled.id]))).all()
    before = _every_stored_value(engine)
    assert [value for value in REMOVED if value not in before] == []  # the test data is really there

    # 180 days after the cancelled meeting's end and a day more: both November meetings are due, May's is not
    mail_app.clock["now"] = cancelled.end_at + timedelta(days=181)
    assert remove_personal_data(services) == 2
    assert remove_personal_data(services) == 0  # idempotent: nothing left to do
    removed_at = mail_app.clock["now"]

    with new_session(engine) as session:
        for meeting in (old, cancelled):
            row = session.get(Meeting, meeting.id)
            assert row.personal_data_removed_at == removed_at
            assert (row.advisor_note, row.cancel_reason) == (None, None)
            assert calendars.read(meeting.uid) is None
            assert not session.exec(select(OutboxMessage).where(OutboxMessage.meeting_id == meeting.id)).all()
            for event in session.exec(select(MeetingEvent).where(MeetingEvent.meeting_id == meeting.id)):
                assert event.details is None or not retention.FREE_TEXT_DETAILS & json.loads(event.details).keys()
            audit = session.exec(select(AuditEntry).where(AuditEntry.meeting_id == meeting.id,
                                                          AuditEntry.action == "delete")).one()
            assert audit.user_id is None and "retention" in audit.detail
        (held, status) = session.exec(select(Meeting.outcome, Meeting.status).where(Meeting.id == old.id)).one()
        assert (held, status.value) == (MeetingOutcome.held, "held")
        assert session.get(Meeting, cancelled.id).status.value == "cancelled"
        actions = [e.action for e in session.exec(select(MeetingEvent).where(MeetingEvent.meeting_id == old.id))]
        assert actions[:2] == ["booked", "rescheduled"] and "offers_recorded" in actions  # the history stays

    parties = _parties(engine, old)
    (patient,) = parties[ParticipantRole.patient]
    (relative,) = parties[ParticipantRole.relative]
    (staff,) = parties[ParticipantRole.staff]
    (advisor,) = parties[ParticipantRole.advisor]
    for party in (patient, relative, staff):
        assert (party.name, party.email, party.phone) == (retention.REMOVED_NAME, None, None)
    assert (patient.cpr, patient.cpr_digest) == (None, karl_digest)  # the pseudonym stays
    assert relative.answer_comment is None and relative.status == AnswerStatus.tentative
    assert (advisor.name, advisor.email, advisor.user_id) == (history.advisor_name, history.advisor_email,
                                                              old.advisor_id)  # a user keeps her link
    (birthe,) = _parties(engine, cancelled)[ParticipantRole.patient]
    assert (birthe.name, birthe.cpr, birthe.cpr_digest) == (retention.REMOVED_NAME, None,
                                                            crypto.cpr_digest("0202604321"))

    kept = _parties(engine, recent)[ParticipantRole.patient][0]  # the May meeting is untouched
    assert (kept.name, kept.cpr, kept.email) == (CARL["name"], "0303703456", CARL["email"])
    with new_session(engine) as session:
        assert session.get(Meeting, recent.id).personal_data_removed_at is None
    assert calendars.read(recent.uid)

    stats_after, rows_after = _figures(engine)
    assert stats_after == stats_before and rows_after == rows_before
    assert rows_after[0][-1] == exports.patient_key(KEY, cpr_digest=karl_digest, meeting_uid="unused")

    stored = _every_stored_value(engine)
    assert not [value for value in REMOVED + CPRS if value in stored]
    assert CARL["name"] in stored and history.advisor_name in stored
    if engine.dialect.name == "sqlite":  # nor is any of it left in the file's free space or the WAL
        path = Path(database_url.removeprefix("sqlite:///"))
        raw = path.read_bytes() + (path.with_name(path.name + "-wal").read_bytes()
                                   if path.with_name(path.name + "-wal").exists() else b"")
        left = [value for value in REMOVED + CPRS if value.encode() in raw]
        assert not left, f"still in the database file: {left}"
        assert CARL["name"].encode() in raw


def test_the_job_runs_in_batches_and_is_wired_in(mail_app, engine, session, factory):
    services = mail_app.extensions["scheduler"]
    advisor = factory.advisor("0540")
    ended = mail_app.clock["now"] - timedelta(days=services.config.retention.personal_data_days, minutes=1)
    meetings = [factory.meeting(advisor, ended - timedelta(hours=1 + i)) for i in range(5)]
    for meeting in meetings:
        session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name="Ida Batchsen",
                                cpr="0101501234", status=AnswerStatus.accepted))
    not_yet = factory.meeting(advisor, mail_app.clock["now"] - timedelta(days=179))
    session.commit()

    assert retention.remove_expired_personal_data(engine, calendars=services.calendars, clock=services.clock,
                                                  days=services.config.retention.personal_data_days, batch=2) == 5
    with new_session(engine) as check:
        names = check.exec(select(Participant.name)).all()
        assert names == [retention.REMOVED_NAME] * 5
        assert check.get(Meeting, not_yet.id).personal_data_removed_at is None
    assert JOBS["retention"] is remove_personal_data


def test_a_meeting_whose_e_mail_is_being_sent_waits_for_the_next_run(mail_app, engine, session, factory):
    services = mail_app.extensions["scheduler"]
    now = mail_app.clock["now"]
    meeting = factory.meeting(factory.advisor("0540"), now - timedelta(days=200))
    session.add(OutboxMessage(kind="reminder", meeting_id=meeting.id, recipient="a@example.org", subject="x",
                              message="Karl", claimed_until=now + timedelta(minutes=3)))
    session.commit()
    assert remove_personal_data(services) == 0
    session.exec(select(OutboxMessage)).one().claimed_until = None  # the sender finished (or gave up)
    session.commit()
    assert remove_personal_data(services) == 1
    assert not session.exec(select(OutboxMessage)).all()


def test_free_text_in_history_details():
    assert retention.without_free_text('{"reason": "Karl er syg", "old": {"start_at": "x"}}') == \
        '{"old": {"start_at": "x"}}'
    assert retention.without_free_text('{"reason": "x"}') is None
    assert retention.without_free_text('{"status": "accepted"}') == '{"status": "accepted"}'
    assert retention.without_free_text("not json: Karl") is None
    assert retention.without_free_text('["Karl"]') is None


def test_the_meeting_page_says_the_personal_data_was_removed(app, login, session, factory, now):
    from scheduler.models import User

    advisor = factory.advisor("0540", name="Mette Rådgiver")
    meeting = factory.meeting(advisor, now - timedelta(days=200), staff_emails=("sofie.slet@hospital.example",))
    session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name=KARL["name"], cpr="0101501234",
                            email=KARL["email"], status=AnswerStatus.accepted))
    session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.advisor, name=advisor.name,
                            email=advisor.email, user_id=advisor.id, status=AnswerStatus.accepted))
    meeting.status, meeting.cancel_reason = meeting.status.cancelled, CANCEL_REASON
    session.add(meeting)
    session.commit()
    client = login(session.get(User, meeting.booked_by_id), session)
    before = client.get(f"/meetings/{meeting.id}").text
    assert KARL["name"] in before and CANCEL_REASON in before and 'id="personal-data-removed"' not in before

    services = app.extensions["scheduler"]
    assert retention.remove_expired_personal_data(services.engine, calendars=services.calendars,
                                                  clock=lambda: now, days=180) == 1
    page = client.get(f"/meetings/{meeting.id}")
    assert page.status_code == 200
    assert 'id="personal-data-removed"' in page.text and "Slettet" in page.text
    for gone in (KARL["name"], KARL["email"], "010150", "sofie.slet", CANCEL_REASON, "Aflyst: None", "invite.ics"):
        assert gone not in page.text, gone
    assert "Mette Rådgiver" in page.text  # the advisor is a user: her name stays
    assert client.get(f"/meetings/{meeting.id}/invite.ics").status_code == 410  # gone, not "waiting for a link"


def test_two_job_runners_at_once_remove_each_meeting_once(mail_app, session, factory, database_url):
    import threading

    from scheduler.db import make_engine

    services = mail_app.extensions["scheduler"]
    now = mail_app.clock["now"]
    advisor = factory.advisor("0540")
    meetings = [factory.meeting(advisor, now - timedelta(days=200, hours=i)) for i in range(12)]
    for meeting in meetings:
        session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name="Ida Samtidig",
                                cpr="0101501234", status=AnswerStatus.accepted))
    session.commit()

    engines = [make_engine(database_url) for _ in range(2)]  # two processes, each with its own connections
    counts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def runner(engine) -> None:
        try:
            start.wait()
            counts.append(retention.remove_expired_personal_data(engine, calendars=services.calendars,
                                                                 clock=lambda: now, days=180, batch=2))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=runner, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for engine in engines:
        engine.dispose()
    assert not errors and sum(counts) == 12
    with new_session(services.engine) as check:
        deletions = check.exec(select(AuditEntry.meeting_id).where(AuditEntry.action == "delete")).all()
        assert sorted(deletions) == sorted(m.id for m in meetings)  # each meeting once
        assert set(check.exec(select(Participant.name)).all()) == {retention.REMOVED_NAME}
