"""After the advisor declines: who declined and why, and the next free times to rebook in one step."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, select

from ..errors import DomainError
from ..models import AnswerStatus, Meeting, Participant, ParticipantRole
from ..schemas import SlotQuery, parse_input
from .availability import Slot
from .booking import ACTIVE_STATUSES, search_slots
from .context import BookingContext

SLOTS_OFFERED = 8
CANDIDATES = 400  # free times looked at to pick the offered ones from


def declined_advisor(session: Session, *, meeting: Meeting) -> Participant | None:
    """The meeting's advisor participant if she has declined."""
    return session.exec(select(Participant).where(
        Participant.meeting_id == meeting.id, Participant.role == ParticipantRole.advisor,
        Participant.status == AnswerStatus.declined)).first()


def rebooking_slots(session: Session, *, ctx: BookingContext, meeting: Meeting, days: int,
                    limit: int = SLOTS_OFFERED) -> list[Slot]:
    """The next free times for a declined meeting, earliest first: other advisors of the municipality
    before the one who declined, none of hers overlapping the declined time, no two of one advisor overlapping.

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
        candidates = search_slots(session, ctx=ctx, query=query, exclude_meeting_id=meeting.id, limit=CANDIDATES)
    except DomainError:
        return []
    spread: list[Slot] = []
    last_end: dict[int, datetime] = {}
    for slot in candidates:  # earliest first: keep a slot only if it starts after the advisor's previous one
        if slot.advisor_id == meeting.advisor_id and slot.start_at < meeting.end_at and \
                slot.end_at > meeting.start_at:  # the time she declined
            continue
        if slot.advisor_id in last_end and slot.start_at < last_end[slot.advisor_id]:
            continue
        last_end[slot.advisor_id] = slot.end_at
        spread.append(slot)
    offered = sorted(spread, key=lambda s: (s.advisor_id == meeting.advisor_id, s.start_at))[:limit]
    return sorted(offered, key=lambda s: (s.start_at, s.advisor_id))
