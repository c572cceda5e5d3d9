"""Journey 1 in a real browser: a secretary logs in, books with the slot picker, sees the meeting
in her list and prints the patient's invitation."""
from .conftest import ARTIFACTS


def test_secretary_books_with_the_slot_picker_and_prints_the_invitation(page, live_app):
    page.goto(f"{live_app}/login")
    page.get_by_label("E-mail").fill("sekretaer.sonderborg@demo.example")
    page.get_by_label("Adgangskode").fill("demo1234")
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(f"{live_app}/meetings/")

    page.get_by_role("link", name="Ny udskrivningssamtale").click()
    page.locator("#f-patient-name").fill("Karl Jensen")
    page.locator("#f-patient-cpr").fill("010150-1234")
    page.locator("#f-staff-0-name").fill("Sofie Sygeplejerske")
    page.locator("#f-staff-0-email").fill("sofie@hospital.example")
    page.locator("#f-municipality").select_option("0540")
    page.get_by_role("button", name="Find ledige tider").click()
    first_slot = page.locator("input[name=slot]").first
    slot_label = page.locator("label.slot").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "journey1-slots.png"), full_page=True)
    first_slot.check()
    page.get_by_role("button", name="Book mødet").click()

    page.wait_for_url(f"{live_app}/meetings/*")
    assert page.get_by_text("Mødet er booket").is_visible()
    assert page.get_by_text("Karl Jensen").is_visible()
    assert "Mette Sundhedsvejleder" in slot_label or "Lars Sygeplejerske" in slot_label
    page.screenshot(path=str(ARTIFACTS / "journey1-meeting.png"), full_page=True)
    meeting_url = page.url

    page.get_by_role("link", name="Møder", exact=True).click()
    row = page.locator("table.list tbody tr")
    assert row.count() == 1 and "Kirurgisk afdeling" in row.first.inner_text()

    page.goto(meeting_url)
    page.get_by_role("link", name="Udskriv invitation til patienten").click()
    assert page.locator(".qr svg").is_visible()
    text = page.locator("main").inner_text()
    assert "https://meet.example.org/" in text and "010150" not in text and "1234" not in text
    page.screenshot(path=str(ARTIFACTS / "journey1-print.png"), full_page=True)
