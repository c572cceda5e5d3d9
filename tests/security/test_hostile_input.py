"""Hostile input: HTML in any free-text field is shown as text; a name cannot add a property or a
parameter to an invite nor a header to an e-mail; exports never hold a formula; oversized bodies and
fields are refused with a 4xx that names the field. Through the web forms and the JSON API."""
from __future__ import annotations

import csv
import email
import io
import json
from datetime import datetime, timedelta
from email.policy import default as default_policy
from types import SimpleNamespace

import pytest
from icalendar import Calendar
from markupsafe import escape
from openpyxl import load_workbook
from sqlmodel import select

from scheduler.jobs import send_outbox
from scheduler.models import (AnswerStatus, Meeting, MeetingOutcome, MeetingStatus, Offer, OfferPresentation,
                              OfferResponse, OutboxMessage, Participant, ParticipantRole, Role)
from scheduler.schemas import MeetingCreate, parse_input
from scheduler.services import booking
from scheduler.services.mail import build_message, display_name
from tests.web.html import parse

from .conftest import Browser, first_slot

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def hostile(label: str) -> str:
    """Markup that would run if a page printed it as HTML; `label` says where it came from."""
    return f'<script>alert("{label}")</script><img src=x onerror="alert(1)"> {label} & co'


def assert_no_markup_from_input(body: str) -> None:
    """The page holds no script element and no event-handler attribute (the app itself has neither)."""
    for node in parse(body).iter():
        assert node.tag != "script", "a script element on the page"
        assert not [a for a in node.attrs if a.lower().startswith("on")], f"<{node.tag} {node.attrs}>"


def assert_shown_as_text(body: str, *values: str) -> None:
    assert_no_markup_from_input(body)
    for value in values:
        assert value not in body, f"{value!r} printed as markup"
        assert str(escape(value)) in body, f"{value!r} not shown at all"


def assert_field_error(response, field_id: str, status: int = 422) -> None:  # type: ignore[no-untyped-def]
    """The form came back with the error next to the field (and not a 500)."""
    assert response.status_code == status, response.text[:500]
    node = parse(response.text).by_id(f"{field_id}-error")
    assert node is not None and node.text().strip(), f"no error shown at {field_id}"


def assert_api_error(response, field: str, status: int = 422) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text[:500]
    assert response.is_json and response.json["error"]
    assert field in response.json["fields"], response.json


