"""The booking form by keyboard alone: Tab and Shift+Tab, typing, Enter, arrow keys in the slot
picker. Focus is always visible and moves in reading order; errors are announced and tied to their field."""
from __future__ import annotations

import re

from playwright.sync_api import Page
from sqlmodel import select

from scheduler.db import new_session
from scheduler.models import Meeting, Participant, ParticipantRole

from .conftest import log_in

FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const style = getComputedStyle(e), box = e.getBoundingClientRect();
  const text = ['A', 'BUTTON'].includes(e.tagName) ? e.textContent.trim().slice(0, 40) : null;
  return {what: e.id || text || e.getAttribute('name'), tag: e.tagName,
          value: e.value ?? null, checked: e.checked ?? null,
          top: box.top + scrollY, bottom: box.bottom + scrollY, left: box.left + scrollX,
          on_screen: box.width > 0 && box.left >= 0 && box.right <= innerWidth,
          ring: (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2) || style.boxShadow !== 'none',
          in_main: !!e.closest('main')};
}"""


class Keyboard:
    """Presses keys and notes where the focus lands after each, page load by page load."""

    def __init__(self, page: Page):
        self.page = page
        self.loads: list[list[dict]] = [[]]

    @property
    def focus(self) -> dict | None:
        return self.page.evaluate(FOCUSED)

    def press(self, key: str) -> dict | None:
        self.page.keyboard.press(key)
        focus = self.focus
        if focus is not None:
            self.loads[-1].append({**focus, "key": key})
        return focus

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def choose(self, option: str, *, limit: int = 40) -> None:
        """In the focused select: its first letter, then the down arrow to the option."""
        self.page.keyboard.press(option[0])
        for _ in range(limit):
            if self.page.evaluate("() => document.activeElement.selectedOptions[0].text").startswith(option):
                return
            self.page.keyboard.press("ArrowDown")
        raise AssertionError(f"no option {option}")

    def submit(self, key: str = "Enter") -> None:
        with self.page.expect_navigation():
            self.page.keyboard.press(key)
        self.loads.append([])

    def tab_to(self, selector: str, *, limit: int = 80) -> dict:
        """Tab forward until the element matching `selector` has the focus."""
        for _ in range(limit):
            focus = self.press("Tab")
            if self.page.evaluate("s => document.activeElement.matches(s)", selector):
                return focus
        raise AssertionError(f"Tab never reached {selector}")


def out_of_order(stops: list[dict]) -> list[str]:
    """Steps forward (Tab) in main to an element above the one before, or left of it on the same line.
    Tab within one element (the parts of a date field) is no step."""
    wrong = []
    for before, after in zip(stops, stops[1:]):
        if after["key"] != "Tab" or after["what"] == before["what"] or not (before["in_main"] and after["in_main"]):
            continue
        same_line = abs(after["top"] - before["top"]) < 4
        if not (after["top"] >= before["bottom"] - 4 or (same_line and after["left"] > before["left"])):
            wrong.append(f"{before['what']} -> {after['what']}")
    return wrong


def described_by(page: Page, selector: str) -> str:
    ids = page.locator(selector).get_attribute("aria-describedby") or ""
    return " ".join(page.locator(f"#{i}").inner_text() for i in ids.split())


def test_a_secretary_books_a_meeting_by_keyboard_alone(page, live_server):
    base, app = live_server
    log_in(page, base, "sekretaer.sonderborg@demo.example")
    page.wait_for_url(f"{base}/meetings/")
    page.goto(f"{base}/meetings/new")
    keys = Keyboard(page)

    skip = keys.press("Tab")
    assert skip["what"] == "Gå til indhold" and skip["on_screen"]
    keys.press("Enter")
    assert keys.press("Tab")["what"] == "f-ward"  # the skip link lands in main, at the form
    keys.tab_to("#f-patient-name")
    keys.type("Karl Jensen")
    keys.tab_to("#f-staff-0-name")
    keys.type("Sofie Sygeplejerske")
    assert keys.press("Tab")["what"] == "f-staff-0-email"
    keys.type("sofie@")  # a typo, found by the search below
    back = keys.press("Shift+Tab")
    assert (back["what"], back["value"]) == ("f-staff-0-name", "Sofie Sygeplejerske")
    keys.press("Tab")
    keys.tab_to("#f-municipality")
    keys.choose("Sønderborg")
    assert keys.focus["value"] == "0540"
    keys.tab_to("button[value=search]")
    keys.submit()

    # The typo is announced, linked to its field, and one Enter on the summary's link goes there.
    summary = page.locator(".error-summary")
    assert summary.get_attribute("role") == "alert"
    assert page.locator("#f-staff-0-email").get_attribute("aria-invalid") == "true"
    assert "e-mail" in described_by(page, "#f-staff-0-email").lower()
    keys.tab_to(".error-summary a[href='#f-staff-0-email']")
    keys.press("Enter")
    assert keys.focus["what"] == "f-staff-0-email"
    keys.press("Control+A")
    keys.type("sofie@hospital.example")

    # Book without a time: the slot picker's error is announced and tied to the group of times.
    keys.tab_to("button[value=book]")
    keys.submit()
    assert page.locator(".error-summary[role=alert]").is_visible()
    assert described_by(page, "#f-slot") == page.locator("#f-slot-error").inner_text() != ""
    assert page.locator("#f-staff-0-email").input_value() == "sofie@hospital.example"  # nothing typed is lost

    first = keys.tab_to("input[name=slot]")
    assert first["checked"] is False  # Tab enters the group without choosing
    keys.press("ArrowRight")
    chosen = keys.press("ArrowRight")
    assert chosen["checked"] is True and chosen["value"] == page.locator("input[name=slot]").nth(2).get_attribute(
        "value")
    assert keys.press("Tab")["what"] == "Book mødet"  # one tab stop for the whole group of times
    keys.submit()
    booked = re.match(rf"{re.escape(base)}/meetings/(\d+)(#.*)?$", page.url)  # the fragment outlives the redirect
    assert booked and page.get_by_text("Mødet er booket").is_visible()

    start, _, advisor_id = chosen["value"].partition("|")
    with new_session(app.extensions["scheduler"].engine) as session:
        meeting = session.get(Meeting, int(booked.group(1)))
        staff = session.exec(select(Participant).where(Participant.meeting_id == meeting.id,
                                                       Participant.role == ParticipantRole.staff)).one()
        assert (meeting.start_at.isoformat(), meeting.advisor_id) == (start, int(advisor_id))
        assert (staff.name, staff.email) == ("Sofie Sygeplejerske", "sofie@hospital.example")

    stops = [stop for load in keys.loads for stop in load]
    assert len(stops) > 40
    no_ring = [s["what"] for s in stops if not s["ring"]]
    assert not no_ring, f"focus without a visible ring: {no_ring}"
    backwards = [pair for load in keys.loads for pair in out_of_order(load)]
    assert not backwards, f"focus moved against the reading order: {backwards}"


def test_the_order_check_sees_a_step_back_up_or_to_the_left():
    def stop(what, top, left, key="Tab"):
        return {"what": what, "top": top, "bottom": top + 30, "left": left, "in_main": True, "key": key}

    assert out_of_order([stop("name", 100, 10), stop("email", 100, 300), stop("phone", 150, 10)]) == []
    assert out_of_order([stop("email", 100, 300), stop("name", 100, 10)]) == ["email -> name"]
    assert out_of_order([stop("phone", 150, 10), stop("name", 100, 10)]) == ["phone -> name"]
    assert out_of_order([stop("phone", 150, 10), stop("name", 100, 10, key="Shift+Tab")]) == []
