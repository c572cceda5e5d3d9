"""E-mail delivery end to end with a real SMTP server: iMIP layout, updates, cancels, the outbox
surviving an SMTP outage, reminders and escalations once, also with two job runners at a time."""
from __future__ import annotations

import threading
from contextlib import ExitStack
from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlmodel import select

from scheduler.jobs import queue_escalations, queue_reminders, run_due_jobs, send_outbox
from scheduler.models import OutboxMessage
from scheduler.schemas import MeetingCancel, MeetingCreate, MeetingReschedule, parse_input
from scheduler.services import booking

CPR = "0101501234"


@pytest.fixture
def parties(session, factory):
    ward = factory.ward()
    secretary = factory.secretary(ward)
    secretary.email = "sekretaer@hospital.example"
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    session.commit()
    return ward, secretary, advisor


def book(app, session, ward, secretary, **overrides):
    services = app.extensions["scheduler"]
    data = {"ward": ward.code, "municipality": "0540", "start": "2026-11-25T10:00:00+01:00",
            "patient": {"name": "Karl Jensen", "cpr": CPR, "email": "karl@example.net"},
            "relatives": [{"name": "Grete Jensen"}],
            "staff": [{"name": "Sofie Sygeplejerske", "email": "sofie@hospital.example"}]}
    data.update(overrides)
    meeting = booking.book_meeting(session, ctx=services.booking_context(), data=parse_input(MeetingCreate, data),
                                   booked_by=secretary)
    session.commit()
    return meeting


def calendar_part(message):
    related = message.get_payload()[0]
    assert message.get_content_type() == "multipart/mixed"
    assert related.get_content_type() == "multipart/alternative"
    types = [part.get_content_type() for part in related.get_payload()]
    assert types == ["text/plain", "text/html", "text/calendar"]
    part = related.get_payload()[2]
    calendar = Calendar.from_ical(part.get_content())
    assert part.get_param("method") == calendar["METHOD"]  # method= equals METHOD inside
    return calendar