def form_for(today, **values: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    first = today + timedelta(days=1)
    form = {"ward": "HOST", "municipality": "0540", "from": first.isoformat(),
            "to": (first + timedelta(days=4)).isoformat(), "duration_minutes": "45", "language": "da",
            "patient.name": "Karl Jensen", "patient.cpr": "0101501234", "patient.email": "karl@example.net",
            "relatives.0.name": "Grete Jensen", "relatives.0.email": "grete@example.net",
            "staff.0.name": "Sofie Sygeplejerske", "staff.0.email": "sofie@hospital.example"}
    form.update(values)
    return form


def api_body(start: str, **patient_and_parties) -> dict:  # type: ignore[no-untyped-def]
    body = {"ward": "HOST", "municipality": "0540", "start": start,
            "patient": {"name": "Karl Jensen", "cpr": "010150-1234", "email": "karl@example.net"},
            "relatives": [{"name": "Grete Jensen", "email": "grete@example.net"}],
            "staff": [{"name": "Sofie Sygeplejerske", "email": "sofie@hospital.example"}]}
    body.update(patient_and_parties)
    return body


@pytest.fixture
def people(session, factory, api_token):  # type: ignore[no-untyped-def]
    ward = factory.ward(code="HOST", name=hostile("ward"))
    secretary = factory.user(role=Role.secretary, ward=ward, name=hostile("secretary"))
    advisor = factory.advisor("0540", name=hostile("advisor"))
    coordinator = factory.user(role=Role.coordinator)
    coordinator.region_code = "DK-83"
    admin = factory.user(role=Role.admin)
    session.commit()
    return SimpleNamespace(ward=ward, secretary=secretary, advisor=advisor, coordinator=coordinator, admin=admin,
                           token=api_token(secretary))


@pytest.fixture
def today(now):  # type: ignore[no-untyped-def]
    return now.date()


def booked_id(response) -> int:  # type: ignore[no-untyped-def]
    assert response.status_code == 302, response.text[:1000]
    return int(response.location.rsplit("/", 1)[1])


def book_with_service(app, session, people, start: str, **body):  # type: ignore[no-untyped-def]
    meeting = booking.book_meeting(session, ctx=app.extensions["scheduler"].booking_context(),
                                   data=parse_input(MeetingCreate, api_body(start, **body)), booked_by=people.secretary)
    session.commit()
    return meeting


def parties_of(session, meeting_id: int) -> list[Participant]:  # type: ignore[no-untyped-def]
    rows = list(session.exec(select(Participant).where(Participant.meeting_id == meeting_id)))
    session.commit()
    return rows


# ---- HTML is shown as text


def test_html_in_names_is_shown_as_text_on_every_page(secure_app, session, people, today):
    names = {"patient.name": hostile("patient"), "relatives.0.name": hostile("relative"),
             "staff.0.name": hostile("staff")}
    secretary = Browser(secure_app, session, people.secretary)
    form = form_for(today, **names)
    form["slot"] = first_slot(secretary, form)
    meeting_id = booked_id(secretary.post("/meetings/new", data={**form, "action": "book"}))
    # The same names through the API, for a second meeting.
    response = secretary.client.post("/api/v1/meetings", headers=people.token, json=api_body(
        "2026-11-26T10:00:00+01:00", patient={"name": hostile("api patient")},
        relatives=[{"name": hostile("api relative")}],
        staff=[{"name": hostile("api staff"), "email": "lars@hospital.example"}]))
    assert response.status_code == 201, response.text
    assert response.json["participants"][0]["name"] == hostile("api patient")  # stored as typed
    assert response.headers["X-Content-Type-Options"] == "nosniff" and response.mimetype == "application/json"
    api_id = response.json["id"]

    page = secretary.get(f"/meetings/{meeting_id}").text
    assert_shown_as_text(page, *names.values(), hostile("advisor"), hostile("ward"), hostile("secretary"))
    assert_shown_as_text(secretary.get(f"/meetings/{api_id}").text, hostile("api patient"), hostile("api relative"),
                         hostile("api staff"))
    for path in ("/meetings/?show=all", f"/meetings/{meeting_id}/print", f"/meetings/{meeting_id}/cancel",
                 f"/meetings/{meeting_id}/reschedule"):
        response = secretary.get(path)
        assert response.status_code == 200, path
        assert_no_markup_from_input(response.text)
    assert_shown_as_text(secretary.get(f"/meetings/{meeting_id}/print").text, hostile("ward"))

    advisor = Browser(secure_app, session, people.advisor)
    for path in ("/advisor/", f"/meetings/{meeting_id}"):
        assert_no_markup_from_input(advisor.get(path).text)
    assert_shown_as_text(advisor.get("/advisor/").text, hostile("ward"))
    staff = next(p for p in parties_of(session, meeting_id) if p.role == ParticipantRole.staff)
    token = secure_app.extensions["scheduler"].mailer.links.token_for(staff)
    assert_shown_as_text(secure_app.test_client().get(f"/answer/{token}").text, hostile("ward"))


def test_comments_and_reasons_are_shown_as_text_and_stay_out_of_the_mails(secure_app, session, people):
    meeting = book_with_service(secure_app, session, people, "2026-11-25T10:00:00+01:00")
    mine = next(p for p in parties_of(session, meeting.id) if p.role == ParticipantRole.advisor)
    advisor = Browser(secure_app, session, people.advisor)
    response = advisor.post(f"/advisor/invitations/{mine.id}", data={"status": "declined",
                                                                      "comment": hostile("comment")})
    assert response.status_code == 302, response.text
    secretary = Browser(secure_app, session, people.secretary)
    assert_shown_as_text(secretary.get(f"/meetings/{meeting.id}").text, hostile("comment"))
    response = secretary.post(f"/meetings/{meeting.id}/cancel", data={"reason": hostile("reason")})
    assert response.status_code == 302, response.text
    assert_shown_as_text(secretary.get(f"/meetings/{meeting.id}").text, hostile("reason"))

    rows = session.exec(select(OutboxMessage).where(OutboxMessage.meeting_id == meeting.id)).all()
    session.commit()
    assert {"declined", "cancel"} <= {row.kind for row in rows}
    messages = [email.message_from_string(row.message, policy=default_policy) for row in rows]
    for message in messages:
        for part in message.walk():
            if part.get_content_type() == "text/html":
                assert_no_markup_from_input(part.get_content())
            if part.get_content_maintype() == "text":
                # The reason is for the system only; the comment goes to the booking secretary as text.
                assert hostile("reason") not in part.get_content()
                assert str(escape(hostile("reason"))) not in part.get_content()
                if part.get_content_type() == "text/html":
                    assert hostile("comment") not in part.get_content()


def test_the_advisors_own_texts_are_shown_as_text(secure_app, session, people, factory, now):
    advisor = Browser(secure_app, session, people.advisor)
    response = advisor.post("/advisor/absences", data={"start_at": "2027-01-04T08:00", "end_at": "2027-01-04T12:00",
                                                       "reason": hostile("absence")})
    assert response.status_code == 302, response.text
    assert_shown_as_text(advisor.get("/advisor/absences").text, hostile("absence"))

    past = factory.meeting(people.advisor, now - timedelta(days=2), ward=people.ward)
    session.commit()
    response = advisor.post(f"/advisor/meetings/{past.id}/record", data={"outcome": "held", "note": hostile("note")})
    assert response.status_code == 302, response.text
    assert_shown_as_text(advisor.get(f"/advisor/meetings/{past.id}/record").text, hostile("note"))

    url = 'javascript:alert(1)//"><script>alert("url")</script>'
    response = advisor.post("/advisor/busy-feed", data={"url": url, "action": "save"})
    assert_field_error(response, "f-url")
    assert_shown_as_text(response.text, url)


def test_offer_texts_are_shown_as_text(secure_app, session, people, factory, now):
    admin = Browser(secure_app, session, people.admin)
    texts = {"name": hostile("offer name"), "description": hostile("offer description"),
             "contact": hostile("offer contact")}
    response = admin.post("/catalogue/0540/new", data={"code": "HOSTILE", "category": "rygestop", **texts})
    assert response.status_code == 302, response.text
    assert_shown_as_text(admin.get("/catalogue/0540/").text, texts["name"])
    offer = session.exec(select(Offer).where(Offer.code == "HOSTILE")).one()
    session.commit()
    assert_shown_as_text(admin.get(f"/catalogue/0540/{offer.id}/edit").text, *texts.values())

    past = factory.meeting(people.advisor, now - timedelta(days=2), ward=people.ward)
    session.commit()
    assert_shown_as_text(Browser(secure_app, session, people.advisor).get(f"/advisor/meetings/{past.id}/record")
                         .text, texts["name"])


def test_reflected_values_are_shown_as_text(secure_app, session, people, today):
    value = hostile("reflected")
    anonymous = secure_app.test_client()
    response = anonymous.post("/login", data={"email": value, "password": "x", "csrf_token": _token(anonymous)})
    assert response.status_code == 401
    assert_shown_as_text(response.text, value)
    assert_no_markup_from_input(anonymous.get(f"/login?next={value}").text)

    coordinator = Browser(secure_app, session, people.coordinator)
    response = coordinator.get("/dashboard", query_string={"from": value})
    assert_field_error(response, "f-from")
    assert_shown_as_text(response.text, value)

    secretary = Browser(secure_app, session, people.secretary)
    assert_no_markup_from_input(secretary.get("/meetings/", query_string={"show": value}).text)
    response = secretary.post("/meetings/new", data={**form_for(today, **{"from": value}),
                                                     "action": "search"})
    assert_field_error(response, "f-from")
    assert_shown_as_text(response.text, value)


def _token(client) -> str:  # type: ignore[no-untyped-def]
    from .conftest import csrf_token

    return csrf_token(client)


# ---- names cannot add to an invite or an e-mail

INVITE_PARAMS = {"CN", "CUTYPE", "ROLE", "PARTSTAT", "RSVP"}
NAMES = {
    "patient": 'Jensen, Karl "P"; ROLE=CHAIR:mailto:evil@example.org',
    "relative": "Grete;RSVP=FALSE,Jensen:mailto:evil@example.org",
    "staff": 'Sofie "Boss" <boss@evil.example>, Bcc: evil@example.org; X-Y=1',
    "staff2": "Lars:mailto:evil@example.org;CN=Mallory",
}


def _invites(calendar_bytes: bytes) -> Calendar:
    return Calendar.from_ical(calendar_bytes)


def _shape(calendar: Calendar) -> tuple[list[str], list[str]]:
    """(calendar property names, event property names): what an injected line would change."""
    event = calendar.walk("VEVENT")[0]
    return sorted(calendar.keys()), sorted(event.keys())


def check_invite(calendar: Calendar, *, reference: Calendar, expected: dict[str, str]) -> None:
    """Same properties as an invite with plain names; each attendee's address and name exactly ours."""
    assert _shape(calendar) == _shape(reference)
    attendees = calendar.walk("VEVENT")[0].get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees]
    found = {}
    for attendee in attendees:
        assert set(attendee.params) <= INVITE_PARAMS, attendee.params
        address = str(attendee)
        assert address.lower().startswith("mailto:") and address.count(":") == 1, address
        found[address[7:].lower()] = attendee.params["CN"]
    assert len(attendees) == len(expected) and found == expected


