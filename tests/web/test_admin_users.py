"""User management for admins, end to end through the pages: find, create, edit, reset passwords,
deactivate and reactivate, revoke anyone's tokens; nobody else gets in."""
from __future__ import annotations

import pytest
from sqlmodel import select

from scheduler.models import ApiToken, AuditEntry, Role, User
from scheduler.services import audit, users

from .conftest import PASSWORD
from .html import assert_field_error, control, parse, value_of

NEW_PASSWORD = "et-helt-nyt-kodeord"


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    monkeypatch.setattr(users, "PASSWORD_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def admin(session, factory):
    admin = factory.user(role=Role.admin, name="Anders Admin", email="admin@region.example")
    session.commit()
    return admin


@pytest.fixture
def admin_client(client_for, admin):
    return client_for(admin)


def user_form(**overrides):
    form = {"name": "Nina Ny", "email": "nina@hospital.example", "role": "secretary", "language": "da",
            "municipality_code": "", "region_code": "", "ward_codes": ["ONK"], "password": "", "password_repeat": ""}
    form.update(overrides)
    return form


def by_email(read, email) -> User | None:
    return read(lambda s: s.exec(select(User).where(User.email == email)).first())


def shown_password(response) -> str:
    return parse(response.text).by_id("f-generated-password").attrs["value"]


def test_only_admins_get_in(client_for, client, world, factory, admin):
    paths = [("GET", "/admin/users/"), ("GET", "/admin/users/new"), ("POST", "/admin/users/new"),
             ("GET", f"/admin/users/{admin.id}"), ("POST", f"/admin/users/{admin.id}"),
             ("POST", f"/admin/users/{admin.id}/password"), ("POST", f"/admin/users/{admin.id}/deactivate"),
             ("POST", f"/admin/users/{admin.id}/reactivate"), ("POST", f"/admin/users/{admin.id}/tokens/1/revoke")]
    for user in (world.secretary, world.advisor, factory.user(role=Role.coordinator)):
        other = client_for(user)
        for method, path in paths:
            assert other.open(path, method=method).status_code == 403, (user.role, path)
    for method, path in paths:
        response = client.open(path, method=method)
        assert response.status_code == 302 and response.location.startswith("/login"), path


def test_the_list_finds_users_by_text_role_and_status(admin_client, world, factory, session):
    gone = factory.user(name="Gitte Gammel", email="gitte@old.example")
    gone.is_active = False
    session.commit()
    page = parse(admin_client.get("/admin/users/").text)
    names = [a.text() for a in page.find_all("a") if a.attrs.get("href", "").startswith("/admin/users/")
             and a.attrs["href"].rstrip("/").split("/")[-1].isdigit()]
    assert world.secretary.name in names and world.advisor.name in names and "Gitte Gammel" not in names
    page = parse(admin_client.get("/admin/users/", query_string={"q": "rådgiver", "role": "advisor"}).text)
    assert [r.find_all("td")[0].text() for r in page.find_all("tbody")[0].find_all("tr")] == ["Mette Rådgiver"]
    page = admin_client.get("/admin/users/", query_string={"q": "gitte", "status": "inactive"}).text
    assert "Gitte Gammel" in page and "Deaktiveret" in page
    assert admin_client.get("/admin/users/", query_string={"role": "pope", "status": "x"}).status_code == 200


def test_an_admin_creates_a_secretary_who_logs_in_with_the_password_shown_once(app, admin_client, world, read):
    response = admin_client.post("/admin/users/new", data=user_form())
    assert response.status_code == 201, response.text
    password = shown_password(response)
    nina = by_email(read, "nina@hospital.example")
    assert nina.role == Role.secretary and password not in (nina.password_hash or "")
    page = parse(admin_client.get(f"/admin/users/{nina.id}").text)
    assert password not in admin_client.get(f"/admin/users/{nina.id}").text  # shown once
    assert [o.attrs["value"] for o in control(page, "ward_codes").find_all("option") if "selected" in o.attrs] \
        == ["ONK"]
    client = app.test_client()
    assert client.post("/login", data={"email": "nina@hospital.example", "password": password}).status_code == 302
    assert client.get("/meetings/new").status_code == 200
    [entry] = read(lambda s: list(s.exec(select(AuditEntry).where(AuditEntry.action == audit.CREATE,
                                                                  AuditEntry.object_type == users.USER))))
    assert entry.object_id == str(nina.id) and password not in repr(entry)


def test_an_admin_creates_an_advisor_with_her_own_password(admin_client, read):
    response = admin_client.post("/admin/users/new", data=user_form(
        role="advisor", municipality_code="0540", password=NEW_PASSWORD, password_repeat=NEW_PASSWORD))
    assert response.status_code == 302
    advisor = by_email(read, "nina@hospital.example")
    assert response.location == f"/admin/users/{advisor.id}"
    assert (advisor.role, advisor.municipality_code) == (Role.advisor, "0540")


@pytest.mark.parametrize(("overrides", "field", "text"), [
    ({"email": "nina"}, "email", "Ugyldig e-mailadresse"),
    ({"email": "a" * 250 + "@x.dk"}, "email", "Må højst være 254 tegn"),
    ({"name": ""}, "name", "Skal udfyldes"),
    ({"name": "N" * 201}, "name", "Må højst være 200 tegn"),
    ({"role": "advisor"}, "municipality_code", "skal høre til en kommune"),
    ({"role": "coordinator", "region_code": "DK-99"}, "region_code", "Ukendt region"),
    ({"role": "coordinator", "region_code": "DK-83", "municipality_code": "0540"}, "region_code", "ikke begge"),
    ({"ward_codes": []}, "ward_codes", "mindst én afdeling"),
    ({"ward_codes": ["ONK", "FINDES-IKKE"]}, "ward_codes", "Ukendt afdeling: FINDES-IKKE"),
    ({"password": "kort", "password_repeat": "kort"}, "password", "mindst 10 tegn"),
    ({"password": NEW_PASSWORD, "password_repeat": "andet"}, "password_repeat", "ikke ens"),
])
def test_create_errors_sit_next_to_the_field_and_keep_what_was_typed(admin_client, world, read, overrides, field,
                                                                      text):
    response = admin_client.post("/admin/users/new", data=user_form(**overrides))
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, field, text)
    assert value_of(page, "name") == user_form(**overrides)["name"]
    assert value_of(page, "password") in (None, "")
    assert read(lambda s: s.exec(select(User).where(User.name == "Nina Ny")).first()) is None


