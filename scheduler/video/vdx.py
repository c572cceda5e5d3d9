"""MedCom VDX booking API v2 (KvalitetsIT/medcom-video-api, video-api-v2.yaml).

A VDX meeting can be changed while it awaits provisioning; once provisioned only its end may move,
and only an unprovisioned meeting may be deleted. A new start on a provisioned meeting therefore
books a new meeting (new link); the old one ends on its own.
"""
from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any

import requests

from .base import MeetingInfo, VideoProvider, VideoRoom, VideoUnavailable

log = logging.getLogger(__name__)

AWAITS_PROVISION = "AWAITS_PROVISION"
PROVISIONED_OK = "PROVISIONED_OK"
SUBJECT_MAX_LENGTH = 100


def vdx_time(moment: datetime) -> str:
    """The spec's yyyy-MM-dd'T'HH:mm:ssXXX: whole seconds (VDX drops fractions) and an explicit offset."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def new_pins() -> tuple[int, int]:
    """A host and a different guest PIN, six digits each (the spec allows 1000-999999999)."""
    host = 100_000 + secrets.randbelow(900_000)
    guest = host
    while guest == host:
        guest = 100_000 + secrets.randbelow(900_000)
    return host, guest


class VdxProvider(VideoProvider):
    """Books VDX meetings with a bearer token; sends a neutral subject, times and the meeting uid only."""

    name = "vdx"

    def __init__(self, base_url: str, token: str, timeout: float, session: requests.Session | None = None,
                 *, guest_pin_required: bool = True):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.session = session or requests.Session()
        # With our own PINs the shortLink asks for the guest PIN (the invite carries it), whatever
        # the organisation's scheduling template would have generated.
        self.guest_pin_required = guest_pin_required

    def __repr__(self) -> str:
        return f"VdxProvider(base_url={self.base_url!r})"

    def create(self, meeting: MeetingInfo) -> VideoRoom:
        return self._book(meeting, external_id=meeting.uid)

    def update(self, room: VideoRoom, meeting: MeetingInfo) -> VideoRoom:
        if room.external_id is None:  # a link made by another provider
            return self._book(meeting, external_id=_replacement_id(meeting))
        uuid = room.external_id
        current = self._call("GET", f"/v2/meetings/{uuid}", tolerate=(404,))
        if current is None:
            log.info("VDX meeting %s no longer exists; booking a new one", uuid)
            return self._book(meeting, external_id=_replacement_id(meeting))
        same_start = _parse_time(current.get("startTime")) == _whole_seconds(meeting.start_at)
        same_end = _parse_time(current.get("endTime")) == _whole_seconds(meeting.end_at)
        if same_start and same_end:
            return room
        status = self._provision_status(uuid)
        if status == AWAITS_PROVISION:
            self._call("PATCH", f"/v2/meetings/{uuid}", body={
                "subject": meeting.subject[:SUBJECT_MAX_LENGTH], "startTime": vdx_time(meeting.start_at),
                "endTime": vdx_time(meeting.end_at)})
            return room
        if status == PROVISIONED_OK and same_start:
            self._call("PATCH", f"/v2/meetings/{uuid}", body={"endTime": vdx_time(meeting.end_at)})
            return room
        log.info("VDX meeting %s is %s and cannot move; booking a new one", uuid, status)
        return self._book(meeting, external_id=_replacement_id(meeting))

    def delete(self, room: VideoRoom) -> None:
        if room.external_id is None:
            return
        uuid = room.external_id
        status = self._provision_status(uuid, missing_ok=True)
        if status is None:
            return
        if status != AWAITS_PROVISION:
            log.info("VDX meeting %s is %s; VDX allows no delete, it ends on its own", uuid, status)
            return
        # 406: provisioning started since we looked; 404: already gone. Either way nothing to do.
        if self._call("DELETE", f"/v2/meetings/{uuid}", tolerate=(404, 406)) is None:
            log.info("VDX meeting %s could not be deleted any more; it ends on its own", uuid)

    def _book(self, meeting: MeetingInfo, *, external_id: str) -> VideoRoom:
        """POST the meeting, then read its SIP address and PINs from the scheduling info."""
        body: dict[str, Any] = {
            "subject": meeting.subject[:SUBJECT_MAX_LENGTH],
            "startTime": vdx_time(meeting.start_at),
            "endTime": vdx_time(meeting.end_at),
            "externalId": external_id,
            "endMeetingOnEndTime": False,  # a conversation running a little late is not cut off
            "guestPinRequired": self.guest_pin_required,
        }
        if meeting.organizer_email:
            body["organizedByEmail"] = meeting.organizer_email
        if self.guest_pin_required:
            body["hostPin"], body["guestPin"] = new_pins()
        created = self._call("POST", "/v2/meetings", body=body) or {}
        uuid = created.get("uuid")
        join_url = created.get("shortLink") or created.get("shortlink")
        if not isinstance(uuid, str) or not isinstance(join_url, str):
            raise VideoUnavailable("VDX POST /v2/meetings: answer without uuid or shortLink")
        try:
            info = self._call("GET", f"/v2/scheduling-info/{uuid}") or {}
        except VideoUnavailable as exc:
            # The meeting exists and its link works; booking it again would only leave a second one.
            log.warning("VDX meeting %s booked, scheduling info unavailable: %s", uuid, exc)
            info = {}
        return VideoRoom(join_url=join_url, external_id=uuid,
                         sip_uri=_text(info.get("uriWithDomain")),
                         host_pin=_text(info.get("hostPin", body.get("hostPin"))),
                         guest_pin=_text(info.get("guestPin", body.get("guestPin"))))

    def _provision_status(self, uuid: str, *, missing_ok: bool = False) -> str | None:
        info = self._call("GET", f"/v2/scheduling-info/{uuid}", tolerate=(404,) if missing_ok else ())
        if info is None:
            return None
        status = info.get("provisionStatus")
        if not isinstance(status, str):
            raise VideoUnavailable(f"VDX GET /v2/scheduling-info/{uuid}: answer without provisionStatus")
        return status

    def _call(self, method: str, path: str, *, body: dict[str, Any] | None = None,
              tolerate: tuple[int, ...] = ()) -> dict[str, Any] | None:
        """One request; None for a tolerated status, VideoUnavailable for any other failure."""
        where = f"VDX {method} {path}"
        try:
            response = self.session.request(method, self.base_url + path, json=body, timeout=self.timeout,
                                            headers={"Authorization": f"Bearer {self._token}"})
        except requests.Timeout as exc:
            raise VideoUnavailable(f"{where}: no answer within {self.timeout:g} s") from exc
        except requests.RequestException as exc:
            raise VideoUnavailable(f"{where}: not reachable ({type(exc).__name__})") from exc
        with response:
            if response.status_code in tolerate:
                return None
            if not 200 <= response.status_code < 300:
                raise VideoUnavailable(f"{where}: HTTP {response.status_code}{_error_code(response)}")
            if response.status_code == 204 or not response.content:
                return {}
            try:
                data = response.json()
            except ValueError:
                data = None
        if not isinstance(data, dict):
            raise VideoUnavailable(f"{where}: answer is not a JSON object")
        return data


def _replacement_id(meeting: MeetingInfo) -> str:
    """VDX keeps externalId unique per organisation, and an old meeting cannot always be deleted."""
    return f"{meeting.uid}-{secrets.token_hex(4)}"


def _whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _parse_time(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise VideoUnavailable(f"VDX sent a time that is not ISO 8601: {value!r}") from None
    if moment.tzinfo is None:
        raise VideoUnavailable(f"VDX sent a time without offset: {value!r}")
    return moment


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _error_code(response: requests.Response) -> str:
    """The spec's detailed_error_code (e.g. 21: externalId not unique) helps whoever reads the log."""
    try:
        code = response.json().get("detailed_error_code")
    except (ValueError, AttributeError):
        return ""
    return f" (detailed_error_code {code})" if code is not None else ""
