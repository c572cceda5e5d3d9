"""Book, reschedule and cancel meetings; keep their history, video link and invite current."""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from .. import crypto
from ..db import on_commit
from ..errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from ..models import (AnswerStatus, Meeting, MeetingEvent, MeetingStatus, Municipality, Participant,
                      ParticipantRole, Role, User, VideoStatus, Ward)
from ..schemas import MeetingCancel, MeetingCreate, MeetingReschedule, SlotQuery
from ..video import MeetingInfo, VideoRoom, VideoUnavailable
from . import audit
from .access import require_may_book
from .availability import Slot, busy_staff_emails, check_advisor_free, find_free_slots
from .context import BookingContext
from .cpr import normalize_cpr
from .fodselsnummer import normalize_fodselsnummer
from .invites import build_invite, invite_bytes
from .locking import lock_schedule
from .meeting_types import meeting_type
from .notifications import queue_invites
from .timeutil import to_utc
from .users import wards_of

log = logging.getLogger(__name__)

# Which status may follow which; a cancelled meeting is final. Held and no-show only swap, when the
# advisor corrects what she recorded (services/recording.py keeps the correction in the history).
TRANSITIONS: dict[MeetingStatus, set[MeetingStatus]] = {
    MeetingStatus.booked: {MeetingStatus.confirmed, MeetingStatus.held, MeetingStatus.no_show,
                           MeetingStatus.cancelled},
    MeetingStatus.confirmed: {MeetingStatus.booked, MeetingStatus.held, MeetingStatus.no_show,
                              MeetingStatus.cancelled},
    MeetingStatus.held: {MeetingStatus.no_show},
    MeetingStatus.no_show: {MeetingStatus.held},
    MeetingStatus.cancelled: set(),
}
ACTIVE_STATUSES = (MeetingStatus.booked, MeetingStatus.confirmed)


def change_status(meeting: Meeting, new: MeetingStatus) -> None:
    if new != meeting.status and new not in TRANSITIONS[meeting.status]:
        raise Conflict(N_("Et møde med status %(old)s kan ikke få status %(new)s"), field="status",
                       old=meeting.status.value, new=new.value)
    meeting.status = new


PARTY_ORDER = {ParticipantRole.patient: 0, ParticipantRole.relative: 1, ParticipantRole.staff: 2,
               ParticipantRole.advisor: 3}


def participants_of(session: Session, meeting: Meeting) -> list[Participant]:
    return participants_of_many(session, [meeting]).get(meeting.id, [])


def participants_of_many(session: Session, meetings: list[Meeting]) -> dict[int, list[Participant]]:
    """The parties of several meetings in one query, each meeting's in display order."""
    found: dict[int, list[Participant]] = {}
    if not meetings:
        return found
    rows = session.exec(select(Participant).where(Participant.meeting_id.in_([m.id for m in meetings])))
    for participant in sorted(rows, key=lambda p: (PARTY_ORDER[p.role], p.id or 0)):
        found.setdefault(participant.meeting_id, []).append(participant)
    return found


def _ward_for_booking(session: Session, *, code: str, user: User) -> Ward:
    ward = session.exec(select(Ward).where(Ward.code == code)).first()
    if ward is None:
        raise InvalidInput(N_("Ukendt afdeling"), field="ward")
    if user.role != Role.admin and ward.id not in {w.id for w in wards_of(session, user)}:
        raise Forbidden(N_("Du kan kun booke for dine egne afdelinger"), field="ward")
    return ward


def record_event(session: Session, meeting: Meeting, *, action: str, actor: User | None, now: datetime,
                 by_link: bool = False, **details: Any) -> None:
    """Add to the meeting's history and to the audit trail; `by_link`: done from a personal answer link,
    without login, so the audit names no user."""
    session.add(MeetingEvent(meeting_id=meeting.id, at=now, actor_id=actor.id if actor else None,
                             action=action, details=json.dumps(details, default=str, ensure_ascii=False) if details else None))
    audit.record_change(session, meeting=meeting, event=action, actor=None if by_link else actor, now=now,
                        details=details, by_link=by_link)


