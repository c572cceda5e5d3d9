"""What booking services need from the outside world, passed in as one value."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..video import VideoProvider
from .invites import CalendarStore
from .rules import BookingRules


@dataclass(frozen=True)
class BookingContext:
    rules: BookingRules
    video: VideoProvider
    calendars: CalendarStore
    organizer_name: str
    organizer_email: str
    now: datetime  # aware UTC; injected so tests can freeze time
    mailer: Any = None  # notifications.Mailer; None sends no e-mail
