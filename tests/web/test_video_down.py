"""Booking through the form while the VDX video service is down, then retrying from the meeting page."""
from __future__ import annotations

import pytest
from werkzeug.security import generate_password_hash

from scheduler import create_app
from scheduler.models import VideoStatus
from scheduler.video.vdx import VdxProvider
from tests.video.vdx_double import VdxDouble

from .conftest import PASSWORD, book_via_form, booked_id, get_meeting
from .html import parse


@pytest.fixture
def vdx():
    with VdxDouble(token="web-test-token") as double:
        yield double


@pytest.fixture
def vdx_client(config, session, now, world, vdx):
    """The secretary, logged in to an app whose video links come from the VDX double."""
    app = create_app(config, video=VdxProvider(vdx.url, vdx.token, timeout=2), clock=lambda: now)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    world.secretary.password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    session.add(world.secretary)
    session.commit()
    client = app.test_client()
    assert client.post("/login", data={"email": world.secretary.email, "password": PASSWORD}).status_code == 302
    yield client
    app.extensions["scheduler"].engine.dispose()


def test_provider_down_saves_a_waiting_meeting_and_retry_creates_the_link(vdx_client, vdx, world, read):
    vdx.fail_with(503)
    meeting_id = booked_id(book_via_form(vdx_client, world.ward))
    assert vdx.requests_to("POST", "/v2/meetings"), "the provider was never asked"

    meeting = get_meeting(read, meeting_id)
    assert meeting.video_status == VideoStatus.pending and meeting.video_join_url is None
    page = vdx_client.get(f"/meetings/{meeting_id}")
    assert page.status_code == 200
    assert "venter på sit videolink" in page.text
    hrefs = [a.attrs["href"] for a in parse(page.text).find_all("a")]
    assert f"/meetings/{meeting_id}/invite.ics" not in hrefs
    assert parse(page.text).find_all("form", action=f"/meetings/{meeting_id}/video-link")

    invite = vdx_client.get(f"/meetings/{meeting_id}/invite.ics")
    assert invite.status_code == 409
    assert "videolink" in invite.text and invite.mimetype == "text/html"
    assert vdx_client.get(f"/meetings/{meeting_id}/print").status_code == 409
    waiting = vdx_client.get("/meetings/?show=waiting").text
    assert f'href="/meetings/{meeting_id}"' in waiting and "Venter på link" in waiting

    # Still down: the retry says so and changes nothing.
    response = vdx_client.post(f"/meetings/{meeting_id}/video-link")
    assert response.status_code == 302
    assert "svarer stadig ikke" in vdx_client.get(response.location).text
    assert get_meeting(read, meeting_id).video_status == VideoStatus.pending

    vdx.fail_with(None)
    response = vdx_client.post(f"/meetings/{meeting_id}/video-link")
    assert response.status_code == 302 and response.location == f"/meetings/{meeting_id}"
    meeting = get_meeting(read, meeting_id)
    assert meeting.video_status == VideoStatus.ready
    assert meeting.video_join_url.startswith("https://m.vconf.dk/")
    page = vdx_client.get(f"/meetings/{meeting_id}").text
    assert "Videolinket er oprettet" in page and meeting.video_join_url in page
    assert "venter på sit videolink" not in page

    invite = vdx_client.get(f"/meetings/{meeting_id}/invite.ics")
    assert invite.status_code == 200 and invite.mimetype == "text/calendar"
    assert meeting.video_join_url in invite.text.replace("\r\n ", "")
    assert f'href="/meetings/{meeting_id}"' not in vdx_client.get("/meetings/?show=waiting").text
