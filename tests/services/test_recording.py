"""Recording after a meeting: outcome, offers presented with responses, uptake; corrections kept in the
history without the note; the open follow-ups, and the follow-up e-mail sent once."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from scheduler.errors import Conflict, Forbidden, InvalidInput, NotFound
from scheduler.models import (AnswerStatus, MeetingEvent, MeetingOutcome, MeetingStatus, OfferPresentation,
                              OfferResponse, Participant, ParticipantRole, Role, UptakeStatus)
from scheduler.schemas import OfferIn
from scheduler.services import offers as catalogue
from scheduler.services import recording

HELD, NO_SHOW, LATE = MeetingOutcome.held, MeetingOutcome.no_show, MeetingOutcome.cancelled_late
ACCEPTED, DECLINED, REFERRED = OfferResponse.accepted, OfferResponse.declined, OfferResponse.referred
FRIDAY_10 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 10:00 in Copenhagen, before "now" (Mon 23 Nov 09:00)


@pytest.fixture
def advisor(session, factory):
    for code, category, extra in (("genoptraening", "genoptraening", {}), ("rygestop", "rygestop", {}),
                                  ("psykolog", "mental_sundhed", {}),
                                  ("gammel", "andet", {"active_to": date(2026, 11, 19)}),
                                  ("ny", "andet", {"active_from": date(2026, 11, 21)})):
        catalogue.create_offer(session, municipality_code="0540",
                               data=OfferIn(code=code, name=code.capitalize(), category=category, **extra))
    catalogue.create_offer(session, municipality_code="0306",
                           data=OfferIn(code="lysningen", name="Lysningen", category="palliation"))
    return factory.advisor("0540", name="Mette Rådgiver")


@pytest.fixture
def meeting(factory, advisor):
    return factory.meeting(advisor, FRIDAY_10)


def events(session, meeting) -> list[MeetingEvent]:
    return list(session.exec(select(MeetingEvent).where(MeetingEvent.meeting_id == meeting.id)
                             .order_by(MeetingEvent.id)))


def recorded(session, meeting) -> dict[str, str]:
    return {offer.code: p.response.value for p, offer in recording.presentations_of(session, meeting)}


def test_outcome_sets_the_status_and_held_and_no_show_can_be_corrected(session, ctx, factory, advisor, meeting):
    future = factory.meeting(advisor, ctx.now + timedelta(hours=3))
    with pytest.raises(InvalidInput) as exc:
        recording.record_outcome(session, ctx=ctx, meeting=future, outcome=HELD, actor=advisor)
    assert set(exc.value.fields) == {"outcome"}

    recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=HELD, actor=advisor)
    assert (meeting.status, meeting.outcome) == (MeetingStatus.held, HELD)
    recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=HELD, actor=advisor)  # no news
    recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=NO_SHOW, actor=advisor)
    assert (meeting.status, meeting.outcome) == (MeetingStatus.no_show, NO_SHOW)
    with pytest.raises(Conflict) as exc:
        recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=LATE, actor=advisor)
    assert set(exc.value.fields) == {"outcome"}
    history = [(e.action, json.loads(e.details)) for e in events(session, meeting)]
    assert history == [("outcome_recorded", {"old": None, "new": "held"}),
                       ("outcome_corrected", {"old": "held", "new": "no_show"})]
    assert all(e.actor_id == advisor.id for e in events(session, meeting))

    late = factory.meeting(advisor, FRIDAY_10 + timedelta(hours=2))
    recording.record_outcome(session, ctx=ctx, meeting=late, outcome=LATE, actor=advisor)
    assert (late.status, late.outcome) == (MeetingStatus.cancelled, LATE)
    with pytest.raises(Conflict):  # a cancelled meeting stays cancelled
        recording.record_outcome(session, ctx=ctx, meeting=late, outcome=HELD, actor=advisor)


def test_only_advisors_of_the_municipality_and_admins_record(session, ctx, factory, meeting):
    for user in (factory.advisor("0306"), factory.secretary(), factory.user(role=Role.coordinator,
                                                                            municipality_code="0540")):
        with pytest.raises(Forbidden):
            recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=HELD, actor=user)
    colleague = factory.advisor("0540")
    recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=HELD, actor=colleague)
    recording.record_offers(session, ctx=ctx, meeting=meeting, offers=[("rygestop", DECLINED)], note=None,
                            actor=factory.user(role=Role.admin))
    assert recorded(session, meeting) == {"rygestop": "declined"}


def test_offers_must_be_the_municipality_s_and_active_on_the_meeting_date(session, ctx, advisor, meeting):
    with pytest.raises(InvalidInput) as exc:
        recording.record_offers(session, ctx=ctx, meeting=meeting, offers=[], note="x", actor=advisor)
    assert set(exc.value.fields) == {"outcome"}
    recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=HELD, actor=advisor)
    with pytest.raises(InvalidInput) as exc:
        recording.record_offers(session, ctx=ctx, meeting=meeting, actor=advisor, note=None, offers=[
            ("genoptraening", ACCEPTED), ("lysningen", ACCEPTED), ("gammel", DECLINED), ("ny", REFERRED),
            ("findes-ikke", DECLINED), ("genoptraening", DECLINED)])
    assert set(exc.value.fields) == {"offers.1.code", "offers.2.code", "offers.3.code", "offers.4.code",
                                     "offers.5.code"}
    assert recorded(session, meeting) == {}


def test_offers_replace_the_set_and_corrections_are_kept_without_the_note(session, ctx, advisor, meeting):
    recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=HELD, actor=advisor)
    note = "Datteren ringer, når hun har talt med lægen"
    recording.record_offers(session, ctx=ctx, meeting=meeting, note=note, actor=advisor,
                            offers=[("genoptraening", ACCEPTED), ("rygestop", DECLINED)])
    assert recorded(session, meeting) == {"genoptraening": "accepted", "rygestop": "declined"}
    assert meeting.advisor_note == note
    recording.record_uptake(session, ctx=ctx, meeting=meeting, code="genoptraening", status=UptakeStatus.started,
                            started_on=date(2026, 11, 23), actor=advisor)

    later = replace(ctx, now=ctx.now + timedelta(days=2))
    recording.record_offers(session, ctx=later, meeting=meeting, note=note, actor=advisor,
                            offers=[("genoptraening", DECLINED), ("psykolog", REFERRED)])
    assert recorded(session, meeting) == {"genoptraening": "declined", "psykolog": "referred"}
    (genoptraening,) = [p for p, o in recording.presentations_of(session, meeting) if o.code == "genoptraening"]
    assert genoptraening.uptake is None and genoptraening.started_on is None  # no follow-up on a declined offer
    assert genoptraening.recorded_at == later.now
    recording.record_offers(session, ctx=later, meeting=meeting, note=note, actor=advisor,  # the same again
                            offers=[("psykolog", REFERRED), ("genoptraening", DECLINED)])
    recording.record_offers(session, ctx=later, meeting=meeting, note=None, actor=advisor,
                            offers=[("psykolog", REFERRED), ("genoptraening", DECLINED)])
    assert meeting.advisor_note is None

    history = [(e.action, json.loads(e.details) if e.details else None) for e in events(session, meeting)]
    assert [a for a, _ in history] == ["outcome_recorded", "offers_recorded", "uptake_recorded", "offers_corrected",
                                       "note_changed"]
    assert history[1][1] == {"added": [{"code": "genoptraening", "response": "accepted"},
                                       {"code": "rygestop", "response": "declined"}],
                             "removed": [], "changed": [], "note_changed": True}
    assert history[3][1] == {
        "added": [{"code": "psykolog", "response": "referred"}],
        "removed": [{"code": "rygestop", "response": "declined", "uptake": None}],
        "changed": [{"code": "genoptraening", "old": "accepted", "new": "declined", "uptake_cleared": "started"}],
        "note_changed": False}
    assert not any("Datteren" in (e.details or "") for e in events(session, meeting))


def test_an_offer_retired_after_the_meeting_stays_valid_in_corrections(session, ctx, advisor, meeting):
    recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=HELD, actor=advisor)
    recording.record_offers(session, ctx=ctx, meeting=meeting, note=None, actor=advisor,
                            offers=[("rygestop", ACCEPTED)])
    offer = catalogue.offer_by_code(session, municipality_code="0540", code="rygestop")
    catalogue.update_offer(session, offer=offer, data=OfferIn(code="rygestop", name="Rygestop", category="rygestop",
                                                              active_from=date(2026, 11, 22)))
    recording.record_offers(session, ctx=ctx, meeting=meeting, note=None, actor=advisor,
                            offers=[("rygestop", REFERRED)])
    assert recorded(session, meeting) == {"rygestop": "referred"}


def test_a_meeting_with_offers_is_corrected_to_no_show_only_without_them(session, ctx, advisor, meeting):
    recording.record_meeting(session, ctx=ctx, meeting=meeting, outcome=HELD, note="kort",
                             offers=[("genoptraening", ACCEPTED)], actor=advisor)
    with pytest.raises(Conflict) as exc:
        recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=NO_SHOW, actor=advisor)
    assert set(exc.value.fields) == {"outcome"}
    with pytest.raises(InvalidInput) as exc:
        recording.record_meeting(session, ctx=ctx, meeting=meeting, outcome=NO_SHOW, note=None,
                                 offers=[("genoptraening", ACCEPTED)], actor=advisor)
    assert set(exc.value.fields) == {"offers"}
    recording.record_meeting(session, ctx=ctx, meeting=meeting, outcome=NO_SHOW, note="kom ikke", offers=[],
                             actor=advisor)
    assert (meeting.status, recorded(session, meeting), meeting.advisor_note) == (MeetingStatus.no_show, {}, "kom ikke")
    with pytest.raises(InvalidInput) as exc:
        recording.record_offers(session, ctx=ctx, meeting=meeting, offers=[("rygestop", ACCEPTED)], note=None,
                                actor=advisor)
    assert set(exc.value.fields) == {"offers"}


def test_uptake_rules(session, ctx, advisor, meeting):
    recording.record_meeting(session, ctx=ctx, meeting=meeting, outcome=HELD, note=None, actor=advisor,
                             offers=[("genoptraening", ACCEPTED), ("rygestop", DECLINED), ("psykolog", REFERRED)])

    def uptake(code, status, started_on=None):  # type: ignore[no-untyped-def]
        return recording.record_uptake(session, ctx=ctx, meeting=meeting, code=code, status=status,
                                       started_on=started_on, actor=advisor)

    for code, status, started_on, field in (
            ("rygestop", UptakeStatus.started, date(2026, 11, 21), "status"),
            ("genoptraening", UptakeStatus.started, None, "started_on"),
            ("genoptraening", UptakeStatus.started, date(2026, 11, 19), "started_on"),  # before the meeting
            ("genoptraening", UptakeStatus.started, date(2026, 11, 24), "started_on")):  # tomorrow
        with pytest.raises(InvalidInput) as exc:
            uptake(code, status, started_on)
        assert set(exc.value.fields) == {field}, (code, started_on)
    with pytest.raises(NotFound):
        uptake("lysningen", UptakeStatus.unknown)

    assert uptake("genoptraening", UptakeStatus.started, date(2026, 11, 20)).started_on == date(2026, 11, 20)
    assert uptake("genoptraening", UptakeStatus.started, date(2026, 11, 23)).started_on == date(2026, 11, 23)
    corrected = uptake("genoptraening", UptakeStatus.not_started, date(2026, 11, 23))
    assert (corrected.uptake, corrected.started_on, corrected.uptake_recorded_at) == (
        UptakeStatus.not_started, None, ctx.now)
    assert uptake("psykolog", UptakeStatus.unknown).uptake == UptakeStatus.unknown
    history = [(e.action, json.loads(e.details)) for e in events(session, meeting)][-4:]
    assert history[0] == ("uptake_recorded", {"code": "genoptraening", "old": {"status": None, "started_on": None},
                                              "new": {"status": "started", "started_on": "2026-11-20"}})
    assert [a for a, _ in history] == ["uptake_recorded", "uptake_corrected", "uptake_corrected", "uptake_recorded"]


def test_open_followups_are_due_accepted_or_referred_offers_without_uptake(session, ctx, factory, advisor):
    now = ctx.now

    def held(start_at, offers, municipality_advisor=advisor):  # type: ignore[no-untyped-def]
        meeting = factory.meeting(municipality_advisor, start_at)
        recording.record_meeting(session, ctx=ctx, meeting=meeting, outcome=HELD, note=None, offers=offers,
                                 actor=municipality_advisor)
        return meeting

    catalogue.update_offer(session, offer=catalogue.offer_by_code(session, municipality_code="0540", code="gammel"),
                           data=OfferIn(code="gammel", name="Gammel", category="andet"))
    due = held(now - timedelta(days=28), [("genoptraening", ACCEPTED), ("rygestop", DECLINED),
                                          ("psykolog", REFERRED)])
    older = held(now - timedelta(days=40), [("gammel", ACCEPTED)])
    held(now - timedelta(days=27, hours=23), [("genoptraening", ACCEPTED)])  # not due yet
    held(now - timedelta(days=30), [("rygestop", DECLINED), ("psykolog", OfferResponse.considering)])
    answered = held(now - timedelta(days=30), [("psykolog", ACCEPTED)])
    recording.record_uptake(session, ctx=ctx, meeting=answered, code="psykolog", status=UptakeStatus.unknown,
                            started_on=None, actor=advisor)
    held(now - timedelta(days=30), [("lysningen", ACCEPTED)], municipality_advisor=factory.advisor("0306"))
    no_show = factory.meeting(advisor, now - timedelta(days=30))
    recording.record_outcome(session, ctx=ctx, meeting=no_show, outcome=NO_SHOW, actor=advisor)

    colleague = factory.advisor("0540")
    followups = recording.open_followups(session, advisor=colleague, now=now, followup_days=28)
    assert [f.meeting.id for f in followups] == [older.id, due.id]
    assert [o.code for _p, o in followups[1].items] == ["genoptraening", "psykolog"]
    assert followups[1].due_at == due.start_at + timedelta(days=28)
    assert [f.meeting.id for f in recording.open_followups(session, advisor=colleague, now=now,
                                                           followup_days=35)] == [older.id]
    assert {m.id for m in recording.due_followup_meetings(session, now=now, followup_days=28)} >= {older.id, due.id}


def test_lists_of_meetings_to_record_and_recorded(session, ctx, factory, advisor, meeting):
    future = factory.meeting(advisor, ctx.now + timedelta(days=1))
    done = factory.meeting(advisor, FRIDAY_10 - timedelta(days=1))
    recording.record_outcome(session, ctx=ctx, meeting=done, outcome=HELD, actor=advisor)
    factory.meeting(factory.advisor("0306"), FRIDAY_10)
    assert [m.id for m in recording.meetings_to_record(session, advisor=advisor, now=ctx.now)] == [meeting.id]
    assert [m.id for m in recording.recorded_meetings(session, advisor=advisor, now=ctx.now)] == [done.id]
    assert future.id not in [m.id for m in recording.meetings_to_record(session, advisor=advisor, now=ctx.now)]


# ---- the follow-up e-mail, end to end with the jobs and a real SMTP server


def test_follow_up_prompt_is_mailed_once_without_patient_data(mail_app, session, factory, advisor, smtp_server):
    from scheduler.jobs import JOBS, queue_followups, run_due_jobs, send_outbox

    services = mail_app.extensions["scheduler"]
    advisor.email = "mette@sonderborg.example"
    ctx = services.booking_context()
    meetings = [factory.meeting(advisor, FRIDAY_10 - timedelta(days=d)) for d in (25, 10)]  # 26 Oct, 10 Nov
    for meeting in meetings:
        session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name="Karl Jensen",
                                cpr="0101501234", status=AnswerStatus.needs_action))
        recording.record_meeting(session, ctx=ctx, meeting=meeting, outcome=HELD, note="Karl har ondt",
                                 offers=[("psykolog", ACCEPTED), ("genoptraening", REFERRED)], actor=advisor)
    session.commit()
    assert "followups" in JOBS
    assert queue_followups(services) == 0  # 28 days after 26 October 10:00 is one hour away

    mail_app.clock["now"] += timedelta(days=1)
    assert queue_followups(services) == 1
    assert queue_followups(services) == 0
    assert run_due_jobs(services)["followups"] == 0
    (message,) = smtp_server.to("mette@sonderborg.example")
    assert "Opfølgning" in str(message["Subject"])
    body = message.get_body(("plain",)).get_content()
    assert "/advisor/followups" in body
    raw = message.as_string()
    for secret in ("Karl", "0101501234", "010150", "ondt", "psykolog", "Psykolog", "Genoptr"):
        assert secret not in raw, secret

    mail_app.clock["now"] += timedelta(days=18)  # the second meeting's turn
    assert queue_followups(services) == 1
    assert queue_followups(services) == 0
    send_outbox(services)
    assert len(smtp_server.to("mette@sonderborg.example")) == 2
    assert session.exec(select(OfferPresentation)).all()  # the job changes nothing recorded


def test_the_note_keeps_its_lines_but_no_control_characters_or_excess(session, ctx, advisor, meeting):
    recording.record_outcome(session, ctx=ctx, meeting=meeting, outcome=HELD, actor=advisor)
    for note in ("nul\x00tegn", "x" * 1001):
        with pytest.raises(InvalidInput) as exc:
            recording.record_offers(session, ctx=ctx, meeting=meeting, offers=[], note=note, actor=advisor)
        assert set(exc.value.fields) == {"note"}
    recording.record_offers(session, ctx=ctx, meeting=meeting, offers=[], note="  linje 1\r\nlinje 2 ", actor=advisor)
    assert meeting.advisor_note == "linje 1\nlinje 2"
    recording.record_offers(session, ctx=ctx, meeting=meeting, offers=[], note="   ", actor=advisor)
    assert meeting.advisor_note is None
