"""Local wall-clock time at the edges, aware UTC inside."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..errors import N_, InvalidInput


def to_utc(value: datetime, *, zone: ZoneInfo, field: str) -> datetime:
    """Aware -> UTC; naive is read as local time in `zone` and must exist there (DST gap)."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    local = value.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        raise InvalidInput(N_("Tidspunktet findes ikke på grund af skift til sommertid"), field=field)
    return local.astimezone(UTC)


def local_datetime(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone)


def to_local(value: datetime, zone: ZoneInfo) -> datetime:
    return value.astimezone(zone)


def day_start_utc(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight of `day` as UTC (midnight exists on every DST day in Europe)."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


# A last-use time (an API token's, a browser session's) is written at most this often: writing it at every
# request made each read, on SQLite, wait for the write lock and the disk (BENCHMARKS.md).
USE_RECORDED_EVERY = timedelta(minutes=1)


def use_to_record(last: datetime | None, now: datetime) -> bool:
    """Whether a use at `now` should be written over `last` (also when the clock went back)."""
    return last is None or not timedelta(0) <= now - last < USE_RECORDED_EVERY
