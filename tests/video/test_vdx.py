"""The VDX provider against a local double of the VDX booking API v2."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests

from scheduler.config import load_config
from scheduler.video import MeetingInfo, VideoRoom, VideoUnavailable, load_provider
from scheduler.video.vdx import VdxProvider

from .conftest import VDX_TOKEN
from .vdx_double import VdxDouble

START = datetime(2030, 3, 1, 9, 0, tzinfo=UTC)
UID = "6f0c8a3e-5b1d-4c0e-9a57-2f1e8d4b7c10@scheduler.example"
SUBJECT = "Udskrivningssamtale (video)"
# What the provider may send: times, a neutral subject, the uid, the organizer, room settings.
NEUTRAL_FIELDS = {"subject", "startTime", "endTime", "externalId", "organizedByEmail", "endMeetingOnEndTime",
                  "guestPinRequired", "hostPin", "guestPin"}


def meeting_info(*, start_at: datetime = START, minutes: int = 45, subject: str = SUBJECT,
                 uid: str = UID) -> MeetingInfo:
    return MeetingInfo(uid=uid, start_at=start_at, end_at=start_at + timedelta(minutes=minutes),
                       subject=subject, organizer_email="noreply@example.org")


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


@pytest.fixture
def vdx(vdx_double: VdxDouble, session: requests.Session) -> VdxProvider:
    return VdxProvider(vdx_double.url, VDX_TOKEN, timeout=2, session=session)


def test_create_books_a_meeting_and_returns_link_sip_and_pins(vdx, vdx_double):
    room = vdx.create(meeting_info())

    [post] = vdx_double.requests_to("POST")
    assert post.headers["Authorization"] == f"Bearer {VDX_TOKEN}"
    assert post.body["subject"] == SUBJECT
    assert post.body["startTime"] == "2030-03-01T09:00:00+00:00"
    assert post.body["endTime"] == "2030-03-01T09:45:00+00:00"
    assert post.body["externalId"] == UID
    assert post.body["organizedByEmail"] == "noreply@example.org"
    assert post.body["guestPinRequired"] is True and post.body["endMeetingOnEndTime"] is False
    assert post.body["hostPin"] != post.body["guestPin"]

    meeting = vdx_double.meetings[room.external_id]
    info = vdx_double.scheduling_info[room.external_id]
    assert room.join_url == meeting["shortLink"]
    assert room.sip_uri == info["uriWithDomain"]
    assert room.guest_pin == str(post.body["guestPin"]) == str(info["guestPin"])
    assert room.host_pin == str(post.body["hostPin"])
    assert meeting["startTime"] == "2030-03-01T09:00:00Z"


def test_create_sends_only_neutral_fields(vdx, vdx_double):
    vdx.create(meeting_info())
    [post] = vdx_double.requests_to("POST")
    assert set(post.body) <= NEUTRAL_FIELDS
    assert "description" not in post.body  # free text is where personal data would creep in


def test_long_subject_is_cut_to_the_100_characters_vdx_accepts(vdx, vdx_double):
    room = vdx.create(meeting_info(subject="Udskrivningssamtale " * 10))
    assert len(vdx_double.requests_to("POST")[0].body["subject"]) == 100
    assert vdx_double.meetings[room.external_id]["subject"] == ("Udskrivningssamtale " * 10)[:100]


def test_without_pin_requirement_the_template_decides_the_pins(vdx_double, session):
    vdx = VdxProvider(vdx_double.url, VDX_TOKEN, timeout=2, session=session, guest_pin_required=False)
    room = vdx.create(meeting_info())
    [post] = vdx_double.requests_to("POST")
    assert post.body["guestPinRequired"] is False and "guestPin" not in post.body
    assert room.guest_pin == str(vdx_double.scheduling_info[room.external_id]["guestPin"])


def test_update_before_provisioning_patches_both_times(vdx, vdx_double):
    room = vdx.create(meeting_info())
    moved = vdx.update(room, meeting_info(start_at=START + timedelta(hours=3), minutes=60))

    assert moved == room
    [patch] = vdx_double.requests_to("PATCH")
    assert patch.body == {"subject": SUBJECT, "startTime": "2030-03-01T12:00:00+00:00",
                          "endTime": "2030-03-01T13:00:00+00:00"}
    assert vdx_double.meetings[room.external_id]["startTime"] == "2030-03-01T12:00:00Z"
    assert len(vdx_double.requests_to("POST")) == 1


def test_update_with_unchanged_times_changes_nothing(vdx, vdx_double):
    room = vdx.create(meeting_info())
    assert vdx.update(room, meeting_info(start_at=START.replace(microsecond=123))) == room
    assert not vdx_double.requests_to("PATCH") and len(vdx_double.requests_to("POST")) == 1


def test_update_after_provisioning_books_a_new_meeting_when_the_start_moves(vdx, vdx_double):
    room = vdx.create(meeting_info())
    vdx_double.provision(room.external_id)

    moved = vdx.update(room, meeting_info(start_at=START + timedelta(days=1)))

    assert moved.external_id != room.external_id and moved.join_url != room.join_url
    assert not vdx_double.requests_to("PATCH")
    assert room.external_id in vdx_double.meetings  # a provisioned meeting cannot be deleted
    second = vdx_double.requests_to("POST")[1].body
    assert second["startTime"] == "2030-03-02T09:00:00+00:00"
    # externalId is unique per organisation in VDX and the old meeting still holds the uid.
    assert second["externalId"] != UID and second["externalId"].startswith(UID)


def test_update_after_provisioning_patches_only_the_end_when_only_the_end_moves(vdx, vdx_double):
    room = vdx.create(meeting_info())
    vdx_double.provision(room.external_id)

    assert vdx.update(room, meeting_info(minutes=75)) == room

    [patch] = vdx_double.requests_to("PATCH")
    assert patch.body == {"endTime": "2030-03-01T10:15:00+00:00"}
    assert vdx_double.meetings[room.external_id]["endTime"] == "2030-03-01T10:15:00Z"


@pytest.mark.parametrize("status", ["STARTING_TO_PROVISION", "PROVISION_PROBLEMS", "DEPROVISION_OK"])
def test_update_in_a_status_that_allows_no_change_books_a_new_meeting(vdx, vdx_double, status):
    room = vdx.create(meeting_info())
    vdx_double.provision(room.external_id, status)
    moved = vdx.update(room, meeting_info(minutes=60))
    assert moved.external_id != room.external_id and not vdx_double.requests_to("PATCH")


def test_update_of_a_meeting_vdx_no_longer_knows_books_a_new_one(vdx, vdx_double):
    room = vdx.create(meeting_info())
    vdx.delete(room)
    moved = vdx.update(room, meeting_info(minutes=60))
    assert moved.external_id in vdx_double.meetings and moved.external_id != room.external_id


def test_update_of_a_link_from_another_provider_books_a_vdx_meeting(vdx, vdx_double):
    moved = vdx.update(VideoRoom(join_url="https://meet.jit.si/abc"), meeting_info())
    assert moved.external_id in vdx_double.meetings


def test_delete_while_awaiting_provisioning_deletes(vdx, vdx_double):
    room = vdx.create(meeting_info())
    vdx.delete(room)
    assert len(vdx_double.requests_to("DELETE")) == 1
    assert room.external_id not in vdx_double.meetings


def test_delete_after_provisioning_leaves_the_meeting_and_logs_why(vdx, vdx_double, caplog):
    room = vdx.create(meeting_info())
    vdx_double.provision(room.external_id)
    with caplog.at_level(logging.INFO, logger="scheduler.video.vdx"):
        vdx.delete(room)
    assert not vdx_double.requests_to("DELETE")
    assert room.external_id in vdx_double.meetings
    assert "PROVISIONED_OK" in caplog.text


def test_delete_of_an_unknown_meeting_is_quiet(vdx, vdx_double):
    vdx.delete(VideoRoom(join_url="https://m.vconf.dk/x", external_id="8d6e3d1c-0000-4000-8000-000000000000"))
    vdx.delete(VideoRoom(join_url="https://meet.jit.si/abc"))
    assert not vdx_double.requests_to("DELETE")


def test_wrong_token_is_unavailable_and_the_message_hides_the_token(vdx_double, session):
    vdx = VdxProvider(vdx_double.url, "wrong-secret-token", timeout=2, session=session)
    with pytest.raises(VideoUnavailable, match="401") as caught:
        vdx.create(meeting_info())
    assert "wrong-secret-token" not in str(caught.value)
    assert not vdx_double.meetings


@pytest.mark.parametrize("status", [403, 500, 503])
def test_refusal_or_server_error_is_unavailable(vdx, vdx_double, status):
    vdx_double.fail_with(status)
    with pytest.raises(VideoUnavailable, match=str(status)):
        vdx.create(meeting_info())


def test_stopped_server_is_unavailable(vdx, vdx_double):
    vdx_double.stop()
    with pytest.raises(VideoUnavailable, match="not reachable"):
        vdx.create(meeting_info())


def test_slow_server_times_out_as_unavailable(vdx_double, session):
    vdx = VdxProvider(vdx_double.url, VDX_TOKEN, timeout=0.1, session=session)
    vdx_double.delay = 2
    began = time.monotonic()
    with pytest.raises(VideoUnavailable, match="no answer"):
        vdx.create(meeting_info())
    assert time.monotonic() - began < 1


def test_patch_refused_because_provisioning_just_started_is_unavailable_so_it_is_retried(vdx, vdx_double):
    room = vdx.create(meeting_info())
    vdx_double.fail_with(406, method="PATCH")
    with pytest.raises(VideoUnavailable, match="406"):
        vdx.update(room, meeting_info(minutes=60))
    vdx_double.fail_with(None)
    assert vdx.update(room, meeting_info(minutes=60)) == room
    assert vdx_double.meetings[room.external_id]["endTime"] == "2030-03-01T10:00:00Z"


def test_unexpected_answer_is_unavailable(vdx_double, session):
    # Pointing at the wrong path gives 404 on POST, which the provider does not expect.
    vdx = VdxProvider(vdx_double.url + "/videoapi", VDX_TOKEN, timeout=2, session=session)
    with pytest.raises(VideoUnavailable, match="404"):
        vdx.create(meeting_info())


def test_link_is_kept_when_only_the_scheduling_info_fails(vdx, vdx_double):
    vdx_double.fail_with(503, path_start="/v2/scheduling-info/")
    room = vdx.create(meeting_info())
    assert room.external_id in vdx_double.meetings
    assert room.sip_uri is None and room.guest_pin == str(vdx_double.requests_to("POST")[0].body["guestPin"])


def test_the_token_is_never_logged(vdx, vdx_double, caplog):
    with caplog.at_level(logging.DEBUG):
        room = vdx.create(meeting_info())
        vdx_double.provision(room.external_id)
        vdx.update(room, meeting_info(start_at=START + timedelta(hours=1)))
        vdx.delete(room)
        vdx_double.fail_with(503)
        with pytest.raises(VideoUnavailable):
            vdx.create(meeting_info())
    assert caplog.records and VDX_TOKEN not in caplog.text
    assert VDX_TOKEN not in repr(vdx)


def test_the_double_rejects_what_vdx_rejects(vdx_double, session):
    url = f"{vdx_double.url}/v2/meetings"
    auth = {"Authorization": f"Bearer {VDX_TOKEN}"}
    good = {"subject": "s", "startTime": "2030-03-01T09:00:00+01:00", "endTime": "2030-03-01T10:00:00+01:00"}

    def post(body: dict, headers: dict = auth) -> requests.Response:
        return session.post(url, json=body, headers=headers, timeout=2)

    assert post(good, {}).status_code == 401
    for bad in ({**good, "subject": ""}, {**good, "subject": "x" * 101}, {**good, "startTime": "2030-03-01T09:00:00"},
                {**good, "guestPin": 12}, {k: v for k, v in good.items() if k != "endTime"}):
        response = post(bad)
        assert response.status_code == 400 and response.json()["detailed_error_code"] == 10
    assert post({**good, "externalId": "x"}).status_code == 200
    assert post({**good, "externalId": "x"}).json()["detailed_error_code"] == 21
    meeting = post(good).json()
    assert len(meeting["shortId"]) == 12 and meeting["shortLink"].endswith(meeting["shortId"])
    assert json.loads(vdx_double.received[-1].text())["subject"] == "s"


def test_load_provider_builds_vdx_from_config(tmp_path):
    config = load_config(tmp_path / "absent.toml", environ={"SCHEDULER_VDX_TOKEN": "from-env"},
                         overrides={"video": {"provider": "vdx", "vdx_base_url": "https://vdx.example/videoapi/",
                                              "timeout_seconds": 7}})
    provider = load_provider(config)
    assert isinstance(provider, VdxProvider) and provider.name == "vdx"
    assert provider.base_url == "https://vdx.example/videoapi" and provider.timeout == 7
    provider.session.close()
