"""The advisor's calendar feed: secret revocable tokens, and a published calendar of her meetings only."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ics
import pytest
import vobject
from icalendar import Calendar
from sqlmodel import select

from scheduler.models import AnswerStatus, CalendarFeed, MeetingStatus, Participant, ParticipantRole
from scheduler.services import calendar_feeds

CPR = "0101501234"


@pytest.fixture
def advisor(session, factory):
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    session.commit()
    return advisor


def test_a_feed_token_is_stored_as_a_hash_and_can_be_rotated_and_revoked(session, advisor, now):
    token = calendar_feeds.issue_feed(session, user=advisor, now=now)
    session.commit()
    assert token.startswith(calendar_feeds.TOKEN_PREFIX) and len(token) > 40
    [row] = session.exec(select(CalendarFeed)).all()
    assert token not in row.token_hash and len(row.token_hash) == 64
    assert calendar_feeds.user_for_feed(session, token=token).id == advisor.id

    rotated = calendar_feeds.issue_feed(session, user=advisor, now=now)
    session.commit()
    assert rotated != token
    assert calendar_feeds.user_for_feed(session, token=token) is None
    assert calendar_feeds.user_for_feed(session, token=rotated).id == advisor.id
    assert calendar_feeds.active_feed(session, user=advisor).revoked_at is None

    assert calendar_feeds.revoke_feed(session, user=advisor, now=now) is True
    session.commit()
    assert calendar_feeds.user_for_feed(session, token=rotated) is None
    assert calendar_feeds.active_feed(session, user=advisor) is None
    assert calendar_feeds.revoke_feed(session, user=advisor, now=now) is False


def test_unknown_malformed_or_inactive_users_tokens_find_nobody(session, advisor, now):
    token = calendar_feeds.issue_feed(session, user=advisor, now=now)
    session.commit()
    for bad in ("", "x", calendar_feeds.TOKEN_PREFIX + "unknown", token + "x", token[len("dscal_"):]):
        assert calendar_feeds.user_for_feed(session, token=bad) is None
    advisor.is_active = False
    session.add(advisor)
    session.commit()
    assert calendar_feeds.user_for_feed(session, token=token) is None


def meeting(factory, session, advisor, start_at, *, status=MeetingStatus.booked, link=True):
    """A meeting with its link and every kind of party, the patient with name, CPR and e-mail."""
    m = factory.meeting(advisor, start_at, status=status, staff_emails=("sofie@hospital.example",))
    m.video_join_url = f"https://meet.example.org/room-{m.id}" if link else None
    session.add(m)
    session.add(Participant(meeting_id=m.id, role=ParticipantRole.patient, name="Karl Jensen", cpr=CPR,
                            email="karl.jensen@example.net", status=AnswerStatus.needs_action))
    session.add(Participant(meeting_id=m.id, role=ParticipantRole.advisor, name=advisor.name, email=advisor.email,
                            user_id=advisor.id, status=AnswerStatus.accepted))
    session.commit()
    return m


def test_the_feed_holds_her_current_and_recent_meetings_only(session, ctx, factory, advisor, now):
    other = factory.advisor("0540", name="Anne Rådgiver")
    day = timedelta(days=1)
    included = [
        meeting(factory, session, advisor, now + day),
        meeting(factory, session, advisor, now + 2 * day, status=MeetingStatus.confirmed),
        meeting(factory, session, advisor, now - 10 * day, status=MeetingStatus.held),
        # The DST change next spring: local time with the VTIMEZONE for 2027 as well.
        meeting(factory, session, advisor, datetime(2027, 3, 28, 9, 0, tzinfo=UTC)),
    ]
    left_out = [
        meeting(factory, session, advisor, now + 3 * day, status=MeetingStatus.cancelled),
        meeting(factory, session, advisor, now - 40 * day, status=MeetingStatus.held),
        meeting(factory, session, other, now + day),
        meeting(factory, session, advisor, now + 4 * day, link=False),  # waits for its link, as its invite does
    ]
    data = calendar_feeds.build_feed(session, ctx=ctx, user=advisor).to_ical()
    text = data.decode()

    calendar = Calendar.from_ical(data)
    assert "METHOD" not in calendar  # a published feed, not an iTIP message
    uids = [str(e["UID"]) for e in calendar.walk("VEVENT")]
    assert sorted(uids) == sorted(m.uid for m in included)
    assert not {m.uid for m in left_out} & set(uids)
    assert len(calendar.walk("VTIMEZONE")) == 1 and not calendar.get_missing_tzids()
    assert "DTSTART;TZID=Europe/Copenhagen:20270328T110000" in text
    assert "TZOFFSETTO:+0200" in text
    for event in calendar.walk("VEVENT"):
        assert str(event["URL"]).startswith("https://meet.example.org/room-")
    # No health data: no CPR, no patient name, not even the patient's e-mail address.
    for secret in (CPR, "010150", "Karl", "karl.jensen", "Jensen"):
        assert secret not in text

    parsed = vobject.readOne(text)
    assert len(parsed.vevent_list) == len(included)
    assert not hasattr(parsed, "method")
    assert len(ics.Calendar(text).events) == len(included)


def test_an_empty_feed_is_still_a_valid_calendar(session, ctx, advisor):
    text = calendar_feeds.build_feed(session, ctx=ctx, user=advisor).to_ical().decode()
    parsed = Calendar.from_ical(text)
    assert parsed.walk("VEVENT") == [] and len(parsed.walk("VTIMEZONE")) == 1
    assert "METHOD" not in parsed
    assert vobject.readOne(text).prodid.value


def test_the_feed_carries_the_series_she_takes_part_in_with_their_exceptions(session, ctx, factory, advisor):
    import recurring_ical_events
    from datetime import date, time

    from scheduler.models import HolidayPolicy, Role, SeriesFrequency
    from scheduler.services import series as series_service

    coordinator = factory.user(role=Role.coordinator, municipality_code="0540")
    people = [("municipality", advisor.name, advisor.email), ("hospital", "Læge Lund", "lund@sygehus.example")]

    def make(title: str, participants, **extra):  # type: ignore[no-untyped-def]
        return series_service.create_series(session, ctx=ctx, user=coordinator, data=series_service.SeriesInput(
            title=title, municipality_code="0540", first_date=date(2026, 12, 2), start_time=time(9),
            duration_minutes=60, frequency=SeriesFrequency.weekly, holiday_policy=HolidayPolicy.skip, count=3,
            participants=participants, **extra))

    mine = make("Tværsektorielt møde Sønderborg", people)
    make("Et andet udvalg", people[1:])
    cancelled = make("Aflyst udvalg", people)
    series_service.cancel_series(session, ctx=ctx, series=cancelled)
    first = series_service.occurrences(session, mine, ctx=ctx)[0].recurrence_id
    series_service.cancel_occurrence(session, ctx=ctx, series=mine, recurrence_id=first)
    session.commit()

    text = calendar_feeds.build_feed(session, ctx=ctx, user=advisor).to_ical()
    events = recurring_ical_events.of(Calendar.from_ical(text)).between(date(2026, 11, 1), date(2027, 3, 1))
    assert sorted(str(e["SUMMARY"]) for e in events) == ["Tværsektorielt møde Sønderborg"] * 2
    assert first not in {e.start.astimezone(UTC) for e in events}
    assert b"Et andet udvalg" not in text and b"Aflyst udvalg" not in text
    assert len(ics.Calendar(text.decode()).events) == 1  # a second parser reads the master event
