"""Answers to invitations: what each answer does to the meeting, the decline notice, and answer links."""
from __future__ import annotations

import time
from email import message_from_string, policy
from dataclasses import replace
from datetime import timedelta

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlmodel import select

from scheduler.errors import Conflict, InvalidInput
from scheduler.models import AnswerStatus, MeetingEvent, MeetingStatus, OutboxMessage, ParticipantRole
from scheduler.schemas import MeetingCancel, MeetingCreate, MeetingReschedule, parse_input
from scheduler.services import answers, booking, rebooking
from scheduler.services.links import BadLink, ExpiredLink

CPR = "0101501234"


@pytest.fixture
def booked(session, ctx, factory):
    """A meeting booked on Tuesday 24 November 10:00 local, with its advisor and a staff participant."""
    ward = factory.ward()
    secretary = factory.secretary(ward)
    secretary.email = "sekretaer@hospital.example"
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    session.commit()
    data = parse_input(MeetingCreate, {
        "ward": ward.code, "municipality": "0540", "start": "2026-11-24T10:00:00+01:00", "advisor_id": advisor.id,
        "patient": {"name": "Karl Jensen", "cpr": CPR, "email": "karl@example.net"},
        "staff": [{"name": "Sofie Sygeplejerske", "email": "sofie@hospital.example"}]})
    meeting = booking.book_meeting(session, ctx=ctx, data=data, booked_by=secretary)
    session.commit()
    return meeting, secretary, advisor


def party(session, meeting, role):
    return next(p for p in booking.participants_of(session, meeting) if p.role == role)


def answer(session, ctx, participant, status, comment=None, actor=None):
    result = answers.record_answer(session, ctx=ctx, participant=participant, status=status, comment=comment,
                                   actor=actor)
    session.commit()
    return result


def body_text(row: OutboxMessage) -> str:
    """Every decoded text part of a queued message."""
    message = message_from_string(row.message, policy=policy.default)
    return "\n".join(part.get_content() for part in message.walk() if part.get_content_maintype() == "text")


def declined_notices(session):
    return session.exec(select(OutboxMessage).where(OutboxMessage.kind == "declined")).all()


def test_the_advisor_accepting_confirms_the_meeting(session, ctx, booked):
    meeting, _, advisor = booked
    participant = answer(session, ctx, party(session, meeting, ParticipantRole.advisor), AnswerStatus.accepted)
    assert participant.status == AnswerStatus.accepted and participant.answered_at == ctx.now
    assert meeting.status == MeetingStatus.confirmed and not meeting.needs_rebooking
    event = session.exec(select(MeetingEvent).where(MeetingEvent.action == "answered")).one()
    assert event.actor_id == advisor.id  # the answer came from her, also without a login
    assert '"status": "accepted"' in event.details


def test_staff_accepting_does_not_confirm_the_meeting(session, ctx, booked):
    meeting, _, _ = booked
    answer(session, ctx, party(session, meeting, ParticipantRole.staff), AnswerStatus.accepted)
    assert meeting.status == MeetingStatus.booked


def test_declining_needs_a_reason_and_changes_nothing_without_one(session, ctx, booked):
    meeting, _, _ = booked
    advisor_party = party(session, meeting, ParticipantRole.advisor)
    for comment in (None, "", "  \n\t "):
        with pytest.raises(InvalidInput) as err:
            answers.record_answer(session, ctx=ctx, participant=advisor_party, status=AnswerStatus.declined,
                                  comment=comment, actor=None)
        assert set(err.value.fields) == {"comment"}
        session.rollback()
    assert party(session, meeting, ParticipantRole.advisor).status == AnswerStatus.needs_action
    assert not meeting.needs_rebooking and declined_notices(session) == []


