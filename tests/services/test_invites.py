"""The iCalendar invite: exact bytes, three parsers, DST, iTIP rules, privacy, storage."""
from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import ics
import pytest
import vobject
from icalendar import Calendar
from sqlmodel import select

from scheduler.models import (AnswerStatus, Meeting, MeetingStatus, Participant, ParticipantRole,
                              VideoStatus)
from scheduler.services import invites
from scheduler.services.invites import CalendarStore, build_invite, invite_bytes, strip_method

# Golden files pin the exact bytes calendar clients receive. After an intended change, regenerate
# them with `UPDATE_GOLDEN=1 .venv/bin/pytest tests/services/test_invites.py` and review the diff.
GOLDEN = Path(__file__).parent.parent / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"

ZONE = ZoneInfo("Europe/Copenhagen")
DTSTAMP = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # 10:00 in Copenhagen
UID = "7f3c9a2e4b1d4c6e8a0f5b2d9e1c3a7f@discharge-scheduler"
LINK = "https://meet.jit.si/udskrivning-7f3c9a2e4b1d4c6e"
CPR = "0707614285"
PATIENT = "Jens Peter Hansen"
RELATIVE = "Karen Hansen"
WARD = "Onkologisk afdeling"
ORGANIZER = {"organizer_name": "Lise Berg", "organizer_email": "booking@sygehus.example"}


def make_meeting(**changes) -> Meeting:
    fields = dict(
        uid=UID, status=MeetingStatus.booked, sequence=0, start_at=START,
        end_at=START + timedelta(minutes=45), municipality_code="0540", ward_id=1, advisor_id=1,
        booked_by_id=1, video_provider="jitsi", video_status=VideoStatus.ready,
        video_join_url=LINK, video_guest_pin="4711",
        cancel_reason="Indlagt igen på " + WARD,  # health information: must never reach the invite
    )
    return Meeting(**(fields | changes))


def make_participants(meeting_id: int = 1) -> list[Participant]:
    def person(role, name, email, status=AnswerStatus.needs_action, cpr=None):
        return Participant(meeting_id=meeting_id, role=role, name=name, email=email, cpr=cpr,
                           status=status)
    return [
        person(ParticipantRole.patient, PATIENT, "jens.hansen@example.dk", cpr=CPR),
        person(ParticipantRole.relative, RELATIVE, "karen@example.dk", AnswerStatus.tentative),
        person(ParticipantRole.relative, "Ole Hansen", None),  # no e-mail: no ATTENDEE
        person(ParticipantRole.staff, "Anne Holm", "anne.holm@sygehus.example",
               AnswerStatus.accepted),
        person(ParticipantRole.advisor, "Mette Sørensen", "mette@sonderborg.example",
               AnswerStatus.declined),
    ]


def invite(meeting: Meeting | None = None, participants: list[Participant] | None = None,
           **kwargs) -> bytes:
    if participants is None:
        participants = make_participants()
    calendar = build_invite(meeting=meeting or make_meeting(), participants=participants,
                            **(ORGANIZER | {"zone": ZONE, "dtstamp": DTSTAMP} | kwargs))
    return invite_bytes(calendar)


def unfolded(data: bytes) -> str:
    return data.replace(b"\r\n ", b"").decode()


def content_lines(data: bytes) -> list[str]:
    return unfolded(data).split("\r\n")


def event_of(data: bytes):
    return Calendar.from_ical(data).events[0]


CASES = {
    "invite_request": {},
    "invite_reschedule": {"sequence": 1, "start_at": START + timedelta(days=1, hours=3),
                          "end_at": START + timedelta(days=1, hours=3, minutes=45)},
    "invite_cancel": {"sequence": 2, "status": MeetingStatus.cancelled},
}


@pytest.mark.parametrize("name", CASES)
def test_golden_files(name):
    data = invite(make_meeting(**CASES[name]))
    golden = GOLDEN / f"{name}.ics"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(data)
    assert golden.exists(), f"{golden} is missing: run with UPDATE_GOLDEN=1 once"
    assert data == golden.read_bytes()


