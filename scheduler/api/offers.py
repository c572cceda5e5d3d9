"""API: a municipality's offer catalogue, and what the advisor records after a meeting (outcome, offers
presented with the patient's responses, uptake). The free-text note is accepted but never returned."""
from __future__ import annotations

from datetime import date
from typing import Any

from flask import g, jsonify, request
from pydantic.json_schema import models_json_schema

from ..errors import N_, Forbidden, NotFound
from ..models import (Meeting, MeetingOutcome, MeetingStatus, Offer, OfferPresentation, OfferResponse,
                      UptakeStatus)
from ..schemas import OFFER_CODE_PATTERN, OfferChoiceIn, OffersIn, OutcomeIn, UptakeIn, optional_day, parse_input
from ..services import offers as catalogue
from ..services import recording
from ..services.reference import find_municipality
from ..web.context import booking_context, db, now, services
from . import _body, _visible_meeting, api
from .openapi import EXTRA_PATHS, EXTRA_SCHEMAS, MEETING_ID, REF, _errors, _json, _query, _ref


def offer_json(offer: Offer) -> dict[str, Any]:
    return {"code": offer.code, "name": offer.name, "category": offer.category, "description": offer.description,
            "referral_required": offer.referral_required, "contact": offer.contact,
            "active_from": offer.active_from.isoformat() if offer.active_from else None,
            "active_to": offer.active_to.isoformat() if offer.active_to else None}


def _record_json(meeting: Meeting, rows: list[tuple[OfferPresentation, Offer]]) -> dict[str, Any]:
    return {"meeting_id": meeting.id, "status": meeting.status.value,
            "outcome": meeting.outcome.value if meeting.outcome else None,
            "has_note": meeting.advisor_note is not None,
            "offers": [{"code": offer.code, "name": offer.name, "category": offer.category,
                        "response": p.response.value, "uptake": p.uptake.value if p.uptake else None,
                        "started_on": p.started_on.isoformat() if p.started_on else None} for p, offer in rows]}


def _recordable_meeting(meeting_id: int) -> Meeting:
    """404 for a meeting the caller may not see, 403 if she sees it but may not record (e.g. a secretary)."""
    meeting = _visible_meeting(meeting_id)
    if not recording.may_record(g.api_user, meeting):
        raise Forbidden(N_("Kun kommunens sundhedsrådgivere kan registrere, hvad der skete på mødet"))
    return meeting


def _recording_response(meeting: Meeting):  # type: ignore[no-untyped-def]
    return jsonify(_record_json(meeting, recording.presentations_of(db(), meeting)))


@api.get("/municipalities/<code>/offers")
def municipality_offers(code: str):  # type: ignore[no-untyped-def]
    if find_municipality(db(), code) is None:
        raise NotFound(N_("Kommunen findes ikke"))
    include_all = request.args.get("all", "false").lower() in ("1", "true", "yes")
    day: date = optional_day(request.args, "on") or now().astimezone(services().rules.zone).date()
    rows = catalogue.all_offers(db(), municipality_code=code) if include_all \
        else catalogue.active_offers(db(), municipality_code=code, on=day)
    return jsonify(municipality=code, on=None if include_all else day.isoformat(),
                   offers=[offer_json(o) for o in rows])


