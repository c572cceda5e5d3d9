"""The OpenAPI 3.1 document of the JSON API; input schemas come from the pydantic models."""
from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from ..schemas import MeetingCancel, MeetingCreate, MeetingReschedule

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {401: "Missing or invalid bearer token", 403: "Not allowed for this user", 404: "Not found",
            409: "Conflict (time taken, meeting not changeable, link missing)", 422: "Invalid input"}
    return {str(code): {"description": text[code], "content": _json(_ref("Error"))} for code in codes}


OUTPUT_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "fields"], "properties": {
        "error": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}}}},
    "Participant": {"type": "object", "required": ["id", "role", "name", "email", "status"], "properties": {
        "id": {"type": "integer"},
        "role": {"enum": ["patient", "relative", "staff", "advisor"]},
        "name": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "status": {"enum": ["needs-action", "accepted", "declined", "tentative"]}}},
    "Video": {"type": "object", "required": ["provider", "status", "join_url"], "properties": {
        "provider": {"type": "string"}, "status": {"enum": ["ready", "pending"]},
        "join_url": {"type": ["string", "null"]}, "guest_pin": {"type": "string"},
        "host_pin": {"type": "string"}, "sip_uri": {"type": "string"}}},
    "Meeting": {"type": "object", "additionalProperties": False, "required": [
        "id", "uid", "status", "sequence", "start", "end", "municipality", "ward", "participants", "video",
        "ics_url"], "properties": {
        "id": {"type": "integer"}, "uid": {"type": "string"},
        "status": {"enum": ["booked", "confirmed", "held", "no_show", "cancelled"]},
        "sequence": {"type": "integer", "minimum": 0},
        "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
        "discharge_at": {"type": ["string", "null"], "format": "date-time"},
        "municipality": {"type": "string", "pattern": "^[0-9]{4}$"}, "ward": {"type": "string"},
        "participants": {"type": "array", "items": _ref("Participant")},
        "video": _ref("Video"), "ics_url": {"type": "string"},
        "cancel_reason": {"type": ["string", "null"]}}},
    "Slot": {"type": "object", "required": ["start", "end", "advisor_id"], "properties": {
        "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"},
        "advisor_id": {"type": "integer"}}},
}

# Other API modules register their documented paths here (see scheduler/api/__init__.py).
EXTRA_PATHS: list[dict[str, Any]] = []
EXTRA_SCHEMAS: dict[str, Any] = {}

MEETING_ID = {"name": "meeting_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


@cache
def openapi_document() -> dict[str, Any]:
    _, inputs = models_json_schema([(m, "validation") for m in (MeetingCreate, MeetingReschedule, MeetingCancel)],
                                   ref_template=REF)
    meeting_ok = {"description": "The meeting", "content": _json(_ref("Meeting"))}
    paths: dict[str, Any] = {
        "/health": {"get": {"summary": "Liveness and database check", "security": [], "responses": {
            "200": {"description": "OK", "content": _json({"type": "object", "properties": {
                "status": {"const": "ok"}}})}}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {
            "200": {"description": "OpenAPI document"}}}},
        "/municipalities": {"get": {"summary": "Municipalities with codes and regions", "responses": {
            "200": {"description": "All municipalities", "content": _json({"type": "object", "properties": {
                "municipalities": {"type": "array", "items": {"type": "object", "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"}, "region_code": {"type": "string"},
                    "region_name": {"type": "string"}}}}}})}, **_errors(401)}}},
        "/wards": {"get": {"summary": "Wards (a secretary's own)", "responses": {
            "200": {"description": "Wards", "content": _json({"type": "object", "properties": {
                "wards": {"type": "array", "items": {"type": "object", "properties": {
                    "code": {"type": "string"}, "name": {"type": "string"},
                    "hospital_id": {"type": "integer"}}}}}})}, **_errors(401)}}},
        "/slots": {"get": {"summary": "Free start times of a municipality's advisors", "parameters": [
            _query("municipality", {"type": "string", "pattern": "^[0-9]{4}$"}, True),
            _query("from", {"type": "string", "format": "date"}, True),
            _query("to", {"type": "string", "format": "date"}, True),
            _query("duration", {"type": "integer", "minimum": 10, "maximum": 240}),
            _query("advisor_id", {"type": "integer"}),
            _query("discharge_at", {"type": "string", "format": "date-time"})], "responses": {
            "200": {"description": "Free slots, earliest first", "content": _json({"type": "object", "properties": {
                "slots": {"type": "array", "items": _ref("Slot")}}})}, **_errors(401, 422)}}},
        "/meetings": {
            "get": {"summary": "Meetings the caller may see", "parameters": [
                _query("from", {"type": "string", "format": "date"}), _query("to", {"type": "string", "format": "date"}),
                _query("status", {"enum": ["booked", "confirmed", "held", "no_show", "cancelled"]})], "responses": {
                "200": {"description": "Meetings", "content": _json({"type": "object", "properties": {
                    "meetings": {"type": "array", "items": _ref("Meeting")}}})}, **_errors(401, 422)}},
            "post": {"summary": "Book a meeting", "requestBody": {"required": True,
                                                                  "content": _json(_ref("MeetingCreate"))},
                     "responses": {"201": {"description": "Booked", "content": _json(_ref("Meeting"))},
                                   **_errors(401, 403, 409, 422)}}},
        "/meetings/{meeting_id}": {
            "parameters": [MEETING_ID],
            "get": {"summary": "One meeting", "responses": {"200": meeting_ok, **_errors(401, 404)}},
            "patch": {"summary": "Reschedule (time, duration, advisor): same UID, SEQUENCE+1",
                      "requestBody": {"required": True, "content": _json(_ref("MeetingReschedule"))},
                      "responses": {"200": meeting_ok, **_errors(401, 403, 404, 409, 422)}}},
        "/meetings/{meeting_id}/cancel": {
            "parameters": [MEETING_ID],
            "post": {"summary": "Cancel: METHOD:CANCEL to everyone",
                     "requestBody": {"required": True, "content": _json(_ref("MeetingCancel"))},
                     "responses": {"200": meeting_ok, **_errors(401, 403, 404, 409, 422)}}},
        "/meetings/{meeting_id}/invite.ics": {
            "parameters": [MEETING_ID],
            "get": {"summary": "The current invite (REQUEST or CANCEL)", "responses": {
                "200": {"description": "iCalendar", "content": {"text/calendar": {"schema": {"type": "string"}}}},
                **_errors(401, 404, 409)}}},
    }
    for extra in EXTRA_PATHS:
        paths.update(extra)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Discharge meeting scheduler API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {**inputs["$defs"], **OUTPUT_SCHEMAS, **EXTRA_SCHEMAS}},
    }