def test_names_cannot_add_to_invites_or_mail_headers(mail_app, session, people, smtp_server, today):
    mail_app.config["WTF_CSRF_ENABLED"] = True
    services = mail_app.extensions["scheduler"]
    reference = book_with_service(mail_app, session, people, "2026-11-24T10:00:00+01:00",
                                  patient={"name": "Karl Jensen", "email": "plain.patient@example.net"},
                                  relatives=[{"name": "Grete Jensen", "email": "plain.relative@example.net"}],
                                  staff=[{"name": "Plain Name", "email": "plain@hospital.example"}])
    secretary = Browser(mail_app, session, people.secretary)
    response = secretary.client.post("/api/v1/meetings", headers=people.token, json=api_body(
        "2026-11-25T10:00:00+01:00", patient={"name": NAMES["patient"], "email": "karl@example.net"},
        relatives=[{"name": NAMES["relative"], "email": "grete@example.net"}],
        staff=[{"name": NAMES["staff"], "email": "sofie@hospital.example"},
               {"name": NAMES["staff2"], "email": "lars@hospital.example"}]))
    assert response.status_code == 201, response.text
    hostile_id = response.json["id"]
    form = form_for(today, **{"patient.name": NAMES["patient"],
                                                      "relatives.0.name": NAMES["relative"],
                                                      "staff.0.name": NAMES["staff2"],
                                                      "staff.0.email": "anna@hospital.example"})
    form["slot"] = first_slot(secretary, form)
    web_id = booked_id(secretary.post("/meetings/new", data={**form, "action": "book"}))
    assert send_outbox(services) > 0

    plain = _invites(services.calendars.read(reference.uid))
    advisor_email = people.advisor.email.lower()
    expected = {
        hostile_id: {"karl@example.net": "Borger", "grete@example.net": "Pårørende",
                     "sofie@hospital.example": NAMES["staff"], "lars@hospital.example": NAMES["staff2"],
                     advisor_email: hostile("advisor")},
        web_id: {"karl@example.net": "Borger", "grete@example.net": "Pårørende",
                 "anna@hospital.example": NAMES["staff2"], advisor_email: hostile("advisor")},
    }
    expected_by_uid = {session.get(Meeting, meeting_id).uid: attendees for meeting_id, attendees in expected.items()}
    session.commit()
    for uid, attendees in expected_by_uid.items():
        check_invite(_invites(services.calendars.read(uid)), reference=plain, expected=attendees)

    names_by_address = {"karl@example.net": NAMES["patient"], "grete@example.net": NAMES["relative"],
                        "sofie@hospital.example": NAMES["staff"], "lars@hospital.example": NAMES["staff2"],
                        "anna@hospital.example": NAMES["staff2"], advisor_email: hostile("advisor"),
                        "plain@hospital.example": "Plain Name", "plain.patient@example.net": "Karl Jensen",
                        "plain.relative@example.net": "Grete Jensen"}
    reference_headers = None
    for message, (_sender, recipients) in zip(smtp_server.messages, smtp_server.collector.envelopes):
        headers = sorted(message.keys())
        reference_headers = reference_headers or headers
        assert headers == reference_headers, message.keys()
        assert not {"Cc", "Bcc", "Reply-To"} & set(message.keys())
        (to,) = message["To"].addresses
        assert recipients == [to.addr_spec]
        # The name as typed, less the characters with a meaning in an address header.
        assert to.display_name == display_name(names_by_address[to.addr_spec.lower()])
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                calendar = _invites(part.get_content().encode())
                attendees = expected_by_uid.get(str(calendar.walk("VEVENT")[0]["UID"]))
                if attendees is not None:
                    check_invite(calendar, reference=plain, expected=attendees)
    assert {r[0] for _s, r in smtp_server.collector.envelopes} >= set(expected[hostile_id])


