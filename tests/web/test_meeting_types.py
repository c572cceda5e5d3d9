"""Kinds of meeting: the Ballerup handover from a short-term placement to home care, booked end to end."""
from __future__ import annotations

import email
import email.policy
from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlmodel import select

from scheduler.errors import InvalidInput
from scheduler.models import Hospital, Meeting, MeetingOutcome, OutboxMessage, Role, Ward
from scheduler.services import notifications, recording


@pytest.fixture
def config(config):
    config.values["meeting_types"]["enabled"] = ["discharge", "short_term_home_care", "cross_sector"]
    return config


@pytest.fixture
def unit(session):
    """Ballerup's short-term unit books like a ward; home care nurses receive like advisors."""
    institution = Hospital(name="Ballerup Kommune, Korttidspladser", region_code="DK-84")
    session.add(institution)
    session.flush()
    ward = Ward(code="BAL-KORT", name="Korttidsafsnittet Lindehøj", hospital_id=institution.id)
    session.add(ward)
    session.flush()
    return ward


def test_a_short_term_unit_books_a_handover_to_home_care(session, factory, login, unit, app):
    secretary = factory.user(role=Role.secretary, ward=unit)
    home_care = factory.advisor("0151", name="Hjemmeplejen Vest")
    home_care_id = home_care.id
    client = login(secretary, session)

    form = client.get("/meetings/new").text
    assert 'name="meeting_type"' in form and "Overgang fra korttidsplads til hjemmepleje" in form
    fields = {"ward": "BAL-KORT", "municipality": "0151", "from": "2026-11-25", "to": "2026-11-27",
              "meeting_type": "short_term_home_care", "patient.name": "Borger Bentsen",
              "staff.0.name": "Sygeplejerske Sørensen", "staff.0.email": "ss@ballerup.example", "language": "da"}
    search = client.post("/meetings/new", data={**fields, "action": "search"})
    assert search.status_code == 200
    slot = search.text.split('name="slot" value="')[1].split('"')[0]
    assert slot.endswith(f"|{home_care_id}")
    booked = client.post("/meetings/new", data={**fields, "action": "book", "slot": slot})
    assert booked.status_code == 302, booked.text

    meeting = session.exec(select(Meeting)).one()
    assert meeting.meeting_type == "short_term_home_care"
    assert meeting.end_at - meeting.start_at == timedelta(minutes=30)  # the kind's own length
    rows = session.exec(select(OutboxMessage)).all()
    session.commit()
    page = client.get(booked.location).text
    assert "Overgang fra korttidsplads til hjemmepleje" in page

    messages = [email.message_from_string(r.message, policy=email.policy.default) for r in rows]
    assert {str(m["Subject"]).split(" ")[0] for m in messages} == {"Invitation:"}
    assert all("Overgang fra korttidsplads til hjemmepleje" in str(m["Subject"]) for m in messages)
    assert all("udskrivningssamtale" not in str(m["Subject"]).lower() for m in messages)
    calendar = next(Calendar.from_ical(p.get_payload(decode=True)) for p in messages[0].walk()
                    if p.get_content_type() == "text/calendar")
    assert str(calendar.walk("VEVENT")[0]["SUMMARY"]) == "Overgang fra korttidsplads til hjemmepleje (video)"

    # The words of every e-mail about it, not only the subjects: no discharge, no health advisor.
    ctx = app.extensions["scheduler"].booking_context()
    for kind in ("reminder", "escalation", "declined"):
        assert notifications.queue_notice(session, ctx=ctx, kind=kind, meeting=meeting, to=secretary)
    session.commit()
    for row in session.exec(select(OutboxMessage)).all():
        message = email.message_from_string(row.message, policy=email.policy.default)
        for part in ("plain", "html"):
            body = message.get_body((part,)).get_content().replace(ctx.organizer_name, "")  # the deployment's own
            assert "udskriv" not in body.lower() and "sundhedsrådgiver" not in body.lower(), (row.kind, body)
            assert "Overgang fra korttidsplads til hjemmepleje" in body, (row.kind, body)
    session.commit()


def test_a_kind_that_presents_no_offers_refuses_offers_but_records_the_outcome(session, factory, ctx, unit):
    home_care = factory.advisor("0151")
    meeting = factory.meeting(home_care, ctx.now - timedelta(days=1), ward=unit)
    meeting.meeting_type = "short_term_home_care"
    session.add(meeting)
    session.flush()
    later = type(ctx)(**{**ctx.__dict__, "now": ctx.now + timedelta(hours=1)})
    recording.record_outcome(session, ctx=later, meeting=meeting, outcome=MeetingOutcome.held, actor=home_care)
    with pytest.raises(InvalidInput) as error:
        recording.record_offers(session, ctx=later, meeting=meeting, offers=[("genoptraening", "accepted")],
                                note=None, actor=home_care)
    assert list(error.value.fields) == ["offers"]


def test_a_kind_not_enabled_cannot_be_booked(session, factory, login, unit, app):
    from dataclasses import replace

    services = app.extensions["scheduler"]  # this deployment offers discharge conversations only
    services.rules = replace(services.rules, meeting_types=("discharge",))
    client = login(factory.user(role=Role.secretary, ward=unit), session)
    assert 'name="meeting_type"' not in client.get("/meetings/new").text
    factory.advisor("0151")
    session.commit()
    fields = {"ward": "BAL-KORT", "municipality": "0151", "from": "2026-11-25", "to": "2026-11-27",
              "meeting_type": "short_term_home_care", "patient.name": "Borger Bentsen",
              "staff.0.name": "Sygeplejerske Sørensen", "staff.0.email": "ss@ballerup.example", "language": "da"}
    search = client.post("/meetings/new", data={**fields, "action": "search"})
    slot = search.text.split('name="slot" value="')[1].split('"')[0]
    refused = client.post("/meetings/new", data={**fields, "action": "book", "slot": slot})
    assert refused.status_code == 422 and "Den mødetype bookes ikke her" in refused.text
    assert session.exec(select(Meeting)).all() == []