def test_invites_have_the_imip_layout_and_no_personal_data(mail_app, session, parties, smtp_server):
    ward, secretary, advisor = parties
    meeting = book(mail_app, session, ward, secretary)
    assert send_outbox(mail_app.extensions["scheduler"]) == 3  # patient, staff, advisor (relative has no e-mail)

    recipients = sorted(m["To"].addresses[0].addr_spec for m in smtp_server.messages)
    assert recipients == sorted(["karl@example.net", "sofie@hospital.example", advisor.email])
    for message in smtp_server.messages:
        calendar = calendar_part(message)
        assert calendar["METHOD"] == "REQUEST"
        event = calendar.walk("VEVENT")[0]
        assert event["UID"] == meeting.uid and event["SEQUENCE"] == 0
        assert str(event["ORGANIZER"]) == "mailto:udskrivning@hospital.example"
        assert message["From"].addresses[0].addr_spec == "udskrivning@hospital.example"
        raw = message.as_string()
        assert CPR not in raw and "010150" not in raw and "Karl" not in str(message["Subject"])
        assert "udskrivningssamtale" in str(message["Subject"])
    (advisor_mail,) = smtp_server.to(advisor.email)
    assert "/answer/" in advisor_mail.get_body(("plain",)).get_content()
    (patient_mail,) = smtp_server.to("karl@example.net")
    attachments = list(patient_mail.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["invite.ics"]
    assert "/answer/" not in patient_mail.as_string()
    assert meeting.video_join_url in patient_mail.get_body(("plain",)).get_content()


def test_outbox_survives_an_smtp_outage_and_sends_each_message_once(mail_app, session, parties, smtp_server):
    ward, secretary, _ = parties
    services = mail_app.extensions["scheduler"]
    smtp_server.stop()
    meeting = book(mail_app, session, ward, secretary)  # booking succeeds with the server down
    assert meeting.id is not None
    assert send_outbox(services) == 0
    rows = session.exec(select(OutboxMessage)).all()
    session.commit()  # SQLite: every transaction holds the write lock; end this one before the sender writes
    assert len(rows) == 3 and all(r.sent_at is None and r.attempts == 1 and r.last_error for r in rows)

    smtp_server.start()
    assert send_outbox(services) == 0  # not yet due: backoff
    mail_app.clock["now"] += timedelta(minutes=2)
    assert send_outbox(services) == 3
    assert send_outbox(services) == 0
    assert len(smtp_server.messages) == 3
    session.expire_all()
    assert all(r.sent_at is not None for r in session.exec(select(OutboxMessage)))


def test_reschedule_sends_updates_and_a_removed_advisor_gets_her_own_cancel(
        mail_app, session, parties, smtp_server, factory):
    ward, secretary, advisor = parties
    other = factory.advisor("0540", name="Lars Anden")
    session.commit()
    services = mail_app.extensions["scheduler"]
    meeting = book(mail_app, session, ward, secretary, advisor_id=advisor.id)
    send_outbox(services)
    smtp_server.messages.clear()

    booking.reschedule_meeting(session, ctx=services.booking_context(), meeting=meeting, actor=secretary,
                               data=MeetingReschedule(advisor_id=other.id,
                                                      start=meeting.start_at + timedelta(hours=2)))
    session.commit()
    send_outbox(services)
    (old,) = smtp_server.to(advisor.email)
    calendar = calendar_part(old)
    assert calendar["METHOD"] == "CANCEL" and calendar.walk("VEVENT")[0]["SEQUENCE"] == 1
    attendee = calendar.walk("VEVENT")[0]["ATTENDEE"]
    assert not isinstance(attendee, list) and str(attendee) == f"mailto:{advisor.email}"
    for address in (other.email, "sofie@hospital.example", "karl@example.net"):
        (message,) = smtp_server.to(address)
        calendar = calendar_part(message)
        event = calendar.walk("VEVENT")[0]
        assert calendar["METHOD"] == "REQUEST" and event["SEQUENCE"] == 1 and event["UID"] == meeting.uid
    smtp_server.messages.clear()

    booking.cancel_meeting(session, ctx=services.booking_context(), meeting=meeting, actor=secretary,
                           data=MeetingCancel(reason="Udskrevet tidligere"))
    session.commit()
    send_outbox(services)
    assert len(smtp_server.messages) == 3
    for message in smtp_server.messages:
        calendar = calendar_part(message)
        assert calendar["METHOD"] == "CANCEL" and calendar.walk("VEVENT")[0]["STATUS"] == "CANCELLED"
        assert "Udskrevet tidligere" not in message.as_string()


def test_reminders_fire_once_per_offset(mail_app, session, parties, smtp_server):
    ward, secretary, _ = parties
    services = mail_app.extensions["scheduler"]
    meeting = book(mail_app, session, ward, secretary)  # Wed 09:00 UTC, booked Mon 08:00 UTC
    send_outbox(services)
    smtp_server.messages.clear()

    mail_app.clock["now"] = meeting.start_at - timedelta(hours=30)
    assert queue_reminders(services) == 0
    mail_app.clock["now"] = meeting.start_at - timedelta(hours=23)
    assert queue_reminders(services) == 1
    assert queue_reminders(services) == 0
    assert send_outbox(services) == 3
    mail_app.clock["now"] = meeting.start_at - timedelta(minutes=50)
    assert queue_reminders(services) == 1
    assert queue_reminders(services) == 0
    send_outbox(services)
    reminders = [m for m in smtp_server.messages if "Påmindelse" in str(m["Subject"])]
    assert len(reminders) == 6
    assert all(meeting.video_join_url in m.get_body(("plain",)).get_content() for m in reminders)
    assert all(CPR not in m.as_string() for m in reminders)


def test_unanswered_invitation_escalates_to_the_secretary_once(mail_app, session, parties, smtp_server):
    ward, secretary, _ = parties
    services = mail_app.extensions["scheduler"]
    book(mail_app, session, ward, secretary, start="2026-11-27T10:00:00+01:00")
    assert queue_escalations(services) == 0
    mail_app.clock["now"] += timedelta(hours=25)
    assert queue_escalations(services) == 1
    assert queue_escalations(services) == 0
    send_outbox(services)
    (escalation,) = [m for m in smtp_server.to("sekretaer@hospital.example")]
    assert "Ubesvaret" in str(escalation["Subject"]) and "/meetings/" in escalation.get_body(("plain",)).get_content()


def test_two_job_runners_at_once_send_everything_exactly_once(mail_app, session, parties, smtp_server, factory):
    ward, secretary, _ = parties
    services = mail_app.extensions["scheduler"]
    for i in range(4):
        factory.advisor("0540")
    session.commit()
    meetings = [book(mail_app, session, ward, secretary, start=f"2026-11-25T{9 + i:02d}:00:00+01:00",
                     staff=[{"name": f"S{i}", "email": f"s{i}@hospital.example"}]) for i in range(4)]
    mail_app.clock["now"] = meetings[0].start_at - timedelta(minutes=30)  # a reminder and an escalation each
    barrier = threading.Barrier(2)
    errors = []

    def runner():
        barrier.wait()
        try:
            for _ in range(3):
                run_due_jobs(services)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = session.exec(select(OutboxMessage)).all()
    kinds = sorted(r.kind for r in rows)
    # 4 meetings x 3 invites + 4 x 3 reminders + 4 escalations, each queued once
    assert kinds.count("invite") == 12 and kinds.count("reminder") == 12 and kinds.count("escalation") == 4
    assert len(smtp_server.messages) == len(rows) == 28
    ids = [m["Message-ID"] for m in smtp_server.messages]
    assert len(set(ids)) == len(ids)


def _commit_durability(engine) -> set[str]:  # type: ignore[no-untyped-def]
    """The setting of every pooled connection (all taken at once, so none is missed)."""
    with ExitStack() as stack:
        connections = [stack.enter_context(engine.connect()) for _ in range(engine.pool.size())]
        if engine.dialect.name == "sqlite":
            # on the driver's connection: SQLAlchemy's would begin each with the write lock
            return {{0: "OFF", 1: "NORMAL", 2: "FULL"}[
                c.connection.driver_connection.execute("PRAGMA synchronous").fetchone()[0]] for c in connections}
        return {c.exec_driver_sql("SHOW synchronous_commit").scalar() for c in connections}


def test_the_sender_gives_its_connection_back_waiting_for_the_disk_again(mail_app, session, parties, smtp_server):
    """The outbox marks messages sent without waiting for the disk (services/outbox.py); every other
    write, a booking above all, must still wait: the pooled connection comes back as it was."""
    ward, secretary, _ = parties
    services = mail_app.extensions["scheduler"]
    engine = services.engine
    engine.dispose()  # one pooled connection from here on
    expected = _commit_durability(engine)
    assert expected in ({"FULL"}, {"on"})
    book(mail_app, session, ward, secretary)
    assert send_outbox(services) == 3
    assert _commit_durability(engine) == expected
    smtp_server.stop()  # and when the server cannot be reached
    book(mail_app, session, ward, secretary, start="2026-11-26T10:00:00+01:00")
    assert send_outbox(services) == 0
    assert _commit_durability(engine) == expected
