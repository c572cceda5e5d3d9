"""Min konto: a user changes her own password and manages her API tokens, end to end through the pages."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from scheduler.models import ApiToken, AuditEntry, Role
from scheduler.services import audit, users

from .conftest import PASSWORD
from .html import assert_field_error, control, labelled, parse

NEW_PASSWORD = "et-helt-nyt-kodeord"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(users, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


def change(client, current=PASSWORD, new=NEW_PASSWORD, repeat=None):
    return client.post("/account/password", data={"current_password": current, "new_password": new,
                                                  "new_password_repeat": new if repeat is None else repeat})


def new_token(client) -> str:
    response = client.post("/account/tokens")
    assert response.status_code == 201, response.text
    return parse(response.text).by_id("f-new-token").attrs["value"]


def test_every_role_has_the_account_page_and_the_menu_links_to_it(client_for, factory, world, client):
    for user in (world.secretary, world.advisor, factory.user(role=Role.coordinator), factory.user(role=Role.admin)):
        page = client_for(user).get("/account/")
        assert page.status_code == 200
        links = {a.attrs.get("href") for a in parse(page.text).find_all("a")}
        assert "/account/" in links
        assert ("/admin/users/" in links) == (user.role == Role.admin)
    assert client.get("/account/").status_code == 302  # anonymous: to the login page


def test_the_password_form_has_labelled_fields_and_never_echoes_passwords(secretary_client):
    response = change(secretary_client, new="kort")
    page = parse(response.text)
    for name in ("current_password", "new_password", "new_password_repeat"):
        node = control(page, name)
        assert node.attrs["type"] == "password" and labelled(page, node) and not node.attrs.get("value")
    assert PASSWORD not in response.text


@pytest.mark.parametrize(("form", "field", "text"), [
    ({"current": "forkert"}, "current_password", "Den nuværende adgangskode er forkert"),
    ({"new": "kort"}, "new_password", "mindst 10 tegn"),
    ({"new": "x" * 201}, "new_password", "højst være 200 tegn"),
    ({"new": "EMAIL"}, "new_password", "må ikke være din e-mailadresse"),
    ({"repeat": "et-andet-kodeord"}, "new_password_repeat", "ikke ens"),
])
def test_password_errors_sit_next_to_the_field(secretary_client, world, read, form, field, text):
    if form.get("new") == "EMAIL":
        form = {**form, "new": world.secretary.email.upper()}
    response = change(secretary_client, **form)
    assert response.status_code == 422
    assert_field_error(parse(response.text), field, text)
    assert not read(lambda s: list(s.exec(select(AuditEntry).where(AuditEntry.action == audit.UPDATE))))


def test_a_changed_password_is_the_one_that_works(app, secretary_client, world):
    response = change(secretary_client)
    assert response.status_code == 302 and response.location == "/account/"
    assert "Din adgangskode er ændret" in secretary_client.get("/account/").text
    other = app.test_client()
    assert other.post("/login", data={"email": world.secretary.email, "password": PASSWORD}).status_code == 401
    assert other.post("/login", data={"email": world.secretary.email, "password": NEW_PASSWORD}).status_code == 302


def test_a_token_is_shown_once_works_with_her_scope_shows_its_use_and_can_be_revoked(app, secretary_client, world,
                                                                                      read, now):
    token = new_token(secretary_client)
    assert token.startswith(users.TOKEN_PREFIX)
    [row] = read(lambda s: list(s.exec(select(ApiToken))))
    assert row.user_id == world.secretary.id and token not in row.token_hash
    assert token not in secretary_client.get("/account/").text  # shown once

    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    app.extensions["scheduler"].clock = lambda: now + timedelta(minutes=10)
    wards = api.get("/api/v1/wards", headers=headers)
    assert wards.status_code == 200 and [w["code"] for w in wards.json["wards"]] == [world.ward.code]  # her scope
    assert api.get("/api/v1/stats/uptake", headers=headers).status_code == 403  # her role
    page = parse(secretary_client.get("/account/").text)
    [table] = page.find_all("table")
    cells = [td.text() for td in table.find_all("td")]
    assert cells[0] == f"#{row.id}" and cells[2] != "Aldrig"
    assert read(lambda s: s.get(ApiToken, row.id)).last_used_at == now + timedelta(minutes=10)

    response = secretary_client.post(f"/account/tokens/{row.id}/revoke")
    assert response.status_code == 302
    assert api.get("/api/v1/wards", headers=headers).status_code == 401
    assert "Du har ingen aktive adgangsnøgler" in secretary_client.get("/account/").text
    actions = read(lambda s: [(e.action, e.object_type) for e in s.exec(
        select(AuditEntry).where(AuditEntry.object_type == users.API_TOKEN).order_by(AuditEntry.id))])
    assert actions == [(audit.CREATE, users.API_TOKEN), (audit.REVOKE, users.API_TOKEN)]


def test_nobody_revokes_another_users_token_from_her_own_page(client_for, world, factory, read):
    owner = client_for(world.secretary)
    new_token(owner)
    [row] = read(lambda s: list(s.exec(select(ApiToken))))
    thief = client_for(factory.secretary(world.ward))
    assert thief.post(f"/account/tokens/{row.id}/revoke").status_code == 404
    assert thief.post("/account/tokens/99999999999/revoke").status_code == 404
    assert read(lambda s: s.get(ApiToken, row.id)).revoked_at is None


def test_token_creation_and_revocation_need_post(secretary_client):
    assert secretary_client.get("/account/tokens").status_code == 405
    assert re.search(r"<form[^>]+action=\"/account/tokens\"", secretary_client.get("/account/").text)


def test_a_user_picks_her_language_for_pages_and_e_mails(session, factory, login):
    from scheduler.models import User

    user = factory.secretary()
    client = login(user, session)
    assert 'name="language"' in client.get("/account/").text
    response = client.post("/account/language", data={"language": "en"}, follow_redirects=True)
    assert response.status_code == 200 and "My account" in response.text and 'lang="en"' in response.text
    refused = client.post("/account/language", data={"language": "xx"})
    assert refused.status_code == 422 and 'id="f-language-error"' in refused.text
    session.expire_all()
    assert session.get(User, user.id).language == "en"