def test_invite_of_a_stored_meeting_equals_the_golden_request(session, factory):
    """Times and enums read back from SQLite/PostgreSQL give the same bytes."""
    ward = factory.ward(name=WARD)
    secretary = factory.secretary(ward)
    meeting = make_meeting(ward_id=ward.id, advisor_id=factory.advisor().id,
                           booked_by_id=secretary.id)
    session.add(meeting)
    session.flush()
    session.add_all(make_participants(meeting.id))
    session.commit()
    session.expire_all()

    stored = session.exec(select(Meeting)).one()
    participants = list(session.exec(select(Participant).order_by(Participant.id)))
    data = invite(stored, participants)

    assert data == (GOLDEN / "invite_request.ics").read_bytes()
    assert "Onkolog" not in unfolded(data)


def test_request_read_by_vobject():
    parsed = vobject.readOne(invite().decode())
    event = parsed.vevent
    assert parsed.method.value == "REQUEST"
    assert event.uid.value == UID
    assert event.sequence.value == "0"
    assert event.status.value == "CONFIRMED"
    assert event.dtstart.value.astimezone(UTC) == START
    assert event.dtend.value.astimezone(UTC) == START + timedelta(minutes=45)
    assert event.dtstamp.value == DTSTAMP
    assert event.summary.value == "Udskrivningssamtale (video)"
    assert event.location.value == LINK
    assert event.url.value == LINK
    assert event.organizer.value == "mailto:booking@sygehus.example"
    assert event.organizer.params["CN"] == ["Lise Berg"]
    attendees = {a.value: a.params for a in event.attendee_list}
    assert {email: params["CN"][0] for email, params in attendees.items()} == {
        "mailto:jens.hansen@example.dk": "Borger",
        "mailto:karen@example.dk": "Pårørende",
        "mailto:anne.holm@sygehus.example": "Anne Holm",
        "mailto:mette@sonderborg.example": "Mette Sørensen",
    }
    assert {email: params["PARTSTAT"][0] for email, params in attendees.items()} == {
        "mailto:jens.hansen@example.dk": "NEEDS-ACTION",
        "mailto:karen@example.dk": "TENTATIVE",
        "mailto:anne.holm@sygehus.example": "ACCEPTED",
        "mailto:mette@sonderborg.example": "DECLINED",
    }
    for params in attendees.values():
        assert params["RSVP"] == ["TRUE"]
        assert params["ROLE"] == ["REQ-PARTICIPANT"]
        assert params["CUTYPE"] == ["INDIVIDUAL"]


def test_request_read_by_ics():
    text = invite().decode()
    event = next(iter(ics.Calendar(text).events))
    assert event.uid == UID
    assert event.begin.datetime == START
    assert event.end.datetime == START + timedelta(minutes=45)
    assert {a.email for a in event.attendees} == {
        "jens.hansen@example.dk", "karen@example.dk", "anne.holm@sygehus.example",
        "mette@sonderborg.example"}
    # The ics parser is the one that refuses DTEND before DTSTART: show that it would.
    swapped = (text.replace("DTSTART;", "X-TMP;").replace("DTEND;", "DTSTART;")
               .replace("X-TMP;", "DTEND;"))
    with pytest.raises(ValueError):
        ics.Calendar(swapped)


def test_end_before_start_is_refused():
    with pytest.raises(ValueError):
        invite(make_meeting(end_at=START - timedelta(minutes=1)))


def test_description_says_how_to_join_and_nothing_else():
    description = event_of(invite())["DESCRIPTION"]
    assert description == ("Deltag i videomødet ved at åbne dette link på computer, tablet eller "
                           f"telefon:\n{LINK}\n\nPIN-kode: 4711")
    assert "PIN" not in event_of(invite(make_meeting(video_guest_pin=None)))["DESCRIPTION"]


