"""The main booking journey on a Norwegian configuration (app.country = "NO", nothing else set): a ward
secretary at Nordlandssykehuset books through the web form for a patient in Sortland kommune; slot
search skips 17 May; the fødselsnummer is the patient's number; invite and e-mails are in Bokmål."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlmodel import func, select

from scheduler import create_app
from scheduler.config import load_config
from scheduler.jobs import send_outbox
from scheduler.models import Hospital, Meeting, Participant, ParticipantRole, Role, User, Ward
from scheduler.schemas import SlotQuery, parse_input
from scheduler.services import booking
from scheduler.services.reference import load_municipalities
from scheduler.services.users import create_user, issue_api_token
from scheduler.video.jitsi import JitsiProvider

from .conftest import TEST_CPR_KEY, TEST_SECRET_KEY
from .web.html import assert_field_error, parse, radios, value_of

OSLO = ZoneInfo("Europe/Oslo")
NOW = datetime(2028, 5, 15, 6, 0, tzinfo=UTC)  # Monday 15 May 2028, 08:00 in Oslo
PASSWORD = "correct horse battery"
FODSELSNUMMER = "01019012345"
SEARCH = {"municipality": "1870", "from": "2028-05-15", "to": "2028-05-19", "duration_minutes": "45"}


@dataclass
class Norway:
    app: Any
    ward: Ward
    advisor_email: str
    secretary_email: str


@pytest.fixture
def norway(session, database_url, tmp_path, smtp_server):
    """A Norwegian deployment: only the country is configured; users created as the command line does."""
    load_municipalities(session, country="NO")
    config = load_config(Path(__file__).parent / "missing.toml", environ={}, overrides={
        "database": {"url": database_url}, "calendars": {"dir": str(tmp_path / "calendars")},
        "app": {"secret_key": TEST_SECRET_KEY, "country": "NO", "organizer_email": "utskrivning@nlsh.example"},
        "security": {"cpr_keys": TEST_CPR_KEY}, "smtp": {"host": "127.0.0.1", "port": smtp_server.port}})
    hospital = Hospital(name="Nordlandssykehuset Vesterålen", region_code="NO-18")
    session.add(hospital)
    session.flush()
    ward = Ward(code="NLSH-MED", name="Medisinsk avdeling", hospital_id=hospital.id)
    session.add(ward)
    session.flush()
    language = config.app.language
    create_user(session, email="sekretaer@nlsh.example", name="Siri Sekretær", role=Role.secretary,
                password=PASSWORD, ward_codes=["NLSH-MED"], language=language)
    create_user(session, email="radgiver@sortland.kommune.example", name="Kari Rådgiver", role=Role.advisor,
                municipality_code="1870", language=language)
    session.commit()
    app = create_app(config, video=JitsiProvider("https://meet.example.org"), clock=lambda: NOW)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    yield Norway(app, ward, "radgiver@sortland.kommune.example", "sekretaer@nlsh.example")
    app.extensions["scheduler"].engine.dispose()


@pytest.fixture
def secretary(norway):
    client = norway.app.test_client()
    response = client.post("/login", data={"email": norway.secretary_email, "password": PASSWORD})
    assert response.status_code == 302, response.text
    return client


def form_for(page, ward: Ward, **overrides: str) -> dict[str, str]:
    form = {"ward": ward.code, **SEARCH, "language": value_of(page, "language"),
            "patient.name": "Kari Nordmann", "patient.cpr": FODSELSNUMMER, "patient.email": "kari@example.no",
            "relatives.0.name": "Ola Nordmann", "relatives.0.email": "ola@example.no",
            "staff.0.name": "Sykepleier Siv", "staff.0.email": "siv@nlsh.example"}
    form.update(overrides)
    return form


def local_days(slot_values: list[str]) -> set[date]:
    return {datetime.fromisoformat(v.partition("|")[0]).astimezone(OSLO).date() for v in slot_values}


def test_book_a_meeting_in_a_norwegian_municipality_end_to_end(norway, secretary, session, smtp_server):
    page = parse(secretary.get("/meetings/new").text)
    text = page.text()
    assert 'lang="nb"' in secretary.get("/meetings/new").text and "Ny utskrivningssamtale" in text
    assert value_of(page, "language") == "nb"  # the patient's invitation defaults to Bokmål
    cpr_label = next(label for label in page.find_all("label") if label.attrs.get("for") == "f-patient-cpr")
    assert "Fødselsnummer" in cpr_label.text() and "CPR" not in cpr_label.text()
    assert any(o.attrs.get("value") == "1870" for o in page.find_all("option"))  # Sortland kommune

    # Slot search: Monday to Friday, but Wednesday 17 May is Grunnlovsdag.
    form = form_for(page, norway.ward)
    found = secretary.post("/meetings/new", data={**form, "action": "search"})
    assert found.status_code == 200, found.text
    slots = [r.attrs["value"] for r in radios(parse(found.text))]
    days = local_days(slots)
    assert date(2028, 5, 17) not in days
    assert {date(2028, 5, 15), date(2028, 5, 16), date(2028, 5, 18), date(2028, 5, 19)} <= days
    # The same search under Danish rules does offer 17 May: the country decides.
    services = norway.app.extensions["scheduler"]
    danish = replace(services.booking_context(), rules=replace(services.rules, country="DK"))
    query = parse_input(SlotQuery, {"municipality": "1870", "from": "2028-05-17", "to": "2028-05-17"})
    assert booking.search_slots(session, ctx=danish, query=query, limit=5)
    session.commit()

    # A Danish CPR number is not a fødselsnummer: the error sits next to the field, nothing is saved.
    refused = secretary.post("/meetings/new", data={**form, "patient.cpr": "010150-1234", "slot": slots[0],
                                                      "action": "book"})
    assert refused.status_code == 422, refused.text
    assert_field_error(parse(refused.text), "patient.cpr", "11")
    assert session.exec(select(func.count()).select_from(Meeting)).one() == 0
    session.commit()

    booked = secretary.post("/meetings/new", data={**form, "slot": slots[0], "action": "book"})
    assert booked.status_code == 302, booked.text
    meeting_id = int(booked.location.rsplit("/", 1)[1])
    shown = secretary.get(f"/meetings/{meeting_id}").text
    assert f"Fødselsnummer: {FODSELSNUMMER}" in shown  # in full for the secretary who booked

    session.expire_all()
    meeting = session.get(Meeting, meeting_id)
    assert (meeting.municipality_code, meeting.patient_language) == ("1870", "nb")
    patient = session.exec(select(Participant).where(Participant.meeting_id == meeting_id,
                                                     Participant.role == ParticipantRole.patient)).one()
    assert patient.cpr == FODSELSNUMMER and patient.cpr_digest
    session.commit()

    # The stored invite: Oslo time, Norwegian title and organizer, no fødselsnummer.
    stored = services.calendars.read(meeting.uid)
    event = Calendar.from_ical(stored).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Utskrivningssamtale (video)"
    assert event["DTSTART"].params["TZID"] == "Europe/Oslo"
    assert event["ORGANIZER"].params["CN"] == "Utskrivningssamtaler"
    assert FODSELSNUMMER.encode() not in stored and b"Kari Nordmann" not in stored

    # The e-mails: the patient's and the advisor's in Bokmål, each with a Norwegian invite.
    assert send_outbox(services) == 4  # patient, relative, staff, advisor
    to_patient, = smtp_server.to("kari@example.no")
    to_advisor, = smtp_server.to(norway.advisor_email)
    for message in (to_patient, to_advisor):
        assert message["Subject"].startswith("Invitasjon: utskrivningssamtale"), message["Subject"]
        assert message["From"].addresses[0].display_name == "Utskrivningssamtaler"
        assert FODSELSNUMMER not in message.as_string()
    body = to_patient.get_body(preferencelist=("plain",)).get_content()
    assert "Kjære Kari Nordmann" in body and "Slik deltar du" in body and "Sådan deltager du" not in body
    calendar = next(p for p in to_patient.walk() if p.get_content_type() == "text/calendar")
    assert "SUMMARY:Utskrivningssamtale (video)" in calendar.get_content()


def test_a_booking_through_the_api_without_a_language_speaks_the_deployments(norway, session):
    """A hospital system booking through the API in Norway need not say `language`: the patient's
    invitation is then in Bokmål, not Danish."""
    secretary = session.exec(select(User).where(User.email == norway.secretary_email)).one()
    token = issue_api_token(session, user=secretary, now=NOW)
    session.commit()
    body = {"ward": norway.ward.code, "municipality": "1870", "start": "2028-05-16T10:00:00+02:00",
            "patient": {"name": "Kari Nordmann", "email": "kari@example.no"},
            "staff": [{"name": "Sykepleier Siv", "email": "siv@nlsh.example"}]}
    response = norway.app.test_client().post("/api/v1/meetings", json=body,
                                             headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    session.expire_all()
    assert session.get(Meeting, response.json["id"]).patient_language == "nb"
    session.commit()
