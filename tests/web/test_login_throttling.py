"""Login throttling through the real login form: a lock after repeated failures, the same answers for an
unknown e-mail, and every attempt in the audit trail."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from werkzeug.security import generate_password_hash

from scheduler.models import AuditEntry, User
from scheduler.services import audit, users

from .conftest import PASSWORD
from .html import parse, value_of

LOCKED = "Kontoen er låst efter for mange forkerte forsøg"
WRONG = "Forkert e-mail eller adgangskode"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(users, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def user(session, world):
    world.secretary.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    session.add(world.secretary)
    session.commit()
    return world.secretary


def set_clock(app, when):
    app.extensions["scheduler"].clock = lambda: when


def post_login(client, email, password):
    response = client.post("/login", data={"email": email, "password": password})
    alerts = parse(response.text).find_all(role="alert") if response.status_code != 302 else []
    return response.status_code, alerts[0].text() if alerts else None


def test_five_failures_lock_the_account_for_fifteen_minutes(app, client, user, now, read):
    for _ in range(4):
        assert post_login(client, user.email, "wrong") == (401, WRONG)
    status, message = post_login(client, user.email, "wrong")
    assert status == 429 and message == LOCKED + ". Prøv igen om 15 minutter."
    # locked: even the right password is refused, and nothing is logged in
    set_clock(app, now + timedelta(minutes=10))
    assert post_login(client, user.email, PASSWORD) == (429, LOCKED + ". Prøv igen om 5 minutter.")
    assert client.get("/meetings/").status_code == 302
    locked = read(lambda s: s.get(User, user.id))
    assert locked.locked_until == now + timedelta(minutes=15) and locked.failed_logins == 0

    set_clock(app, now + timedelta(minutes=15))
    assert post_login(client, user.email, PASSWORD)[0] == 302
    assert client.get("/meetings/").status_code == 200
    assert read(lambda s: s.get(User, user.id)).last_login_at == now + timedelta(minutes=15)


def test_a_success_starts_the_count_again(client, user, read):
    for _ in range(4):
        post_login(client, user.email, "wrong")
    assert post_login(client, user.email, PASSWORD)[0] == 302
    client.post("/logout")
    for _ in range(4):
        assert post_login(client, user.email, "wrong") == (401, WRONG)
    assert read(lambda s: s.get(User, user.id)).failed_logins == 4


def test_an_unknown_e_mail_gets_the_same_answers_at_the_same_times(app, client, user, now):
    steps = [now, now, now, now, now, now + timedelta(minutes=3), now + timedelta(minutes=15),
             now + timedelta(minutes=16)]

    def answers(email):
        found = []
        for at in steps:
            set_clock(app, at)
            found.append(post_login(client, email, "wrong"))
        return found

    known = answers(user.email)
    assert [status for status, _ in known] == [401] * 4 + [429, 429, 401, 401]
    assert answers("nobody@example.org") == known


def test_attempts_are_audited_with_the_e_mail_tried_never_the_password(client, user, read):
    post_login(client, "Nobody@Example.org", "guess-1")
    post_login(client, user.email, "guess-2")
    post_login(client, user.email, PASSWORD)
    rows = read(lambda s: list(s.exec(select(AuditEntry).order_by(AuditEntry.id))))
    assert [(r.action, r.user_email, r.user_id) for r in rows] == [
        (audit.LOGIN_FAILED, "nobody@example.org", None), (audit.LOGIN_FAILED, user.email, user.id),
        (audit.LOGIN, user.email, user.id)]
    assert all(r.ip == "127.0.0.1" and r.object_type == users.USER for r in rows)
    assert not any(secret in repr(r) for r in rows for secret in ("guess-1", "guess-2", PASSWORD))


def test_the_form_keeps_the_email_but_never_the_password_and_limits_what_it_echoes(client, user):
    response = client.post("/login", data={"email": user.email, "password": "wrong"})
    page = parse(response.text)
    assert value_of(page, "email") == user.email and value_of(page, "password") is None
    response = client.post("/login", data={"email": "a" * 5000 + "@example.org", "password": "x" * 5000})
    assert response.status_code == 401 and "a" * 255 not in response.text
