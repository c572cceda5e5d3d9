"""The personal answer link: GET shows, POST answers; bad links get clear pages; decline -> rebook."""
from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import datetime

import pytest
from itsdangerous import TimestampSigner
from sqlmodel import select

from scheduler.models import (AnswerStatus, MeetingEvent, MeetingStatus, OutboxMessage, Participant,
                              ParticipantRole)

from .conftest import book_via_form, booked_id, count, get_meeting, participants
from .html import assert_field_error, control, labelled, parse

CPR_DIGITS = ("010150", "1234")


@pytest.fixture
def meeting_id(secretary_client, world):
    return booked_id(book_via_form(secretary_client, world.ward))


@pytest.fixture
def links(app):
    return app.extensions["scheduler"].mailer.links


def party(read, meeting_id, role) -> Participant:
    return next(p for p in participants(read, meeting_id) if p.role == role)


@pytest.fixture
def advisor_url(read, meeting_id, links):
    return "/answer/" + links.token_for(party(read, meeting_id, ParticipantRole.advisor))


def buttons(page) -> dict[str, str]:
    return {b.attrs.get("value"): b.text() for b in page.find_all("button") if b.attrs.get("name") == "status"}


def assert_no_patient_data(html: str) -> None:
    for secret in ("Karl", "Jensen", "karl@example.net", "Grete", *CPR_DIGITS):
        assert secret not in html, secret


def test_get_shows_the_meeting_and_changes_nothing(app, client, advisor_url, meeting_id, read, world):
    for _ in range(3):  # a mail scanner, a preview, the advisor herself
        response = client.get(advisor_url)
        assert response.status_code == 200
    page = parse(response.text)
    text = page.text()
    assert "mandag den 23. november 2026 kl. 11.00" in text  # local time
    meeting = get_meeting(read, meeting_id)
    assert page.find_all("a", href=meeting.video_join_url)
    assert "Onkologisk afdeling" in text and "Afventer svar" in text
    assert set(buttons(page)) == {"accepted", "tentative", "declined"}
    comment = control(page, "comment")
    assert comment.tag == "textarea" and labelled(page, comment)
    assert control(page, "csrf_token").attrs["type"] == "hidden"
    assert_no_patient_data(response.text)
    assert response.headers["Cache-Control"] == "no-store"

    assert party(read, meeting_id, ParticipantRole.advisor).status == AnswerStatus.needs_action
    assert count(read, MeetingEvent, MeetingEvent.action == "answered") == 0
    assert get_meeting(read, meeting_id).status == MeetingStatus.booked


def test_accepting_confirms_the_meeting_on_the_secretarys_page(client, secretary_client, advisor_url, meeting_id,
                                                              read):
    response = client.post(advisor_url, data={"status": "accepted", "comment": ""})
    assert response.status_code == 200
    assert "Tak for dit svar" in response.text and "Accepteret" in response.text
    assert_no_patient_data(response.text)
    assert party(read, meeting_id, ParticipantRole.advisor).status == AnswerStatus.accepted
    assert get_meeting(read, meeting_id).status == MeetingStatus.confirmed

    page = parse(secretary_client.get(f"/meetings/{meeting_id}").text)
    assert "Bekræftet" in page.text()
    advisor_row = next(tr for tr in page.find_all("tr") if "Mette Rådgiver" in tr.text())
    assert "Accepteret" in advisor_row.text()
    assert "Svar på invitationen" in page.by_id("history-h").parent.text()

    again = parse(client.get(advisor_url).text)
    assert "Accepteret" in again.text() and buttons(again)  # she can still change her mind


def test_staff_see_the_ward_and_a_patient_link_shows_no_ward(client, links, meeting_id, read):
    staff = client.get("/answer/" + links.token_for(party(read, meeting_id, ParticipantRole.staff)))
    assert staff.status_code == 200 and "Onkologisk afdeling" in staff.text
    patient = client.get("/answer/" + links.token_for(party(read, meeting_id, ParticipantRole.patient)))
    assert patient.status_code == 200 and "Onkologisk afdeling" not in patient.text
    assert_no_patient_data(staff.text)
    assert_no_patient_data(patient.text)


def test_a_tampered_link_gets_a_400_page(client, advisor_url, meeting_id, read):
    tampered = advisor_url[:-3] + ("abc" if not advisor_url.endswith("abc") else "xyz")
    for response in (client.get(tampered), client.post(tampered, data={"status": "accepted"}),
                     client.get("/answer/not-a-token")):
        assert response.status_code == 400
        assert "Linket virker ikke" in response.text and "Linket er ugyldigt" in response.text
        assert "Traceback" not in response.text
    assert party(read, meeting_id, ParticipantRole.advisor).status == AnswerStatus.needs_action


def test_an_expired_link_gets_a_410_page(app, client, links, meeting_id, read, monkeypatch):
    days = links.max_age_days + 1
    with monkeypatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - days * 86400)
        url = "/answer/" + links.token_for(party(read, meeting_id, ParticipantRole.advisor))
    for response in (client.get(url), client.post(url, data={"status": "accepted"})):
        assert response.status_code == 410
        assert "Linket er udløbet" in response.text
    assert party(read, meeting_id, ParticipantRole.advisor).status == AnswerStatus.needs_action
    # The same token is fine for a link that lives longer: it really is the age that counts.
    app.extensions["scheduler"].mailer = replace(app.extensions["scheduler"].mailer,
                                                 links=replace(links, max_age_days=days + 1))
    assert client.get(url).status_code == 200