def _advisor(session: Session, *, advisor_id: int, municipality_code: str) -> User:
    advisor = session.get(User, advisor_id)
    if advisor is None or advisor.role != Role.advisor or not advisor.is_active:
        raise InvalidInput(N_("Ukendt sundhedsrådgiver"), field="advisor_id")
    if advisor.municipality_code != municipality_code:
        raise InvalidInput(N_("Rådgiveren hører ikke til borgerens kommune"), field="advisor_id")
    return advisor


def _pick_advisor(session: Session, *, ctx: BookingContext, municipality_code: str, start_at: datetime,
                  end_at: datetime, discharge_at: datetime | None, exclude_meeting_id: int | None) -> User:
    """The first advisor of the municipality who is free then (fewest meetings that day first)."""
    advisors = session.exec(select(User).where(User.role == Role.advisor, User.is_active,
                                               User.municipality_code == municipality_code)
                            .order_by(User.id)).all()
    if not advisors:
        raise Conflict(N_("Kommunen har ingen sundhedsrådgivere i systemet"), field="municipality")
    day_start = start_at - timedelta(hours=12)
    load = {a.id: 0 for a in advisors}
    for advisor_id in session.exec(select(Meeting.advisor_id).where(
            Meeting.municipality_code == municipality_code, Meeting.status.in_(ACTIVE_STATUSES),
            Meeting.start_at >= day_start, Meeting.start_at < day_start + timedelta(hours=24))):
        load[advisor_id] = load.get(advisor_id, 0) + 1
    first_error: Exception | None = None
    for advisor in sorted(advisors, key=lambda a: (load[a.id], a.id)):
        try:
            check_advisor_free(session, rules=ctx.rules, advisor=advisor, start_at=start_at, end_at=end_at,
                               now=ctx.now, discharge_at=discharge_at, exclude_meeting_id=exclude_meeting_id)
            return advisor
        except (Conflict, InvalidInput) as exc:
            first_error = first_error or exc
    if isinstance(first_error, InvalidInput) and len(advisors) == 1:
        raise first_error
    raise Conflict(N_("Ingen sundhedsrådgiver fra kommunen er ledig på det tidspunkt"), field="start")


def _check_times(ctx: BookingContext, *, start_at: datetime, end_at: datetime,
                 discharge_at: datetime | None) -> None:
    if start_at < ctx.now:
        raise InvalidInput(N_("Starttidspunktet ligger i fortiden"), field="start")
    if end_at <= start_at:
        raise InvalidInput(N_("Mødet skal slutte efter det starter"), field="duration_minutes")
    if discharge_at is not None and end_at > discharge_at:
        raise InvalidInput(N_("Mødet skal ligge før udskrivelsen"), field="start")


def _check_staff_free(session: Session, *, emails: list[str], start_at: datetime, end_at: datetime,
                      exclude_meeting_id: int | None) -> None:
    busy = busy_staff_emails(session, emails=emails, start_at=start_at, end_at=end_at,
                             exclude_meeting_id=exclude_meeting_id)
    if busy:
        raise Conflict(N_("%(email)s deltager allerede i et andet møde på det tidspunkt"), field="staff",
                       email=busy[0])


def _meeting_info(ctx: BookingContext, meeting: Meeting) -> MeetingInfo:
    return MeetingInfo(uid=meeting.uid, start_at=meeting.start_at, end_at=meeting.end_at,
                       subject=meeting_type(meeting.meeting_type).title, organizer_email=ctx.organizer_email)


def _room(meeting: Meeting) -> VideoRoom | None:
    if not meeting.video_join_url:
        return None
    return VideoRoom(join_url=meeting.video_join_url, external_id=meeting.video_external_id,
                     sip_uri=meeting.video_sip_uri, host_pin=meeting.video_host_pin,
                     guest_pin=meeting.video_guest_pin)


def _set_room(meeting: Meeting, room: VideoRoom) -> None:
    meeting.video_join_url = room.join_url
    meeting.video_external_id = room.external_id
    meeting.video_sip_uri = room.sip_uri
    meeting.video_host_pin = room.host_pin
    meeting.video_guest_pin = room.guest_pin
    meeting.video_status = VideoStatus.ready
    meeting.video_error = None


