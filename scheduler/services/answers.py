"""Participants' answers to an invitation (accept, tentative, decline) and what the advisor's answer does
to the meeting: accept confirms it, decline flags it for rebooking and tells the booking secretary."""
from __future__ import annotations

from sqlmodel import Session

from ..errors import N_, Conflict, InvalidInput
from ..models import AnswerStatus, Meeting, MeetingStatus, Participant, ParticipantRole, User
from ..schemas import CONTROL
from .booking import ACTIVE_STATUSES, change_status, record_event
from .context import BookingContext
from .links import AnswerLinks, BadLink
from .notifications import queue_notice

MAX_COMMENT = 500
ANSWERS = (AnswerStatus.accepted, AnswerStatus.tentative, AnswerStatus.declined)


def clean_comment(comment: str | None) -> str | None:
    """One line of text without control characters, or None when nothing is left."""
    text = " ".join(CONTROL.sub(" ", comment or "").split())
    if len(text) > MAX_COMMENT:
        raise InvalidInput(N_("Må højst være %(max_length)s tegn"), field="comment", max_length=MAX_COMMENT)
    return text or None


def parse_answer(value: str | None) -> AnswerStatus:
    """The answer a form button sent; needs-action is not an answer."""
    try:
        status = AnswerStatus(value or "")
    except ValueError:
        status = AnswerStatus.needs_action
    if status not in ANSWERS:
        raise InvalidInput(N_("Vælg accepter, måske eller afvis"), field="status")
    return status


def is_answerable(meeting: Meeting) -> bool:
    """Only booked and confirmed meetings take answers; cancelled, held and no-show ones are final."""
    return meeting.status in ACTIVE_STATUSES


def record_answer(session: Session, *, ctx: BookingContext, participant: Participant, status: AnswerStatus,
                  comment: str | None, actor: User | None) -> Participant:
    """Save the participant's answer (the latest wins); the meeting's advisor's answer moves the meeting."""
    meeting = session.get(Meeting, participant.meeting_id)
    if not is_answerable(meeting):
        raise Conflict(N_("Mødet er aflyst eller afsluttet og kan ikke længere besvares"), field="status")
    if status not in ANSWERS:
        raise InvalidInput(N_("Vælg accepter, måske eller afvis"), field="status")
    comment = clean_comment(comment)
    if status == AnswerStatus.declined and not comment:
        raise InvalidInput(N_("Skriv hvorfor du afviser, så sekretæren kan finde en løsning"), field="comment")

    previous = participant.status
    participant.status, participant.answered_at, participant.answer_comment = status, ctx.now, comment
    session.add(participant)
    by_link = actor is None  # from the personal link in her e-mail, without login
    if actor is None and participant.user_id is not None:
        actor = session.get(User, participant.user_id)
    # The comment stays on the participant only: a reason for declining can be health information.
    record_event(session, meeting, action="answered", actor=actor, now=ctx.now, by_link=by_link,
                 participant_id=participant.id, role=participant.role.value, status=status.value,
                 previous=previous.value)
    if participant.role == ParticipantRole.advisor and participant.user_id == meeting.advisor_id:
        _advisor_answered(session, ctx=ctx, meeting=meeting, status=status, previous=previous)
    session.flush()
    return participant


def _advisor_answered(session: Session, *, ctx: BookingContext, meeting: Meeting, status: AnswerStatus,
                      previous: AnswerStatus) -> None:
    if status == AnswerStatus.accepted:
        change_status(meeting, MeetingStatus.confirmed)
        meeting.needs_rebooking = False
    elif status == AnswerStatus.declined:
        if meeting.status == MeetingStatus.confirmed:
            change_status(meeting, MeetingStatus.booked)
        meeting.needs_rebooking = True
        if previous != AnswerStatus.declined:  # declining again (a new reason) is no news to the secretary
            secretary = session.get(User, meeting.booked_by_id)
            if secretary is not None and secretary.is_active:
                queue_notice(session, ctx=ctx, kind="declined", meeting=meeting, to=secretary)
    else:  # tentative: the status stays, but she no longer declines
        meeting.needs_rebooking = False
    meeting.updated_at = ctx.now
    session.add(meeting)


def participant_for_token(session: Session, *, links: AnswerLinks, token: str) -> Participant:
    """The participant a personal answer link is for; BadLink or ExpiredLink otherwise."""
    participant_id, meeting_id = links.read(token)
    participant = session.get(Participant, participant_id)
    if participant is None or participant.meeting_id != meeting_id:
        # Removed from the meeting (e.g. another advisor took over), or a token made up from parts.
        raise BadLink(N_("Linket gælder ikke længere. Du deltager ikke i dette møde."))
    return participant

