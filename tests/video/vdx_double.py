"""A local HTTP double of the MedCom VDX booking API v2, as far as the scheduler uses it.

Follows video-api-v2.yaml (KvalitetsIT/medcom-video-api): POST/GET/PATCH/DELETE /v2/meetings[/{uuid}]
and GET /v2/scheduling-info/{uuid}; 400 with detailed_error_code on bad input, 401 without the
right bearer token, 404 for an unknown uuid, 406 when the provision status forbids the change.
Stricter than VDX in one place: a PATCH that moves the start of a PROVISIONED_OK meeting is refused
(VDX silently keeps the old start), so a provider that tries it is caught.

    with VdxDouble(token="t") as vdx:      # or the `vdx_double` fixture
        provider = VdxProvider(vdx.url, "t", timeout=2)
        vdx.provision(uuid)                # AWAITS_PROVISION -> PROVISIONED_OK
        vdx.fail_with(503)                 # "provider down" until fail_with(None)
        vdx.delay = 0.5                    # answer slowly, for timeouts
"""
from __future__ import annotations

import copy
import json
import secrets
import string
import threading
import uuid as uuid_module
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROVISION_STATUSES = ("AWAITS_PROVISION", "STARTING_TO_PROVISION", "PROVISION_PROBLEMS", "PROVISIONED_OK",
                      "STARTING_TO_DEPROVISION", "DEPROVISION_PROBLEMS", "DEPROVISION_OK")
PIN_MIN, PIN_MAX = 1000, 999_999_999
URI_DOMAIN = "test.vconf.dk"