def _sync_video(ctx: BookingContext, meeting: Meeting) -> bool:
    """Create or move the room; on failure the meeting waits for its link. True if the link changed."""
    old = _room(meeting)
    try:
        room = ctx.video.create(_meeting_info(ctx, meeting)) if old is None else \
            ctx.video.update(old, _meeting_info(ctx, meeting))
    except VideoUnavailable as exc:
        log.warning("video provider %s unavailable for meeting %s: %s", ctx.video.name, meeting.id, exc)
        meeting.video_status = VideoStatus.pending
        meeting.video_error = str(exc)[:500]
        return False
    _set_room(meeting, room)
    return old is None or old.join_url != room.join_url


def publish_invite(session: Session, *, ctx: BookingContext, meeting: Meeting, first: bool = False,
                   removed: list[Participant] = ()) -> bool:
    """Write the current invite (REQUEST or CANCEL) once the transaction commits, and queue its e-mails.

    No invite exists without a video link; returns whether one was published.
    """
    if meeting.video_status != VideoStatus.ready or not meeting.video_join_url:
        return False
    participants = participants_of(session, meeting)
    # The stored invite (download, API) speaks the deployment's language; each e-mailed one its reader's.
    mailer = ctx.mailer
    data = invite_bytes(build_invite(meeting=meeting, participants=participants,
                                     organizer_name=ctx.organizer_name, organizer_email=ctx.organizer_email,
                                     zone=ctx.rules.zone, dtstamp=ctx.now,
                                     translate=mailer.translator(mailer.default_language) if mailer else str))
    on_commit(session, lambda: ctx.calendars.write(meeting.uid, data))
    queue_invites(session, ctx=ctx, meeting=meeting, participants=participants, removed=list(removed), first=first,
                  calendars={mailer.default_language: data} if mailer else None)
    return True


def book_meeting(session: Session, *, ctx: BookingContext, data: MeetingCreate, booked_by: User) -> Meeting:
    """Validate, find or check the advisor, save the meeting with its parties, video link and invite."""
    require_may_book(booked_by)
    zone = ctx.rules.zone
    ward = _ward_for_booking(session, code=data.ward, user=booked_by)
    if session.get(Municipality, data.municipality) is None:
        raise InvalidInput(N_("Ukendt kommune"), field="municipality")
    cpr = None
    if data.patient.cpr:
        try:
            # The patient's national identity number: a CPR number, or in Norway a fødselsnummer.
            normalize = normalize_fodselsnummer if ctx.rules.country == "NO" else normalize_cpr
            cpr = normalize(data.patient.cpr, today=ctx.now.astimezone(zone).date())
        except ValueError as exc:
            raise InvalidInput(str(exc), field="patient.cpr") from None
    if data.meeting_type not in ctx.rules.bookable_types():
        raise InvalidInput(N_("Den mødetype bookes ikke her"), field="meeting_type")
    start_at = to_utc(data.start, zone=zone, field="start")
    end_at = start_at + timedelta(minutes=data.duration_minutes or ctx.rules.minutes_for(data.meeting_type))
    discharge_at = to_utc(data.discharge_at, zone=zone, field="discharge_at") if data.discharge_at else None
    _check_times(ctx, start_at=start_at, end_at=end_at, discharge_at=discharge_at)
    staff_emails = [s.email for s in data.staff]
    if len(set(staff_emails)) != len(staff_emails):
        raise InvalidInput(N_("Den samme e-mailadresse står flere gange"), field="staff")

    lock_schedule(session, names=[f"municipality:{data.municipality}"] + [f"staff:{e}" for e in staff_emails])
    if data.advisor_id is not None:
        advisor = _advisor(session, advisor_id=data.advisor_id, municipality_code=data.municipality)
        check_advisor_free(session, rules=ctx.rules, advisor=advisor, start_at=start_at, end_at=end_at,
                           now=ctx.now, discharge_at=discharge_at)
    else:
        advisor = _pick_advisor(session, ctx=ctx, municipality_code=data.municipality, start_at=start_at,
                                end_at=end_at, discharge_at=discharge_at, exclude_meeting_id=None)
    _check_staff_free(session, emails=staff_emails, start_at=start_at, end_at=end_at, exclude_meeting_id=None)

    meeting = Meeting(uid=f"{uuid.uuid4()}@discharge-scheduler", status=MeetingStatus.booked, sequence=0,
                      start_at=start_at, end_at=end_at, discharge_at=discharge_at,
                      municipality_code=data.municipality, ward_id=ward.id, advisor_id=advisor.id,
                      booked_by_id=booked_by.id, created_at=ctx.now, updated_at=ctx.now,
                      patient_language=data.language or ctx.rules.language, meeting_type=data.meeting_type, video_provider=ctx.video.name,
                      video_status=VideoStatus.pending)
    session.add(meeting)
    session.flush()
    needs_action = AnswerStatus.needs_action
    session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name=data.patient.name,
                            email=data.patient.email, phone=data.patient.phone, cpr=cpr,
                            cpr_digest=crypto.cpr_digest(cpr) if cpr else None, status=needs_action))
    for relative in data.relatives:
        session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.relative, name=relative.name,
                                email=relative.email, phone=relative.phone, status=needs_action))
    for staff in data.staff:
        session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.staff, name=staff.name,
                                email=staff.email, status=needs_action))
    session.add(_advisor_participant(meeting, advisor))
    _sync_video(ctx, meeting)
    record_event(session, meeting, action="booked", actor=booked_by, now=ctx.now,
            start_at=start_at.isoformat(), advisor_id=advisor.id, video=meeting.video_status.value)
    session.flush()
    publish_invite(session, ctx=ctx, meeting=meeting, first=True)
    return meeting


