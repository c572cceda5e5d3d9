"""JSON API v1 for hospital systems: bearer-token auth, JSON errors, documented in OpenAPI."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for
from flask_babel import gettext
from sqlmodel import select

from ..errors import N_, Conflict, InvalidInput
from ..models import Meeting, MeetingStatus, Municipality, Role, Ward
from ..schemas import MeetingCancel, MeetingCreate, MeetingReschedule, SlotQuery, optional_day, parse_input
from ..services import booking
from ..services.access import meeting_for, require_may_book, visible_meetings
from ..services.timeutil import day_start_utc
from ..services.users import user_for_token, wards_of
from ..web.audit import listed, opened
from ..web.context import booking_context, db, now, services
from .openapi import openapi_document
from .serialize import meeting_json, slot_json

api = Blueprint("api", __name__, url_prefix="/api/v1")
PUBLIC_ENDPOINTS = {"api.health", "api.openapi"}


@api.before_request
def authenticate():  # type: ignore[no-untyped-def]
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    user = user_for_token(db(), token=token.strip(), now=now()) if scheme.lower() == "bearer" and token else None
    if user is None:
        response = jsonify(error=gettext("Manglende eller ugyldig adgangsnøgle (Authorization: Bearer ...)"), fields={})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    db().commit()  # last_used_at
    g.api_user = user
    return None


def _body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise InvalidInput(N_("Forventede et JSON-objekt"), field="body")
    return data


def _require_booking_role() -> None:
    require_may_book(g.api_user)


def _visible_meeting(meeting_id: int) -> Meeting:
    return opened(meeting_for(db(), user=g.api_user, meeting_id=meeting_id))


def _meeting_response(meeting: Meeting, status: int = 200) -> tuple[Response, int]:
    ward = db().get(Ward, meeting.ward_id)
    body = meeting_json(meeting, participants=booking.participants_of(db(), meeting), ward=ward,
                        zone=services().rules.zone,
                        ics_url=url_for("api.meeting_invite", meeting_id=meeting.id, _external=True))
    return jsonify(body), status


@api.get("/health")
def health():  # type: ignore[no-untyped-def]
    db().exec(select(Municipality.code).limit(1)).first()
    return jsonify(status="ok")


@api.get("/openapi.json")
def openapi():  # type: ignore[no-untyped-def]
    return jsonify(openapi_document())


@api.get("/municipalities")
def municipalities():  # type: ignore[no-untyped-def]
    rows = db().exec(select(Municipality).order_by(Municipality.code)).all()
    return jsonify(municipalities=[{"code": m.code, "name": m.name, "region_code": m.region_code,
                                    "region_name": m.region_name} for m in rows])


@api.get("/wards")
def wards():  # type: ignore[no-untyped-def]
    user = g.api_user
    rows = db().exec(select(Ward).order_by(Ward.code)).all() if user.role != Role.secretary \
        else wards_of(db(), user)
    return jsonify(wards=[{"code": w.code, "name": w.name, "hospital_id": w.hospital_id} for w in rows])


@api.get("/slots")
def slots():  # type: ignore[no-untyped-def]
    query = parse_input(SlotQuery, request.args.to_dict())
    found = booking.search_slots(db(), ctx=booking_context(), query=query, limit=500)
    zone = services().rules.zone
    return jsonify(slots=[slot_json(s, zone) for s in found])


@api.post("/meetings")
def create_meeting():  # type: ignore[no-untyped-def]
    _require_booking_role()
    data = parse_input(MeetingCreate, _body())
    meeting = booking.book_meeting(db(), ctx=booking_context(), data=data, booked_by=g.api_user)
    db().commit()
    response, status = _meeting_response(meeting, 201)
    response.headers["Location"] = url_for("api.get_meeting", meeting_id=meeting.id)
    return response, status


@api.get("/meetings")
def list_meetings():  # type: ignore[no-untyped-def]
    zone = services().rules.zone
    query = visible_meetings(g.api_user)
    start, end = optional_day(request.args, "from"), optional_day(request.args, "to")
    if start:
        query = query.where(Meeting.start_at >= day_start_utc(start, zone))
    if end:
        query = query.where(Meeting.start_at < day_start_utc(end + timedelta(days=1), zone))
    status = request.args.get("status")
    if status:
        try:
            query = query.where(Meeting.status == MeetingStatus(status))
        except ValueError:
            raise InvalidInput(N_("Ukendt status"), field="status") from None
    meetings = db().exec(query.order_by(Meeting.start_at).limit(1000)).all()
    listed(len(meetings))
    wards_by_id = {w.id: w for w in db().exec(select(Ward))}
    parties = booking.participants_of_many(db(), list(meetings))
    return jsonify(meetings=[meeting_json(m, participants=parties.get(m.id, []),
                                          ward=wards_by_id[m.ward_id], zone=zone,
                                          ics_url=url_for("api.meeting_invite", meeting_id=m.id, _external=True))
                             for m in meetings])


@api.get("/meetings/<int:meeting_id>")
def get_meeting(meeting_id: int):  # type: ignore[no-untyped-def]
    return _meeting_response(_visible_meeting(meeting_id))


@api.patch("/meetings/<int:meeting_id>")
def reschedule_meeting(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _visible_meeting(meeting_id)
    _require_booking_role()
    data = parse_input(MeetingReschedule, _body())
    booking.reschedule_meeting(db(), ctx=booking_context(), meeting=meeting, data=data, actor=g.api_user)
    db().commit()
    return _meeting_response(meeting)


@api.post("/meetings/<int:meeting_id>/cancel")
def cancel_meeting(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _visible_meeting(meeting_id)
    _require_booking_role()
    data = parse_input(MeetingCancel, _body())
    booking.cancel_meeting(db(), ctx=booking_context(), meeting=meeting, data=data, actor=g.api_user)
    db().commit()
    return _meeting_response(meeting)


@api.get("/meetings/<int:meeting_id>/invite.ics")
def meeting_invite(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _visible_meeting(meeting_id)
    data = services().calendars.read(meeting.uid)
    if data is None:
        raise Conflict(N_("Mødet venter stadig på sit videolink; invitationen sendes, når linket er klar"),
                           field="video")
    return Response(data, mimetype="text/calendar")


from . import offers as _offers  # noqa: E402,F401  (registers the offer and recording routes)
from . import stats as _stats  # noqa: E402,F401  (registers the statistics and export routes)
from . import fhir as _fhir  # noqa: E402,F401  (registers the FHIR Appointment route)
