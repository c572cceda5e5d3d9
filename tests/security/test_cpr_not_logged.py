"""No CPR number in any log line, e-mail or invite: a full day of use through a real HTTP server, with every
logger at DEBUG (request logs, SQLAlchemy's statements and rows, the mail and job code, the SMTP server's
own log of what it received). Names of patients stay out of the app's logs too."""
from __future__ import annotations

import logging
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from werkzeug.serving import make_server

from scheduler.jobs import send_outbox
from scheduler.models import Role, Ward
from scheduler.schemas import OfferIn
from scheduler.services import offers as catalogue

from .conftest import CSRF_FIELD, PASSWORD

CPRS = ("1502601234", "2103721237")  # booked on the web (typed with a hyphen) and through the API (without)
PATIENTS = ("Karla Hemmeligsen", "Bent Fortroligsen")
RELATIVE = "Grethe Hemmeligsen"
CPR_FORMS = [form for cpr in CPRS for form in (cpr, f"{cpr[:6]}-{cpr[6:]}")]


class Everything(logging.Handler):
    """Every record of every logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, record.levelno, self.format(record)))


@pytest.fixture
def all_logs():  # type: ignore[no-untyped-def]
    handler = Everything()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "sqlalchemy.engine", "werkzeug", "mail.log")}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)  # SQLAlchemy at DEBUG logs statements, parameters, rows
    yield handler
    root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def server(mail_app):  # type: ignore[no-untyped-def]
    """The app behind werkzeug's HTTP server (its request log included), CSRF protection on."""
    mail_app.config["WTF_CSRF_ENABLED"] = True
    http = make_server("127.0.0.1", 0, mail_app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join()


@pytest.fixture
def cast(session, factory, api_token):  # type: ignore[no-untyped-def]
    from werkzeug.security import generate_password_hash

    ward = factory.ward(code="ONK")
    people = {"secretary": factory.secretary(ward), "advisor": factory.advisor("0540", name="Mette Rådgiver"),
              "coordinator": factory.user(role=Role.coordinator)}
    people["coordinator"].region_code = "DK-83"
    for user in people.values():
        user.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        session.add(user)
    session.commit()
    catalogue.create_offer(session, municipality_code="0540", data=OfferIn(code="KOST", name="Kostvejledning",
                                                                           category="kost_vaegt"))
    session.commit()
    return people, {role: api_token(user) for role, user in people.items()}, ward


def browser(base: str, user) -> requests.Session:  # type: ignore[no-untyped-def]
    web = requests.Session()
    token = CSRF_FIELD.search(web.get(f"{base}/login").text).group(1)
    response = web.post(f"{base}/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token},
                        allow_redirects=False)
    assert response.status_code == 302, response.text
    return web


def post_form(web: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    token = CSRF_FIELD.search(web.get(url).text).group(1)
    return web.post(url, data={**data, "csrf_token": token}, allow_redirects=False)


def test_no_cpr_in_logs_mails_or_invites(mail_app, server, cast, smtp_server, all_logs, session, config):
    people, tokens, ward = cast
    services = mail_app.extensions["scheduler"]
    secretary = browser(server, people["secretary"])
    form = {"ward": "ONK", "municipality": "0540", "from": "2026-11-24", "to": "2026-11-27",
            "duration_minutes": "45", "language": "da", "patient.name": PATIENTS[0],
            "patient.cpr": f"{CPRS[0][:6]}-{CPRS[0][6:]}", "patient.email": "karla@example.net",
            "relatives.0.name": RELATIVE, "relatives.0.email": "grethe@example.net",
            "staff.0.name": "Sofie Sygeplejerske", "staff.0.email": "sofie@hospital.example"}
    search = post_form(secretary, f"{server}/meetings/new", {**form, "action": "search"})
    slot = re.search(r'name="slot" value="([^"]+)"', search.text).group(1)
    booked = post_form(secretary, f"{server}/meetings/new", {**form, "action": "book", "slot": slot})
    assert booked.status_code == 302, booked.text
    web_id = int(booked.headers["Location"].rsplit("/", 1)[1])
    assert secretary.get(f"{server}/meetings/{web_id}").status_code == 200  # the page shows her the CPR

    # A mistyped CPR is refused, on the form and in the API, without being logged.
    refused = post_form(secretary, f"{server}/meetings/new", {**form, "action": "book", "slot": slot,
                                                               "patient.cpr": f"{CPRS[1][:6]}-{CPRS[1][6:]}9"})
    assert refused.status_code == 422
    body = {"ward": "ONK", "municipality": "0540", "start": "2026-11-25T10:00:00+01:00",
            "patient": {"name": PATIENTS[1], "cpr": CPRS[1] + "9", "email": "bent@example.net"},
            "staff": [{"name": "Lars Læge", "email": "lars@hospital.example"}]}
    assert requests.post(f"{server}/api/v1/meetings", json=body, headers=tokens["secretary"]).status_code == 422
    body["patient"]["cpr"] = CPRS[1]
    created = requests.post(f"{server}/api/v1/meetings", json=body, headers=tokens["secretary"])
    assert created.status_code == 201, created.text
    api_id = created.json()["id"]
    moved = requests.patch(f"{server}/api/v1/meetings/{web_id}", headers=tokens["secretary"],
                           json={"start": "2026-11-26T09:00:00+01:00", "reason": "Lægen er forhindret"})
    assert moved.status_code == 200, moved.text
    assert send_outbox(services) >= 6

    # The staff member answers from the link in her e-mail (GET shows, POST answers).
    (staff_mail,) = [m for m in smtp_server.to("sofie@hospital.example") if "/answer/" in str(m)][-1:]
    link = re.search(r"http://\S+/answer/[\w.-]+", staff_mail.get_body(("plain",)).get_content()).group(0)
    answer_url = server + "/answer/" + link.rsplit("/answer/", 1)[1]
    page = requests.get(answer_url)
    assert page.status_code == 200
    answered = requests.post(answer_url, data={"status": "accepted", "csrf_token": CSRF_FIELD.search(page.text).group(1)},
                             cookies=page.cookies)
    assert answered.status_code == 200, answered.text

    # After the meeting: the advisor records it, the coordinator exports the uptake log.
    mail_app.clock["now"] += timedelta(days=4)
    advisor = browser(server, people["advisor"])
    recorded = post_form(advisor, f"{server}/advisor/meetings/{api_id}/record",
                         {"outcome": "held", "presented.KOST": "1", "response.KOST": "accepted", "note": ""})
    assert recorded.status_code == 302, recorded.text
    coordinator = browser(server, people["coordinator"])
    export = coordinator.get(f"{server}/dashboard/uptake.csv", params={"from": "2026-11-01", "to": "2026-11-30"})
    assert export.status_code == 200 and "KOST" in export.text
    api_export = requests.get(f"{server}/api/v1/exports/uptake", headers=tokens["coordinator"],
                              params={"from": "2026-11-01", "to": "2026-11-30", "format": "json"})
    assert api_export.status_code == 200 and len(api_export.json()) == 1
    assert requests.post(f"{server}/api/v1/meetings/{api_id}/cancel", headers=tokens["secretary"],
                         json={"reason": "Udskrevet"}).status_code in (200, 409)
    send_outbox(services)

    # A database error (here: a duplicate ward code) does not carry the values into its message or the log.
    engine = services.engine
    with Session(engine) as db, pytest.raises(IntegrityError) as failure:
        db.add(Ward(code="ONK", name=PATIENTS[0], hospital_id=ward.hospital_id))
        db.commit()
    assert PATIENTS[0] not in str(failure.value)

    logs = "\n".join(line for _name, _level, line in all_logs.lines)
    assert any(name.startswith("sqlalchemy.engine") for name, _level, _line in all_logs.lines)  # echo was on
    assert any(name == "werkzeug" for name, _level, _line in all_logs.lines)  # the request log was on
    assert [form for form in CPR_FORMS if form in logs] == []
    # Nor names, except in the test SMTP server's own record of the messages it received.
    app_logs = "\n".join(line for name, _level, line in all_logs.lines if name != "mail.log")
    assert [name for name in (*PATIENTS, RELATIVE) if name in app_logs] == []

    # The e-mails carry no CPR, and a patient's name only in her own invitation; invites carry neither.
    assert smtp_server.messages
    for message in smtp_server.messages:
        text = message.as_string() + "".join(str(part.get_content()) for part in message.walk()
                                             if not part.is_multipart())
        assert [form for form in CPR_FORMS if form in text] == []
        recipient = message["To"].addresses[0].addr_spec
        if recipient not in ("karla@example.net", "grethe@example.net", "bent@example.net"):
            assert [name for name in (*PATIENTS, RELATIVE) if name in text] == [], recipient
        for part in message.walk():
            if part.get_content_type() in ("text/calendar", "application/ics"):
                content = part.get_content()
                content = content.decode() if isinstance(content, bytes) else content
                assert [word for word in (*PATIENTS, RELATIVE, *CPR_FORMS) if word in content] == []
    calendar_files = list(Path(config.calendars.dir).glob("*.ics"))
    assert len(calendar_files) == 2
    for path in calendar_files:
        content = path.read_text()
        assert [word for word in (*PATIENTS, RELATIVE, *CPR_FORMS) if word in content] == []
