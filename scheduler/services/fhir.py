"""A meeting as a FHIR R4 Appointment, shaped like the Danish eHealth video appointment.

The eHealth Infrastructure's profile `ehealth-videoappointment` puts the video link, the VMR (SIP)
address and the PINs in its own extensions, identifies a VDX meeting with the system
http://vdx.medcom.dk/meeting, codes the service type `video`, and gives every party its own
participant entry and status. This resource follows that shape but does not claim the profile in
`meta.profile`: the profile also requires references to the infrastructure's own CareTeam, Patient
and Practitioner resources, which a meeting booked here does not have. The parties are contained
resources instead (Patient, RelatedPerson, Practitioner) with a name and an e-mail address only.

Privacy: no CPR number or any other identifier of the patient, no ward, no free text (answer
comments, cancel reasons and notes can hold health information); the description is the same
neutral title the invites carry.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..models import Meeting, MeetingStatus, Participant, ParticipantRole
from .meeting_types import meeting_type

EHEALTH = "http://ehealth.sundhed.dk/fhir/StructureDefinition/"
MEETING_URL = EHEALTH + "ehealth-meeting-url"  # valueUri
VMR_URI = EHEALTH + "ehealth-vmr-uri"  # valueUri
HOST_PIN = EHEALTH + "ehealth-host-pin-code"  # valueString
GUEST_PIN = EHEALTH + "ehealth-guest-pin-code"  # valueString
VDX_MEETING_SYSTEM = "http://vdx.medcom.dk/meeting"
SERVICE_TYPE = {"system": "http://ehealth.sundhed.dk/cs/appointment-servicetype", "code": "video"}
APPOINTMENT_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/v2-0276", "code": "ROUTINE",
                    "display": "Routine appointment - default if not valued"}
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

# Our meeting status -> Appointment.status. Until the advisor has accepted, the meeting waits for
# a participant's acceptance: FHIR's "pending"; after that it is "booked".
STATUS = {
    MeetingStatus.booked: "pending",
    MeetingStatus.confirmed: "booked",
    MeetingStatus.held: "fulfilled",
    MeetingStatus.no_show: "noshow",
    MeetingStatus.cancelled: "cancelled",
}

# role -> (contained resource type, Appointment.participant.type code or None, required)
PARTIES: dict[ParticipantRole, tuple[str, tuple[str, str] | None, str]] = {
    ParticipantRole.patient: ("Patient", None, "required"),
    ParticipantRole.relative: ("RelatedPerson", None, "optional"),
    ParticipantRole.staff: ("Practitioner", ("ATND", "attender"), "required"),
    ParticipantRole.advisor: ("Practitioner", ("CON", "consultant"), "required"),
}


def meeting_uid_system(base_url: str) -> str:
    """The identifier system of our meeting UIDs (the UID every invite of the meeting carries)."""
    return f"{base_url.rstrip('/')}/fhir/sid/meeting-uid"


def _instant(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).replace(microsecond=0).isoformat()


def _actor(participant: Participant, resource_type: str, patient_id: str) -> dict[str, Any]:
    """The contained resource of one party: a name and her e-mail, nothing that identifies the patient."""
    resource: dict[str, Any] = {"resourceType": resource_type, "id": f"{participant.role.value}-{participant.id}",
                                "name": [{"text": participant.name}]}
    if participant.email:
        resource["telecom"] = [{"system": "email", "value": participant.email}]
    if resource_type == "RelatedPerson":
        resource["patient"] = {"reference": f"#{patient_id}"}
    return resource


def appointment(*, meeting: Meeting, participants: list[Participant], zone: ZoneInfo, base_url: str,
                translate: Callable[[str], str]) -> dict[str, Any]:
    """The meeting as a FHIR R4 Appointment (JSON), each party a contained resource with its own status."""
    patient = next((p for p in participants if p.role == ParticipantRole.patient), None)
    patient_id = f"{ParticipantRole.patient.value}-{patient.id}" if patient else ""
    contained, entries = [], []
    for participant in participants:
        resource_type, kind, required = PARTIES[participant.role]
        if resource_type == "RelatedPerson" and patient is None:
            continue  # a RelatedPerson needs its patient; never happens for a booked meeting
        actor = _actor(participant, resource_type, patient_id)
        contained.append(actor)
        entry: dict[str, Any] = {"actor": {"reference": f"#{actor['id']}", "type": resource_type,
                                           "display": participant.name},
                                 "required": required, "status": participant.status.value}
        if kind:
            entry["type"] = [{"coding": [{"system": PARTICIPATION_TYPE, "code": kind[0], "display": kind[1]}]}]
        entries.append(entry)

    extensions = [{"url": url, key: value} for url, key, value in (
        (MEETING_URL, "valueUri", meeting.video_join_url),
        (VMR_URI, "valueUri", meeting.video_sip_uri),
        (HOST_PIN, "valueString", meeting.video_host_pin),
        (GUEST_PIN, "valueString", meeting.video_guest_pin),
    ) if value]
    identifiers = [{"system": meeting_uid_system(base_url), "value": meeting.uid}]
    if meeting.video_provider == "vdx" and meeting.video_external_id:
        identifiers.append({"system": VDX_MEETING_SYSTEM, "value": meeting.video_external_id})

    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(meeting.id),
        "contained": contained,
        "extension": extensions,
        "identifier": identifiers,
        "status": STATUS[meeting.status],
        "serviceType": [{"coding": [SERVICE_TYPE]}],
        "appointmentType": {"coding": [APPOINTMENT_TYPE]},
        "description": translate(meeting_type(meeting.meeting_type).title),
        "start": _instant(meeting.start_at, zone),
        "end": _instant(meeting.end_at, zone),
        "minutesDuration": int((meeting.end_at - meeting.start_at).total_seconds() // 60),
        "created": _instant(meeting.created_at, zone),
        "participant": entries,
    }
    return {key: value for key, value in resource.items() if value != []}