def _advisor_participant(meeting: Meeting, advisor: User) -> Participant:
    return Participant(meeting_id=meeting.id, role=ParticipantRole.advisor, name=advisor.name,
                       email=advisor.email, user_id=advisor.id, status=AnswerStatus.needs_action)


def _require_active(meeting: Meeting) -> None:
    if meeting.status not in ACTIVE_STATUSES:
        raise Conflict(N_("Mødet er %(status)s og kan ikke ændres"), field="status", status=meeting.status.value)


def reschedule_meeting(session: Session, *, ctx: BookingContext, meeting: Meeting, data: MeetingReschedule,
                       actor: User) -> Meeting:
    """Move the meeting and/or change its advisor: same UID, SEQUENCE+1, everyone asked again."""
    require_may_book(actor)
    _require_active(meeting)
    zone = ctx.rules.zone
    start_at = to_utc(data.start, zone=zone, field="start") if data.start else meeting.start_at
    duration = timedelta(minutes=data.duration_minutes) if data.duration_minutes else meeting.end_at - meeting.start_at
    end_at = start_at + duration
    advisor_id = data.advisor_id or meeting.advisor_id
    if (start_at, end_at, advisor_id) == (meeting.start_at, meeting.end_at, meeting.advisor_id):
        raise InvalidInput(N_("Vælg et nyt tidspunkt, en ny varighed eller en ny rådgiver"), field="start")
    _check_times(ctx, start_at=start_at, end_at=end_at, discharge_at=meeting.discharge_at)

    participants = participants_of(session, meeting)
    staff_emails = [p.email for p in participants if p.role == ParticipantRole.staff and p.email]
    lock_schedule(session, names=[f"municipality:{meeting.municipality_code}"] +
                  [f"staff:{e}" for e in staff_emails])
    advisor = _advisor(session, advisor_id=advisor_id, municipality_code=meeting.municipality_code)
    check_advisor_free(session, rules=ctx.rules, advisor=advisor, start_at=start_at, end_at=end_at, now=ctx.now,
                       discharge_at=meeting.discharge_at, exclude_meeting_id=meeting.id)
    _check_staff_free(session, emails=staff_emails, start_at=start_at, end_at=end_at,
                      exclude_meeting_id=meeting.id)

    old = {"start_at": meeting.start_at.isoformat(), "end_at": meeting.end_at.isoformat(),
           "advisor_id": meeting.advisor_id}
    removed = []
    if advisor.id != meeting.advisor_id:
        removed = [p for p in participants if p.role == ParticipantRole.advisor]
        for participant in removed:
            session.delete(participant)
        participants = [p for p in participants if p not in removed]
        session.add(_advisor_participant(meeting, advisor))
    times_changed = (start_at, end_at) != (meeting.start_at, meeting.end_at)
    meeting.start_at, meeting.end_at, meeting.advisor_id = start_at, end_at, advisor.id
    if times_changed:
        for participant in participants:
            participant.status = AnswerStatus.needs_action
            participant.answered_at = None
            session.add(participant)
        _sync_video(ctx, meeting)
    if meeting.status == MeetingStatus.confirmed:
        change_status(meeting, MeetingStatus.booked)
    meeting.sequence += 1
    meeting.updated_at = ctx.now
    session.add(meeting)
    record_event(session, meeting, action="rescheduled", actor=actor, now=ctx.now, old=old, reason=data.reason,
            new={"start_at": start_at.isoformat(), "end_at": end_at.isoformat(), "advisor_id": advisor.id})
    meeting.needs_rebooking = False
    session.flush()
    publish_invite(session, ctx=ctx, meeting=meeting, removed=removed)
    return meeting


