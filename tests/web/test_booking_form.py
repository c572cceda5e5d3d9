"""The new-meeting form: slot picker, booking, errors next to the field, typed values kept."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from scheduler.models import Meeting, MeetingStatus, Participant, ParticipantRole
from scheduler.schemas import MeetingCreate, parse_input
from scheduler.services import booking

from .conftest import FIRST_SLOT_UTC, book_via_form, booked_id, count, first_slot, get_meeting, meeting_form, \
    participants
from .html import assert_field_error, control, labelled, parse, radios, value_of

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
TYPED = ("patient.name", "patient.cpr", "patient.email", "patient.phone", "relatives.0.name",
         "relatives.0.email", "staff.0.name", "staff.0.email", "staff.1.name", "staff.1.email", "from", "to",
         "duration_minutes")


def assert_kept(page, form: dict[str, str], names=TYPED) -> None:
    for name in names:
        assert value_of(page, name) == form[name], name


def assert_nothing_saved(read) -> None:
    assert count(read, Meeting) == 0
    assert count(read, Participant) == 0


def test_get_shows_the_form_with_a_label_for_every_field(secretary_client, world):
    response = secretary_client.get("/meetings/new")
    assert response.status_code == 200
    page = parse(response.text)
    controls = [n for n in page.iter() if n.tag in ("input", "select", "textarea")
                and n.attrs.get("type") != "hidden"]
    names = {n.attrs["name"] for n in controls}
    assert {"ward", "patient.name", "patient.cpr", "staff.0.email", "municipality", "from", "to"} <= names
    unlabelled = [n.attrs.get("name") for n in controls if not labelled(page, n)]
    assert unlabelled == []
    assert value_of(page, "ward") == world.ward.code
    assert value_of(page, "from") == "2026-11-23"  # today in Copenhagen, from the frozen clock
    assert radios(page) == []  # no slots before a search


def test_search_lists_slot_radios_grouped_by_day(secretary_client, world):
    form = meeting_form(world.ward.code)
    response = secretary_client.post("/meetings/new", data={**form, "action": "search"})
    assert response.status_code == 200
    page = parse(response.text)
    slots = radios(page)
    assert slots, "no slots"
    assert slots[0].attrs["value"] == f"{FIRST_SLOT_UTC}|{world.advisor.id}"
    assert all(labelled(page, r) for r in slots)
    assert "Mette Rådgiver" in page.by_id("f-slot").text()

    # Each radio sits under the heading of its own local day, and the days come in order.
    picker = page.by_id("f-slot")
    heading, seen_days = None, []
    for node in picker.iter():
        if node.tag == "h3":
            heading = node.text()
            seen_days.append(heading)
        elif node.tag == "input" and node.attrs.get("type") == "radio":
            start, _, advisor_id = node.attrs["value"].partition("|")
            assert advisor_id == str(world.advisor.id)
            day = datetime.fromisoformat(start).astimezone(COPENHAGEN).date()
            assert heading is not None and heading.endswith(f"{day.day}. november 2026"), (heading, start)
    assert seen_days[0].startswith("mandag") and seen_days[0].endswith(" 23. november 2026")
    assert seen_days[1].startswith("tirsdag") and seen_days[1].endswith(" 24. november 2026")
    assert len(seen_days) == len(set(seen_days)) >= 2
    assert_kept(page, form)  # a search keeps what was typed too


def test_book_saves_the_meeting_with_all_parties(secretary_client, world, read):
    response = book_via_form(secretary_client, world.ward)
    meeting = get_meeting(read, booked_id(response))
    assert meeting.start_at == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert meeting.advisor_id == world.advisor.id and meeting.booked_by_id == world.secretary.id
    assert meeting.ward_id == world.ward.id and meeting.status == MeetingStatus.booked
    people = {(p.role, p.name, p.email) for p in participants(read, meeting.id)}
    assert people == {
        (ParticipantRole.patient, "Karl Jensen", "karl@example.net"),
        (ParticipantRole.relative, "Grete Jensen", "grete@example.net"),
        (ParticipantRole.staff, "Sygeplejerske Sofie", "sofie@hospital.example"),
        (ParticipantRole.staff, "Læge Lars", "lars@hospital.example"),
        (ParticipantRole.advisor, "Mette Rådgiver", world.advisor.email),
    }
    patient = next(p for p in participants(read, meeting.id) if p.role == ParticipantRole.patient)
    assert patient.cpr == "0101501234" and patient.phone == "+45 20 30 40 50"
    page = secretary_client.get(response.location)
    assert "Mødet er booket" in page.text  # the flash message


INVALID = [
    pytest.param({"patient.name": ""}, "patient.name", "Skal udfyldes", id="missing-patient-name"),
    pytest.param({"patient.cpr": "12345"}, "patient.cpr", "CPR-nummeret skal være 10 cifre", id="bad-cpr"),
    pytest.param({"patient.cpr": "310250-1234"}, "patient.cpr", "gyldig fødselsdato", id="impossible-cpr-date"),
    pytest.param({"patient.email": "karl@example"}, "patient.email", "Ugyldig e-mailadresse", id="bad-email"),
    pytest.param({"staff.0.email": "sofie"}, "staff.0.email", "Ugyldig e-mailadresse", id="bad-staff-email"),
    pytest.param({"staff.1.email": ""}, "staff.1.email", "Skal udfyldes", id="staff-without-email"),
]


@pytest.mark.parametrize(("change", "field", "message"), INVALID)
def test_invalid_booking_is_422_with_the_error_at_the_field_and_everything_kept(
        secretary_client, world, read, change, field, message):
    form = meeting_form(world.ward.code)
    slot = first_slot(secretary_client, form)
    form.update(change, slot=slot)
    response = secretary_client.post("/meetings/new", data={**form, "action": "book"})
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, field, message)
    assert_kept(page, form)
    assert value_of(page, "municipality") == "0540" and value_of(page, "ward") == world.ward.code
    assert [r.attrs["value"] for r in radios(page) if "checked" in r.attrs] == [slot]  # the chosen slot too
    assert page.find_all(role="alert"), "no error summary"
    assert_nothing_saved(read)


def test_missing_staff_is_422_with_the_error_at_the_first_staff_row(secretary_client, world, read):
    form = meeting_form(world.ward.code, **{"staff.0.name": "", "staff.0.email": "", "staff.1.name": "",
                                             "staff.1.email": ""})
    form["slot"] = first_slot(secretary_client, form)
    response = secretary_client.post("/meetings/new", data={**form, "action": "book"})
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, "staff.0.name", "Mindst 1")
    assert_kept(page, form, names=("patient.name", "patient.cpr", "patient.email", "relatives.0.name"))
    # The summary links to something that exists on the page.
    for link in page.find_all(role="alert")[0].find_all("a"):
        assert page.by_id(link.attrs["href"].lstrip("#")) is not None, link.attrs["href"]
    assert_nothing_saved(read)


@pytest.mark.parametrize("action", ["search", "book"])
def test_unknown_municipality_is_422_at_the_municipality(secretary_client, world, read, action):
    form = meeting_form(world.ward.code, municipality="9999", slot=f"{FIRST_SLOT_UTC}|{world.advisor.id}")
    response = secretary_client.post("/meetings/new", data={**form, "action": action})
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, "municipality", "Ukendt kommune")
    assert_kept(page, form)
    assert_nothing_saved(read)


def test_from_after_to_is_422_at_the_to_field(secretary_client, world, read):
    form = meeting_form(world.ward.code, **{"from": "2026-11-27", "to": "2026-11-23"},
                        slot=f"{FIRST_SLOT_UTC}|{world.advisor.id}")
    response = secretary_client.post("/meetings/new", data={**form, "action": "book"})
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, "to", "Slutdatoen ligger før startdatoen")
    assert_kept(page, form)
    assert_nothing_saved(read)


def test_book_without_a_slot_shows_the_error_at_the_slot_picker(secretary_client, world, read):
    form = meeting_form(world.ward.code)
    response = secretary_client.post("/meetings/new", data={**form, "action": "book"})
    assert response.status_code == 422
    page = parse(response.text)
    error = page.by_id("f-slot-error")
    assert error is not None and "Vælg en af de ledige tider" in error.text()
    assert error in list(page.by_id("f-slot").iter())
    assert radios(page), "the slots must still be there to choose from"
    assert_kept(page, form)
    assert_nothing_saved(read)


def test_a_slot_taken_meanwhile_is_a_clear_conflict_with_fresh_slots(secretary_client, world, session, ctx, read):
    form = meeting_form(world.ward.code)
    slot = first_slot(secretary_client, form)
    start, _, advisor_id = slot.partition("|")
    # Another secretary books the same advisor and time between the search and the click.
    booking.book_meeting(session, ctx=ctx, booked_by=world.secretary, data=parse_input(MeetingCreate, {
        "ward": world.ward.code, "municipality": "0540", "start": start, "advisor_id": advisor_id,
        "patient": {"name": "Anden Patient"}, "staff": [{"name": "Anden", "email": "anden@hospital.example"}]}))
    session.commit()

    response = secretary_client.post("/meetings/new", data={**form, "slot": slot, "action": "book"})
    assert response.status_code in (409, 422)
    page = parse(response.text)
    assert "Rådgiveren har et andet møde" in page.find_all(role="alert")[0].text()
    assert count(read, Meeting) == 1
    assert count(read, Participant, Participant.name == "Karl Jensen") == 0
    fresh = [r.attrs["value"] for r in radios(page)]
    assert fresh and slot not in fresh
    assert not any("checked" in r.attrs for r in radios(page))
    assert_kept(page, form)


def test_html_in_a_name_is_shown_escaped(secretary_client, world):
    response = book_via_form(secretary_client, world.ward, **{"patient.name": "<script>alert(1)</script>"})
    page = secretary_client.get(response.location).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page


def test_a_secretary_cannot_book_for_another_ward(secretary_client, world, factory, session, read):
    other = factory.ward(code="KIR", name="Kirurgisk afdeling")
    session.commit()
    form = meeting_form(other.code)
    form["slot"] = first_slot(secretary_client, form)
    response = secretary_client.post("/meetings/new", data={**form, "action": "book"})
    assert response.status_code in (403, 422)
    assert "egne afdelinger" in response.text
    assert_nothing_saved(read)
