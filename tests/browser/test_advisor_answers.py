"""Journey 2 in a real browser: the advisor opens the answer link from the e-mail caught by the
SMTP server and accepts; the secretary's meeting page shows the acceptance."""
import re

from scheduler.jobs import send_outbox

from .conftest import ARTIFACTS, book_in_browser, log_in


def test_advisor_accepts_from_the_email_link_and_the_secretary_sees_it(new_page, live_server, smtp_server):
    base, app = live_server
    secretary = new_page()
    log_in(secretary, base, "sekretaer.sonderborg@demo.example")
    meeting_url = book_in_browser(secretary, base)

    assert send_outbox(app.extensions["scheduler"]) == 2  # staff and advisor (the patient has no e-mail)
    (mail,) = [m for m in smtp_server.messages if "sundhed" in m["To"].addresses[0].addr_spec]
    link = re.search(r"https?://\S+/answer/\S+", mail.get_body(("plain",)).get_content()).group(0)

    advisor = new_page()  # not logged in: the link is all she needs
    advisor.goto(link)
    assert advisor.get_by_role("button", name="Accepter").is_visible()
    advisor.screenshot(path=str(ARTIFACTS / "journey2-answer.png"), full_page=True)
    advisor.get_by_role("button", name="Accepter").click()
    assert advisor.get_by_text("Tak for dit svar").first.is_visible()

    secretary.goto(meeting_url)
    assert secretary.get_by_text("Bekræftet").first.is_visible()
    advisor_row = secretary.locator("tr", has_text="Sundhedsrådgiver")
    assert "Accepteret" in advisor_row.inner_text()
    secretary.screenshot(path=str(ARTIFACTS / "journey2-meeting.png"), full_page=True)
