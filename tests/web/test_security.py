"""Security headers, CSRF and error pages that never leak a traceback."""
from __future__ import annotations

import re

from werkzeug.security import generate_password_hash

from scheduler.models import Meeting

from .conftest import PASSWORD, book_via_form, booked_id, count, meeting_form


def assert_secure_headers(response) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, csp
    assert directives.get("script-src") == ["'self'"] or directives.get("default-src") == ["'self'"], csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


def test_pages_send_security_headers(secretary_client, world):
    meeting_id = booked_id(book_via_form(secretary_client, world.ward))
    for path in ("/login", "/meetings/", "/meetings/new", f"/meetings/{meeting_id}",
                 f"/meetings/{meeting_id}/print", f"/meetings/{meeting_id}/reschedule",
                 f"/meetings/{meeting_id}/cancel", "/meetings/99999"):
        response = secretary_client.get(path)
        assert response.status_code in (200, 404), path
        assert_secure_headers(response)
        # Under that policy inline scripts and styles would not run, so the pages must not need them.
        html = response.text.lower()
        assert "<script" not in html and "<style" not in html and " style=" not in html, path
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), path  # no inline event handlers
    assert secretary_client.get(f"/meetings/{meeting_id}").headers["Cache-Control"] == "no-store"


def test_post_without_csrf_token_is_a_400_page(app, secretary_client, world, read):
    app.config["WTF_CSRF_ENABLED"] = True
    response = secretary_client.post("/meetings/new", data={**meeting_form(world.ward.code), "action": "search"})
    assert response.status_code == 400
    assert "Formularen er udløbet" in response.text
    assert "Traceback" not in response.text and response.mimetype == "text/html"
    assert_secure_headers(response)
    assert secretary_client.post("/logout").status_code == 400  # logging out needs the token too
    assert secretary_client.get("/meetings/").status_code == 200
    assert count(read, Meeting) == 0


def test_csrf_token_from_the_form_is_accepted(app, client, world, session):
    """The other half of the CSRF test: the token the page carries does work."""
    world.secretary.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    session.add(world.secretary)
    session.commit()
    app.config["WTF_CSRF_ENABLED"] = True
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"email": world.secretary.email, "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302


def test_an_unexpected_error_is_a_friendly_500_without_traceback(secretary_client, world, monkeypatch, caplog):
    meeting_id = booked_id(book_via_form(secretary_client, world.ward))

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals: db password hunter2")

    monkeypatch.setattr("scheduler.web.meetings.booking.participants_of", broken)
    response = secretary_client.get(f"/meetings/{meeting_id}")
    assert response.status_code == 500
    assert "Der skete en uventet fejl" in response.text
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    assert "hunter2" not in response.text
    assert_secure_headers(response)
    assert any(r.exc_info and "hunter2" in str(r.exc_info[1]) for r in caplog.records), "not logged"


def test_http_errors_render_the_error_page(client):
    for method, path, status in [("GET", "/no/such/page", 404), ("DELETE", "/login", 405)]:
        response = client.open(path, method=method)
        assert response.status_code == status
        assert response.mimetype == "text/html" and 'role="alert"' in response.text
        assert_secure_headers(response)
