"""Jitsi rooms: a base URL plus an unguessable name; no account, nothing to book or release."""
from __future__ import annotations

import secrets

from .base import MeetingInfo, VideoProvider, VideoRoom


def new_room_name() -> str:
    """128 random bits as lowercase hex: Jitsi folds room names to lowercase, so no entropy is lost."""
    return secrets.token_hex(16)


class JitsiProvider(VideoProvider):
    """Whoever knows the room name can join, so the name is random and says nothing about the meeting."""

    name = "jitsi"

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    def create(self, meeting: MeetingInfo) -> VideoRoom:
        return VideoRoom(join_url=f"{self.base_url}/{new_room_name()}")

    def update(self, room: VideoRoom, meeting: MeetingInfo) -> VideoRoom:
        """A Jitsi room has no time, so the link stays valid when the meeting moves."""
        return room

    def delete(self, room: VideoRoom) -> None:
        """Jitsi rooms vanish when empty; there is nothing to release."""
