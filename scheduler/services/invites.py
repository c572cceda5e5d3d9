"""The iCalendar invite of a meeting (iTIP REQUEST/CANCEL) and the store of its .ics file.

The invite carries time, link and neutral words only: being invited to a discharge
conversation is itself health information, so no CPR, diagnosis, ward or patient name.
"""
from __future__ import annotations

import copy
import os
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import CUTYPE, PARTSTAT, ROLE, STATUS, Calendar, Conference, Event, vCalAddress

from scheduler.errors import N_
from scheduler.models import AnswerStatus, Meeting, MeetingStatus, Participant, ParticipantRole

from .meeting_types import meeting_type

PRODID = "-//discharge-scheduler//Udskrivningssamtale//DA"

CONFERENCE_LABEL = N_("Videomøde")
HOW_TO_JOIN = N_("Deltag i videomødet ved at åbne dette link på computer, tablet eller telefon:")
GUEST_PIN = N_("PIN-kode: %(pin)s")
# Neutral names instead of the patient's and relatives' own names.
NEUTRAL_NAMES = {ParticipantRole.patient: N_("Borger"), ParticipantRole.relative: N_("Pårørende")}

PARTSTATS = {
    AnswerStatus.needs_action: PARTSTAT.NEEDS_ACTION,
    AnswerStatus.accepted: PARTSTAT.ACCEPTED,
    AnswerStatus.declined: PARTSTAT.DECLINED,
    AnswerStatus.tentative: PARTSTAT.TENTATIVE,
}


def _untranslated(message: str) -> str:
    return message


def build_invite(*, meeting: Meeting, participants: list[Participant], organizer_name: str,
                 organizer_email: str, zone: ZoneInfo, dtstamp: datetime,
                 translate: Callable[[str], str] = _untranslated, cancel: bool | None = None) -> Calendar:
    """The METHOD:REQUEST (or CANCEL, for a cancelled meeting) calendar sent to the participants.

    `cancel=True` builds a CANCEL for a still-active meeting: for a participant who was removed.
    """
    link = meeting.video_join_url
    if not link:
        raise ValueError(f"meeting {meeting.uid} has no video link; no invite goes out without one")
    is_cancelled = meeting.status == MeetingStatus.cancelled if cancel is None else cancel
    description = [translate(HOW_TO_JOIN), link]
    if meeting.video_guest_pin:
        description += ["", translate(GUEST_PIN) % {"pin": meeting.video_guest_pin}]

    start = _local(meeting.start_at, zone)
    event = Event.new(
        uid=meeting.uid,
        sequence=meeting.sequence,
        stamp=_aware(dtstamp).astimezone(UTC),
        start=start,
        end=_local(meeting.end_at, zone),
        status=STATUS.CANCELLED if is_cancelled else STATUS.CONFIRMED,
        summary=translate(meeting_type(meeting.meeting_type).title),
        description="\n".join(description),
        location=link,
        url=link,
        conferences=[Conference(link, feature="VIDEO", label=translate(CONFERENCE_LABEL))],
        organizer=vCalAddress.new(organizer_email, cn=_one_line(organizer_name)),
        attendees=[_attendee(p, p.email, translate) for p in participants if p.email],
    )
    calendar = Calendar()
    calendar.prodid = PRODID
    calendar.version = "2.0"
    calendar.calscale = "GREGORIAN"
    calendar.method = "CANCEL" if is_cancelled else "REQUEST"
    calendar.add_component(event)
    # The meeting's year only: each DST change becomes its own STANDARD/DAYLIGHT DTSTART, without
    # RDATE lists (Outlook misreads them: iCalcreator #106), and no other year's rules in the bytes.
    calendar.add_missing_timezones(first_date=date(start.year, 1, 1),
                                   last_date=date(start.year + 1, 1, 1))
    return calendar


def invite_bytes(calendar: Calendar) -> bytes:
    return calendar.to_ical()


def strip_method(calendar: Calendar) -> Calendar:
    """A copy without METHOD, as a CalDAV server stores it (RFC 4791)."""
    stored = copy.deepcopy(calendar)
    stored.pop("METHOD", None)
    return stored


def _attendee(participant: Participant, email: str,
              translate: Callable[[str], str]) -> vCalAddress:
    neutral = NEUTRAL_NAMES.get(participant.role)
    return vCalAddress.new(
        email,
        cn=translate(neutral) if neutral else _one_line(participant.name),
        cutype=CUTYPE.INDIVIDUAL,
        role=ROLE.REQ_PARTICIPANT,
        partstat=PARTSTATS[participant.status],
        rsvp=True,
    )


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given where an aware one is required")
    return value


def _local(value: datetime, zone: ZoneInfo) -> datetime:
    """Local time for DTSTART/DTEND; UTC for the repeated hour, which a TZID cannot express."""
    local = _aware(value).astimezone(zone)
    # RFC 5545 reads an ambiguous local time as its first occurrence (fold=0).
    if local.fold and local.replace(fold=0).utcoffset() != local.utcoffset():
        return value.astimezone(UTC)
    return local


def _one_line(name: str) -> str:
    """Display names on one line: some clients show an escaped newline in CN literally."""
    return " ".join(name.split())


_SAFE_UID = re.compile(r"[A-Za-z0-9@._-]{1,200}")


class CalendarStore:
    """The .ics file of each meeting, by UID, in one directory."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def path_for(self, uid: str) -> Path:
        if not _SAFE_UID.fullmatch(uid):
            raise ValueError(f"not a safe calendar file name: {uid!r}")
        return self.directory / f"{uid}.ics"

    def write(self, uid: str, data: bytes) -> None:
        """Replace the file at once, so a reader never sees half an invite."""
        path = self.path_for(uid)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".ics")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def read(self, uid: str) -> bytes | None:
        try:
            return self.path_for(uid).read_bytes()
        except FileNotFoundError:
            return None

    def remove(self, uid: str) -> None:
        self.path_for(uid).unlink(missing_ok=True)
