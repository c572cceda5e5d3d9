"""The advisor's own pages: inbox and answers in place, working hours, absences, calendar feed."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar
from sqlmodel import select

from scheduler.models import Absence, AnswerStatus, MeetingStatus, ParticipantRole, WorkingHours
from scheduler.services.availability import find_free_slots
from scheduler.services.rules import BookingRules

from .conftest import book_via_form, booked_id, count, get_meeting, participants
from .html import assert_field_error, parse, value_of

ZONE = ZoneInfo("Europe/Copenhagen")
NEXT_WEEK = (date(2026, 11, 30), date(2026, 12, 4))  # Monday to Friday


@pytest.fixture
def advisor_client(client_for, world):
    return client_for(world.advisor)


@pytest.fixture
def meeting_id(secretary_client, world):
    return booked_id(book_via_form(secretary_client, world.ward))


def advisor_party(read, meeting_id):
    return next(p for p in participants(read, meeting_id) if p.role == ParticipantRole.advisor)


def free_slots(read, config, advisor, now, days=NEXT_WEEK):
    return read(lambda s: find_free_slots(s, rules=BookingRules.from_config(config), municipality_code="0540",
                                          from_date=days[0], to_date=days[1], duration=timedelta(minutes=45),
                                          now=now, advisor_id=advisor.id))


def local_days(slots) -> set[date]:
    return {s.start_at.astimezone(ZONE).date() for s in slots}


# ---- access


def test_only_advisors_get_the_advisor_pages(client, secretary_client, advisor_client):
    for path in ("/advisor/", "/advisor/hours", "/advisor/absences", "/advisor/calendar-feed"):
        assert client.get(path).status_code == 302 and "/login" in client.get(path).location
        assert secretary_client.get(path).status_code == 403
        response = advisor_client.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    nav = parse(advisor_client.get("/advisor/").text).find_all("nav")[0]
    assert {a.attrs["href"] for a in nav.find_all("a")} >= {"/advisor/", "/advisor/hours", "/advisor/absences",
                                                            "/advisor/calendar-feed"}
    secretary_nav = parse(secretary_client.get("/meetings/").text).find_all("nav")[0]
    assert "/advisor/" not in {a.attrs["href"] for a in secretary_nav.find_all("a")}


# ---- inbox


def test_the_inbox_lists_her_invitations_and_she_answers_in_place(advisor_client, meeting_id, read, world, factory,
                                                                 session, secretary_client):
    other = factory.advisor("0540", name="Anne Rådgiver")
    session.commit()
    others = booked_id(book_via_form(secretary_client, world.ward, advisor_id=str(other.id),
                                     **{"staff.0.email": "s2@hospital.example", "staff.1.email": None,
                                        "staff.1.name": None}))
    page = parse(advisor_client.get("/advisor/").text)
    inbox = page.by_id("inbox-h").parent
    party = advisor_party(read, meeting_id)
    action = f"/advisor/invitations/{party.id}"
    assert [f.attrs["action"] for f in inbox.find_all("form")] == [action]
    assert "mandag den 23. november 2026 kl. 11.00" in inbox.text() and "Onkologisk afdeling" in inbox.text()
    upcoming = page.by_id("upcoming-h").parent
    assert f"/meetings/{meeting_id}" in {a.attrs["href"] for a in upcoming.find_all("a")}
    assert f"/meetings/{others}" not in advisor_client.get("/advisor/").text
    assert "Karl" not in page.text() and "010150" not in page.text()

    response = advisor_client.post(action, data={"status": "accepted"})
    assert response.status_code == 302 and response.location == "/advisor/"
    assert advisor_party(read, meeting_id).status == AnswerStatus.accepted
    assert get_meeting(read, meeting_id).status == MeetingStatus.confirmed

    page = parse(advisor_client.get("/advisor/").text)
    assert "Dit svar er gemt" in page.text()
    assert not page.by_id("inbox-h").parent.find_all("form")
    row = next(tr for tr in page.by_id("upcoming-h").parent.find_all("tr") if f"/meetings/{meeting_id}" in
               {a.attrs.get("href") for a in tr.find_all("a")})
    assert "Accepteret" in row.text() and "Bekræftet" in row.text()
    change = next(a.attrs["href"] for a in row.find_all("a") if a.attrs["href"].startswith("/answer/"))
    assert advisor_client.get(change).status_code == 200  # her personal link, to change her answer


def test_declining_in_place_needs_a_reason_next_to_the_field(advisor_client, meeting_id, read):
    action = f"/advisor/invitations/{advisor_party(read, meeting_id).id}"
    response = advisor_client.post(action, data={"status": "declined", "comment": ""})
    assert response.status_code == 422
    assert_field_error(parse(response.text), "comment", "Skriv hvorfor du afviser")
    assert advisor_party(read, meeting_id).status == AnswerStatus.needs_action

    response = advisor_client.post(action, data={"status": "declined", "comment": "Syg"})
    assert response.status_code == 302
    assert get_meeting(read, meeting_id).needs_rebooking
    page = parse(advisor_client.get("/advisor/").text)
    assert "Skal bookes om" in page.by_id("upcoming-h").parent.text()


def test_she_cannot_answer_someone_elses_invitation(client_for, factory, session, meeting_id, read):
    other = client_for(factory.advisor("0540", name="Anne Rådgiver"))
    response = other.post(f"/advisor/invitations/{advisor_party(read, meeting_id).id}", data={"status": "accepted"})
    assert response.status_code == 404
    assert advisor_party(read, meeting_id).status == AnswerStatus.needs_action


# ---- working hours


def test_working_hours_are_saved_and_used_by_the_slot_search(advisor_client, world, read, config, now):
    page = parse(advisor_client.get("/advisor/hours").text)
    assert value_of(page, "hours.mon") == "08:00-15:30" and value_of(page, "hours.sat") == ""
    assert "standardarbejdstiden" in page.text()

    form = {f"hours.{d}": "" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    form["hours.mon"] = "09:00-10:30, 13:00-14:00"
    response = advisor_client.post("/advisor/hours", data={**form, "action": "save"})
    assert response.status_code == 302 and response.location == "/advisor/hours"
    assert count(read, WorkingHours, WorkingHours.user_id == world.advisor.id) == 2

    slots = free_slots(read, config, world.advisor, now)
    assert local_days(slots) == {date(2026, 11, 30)}
    starts = sorted(s.start_at.astimezone(ZONE).time() for s in slots)
    assert starts[0] == time(9, 0) and starts[-1] == time(13, 15)
    assert all(time(9) <= t <= time(9, 45) or time(13) <= t <= time(13, 15) for t in starts)
    page = parse(advisor_client.get("/advisor/hours").text)
    assert value_of(page, "hours.mon") == "09:00-10:30, 13:00-14:00" and value_of(page, "hours.tue") == ""

    response = advisor_client.post("/advisor/hours", data={**form, "action": "reset"})
    assert response.status_code == 302
    assert count(read, WorkingHours, WorkingHours.user_id == world.advisor.id) == 0
    assert len(local_days(free_slots(read, config, world.advisor, now))) == 5


@pytest.mark.parametrize("field, value, message", [
    ("hours.tue", "9-17", "Skriv tider som 08:00-15:30"),
    ("hours.wed", "12:00-08:00", "Skriv tider som 08:00-15:30"),
    ("hours.thu", "08:00-12:00, 11:00-13:00", "uden overlap"),
])
def test_bad_working_hours_are_shown_at_the_field_with_the_value_kept(advisor_client, world, read, field, value,
                                                                     message):
    form = {"hours.mon": "08:00-15:30", field: value, "action": "save"}
    response = advisor_client.post("/advisor/hours", data=form)
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, field, message)
    assert value_of(page, field) == value and value_of(page, "hours.mon") == "08:00-15:30"
    assert count(read, WorkingHours, WorkingHours.user_id == world.advisor.id) == 0


def test_a_week_without_any_hours_is_refused(advisor_client):
    response = advisor_client.post("/advisor/hours", data={"hours.mon": " ", "action": "save"})
    assert response.status_code == 422
    assert_field_error(parse(response.text), "hours.mon", "Angiv mindst én arbejdsdag")


# ---- absences


def test_an_absence_blocks_slots_until_it_is_deleted(advisor_client, world, read, config, now):
    assert date(2026, 12, 1) in local_days(free_slots(read, config, world.advisor, now))
    response = advisor_client.post("/advisor/absences", data={
        "start_at": "2026-12-01T00:00", "end_at": "2026-12-02T00:00", "reason": "Kursus"})
    assert response.status_code == 302 and response.location == "/advisor/absences"
    absence = read(lambda s: s.exec(select(Absence)).one())
    assert absence.start_at == datetime(2026, 11, 30, 23, tzinfo=UTC)  # local midnight
    assert absence.user_id == world.advisor.id and absence.reason == "Kursus"
    assert local_days(free_slots(read, config, world.advisor, now)) == {date(2026, 11, 30), date(2026, 12, 2),
                                                                         date(2026, 12, 3), date(2026, 12, 4)}
    page = parse(advisor_client.get("/advisor/absences").text)
    assert "Kursus" in page.text() and "1/12 kl. 00.00" in page.text()

    delete = next(f.attrs["action"] for f in page.find_all("form") if f.attrs["action"].endswith("/delete"))
    assert advisor_client.post(delete).status_code == 302
    assert count(read, Absence) == 0
    assert date(2026, 12, 1) in local_days(free_slots(read, config, world.advisor, now))


@pytest.mark.parametrize("form, field, message", [
    ({"end_at": "2026-12-02T00:00"}, "start_at", "Skal udfyldes"),
    ({"start_at": "2026-12-02T10:00", "end_at": "2026-12-02T09:00"}, "end_at", "slutte efter"),
    ({"start_at": "2026-11-20T10:00", "end_at": "2026-11-21T09:00"}, "end_at", "allerede slut"),
    ({"start_at": "2. december", "end_at": "2026-12-03T09:00"}, "start_at", "Ugyldigt tidspunkt"),
    ({"start_at": "2027-03-28T02:30", "end_at": "2027-03-28T09:00"}, "start_at", "sommertid"),  # DST gap
])
def test_bad_absences_are_shown_at_the_field(advisor_client, read, form, field, message):
    response = advisor_client.post("/advisor/absences", data={"reason": "Ferie", **form})
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, field, message)
    assert value_of(page, "reason") == "Ferie"
    assert count(read, Absence) == 0


def test_she_cannot_delete_someone_elses_absence(advisor_client, factory, session, read):
    other = factory.advisor("0540")
    session.add(Absence(user_id=other.id, start_at=datetime(2026, 12, 1, tzinfo=UTC),
                        end_at=datetime(2026, 12, 2, tzinfo=UTC)))
    session.commit()
    absence_id = read(lambda s: s.exec(select(Absence.id)).one())
    assert advisor_client.post(f"/advisor/absences/{absence_id}/delete").status_code == 404
    assert count(read, Absence) == 1


# ---- calendar feed


def feed_path(response) -> tuple[str, str]:
    page = parse(response.text)
    url = page.by_id("f-feed-url").attrs["value"]
    webcal = next(a.attrs["href"] for a in page.find_all("a") if a.attrs.get("href", "").startswith("webcal://"))
    return url, webcal


def test_the_calendar_feed_holds_her_meetings_and_can_be_rotated_and_revoked(
        advisor_client, client, meeting_id, read, world, factory, session, secretary_client):
    other = factory.advisor("0540", name="Anne Rådgiver")
    session.commit()
    others = booked_id(book_via_form(secretary_client, world.ward, advisor_id=str(other.id),
                                     **{"staff.0.email": "s2@hospital.example", "staff.1.email": None,
                                        "staff.1.name": None}))
    assert "intet kalenderabonnement" in advisor_client.get("/advisor/calendar-feed").text

    response = advisor_client.post("/advisor/calendar-feed")
    assert response.status_code == 200
    url, webcal = feed_path(response)
    assert url.startswith("http://127.0.0.1:5000/feeds/dscal_") and url.endswith(".ics")
    assert webcal == "webcal://" + url.removeprefix("http://")
    shown_again = advisor_client.get("/advisor/calendar-feed").text
    assert urlsplit(url).path not in shown_again and "aktivt kalenderabonnement" in shown_again

    feed = client.get(urlsplit(url).path)  # no login: the calendar app fetches it
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    calendar = Calendar.from_ical(feed.data)
    assert "METHOD" not in calendar
    uids = [str(e["UID"]) for e in calendar.walk("VEVENT")]
    assert uids == [get_meeting(read, meeting_id).uid]
    assert get_meeting(read, others).uid not in feed.text
    assert len(vobject.readOne(feed.text).vevent_list) == 1
    for secret in ("Karl", "Jensen", "karl@example.net", "010150", "1234"):
        assert secret not in feed.text

    rotated, _ = feed_path(advisor_client.post("/advisor/calendar-feed"))
    assert rotated != url
    assert client.get(urlsplit(url).path).status_code == 404
    assert client.get(urlsplit(rotated).path).status_code == 200

    response = advisor_client.post("/advisor/calendar-feed/revoke")
    assert response.status_code == 302
    assert client.get(urlsplit(rotated).path).status_code == 404
    assert "intet kalenderabonnement" in advisor_client.get("/advisor/calendar-feed").text
    assert client.get("/feeds/dscal_nonsense.ics").status_code == 404


def test_a_cancelled_meeting_leaves_the_feed(advisor_client, client, secretary_client, meeting_id, read):
    url, _ = feed_path(advisor_client.post("/advisor/calendar-feed"))
    assert get_meeting(read, meeting_id).uid in client.get(urlsplit(url).path).text
    secretary_client.post(f"/meetings/{meeting_id}/cancel", data={"reason": "Udskrevet"})
    calendar = Calendar.from_ical(client.get(urlsplit(url).path).data)
    assert calendar.walk("VEVENT") == [] and calendar.walk("VTIMEZONE")


def test_answering_a_meeting_cancelled_meanwhile_explains_why(advisor_client, secretary_client, meeting_id, read):
    action = f"/advisor/invitations/{advisor_party(read, meeting_id).id}"
    secretary_client.post(f"/meetings/{meeting_id}/cancel", data={"reason": "Udskrevet"})
    response = advisor_client.post(action, data={"status": "accepted"})
    assert response.status_code == 409
    assert "kan ikke længere besvares" in parse(response.text).find_all("p", class_="error-summary")[0].text()
    assert advisor_party(read, meeting_id).status == AnswerStatus.needs_action
