"""Security headers on every kind of response, and oversized requests refused with a clear 413."""
from __future__ import annotations

import pytest

from scheduler.models import Role
from scheduler.services import users

from .html import parse

TOO_BIG = 300 * 1024  # above MAX_CONTENT_LENGTH (256 KiB)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(users, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


def assert_security_headers(response, name: str = "") -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("frame-ancestors") == ["'none'"], (name, csp)
    assert directives.get("script-src") == ["'self'"] and directives.get("default-src") == ["'self'"], (name, csp)
    assert not any("unsafe" in value for values in directives.values() for value in values), (name, csp)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", name
    assert response.headers.get("X-Frame-Options") == "DENY", name
    assert response.headers.get("Referrer-Policy") in ("no-referrer", "same-origin", "strict-origin"), name


def test_every_kind_of_response_carries_the_security_headers(client_for, client, factory, world, api_token):
    admin = client_for(factory.user(role=Role.admin))
    headers = api_token(world.secretary)
    responses = {
        "login page": client.get("/login"), "redirect": client.get("/"), "failed login": client.post("/login"),
        "404 page": client.get("/nothing/here"),
        "account": admin.get("/account/"), "users": admin.get("/admin/users/"),
        "new user": admin.get("/admin/users/new"), "403": client_for(world.advisor).get("/admin/users/"),
        "API 401": client.get("/api/v1/wards"), "API 200": client.get("/api/v1/wards", headers=headers),
        "413 page": client.post("/login", data={"email": "x" * TOO_BIG}),
    }
    for name, response in responses.items():
        assert_security_headers(response, name)
    with client.get("/static/app.css") as response:
        assert response.status_code == 200
        assert_security_headers(response, "static file")
    # the new pages need no inline script or style under that policy
    for name in ("account", "users", "new user"):
        html = responses[name].text.lower()
        assert "<script" not in html and "<style" not in html and " style=" not in html, name


def test_an_oversized_form_is_a_413_page_naming_the_problem(app, client):
    app.config["WTF_CSRF_ENABLED"] = True  # the CSRF check reads the body first: still a 413, not a 400 or 500
    response = client.post("/login", data={"email": "x" * TOO_BIG, "password": "y"})
    assert response.status_code == 413 and response.mimetype == "text/html"
    assert parse(response.text).find_all(role="alert")[0].text() == "Forespørgslen er for stor"
    assert "Traceback" not in response.text


def test_an_oversized_api_body_is_a_413_json_error(client, world, api_token):
    response = client.post("/api/v1/meetings", headers=api_token(world.secretary),
                           data=b'{"note": "' + b"x" * TOO_BIG + b'"}', content_type="application/json")
    assert response.status_code == 413
    assert response.json == {"error": "Forespørgslen er for stor", "fields": {}}


def test_an_oversized_field_below_the_body_limit_is_a_field_error(client_for, factory):
    admin = client_for(factory.user(role=Role.admin))
    response = admin.post("/admin/users/new", data={"name": "N" * 100_000, "email": "n@example.org",
                                                    "role": "admin", "language": "da"})
    assert response.status_code == 422
    page = parse(response.text)
    assert "Må højst være 200 tegn" in page.by_id("f-name-error").text()
