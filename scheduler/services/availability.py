"""When an advisor is free: the slot search and the free-time check used when booking.

Working hours are local wall-clock times in `rules.zone`; everything else is aware UTC, and a
duration is real elapsed time (a 45-minute meeting lasts 45 minutes across a DST change).
Each rule lives in one helper that both the search and the check use.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Iterable, NamedTuple
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import func
from sqlmodel import Session, col, select

from ..errors import N_, Conflict, InvalidInput
from ..models import (Absence, BusyInterval, Meeting, MeetingStatus, Municipality, Participant, ParticipantRole,
                      Role, User, WorkingHours)
from .rules import BookingRules, Windows

MAX_DURATION = timedelta(hours=8)
MEETING = "meeting"
ABSENCE = "absence"
BUSY_FEED = "busy_feed"  # a busy period in the advisor's own calendar (her busy feed)


@dataclass(frozen=True)
class Slot:
    start_at: datetime
    end_at: datetime
    advisor_id: int


class Busy(NamedTuple):
    """A time an advisor cannot meet: [start_at, end_at), meetings and busy-feed periods already widened
    by the buffer."""

    start_at: datetime
    end_at: datetime
    kind: str  # MEETING, ABSENCE or BUSY_FEED


# ---- the public functions


def find_free_slots(session: Session, *, rules: BookingRules, municipality_code: str, from_date: date,
                    to_date: date, duration: timedelta, now: datetime, advisor_id: int | None = None,
                    discharge_at: datetime | None = None, exclude_meeting_id: int | None = None,
                    limit: int | None = None) -> list[Slot]:
    """Free start times on the slot grid, local dates inclusive, earliest first, then by advisor id."""
    if to_date < from_date:
        raise InvalidInput(N_("Slutdatoen ligger før startdatoen"), field="to")
    if (to_date - from_date).days + 1 > rules.max_search_days:
        raise InvalidInput(N_("Søgningen må højst dække %(days)d dage"), field="to", days=rules.max_search_days)
    if not timedelta(0) < duration <= MAX_DURATION:
        raise InvalidInput(N_("Varigheden skal være over 0 og højst %(hours)d timer"), field="duration",
                           hours=MAX_DURATION // timedelta(hours=1))
    if limit is not None and limit < 1:
        raise InvalidInput(N_("Antallet skal være mindst 1"), field="limit")
    if session.get(Municipality, municipality_code) is None:
        raise InvalidInput(N_("Ukendt kommune: %(code)s"), field="municipality", code=municipality_code)
    advisors = _advisors(session, municipality_code=municipality_code, advisor_id=advisor_id)
    if not advisors:
        return []

    advisor_ids = [a.id for a in advisors]
    range_start = _local_boundary(from_date, time(0), rules.zone, earliest=True)
    range_end = _local_boundary(to_date + timedelta(days=1), time(0), rules.zone, earliest=True)
    hours = _working_hours(session, advisor_ids=advisor_ids, rules=rules)
    busy = {advisor_id: _BusyIndex(intervals) for advisor_id, intervals in _busy_intervals(
        session, advisor_ids=advisor_ids, start_at=range_start, end_at=range_end, buffer=rules.buffer,
        exclude_meeting_id=exclude_meeting_id).items()}
    earliest, latest_end = _earliest_start(rules, now), discharge_at

    slots: list[Slot] = []
    day = from_date
    while day <= to_date:
        if not _is_holiday(rules, day):
            grid = _day_grid(day, rules.zone, rules.slot_step)
            # Windows never leave their local day, so each day's slots follow the previous day's.
            day_slots = [
                Slot(start_at=start, end_at=start + duration, advisor_id=advisor_id)
                for advisor_id in advisor_ids
                for start in _free_starts(grid=grid, windows=_windows(day, hours[advisor_id], rules.zone),
                                          busy=busy[advisor_id], duration=duration, earliest=earliest,
                                          latest_end=latest_end)]
            day_slots.sort(key=lambda s: (s.start_at, s.advisor_id))
            slots.extend(day_slots)
            if limit is not None and len(slots) >= limit:
                return slots[:limit]
        day += timedelta(days=1)
    return slots


def check_advisor_free(session: Session, *, rules: BookingRules, advisor: User, start_at: datetime,
                       end_at: datetime, now: datetime, discharge_at: datetime | None = None,
                       exclude_meeting_id: int | None = None) -> None:
    """Raise InvalidInput or Conflict (field "start") unless the advisor can meet at exactly this time."""
    if end_at <= start_at:
        raise InvalidInput(N_("Mødet skal slutte efter det starter"), field="end")
    if start_at < _earliest_start(rules, now):
        raise InvalidInput(N_("Mødet kan tidligst starte %(minutes)d minutter fra nu"), field="start",
                           minutes=rules.min_notice // timedelta(minutes=1))
    if discharge_at is not None and end_at > discharge_at:
        raise InvalidInput(N_("Mødet skal være slut inden udskrivelsen"), field="start")
    day = start_at.astimezone(rules.zone).date()
    if _is_holiday(rules, day):
        raise InvalidInput(N_("Dagen er en helligdag"), field="start")
    hours = _working_hours(session, advisor_ids=[advisor.id], rules=rules)[advisor.id]
    if not any(ws <= start_at and end_at <= we for ws, we in _windows(day, hours, rules.zone)):
        raise InvalidInput(N_("Tidspunktet ligger uden for rådgiverens arbejdstid"), field="start")
    busy = _busy_intervals(session, advisor_ids=[advisor.id], start_at=start_at, end_at=end_at,
                           buffer=rules.buffer, exclude_meeting_id=exclude_meeting_id)[advisor.id]
    if _BusyIndex(b for b in busy if b.kind == ABSENCE).overlaps(start_at, end_at):
        raise InvalidInput(N_("Rådgiveren er fraværende på det tidspunkt"), field="start")
    if _BusyIndex(busy).overlaps(start_at, end_at):  # any other busy time: meetings, her own calendar
        raise Conflict(N_("Rådgiveren har et andet møde på eller tæt på det tidspunkt"), field="start")


def busy_staff_emails(session: Session, *, emails: list[str], start_at: datetime, end_at: datetime,
                      exclude_meeting_id: int | None = None) -> list[str]:
    """The given e-mails (lower-cased, in the given order) that are staff in an overlapping meeting."""
    wanted = list(dict.fromkeys(e.strip().lower() for e in emails if e and e.strip()))
    if not wanted:
        return []
    email = func.lower(Participant.email)
    query = (select(email).distinct()
             .join(Meeting, col(Meeting.id) == col(Participant.meeting_id))
             .where(Participant.role == ParticipantRole.staff, email.in_(wanted),
                    Meeting.status != MeetingStatus.cancelled,
                    col(Meeting.start_at) < end_at, col(Meeting.end_at) > start_at))
    if exclude_meeting_id is not None:
        query = query.where(col(Meeting.id) != exclude_meeting_id)
    busy = set(session.exec(query))
    return [e for e in wanted if e in busy]


# ---- who, and their working hours


def _advisors(session: Session, *, municipality_code: str, advisor_id: int | None) -> list[User]:
    if advisor_id is None:
        return list(session.exec(select(User).where(
            User.role == Role.advisor, col(User.is_active).is_(True), User.municipality_code == municipality_code,
        ).order_by(col(User.id))))
    advisor = session.get(User, advisor_id)
    if (advisor is None or advisor.role != Role.advisor or not advisor.is_active
            or advisor.municipality_code != municipality_code):
        raise InvalidInput(N_("Rådgiveren findes ikke i denne kommune"), field="advisor_id")
    return [advisor]


def _working_hours(session: Session, *, advisor_ids: list[int],
                   rules: BookingRules) -> dict[int, dict[int, Windows]]:
    """Weekday -> local windows per advisor: her own rows if she has any, else the default."""
    own: dict[int, dict[int, Windows]] = defaultdict(lambda: defaultdict(list))
    for row in session.exec(select(WorkingHours).where(col(WorkingHours.user_id).in_(advisor_ids))):
        own[row.user_id][row.weekday].append((row.start_time, row.end_time))
    return {advisor_id: dict(own[advisor_id]) if advisor_id in own else rules.default_hours
            for advisor_id in advisor_ids}


# ---- the rules, one helper each


def _earliest_start(rules: BookingRules, now: datetime) -> datetime:
    return now + rules.min_notice


@lru_cache(maxsize=64)
def _holiday_dates(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year))


def _is_holiday(rules: BookingRules, day: date) -> bool:
    return day in _holiday_dates(rules.country, day.year)


def _windows(day: date, hours: dict[int, Windows], zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The day's working windows in UTC, sorted, overlapping or touching ones joined."""
    windows = sorted((_local_boundary(day, start, zone, earliest=True),
                      _local_boundary(day, end, zone, earliest=False))
                     for start, end in hours.get(day.weekday(), []))
    joined: list[tuple[datetime, datetime]] = []
    for start, end in windows:
        if end <= start:
            continue
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


