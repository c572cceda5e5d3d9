"""The admin's audit-trail pages: only admins get in; search by e-mail, action, object type, meeting and local
dates, newest first, in pages; the filtered trail as a formula-safe CSV; both recorded; nothing can edit it."""
from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from scheduler.models import AuditEntry, Role
from scheduler.services import audit

from .html import assert_field_error, parse

BASE = datetime(2026, 11, 20, 12, tzinfo=UTC)  # 13:00 in Copenhagen


@pytest.fixture
def admin(session, factory):
    user = factory.user(role=Role.admin, email="admin@region.example", name="Anne Admin")
    session.commit()
    return user


@pytest.fixture
def admin_client(client_for, admin):
    return client_for(admin)


@pytest.fixture
def entries(session, factory, world):
    """Six entries a day apart (Nov 20 to 25), the last one a failed login with a hostile e-mail."""
    advisor = world.advisor
    rows = [(world.secretary, audit.VIEW, audit.MEETING, 11), (world.secretary, audit.CREATE, audit.MEETING, 12),
            (advisor, audit.UPDATE, audit.MEETING, 11), (advisor, audit.VIEW, audit.MEETING_LIST, None),
            (world.secretary, audit.EXPORT, audit.UPTAKE_LOG, None), (None, audit.LOGIN_FAILED, "user", None)]
    audit.remember_client(session, ip="10.1.2.3")
    for i, (actor, action, object_type, meeting_id) in enumerate(rows):
        entry = audit.record(session, actor=actor, action=action, object_type=object_type, now=BASE + timedelta(days=i),
                             actor_email="=1+2<script>alert(1)</script>" if actor is None else None,
                             detail=f"entry {i}")
        entry.meeting_id = meeting_id
    session.commit()
    audit.remember_client(session, ip=None)
    return rows


def shown(response, prefix: str = "") -> list[str]:
    """The detail column of the rows on the page, top to bottom (those starting with `prefix`)."""
    table = parse(response.text).by_id("audit-entries")
    rows = [] if table is None else table.find_all("tbody")[0].find_all("tr")
    return [text for text in (row.find_all("td")[7].text() for row in rows) if text.startswith(prefix)]


def test_only_admins_get_in(client, client_for, factory, world, session):
    coordinator = factory.user(role=Role.coordinator)
    session.commit()
    for user in (world.secretary, world.advisor, coordinator):
        other = client_for(user)
        assert other.get("/admin/audit/").status_code == 403
        assert other.get("/admin/audit/audit.csv").status_code == 403
        assert "Revisionsspor" not in other.get("/meetings/").text
    for url in ("/admin/audit/", "/admin/audit/audit.csv"):
        response = client.get(url)
        assert response.status_code == 302 and response.location.startswith("/login")


def test_no_route_can_change_the_trail(app, admin_client, entries):
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/admin/audit")]
    assert {rule.endpoint for rule in rules} == {"audit.index", "audit.export"}
    assert all(rule.methods <= {"GET", "HEAD", "OPTIONS"} for rule in rules)
    for method in ("post", "put", "patch", "delete"):
        assert getattr(admin_client, method)("/admin/audit/").status_code == 405


def test_search_newest_first_with_every_filter(admin_client, admin, entries, world, read):
    page = admin_client.get("/admin/audit/")
    assert page.status_code == 200 and "Revisionsspor" in page.text
    assert shown(page, "entry") == ["entry 5", "entry 4", "entry 3", "entry 2", "entry 1", "entry 0"]
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text

    def search(**args: str) -> list[str]:
        response = admin_client.get("/admin/audit/", query_string=args)
        assert response.status_code == 200
        return shown(response)

    assert search(email=world.secretary.email.upper()) == ["entry 4", "entry 1", "entry 0"]
    assert search(action="view", object_type="meeting_list") == ["entry 3"]
    assert search(action="view", object_type="meeting") == ["entry 0"]
    assert search(object_type="uptake_log") == ["entry 4"]
    assert search(meeting_id="11") == ["entry 2", "entry 0"]
    assert search(**{"from": "2026-11-21", "to": "2026-11-23", "object_type": "meeting"}) == ["entry 2", "entry 1"]
    assert search(email="nobody@") == []

    searches = read(lambda s: list(s.exec(select(AuditEntry).where(AuditEntry.object_type == "audit_trail")
                                          .order_by(AuditEntry.id))))
    assert len(searches) == 8 and {(e.user_id, e.action, e.ip) for e in searches} == {
        (admin.id, "view", "127.0.0.1")}
    assert searches[0].detail == f"all page=1 count={len(shown(page))}"  # with the admin's login
    assert searches[6].detail == "object_type=meeting from=2026-11-21 to=2026-11-23 page=1 count=2"


