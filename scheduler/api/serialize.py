"""Meetings as JSON: local times with offset, CPR never in full."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..models import Meeting, Participant, Ward
from ..services.availability import Slot


def iso_local(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat() if value else None


def meeting_json(meeting: Meeting, *, participants: list[Participant], ward: Ward, zone: ZoneInfo,
                 ics_url: str) -> dict[str, Any]:
    video: dict[str, Any] = {"provider": meeting.video_provider, "status": meeting.video_status.value,
                             "join_url": meeting.video_join_url}
    if meeting.video_guest_pin:
        video["guest_pin"] = meeting.video_guest_pin
    if meeting.video_host_pin:
        video["host_pin"] = meeting.video_host_pin
    if meeting.video_sip_uri:
        video["sip_uri"] = meeting.video_sip_uri
    return {
        "id": meeting.id,
        "uid": meeting.uid,
        "status": meeting.status.value,
        "sequence": meeting.sequence,
        "start": iso_local(meeting.start_at, zone),
        "end": iso_local(meeting.end_at, zone),
        "discharge_at": iso_local(meeting.discharge_at, zone),
        "municipality": meeting.municipality_code,
        "ward": ward.code,
        "participants": [{"id": p.id, "role": p.role.value, "name": p.name, "email": p.email,
                          "status": p.status.value} for p in participants],
        "video": video,
        "ics_url": ics_url,
        "cancel_reason": meeting.cancel_reason,
    }


def slot_json(slot: Slot, zone: ZoneInfo) -> dict[str, Any]:
    return {"start": iso_local(slot.start_at, zone), "end": iso_local(slot.end_at, zone),
            "advisor_id": slot.advisor_id}
