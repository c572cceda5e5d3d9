"""Journey 5 in a real browser: a secretary reschedules and cancels; the updated invitations arrive."""
from icalendar import Calendar

from scheduler.jobs import send_outbox

from .conftest import ARTIFACTS, book_in_browser, log_in


def calendars_of(messages):
    found = []
    for message in messages:
        part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
        found.append(Calendar.from_ical(part.get_content()))
    return found


def test_secretary_reschedules_and_cancels_and_everyone_is_told(page, live_server, smtp_server):
    base, app = live_server
    services = app.extensions["scheduler"]
    log_in(page, base, "sekretaer.sonderborg@demo.example")
    book_in_browser(page, base, patient_email="karl@example.net")
    assert send_outbox(services) == 3
    smtp_server.messages.clear()

    page.get_by_role("link", name="Flyt mødet").click()
    page.get_by_role("button", name="Find ledige tider").click()
    page.locator("input[name=slot]").nth(3).check()
    page.locator("#f-reason").fill("Lægen er optaget")
    page.get_by_role("button", name="Flyt mødet").click()
    assert page.get_by_text("Mødet er flyttet").is_visible()
    page.screenshot(path=str(ARTIFACTS / "journey5-rescheduled.png"), full_page=True)
    assert send_outbox(services) == 3
    updates = calendars_of(smtp_server.messages)
    assert {c["METHOD"] for c in updates} == {"REQUEST"}
    assert {c.walk("VEVENT")[0]["SEQUENCE"] for c in updates} == {1}
    smtp_server.messages.clear()

    page.get_by_role("link", name="Aflys mødet").click()
    page.locator("#f-reason").fill("Patienten er allerede udskrevet")
    page.get_by_role("button", name="Aflys mødet").click()
    assert page.get_by_text("Mødet er aflyst").first.is_visible()
    assert send_outbox(services) == 3
    cancels = calendars_of(smtp_server.messages)
    assert {c["METHOD"] for c in cancels} == {"CANCEL"}
    assert {c.walk("VEVENT")[0]["STATUS"] for c in cancels} == {"CANCELLED"}
    assert all("udskrevet" not in m.as_string() for m in smtp_server.messages)
