"""Sessions: cookie flags, the idle timeout on the app's clock, and sessions that end when the password
changes elsewhere, when the user is deactivated, or when the cookie turns up in another browser."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.security import generate_password_hash

from scheduler.config import load_config
from scheduler.models import Role, User
from sqlmodel import select
from scheduler.services import users

from .conftest import PASSWORD
from .html import parse

NEW_PASSWORD = "et-helt-nyt-kodeord"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(users, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


def set_clock(app, when):
    app.extensions["scheduler"].clock = lambda: when


def session_cookie(response) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def flashes(client) -> list[str]:
    return [p.text() for p in parse(client.get("/login").text).find_all("p", role="status")]


def sent_to_login(response, path: str) -> bool:
    target = urlsplit(response.location or "")
    return response.status_code == 302 and target.path == "/login" \
        and urlsplit(parse_qs(target.query)["next"][0]).path == path


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(app, client, session, world):
    world.secretary.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    session.commit()
    response = client.post("/login", data={"email": world.secretary.email, "password": PASSWORD})
    cookie = session_cookie(response)
    assert "; HttpOnly" in cookie and "; SameSite=Lax" in cookie and "; Secure" not in cookie
    assert app.login_manager.session_protection == "strong"


def test_behind_https_the_session_cookie_is_secure(config, tmp_path, session, world, now):
    from scheduler import create_app

    https = load_config(Path(__file__).parent / "missing.toml", environ={}, overrides={
        "database": {"url": config.database.url}, "calendars": {"dir": str(tmp_path / "ics")},
        "app": {"secret_key": config.app.secret_key, "base_url": "https://udskrivning.region.example"}})
    app = create_app(https, clock=lambda: now)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    world.secretary.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    session.commit()
    response = app.test_client().post("/login", base_url="https://udskrivning.region.example",
                                      data={"email": world.secretary.email, "password": PASSWORD})
    assert response.status_code == 302
    cookie = session_cookie(response)
    assert "; Secure" in cookie and "; HttpOnly" in cookie and "; SameSite=Lax" in cookie
    app.extensions["scheduler"].engine.dispose()


def test_idle_sessions_end_and_the_login_page_says_why(app, client_for, world, now):
    client = client_for(world.secretary)
    set_clock(app, now + timedelta(minutes=29))
    assert client.get("/meetings/").status_code == 200
    set_clock(app, now + timedelta(minutes=58))  # 29 minutes after the last request: still active
    assert client.get("/meetings/").status_code == 200
    set_clock(app, now + timedelta(minutes=88, seconds=1))
    assert sent_to_login(client.get("/meetings/new"), "/meetings/new")
    assert flashes(client) == ["Du er blevet logget ud, fordi du ikke har brugt systemet i 30 minutter. Log ind igen."]
    assert client.get("/meetings/").status_code == 302  # the session is really over
    response = client.post("/login", data={"email": world.secretary.email, "password": PASSWORD})
    assert response.status_code == 302 and client.get("/meetings/").status_code == 200


def test_changing_the_password_ends_her_other_sessions_but_not_this_one(client_for, world, read):
    laptop = client_for(world.secretary)
    phone = laptop.application.test_client()
    assert phone.post("/login", data={"email": world.secretary.email, "password": PASSWORD}).status_code == 302
    response = laptop.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                      "new_password_repeat": NEW_PASSWORD})
    assert response.status_code == 302, response.text
    assert laptop.get("/meetings/").status_code == 200
    assert sent_to_login(phone.get("/meetings/"), "/meetings/")
    assert flashes(phone) == ["Din session er afsluttet. Log ind igen."]
    assert phone.post("/login", data={"email": world.secretary.email, "password": PASSWORD}).status_code == 401
    assert phone.post("/login", data={"email": world.secretary.email, "password": NEW_PASSWORD}).status_code == 302


def test_a_deactivated_user_is_logged_out_at_her_next_request_and_stays_out(client_for, world, factory, read):
    client = client_for(world.secretary)
    admin = client_for(factory.user(role=Role.admin))
    assert admin.post(f"/admin/users/{world.secretary.id}/deactivate").status_code == 302
    assert sent_to_login(client.get("/meetings/"), "/meetings/")
    assert client.post("/login", data={"email": world.secretary.email, "password": PASSWORD}).status_code == 401
    assert admin.post(f"/admin/users/{world.secretary.id}/reactivate").status_code == 302
    assert client.get("/meetings/").status_code == 302  # the old session does not come back
    assert read(lambda s: s.get(User, world.secretary.id)).is_active


def test_a_session_cookie_used_from_another_browser_is_dropped(client_for, world):
    client = client_for(world.secretary)
    assert client.get("/meetings/").status_code == 200
    response = client.get("/meetings/", headers={"User-Agent": "curl/8.0 (stolen cookie)"})
    assert sent_to_login(response, "/meetings/")
    assert client.get("/meetings/").status_code == 302  # the session is gone, also for the first browser



def copy_of_cookie(client, into):  # type: ignore[no-untyped-def]
    """What someone who copied the session cookie from `client`'s browser would send."""
    value = client.get_cookie("session").value
    into.set_cookie("session", value)
    return into