def test_the_advisor_declining_flags_the_meeting_and_tells_the_booking_secretary(session, ctx, booked):
    meeting, _, _ = booked
    advisor_party = party(session, meeting, ParticipantRole.advisor)
    answer(session, ctx, advisor_party, AnswerStatus.accepted)
    assert meeting.status == MeetingStatus.confirmed

    answer(session, ctx, advisor_party, AnswerStatus.declined, comment="Syg\r\nhele ugen\x00 ")
    assert advisor_party.answer_comment == "Syg hele ugen"  # one line, no control characters
    assert meeting.needs_rebooking and meeting.status == MeetingStatus.booked
    [notice] = declined_notices(session)
    assert notice.recipient == "sekretaer@hospital.example" and notice.meeting_id == meeting.id
    text = body_text(notice)
    assert "afvist" in text and "Syg" not in text and CPR not in text and "Karl" not in text
    details = [e.details for e in session.exec(select(MeetingEvent).where(MeetingEvent.action == "answered"))]
    assert len(details) == 2 and not any("Syg" in d for d in details)  # the reason stays on the participant


def test_the_latest_answer_wins_and_declining_twice_notifies_once(session, ctx, booked):
    meeting, _, _ = booked
    advisor_party = party(session, meeting, ParticipantRole.advisor)
    answer(session, ctx, advisor_party, AnswerStatus.declined, comment="Ferie")
    answer(session, ctx, advisor_party, AnswerStatus.declined, comment="Ferie hele ugen")
    assert len(declined_notices(session)) == 1 and advisor_party.answer_comment == "Ferie hele ugen"

    answer(session, ctx, advisor_party, AnswerStatus.tentative)
    assert meeting.status == MeetingStatus.booked and not meeting.needs_rebooking
    assert advisor_party.answer_comment is None

    answer(session, ctx, advisor_party, AnswerStatus.accepted)
    assert meeting.status == MeetingStatus.confirmed
    answer(session, ctx, advisor_party, AnswerStatus.tentative)
    assert meeting.status == MeetingStatus.confirmed  # tentative leaves the status as it is
    assert advisor_party.status == AnswerStatus.tentative


def test_a_staff_decline_does_not_flag_the_meeting(session, ctx, booked):
    meeting, _, _ = booked
    answer(session, ctx, party(session, meeting, ParticipantRole.staff), AnswerStatus.declined, comment="Vagt")
    assert not meeting.needs_rebooking and declined_notices(session) == []


def test_a_cancelled_meeting_cannot_be_answered(session, ctx, booked):
    meeting, secretary, _ = booked
    booking.cancel_meeting(session, ctx=ctx, meeting=meeting, data=MeetingCancel(reason="Udskrevet"),
                           actor=secretary)
    session.commit()
    with pytest.raises(Conflict):
        answers.record_answer(session, ctx=ctx, participant=party(session, meeting, ParticipantRole.advisor),
                              status=AnswerStatus.accepted, comment=None, actor=None)


def test_needs_action_is_not_an_answer_and_comments_are_limited(session, ctx, booked):
    meeting, _, _ = booked
    advisor_party = party(session, meeting, ParticipantRole.advisor)
    with pytest.raises(InvalidInput) as err:
        answers.record_answer(session, ctx=ctx, participant=advisor_party, status=AnswerStatus.needs_action,
                              comment=None, actor=None)
    assert "status" in err.value.fields
    with pytest.raises(InvalidInput) as err:
        answers.record_answer(session, ctx=ctx, participant=advisor_party, status=AnswerStatus.declined,
                              comment="x" * 501, actor=None)
    assert "comment" in err.value.fields
    for value in (None, "", "yes", "needs-action"):
        with pytest.raises(InvalidInput):
            answers.parse_answer(value)
    assert answers.parse_answer("declined") == AnswerStatus.declined


# ---- answer links


def links_of(ctx):
    return ctx.mailer.links


def test_a_token_leads_to_its_participant(session, ctx, booked):
    meeting, _, _ = booked
    advisor_party = party(session, meeting, ParticipantRole.advisor)
    token = links_of(ctx).token_for(advisor_party)
    assert answers.participant_for_token(session, links=links_of(ctx), token=token).id == advisor_party.id


def test_tampered_and_foreign_tokens_are_bad_links(session, ctx, booked):
    meeting, _, _ = booked
    links = links_of(ctx)
    token = links.token_for(party(session, meeting, ParticipantRole.advisor))
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "nonsense", "",
                replace(links, secret_key="another-key").token_for(party(session, meeting, ParticipantRole.staff))):
        with pytest.raises(BadLink):
            answers.participant_for_token(session, links=links, token=bad)
    # Validly signed, but the participant is not in that meeting: made up, or the ids were reused.
    forged = URLSafeTimedSerializer(links.secret_key, salt="participant-answer").dumps(
        {"p": party(session, meeting, ParticipantRole.staff).id, "m": meeting.id + 1})
    with pytest.raises(BadLink):
        answers.participant_for_token(session, links=links, token=forged)