def test_an_e_mail_already_in_use_is_refused(admin_client, world):
    response = admin_client.post("/admin/users/new", data=user_form(email=world.secretary.email.upper()))
    assert response.status_code == 422
    assert_field_error(parse(response.text), "email", "findes allerede")


def test_editing_replaces_wards_and_scope(admin_client, world, factory, session, read):
    factory.ward(code="KIR", name="Kirurgisk afdeling")
    session.commit()
    form = {**user_form(name=world.secretary.name, email=world.secretary.email), "ward_codes": ["KIR"]}
    response = admin_client.post(f"/admin/users/{world.secretary.id}", data=form)
    assert response.status_code == 302, response.text
    codes = read(lambda s: [w.code for w in users.wards_of(s, s.get(User, world.secretary.id))])
    assert codes == ["KIR"]
    form = {**form, "role": "coordinator", "region_code": "DK-83"}
    assert admin_client.post(f"/admin/users/{world.secretary.id}", data=form).status_code == 302
    changed = read(lambda s: s.get(User, world.secretary.id))
    assert (changed.role, changed.region_code) == (Role.coordinator, "DK-83")
    response = admin_client.post(f"/admin/users/{world.secretary.id}", data={**form, "email": world.advisor.email})
    assert response.status_code == 422
    assert_field_error(parse(response.text), "email", "findes allerede")
    assert admin_client.get("/admin/users/99999").status_code == 404


def test_an_admin_cannot_take_away_her_own_admin_role_or_deactivate_herself(admin_client, admin, read):
    form = user_form(name=admin.name, email=admin.email, role="secretary")
    response = admin_client.post(f"/admin/users/{admin.id}", data=form)
    assert response.status_code == 422
    assert_field_error(parse(response.text), "role", "egen administratorrolle")
    response = admin_client.post(f"/admin/users/{admin.id}/deactivate")
    assert response.status_code == 302
    assert "Du kan ikke deaktivere din egen bruger" in admin_client.get(response.location).text
    assert read(lambda s: s.get(User, admin.id)).is_active and read(lambda s: s.get(User, admin.id)).role == Role.admin


