"""A hand-built uptake data set for the statistics, export, dashboard and API tests.

Sønderborg (0540) and Odsherred (0306), September to November 2026, with meetings at local
midnight edges and some just outside the period or in another municipality. The expected
figures are worked out by hand in tests/services/test_statistics.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from scheduler import crypto
from scheduler.models import (AnswerStatus, Meeting, MeetingOutcome, MeetingStatus, Offer, OfferPresentation,
                              OfferResponse, Participant, ParticipantRole, UptakeStatus, User, Ward)

from .factories import Factory

ZONE = ZoneInfo("Europe/Copenhagen")
PERIOD = (date(2026, 9, 1), date(2026, 11, 30))

OFFERS = {  # key -> (municipality, code, name, category)
    "GENOP": ("0540", "GENOP", "Genoptræning", "genoptraening"),
    "KRAEFT": ("0540", "KRAEFT", "Kræftrehabilitering", "kraeftrehabilitering"),
    "PSYK": ("0540", "PSYK", "Psykologhjælp", "mental_sundhed"),
    "TRAEN": ("0306", "TRAEN", "Genoptræning Odsherred", "genoptraening"),
    "LYSN": ("0306", "LYSN", "Lysningen", "palliation"),
    "BAL": ("0151", "BAL", "Genoptræning Ballerup", "genoptraening"),
}

A, D, C, R = (OfferResponse.accepted, OfferResponse.declined, OfferResponse.considering, OfferResponse.referred)
S, NS, U = UptakeStatus.started, UptakeStatus.not_started, UptakeStatus.unknown
HELD, NO_SHOW, CANCELLED, BOOKED, CONFIRMED = (MeetingStatus.held, MeetingStatus.no_show, MeetingStatus.cancelled,
                                               MeetingStatus.booked, MeetingStatus.confirmed)


@dataclass
class Spec:
    name: str
    municipality: str
    local_start: datetime
    status: MeetingStatus = HELD
    outcome: MeetingOutcome | None = None
    offers: list[tuple[str, OfferResponse, UptakeStatus | None]] = field(default_factory=list)


def _at(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZONE)


SPECS = [
    # Sønderborg, September: 6 held, 1 no-show, 1 cancelled. S1 is 00:30 local on 1 September (still
    # 31 August in UTC).
    Spec("S1", "0540", _at(9, 1, 0, 30), offers=[("GENOP", A, S), ("KRAEFT", A, S)]),
    Spec("S2", "0540", _at(9, 2), offers=[("GENOP", A, S), ("KRAEFT", A, S)]),
    Spec("S3", "0540", _at(9, 8), offers=[("GENOP", A, NS), ("KRAEFT", D, None)]),
    Spec("S4", "0540", _at(9, 9), offers=[("GENOP", R, S), ("KRAEFT", D, None)]),
    Spec("S5", "0540", _at(9, 15), offers=[("GENOP", D, None), ("PSYK", A, S)]),
    Spec("S6", "0540", _at(9, 30, 23, 30), offers=[("GENOP", C, None)]),  # 21:30 UTC: still September
    Spec("S7", "0540", _at(9, 16), status=NO_SHOW),
    Spec("S8", "0540", _at(9, 17), status=CANCELLED),
    # October: 5 held (O5 at 23:30 local on 31 October), 1 cancelled late (outcome).
    Spec("O1", "0540", _at(10, 1, 0, 15), offers=[("GENOP", A, S), ("KRAEFT", A, S)]),  # 30 Sep 22:15 UTC
    Spec("O2", "0540", _at(10, 6), offers=[("GENOP", A, U), ("KRAEFT", A, NS)]),
    Spec("O3", "0540", _at(10, 13), offers=[("GENOP", R, S), ("KRAEFT", D, None)]),
    Spec("O4", "0540", _at(10, 20), offers=[("GENOP", R, None), ("PSYK", A, None)]),
    Spec("O5", "0540", _at(10, 31, 23, 30), offers=[("GENOP", D, None)]),
    Spec("O6", "0540", _at(10, 21), status=CONFIRMED, outcome=MeetingOutcome.cancelled_late),
    # November: 4 held (N1 00:15 local on 1 November = 31 October in UTC; N4 23:30 on 30 November),
    # one booked ahead and one confirmed in the past without an outcome.
    Spec("N1", "0540", _at(11, 1, 0, 15), offers=[("GENOP", A, S), ("KRAEFT", A, S)]),
    Spec("N2", "0540", _at(11, 3), offers=[("GENOP", A, None), ("KRAEFT", D, None)]),
    Spec("N3", "0540", _at(11, 10), offers=[("GENOP", R, NS), ("KRAEFT", A, None)]),
    # a declined offer with an uptake recorded anyway: not counted as uptake
    Spec("N4", "0540", _at(11, 30, 23, 30), offers=[("GENOP", A, S), ("PSYK", D, S)]),
    Spec("N5", "0540", _at(11, 25), status=BOOKED),
    Spec("N6", "0540", _at(11, 20), status=CONFIRMED),
    # Odsherred: October 3 held, November 2 held and a no-show recorded as outcome.
    Spec("P1", "0306", _at(10, 5), offers=[("TRAEN", A, S), ("LYSN", R, U)]),
    Spec("P2", "0306", _at(10, 12), offers=[("TRAEN", A, S), ("LYSN", A, S)]),
    Spec("P3", "0306", _at(10, 19), offers=[("TRAEN", R, S)]),
    Spec("P4", "0306", _at(11, 2), offers=[("TRAEN", A, NS), ("LYSN", D, None)]),
    Spec("P5", "0306", _at(11, 9), offers=[("TRAEN", C, None)]),
    Spec("P6", "0306", _at(11, 16), status=CONFIRMED, outcome=MeetingOutcome.no_show),
    # Outside: 23:30 local on 31 August, 00:10 local on 1 December, and Ballerup.
    Spec("X1", "0540", _at(8, 31, 23, 30), offers=[("GENOP", A, S)]),
    Spec("X2", "0540", _at(12, 1, 0, 10), offers=[("GENOP", A, S)]),
    Spec("X3", "0151", _at(11, 10), offers=[("BAL", A, S)]),
]

PATIENT_NAME = "Karl Testpatient"
PATIENT_EMAIL = "karl.testpatient@example.net"
PATIENT_PHONE = "+45 20 30 40 50"
NOTE = "Fortroligt notat om hjemmesituationen"


def cpr_of(spec_name: str) -> str | None:
    """The patient's CPR number; S6 and X3 have none (their key comes from the meeting), and the
    patient of S1 comes back for N1."""
    if spec_name in ("S6", "X3"):
        return None
    index = [s.name for s in SPECS].index("S1" if spec_name == "N1" else spec_name)
    return f"01017{index:03d}34"


def digest_of(spec_name: str) -> str | None:
    """The patient's CPR digest, as booking stores it next to the encrypted CPR number."""
    cpr = cpr_of(spec_name)
    return crypto.cpr_digest(cpr) if cpr else None


