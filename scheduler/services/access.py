"""Who may see which meetings. Every page and API endpoint goes through here."""
from __future__ import annotations

from sqlalchemy.sql import Select
from sqlmodel import Session, select

from ..errors import N_, Forbidden, NotFound
from ..models import Meeting, Role, User, UserWard
from ..schemas import MAX_ID


BOOKING_ROLES = (Role.secretary, Role.admin)


def may_book(user: User) -> bool:
    """Booking, rescheduling and cancelling are for secretaries (of the meeting's ward) and admins."""
    return user.role in BOOKING_ROLES


def require_may_book(user: User) -> None:
    """The booking services' own check (the web pages and the API ask may_book first, for their forms)."""
    if not may_book(user):
        raise Forbidden(N_("Kun sekretærer kan booke og ændre møder"))


def visible_meetings(user: User) -> Select:
    """A select of the meetings this user may see (secretary: her wards; advisor: her municipality)."""
    query = select(Meeting)
    if user.role == Role.admin:
        return query
    if user.role == Role.secretary:
        wards = select(UserWard.ward_id).where(UserWard.user_id == user.id)
        return query.where(Meeting.ward_id.in_(wards))
    if user.role == Role.advisor:
        return query.where(Meeting.municipality_code == user.municipality_code)
    return query.where(False)  # coordinators see statistics, never meetings


def meeting_for(session: Session, *, user: User, meeting_id: int) -> Meeting:
    """The meeting if this user may see it; otherwise 404, so ids cannot be probed."""
    if not 1 <= meeting_id <= MAX_ID:  # beyond the database's integer: cannot exist, would fail in the query
        raise NotFound(N_("Mødet findes ikke"))
    meeting = session.exec(visible_meetings(user).where(Meeting.id == meeting_id)).first()
    if meeting is None:
        raise NotFound(N_("Mødet findes ikke"))
    return meeting