@pytest.mark.parametrize("name", [
    'Sofie Sygeplejerske Jensen Hansen Andersen Pedersen, evil@example.org, "x"',  # long: folded
    'Sofie "Boss" <evil@example.org>, Bcc: other@example.org',
    "Sørensen; Ærø Østergård-Ålund Hansen Pedersen Mikkelsen: Larsen (Nielsen) [Rasmussen] Poulsen",
])
def test_a_long_name_with_commas_cannot_add_a_recipient(name):
    """Python's header folding drops the quotes of a long quoted display name (CPython gh-80222), which would
    turn part of a name into more addresses: every To header holds exactly the one recipient."""
    message = build_message(sender_name=name, sender_email="noreply@example.org", recipient_name=name,
                            recipient_email="sofie@hospital.example", subject="Invitation", text="t",
                            html="<p>t</p>", now=datetime(2026, 11, 23, 8, 0).astimezone())
    parsed = email.message_from_bytes(message.as_bytes(), policy=default_policy)
    (to,) = parsed["To"].addresses
    (sender,) = parsed["From"].addresses
    assert (to.addr_spec, sender.addr_spec) == ("sofie@hospital.example", "noreply@example.org")
    assert "evil" not in to.addr_spec and to.display_name.replace(" ", "") == display_name(name).replace(" ", "")