def test_a_reset_password_logs_the_user_out_everywhere(app, admin_client, client_for, world):
    victim = client_for(world.secretary)
    response = admin_client.post(f"/admin/users/{world.secretary.id}/password",
                                 data={"new_password": NEW_PASSWORD, "new_password_repeat": NEW_PASSWORD})
    assert response.status_code == 302
    assert victim.get("/meetings/").status_code == 302
    login = app.test_client()
    assert login.post("/login", data={"email": world.secretary.email, "password": PASSWORD}).status_code == 401
    assert login.post("/login", data={"email": world.secretary.email, "password": NEW_PASSWORD}).status_code == 302

    response = admin_client.post(f"/admin/users/{world.secretary.id}/password", data={})
    assert response.status_code == 200
    generated = shown_password(response)
    assert login.get("/meetings/").status_code == 302  # that session ended too
    assert login.post("/login", data={"email": world.secretary.email, "password": generated}).status_code == 302

    response = admin_client.post(f"/admin/users/{world.secretary.id}/password",
                                 data={"new_password": "kort", "new_password_repeat": "kort"})
    assert response.status_code == 422
    assert_field_error(parse(response.text), "new_password", "mindst 10 tegn")


def test_a_reset_unlocks_a_locked_account(app, admin_client, world, read):
    client = app.test_client()
    for _ in range(5):
        client.post("/login", data={"email": world.secretary.email, "password": "wrong"})
    assert "Låst" in admin_client.get("/admin/users/").text
    response = admin_client.post(f"/admin/users/{world.secretary.id}/password",
                                 data={"new_password": NEW_PASSWORD, "new_password_repeat": NEW_PASSWORD})
    assert response.status_code == 302
    assert client.post("/login", data={"email": world.secretary.email, "password": NEW_PASSWORD}).status_code == 302


def test_deactivating_stops_sessions_and_tokens_and_reactivating_restores_access(app, admin_client, client_for,
                                                                                 world, api_token, read):
    session_client = client_for(world.secretary)
    headers = api_token(world.secretary)
    api = app.test_client()
    assert api.get("/api/v1/wards", headers=headers).status_code == 200
    assert admin_client.post(f"/admin/users/{world.secretary.id}/deactivate").status_code == 302
    assert session_client.get("/meetings/").status_code == 302
    assert api.get("/api/v1/wards", headers=headers).status_code == 401
    assert "Deaktiveret" in admin_client.get(f"/admin/users/{world.secretary.id}").text

    assert admin_client.post(f"/admin/users/{world.secretary.id}/reactivate").status_code == 302
    assert api.get("/api/v1/wards", headers=headers).status_code == 200
    assert session_client.post("/login", data={"email": world.secretary.email,
                                               "password": PASSWORD}).status_code == 302
    details = read(lambda s: [e.detail for e in s.exec(select(AuditEntry).where(
        AuditEntry.object_type == users.USER, AuditEntry.action == audit.UPDATE).order_by(AuditEntry.id))])
    assert details == [f"{world.secretary.email}: deactivated", f"{world.secretary.email}: reactivated"]


def test_an_admin_lists_and_revokes_another_users_token(app, admin_client, world, api_token, read):
    headers = api_token(world.secretary)
    [row] = read(lambda s: list(s.exec(select(ApiToken))))
    page = parse(admin_client.get(f"/admin/users/{world.secretary.id}").text)
    assert f"#{row.id}" in [td.text() for td in page.find_all("td")]
    response = admin_client.post(f"/admin/users/{world.secretary.id}/tokens/{row.id}/revoke")
    assert response.status_code == 302
    assert app.test_client().get("/api/v1/wards", headers=headers).status_code == 401
    # a token id under the wrong user is not found
    assert admin_client.post(f"/admin/users/{world.advisor.id}/tokens/{row.id}/revoke").status_code == 404