@dataclass
class UptakeWorld:
    meetings: dict[str, Meeting]
    offers: dict[str, Offer]
    ward: Ward


def add_offer(session: Session, key: str) -> Offer:
    municipality, code, name, category = OFFERS[key]
    offer = Offer(municipality_code=municipality, code=code, name=name, category=category)
    session.add(offer)
    session.flush()
    return offer


def build(session: Session, factory: Factory, specs: list[Spec] = SPECS, *, ward_code: str = "ONK") -> UptakeWorld:
    """Write the meetings, patients (with CPR, names, e-mails, phones and notes) and offers presented."""
    ward = factory.ward(code=ward_code)
    offers = {key: add_offer(session, key) for key in OFFERS}
    advisors: dict[str, User] = {}
    meetings: dict[str, Meeting] = {}
    for spec in specs:
        if spec.municipality not in advisors:
            advisors[spec.municipality] = factory.advisor(spec.municipality, name=f"Rådgiver {spec.municipality}")
        meeting = factory.meeting(advisors[spec.municipality], spec.local_start.astimezone(ZONE), status=spec.status,
                                  ward=ward)
        meeting.outcome = spec.outcome
        meeting.advisor_note = NOTE
        session.add(meeting)
        session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name=PATIENT_NAME,
                                email=PATIENT_EMAIL, phone=PATIENT_PHONE,
                                cpr=cpr_of(spec.name), cpr_digest=digest_of(spec.name),
                                status=AnswerStatus.needs_action))
        for key, response, uptake in spec.offers:
            session.add(OfferPresentation(meeting_id=meeting.id, offer_id=offers[key].id, response=response,
                                          uptake=uptake,
                                          started_on=(spec.local_start + timedelta(days=14)).date()
                                          if uptake == S else None))
        meetings[spec.name] = meeting
    session.flush()
    return UptakeWorld(meetings=meetings, offers=offers, ward=ward)
