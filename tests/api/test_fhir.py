"""GET /api/v1/meetings/{id}/fhir: the meeting as a FHIR R4 Appointment, shaped like the Danish eHealth
video appointment, validated with fhir.resources (its R4B Appointment is R4's) and against the value sets
and invariants of FHIR R4 Appointment; no CPR; the same access as GET /meetings/{id}."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from fhir.resources.R4B.appointment import Appointment, AppointmentParticipant
from sqlmodel import select

from scheduler import create_app
from scheduler.models import Meeting, MeetingOutcome, Participant, ParticipantRole, Role
from scheduler.services import answers, recording
from scheduler.services.fhir import (GUEST_PIN, HOST_PIN, MEETING_URL, SERVICE_TYPE, VDX_MEETING_SYSTEM, VMR_URI,
                                     meeting_uid_system)
from scheduler.video.vdx import VdxProvider
from tests.video.vdx_double import VdxDouble

from .conftest import CPR, meeting_body
from .test_openapi import conforms, document, pointer, schema_errors  # noqa: F401  (fixtures)

API = "/api/v1"
PATH = "/meetings/{meeting_id}/fhir"
# The value sets as the FHIR R4 definitions bind them (read from the library's models, not typed here).
APPOINTMENT_STATUSES = Appointment.model_fields["status"].json_schema_extra["enum_values"]
PARTICIPANT_STATUSES = AppointmentParticipant.model_fields["status"].json_schema_extra["enum_values"]
PARTICIPANT_REQUIRED = AppointmentParticipant.model_fields["required"].json_schema_extra["enum_values"]


def test_the_value_sets_are_r4s():
    assert set(APPOINTMENT_STATUSES) == {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled",
                                         "noshow", "entered-in-error", "checked-in", "waitlist"}
    assert set(PARTICIPANT_STATUSES) == {"accepted", "declined", "tentative", "needs-action"}


def valid_appointment(body: dict) -> Appointment:
    """Structure (fhir.resources), value sets, and the R4 Appointment and contained-resource invariants."""
    resource = Appointment.model_validate(body)
    assert resource.status in APPOINTMENT_STATUSES
    assert resource.participant, "participant is 1..*"
    for participant in resource.participant:
        assert participant.status in PARTICIPANT_STATUSES
        assert participant.required in PARTICIPANT_REQUIRED
        assert participant.actor or participant.type  # app-1
    assert (resource.start is None) == (resource.end is None)  # app-2
    assert resource.start or resource.status in ("proposed", "cancelled", "waitlist")  # app-3
    assert resource.cancelationReason is None or resource.status in ("cancelled", "noshow")  # app-4
    assert resource.end > resource.start
    contained = {c.id for c in resource.contained or []}
    references = {p.actor.reference for p in resource.participant}
    references |= {c.patient.reference for c in resource.contained or [] if c.get_resource_type() == "RelatedPerson"}
    assert {f"#{i}" for i in contained} == references  # every reference resolves, every contained is referenced
    return resource


@pytest.fixture
def fhir(client, conforms, document):  # noqa: F811
    """GET the FHIR Appointment of a meeting: documented, valid, and without the CPR number."""

    def get(meeting_id: int, headers: dict[str, str]) -> dict:
        response = client.get(f"{API}/meetings/{meeting_id}/fhir", headers=headers)
        conforms("get", PATH, response, 200)
        assert response.mimetype == "application/fhir+json"
        assert response.headers["Content-Type"] == "application/fhir+json; fhirVersion=4.0"
        body = response.json
        fragment = pointer("paths", PATH, "get", "responses", "200", "content", "application/fhir+json", "schema")
        assert schema_errors(document, fragment, body) == []
        valid_appointment(body)
        text = json.dumps(body, ensure_ascii=False)
        assert CPR not in text and CPR.replace("-", "") not in text and "ONK" not in text
        return body

    return get


def participant(body: dict, role: str) -> list[dict]:
    return [p for p in body["participant"] if p["actor"]["reference"].startswith(f"#{role}-")]


def contained(body: dict, reference: str) -> dict:
    return next(c for c in body["contained"] if f"#{c['id']}" == reference)


def statuses(body: dict) -> dict[str, list[str]]:
    return {role: [p["status"] for p in participant(body, role)] for role in ("patient", "relative", "staff",
                                                                              "advisor")}


def answer(session, app, meeting_id: int, role: ParticipantRole, status: str, comment: str | None = None):
    session.expire_all()
    party = session.exec(select(Participant).where(Participant.meeting_id == meeting_id,
                                                   Participant.role == role)).first()
    answers.record_answer(session, ctx=app.extensions["scheduler"].booking_context(), participant=party,
                          status=answers.parse_answer(status), comment=comment, actor=None)
    session.commit()


def test_a_booked_meeting_is_pending_with_every_party_contained(fhir, booked, world, config):
    body = fhir(booked["id"], world.headers)
    assert body["resourceType"] == "Appointment" and body["id"] == str(booked["id"])
    assert body["status"] == "pending"  # the advisor has not accepted yet
    assert statuses(body) == {"patient": ["needs-action"], "relative": ["needs-action"],
                              "staff": ["needs-action"], "advisor": ["needs-action"]}
    assert (body["start"], body["end"]) == (booked["start"], booked["end"])
    assert body["minutesDuration"] == 45
    assert body["created"] == "2026-11-23T09:00:00+01:00"  # booked 'now', local time with offset
    assert body["description"] == "Udskrivningssamtale (video)"  # the invites' neutral title
    assert body["serviceType"] == [{"coding": [SERVICE_TYPE]}]
    assert body["identifier"] == [{"system": meeting_uid_system(config.app.base_url), "value": booked["uid"]}]
    assert body["extension"] == [{"url": MEETING_URL, "valueUri": booked["video"]["join_url"]}]

    patient = contained(body, participant(body, "patient")[0]["actor"]["reference"])
    assert patient == {"resourceType": "Patient", "id": patient["id"], "name": [{"text": "Karl Jensen"}],
                       "telecom": [{"system": "email", "value": "karl@example.net"}]}  # no identifier at all
    relative = contained(body, participant(body, "relative")[0]["actor"]["reference"])
    assert relative["resourceType"] == "RelatedPerson" and relative["patient"] == {"reference": f"#{patient['id']}"}
    assert participant(body, "relative")[0]["required"] == "optional"
    staff, advisor = participant(body, "staff")[0], participant(body, "advisor")[0]
    assert contained(body, staff["actor"]["reference"])["resourceType"] == "Practitioner"
    assert staff["type"][0]["coding"][0]["code"] == "ATND" and advisor["type"][0]["coding"][0]["code"] == "CON"
    assert advisor["actor"]["display"] == "Mette Rådgiver" and advisor["required"] == "required"


def test_each_answer_is_its_participants_status(fhir, booked, world, session, app):
    answer(session, app, booked["id"], ParticipantRole.staff, "tentative")
    answer(session, app, booked["id"], ParticipantRole.advisor, "accepted")
    body = fhir(booked["id"], world.headers)
    assert body["status"] == "booked"  # confirmed by the advisor
    assert statuses(body) == {"patient": ["needs-action"], "relative": ["needs-action"],
                              "staff": ["tentative"], "advisor": ["accepted"]}


def test_a_declined_meeting_is_pending_again_and_the_reason_stays_out(fhir, booked, world, session, app):
    answer(session, app, booked["id"], ParticipantRole.advisor, "accepted")
    answer(session, app, booked["id"], ParticipantRole.advisor, "declined", comment="Egen lægetid: rygsmerter")
    body = fhir(booked["id"], world.headers)
    assert body["status"] == "pending"  # the secretary must find another advisor or time
    assert statuses(body)["advisor"] == ["declined"]
    assert "rygsmerter" not in json.dumps(body, ensure_ascii=False)


def test_a_cancelled_meeting_is_cancelled_without_its_reason(fhir, booked, world, client):
    reason = "Genindlagt med lungebetændelse"
    response = client.post(f"{API}/meetings/{booked['id']}/cancel", json={"reason": reason}, headers=world.headers)
    assert response.status_code == 200, response.text
    body = fhir(booked["id"], world.headers)
    assert body["status"] == "cancelled"
    assert "cancelationReason" not in body and "lungebetændelse" not in json.dumps(body, ensure_ascii=False)


@pytest.mark.parametrize("outcome, status", [(MeetingOutcome.held, "fulfilled"), (MeetingOutcome.no_show, "noshow")])
def test_a_held_or_missed_meeting_is_fulfilled_or_noshow(fhir, booked, world, session, app, outcome, status):
    session.expire_all()
    meeting = session.get(Meeting, booked["id"])
    later = replace(app.extensions["scheduler"].booking_context(), now=meeting.start_at + timedelta(minutes=50))
    recording.record_outcome(session, ctx=later, meeting=meeting, outcome=outcome, actor=world.advisor)
    session.commit()
    assert fhir(booked["id"], world.headers)["status"] == status


def test_a_vdx_meeting_carries_its_vdx_id_link_sip_address_and_pins(config, session, now, world):
    with VdxDouble(token="fhir-token") as vdx:
        app = create_app(config, video=VdxProvider(vdx.url, vdx.token, timeout=2), clock=lambda: now)
        app.config.update(TESTING=True)
        try:
            client = app.test_client()
            created = client.post(f"{API}/meetings", json=meeting_body(), headers=world.headers)
            assert created.status_code == 201, created.text
            video = created.json["video"]
            response = client.get(f"{API}/meetings/{created.json['id']}/fhir", headers=world.headers)
        finally:
            app.extensions["scheduler"].engine.dispose()
    assert response.status_code == 200, response.text
    body = response.json
    valid_appointment(body)
    session.expire_all()
    meeting = session.get(Meeting, created.json["id"])
    assert meeting.video_provider == "vdx" and meeting.video_external_id
    assert {"system": VDX_MEETING_SYSTEM, "value": meeting.video_external_id} in body["identifier"]
    assert {"system": meeting_uid_system(config.app.base_url), "value": meeting.uid} in body["identifier"]
    assert body["extension"] == [
        {"url": MEETING_URL, "valueUri": video["join_url"]}, {"url": VMR_URI, "valueUri": video["sip_uri"]},
        {"url": HOST_PIN, "valueString": video["host_pin"]}, {"url": GUEST_PIN, "valueString": video["guest_pin"]}]
    assert video["sip_uri"] and video["host_pin"] != video["guest_pin"]


def test_same_access_as_the_meeting_itself(client, booked, world, session, factory, api_token, conforms):  # noqa: F811
    url = f"{API}/meetings/{booked['id']}/fhir"
    conforms("get", PATH, client.get(url), 401)
    stranger = factory.secretary(factory.ward(code="KIR"))  # a secretary of another ward
    other_advisor = factory.advisor("0306")
    coordinator = factory.user(role=Role.coordinator, municipality_code="0540")
    own_advisor, admin = world.advisor, factory.user(role=Role.admin)
    session.commit()
    for user in (stranger, other_advisor, coordinator):
        conforms("get", PATH, client.get(url, headers=api_token(user)), 404)
        assert client.get(f"{API}/meetings/{booked['id']}", headers=api_token(user)).status_code == 404
    for user in (own_advisor, admin):
        conforms("get", PATH, client.get(url, headers=api_token(user)), 200)
    conforms("get", PATH, client.get(f"{API}/meetings/{booked['id'] + 1}/fhir", headers=world.headers), 404)
    assert client.get(f"{API}/meetings/99999999999/fhir", headers=world.headers).status_code == 404
