"""After the advisor declines: who declined and why, and the next free times to rebook in one step."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from ..errors import DomainError
from ..models import AnswerStatus, Meeting, Participant, ParticipantRole
from ..schemas import SlotQuery, parse_input
from .availability import Slot
from .booking import ACTIVE_STATUSES, search_slots
from .context import BookingContext

SLOTS_OFFERED = 8


def declined_advisor(session: Session, *, meeting: Meeting) -> Participant | None:
    """The meeting's advisor participant if she has declined."""
    return session.exec(select(Participant).where(
        Participant.meeting_id == meeting.id, Participant.role == ParticipantRole.advisor,
        Participant.status == AnswerStatus.declined)).first()


def rebooking_slots(session: Session, *, ctx: BookingContext, meeting: Meeting, days: int,
                    limit: int = SLOTS_OFFERED) -> list[Slot]:
    """The next free times of any advisor of the meeting's municipality, the meeting's own time left out.

    Empty when the meeting needs no rebooking or the search itself is refused (e.g. the range is too long).
    """
    if not meeting.needs_rebooking or meeting.status not in ACTIVE_STATUSES:
        return []
    first_day = ctx.now.astimezone(ctx.rules.zone).date()
    days = max(1, min(days, ctx.rules.max_search_days))
    try:
        query = parse_input(SlotQuery, {
            "municipality": meeting.municipality_code, "from": first_day,
            "to": first_day + timedelta(days=days - 1),
            "duration": (meeting.end_at - meeting.start_at) // timedelta(minutes=1),
            "discharge_at": meeting.discharge_at,
        })
        slots = search_slots(session, ctx=ctx, query=query, exclude_meeting_id=meeting.id, limit=limit + 1)
    except DomainError:
        return []
    return [s for s in slots if (s.start_at, s.advisor_id) != (meeting.start_at, meeting.advisor_id)][:limit]