def test_conference_property_carries_the_link():
    conference = event_of(invite())["CONFERENCE"]
    assert conference == LINK
    assert conference.params == {"VALUE": "URI", "FEATURE": "VIDEO", "LABEL": "Videomøde"}


def test_translate_is_applied_to_every_visible_word():
    data = invite(translate=lambda message: f"[{message}]")
    event = event_of(data)
    assert event["SUMMARY"] == "[Udskrivningssamtale (video)]"
    assert event["CONFERENCE"].params["LABEL"] == "[Videomøde]"
    assert "[PIN-kode: %(pin)s]" not in event["DESCRIPTION"]
    assert "[PIN-kode: 4711]" in event["DESCRIPTION"]
    assert {str(a.params["CN"]) for a in event["ATTENDEE"]} >= {"[Borger]", "[Pårørende]"}


# Europe/Copenhagen changes on 2026-03-29 (02:00 -> 03:00) and 2026-10-25 (03:00 -> 02:00).
DST_CASES = {
    "spring day": (datetime(2026, 3, 29, 8, 0, tzinfo=UTC), "20260329T100000"),
    "autumn day": (datetime(2026, 10, 25, 9, 0, tzinfo=UTC), "20261025T100000"),
    "across spring change": (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "20260329T013000"),
    "across autumn change": (datetime(2026, 10, 24, 23, 30, tzinfo=UTC), "20261025T013000"),
}


@pytest.mark.parametrize("case", DST_CASES)
def test_dst_days_resolve_to_the_right_instant(case):
    start, local_start = DST_CASES[case]
    end = start + timedelta(hours=2)  # the "across" cases start before and end after the change
    data = invite(make_meeting(start_at=start, end_at=end))

    assert f"DTSTART;TZID=Europe/Copenhagen:{local_start}" in content_lines(data)
    event = vobject.readOne(data.decode()).vevent  # uses the VTIMEZONE in the file, not its own
    assert event.dtstart.value.astimezone(UTC) == start
    assert event.dtend.value.astimezone(UTC) == end
    timezone, = Calendar.from_ical(data).timezones
    assert timezone.tz_name == "Europe/Copenhagen"
    assert timezone.standard and timezone.daylight


def test_repeated_autumn_hour_is_written_in_utc():
    """02:30 happens twice on 2026-10-25; a TZID time would mean the first, so use UTC."""
    start = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # the second 02:30 (CET)
    data = invite(make_meeting(start_at=start, end_at=start + timedelta(minutes=45)))
    assert "DTSTART:20261025T013000Z" in content_lines(data)
    assert vobject.readOne(data.decode()).vevent.dtstart.value == start


def test_one_method_in_vcalendar_and_one_sequence():
    data = invite(make_meeting(sequence=3))
    lines = content_lines(data)
    assert [line for line in lines if line.startswith("METHOD")] == ["METHOD:REQUEST"]
    assert [line for line in lines if line.startswith("SEQUENCE")] == ["SEQUENCE:3"]
    assert lines.index("METHOD:REQUEST") < lines.index("BEGIN:VEVENT")
    assert "METHOD" not in event_of(data)


def test_cancel():
    data = invite(make_meeting(status=MeetingStatus.cancelled, sequence=1))
    calendar = Calendar.from_ical(data)
    event = calendar.events[0]
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["UID"] == UID
    assert event["SEQUENCE"] == 1
    assert len(event["ATTENDEE"]) == 4


