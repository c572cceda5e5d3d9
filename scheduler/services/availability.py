"""When an advisor is free: the slot search and the free-time check used when booking.

Working hours are local wall-clock times in `rules.zone`; everything else is aware UTC, and a
duration is real elapsed time (a 45-minute meeting lasts 45 minutes across a DST change).
Each rule lives in one helper that both the search and the check use.

Busy time is read as whole milliseconds since the epoch, computed by the database: a search over
many advisors reads tens of thousands of busy rows, and turning each into an aware datetime cost
far more than finding the free times. The search keeps each advisor's parsed busy-feed copy in
memory while its version (BusyFeedVersion) stays the same; the check before booking always reads
the rows themselves. See BENCHMARKS.md.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Iterable, Iterator, NamedTuple, Sequence
from zoneinfo import ZoneInfo

import holidays
from sqlalchemy import BigInteger, cast, extract, func
from sqlmodel import Session, col, select

from ..errors import N_, Conflict, InvalidInput
from ..models import (Absence, BusyFeedVersion, BusyInterval, Meeting, MeetingStatus, Municipality, Participant,
                      ParticipantRole, Role, User, WorkingHours)
from .rules import BookingRules, Windows

MAX_DURATION = timedelta(hours=8)
MEETING = "meeting"
ABSENCE = "absence"
BUSY_FEED = "busy_feed"  # a busy period in the advisor's own calendar (her busy feed)
# Meetings last at most four hours (schemas, config); with a day's margin, a meeting that started
# earlier than this before a window cannot reach into it, so her older meetings are never read.
LONGEST_MEETING = timedelta(days=1)
MAX_CACHED_FEEDS = 5000  # advisors whose parsed busy-feed copy a process keeps (a few hundred rows each)


@dataclass(frozen=True)
class Slot:
    start_at: datetime
    end_at: datetime
    advisor_id: int


class Busy(NamedTuple):
    """A time an advisor cannot meet: [start, end) in milliseconds since the epoch, meetings and
    busy-feed periods already widened by the buffer."""

    advisor_id: int
    kind: str  # MEETING, ABSENCE or BUSY_FEED
    start: int
    end: int


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
    advisor_ids = _advisor_ids(session, municipality_code=municipality_code, advisor_id=advisor_id)
    if not advisor_ids:
        return []

    range_start = _local_boundary(from_date, time(0), rules.zone, earliest=True)
    range_end = _local_boundary(to_date + timedelta(days=1), time(0), rules.zone, earliest=True)
    hours = _working_hours(session, advisor_ids=advisor_ids, rules=rules)
    feeds, uncached = _feed_blocks(session, advisor_ids=advisor_ids, buffer=rules.buffer)
    blocks = _busy_blocks(_busy_rows(session, advisor_ids=advisor_ids, start_at=range_start, end_at=range_end,
                                     buffer=rules.buffer, exclude_meeting_id=exclude_meeting_id,
                                     feed_ids=uncached), advisor_ids)
    earliest = _ceil_ms(_earliest_start(rules, now))
    latest_end = None if discharge_at is None else _floor_ms(discharge_at)
    length = _ms(duration)

    slots: list[Slot] = []
    day = from_date
    while day <= to_date:
        if not is_holiday(rules, day):
            grid = _day_grid(day, rules.zone, rules.slot_step)
            grid_ms = _day_grid_ms(day, rules.zone, rules.slot_step)
            windows: dict[int, list[tuple[int, int]]] = {}  # per working-hours table: most share the default
            day_slots = []
            for advisor_id in advisor_ids:
                own = hours[advisor_id]
                if id(own) not in windows:
                    windows[id(own)] = [(_floor_ms(ws), _floor_ms(we)) for ws, we in _windows(day, own, rules.zone)]
                busy = (blocks[advisor_id], feeds[advisor_id]) if advisor_id in feeds else (blocks[advisor_id],)
                for i in _free_starts(grid=grid_ms, windows=windows[id(own)], busy=busy,
                                      duration=length, earliest=earliest, latest_end=latest_end):
                    day_slots.append(Slot(start_at=grid[i], end_at=grid[i] + duration, advisor_id=advisor_id))
            # Windows never leave their local day, so each day's slots follow the previous day's.
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
    if is_holiday(rules, day):
        raise InvalidInput(N_("Dagen er en helligdag"), field="start")
    hours = _working_hours(session, advisor_ids=[advisor.id], rules=rules)[advisor.id]
    if not any(ws <= start_at and end_at <= we for ws, we in _windows(day, hours, rules.zone)):
        raise InvalidInput(N_("Tidspunktet ligger uden for rådgiverens arbejdstid"), field="start")
    busy = list(_busy_rows(session, advisor_ids=[advisor.id], start_at=start_at, end_at=end_at,
                           buffer=rules.buffer, exclude_meeting_id=exclude_meeting_id))
    start, end = _floor_ms(start_at), _ceil_ms(end_at)  # any part of a millisecond counts
    if _BusyBlocks((b.start, b.end) for b in busy if b.kind == ABSENCE).overlaps(start, end):
        raise InvalidInput(N_("Rådgiveren er fraværende på det tidspunkt"), field="start")
    if _BusyBlocks((b.start, b.end) for b in busy).overlaps(start, end):  # meetings, her own calendar
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
                    col(Meeting.start_at) < end_at, col(Meeting.end_at) > start_at,
                    # the meetings of these hours by the start index, not every earlier one
                    col(Meeting.start_at) > start_at - LONGEST_MEETING))
    if exclude_meeting_id is not None:
        query = query.where(col(Meeting.id) != exclude_meeting_id)
    busy = set(session.exec(query))
    return [e for e in wanted if e in busy]


# ---- who, and their working hours


def _advisor_ids(session: Session, *, municipality_code: str, advisor_id: int | None) -> list[int]:
    if advisor_id is None:
        return list(session.exec(select(User.id).where(
            User.role == Role.advisor, col(User.is_active).is_(True), User.municipality_code == municipality_code,
        ).order_by(col(User.id))))
    advisor = session.get(User, advisor_id)
    if (advisor is None or advisor.role != Role.advisor or not advisor.is_active
            or advisor.municipality_code != municipality_code):
        raise InvalidInput(N_("Rådgiveren findes ikke i denne kommune"), field="advisor_id")
    return [advisor.id]


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


def is_holiday(rules: BookingRules, day: date) -> bool:
    """A public holiday of the deployment's country (no meetings; series skip or flag it)."""
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