def test_declining_without_a_reason_is_422_at_the_field(client, advisor_url, meeting_id, read):
    response = client.post(advisor_url, data={"status": "declined", "comment": "  "})
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, "comment", "Skriv hvorfor du afviser")
    assert set(buttons(page)) == {"accepted", "tentative", "declined"}
    assert party(read, meeting_id, ParticipantRole.advisor).status == AnswerStatus.needs_action
    assert not get_meeting(read, meeting_id).needs_rebooking


def test_an_unknown_answer_is_422(client, advisor_url, meeting_id, read):
    response = client.post(advisor_url, data={"status": "maybe-later"})
    assert response.status_code == 422 and "Vælg accepter, måske eller afvis" in response.text
    assert party(read, meeting_id, ParticipantRole.advisor).status == AnswerStatus.needs_action


def test_decline_then_one_click_rebook(client, secretary_client, advisor_url, meeting_id, read, world):
    response = client.post(advisor_url, data={"status": "declined", "comment": "Ferie den uge"})
    assert response.status_code == 200 and "finder en ny tid" in response.text
    meeting = get_meeting(read, meeting_id)
    assert meeting.needs_rebooking and meeting.status == MeetingStatus.booked
    notices = read(lambda s: s.exec(select(OutboxMessage).where(OutboxMessage.kind == "declined")).all())
    assert [n.recipient for n in notices] == [world.secretary.email]

    page = parse(secretary_client.get(f"/meetings/{meeting_id}").text)
    notice = page.by_id("rebook")
    assert notice is not None
    assert "Mette Rådgiver har afvist mødet" in notice.text() and "Ferie den uge" in notice.text()
    forms = [f for f in notice.find_all("form") if f.attrs["action"] == f"/meetings/{meeting_id}/rebook"]
    assert len(forms) == 8
    slots = [control(f, "slot").attrs["value"] for f in forms]
    assert f"{meeting.start_at.isoformat()}|{meeting.advisor_id}" not in slots
    assert all(control(f, "csrf_token") for f in forms)

    response = secretary_client.post(f"/meetings/{meeting_id}/rebook", data={"slot": slots[0]})
    assert response.status_code == 302 and response.location == f"/meetings/{meeting_id}"
    moved = get_meeting(read, meeting_id)
    assert not moved.needs_rebooking and moved.sequence == 1
    assert moved.start_at == datetime.fromisoformat(slots[0].partition("|")[0])
    shown = secretary_client.get(f"/meetings/{meeting_id}")
    assert "Mødet er booket om" in shown.text and parse(shown.text).by_id("rebook") is None
    ics = secretary_client.get(f"/meetings/{meeting_id}/invite.ics").text.replace("\r\n ", "")
    assert "SEQUENCE:1" in ics and "METHOD:REQUEST" in ics and f"UID:{moved.uid}" in ics
    assert party(read, meeting_id, ParticipantRole.advisor).status == AnswerStatus.needs_action


def test_rebooking_to_a_taken_or_bad_slot_is_refused_with_a_message(client, secretary_client, advisor_url,
                                                                   meeting_id, read):
    client.post(advisor_url, data={"status": "declined", "comment": "Ferie"})
    meeting = get_meeting(read, meeting_id)
    for slot in ("", f"{meeting.start_at.isoformat()}|{meeting.advisor_id}", "2026-11-22T10:00:00+00:00|1"):
        response = secretary_client.post(f"/meetings/{meeting_id}/rebook", data={"slot": slot},
                                         follow_redirects=True)
        assert response.status_code == 200 and "Vælg en anden tid" in response.text
    assert get_meeting(read, meeting_id).sequence == 0 and get_meeting(read, meeting_id).needs_rebooking


def test_a_cancelled_meeting_shows_that_and_no_form(client, secretary_client, advisor_url, meeting_id, read):
    secretary_client.post(f"/meetings/{meeting_id}/cancel", data={"reason": "Udskrevet"})
    response = client.get(advisor_url)
    assert response.status_code == 200
    page = parse(response.text)
    assert "Mødet er aflyst" in page.text() and not page.find_all("form", action=advisor_url)
    assert not page.find_all("textarea")
    assert "Udskrevet" not in response.text  # the cancel reason stays in the system
    response = client.post(advisor_url, data={"status": "accepted"})
    assert response.status_code == 409
    assert party(read, meeting_id, ParticipantRole.advisor).status == AnswerStatus.needs_action


def test_the_form_carries_a_working_csrf_token(app, client, advisor_url, meeting_id, read):
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post(advisor_url, data={"status": "accepted"}).status_code == 400
    assert party(read, meeting_id, ParticipantRole.advisor).status == AnswerStatus.needs_action
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(advisor_url).text).group(1)
    response = client.post(advisor_url, data={"status": "tentative", "csrf_token": token})
    assert response.status_code == 200
    assert party(read, meeting_id, ParticipantRole.advisor).status == AnswerStatus.tentative