def test_line_breaks_in_names_are_refused(secure_app, session, people, today):
    secretary = Browser(secure_app, session, people.secretary)
    for name in ("Karl\r\nATTENDEE:mailto:evil@example.org", "Karl\nBcc: evil@example.org", "Karl\rX"):
        response = secretary.client.post("/api/v1/meetings", headers=people.token, json=api_body(
            "2026-11-25T10:00:00+01:00", patient={"name": name},
            staff=[{"name": name, "email": "sofie@hospital.example"}]))
        assert_api_error(response, "patient.name")
        assert "staff.0.name" in response.json["fields"]
        form = form_for(today, **{"patient.name": name})
        form["slot"] = "2026-11-25T09:00:00+00:00|" + str(people.advisor.id)
        assert_field_error(secretary.post("/meetings/new", data={**form, "action": "book"}), "f-patient-name")
    assert session.exec(select(Meeting)).all() == []
    meeting = book_with_service(secure_app, session, people, "2026-11-25T10:00:00+01:00")
    response = secretary.client.patch(f"/api/v1/meetings/{meeting.id}", headers=people.token,
                                      json={"start": "2026-11-26T10:00:00+01:00", "reason": "a\r\nb"})
    assert_api_error(response, "reason")


# ---- no formulas in exports


@pytest.fixture
def formula_data(session, factory, people, now):  # type: ignore[no-untyped-def]
    """Rows as they might reach the database by any route: a ward code and offers that look like formulas."""
    ward = factory.ward(code='=HYPERLINK("http://evil.example")', name="=1+1")
    meeting = factory.meeting(people.advisor, now - timedelta(days=3), ward=ward)
    meeting.status, meeting.outcome = MeetingStatus.held, MeetingOutcome.held
    session.add(meeting)
    session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name="=cmd|' /C calc'!A0",
                            cpr="0101501234", status=AnswerStatus.accepted))
    for i, start in enumerate(FORMULA_STARTS):
        offer = Offer(municipality_code="0540", code=f"{start}c{i}", name=f"{start}SUM(1;2) navn {i}",
                      category="genoptraening", description=f"{start}beskrivelse", contact=f"{start}kontakt")
        session.add(offer)
        session.flush()
        session.add(OfferPresentation(meeting_id=meeting.id, offer_id=offer.id, response=OfferResponse.accepted,
                                      recorded_at=now))
    session.commit()
    return meeting