def test_a_copied_session_cookie_stops_working_when_its_owner_logs_out(app, client_for, world):
    client = client_for(world.secretary)
    copy = copy_of_cookie(client, app.test_client())
    assert copy.get("/meetings/").status_code == 200  # the same cookie: the same session, until ...
    assert client.post("/logout").status_code == 302
    assert sent_to_login(copy.get("/meetings/"), "/meetings/")  # ... she logs out: then it is over on the server
    assert sent_to_login(client.get("/meetings/"), "/meetings/")


def test_the_servers_record_of_a_session_is_written_at_most_once_a_minute_and_removed_when_over(
        app, client_for, world, now, read):
    from scheduler.jobs import remove_finished_sessions
    from scheduler.models import LoginSession

    client = client_for(world.secretary)
    other = app.test_client()  # her second browser
    assert other.post("/login", data={"email": world.secretary.email, "password": PASSWORD}).status_code == 302
    (first, second) = read(lambda s: s.exec(select(LoginSession).order_by(LoginSession.started_at)).all())
    assert first.seen_at == second.seen_at == now and first.ended_at is None
    set_clock(app, now + timedelta(seconds=59))
    assert client.get("/meetings/").status_code == 200
    assert {r.seen_at for r in read(lambda s: s.exec(select(LoginSession)).all())} == {now}  # a read stays a read
    set_clock(app, now + timedelta(minutes=20))
    assert client.get("/meetings/").status_code == 200
    assert other.post("/logout").status_code == 302
    rows = read(lambda s: s.exec(select(LoginSession)).all())
    later = now + timedelta(minutes=20)
    assert {(r.seen_at, r.ended_at) for r in rows} == {(later, later), (later, None)}
    services = app.extensions["scheduler"]
    assert remove_finished_sessions(services) == 1  # the logged-out one; hers goes on
    set_clock(app, now + timedelta(minutes=51))  # idle for the 30 minutes, but the record is a minute coarse
    assert remove_finished_sessions(services) == 0
    set_clock(app, now + timedelta(minutes=52))
    assert remove_finished_sessions(services) == 1
    assert read(lambda s: s.exec(select(LoginSession)).all()) == []
    assert sent_to_login(client.get("/meetings/"), "/meetings/")


def test_the_servers_coarser_record_never_ends_a_session_before_the_idle_timeout(app, client_for, world, now):
    client = client_for(world.secretary)  # the record says: seen at `now`
    set_clock(app, now + timedelta(seconds=50))
    assert client.get("/meetings/").status_code == 200  # within the minute: the record is not written
    set_clock(app, now + timedelta(minutes=30, seconds=20))  # idle 29.5 minutes by the cookie
    assert client.get("/meetings/").status_code == 200