def _free_starts(*, grid: Sequence[int], windows: list[tuple[int, int]], busy: tuple[_BusyBlocks, ...],
                 duration: int, earliest: int, latest_end: int | None) -> Iterator[int]:
    """Indexes of the grid times (ms) where [start, start + duration) fits a window, respects the limits
    and is not busy in any of `busy`. A busy block skips every start it covers in one bisection."""
    for window_start, window_end in windows:
        last_end = window_end if latest_end is None else min(window_end, latest_end)
        i, stop = bisect_left(grid, max(window_start, earliest)), bisect_right(grid, last_end - duration)
        while i < stop:
            start = grid[i]
            block_end = None
            for blocks in busy:
                end = blocks.end_of_overlap(start, start + duration)
                if end is not None and (block_end is None or end > block_end):
                    block_end = end
            if block_end is None:
                yield i
                i += 1
            else:  # every start before the block's end overlaps it too
                i = bisect_left(grid, block_end, i + 1, stop)


# ---- busy time


def _ms_since_epoch(session: Session):  # type: ignore[no-untyped-def]
    """SQL turning a stored UTC time into whole milliseconds since the epoch, on either database."""
    if session.get_bind().dialect.name == "sqlite":  # stored as naive UTC text
        return lambda column: cast(func.round((func.julianday(column) - 2440587.5) * 86400000.0), BigInteger)
    return lambda column: cast(func.round(extract("epoch", column) * 1000), BigInteger)


def _ms(value: timedelta) -> int:
    return round(value / timedelta(milliseconds=1))


