"""The municipal advisor's own things: invitations waiting for her answer, her meetings, working hours
and absences."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field
from sqlmodel import Session, col, select

from ..config import WEEKDAYS, parse_hours
from ..errors import N_, InvalidInput, NotFound
from ..models import (Absence, AnswerStatus, Meeting, MeetingStatus, Participant, ParticipantRole, User, Ward,
                      WorkingHours)
from ..schemas import Input, When
from .booking import ACTIVE_STATUSES
from .rules import BookingRules, Windows
from .timeutil import to_utc
from .users import set_working_hours

MAX_ABSENCE = timedelta(days=366)
UPCOMING_SHOWN = 200


def _one_line(value: str) -> str:
    value = " ".join(value.split())
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(N_("Må ikke indeholde linjeskift eller kontroltegn"))
    return value


class AbsenceCreate(Input):
    """An absence as typed: local date-times (naive, read in the configured zone) or aware ones."""

    start_at: When
    end_at: When
    reason: Annotated[str, Field(max_length=200), AfterValidator(_one_line)] | None = None


# ---- invitations and meetings


def own_participant(session: Session, *, user: User, participant_id: int) -> Participant:
    """Her own advisor participant row; 404 for anyone else's, so ids cannot be probed."""
    participant = session.get(Participant, participant_id)
    if participant is None or participant.user_id != user.id or participant.role != ParticipantRole.advisor:
        raise NotFound(N_("Invitationen findes ikke"))
    return participant


def pending_invitations(session: Session, *, user: User, now: datetime) -> list[tuple[Participant, Meeting]]:
    """Her invitations without an answer, for active meetings that have not started, earliest first."""
    rows = session.exec(
        select(Participant, Meeting).join(Meeting, col(Meeting.id) == col(Participant.meeting_id))
        .where(Participant.user_id == user.id, Participant.role == ParticipantRole.advisor,
               Participant.status == AnswerStatus.needs_action, col(Meeting.status).in_(ACTIVE_STATUSES),
               col(Meeting.start_at) > now)
        .order_by(col(Meeting.start_at)))
    return [(participant, meeting) for participant, meeting in rows]


def upcoming_meetings(session: Session, *, user: User, now: datetime) -> list[tuple[Meeting, Participant | None]]:
    """Her meetings that have not ended and are not cancelled, with her participant row (her answer)."""
    rows = session.exec(
        select(Meeting, Participant)
        .join(Participant, (col(Participant.meeting_id) == col(Meeting.id)) & (Participant.user_id == user.id)
              & (Participant.role == ParticipantRole.advisor), isouter=True)
        .where(Meeting.advisor_id == user.id, Meeting.status != MeetingStatus.cancelled, col(Meeting.end_at) > now)
        .order_by(col(Meeting.start_at)).limit(UPCOMING_SHOWN))
    return [(meeting, participant) for meeting, participant in rows]


def wards_by_id(session: Session, ids: set[int]) -> dict[int, Ward]:
    if not ids:
        return {}
    return {w.id: w for w in session.exec(select(Ward).where(col(Ward.id).in_(ids)))}


# ---- working hours


def working_hours_of(session: Session, *, user: User, rules: BookingRules) -> tuple[dict[int, Windows], bool]:
    """(weekday -> windows, whether they are her own): her rows if she has any, else the default."""
    own: dict[int, Windows] = {}
    for row in session.exec(select(WorkingHours).where(WorkingHours.user_id == user.id)
                            .order_by(col(WorkingHours.weekday), col(WorkingHours.start_time))):
        own.setdefault(row.weekday, []).append((row.start_time, row.end_time))
    return (own, True) if own else (dict(rules.default_hours), False)


def format_hours(windows: Windows) -> str:
    """[(08:00, 15:30)] -> '08:00-15:30', the form's notation."""
    return ", ".join(f"{start:%H:%M}-{end:%H:%M}" for start, end in windows)


def parse_week(texts: dict[str, str]) -> dict[int, list[tuple[time, time]]]:
    """{'mon': '08:00-15:30', ...} -> weekday -> windows; InvalidInput names each bad day ('hours.mon')."""
    hours: dict[int, list[tuple[time, time]]] = {}
    errors: dict[str, str] = {}
    for weekday, day in enumerate(WEEKDAYS):
        try:
            hours[weekday] = parse_hours(texts.get(day) or "")
        except ValueError:
            errors[f"hours.{day}"] = N_("Skriv tider som 08:00-15:30; flere tidsrum adskilt med komma, "
                                        "uden overlap. Tomt betyder fri.")
    if errors:
        raise InvalidInput(N_("Arbejdstiden kunne ikke læses"), fields=errors)
    if not any(hours.values()):
        raise InvalidInput(N_("Angiv mindst én arbejdsdag, eller brug standardarbejdstiden"), field="hours.mon")
    return {weekday: windows for weekday, windows in hours.items() if windows}


def save_working_hours(session: Session, *, user: User, texts: dict[str, str] | None) -> None:
    """Her own hours from the form's text per weekday; None goes back to the default hours."""
    set_working_hours(session, user=user, hours={} if texts is None else parse_week(texts))


# ---- absences


def absences_of(session: Session, *, user: User, now: datetime) -> list[Absence]:
    """Her absences that have not ended, earliest first."""
    return list(session.exec(select(Absence).where(Absence.user_id == user.id, col(Absence.end_at) > now)
                             .order_by(col(Absence.start_at))))


def add_absence(session: Session, *, user: User, data: AbsenceCreate, zone: ZoneInfo, now: datetime) -> Absence:
    """Save an absence; slot search and booking treat it as busy."""
    start_at = to_utc(data.start_at, zone=zone, field="start_at")
    end_at = to_utc(data.end_at, zone=zone, field="end_at")
    if end_at <= start_at:
        raise InvalidInput(N_("Fraværet skal slutte efter det starter"), field="end_at")
    if end_at <= now:
        raise InvalidInput(N_("Fraværet er allerede slut"), field="end_at")
    if end_at - start_at > MAX_ABSENCE:
        raise InvalidInput(N_("Et fravær kan højst vare et år"), field="end_at")
    absence = Absence(user_id=user.id, start_at=start_at, end_at=end_at, reason=data.reason or None)
    session.add(absence)
    session.flush()
    return absence


def delete_absence(session: Session, *, user: User, absence_id: int) -> None:
    absence = session.get(Absence, absence_id)
    if absence is None or absence.user_id != user.id:
        raise NotFound(N_("Fraværet findes ikke"))
    session.delete(absence)
    session.flush()