def test_bad_filters_are_shown_next_to_their_fields(admin_client, entries):
    response = admin_client.get("/admin/audit/", query_string={"meeting_id": "abc", "from": "2026-13-01",
                                                               "email": "010150-1234"})
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, "meeting_id", "Skriv mødets nummer")
    assert_field_error(page, "from", "Ugyldig dato")
    assert_field_error(page, "email", "ikke et CPR-nummer")
    assert page.by_id("audit-entries") is None
    assert admin_client.get("/admin/audit/", query_string={"page": "x"}).status_code == 422


def test_pages_of_fifty_keep_the_filter(admin_client, session, admin):
    for i in range(55):
        audit.record(session, actor=admin, action=audit.VIEW, object_type=audit.MEETING, object_id=i,
                     now=BASE + timedelta(minutes=i), detail=f"entry {i}")
    session.commit()
    first = admin_client.get("/admin/audit/", query_string={"object_type": "meeting"})
    assert shown(first) == [f"entry {i}" for i in range(54, 4, -1)]
    assert "55 poster" in parse(first.text).by_id("audit-count").text()
    [older] = parse(first.text).find_all("a", rel="next")
    assert "object_type=meeting" in older.attrs["href"] and "page=2" in older.attrs["href"]
    second = admin_client.get(older.attrs["href"])
    assert shown(second) == [f"entry {i}" for i in range(4, -1, -1)]
    assert parse(second.text).find_all("a", rel="next") == [] and parse(second.text).find_all("a", rel="prev")


def test_csv_export_of_the_filtered_trail_is_recorded(admin_client, admin, entries, read):
    page = parse(admin_client.get("/admin/audit/", query_string={"to": "2026-11-25"}).text)
    [link] = [a for a in page.find_all("a") if a.attrs.get("href", "").startswith("/admin/audit/audit.csv")]
    assert link.attrs["href"] == "/admin/audit/audit.csv?to=2026-11-25"

    response = admin_client.get(link.attrs["href"])
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-trail.csv"'
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert list(rows[0]) == list(audit.COLUMNS)
    ours = [r for r in rows if r["detail"].startswith("entry")]  # logins and the search are in the trail too
    assert [r["detail"] for r in ours] == [f"entry {i}" for i in range(5, -1, -1)]
    assert ours[0]["user_email"] == "'=1+2<script>alert(1)</script>"  # a formula no more
    assert (ours[5]["at"], ours[5]["action"], ours[5]["meeting_id"], ours[5]["ip"]) == (
        "2026-11-20T13:00:00+01:00", "view", "11", "10.1.2.3")

    [exported] = read(lambda s: list(s.exec(select(AuditEntry).where(AuditEntry.action == "export",
                                                                     AuditEntry.object_type == "audit_trail"))))
    assert (exported.user_id, exported.detail, exported.ip) == (admin.id, "audit.export to=2026-11-25", "127.0.0.1")
    again = admin_client.get("/admin/audit/audit.csv", query_string={"object_type": "audit_trail",
                                                                      "action": "export"})
    assert [r["detail"] for r in csv.DictReader(io.StringIO(again.data.decode("utf-8-sig")), delimiter=";")] == [
        "audit.export action=export object_type=audit_trail", "audit.export to=2026-11-25"]


def test_the_admin_menu_links_the_trail(admin_client):
    nav = parse(admin_client.get("/meetings/").text).find_all("nav")[0]
    assert [a.text() for a in nav.find_all("a") if a.attrs.get("href") == "/admin/audit/"] == ["Revisionsspor"]
