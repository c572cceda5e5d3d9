"""Booking, rescheduling, cancelling: the rules, history, video link and invite file."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from scheduler.db import new_session
from scheduler.errors import Conflict, Forbidden, InvalidInput
from scheduler.models import (AnswerStatus, Meeting, MeetingEvent, MeetingStatus, Participant, ParticipantRole,
                              User, VideoStatus)
from scheduler.schemas import MeetingCancel, MeetingCreate, MeetingReschedule, parse_input
from scheduler.services import booking
from scheduler.video.vdx import VdxProvider
from tests.video.vdx_double import VdxDouble

TUESDAY_10 = "2026-11-24T10:00:00+01:00"  # inside default working hours, after min notice


def meeting_input(ward, /, **overrides):
    data = {
        "ward": ward.code, "municipality": "0540", "start": TUESDAY_10, "duration_minutes": 45,
        "patient": {"name": "Karl Jensen", "cpr": "010150-1234", "email": "karl@example.net"},
        "relatives": [{"name": "Grete Jensen", "email": "grete@example.net"}],
        "staff": [{"name": "Sygeplejerske Sofie", "email": "sofie@hospital.example"}],
    }
    data.update(overrides)
    return parse_input(MeetingCreate, data)


@pytest.fixture
def setup(session, factory):
    ward = factory.ward()
    secretary = factory.secretary(ward)
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    session.commit()
    return ward, secretary, advisor


def count(session, model):
    return session.exec(select(func.count()).select_from(model)).one()


def test_book_with_advisor_saves_parties_link_and_invite(session, ctx, setup):
    ward, secretary, advisor = setup
    meeting = booking.book_meeting(session, ctx=ctx, data=meeting_input(ward, advisor_id=advisor.id),
                                   booked_by=secretary)
    assert ctx.calendars.read(meeting.uid) is None  # written only once committed
    session.commit()

    assert meeting.status == MeetingStatus.booked and meeting.sequence == 0
    assert meeting.start_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert meeting.end_at - meeting.start_at == timedelta(minutes=45)
    roles = [p.role for p in booking.participants_of(session, meeting)]
    assert roles == [ParticipantRole.patient, ParticipantRole.relative, ParticipantRole.staff, ParticipantRole.advisor]
    assert all(p.status == AnswerStatus.needs_action for p in booking.participants_of(session, meeting))
    assert meeting.video_status == VideoStatus.ready and meeting.video_join_url.startswith("https://meet.example.org/")
    ics = ctx.calendars.read(meeting.uid).decode()
    assert "METHOD:REQUEST" in ics and "SEQUENCE:0" in ics and meeting.uid in ics
    assert "0101501234" not in ics and "010150" not in ics and "Karl" not in ics
    assert session.exec(select(MeetingEvent.action)).all() == ["booked"]


def test_booking_without_advisor_picks_a_free_one_then_conflicts(session, ctx, setup, factory):
    ward, secretary, advisor = setup
    second = factory.advisor("0540")
    factory.advisor("0306")  # another municipality: never picked
    session.commit()
    picked = set()
    for i in range(2):
        m = booking.book_meeting(session, ctx=ctx, booked_by=secretary, data=meeting_input(
            ward, staff=[{"name": f"S{i}", "email": f"s{i}@hospital.example"}]))
        session.commit()
        picked.add(m.advisor_id)
    assert picked == {advisor.id, second.id}
    with pytest.raises(Conflict) as err:
        booking.book_meeting(session, ctx=ctx, booked_by=secretary, data=meeting_input(
            ward, staff=[{"name": "S9", "email": "s9@hospital.example"}]))
    assert "start" in err.value.fields


@pytest.mark.parametrize("overrides, field", [
    ({"staff": []}, "staff"),
    ({"patient": {"email": "x@example.net"}}, "patient.name"),
    ({"municipality": "9999"}, "municipality"),
    ({"municipality": "54"}, "municipality"),
    ({"patient": {"name": "A", "cpr": "12345"}}, "patient.cpr"),
    ({"patient": {"name": "A", "cpr": "320150-1234"}}, "patient.cpr"),
    ({"start": "2026-11-20T10:00:00+01:00"}, "start"),
    ({"start": "not a time"}, "start"),
    ({"duration_minutes": 0}, "duration_minutes"),
    ({"ward": "NOPE"}, "ward"),
    ({"discharge_at": "2026-11-24T10:15:00+01:00"}, "start"),
    ({"start": "2026-11-24T20:00:00+01:00"}, "start"),
])
def test_bad_input_names_the_field_and_saves_nothing(session, ctx, setup, overrides, field):
    ward, secretary, _ = setup
    with pytest.raises(InvalidInput) as err:
        booking.book_meeting(session, ctx=ctx, data=meeting_input(ward, **overrides), booked_by=secretary)
    assert field in err.value.fields
    session.rollback()
    assert count(session, Meeting) == 0 and count(session, Participant) == 0


def test_cpr_accepts_both_shapes_and_modulus_11_failures(session, ctx, setup):
    ward, secretary, advisor = setup
    meeting = booking.book_meeting(session, ctx=ctx, booked_by=secretary,
                                   data=meeting_input(ward, patient={"name": "A", "cpr": "0101001235"}))
    patient = booking.participants_of(session, meeting)[0]
    assert patient.cpr == "0101001235"  # 1 Jan 2000 (digit 7 = 0 -> 1900s... 4-9 rules tested in test_cpr)


def test_advisor_of_another_municipality_is_refused(session, ctx, setup, factory):
    ward, secretary, _ = setup
    other = factory.advisor("0306")
    with pytest.raises(InvalidInput) as err:
        booking.book_meeting(session, ctx=ctx, data=meeting_input(ward, advisor_id=other.id), booked_by=secretary)
    assert "advisor_id" in err.value.fields


def test_same_staff_email_cannot_be_double_booked(session, ctx, setup, factory):
    ward, secretary, _ = setup
    factory.advisor("0306")
    session.commit()
    booking.book_meeting(session, ctx=ctx, data=meeting_input(ward), booked_by=secretary)
    session.commit()
    with pytest.raises(Conflict) as err:
        booking.book_meeting(session, ctx=ctx, booked_by=secretary, data=meeting_input(
            ward, municipality="0306", start="2026-11-24T10:30:00+01:00"))
    assert "staff" in err.value.fields


def test_reschedule_keeps_uid_bumps_sequence_and_asks_everyone_again(session, ctx, setup):
    ward, secretary, advisor = setup
    meeting = booking.book_meeting(session, ctx=ctx, data=meeting_input(ward), booked_by=secretary)
    session.commit()
    uid = meeting.uid
    advisor_participant = [p for p in booking.participants_of(session, meeting) if p.role == ParticipantRole.advisor][0]
    advisor_participant.status = AnswerStatus.accepted
    booking.change_status(meeting, MeetingStatus.confirmed)
    session.commit()

    booking.reschedule_meeting(session, ctx=ctx, meeting=meeting, actor=secretary, data=MeetingReschedule(
        start=datetime.fromisoformat("2026-11-25T13:00:00+01:00"), reason="Lægen er optaget"))
    session.commit()
    assert meeting.uid == uid and meeting.sequence == 1 and meeting.status == MeetingStatus.booked
    assert meeting.start_at == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert {p.status for p in booking.participants_of(session, meeting)} == {AnswerStatus.needs_action}
    ics = ctx.calendars.read(uid).decode()
    assert "SEQUENCE:1" in ics and "DTSTART;TZID=Europe/Copenhagen:20261125T130000" in ics
    event = booking.history_of(session, meeting)[-1]
    assert event.action == "rescheduled" and event.actor_id == secretary.id and "Lægen er optaget" in event.details


def test_only_booking_roles_change_meetings_whoever_calls_the_service(session, ctx, setup):
    """The booking services check the role themselves, not only the pages and the API in front of them."""
    ward, secretary, advisor = setup
    meeting = booking.book_meeting(session, ctx=ctx, data=meeting_input(ward), booked_by=secretary)
    session.commit()
    with pytest.raises(Forbidden):
        booking.book_meeting(session, ctx=ctx, data=meeting_input(ward), booked_by=advisor)
    with pytest.raises(Forbidden):
        booking.reschedule_meeting(session, ctx=ctx, meeting=meeting, actor=advisor, data=MeetingReschedule(
            start=datetime.fromisoformat("2026-11-25T13:00:00+01:00")))
    with pytest.raises(Forbidden):
        booking.cancel_meeting(session, ctx=ctx, meeting=meeting, actor=advisor, data=MeetingCancel(reason="x"))
    with pytest.raises(Forbidden):
        booking.retry_video_link(session, ctx=ctx, meeting=meeting, actor=advisor)
    session.rollback()
    assert session.get(Meeting, meeting.id).status == MeetingStatus.booked


def test_reschedule_to_another_advisor_replaces_the_advisor_party(session, ctx, setup, factory):
    ward, secretary, advisor = setup
    other = factory.advisor("0540", name="Lars Anden")
    session.commit()
    meeting = booking.book_meeting(session, ctx=ctx, data=meeting_input(ward, advisor_id=advisor.id),
                                   booked_by=secretary)
    session.commit()
    booking.reschedule_meeting(session, ctx=ctx, meeting=meeting, actor=secretary,
                               data=MeetingReschedule(advisor_id=other.id))
    session.commit()
    advisors = [p for p in booking.participants_of(session, meeting) if p.role == ParticipantRole.advisor]
    assert [(a.user_id, a.name) for a in advisors] == [(other.id, "Lars Anden")]
    assert meeting.advisor_id == other.id and meeting.sequence == 1


def test_reschedule_onto_a_taken_time_conflicts(session, ctx, setup):
    ward, secretary, advisor = setup
    first = booking.book_meeting(session, ctx=ctx, data=meeting_input(ward), booked_by=secretary)
    second = booking.book_meeting(session, ctx=ctx, booked_by=secretary, data=meeting_input(
        ward, start="2026-11-24T13:00:00+01:00", staff=[{"name": "B", "email": "b@hospital.example"}]))
    session.commit()
    with pytest.raises(Conflict):
        booking.reschedule_meeting(session, ctx=ctx, meeting=second, actor=secretary,
                                   data=MeetingReschedule(start=first.start_at + timedelta(minutes=30)))


def test_cancel_sends_cancel_and_is_final(session, ctx, setup):
    ward, secretary, _ = setup
    meeting = booking.book_meeting(session, ctx=ctx, data=meeting_input(ward), booked_by=secretary)
    session.commit()
    booking.cancel_meeting(session, ctx=ctx, meeting=meeting, actor=secretary,
                           data=MeetingCancel(reason="Patienten er udskrevet"))
    session.commit()
    assert meeting.status == MeetingStatus.cancelled and meeting.sequence == 1
    ics = ctx.calendars.read(meeting.uid).decode()
    assert "METHOD:CANCEL" in ics and "STATUS:CANCELLED" in ics and "SEQUENCE:1" in ics
    assert "udskrevet" not in ics
    with pytest.raises(Conflict):
        booking.cancel_meeting(session, ctx=ctx, meeting=meeting, actor=secretary, data=MeetingCancel(reason="x"))
    with pytest.raises(Conflict):
        booking.reschedule_meeting(session, ctx=ctx, meeting=meeting, actor=secretary,
                                   data=MeetingReschedule(start=meeting.start_at + timedelta(days=1)))
    with pytest.raises(Conflict):
        booking.change_status(meeting, MeetingStatus.booked)
    # the freed time can be booked again
    booking.book_meeting(session, ctx=ctx, data=meeting_input(ward), booked_by=secretary)


def test_rolled_back_booking_writes_no_invite(session, ctx, setup, calendars):
    ward, secretary, _ = setup
    meeting = booking.book_meeting(session, ctx=ctx, data=meeting_input(ward), booked_by=secretary)
    uid = meeting.uid
    session.rollback()
    session.commit()
    assert calendars.read(uid) is None and count(session, Meeting) == 0


def test_video_provider_down_saves_meeting_waiting_for_link_then_retry(session, ctx, setup):
    ward, secretary, _ = setup
    with VdxDouble(token="secret-token") as vdx:
        provider = VdxProvider(vdx.url, "secret-token", timeout=2)
        down = replace(ctx, video=provider)
        vdx.fail_with(503)
        meeting = booking.book_meeting(session, ctx=down, data=meeting_input(ward), booked_by=secretary)
        session.commit()
        assert meeting.video_status == VideoStatus.pending and meeting.video_join_url is None
        assert ctx.calendars.read(meeting.uid) is None  # no invite without a link
        assert booking.pending_video_meetings(session, now=ctx.now) == [meeting]

        assert booking.retry_video_link(session, ctx=down, meeting=meeting, actor=None) is False
        session.commit()
        vdx.fail_with(None)
        assert booking.retry_video_link(session, ctx=down, meeting=meeting, actor=None) is True
        session.commit()
    assert meeting.video_status == VideoStatus.ready and meeting.video_external_id
    assert meeting.video_guest_pin and "SEQUENCE:0" in ctx.calendars.read(meeting.uid).decode()
    assert booking.pending_video_meetings(session, now=ctx.now) == []


def test_twenty_simultaneous_bookings_of_one_advisor_one_wins(engine, session, ctx, setup):
    ward, secretary, advisor = setup
    results: list[str] = []
    barrier = threading.Barrier(20)

    def book(i: int) -> None:
        data = meeting_input(ward, advisor_id=advisor.id,
                             staff=[{"name": f"S{i}", "email": f"s{i}@hospital.example"}])
        barrier.wait()
        with new_session(engine) as s:
            user = s.get(User, secretary.id)
            try:
                booking.book_meeting(s, ctx=ctx, data=data, booked_by=user)
                s.commit()
                results.append("ok")
            except Conflict:
                s.rollback()
                results.append("conflict")

    threads = [threading.Thread(target=book, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 19 + ["ok"]
    assert count(session, Meeting) == 1