def csv_cells(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text[:500]
    text = response.get_data(as_text=True).lstrip("\ufeff")
    delimiter = ";" if text.split("\n", 1)[0].count(";") else ","
    return [cell for row in csv.reader(io.StringIO(text), delimiter=delimiter) for cell in row]


def xlsx_cells(response) -> list:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text[:500]
    book = load_workbook(io.BytesIO(response.get_data()))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells), [c.value for c in cells if c.data_type == "f"]
    return [cell.value for cell in cells if isinstance(cell.value, str)]


def assert_no_formula(cells: list[str], *, must_contain: str) -> None:
    assert [c for c in cells if c.startswith(FORMULA_STARTS)] == []
    assert any(must_contain in c for c in cells), f"{must_contain!r} missing: the export did not hold the data"


def test_exports_never_hold_a_formula(secure_app, session, people, formula_data, api_token):
    period = {"from": "2026-11-01", "to": "2026-11-30"}
    coordinator = Browser(secure_app, session, people.coordinator)
    ward_code = '=HYPERLINK("http://evil.example")'
    assert_no_formula(csv_cells(coordinator.get("/dashboard/uptake.csv", query_string=period)), must_contain=ward_code)
    assert_no_formula(xlsx_cells(coordinator.get("/dashboard/uptake.xlsx", query_string=period)),
                      must_contain=ward_code)
    assert_no_formula(csv_cells(coordinator.get("/dashboard/statistics.csv",
                                                query_string={**period, "group_by": "offer"})), must_contain="SUM(1;2)")
    headers = api_token(people.coordinator)
    for fmt, cells in (("csv", csv_cells), ("xlsx", xlsx_cells)):
        response = coordinator.client.get("/api/v1/exports/uptake", headers=headers, query_string={**period,
                                                                                                  "format": fmt})
        assert_no_formula(cells(response), must_contain="c0")
    admin = Browser(secure_app, session, people.admin)
    assert_no_formula(csv_cells(admin.get("/catalogue/0540/export.csv")), must_contain="SUM(1;2)")
    # The uptake log never holds a name, whatever it looks like.
    body = coordinator.get("/dashboard/uptake.csv", query_string=period).get_data(as_text=True)
    assert "calc" not in body and "0101501234" not in body


# ---- oversized bodies and fields


def test_oversized_bodies_are_refused_with_413(secure_app, session, people):
    secretary = Browser(secure_app, session, people.secretary)
    big = "x" * (300 * 1024)
    response = secretary.client.post("/api/v1/meetings", headers=people.token, data=json.dumps({"ward": big}),
                                     content_type="application/json")
    assert response.status_code == 413 and response.is_json and response.json["error"]
    response = secretary.post("/meetings/new", data={"patient.name": big, "action": "search"})
    assert response.status_code == 413 and "Traceback" not in response.text
    admin = Browser(secure_app, session, people.admin)
    response = admin.post("/catalogue/0540/import", data={"file": (io.BytesIO(big.encode()), "big.csv")})
    assert response.status_code == 413
    assert session.exec(select(Meeting)).all() == [] and session.exec(select(Offer)).all() == []


