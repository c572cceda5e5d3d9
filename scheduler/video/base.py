"""The shape every video provider has."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime


class VideoUnavailable(Exception):
    """The provider could not be reached or refused; the meeting waits for its link."""


@dataclass(frozen=True)
class MeetingInfo:
    """What a provider may know about a meeting: time, a neutral subject, no personal data."""

    uid: str
    start_at: datetime  # aware UTC
    end_at: datetime
    subject: str
    organizer_email: str


@dataclass(frozen=True)
class VideoRoom:
    join_url: str
    external_id: str | None = None  # the provider's id (VDX uuid)
    sip_uri: str | None = None
    host_pin: str | None = None
    guest_pin: str | None = None


class VideoProvider(ABC):
    name: str

    @abstractmethod
    def create(self, meeting: MeetingInfo) -> VideoRoom:
        """Create a room for the meeting; raise VideoUnavailable if that cannot be done now."""

    @abstractmethod
    def update(self, room: VideoRoom, meeting: MeetingInfo) -> VideoRoom:
        """Move the room to the meeting's new time; may return a new room (new link)."""

    @abstractmethod
    def delete(self, room: VideoRoom) -> None:
        """Release the room of a cancelled meeting where the provider allows it."""
