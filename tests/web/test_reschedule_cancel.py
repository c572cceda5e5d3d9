"""Rescheduling and cancelling from the meeting page."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler.models import MeetingEvent, MeetingStatus

from .conftest import FIRST_SLOT_UTC, book_via_form, booked_id, count, get_meeting
from .html import assert_field_error, parse, radios, value_of


def unfold(ics: str) -> str:
    return ics.replace("\r\n ", "")


@pytest.fixture
def meeting_id(secretary_client, world):
    return booked_id(book_via_form(secretary_client, world.ward))


def test_reschedule_moves_the_meeting_and_sends_sequence_1(secretary_client, world, meeting_id, read):
    response = secretary_client.get(f"/meetings/{meeting_id}/reschedule")
    assert response.status_code == 200
    page = parse(response.text)
    values = [r.attrs["value"] for r in radios(page)]
    assert values
    new_slot = next(v for v in values if v.startswith("2026-11-24T"))
    form = {name: value_of(page, name) for name in ("from", "to", "duration_minutes")}

    response = secretary_client.post(f"/meetings/{meeting_id}/reschedule",
                                     data={**form, "slot": new_slot, "reason": "Lægen er optaget",
                                           "action": "reschedule"})
    assert response.status_code == 302 and response.location == f"/meetings/{meeting_id}"
    meeting = get_meeting(read, meeting_id)
    assert meeting.start_at == datetime.fromisoformat(new_slot.partition("|")[0])
    assert meeting.sequence == 1 and meeting.status == MeetingStatus.booked
    assert count(read, MeetingEvent, MeetingEvent.meeting_id == meeting_id,
                 MeetingEvent.action == "rescheduled") == 1
    shown = secretary_client.get(response.location).text
    assert "Mødet er flyttet" in shown
    assert "Flyttet" in shown  # in the history

    ics = unfold(secretary_client.get(f"/meetings/{meeting_id}/invite.ics").text)
    assert "SEQUENCE:1" in ics and "METHOD:REQUEST" in ics and f"UID:{meeting.uid}" in ics
    assert "DTSTART;TZID=Europe/Copenhagen:20261124T" in ics


def test_reschedule_without_a_slot_is_an_error_at_the_picker(secretary_client, meeting_id, read):
    response = secretary_client.post(f"/meetings/{meeting_id}/reschedule", data={
        "from": "2026-11-23", "to": "2026-11-27", "duration_minutes": "45", "action": "reschedule"})
    assert response.status_code == 422
    error = parse(response.text).by_id("f-slot-error")
    assert error is not None and "Vælg en af de ledige tider" in error.text()
    assert get_meeting(read, meeting_id).sequence == 0


def test_rescheduling_to_the_same_time_is_refused(secretary_client, world, meeting_id, read):
    response = secretary_client.post(f"/meetings/{meeting_id}/reschedule", data={
        "from": "2026-11-23", "to": "2026-11-27", "duration_minutes": "45", "action": "reschedule",
        "slot": f"{FIRST_SLOT_UTC}|{world.advisor.id}"})
    assert response.status_code == 422
    assert "Vælg et nyt tidspunkt" in parse(response.text).by_id("f-slot-error").text()
    assert get_meeting(read, meeting_id).sequence == 0


def test_cancel_without_reason_is_422_at_the_reason_field(secretary_client, meeting_id, read):
    assert secretary_client.get(f"/meetings/{meeting_id}/cancel").status_code == 200
    response = secretary_client.post(f"/meetings/{meeting_id}/cancel", data={"reason": "  "})
    assert response.status_code == 422
    assert_field_error(parse(response.text), "reason", "Skal udfyldes")
    assert get_meeting(read, meeting_id).status == MeetingStatus.booked


def test_cancel_with_reason_sends_cancel_and_removes_the_actions(secretary_client, meeting_id, read):
    response = secretary_client.post(f"/meetings/{meeting_id}/cancel", data={"reason": "Patienten er død"})
    assert response.status_code == 302 and response.location == f"/meetings/{meeting_id}"
    meeting = get_meeting(read, meeting_id)
    assert meeting.status == MeetingStatus.cancelled and meeting.cancel_reason == "Patienten er død"
    assert meeting.sequence == 1

    ics = unfold(secretary_client.get(f"/meetings/{meeting_id}/invite.ics").text)
    assert "METHOD:CANCEL" in ics and "STATUS:CANCELLED" in ics and f"UID:{meeting.uid}" in ics
    assert "Patienten er død" not in ics  # the reason stays in the system

    page = secretary_client.get(f"/meetings/{meeting_id}")
    assert page.status_code == 200
    hrefs = [a.attrs["href"] for a in parse(page.text).find_all("a")]
    assert f"/meetings/{meeting_id}/reschedule" not in hrefs
    assert f"/meetings/{meeting_id}/cancel" not in hrefs
    assert f"/meetings/{meeting_id}/invite.ics" in hrefs  # the CANCEL can still be fetched
    assert "Mødet er aflyst" in page.text and "Aflyst: Patienten er død" in page.text

    again = secretary_client.post(f"/meetings/{meeting_id}/cancel", data={"reason": "igen"})
    assert again.status_code in (409, 422)
    assert get_meeting(read, meeting_id).sequence == 1
    assert secretary_client.get("/meetings/").text.count(f'href="/meetings/{meeting_id}"') == 0


def test_a_cancelled_meeting_cannot_be_rescheduled(secretary_client, world, meeting_id, read):
    secretary_client.post(f"/meetings/{meeting_id}/cancel", data={"reason": "Udskrevet tidligere"})
    response = secretary_client.post(f"/meetings/{meeting_id}/reschedule", data={
        "from": "2026-11-23", "to": "2026-11-27", "duration_minutes": "45", "action": "reschedule",
        "slot": f"2026-11-24T10:00:00+00:00|{world.advisor.id}"})
    assert response.status_code in (409, 422)
    meeting = get_meeting(read, meeting_id)
    assert meeting.status == MeetingStatus.cancelled
    assert meeting.start_at == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_an_advisor_is_refused_the_change_forms_and_that_is_no_view_in_the_trail(
        meeting_id, client_for, world, read):
    from scheduler.models import AuditEntry
    from scheduler.services import audit

    advisor = client_for(world.advisor)  # she sees the meeting (her municipality) but may not change it
    assert advisor.get(f"/meetings/{meeting_id}").status_code == 200
    views = count(read, AuditEntry, AuditEntry.meeting_id == meeting_id, AuditEntry.action == audit.VIEW)
    for path in ("reschedule", "cancel"):
        assert advisor.get(f"/meetings/{meeting_id}/{path}").status_code == 403
    assert advisor.post(f"/meetings/{meeting_id}/cancel", data={"reason": "x"}).status_code == 403
    assert count(read, AuditEntry, AuditEntry.meeting_id == meeting_id, AuditEntry.action == audit.VIEW) == views
    assert get_meeting(read, meeting_id).status == MeetingStatus.booked