def _free_starts(*, grid: list[datetime], windows: list[tuple[datetime, datetime]], busy: _BusyIndex,
                 duration: timedelta, earliest: datetime, latest_end: datetime | None) -> Iterable[datetime]:
    """Grid times where [start, start + duration) fits a window, respects the limits and is not busy."""
    for window_start, window_end in windows:
        last_end = window_end if latest_end is None else min(window_end, latest_end)
        first, last = max(window_start, earliest), last_end - duration
        for start in grid[bisect_left(grid, first):bisect_right(grid, last)]:
            if not busy.overlaps(start, start + duration):
                yield start


# ---- busy time


def _busy_intervals(session: Session, *, advisor_ids: list[int], start_at: datetime, end_at: datetime,
                    buffer: timedelta, exclude_meeting_id: int | None = None) -> dict[int, list[Busy]]:
    """Everything that keeps each advisor busy in [start_at, end_at): one query per kind for all of them.

    A busy period in her own calendar (the last good copy of her busy feed) is an appointment like
    a meeting, so it gets the same buffer: she needs the time between any two of them.
    """
    busy: dict[int, list[Busy]] = {advisor_id: [] for advisor_id in advisor_ids}
    meetings = select(Meeting.advisor_id, Meeting.start_at, Meeting.end_at).where(
        col(Meeting.advisor_id).in_(advisor_ids), Meeting.status != MeetingStatus.cancelled,
        col(Meeting.start_at) < end_at + buffer, col(Meeting.end_at) > start_at - buffer)
    if exclude_meeting_id is not None:
        meetings = meetings.where(col(Meeting.id) != exclude_meeting_id)
    for advisor_id, meeting_start, meeting_end in session.exec(meetings):
        busy[advisor_id].append(Busy(meeting_start - buffer, meeting_end + buffer, MEETING))
    absences = select(Absence.user_id, Absence.start_at, Absence.end_at).where(
        col(Absence.user_id).in_(advisor_ids), col(Absence.start_at) < end_at, col(Absence.end_at) > start_at)
    for advisor_id, absence_start, absence_end in session.exec(absences):
        busy[advisor_id].append(Busy(absence_start, absence_end, ABSENCE))
    feed_busy = select(BusyInterval.user_id, BusyInterval.start_at, BusyInterval.end_at).where(
        col(BusyInterval.user_id).in_(advisor_ids), col(BusyInterval.start_at) < end_at + buffer,
        col(BusyInterval.end_at) > start_at - buffer)
    for advisor_id, busy_start, busy_end in session.exec(feed_busy):
        busy[advisor_id].append(Busy(busy_start - buffer, busy_end + buffer, BUSY_FEED))
    return busy