@api.put("/meetings/<int:meeting_id>/outcome")
def put_outcome(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _recordable_meeting(meeting_id)
    data = parse_input(OutcomeIn, _body())
    recording.record_outcome(db(), ctx=booking_context(), meeting=meeting, outcome=MeetingOutcome(data.outcome),
                             actor=g.api_user)
    db().commit()
    return _recording_response(meeting)


@api.put("/meetings/<int:meeting_id>/offers")
def put_offers(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _recordable_meeting(meeting_id)
    body = _body()
    data = parse_input(OffersIn, body)
    # PUT replaces the offers; a body without "note" leaves the note as it is (null or "" clears it).
    note = data.note if isinstance(body, dict) and "note" in body else meeting.advisor_note
    recording.record_offers(db(), ctx=booking_context(), meeting=meeting, note=note, actor=g.api_user,
                            offers=[(o.code, OfferResponse(o.response)) for o in data.offers])
    db().commit()
    return _recording_response(meeting)


@api.put("/meetings/<int:meeting_id>/offers/<code>/uptake")
def put_uptake(meeting_id: int, code: str):  # type: ignore[no-untyped-def]
    meeting = _recordable_meeting(meeting_id)
    data = parse_input(UptakeIn, _body())
    recording.record_uptake(db(), ctx=booking_context(), meeting=meeting, code=code,
                            status=UptakeStatus(data.status), started_on=data.started_on, actor=g.api_user)
    db().commit()
    return _recording_response(meeting)


# ---- OpenAPI

_OFFER_CODE = {"type": "string", "pattern": OFFER_CODE_PATTERN, "maxLength": 40}
_DATE_OR_NULL = {"type": ["string", "null"], "format": "date"}
_, _inputs = models_json_schema([(m, "validation") for m in (OutcomeIn, OfferChoiceIn, OffersIn, UptakeIn)],
                                ref_template=REF)
EXTRA_SCHEMAS.update(_inputs["$defs"])
EXTRA_SCHEMAS.update({
    "Offer": {"type": "object", "additionalProperties": False, "required": [
        "code", "name", "category", "description", "referral_required", "contact", "active_from", "active_to"],
        "properties": {
            "code": _OFFER_CODE, "name": {"type": "string"},
            "category": {"enum": list(catalogue.CATEGORIES)},
            "description": {"type": ["string", "null"]}, "referral_required": {"type": "boolean"},
            "contact": {"type": ["string", "null"]}, "active_from": _DATE_OR_NULL, "active_to": _DATE_OR_NULL}},
    "MeetingRecord": {"type": "object", "additionalProperties": False, "required": [
        "meeting_id", "status", "outcome", "has_note", "offers"], "properties": {
        "meeting_id": {"type": "integer"},
        "status": {"enum": [s.value for s in MeetingStatus]},
        "outcome": {"enum": [o.value for o in MeetingOutcome] + [None]},
        "has_note": {"type": "boolean", "description": "Whether a note is recorded; its text never leaves the app"},
        "offers": {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": [
            "code", "name", "category", "response", "uptake", "started_on"], "properties": {
            "code": _OFFER_CODE, "name": {"type": "string"}, "category": {"type": "string"},
            "response": {"enum": [r.value for r in OfferResponse]},
            "uptake": {"enum": [u.value for u in UptakeStatus] + [None]},
            "started_on": _DATE_OR_NULL}}}}},
})
_record_ok = {"description": "What is recorded for the meeting now", "content": _json(_ref("MeetingRecord"))}
_who = " Only advisors of the meeting's municipality and admins (403 for others who see the meeting)."
EXTRA_PATHS.append({
    "/municipalities/{code}/offers": {
        "parameters": [{"name": "code", "in": "path", "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9]{4}$"}}],
        "get": {"summary": "A municipality's offer catalogue: offers active on a day (default today), or all",
                "parameters": [_query("on", {"type": "string", "format": "date"}),
                               _query("all", {"type": "boolean"})],
                "responses": {"200": {"description": "Offers by category and name", "content": _json({
                    "type": "object", "required": ["municipality", "on", "offers"], "properties": {
                        "municipality": {"type": "string"}, "on": _DATE_OR_NULL,
                        "offers": {"type": "array", "items": _ref("Offer")}}})}, **_errors(401, 404, 422)}}},
    "/meetings/{meeting_id}/outcome": {
        "parameters": [MEETING_ID],
        "put": {"summary": "Record the outcome once the meeting has begun (held and no-show can be swapped later)",
                "description": "held -> status held, no_show -> no_show, cancelled_late -> cancelled." + _who,
                "requestBody": {"required": True, "content": _json(_ref("OutcomeIn"))},
                "responses": {"200": _record_ok, **_errors(401, 403, 404, 409, 422)}}},
    "/meetings/{meeting_id}/offers": {
        "parameters": [MEETING_ID],
        "put": {"summary": "Replace the offers presented and the patient's responses (held meetings)",
                "description": "Offers must belong to the patient's municipality and be active on the meeting's "
                               "date. Without \"note\" the note stays as it is." + _who,
                "requestBody": {"required": True, "content": _json(_ref("OffersIn"))},
                "responses": {"200": _record_ok, **_errors(401, 403, 404, 422)}}},
    "/meetings/{meeting_id}/offers/{code}/uptake": {
        "parameters": [MEETING_ID, {"name": "code", "in": "path", "required": True, "schema": _OFFER_CODE}],
        "put": {"summary": "Record whether the patient started an accepted or referred offer",
                "description": "\"started\" needs started_on, not before the meeting and not in the future." + _who,
                "requestBody": {"required": True, "content": _json(_ref("UptakeIn"))},
                "responses": {"200": _record_ok, **_errors(401, 403, 404, 422)}}},
})