def test_an_old_token_has_expired(session, ctx, booked, monkeypatch):
    meeting, _, _ = booked
    links = replace(links_of(ctx), max_age_days=7)
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 8 * 86400)
        token = links.token_for(party(session, meeting, ParticipantRole.advisor))
    with pytest.raises(ExpiredLink) as err:
        answers.participant_for_token(session, links=links, token=token)
    assert err.value.status_code == 410


def test_the_link_of_a_removed_advisor_stops_working(session, ctx, booked, factory):
    meeting, secretary, _ = booked
    token = links_of(ctx).token_for(party(session, meeting, ParticipantRole.advisor))
    other = factory.advisor("0540", name="Anne Rådgiver")
    session.commit()
    booking.reschedule_meeting(session, ctx=ctx, meeting=meeting, actor=secretary,
                               data=MeetingReschedule(advisor_id=other.id))
    session.commit()
    with pytest.raises(BadLink):
        answers.participant_for_token(session, links=links_of(ctx), token=token)


# ---- rebooking after a decline


def test_a_declined_meeting_offers_slots_and_rebooking_clears_the_flag(session, ctx, booked, factory):
    meeting, secretary, _ = booked
    other = factory.advisor("0540", name="Anne Rådgiver")
    session.commit()
    assert rebooking.rebooking_slots(session, ctx=ctx, meeting=meeting, days=10) == []  # nothing to rebook yet
    answer(session, ctx, party(session, meeting, ParticipantRole.advisor), AnswerStatus.declined, comment="Ferie")
    assert rebooking.declined_advisor(session, meeting=meeting).answer_comment == "Ferie"

    slots = rebooking.rebooking_slots(session, ctx=ctx, meeting=meeting, days=10)
    assert len(slots) == rebooking.SLOTS_OFFERED
    assert {s.advisor_id for s in slots} == {other.id}  # another advisor first: the one who declined may be away
    assert all(s.end_at - s.start_at == meeting.end_at - meeting.start_at for s in slots)
    assert_spread(slots)

    slot = next(s for s in slots if s.advisor_id == other.id)
    booking.reschedule_meeting(session, ctx=ctx, meeting=meeting, actor=secretary,
                               data=MeetingReschedule(start=slot.start_at, advisor_id=other.id))
    session.commit()
    assert not meeting.needs_rebooking and meeting.sequence == 1 and meeting.advisor_id == other.id
    assert party(session, meeting, ParticipantRole.advisor).status == AnswerStatus.needs_action
    assert rebooking.declined_advisor(session, meeting=meeting) is None


def assert_spread(slots):
    """Earliest first, and no two offered times of one advisor overlap."""
    assert slots == sorted(slots, key=lambda s: (s.start_at, s.advisor_id))
    for a, b in zip(slots, slots[1:]):
        assert a.advisor_id != b.advisor_id or b.start_at >= a.end_at


def test_without_another_advisor_her_own_other_times_are_offered(session, ctx, booked):
    meeting, _, _ = booked
    answer(session, ctx, party(session, meeting, ParticipantRole.advisor), AnswerStatus.declined, comment="Kursus")
    slots = rebooking.rebooking_slots(session, ctx=ctx, meeting=meeting, days=10)
    assert len(slots) == rebooking.SLOTS_OFFERED and {s.advisor_id for s in slots} == {meeting.advisor_id}
    assert all(s.start_at >= meeting.end_at or s.end_at <= meeting.start_at for s in slots)  # her time is not
    assert_spread(slots)                                                                    # offered back


def test_rebooking_slots_respect_the_discharge_time(session, ctx, booked):
    meeting, _, _ = booked
    meeting.discharge_at = meeting.end_at + timedelta(hours=2)
    session.add(meeting)
    answer(session, ctx, party(session, meeting, ParticipantRole.advisor), AnswerStatus.declined, comment="Ferie")
    slots = rebooking.rebooking_slots(session, ctx=ctx, meeting=meeting, days=10)
    assert slots and all(s.end_at <= meeting.discharge_at for s in slots)
