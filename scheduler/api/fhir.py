"""API: a meeting as a FHIR R4 Appointment (application/fhir+json), for hospital and municipal systems
that speak FHIR. Same access as GET /meetings/{id}: another's meeting id is 404."""
from __future__ import annotations

from flask import jsonify
from flask_babel import gettext

from ..services import booking, fhir
from ..web.context import db, services
from . import _visible_meeting, api
from .openapi import EXTRA_PATHS, EXTRA_SCHEMAS, MEETING_ID, _errors, _ref

FHIR_JSON = "application/fhir+json"


@api.get("/meetings/<int:meeting_id>/fhir")
def meeting_fhir(meeting_id: int):  # type: ignore[no-untyped-def]
    meeting = _visible_meeting(meeting_id)
    body = fhir.appointment(meeting=meeting, participants=booking.participants_of(db(), meeting),
                            zone=services().rules.zone, base_url=services().config.app.base_url,
                            translate=gettext)
    response = jsonify(body)
    response.content_type = f"{FHIR_JSON}; fhirVersion=4.0"
    return response


# ---- OpenAPI: the elements this resource carries (FHIR R4 Appointment defines the rest)

_CODING = {"type": "object", "required": ["system", "code"], "properties": {
    "system": {"type": "string"}, "code": {"type": "string"}, "display": {"type": "string"}}}
_CONCEPT = {"type": "object", "required": ["coding"], "properties": {
    "coding": {"type": "array", "minItems": 1, "items": _CODING}}}
_INSTANT = {"type": "string", "format": "date-time"}
EXTRA_SCHEMAS.update({
    "FhirActor": {
        "type": "object", "required": ["resourceType", "id", "name"], "properties": {
            "resourceType": {"enum": ["Patient", "RelatedPerson", "Practitioner"]},
            "id": {"type": "string"},
            "name": {"type": "array", "items": {"type": "object", "properties": {"text": {"type": "string"}}}},
            "telecom": {"type": "array", "items": {"type": "object", "properties": {
                "system": {"const": "email"}, "value": {"type": "string"}}}},
            "patient": {"type": "object", "properties": {"reference": {"type": "string"}}}}},
    "FhirAppointment": {
        "type": "object",
        "description": "FHIR R4 Appointment shaped like the Danish eHealth video appointment "
                       "(ehealth-videoappointment): the video link, VMR address and PINs in its extensions, the "
                       "VDX meeting id as identifier (system http://vdx.medcom.dk/meeting), one participant per "
                       "party with its own status. The parties are contained resources with a name and e-mail; "
                       "no CPR number or other identifier of the patient.",
        "required": ["resourceType", "id", "identifier", "status", "start", "end", "participant"],
        "properties": {
            "resourceType": {"const": "Appointment"},
            "id": {"type": "string"},
            "contained": {"type": "array", "items": _ref("FhirActor")},
            "extension": {"type": "array", "items": {"type": "object", "required": ["url"], "properties": {
                "url": {"enum": [fhir.MEETING_URL, fhir.VMR_URI, fhir.HOST_PIN, fhir.GUEST_PIN]},
                "valueUri": {"type": "string"}, "valueString": {"type": "string"}}}},
            "identifier": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["system", "value"], "properties": {
                    "system": {"type": "string"}, "value": {"type": "string"}}}},
            "status": {"enum": sorted(set(fhir.STATUS.values()))},
            "serviceType": {"type": "array", "items": _CONCEPT},
            "appointmentType": _CONCEPT,
            "description": {"type": "string"},
            "start": _INSTANT, "end": _INSTANT, "created": _INSTANT,
            "minutesDuration": {"type": "integer", "minimum": 1},
            "participant": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["actor", "required", "status"], "properties": {
                    "actor": {"type": "object", "required": ["reference", "display"], "properties": {
                        "reference": {"type": "string", "pattern": "^#"}, "type": {"type": "string"},
                        "display": {"type": "string"}}},
                    "type": {"type": "array", "items": _CONCEPT},
                    "required": {"enum": ["required", "optional"]},
                    "status": {"enum": ["accepted", "declined", "tentative", "needs-action"]}}}}}},
})
EXTRA_PATHS.append({
    "/meetings/{meeting_id}/fhir": {
        "parameters": [MEETING_ID],
        "get": {"summary": "The meeting as a FHIR R4 Appointment",
                "description": "Status: booked (advisor has not accepted) -> pending, confirmed -> booked, "
                               "held -> fulfilled, no_show -> noshow, cancelled -> cancelled. Each party's answer "
                               "is its participant.status. Errors are this API's JSON errors.",
                "responses": {"200": {"description": "FHIR R4 Appointment",
                                      "content": {FHIR_JSON: {"schema": _ref("FhirAppointment")}}},
                              **_errors(401, 404)}}},
})