@dataclass(frozen=True)
class Received:
    """One request as the double saw it; tests check these for personal data."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None

    def text(self) -> str:
        return json.dumps(self.body, ensure_ascii=False) if self.body is not None else ""


class VdxError(Exception):
    def __init__(self, status: int, message: str, code: int = 11):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class VdxDouble:
    """The VDX API in a background thread on 127.0.0.1; `url` is the base URL to give the provider."""

    def __init__(self, token: str = "test-token"):
        self.token = token
        self.url = ""
        self.delay = 0.0
        self.received: list[Received] = []
        self.meetings: dict[str, dict[str, Any]] = {}
        self.scheduling_info: dict[str, dict[str, Any]] = {}
        self._failure: tuple[int, str, str | None] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- control

    def start(self) -> VdxDouble:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = False  # server_close() then waits for handlers: nothing left running
        server.double = self  # type: ignore[attr-defined]
        self._server = server
        self._stopping.clear()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="vdx-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; afterwards the port refuses connections, like a VDX that is down."""
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in `delay`
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> VdxDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_with(self, status: int | None, *, path_start: str = "/", method: str | None = None) -> None:
        """Answer requests (of this method, under path_start) with status, e.g. 503, until fail_with(None)."""
        self._failure = None if status is None else (status, path_start, method)

    def provision(self, uuid: str, status: str = "PROVISIONED_OK") -> None:
        """Play the provisioner: move a meeting to another provisionStatus."""
        if status not in PROVISION_STATUSES:
            raise ValueError(status)
        with self._lock:
            self.scheduling_info[uuid]["provisionStatus"] = status

    def requests_to(self, method: str, path_start: str = "/v2/") -> list[Received]:
        return [r for r in self.received if r.method == method and r.path.startswith(path_start)]

    # ---- the API

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """Route one authorised request; the answer is a copy, serialised after the lock is released."""
        with self._lock:
            status, payload = self._route(method, path.strip("/").split("/"), body)
            return status, copy.deepcopy(payload)

    def _route(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        if method == "POST" and parts == ["v2", "meetings"]:
            return 200, self._create(body)
        if len(parts) == 3 and parts[:2] == ["v2", "meetings"]:
            uuid = parts[2]
            if method == "GET":
                return 200, self._meeting(uuid)
            if method == "PATCH":
                return 200, self._patch(uuid, body)
            if method == "DELETE":
                self._delete(uuid)
                return 204, None
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v2", "scheduling-info"]:
            return 200, self._info(parts[2])
        raise VdxError(404, f"no {method} /{'/'.join(parts)} in this double")

    def _create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise VdxError(400, "body must be a JSON object", 10)
        for field in ("subject", "startTime", "endTime"):
            if not body.get(field):
                raise VdxError(400, f"{field} is required", 10)
        _check_length(body, "subject", 100)
        _check_length(body, "description", 500)
        _check_length(body, "externalId", 200)
        start, end = _time(body["startTime"]), _time(body["endTime"])
        for pin in ("hostPin", "guestPin"):
            value = body.get(pin)
            if value is not None and (not isinstance(value, int) or not PIN_MIN <= value <= PIN_MAX):
                raise VdxError(400, f"{pin} must be an integer {PIN_MIN}-{PIN_MAX}", 10)
        external_id = body.get("externalId")
        if external_id and any(m.get("externalId") == external_id for m in self.meetings.values()):
            raise VdxError(400, "ExternalId not unique within organisation.", 21)
        uuid = str(uuid_module.uuid4())
        short_id = "".join(secrets.choice(string.ascii_lowercase) for _ in range(12))
        meeting = {
            "uuid": uuid, "subject": body["subject"], "description": body.get("description"),
            "startTime": _format(start), "endTime": _format(end), "shortId": short_id,
            "shortLink": f"https://m.vconf.dk/{short_id}", "externalId": external_id,
            "guestPinRequired": bool(body.get("guestPinRequired", False)),
            "createdBy": {"organisationId": "test-org", "email": "api@test.dk"},
            "organizedBy": {"organisationId": "test-org",
                            "email": body.get("organizedByEmail") or "api@test.dk"},
            "_links": {"self": {"href": f"{self.url}/v2/meetings/{uuid}"}},
        }
        uri = str(1000 + secrets.randbelow(9000))
        self.meetings[uuid] = meeting
        self.scheduling_info[uuid] = {
            "uuid": uuid, "provisionStatus": "AWAITS_PROVISION",
            "hostPin": body.get("hostPin") or 1000 + secrets.randbelow(9000),
            "guestPin": body.get("guestPin") or 1000 + secrets.randbelow(9000),
            "vmrAvailableBefore": 15, "maxParticipants": body.get("maxParticipants") or 10,
            "endMeetingOnEndTime": bool(body.get("endMeetingOnEndTime", False)),
            "uriWithDomain": f"{uri}@{URI_DOMAIN}", "uriWithoutDomain": uri,
            "shortLink": meeting["shortLink"],
            "_links": {"self": {"href": f"{self.url}/v2/scheduling-info/{uuid}"}},
        }
        return meeting

    def _meeting(self, uuid: str) -> dict[str, Any]:
        if uuid not in self.meetings:
            raise VdxError(404, "meeting not found")
        return self.meetings[uuid]

    def _info(self, uuid: str) -> dict[str, Any]:
        if uuid not in self.scheduling_info:
            raise VdxError(404, "scheduling info not found")
        return {**self.scheduling_info[uuid], "meetingDetails": self.meetings[uuid]}

    def _patch(self, uuid: str, body: Any) -> dict[str, Any]:
        meeting = self._meeting(uuid)
        if not isinstance(body, dict):
            raise VdxError(400, "body must be a JSON object", 10)
        status = self.scheduling_info[uuid]["provisionStatus"]
        if status not in ("AWAITS_PROVISION", "PROVISIONED_OK"):
            raise VdxError(406, "Meeting must have status AWAITS_PROVISION (0) or PROVISIONED_OK (3) "
                                "in order to be updated", 12)
        _check_length(body, "subject", 100)
        changes = {key: _format(_time(body[key])) for key in ("startTime", "endTime") if key in body}
        if status == "PROVISIONED_OK" and changes.get("startTime", meeting["startTime"]) != meeting["startTime"]:
            raise VdxError(406, "only endTime can be updated on a PROVISIONED_OK meeting", 12)
        if status == "AWAITS_PROVISION" and "subject" in body:
            changes["subject"] = body["subject"]
        meeting.update(changes)
        return meeting

    def _delete(self, uuid: str) -> None:
        self._meeting(uuid)
        if self.scheduling_info[uuid]["provisionStatus"] != "AWAITS_PROVISION":
            raise VdxError(406, "Meeting must have status AWAITS_PROVISION (0) in order to be deleted", 13)
        del self.meetings[uuid], self.scheduling_info[uuid]


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: test output is not the place for an access log."""

    def _serve(self) -> None:
        double: VdxDouble = self.server.double  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = None
        is_json = True
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body, is_json = raw.decode("utf-8", "replace"), False
        double.received.append(Received(self.command, self.path, dict(self.headers), body))
        status: int
        payload: Any
        try:
            if double.delay and double._stopping.wait(double.delay):
                return  # stopping: the client has long given up
            failure = double._failure
            if failure and self.path.startswith(failure[1]) and failure[2] in (None, self.command):
                raise VdxError(failure[0], "the double was told to fail")
            if self.headers.get("Authorization") != f"Bearer {double.token}":
                raise VdxError(401, "Unauthorized")
            if raw and not (self.headers.get("Content-Type") or "").startswith("application/json"):
                raise VdxError(415, "Content-Type must be application/json")
            if not is_json:
                raise VdxError(400, "body is not JSON", 10)
            status, payload = double.handle(self.command, self.path.split("?")[0], body)
        except VdxError as exc:
            status, payload = exc.status, {
                "timestamp": _format(datetime.now(UTC)), "status": exc.status, "error": exc.message,
                "path": self.path, "detailed_error": exc.message, "detailed_error_code": exc.code}
        self._answer(status, payload)

    def _answer(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            if data:
                content_type = "application/json" if status >= 400 else "application/hal+json"
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and closed; that is what the test wanted


def _check_length(body: dict[str, Any], field: str, limit: int) -> None:
    value = body.get(field)
    if value is not None and (not isinstance(value, str) or len(value) > limit):
        raise VdxError(400, f"{field} must be a string of at most {limit} characters", 10)


def _time(value: Any) -> datetime:
    """The spec's yyyy-MM-dd'T'HH:mm:ssXXX; an offset is required, fractions are dropped."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise VdxError(400, f"not a date-time: {value!r}", 10) from None
    if moment.tzinfo is None:
        raise VdxError(400, f"date-time without offset: {value!r}", 10)
    return moment.replace(microsecond=0)


def _format(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
