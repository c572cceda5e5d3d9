"""Every page that shows, changes or exports personal data leaves an audit entry: who (or which answer link),
what, which meeting and patient (by CPR digest), from which address, and never a CPR number or a name."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from scheduler import crypto
from scheduler.models import AnswerStatus, AuditEntry, Participant, ParticipantRole, Role
from scheduler.schemas import OfferIn
from scheduler.services import offers as catalogue

from ..uptake_data import build
from .conftest import book_via_form, booked_id, participants
from .html import parse, radios, value_of

CPR = "0101501234"  # as the form's "010150-1234" is stored
PERSONAL = ("010150-1234", CPR, "Karl", "Jensen", "Grete", "Sofie", "karl@example.net", "grete@example.net")
OBJECT_TYPES = ("meeting", "meeting_list", "uptake_log", "statistics", "audit_trail")
COLUMNS = ("user_email", "role", "action", "object_type", "object_id", "patient_ref", "detail", "ip")


def trail(read, **where) -> list[AuditEntry]:
    """The entries about meetings and exports (logins and user administration are recorded too, elsewhere)."""

    def query(session):  # type: ignore[no-untyped-def]
        statement = select(AuditEntry).where(col(AuditEntry.object_type).in_(OBJECT_TYPES)).order_by(AuditEntry.id)
        for name, value in where.items():
            statement = statement.where(getattr(AuditEntry, name) == value)
        return list(session.exec(statement))

    return read(query)


def assert_no_personal_data(entries: list[AuditEntry]) -> None:
    for entry in entries:
        for name in COLUMNS:
            value = str(getattr(entry, name) or "")
            assert not any(secret in value for secret in PERSONAL), (name, value)


def summary(entry: AuditEntry) -> tuple[object, ...]:
    return entry.user_email, entry.action, entry.object_type, entry.meeting_id, entry.detail


@pytest.fixture
def digest():
    return crypto.cpr_digest(CPR)


@pytest.fixture
def meeting_id(secretary_client, world):
    return booked_id(book_via_form(secretary_client, world.ward))


# ---- the secretary


def test_booking_and_every_view_of_the_meeting_are_recorded(secretary_client, world, meeting_id, read, digest):
    email = world.secretary.email
    assert secretary_client.get(f"/meetings/{meeting_id}").status_code == 200
    assert secretary_client.get(f"/meetings/{meeting_id}/print").status_code == 200
    assert secretary_client.get(f"/meetings/{meeting_id}/invite.ics").status_code == 200
    assert secretary_client.get("/meetings/").status_code == 200
    assert secretary_client.get("/meetings/", query_string={"show": "<b>Karl</b>"}).status_code == 200

    entries = trail(read)
    assert [summary(e) for e in entries] == [
        (email, "create", "meeting", meeting_id, "booked"),
        (email, "view", "meeting", meeting_id, "meetings.show"),
        (email, "view", "meeting", meeting_id, "meetings.print_invitation"),
        (email, "view", "meeting", meeting_id, "meetings.invite"),
        (email, "view", "meeting_list", None, "meetings.index show=upcoming count=1"),
        (email, "view", "meeting_list", None, "meetings.index show=all count=1"),
    ]
    for entry in entries:
        assert (entry.user_id, entry.role, entry.ip) == (world.secretary.id, "secretary", "127.0.0.1")
        assert entry.at == datetime(2026, 11, 23, 8, tzinfo=UTC)  # the app's clock
    assert [e.patient_ref for e in entries] == [digest] * 4 + [None, None]
    assert_no_personal_data(entries)


def test_rescheduling_and_cancelling_are_recorded(secretary_client, world, meeting_id, read, digest):
    page = parse(secretary_client.get(f"/meetings/{meeting_id}/reschedule").text)
    slot = next(r.attrs["value"] for r in radios(page) if r.attrs["value"].startswith("2026-11-24T"))
    form = {name: value_of(page, name) for name in ("from", "to", "duration_minutes")}
    response = secretary_client.post(f"/meetings/{meeting_id}/reschedule", data={
        **form, "slot": slot, "reason": "Karl Jensen er træt", "action": "reschedule"})
    assert response.status_code == 302
    response = secretary_client.post(f"/meetings/{meeting_id}/cancel", data={"reason": "Karl er indlagt igen"})
    assert response.status_code == 302

    entries = trail(read)
    assert [(e.action, e.detail) for e in entries] == [
        ("create", "booked"), ("view", "meetings.reschedule"), ("update", "rescheduled"), ("cancel", "cancelled")]
    assert {(e.user_id, e.meeting_id, e.patient_ref, e.ip) for e in entries} == {
        (world.secretary.id, meeting_id, digest, "127.0.0.1")}
    assert_no_personal_data(entries)


def test_a_meeting_she_may_not_see_is_not_recorded_as_seen(client_for, factory, session, meeting_id, read):
    stranger = client_for(factory.secretary(factory.ward(code="KIR")))
    assert stranger.get(f"/meetings/{meeting_id}").status_code == 404
    assert stranger.get(f"/meetings/{meeting_id}/invite.ics").status_code == 404
    assert trail(read, action="view") == []


# ---- the answer link and the advisor's pages


@pytest.fixture
def links(app):
    return app.extensions["scheduler"].mailer.links


def party(read, meeting_id, role) -> Participant:
    return next(p for p in participants(read, meeting_id) if p.role == role)


def test_the_answer_link_is_recorded_by_party_without_a_user(client, meeting_id, read, links, digest):
    url = "/answer/" + links.token_for(party(read, meeting_id, ParticipantRole.staff))
    assert client.get(url).status_code == 200
    assert client.post(url, data={"status": "declined", "comment": "Karl Jensen har feber"}).status_code == 200

    entries = trail(read, meeting_id=meeting_id)[1:]  # after the booking
    assert [(e.user_id, e.user_email, e.role, e.action, e.detail) for e in entries] == [
        (None, None, None, "view", "answers.show role=staff via=answer_link"),
        (None, None, None, "update", "answered role=staff status=declined via=answer_link")]
    assert {(e.patient_ref, e.ip) for e in entries} == {(digest, "127.0.0.1")}
    assert_no_personal_data(entries)


def test_the_advisor_s_inbox_and_her_answer_are_recorded(client_for, world, meeting_id, read, digest):
    advisor = client_for(world.advisor)
    assert advisor.get("/advisor/").status_code == 200
    invitation = party(read, meeting_id, ParticipantRole.advisor)
    response = advisor.post(f"/advisor/invitations/{invitation.id}", data={"status": "accepted"})
    assert response.status_code == 302

    entries = trail(read, user_id=world.advisor.id)
    assert [summary(e) for e in entries] == [
        (world.advisor.email, "view", "meeting_list", None, "advisor.index invitations=1 count=1"),
        (world.advisor.email, "update", "meeting", meeting_id, "answered role=advisor status=accepted")]
    assert entries[1].patient_ref == digest and entries[1].role == "advisor"


# ---- recording


FOUR_WEEKS_AGO = datetime(2026, 10, 16, 8, 0, tzinfo=UTC)  # a Friday, 10:00 local; follow-ups are due


@pytest.fixture
def held(session, factory, world):
    """A past meeting with a patient whose CPR digest is stored, and an offer to present."""
    catalogue.create_offer(session, municipality_code="0540",
                           data=OfferIn(code="rygestop", name="Rygestopkursus", category="rygestop"))
    meeting = factory.meeting(world.advisor, FOUR_WEEKS_AGO, ward=world.ward)
    session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient, name="Karl Jensen", cpr=CPR,
                            cpr_digest=crypto.cpr_digest(CPR), status=AnswerStatus.needs_action))
    session.commit()
    return meeting


def test_recording_pages_and_what_is_recorded(client_for, world, held, read, digest):
    advisor = client_for(world.advisor)
    assert advisor.get("/advisor/recording").status_code == 200
    assert advisor.get(f"/advisor/meetings/{held.id}/record").status_code == 200
    response = advisor.post(f"/advisor/meetings/{held.id}/record", data={
        "outcome": "held", "presented.rygestop": "1", "response.rygestop": "accepted", "note": "Ryger stadig"})
    assert response.status_code == 302
    assert advisor.get("/advisor/followups").status_code == 200
    response = advisor.post(f"/advisor/meetings/{held.id}/offers/rygestop/uptake", data={
        "key": "u", "u.status": "started", "u.started_on": "2026-10-20", "next": "followups"})
    assert response.status_code == 302

    email = world.advisor.email
    entries = trail(read)
    assert [summary(e) for e in entries] == [
        (email, "view", "meeting_list", None, "recording.index to_record=1 count=1"),
        (email, "view", "meeting", held.id, "recording.record"),
        (email, "update", "meeting", held.id, "outcome_recorded"),
        (email, "update", "meeting", held.id, "offers_recorded"),
        (email, "view", "meeting_list", None, "recording.followups count=1"),
        (email, "update", "meeting", held.id, "uptake_recorded"),
    ]
    assert [e.patient_ref for e in entries if e.meeting_id] == [digest] * 4
    assert not any("Ryger" in (e.detail or "") for e in entries)


# ---- the coordinator's exports


def test_the_coordinator_s_downloads_are_recorded(client_for, session, factory, read):
    build(session, factory, ward_code="ONK-D")
    coordinator = factory.user(role=Role.coordinator, name="Karin Koordinator")
    session.commit()
    client = client_for(coordinator)
    query = {"from": "2026-09-01", "to": "2026-11-30", "municipality": ["0540", "0306"]}
    assert client.get("/dashboard/uptake.csv", query_string=query).status_code == 200
    assert client.get("/dashboard/uptake.xlsx", query_string=query).status_code == 200
    assert client.get("/dashboard/statistics.csv", query_string={**query, "group_by": "month"}).status_code == 200
    assert client.get("/dashboard/uptake.csv", query_string={**query, "from": "2026-13-01"}).status_code == 422
    assert client.get("/dashboard", query_string=query).status_code == 200  # figures only: nothing personal

    entries = trail(read)
    period = "from=2026-09-01 to=2026-11-30 municipalities=0306,0540"
    assert [summary(e) for e in entries] == [
        (coordinator.email, "export", "uptake_log", None, f"dashboard.download_uptake {period} format=csv"),
        (coordinator.email, "export", "uptake_log", None, f"dashboard.download_uptake {period} format=xlsx"),
        (coordinator.email, "export", "statistics", None,
         f"dashboard.download_statistics {period} format=csv group_by=month"),
    ]
    assert {(e.role, e.ip) for e in entries} == {("coordinator", "127.0.0.1")}


def test_behind_a_trusted_proxy_the_client_address_is_recorded(config, session, factory, now):
    from scheduler import create_app
    from scheduler.models import AuditEntry
    from scheduler.video.jitsi import JitsiProvider
    from sqlmodel import select

    config.values["app"]["proxy_hops"] = 1
    app = create_app(config, video=JitsiProvider("https://meet.example.org"), clock=lambda: now)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    client.post("/login", data={"email": "nobody@example.org", "password": "x" * 12},
                headers={"X-Forwarded-For": "203.0.113.7"}, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    entry = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None and entry.ip == "203.0.113.7"
    app.extensions["scheduler"].engine.dispose()