def test_oversized_fields_are_refused_naming_the_field(secure_app, session, people, factory, now, today, api_token):
    secretary = Browser(secure_app, session, people.secretary)
    response = secretary.client.post("/api/v1/meetings", headers=people.token, json=api_body(
        "2026-11-25T10:00:00+01:00", patient={"name": "K" * 201},
        staff=[{"name": "S" * 201, "email": "s" * 250 + "@hospital.example"}]))
    assert_api_error(response, "patient.name")
    assert {"staff.0.name", "staff.0.email"} <= set(response.json["fields"])
    response = secretary.client.get("/api/v1/slots", headers=people.token,
                                    query_string={"municipality": "0" * 5000, "from": "2026-11-24", "to": "2026-11-25"})
    assert_api_error(response, "municipality")

    form = form_for(today, **{"patient.name": "K" * 201})
    form["slot"] = first_slot(secretary, form_for(today))
    assert_field_error(secretary.post("/meetings/new", data={**form, "action": "book"}), "f-patient-name")
    meeting = book_with_service(secure_app, session, people, "2026-11-25T10:00:00+01:00")
    response = secretary.client.post(f"/api/v1/meetings/{meeting.id}/cancel", headers=people.token,
                                     json={"reason": "r" * 501})
    assert_api_error(response, "reason")
    assert_field_error(secretary.post(f"/meetings/{meeting.id}/cancel", data={"reason": "r" * 501}), "f-reason")

    staff = next(p for p in parties_of(session, meeting.id) if p.role == ParticipantRole.staff)
    token = secure_app.extensions["scheduler"].mailer.links.token_for(staff)
    anonymous = secure_app.test_client()
    response = anonymous.post(f"/answer/{token}", data={"status": "declined", "comment": "c" * 501,
                                                        "csrf_token": _token(anonymous)})
    assert_field_error(response, "f-comment")

    advisor = Browser(secure_app, session, people.advisor)
    assert_field_error(advisor.post("/advisor/absences", data={
        "start_at": "2027-01-04T08:00", "end_at": "2027-01-04T12:00", "reason": "r" * 201}), "f-reason")
    assert_field_error(advisor.post("/advisor/busy-feed", data={"url": "https://example.org/" + "a" * 1100,
                                                                "action": "save"}), "f-url")
    past = factory.meeting(people.advisor, now - timedelta(days=2), ward=people.ward)
    session.commit()
    assert_field_error(advisor.post(f"/advisor/meetings/{past.id}/record", data={"outcome": "held",
                                                                                 "note": "n" * 1001}), "f-note")
    response = advisor.client.put(f"/api/v1/meetings/{past.id}/offers", headers=api_token(people.advisor),
                                  json={"offers": [], "note": "n" * 1001})
    assert_api_error(response, "note")

    admin = Browser(secure_app, session, people.admin)
    assert_field_error(admin.post("/catalogue/0540/new", data={"code": "X1", "name": "n" * 201,
                                                               "category": "rygestop"}), "f-name")
    response = anonymous.post("/login", data={"email": "e" * 100_000, "password": "p" * 100_000,
                                              "csrf_token": _token(anonymous)})
    assert response.status_code == 401
    # Nothing was stored from the refused requests.
    assert session.exec(select(Offer)).all() == []
    assert [m.id for m in session.exec(select(Meeting))] == [meeting.id, past.id]
    session.commit()


def test_nul_characters_are_refused_naming_the_field(secure_app, session, people, api_token):
    """PostgreSQL cannot store a NUL character; before this check, one in a login, a search or a form field
    reached a query there and failed as a 500. Now any such request is refused and the field named."""
    anonymous = secure_app.test_client()
    response = anonymous.post("/login", data={"email": "karl\x00@example.net", "password": "x",
                                              "csrf_token": _token(anonymous)})
    assert response.status_code == 422 and "Traceback" not in response.text
    admin = Browser(secure_app, session, people.admin)
    for response in (admin.get("/admin/users/", query_string={"q": "a\x00"}),
                     admin.get("/catalogue/%00%00%00%00/"),
                     admin.post("/admin/users/new", data={"email": "ny@example.org", "name": "Ny", "role": "advisor",
                                                          "language": "da", "municipality_code": "\x00"})):
        assert response.status_code == 422, response.request.path
    headers = api_token(people.coordinator)
    response = anonymous.get("/api/v1/exports/uptake", headers=headers, query_string={"municipality": "05\x0040"})
    assert_api_error(response, "municipality")
    response = anonymous.post("/api/v1/meetings", headers=people.token, json=api_body(
        "2026-11-25T10:00:00+01:00", ward="ONK\x00"))  # JSON bodies: the schemas refuse control characters
    assert_api_error(response, "ward")