class _BusyIndex:
    """Busy intervals sorted by start with the latest end so far: an overlap test is one bisection."""

    def __init__(self, intervals: Iterable[Busy]):
        ordered = sorted(intervals)
        self._starts = [b.start_at for b in ordered]
        self._latest_ends: list[datetime] = []
        for b in ordered:
            self._latest_ends.append(max(b.end_at, self._latest_ends[-1]) if self._latest_ends else b.end_at)

    def overlaps(self, start_at: datetime, end_at: datetime) -> bool:
        before = bisect_left(self._starts, end_at)  # intervals that start before the end
        return before > 0 and self._latest_ends[before - 1] > start_at


# ---- local wall-clock time -> UTC


def _local_instants(day: date, clock: time, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants showing this wall-clock time: none in a DST gap, two in the repeated hour."""
    local = datetime.combine(day, clock, tzinfo=zone)
    first, second = local.astimezone(UTC), local.replace(fold=1).astimezone(UTC)
    if first == second:
        return [first]
    return [first, second] if first < second else []


def _local_boundary(day: date, clock: time, zone: ZoneInfo, *, earliest: bool) -> datetime:
    """A window edge in UTC: the first (start) or last (end) instant showing this wall-clock time,
    so a window covers the repeated hour twice; inside a DST gap, the instant the clocks jump."""
    instants = _local_instants(day, clock, zone)
    if instants:
        return instants[0] if earliest else instants[-1]
    return _gap_end(datetime.combine(day, clock), zone)


def _gap_end(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant after a wall-clock time skipped by a DST gap (the moment the clocks jump)."""
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # read with the offset after the jump
    high = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # read with the offset before it
    # Before the jump the clock shows less than `wall`, from the jump on more: find the jump's second.
    lo, hi = 0, int((high - low).total_seconds())
    while lo < hi:
        middle = (lo + hi) // 2
        if (low + timedelta(seconds=middle)).astimezone(zone).replace(tzinfo=None) >= wall:
            hi = middle
        else:
            lo = middle + 1
    return low + timedelta(seconds=lo)


def _day_grid(day: date, zone: ZoneInfo, step: timedelta) -> list[datetime]:
    """The UTC instants whose local wall-clock time on `day` is a multiple of `step` after midnight."""
    step_minutes = step // timedelta(minutes=1)
    return sorted(instant for minute in range(0, 24 * 60, step_minutes)
                  for instant in _local_instants(day, time(minute // 60, minute % 60), zone))