def cancel_meeting(session: Session, *, ctx: BookingContext, meeting: Meeting, data: MeetingCancel,
                   actor: User) -> Meeting:
    """Cancel: METHOD:CANCEL with SEQUENCE+1 to everyone, release the video room where allowed."""
    require_may_book(actor)
    _require_active(meeting)
    change_status(meeting, MeetingStatus.cancelled)
    meeting.cancel_reason = data.reason
    meeting.sequence += 1
    meeting.updated_at = ctx.now
    room = _room(meeting)
    if room is not None:
        try:
            ctx.video.delete(room)
        except VideoUnavailable as exc:
            log.warning("could not release video room of meeting %s: %s", meeting.id, exc)
    session.add(meeting)
    record_event(session, meeting, action="cancelled", actor=actor, now=ctx.now, reason=data.reason)
    session.flush()
    publish_invite(session, ctx=ctx, meeting=meeting)
    return meeting


def retry_video_link(session: Session, *, ctx: BookingContext, meeting: Meeting, actor: User | None) -> bool:
    """Try again to create the link of a meeting waiting for one (`actor` None: the jobs); publish the invite
    if it worked."""
    if actor is not None:
        require_may_book(actor)
    if meeting.video_status != VideoStatus.pending or meeting.status not in ACTIVE_STATUSES:
        return False
    had_link = meeting.video_join_url is not None
    _sync_video(ctx, meeting)
    session.add(meeting)
    if meeting.video_status != VideoStatus.ready:
        return False
    if had_link:
        meeting.sequence += 1
    record_event(session, meeting, action="video_link_created", actor=actor, now=ctx.now)
    session.flush()
    publish_invite(session, ctx=ctx, meeting=meeting, first=not had_link)
    return True


def pending_video_meetings(session: Session, *, now: datetime) -> list[Meeting]:
    return list(session.exec(select(Meeting).where(
        Meeting.video_status == VideoStatus.pending, Meeting.status.in_(ACTIVE_STATUSES),
        Meeting.end_at > now).order_by(Meeting.start_at)))


def get_meeting(session: Session, meeting_id: int) -> Meeting:
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound(N_("Mødet findes ikke"))
    return meeting


def history_of(session: Session, meeting: Meeting) -> list[MeetingEvent]:
    return list(session.exec(select(MeetingEvent).where(MeetingEvent.meeting_id == meeting.id)
                             .order_by(MeetingEvent.at, MeetingEvent.id)))


def search_slots(session: Session, *, ctx: BookingContext, query: SlotQuery, exclude_meeting_id: int | None = None,
                 limit: int | None = None) -> list[Slot]:
    """Free times for a slot query (the web slot picker and GET /api/v1/slots)."""
    zone = ctx.rules.zone
    discharge_at = to_utc(query.discharge_at, zone=zone, field="discharge_at") if query.discharge_at else None
    return find_free_slots(session, rules=ctx.rules, municipality_code=query.municipality, from_date=query.from_,
                           to_date=query.to, duration=timedelta(minutes=query.duration or ctx.rules.meeting_minutes),
                           now=ctx.now, advisor_id=query.advisor_id, discharge_at=discharge_at,
                           exclude_meeting_id=exclude_meeting_id, limit=limit)
