"""The JSON API and the command line leave the same audit entries as the pages: reads and writes of
meetings by the token's user, and every export of the uptake log (the command line names its OS account)."""
from __future__ import annotations

import getpass
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from scheduler import crypto
from scheduler.db import new_session
from scheduler.models import AuditEntry, Role
from scheduler.schemas import OfferIn
from scheduler.services import offers as catalogue

from ..uptake_data import build

API = "/api/v1"
CPR = "010150-1234"
PERSONAL = (CPR, CPR.replace("-", ""), "Karl", "Jensen", "Grete", "Sofie", "karl@example.net")
OBJECT_TYPES = ("meeting", "meeting_list", "uptake_log", "statistics", "audit_trail")
BODY = {"ward": "ONK", "municipality": "0540", "start": "2026-11-24T10:00:00+01:00", "duration_minutes": 45,
        "patient": {"name": "Karl Jensen", "cpr": CPR, "email": "karl@example.net"},
        "relatives": [{"name": "Grete Jensen", "email": "grete@example.net"}],
        "staff": [{"name": "Sygeplejerske Sofie", "email": "sofie@hospital.example"}]}


def trail(engine) -> list[AuditEntry]:
    with new_session(engine) as session:
        return list(session.exec(select(AuditEntry).where(col(AuditEntry.object_type).in_(OBJECT_TYPES))
                                 .order_by(AuditEntry.id)))


def assert_no_personal_data(entries: list[AuditEntry]) -> None:
    for entry in entries:
        for name in ("user_email", "object_id", "patient_ref", "detail", "ip"):
            value = str(getattr(entry, name) or "")
            assert not any(secret in value for secret in PERSONAL), (name, value)


@pytest.fixture
def world(session, factory, api_token):
    ward = factory.ward(code="ONK")
    secretary = factory.secretary(ward)
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    catalogue.create_offer(session, municipality_code="0540",
                           data=OfferIn(code="rygestop", name="Rygestop", category="rygestop"))
    session.commit()
    return secretary, advisor, api_token(secretary), api_token(advisor)


def test_api_reads_and_writes_of_meetings_are_recorded(client, engine, world):
    secretary, _advisor, headers, _ = world
    created = client.post(f"{API}/meetings", json=BODY, headers=headers)
    assert created.status_code == 201, created.text
    meeting_id = created.json["id"]
    url = f"{API}/meetings/{meeting_id}"
    assert client.get(url, headers=headers).status_code == 200
    assert client.get(f"{API}/meetings", headers=headers).status_code == 200
    assert client.get(f"{url}/invite.ics", headers=headers).status_code == 200
    assert client.patch(url, json={"start": "2026-11-24T13:00:00+01:00"}, headers=headers).status_code == 200
    assert client.post(f"{url}/cancel", json={"reason": "Karl er indlagt igen"}, headers=headers).status_code == 200
    assert client.get(f"{API}/meetings/999999", headers=headers).status_code == 404

    entries = trail(engine)
    assert [(e.action, e.object_type, e.meeting_id, e.detail) for e in entries] == [
        ("create", "meeting", meeting_id, "booked"),
        ("view", "meeting", meeting_id, "api.get_meeting"),
        ("view", "meeting_list", None, "api.list_meetings count=1"),
        ("view", "meeting", meeting_id, "api.meeting_invite"),
        ("update", "meeting", meeting_id, "rescheduled"),
        ("cancel", "meeting", meeting_id, "cancelled"),
    ]
    assert {(e.user_id, e.user_email, e.role, e.ip) for e in entries} == {
        (secretary.id, secretary.email, "secretary", "127.0.0.1")}
    digest = crypto.cpr_digest(CPR.replace("-", ""))
    assert [e.patient_ref for e in entries] == [digest, digest, None, digest, digest, digest]
    assert_no_personal_data(entries)


def test_api_recording_is_recorded(client, engine, factory, session, world):
    _secretary, advisor, _, advisor_headers = world
    meeting = factory.meeting(advisor, datetime(2026, 11, 20, 9, tzinfo=UTC))
    session.commit()
    url = f"{API}/meetings/{meeting.id}"
    assert client.put(f"{url}/outcome", json={"outcome": "held"}, headers=advisor_headers).status_code == 200
    assert client.put(f"{url}/offers", json={"offers": [{"code": "rygestop", "response": "accepted"}],
                                             "note": "Ryger stadig"}, headers=advisor_headers).status_code == 200
    assert client.put(f"{url}/offers/rygestop/uptake", json={"status": "started", "started_on": "2026-11-21"},
                      headers=advisor_headers).status_code == 200

    entries = trail(engine)
    assert [(e.user_id, e.action, e.meeting_id, e.detail) for e in entries] == [
        (advisor.id, "update", meeting.id, "outcome_recorded"), (advisor.id, "update", meeting.id, "offers_recorded"),
        (advisor.id, "update", meeting.id, "uptake_recorded")]


def test_api_export_is_recorded(client, engine, factory, session, api_token):
    build(session, factory, ward_code="ONK-A")
    coordinator = factory.user(role=Role.coordinator)
    session.commit()
    headers = api_token(coordinator)
    query = {"from": "2026-09-01", "to": "2026-11-30", "municipality": ["0540", "0306"], "format": "json"}
    assert client.get(f"{API}/exports/uptake", query_string=query, headers=headers).status_code == 200
    assert client.get(f"{API}/exports/uptake", query_string={**query, "format": "pdf"},
                      headers=headers).status_code == 422

    assert [(e.user_id, e.role, e.action, e.object_type, e.detail, e.ip) for e in trail(engine)] == [
        (coordinator.id, "coordinator", "export", "uptake_log",
         "api.uptake_log_export from=2026-09-01 to=2026-11-30 municipalities=0306,0540 format=json", "127.0.0.1")]


def test_command_line_export_is_recorded_with_the_os_account(app, engine, factory, session, tmp_path):
    build(session, factory)
    session.commit()
    output = tmp_path / "uptake.csv"
    result = app.test_cli_runner().invoke(args=[
        "export", "uptake", "--from", "2026-09-01", "--to", "2026-11-30", "--municipality", "0540",
        "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert output.exists()

    rows = len(output.read_text(encoding="utf-8-sig").splitlines()) - 1
    [entry] = trail(engine)
    assert (entry.user_id, entry.user_email, entry.action, entry.object_type, entry.ip) == (
        None, None, "export", "uptake_log", None)
    assert rows > 0 and entry.detail == (f"command line os_user={getpass.getuser()} from=2026-09-01 "
                                         f"to=2026-11-30 municipalities=0540 format=csv rows={rows}")
    assert entry.at == datetime(2026, 11, 23, 8, tzinfo=UTC)
