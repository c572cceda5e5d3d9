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
    meeting_types: tuple[str, ...] = ("discharge",)  # enabled kinds (services/meeting_types.py)
    type_minutes: tuple[tuple[str, int], ...] = ()  # default length per kind other than discharge
    language: str = "da"  # the deployment's: a patient's invitation speaks it unless the booking says otherwise

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
            meeting_types=tuple(config.meeting_types.enabled),
            type_minutes=(("short_term_home_care", config.meeting_types.short_term_home_care_minutes),
                          ("cross_sector", config.meeting_types.cross_sector_minutes)),
            language=config.app.language,
        )

    def minutes_for(self, meeting_type: str) -> int:
        """Default length of a meeting of this kind."""
        return dict(self.type_minutes).get(meeting_type, self.meeting_minutes)

    def bookable_types(self) -> list[str]:
        """Enabled kinds booked one at a time (the cross-sector kind is booked as a series)."""
        return [key for key in self.meeting_types if key != "cross_sector"] or ["discharge"]
