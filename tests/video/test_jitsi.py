"""Jitsi rooms: unguessable, saying nothing about the meeting, stable when the meeting moves."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from scheduler.config import load_config
from scheduler.video import MeetingInfo, VideoRoom, load_provider
from scheduler.video.jitsi import JitsiProvider

BASE = "https://meet.example.org"


def meeting_info(uid: str = "7d1c2a9e-meeting-uid@scheduler.example") -> MeetingInfo:
    start = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
    return MeetingInfo(uid=uid, start_at=start, end_at=start + timedelta(minutes=45),
                       subject="Udskrivningssamtale (video)", organizer_email="noreply@example.org")


def room_name(room: VideoRoom) -> str:
    assert room.join_url.startswith(BASE + "/")
    return room.join_url.removeprefix(BASE + "/")


def test_room_name_has_128_random_bits_in_url_safe_lowercase():
    name = room_name(JitsiProvider(BASE).create(meeting_info()))
    assert re.fullmatch(r"[0-9a-f]{32}", name)  # 32 hex digits = 128 bits, safe for case folding


def test_rooms_never_repeat_and_use_every_hex_digit():
    provider = JitsiProvider(BASE)
    names = [room_name(provider.create(meeting_info())) for _ in range(500)]
    assert len(set(names)) == len(names)
    assert set("".join(names)) == set("0123456789abcdef")
    # Each position is random, not a counter or a time: many values at the first and last digit.
    assert len({n[0] for n in names}) == 16 and len({n[-1] for n in names}) == 16


def test_room_says_nothing_about_the_meeting():
    uid = "20300301T090000Z-4711@scheduler.example"
    room = JitsiProvider(BASE).create(meeting_info(uid))
    name = room_name(room)
    for revealing in (uid, "4711", "20300301", "0900", "udskriv"):
        assert revealing not in name.lower()
    assert room.external_id is None and room.guest_pin is None


def test_base_url_trailing_slash_is_not_doubled():
    room = JitsiProvider(BASE + "/").create(meeting_info())
    assert "//" not in room.join_url.removeprefix("https://")


def test_update_keeps_the_room_and_delete_does_nothing():
    provider = JitsiProvider(BASE)
    room = provider.create(meeting_info())
    moved = MeetingInfo(uid=room_name(room), start_at=datetime(2030, 3, 2, 13, 0, tzinfo=UTC),
                        end_at=datetime(2030, 3, 2, 14, 0, tzinfo=UTC), subject="x", organizer_email="a@b.dk")
    assert provider.update(room, moved) is room
    assert provider.delete(room) is None


def test_load_provider_picks_jitsi_with_its_base_url(tmp_path):
    config = load_config(tmp_path / "absent.toml", environ={},
                         overrides={"video": {"provider": "jitsi", "jitsi_base_url": BASE + "/"}})
    provider = load_provider(config)
    assert isinstance(provider, JitsiProvider) and provider.name == "jitsi"
    assert provider.create(meeting_info()).join_url.startswith(BASE + "/")
