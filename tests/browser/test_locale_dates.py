"""Dates in the reader's language: a secretary reading English sees English dates on the meeting page;
the advisor reading Norwegian gets the invitation with Norwegian dates, and sees them on the page too."""
import re

from sqlmodel import select

from scheduler.db import new_session
from scheduler.jobs import send_outbox
from scheduler.models import Meeting, User

from .conftest import log_in
from .tour import fill_booking_form

ENGLISH = re.compile(r"(Monday|Tuesday|Wednesday|Thursday|Friday) (?P<day>\d{1,2}) (January|February|March|April|May"
                     r"|June|July|August|September|October|November|December) (?P<year>\d{4}) at (?P<time>\d\d:\d\d)")
NORWEGIAN = re.compile(r"(mandag|tirsdag|onsdag|torsdag|fredag) (?P<day>\d{1,2})\. (januar|februar|mars|april|mai|juni"
                       r"|juli|august|september|oktober|november|desember) (?P<year>\d{4}) kl\. (?P<time>\d\d\.\d\d)")
NORWEGIAN_SHORT = re.compile(r"(man|tir|ons|tor|fre)\. \d{1,2}\.\d{1,2}\. kl\. \d\d\.\d\d")


def set_language(app, language: str, *emails: str) -> None:  # type: ignore[no-untyped-def]
    with new_session(app.extensions["scheduler"].engine) as session:
        for user in session.exec(select(User).where(User.email.in_(emails))):
            user.language = language
        session.commit()


def test_pages_and_emails_show_dates_in_the_readers_language(new_page, live_server, smtp_server):
    base, app = live_server
    set_language(app, "en", "sekretaer.sonderborg@demo.example")
    set_language(app, "nb", "sundhed1.sonderborg@demo.example", "sundhed2.sonderborg@demo.example")
    secretary = new_page()
    log_in(secretary, base, "sekretaer.sonderborg@demo.example")
    secretary.goto(f"{base}/meetings/new")
    fill_booking_form(secretary)
    secretary.locator("button[value=search]").click()
    secretary.locator("input[name=slot]").first.check()
    secretary.locator("button[value=book]").click()
    secretary.wait_for_url(re.compile(r".*/meetings/\d+$"))

    assert secretary.locator("html").get_attribute("lang") == "en"
    heading = secretary.locator("h1").inner_text()
    english = ENGLISH.search(heading)
    assert english and not NORWEGIAN.search(heading), heading

    with new_session(app.extensions["scheduler"].engine) as session:
        advisor = session.get(User, session.get(Meeting, int(secretary.url.rsplit("/", 1)[1])).advisor_id).email
    send_outbox(app.extensions["scheduler"])
    (mail,) = smtp_server.to(advisor)
    norwegian = NORWEGIAN.search(mail.get_body(("plain",)).get_content())
    assert norwegian and NORWEGIAN_SHORT.search(mail["Subject"]), mail
    assert (norwegian["day"], norwegian["year"], norwegian["time"].replace(".", ":")) == \
        (english["day"], english["year"], english["time"])  # the same moment, written two ways

    page = new_page()
    log_in(page, base, advisor)
    page.goto(secretary.url)
    assert page.locator("html").get_attribute("lang") == "nb"
    assert NORWEGIAN.search(page.locator("h1").inner_text()).group(0) == norwegian.group(0)
