"""The advisor's recording page and follow-up list: checklist by category, errors next to the fields with
the typed values kept, access only for her municipality."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from scheduler.models import (AnswerStatus, Meeting, MeetingStatus, OfferPresentation, OfferResponse, Participant,
                              ParticipantRole, Role, UptakeStatus)
from scheduler.schemas import OfferIn
from scheduler.services import offers as catalogue
from scheduler.services import recording

from .conftest import get_meeting
from .html import assert_field_error, control, parse, value_of

FRIDAY_10 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def meeting(session, factory, world):
    for code, name, category, extra in (
            ("genoptraening", "Genoptræning efter udskrivning", "genoptraening", {}),
            ("psykolog", "Samtaler med psykolog", "mental_sundhed", {}),
            ("rygestop", "Rygestopkursus", "rygestop", {}),
            ("gaahold", "Gåhold", "kraeftrehabilitering", {"active_to": date(2025, 12, 31)})):
        catalogue.create_offer(session, municipality_code="0540",
                               data=OfferIn(code=code, name=name, category=category, **extra))
    catalogue.create_offer(session, municipality_code="0306",
                           data=OfferIn(code="lysningen", name="Lysningen", category="palliation"))
    meeting = factory.meeting(world.advisor, FRIDAY_10, ward=world.ward)
    session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name="Karl Jensen",
                            cpr="0101501234", status=AnswerStatus.needs_action))
    session.commit()
    return meeting


@pytest.fixture
def advisor_client(client_for, world):
    return client_for(world.advisor)


def presented(read, meeting_id: int) -> dict[str, str]:
    rows = read(lambda s: recording.presentations_of(s, s.get(Meeting, meeting_id)))
    return {offer.code: p.response.value for p, offer in rows}


def test_checklist_shows_the_municipality_s_active_offers_by_category(advisor_client, meeting):
    response = advisor_client.get(f"/advisor/meetings/{meeting.id}/record")
    assert response.status_code == 200
    page = parse(response.text)
    assert [r.attrs["value"] for r in page.find_all("input", type="radio")] == ["held", "no_show", "cancelled_late"]
    checklist = page.by_id("f-offers")
    assert [h.text() for h in checklist.find_all("h3")] == ["Genoptræning", "Rygestop",
                                                             "Mental sundhed og psykologhjælp"]
    assert {n.attrs["name"] for n in checklist.find_all("select")} == {
        "response.genoptraening", "response.psykolog", "response.rygestop"}  # not retired, not Odsherred's
    options = [o.text() for o in control(page, "response.psykolog").find_all("option")]
    assert options == ["Ikke præsenteret", "Takker ja", "Takker nej", "Overvejer", "Henvist"]
    assert "Karl Jensen" in response.text and "0101501234" not in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_recording_saves_outcome_offers_and_note(advisor_client, meeting, read):
    response = advisor_client.post(f"/advisor/meetings/{meeting.id}/record", data={
        "outcome": "held", "presented.genoptraening": "1", "response.genoptraening": "accepted",
        "response.psykolog": "referred", "presented.rygestop": "", "response.rygestop": "",
        "note": "Ringer igen fredag"})
    assert response.status_code == 302 and response.location == "/advisor/recording"
    saved = get_meeting(read, meeting.id)
    assert (saved.status, saved.outcome.value, saved.advisor_note) == (MeetingStatus.held, "held",
                                                                       "Ringer igen fredag")
    assert presented(read, meeting.id) == {"genoptraening": "accepted", "psykolog": "referred"}

    page = parse(advisor_client.get(f"/advisor/meetings/{meeting.id}/record").text)
    assert "checked" in [r for r in page.find_all("input", type="radio") if r.attrs["value"] == "held"][0].attrs
    assert value_of(page, "response.genoptraening") == "accepted" and value_of(page, "note") == "Ringer igen fredag"
    assert value_of(page, "response.rygestop") is None
    assert len(page.find_all("form", class_="uptake")) == 2  # follow-up forms for the accepted and referred


def test_errors_sit_next_to_the_fields_and_the_typed_values_stay(advisor_client, meeting, read):
    response = advisor_client.post(f"/advisor/meetings/{meeting.id}/record", data={
        "presented.genoptraening": "1", "response.genoptraening": "", "response.psykolog": "declined",
        "note": "Husk tolk"})
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, "response.genoptraening", "Vælg borgerens svar")
    assert page.by_id("f-outcome-error").text() == "Vælg hvordan mødet gik"
    assert "checked" in control(page, "presented.genoptraening").attrs
    assert value_of(page, "response.psykolog") == "declined" and value_of(page, "note") == "Husk tolk"

    response = advisor_client.post(f"/advisor/meetings/{meeting.id}/record", data={
        "outcome": "no_show", "response.psykolog": "declined"})
    assert response.status_code == 422
    assert "kun registreres for et møde, der blev holdt" in parse(response.text).by_id("f-offers-error").text()
    assert get_meeting(read, meeting.id).outcome is None and presented(read, meeting.id) == {}


def test_a_meeting_not_begun_cannot_be_recorded(advisor_client, session, factory, world, meeting, now):
    later = factory.meeting(world.advisor, now + timedelta(hours=4), ward=world.ward)
    session.commit()
    page = advisor_client.get(f"/advisor/meetings/{later.id}/record")
    assert "ikke begyndt endnu" in page.text
    response = advisor_client.post(f"/advisor/meetings/{later.id}/record", data={"outcome": "held"})
    assert response.status_code == 422
    assert "når mødet er begyndt" in parse(response.text).by_id("f-outcome-error").text()


def test_only_advisors_of_the_municipality_may_record(client_for, session, factory, world, meeting):
    other = factory.advisor("0306")
    coordinator = factory.user(role=Role.coordinator, municipality_code="0540")
    session.commit()
    url = f"/advisor/meetings/{meeting.id}/record"
    assert client_for(other).post(url, data={"outcome": "held"}).status_code == 404
    assert client_for(world.secretary).get(url).status_code == 403
    assert client_for(coordinator).get(url).status_code == 403
    assert client_for(factory.user(role=Role.admin)).get(url).status_code == 200
    assert client_for(other).get("/advisor/followups").status_code == 200


def test_recording_list_links_meetings_without_outcome(advisor_client, meeting):
    page = parse(advisor_client.get("/advisor/recording").text)
    links = [a.attrs["href"] for a in page.find_all("a")]
    assert f"/advisor/meetings/{meeting.id}/record" in links
    assert "Karl Jensen" in page.text()


def test_follow_up_list_and_uptake_form(advisor_client, session, ctx, factory, world, meeting, read):
    old = factory.meeting(world.advisor, ctx.now - timedelta(days=30), ward=world.ward)
    recording.record_meeting(session, ctx=ctx, meeting=old, outcome=recording.MeetingOutcome.held, note=None,
                             actor=world.advisor, offers=[("genoptraening", OfferResponse.accepted),
                                                          ("rygestop", OfferResponse.declined)])
    session.commit()
    pid = read(lambda s: s.exec(select(OfferPresentation.id).where(OfferPresentation.meeting_id == old.id,
                                                                   OfferPresentation.response == "accepted")).one())
    page = parse(advisor_client.get("/advisor/followups").text)
    (form,) = page.find_all("form", class_="uptake")
    assert form.attrs["action"] == f"/advisor/meetings/{old.id}/offers/genoptraening/uptake"
    assert "Genoptræning efter udskrivning" in form.text()

    url = form.attrs["action"]
    response = advisor_client.post(url, data={"key": f"p{pid}", "next": "followups", f"p{pid}.status": "started",
                                              f"p{pid}.started_on": "2026-12-24"})
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, f"p{pid}.started_on", "Startdatoen ligger i fremtiden")
    assert value_of(page, f"p{pid}.started_on") == "2026-12-24"
    response = advisor_client.post(url, data={"key": f"p{pid}", "next": "followups", f"p{pid}.status": "started",
                                              f"p{pid}.started_on": "2026-11-02"})
    assert response.status_code == 302 and response.location == "/advisor/followups"
    saved = read(lambda s: s.get(OfferPresentation, pid))
    assert (saved.uptake, saved.started_on) == (UptakeStatus.started, date(2026, 11, 2))
    assert parse(advisor_client.get("/advisor/followups").text).find_all("form", class_="uptake") == []
    declined = advisor_client.post(f"/advisor/meetings/{old.id}/offers/rygestop/uptake",
                                   data={"key": "p0", "p0.status": "unknown"})
    assert declined.status_code == 422
