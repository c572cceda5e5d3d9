"""Login, logout, and no anonymous access to the secretary's pages."""
from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from werkzeug.security import generate_password_hash

from .conftest import PASSWORD
from .html import control, labelled, parse, value_of


@pytest.fixture
def user(session, world):
    world.secretary.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    session.add(world.secretary)
    session.commit()
    return world.secretary


@pytest.fixture
def meeting_id(session, factory, world):
    """A real meeting, so a redirect is about login and not about an unknown id."""
    meeting = factory.meeting(world.advisor, datetime(2026, 11, 24, 9, tzinfo=UTC), ward=world.ward)
    session.commit()
    return meeting.id


def test_every_meeting_page_sends_anonymous_users_to_login(client, meeting_id):
    pages = [("GET", "/meetings/"), ("GET", "/meetings/?show=waiting"), ("GET", "/meetings/new"),
             ("POST", "/meetings/new"), ("GET", f"/meetings/{meeting_id}"),
             ("GET", f"/meetings/{meeting_id}/invite.ics"), ("GET", f"/meetings/{meeting_id}/print"),
             ("GET", f"/meetings/{meeting_id}/reschedule"), ("POST", f"/meetings/{meeting_id}/reschedule"),
             ("GET", f"/meetings/{meeting_id}/cancel"), ("POST", f"/meetings/{meeting_id}/cancel"),
             ("POST", f"/meetings/{meeting_id}/video-link")]
    for method, path in pages:
        response = client.open(path, method=method, data={"reason": "x"} if method == "POST" else None)
        assert response.status_code == 302, (method, path, response.status_code)
        target = urlsplit(response.location)
        assert target.path == "/login", (method, path, response.location)
        next_ = parse_qs(target.query)["next"][0]
        assert urlsplit(next_).path == path.split("?")[0], (path, next_)
    assert urlsplit(client.get("/").location).path == "/login"


def test_login_page_renders_with_labelled_fields(client):
    response = client.get("/login")
    assert response.status_code == 200
    page = parse(response.text)
    for name in ("email", "password"):
        assert labelled(page, control(page, name)), name
    assert control(page, "password").attrs["type"] == "password"


def test_wrong_password_gives_401_with_error_and_keeps_the_email(client, user):
    response = client.post("/login", data={"email": user.email, "password": "wrong"})
    assert response.status_code == 401
    page = parse(response.text)
    assert "Forkert e-mail eller adgangskode" in page.find_all(role="alert")[0].text()
    assert value_of(page, "email") == user.email
    assert value_of(page, "password") is None  # never echoed back
    assert client.get("/meetings/").status_code == 302  # not logged in


def test_unknown_email_gets_the_same_answer(client, user):
    response = client.post("/login", data={"email": "nobody@example.org", "password": PASSWORD})
    assert response.status_code == 401
    assert "Forkert e-mail eller adgangskode" in response.text


def test_right_password_goes_to_the_meetings_and_follows_a_local_next(client, user):
    response = client.post("/login", data={"email": user.email.upper(), "password": PASSWORD})
    assert response.status_code == 302 and response.location == "/meetings/"
    assert client.get("/meetings/").status_code == 200

    client.post("/logout")
    response = client.post("/login?next=/meetings/%3Fshow%3Dwaiting",
                           data={"email": user.email, "password": PASSWORD})
    assert response.location == "/meetings/?show=waiting"


def test_next_pointing_elsewhere_is_ignored(client, user):
    for next_ in ("//evil.example/x", "https://evil.example", "https://evil.example/meetings/", "/\\evil.example",
                  "\\\\evil.example", "/\t/evil.example", "javascript:alert(1)", "http:evil.example"):
        response = client.post("/login", query_string={"next": next_},
                               data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, next_
        location = response.location
        # A browser reads "\" as "/" and drops tabs, so neither may survive into the header.
        assert "\\" not in location and "\t" not in location, (next_, location)
        assert location.startswith("/") and not location.startswith("//"), (next_, location)
        assert urlsplit(urljoin("http://localhost/login", location)).netloc == "localhost", (next_, location)
        assert "evil.example" not in location or location.startswith("/%5C"), (next_, location)
        client.post("/logout")


def test_logout_is_post_only(client, user):
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert client.get("/logout").status_code == 405
    assert client.get("/meetings/").status_code == 200  # GET did not log out

    response = client.post("/logout")
    assert response.status_code == 302 and response.location == "/login"
    assert client.get("/meetings/").status_code == 302


def test_each_role_starts_on_its_own_page(app, session, factory, login):
    advisor = factory.advisor("0540")
    client = login(advisor, session)
    assert client.get("/").location == "/advisor/"
