"""A tour of the app's main pages as their users meet them (empty, filled in, with errors), for the
checks every page must pass: accessibility, layout, where the resources come from."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from playwright.sync_api import Page
from sqlmodel import select

from scheduler.db import new_session
from scheduler.jobs import send_outbox
from scheduler.models import Meeting, MeetingStatus, User

from .conftest import log_in

# Pages other areas add without arguments (account settings, administration) join the tour by their path.
DISCOVERED_PREFIXES = ("/account", "/admin")


def discovered_paths(app) -> list[str]:  # type: ignore[no-untyped-def]
    """GET pages without arguments under DISCOVERED_PREFIXES, so new ones are checked too."""
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if rule.rule.startswith(DISCOVERED_PREFIXES) and "GET" in rule.methods and not rule.arguments
                   and not rule.rule.endswith((".csv", ".xlsx", ".json", ".ics", ".toml"))})


def fill_booking_form(page: Page) -> None:
    """The parties of a meeting with Sønderborg, the search for free times not yet started."""
    page.locator("#f-patient-name").fill("Karl Jensen")
    page.locator("#f-patient-cpr").fill("")
    page.locator("#f-patient-email").fill("karl@example.org")
    page.locator("#f-staff-0-name").fill("Sofie Sygeplejerske")
    page.locator("#f-staff-0-email").fill("sofie@hospital.example")
    page.locator("#f-municipality").select_option("0540")


def _advisor_email(app, meeting_id: int) -> str:  # type: ignore[no-untyped-def]
    with new_session(app.extensions["scheduler"].engine) as session:
        return session.get(User, session.get(Meeting, meeting_id).advisor_id).email


def _held_meeting_of(app, advisor_email: str) -> int:  # type: ignore[no-untyped-def]
    with new_session(app.extensions["scheduler"].engine) as session:
        return session.exec(select(Meeting.id).join(User, User.id == Meeting.advisor_id)
                            .where(User.email == advisor_email, Meeting.status == MeetingStatus.held)
                            .order_by(Meeting.start_at.desc())).first()


def answer_link(app, smtp_server, advisor_email: str) -> str:  # type: ignore[no-untyped-def]
    """The personal answer link in the invitation e-mailed to the advisor (the outbox sent first)."""
    send_outbox(app.extensions["scheduler"])
    (mail,) = smtp_server.to(advisor_email)
    return re.search(r"https?://\S+/answer/\S+", mail.get_body(("plain",)).get_content()).group(0)


class Tour:
    """Iterating yields the name of each stop while its page is shown in `self.page`; each person has her
    own browser context, made by `make_page(**page_options)`."""

    def __init__(self, make_page: Callable[..., Page], base: str, app, smtp_server, **page_options):  # type: ignore[no-untyped-def]
        self.make_page, self.base, self.app, self.smtp_server = make_page, base, app, smtp_server
        self.page_options = page_options
        self.page: Page | None = None

    def _new_page(self) -> Page:
        self.page = self.make_page(**self.page_options)
        return self.page

    def __iter__(self) -> Iterator[str]:
        base, app = self.base, self.app
        page = self._new_page()
        page.goto(f"{base}/login")
        yield "login"
        page.locator("#f-email").fill("sekretaer.sonderborg@demo.example")
        page.locator("#f-password").fill("wrong password")
        page.locator("#f-password").press("Enter")
        page.wait_for_load_state()
        yield "login with error"

        log_in(page, base, "sekretaer.sonderborg@demo.example")
        page.wait_for_url(f"{base}/meetings/")
        page.goto(f"{base}/meetings/new")
        yield "secretary: new meeting"
        page.locator("#f-patient-cpr").fill("12")
        page.locator("button[value=search]").click()
        page.wait_for_load_state()
        yield "secretary: new meeting with errors"
        fill_booking_form(page)
        page.locator("button[value=search]").click()
        page.wait_for_load_state()
        yield "secretary: new meeting with free times"
        page.locator("input[name=slot]").first.check()
        page.locator("button[value=book]").click()
        page.wait_for_url(re.compile(r".*/meetings/\d+$"))
        yield "secretary: meeting page"
        meeting_url = page.url
        meeting_id = int(meeting_url.rsplit("/", 1)[1])
        page.goto(f"{base}/meetings/")
        yield "secretary: meeting list"
        page.goto(f"{meeting_url}/reschedule")
        yield "secretary: reschedule"
        page.locator("button[value=search]").click()
        page.wait_for_load_state()
        yield "secretary: reschedule with free times"
        page.goto(f"{meeting_url}/cancel")
        yield "secretary: cancel"
        page.goto(f"{meeting_url}/print")
        yield "secretary: print invitation"

        advisor_email = _advisor_email(app, meeting_id)
        link = answer_link(app, self.smtp_server, advisor_email)
        page = self._new_page()  # the e-mailed link needs no login
        page.goto(link)
        yield "answer link"
        page.locator("button[value=declined]").click()
        page.wait_for_load_state()
        yield "answer link with error"

        page = self._new_page()
        log_in(page, base, advisor_email)
        page.wait_for_load_state()
        for name, path in [("invitations and upcoming", "/advisor/"), ("meeting page", f"/meetings/{meeting_id}"),
                           ("recording", "/advisor/recording"),
                           ("record a meeting", f"/advisor/meetings/{_held_meeting_of(app, advisor_email)}/record"),
                           ("follow-ups", "/advisor/followups"), ("working hours", "/advisor/hours"),
                           ("absences", "/advisor/absences"), ("calendar feed", "/advisor/calendar-feed"),
                           ("busy calendar", "/advisor/busy-feed")]:
            page.goto(base + path)
            yield f"advisor: {name}"
        page.goto(f"{base}/advisor/absences")
        page.locator("#f-start_at").fill("2026-12-01T10:00")
        page.locator("#f-end_at").fill("2026-11-30T10:00")
        page.locator("form:has(#f-start_at) button[type=submit]").click()
        page.wait_for_load_state()
        yield "advisor: absences with error"

        page = self._new_page()
        log_in(page, base, "koordinator@demo.example")
        page.wait_for_load_state()
        for name, path in [("dashboard", "/dashboard"), ("catalogues", "/catalogue/"),
                           ("new offer", "/catalogue/0540/new"), ("import", "/catalogue/0540/import"),
                           ("catalogue", "/catalogue/0540/")]:
            page.goto(base + path)
            yield f"coordinator: {name}"
        page.locator("main table a[href$='/edit']").first.click()
        page.wait_for_load_state()
        yield "coordinator: edit offer"

        extra = discovered_paths(app)
        if extra:
            page = self._new_page()
            log_in(page, base, "admin@demo.example")
            page.wait_for_load_state()
            for path in extra:
                page.goto(base + path)
                yield f"admin: {path}"
