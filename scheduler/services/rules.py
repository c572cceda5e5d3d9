"""The booking rules from config, as one value services take (so services never read Flask config)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from ..config import WEEKDAYS, Config

Windows = list[tuple[time, time]]


@dataclass(frozen=True)
class BookingRules:
    zone: ZoneInfo
    country: str  # "DK" or "NO": public holidays
    meeting_minutes: int
    buffer: timedelta
    min_notice: timedelta
    slot_step: timedelta
    max_search_days: int
    default_hours: dict[int, Windows]  # weekday (0 = Monday) -> working windows, local time

    @classmethod
    def from_config(cls, config: Config) -> "BookingRules":
        booking = config.booking
        return cls(
            zone=config.zone,
            country=config.app.country,
            meeting_minutes=booking.meeting_minutes,
            buffer=timedelta(minutes=booking.buffer_minutes),
            min_notice=timedelta(minutes=booking.min_notice_minutes),
            slot_step=timedelta(minutes=booking.slot_step_minutes),
            max_search_days=booking.max_search_days,
            default_hours={i: booking.working_hours[day] for i, day in enumerate(WEEKDAYS)},
        )