def _floor_ms(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _ceil_ms(value: datetime) -> int:
    return -((_EPOCH - value) // timedelta(milliseconds=1))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _busy_rows(session: Session, *, advisor_ids: list[int], start_at: datetime, end_at: datetime,
               buffer: timedelta, exclude_meeting_id: int | None = None,
               feed_ids: list[int] | None = None) -> Iterator[Busy]:
    """Everything that keeps these advisors busy in [start_at, end_at): one query per kind for all of them
    (busy-feed periods only of `feed_ids` when given; the search has the others parsed already).

    A busy period in her own calendar (the last good copy of her busy feed) is an appointment like
    a meeting, so it gets the same buffer: she needs the time between any two of them.
    """
    ms = _ms_since_epoch(session)
    pad = _ms(buffer)
    connection = session.connection()  # plain rows: no ORM loading for thousands of numbers
    meetings = select(Meeting.advisor_id, ms(Meeting.start_at), ms(Meeting.end_at)).where(
        col(Meeting.advisor_id).in_(advisor_ids), Meeting.status != MeetingStatus.cancelled,
        col(Meeting.start_at) < end_at + buffer, col(Meeting.end_at) > start_at - buffer,
        col(Meeting.start_at) > start_at - buffer - LONGEST_MEETING)
    if exclude_meeting_id is not None:
        meetings = meetings.where(col(Meeting.id) != exclude_meeting_id)
    for advisor_id, start, end in connection.execute(meetings).all():
        yield Busy(advisor_id, MEETING, start - pad, end + pad)
    absences = select(Absence.user_id, ms(Absence.start_at), ms(Absence.end_at)).where(
        col(Absence.user_id).in_(advisor_ids), col(Absence.start_at) < end_at, col(Absence.end_at) > start_at)
    for advisor_id, start, end in connection.execute(absences).all():
        yield Busy(advisor_id, ABSENCE, start, end)
    feed_ids = advisor_ids if feed_ids is None else feed_ids
    if feed_ids:
        feed_busy = select(BusyInterval.user_id, ms(BusyInterval.start_at), ms(BusyInterval.end_at)).where(
            col(BusyInterval.user_id).in_(feed_ids), col(BusyInterval.start_at) < end_at + buffer,
            col(BusyInterval.end_at) > start_at - buffer)
        for advisor_id, start, end in connection.execute(feed_busy).all():
            yield Busy(advisor_id, BUSY_FEED, start - pad, end + pad)


# advisor -> (version, buffer ms, her whole busy-feed copy widened by the buffer)
_parsed_feeds: dict[int, tuple[str, int, _BusyBlocks]] = {}


def _feed_blocks(session: Session, *, advisor_ids: list[int],
                 buffer: timedelta) -> tuple[dict[int, _BusyBlocks], list[int]]:
    """The parsed busy-feed copy of each advisor who has a version, from memory while its version is
    unchanged; and the advisors without a version, whose rows are read as usual.

    A copy is read together with its version in one statement, so the two always match.
    """
    connection = session.connection()
    pad = _ms(buffer)
    versions = dict(connection.execute(select(BusyFeedVersion.user_id, BusyFeedVersion.version).where(
        col(BusyFeedVersion.user_id).in_(advisor_ids))).all())
    missing = [a for a, version in versions.items() if _parsed_feeds.get(a, (None, None))[:2] != (version, pad)]
    if missing:
        ms = _ms_since_epoch(session)
        read: dict[int, tuple[str, list[tuple[int, int]]]] = {}
        for advisor_id, version, start, end in connection.execute(
                select(BusyFeedVersion.user_id, BusyFeedVersion.version, ms(BusyInterval.start_at),
                       ms(BusyInterval.end_at))
                .select_from(BusyFeedVersion)
                .outerjoin(BusyInterval, col(BusyInterval.user_id) == col(BusyFeedVersion.user_id))
                .where(col(BusyFeedVersion.user_id).in_(missing))).all():
            intervals = read.setdefault(advisor_id, (version, []))[1]
            if start is not None:
                intervals.append((start - pad, end + pad))
        if len(_parsed_feeds) + len(read) > MAX_CACHED_FEEDS:
            _parsed_feeds.clear()  # more advisors than the limit searched by one process: start again
        for advisor_id, (version, intervals) in read.items():
            _parsed_feeds[advisor_id] = (version, pad, _BusyBlocks(intervals))
            versions[advisor_id] = version
    found = {}
    for advisor_id, version in versions.items():
        cached_version, cached_pad, blocks = _parsed_feeds.get(advisor_id, (None, None, None))
        if (cached_version, cached_pad) == (version, pad):
            found[advisor_id] = blocks
    return found, [a for a in advisor_ids if a not in found]


def _busy_blocks(rows: Iterable[Busy], advisor_ids: list[int]) -> dict[int, _BusyBlocks]:
    per_advisor: dict[int, list[tuple[int, int]]] = {advisor_id: [] for advisor_id in advisor_ids}
    for row in rows:
        per_advisor[row.advisor_id].append((row.start, row.end))
    return {advisor_id: _BusyBlocks(intervals) for advisor_id, intervals in per_advisor.items()}


class _BusyBlocks:
    """Busy intervals joined into sorted, disjoint blocks: an overlap test is one bisection."""

    def __init__(self, intervals: Iterable[tuple[int, int]]):
        self.starts: list[int] = []
        self.ends: list[int] = []
        for start, end in sorted(intervals):
            if end <= start:
                continue
            if self.ends and start <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], end)
            else:
                self.starts.append(start)
                self.ends.append(end)

    def end_of_overlap(self, start: int, end: int) -> int | None:
        """The end of the block that overlaps [start, end), or None if none does."""
        before = bisect_left(self.starts, end)  # blocks that start before the end
        if before and self.ends[before - 1] > start:
            return self.ends[before - 1]
        return None

    def overlaps(self, start: int, end: int) -> bool:
        return self.end_of_overlap(start, end) is not None


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


@lru_cache(maxsize=1024)
def _day_grid(day: date, zone: ZoneInfo, step: timedelta) -> tuple[datetime, ...]:
    """The UTC instants whose local wall-clock time on `day` is a multiple of `step` after midnight."""
    step_minutes = step // timedelta(minutes=1)
    return tuple(sorted(instant for minute in range(0, 24 * 60, step_minutes)
                        for instant in _local_instants(day, time(minute // 60, minute % 60), zone)))


@lru_cache(maxsize=1024)
def _day_grid_ms(day: date, zone: ZoneInfo, step: timedelta) -> tuple[int, ...]:
    return tuple(_floor_ms(start) for start in _day_grid(day, zone, step))