@pytest.mark.parametrize("name", [
    "Anne\r\nATTENDEE:mailto:evil@x", "Anne\nATTENDEE:mailto:evil@x", "Anne;ROLE=CHAIR",
    'Anne"; RSVP=FALSE:mailto:evil@x', "Anne:mailto:evil@x",
])
def test_names_cannot_add_properties_or_parameters(name):
    staff = Participant(meeting_id=1, role=ParticipantRole.staff, name=name,
                        email="anne@sygehus.example", status=AnswerStatus.needs_action)
    data = invite(participants=[staff], organizer_name=name)

    assert "evil@x" not in [line.rsplit("mailto:", 1)[-1] for line in content_lines(data)]
    event = event_of(data)
    assert event.keys() == {"SUMMARY", "DTSTART", "DTEND", "DTSTAMP", "UID", "SEQUENCE", "ATTENDEE",
                            "CONFERENCE", "DESCRIPTION", "LOCATION", "ORGANIZER", "STATUS", "URL"}
    attendee = event["ATTENDEE"]  # one ATTENDEE is a single value, not a list
    assert attendee == "mailto:anne@sygehus.example"
    assert set(attendee.params) == {"CN", "CUTYPE", "PARTSTAT", "ROLE", "RSVP"}
    assert attendee.params["RSVP"] == "TRUE"
    assert attendee.params["CN"] == " ".join(name.split())
    assert len(vobject.readOne(data.decode()).vevent.attendee_list) == 1


def test_address_with_a_line_break_is_refused():
    staff = Participant(meeting_id=1, role=ParticipantRole.staff, name="Anne",
                        email="anne@x\r\nATTENDEE:mailto:evil@x", status=AnswerStatus.needs_action)
    with pytest.raises(ValueError):
        invite(participants=[staff])


@pytest.mark.parametrize("name", CASES)
def test_no_cpr_name_ward_or_reason_anywhere(name):
    text = unfolded(invite(make_meeting(**CASES[name])))
    for secret in [CPR, CPR[:6], "Jens", "Hansen", "Karen", "Ole", "Onkolog", "Indlagt"]:
        assert secret not in text


def test_meeting_without_link_is_refused():
    for link in (None, ""):
        with pytest.raises(ValueError, match="video link"):
            invite(make_meeting(video_join_url=link, video_status=VideoStatus.pending))


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        invite(dtstamp=DTSTAMP.replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive"):
        invite(make_meeting(start_at=START.replace(tzinfo=None)))


def test_strip_method_for_caldav():
    calendar = build_invite(meeting=make_meeting(), participants=make_participants(), zone=ZONE,
                            dtstamp=DTSTAMP, **ORGANIZER)
    stored = strip_method(calendar)
    assert "METHOD" not in stored
    assert calendar["METHOD"] == "REQUEST"  # the original is untouched
    assert invite_bytes(stored) == invite_bytes(calendar).replace(b"METHOD:REQUEST\r\n", b"")


def test_calendar_store_round_trip(tmp_path):
    store = CalendarStore(tmp_path / "calendars" / "nested")
    assert store.read(UID) is None
    store.write(UID, b"first")
    store.write(UID, b"second")
    assert store.read(UID) == b"second"
    assert store.path_for(UID) == tmp_path / "calendars" / "nested" / f"{UID}.ics"
    assert [p.name for p in store.directory.iterdir()] == [f"{UID}.ics"]  # no temp files left
    store.remove(UID)
    store.remove(UID)
    assert store.read(UID) is None


@pytest.mark.parametrize("uid", ["", "../evil", "a/b", "a\\b", "a b", "x\x00", "ø", "x" * 201,
                                 "/etc/passwd"])
def test_calendar_store_refuses_unsafe_uids(tmp_path, uid):
    store = CalendarStore(tmp_path)
    for call in (store.path_for, store.read, store.remove, lambda u: store.write(u, b"x")):
        with pytest.raises(ValueError):
            call(uid)
    assert list(tmp_path.iterdir()) == []


def test_calendar_store_write_is_atomic(tmp_path, monkeypatch):
    store = CalendarStore(tmp_path)
    store.write(UID, b"old")

    def crash(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(invites.os, "replace", crash)
    with pytest.raises(OSError):
        store.write(UID, b"new")

    assert store.read(UID) == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [f"{UID}.ics"]
