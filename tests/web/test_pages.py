"""The meetings list, the meeting page, the invite download and the printable invitation."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import segno

from scheduler.models import MeetingStatus, VideoStatus
from scheduler.services.cpr import mask_cpr

from .conftest import book_via_form, booked_id, get_meeting
from .html import parse

TUESDAY_10_UTC = datetime(2026, 11, 24, 10, tzinfo=UTC)


def unfold(ics: str) -> str:
    return ics.replace("\r\n ", "").replace("\r\n\t", "")


@pytest.fixture
def booked(secretary_client, world, read):
    """A meeting booked through the form by the ward's secretary (Monday 11:00 local)."""
    meeting_id = booked_id(book_via_form(secretary_client, world.ward))
    return get_meeting(read, meeting_id)


@pytest.fixture
def other_ward_client(client_for, factory, session):
    return client_for(factory.secretary(factory.ward(code="KIR", name="Kirurgisk afdeling")))


def meeting_links(html: str) -> set[int]:
    return {int(m) for m in re.findall(r'href="/meetings/(\d+)"', html)}


# ---- the list


def test_list_shows_upcoming_meetings_of_own_wards_only(secretary_client, world, factory, session):
    own = factory.meeting(world.advisor, TUESDAY_10_UTC, ward=world.ward)
    past = factory.meeting(world.advisor, datetime(2026, 11, 20, 10, tzinfo=UTC), ward=world.ward)
    cancelled = factory.meeting(world.advisor, datetime(2026, 11, 25, 10, tzinfo=UTC), ward=world.ward,
                                status=MeetingStatus.cancelled)
    foreign = factory.meeting(world.advisor, datetime(2026, 11, 24, 12, tzinfo=UTC),
                              ward=factory.ward(code="KIR", name="Kirurgisk afdeling"))
    session.commit()

    response = secretary_client.get("/meetings/")
    assert response.status_code == 200
    assert meeting_links(response.text) == {own.id}
    row = next(tr for tr in parse(response.text).find_all("tr") if f"/meetings/{own.id}" in str(
        [a.attrs for a in tr.find_all("a")]))
    text = row.text()
    assert "24/11 kl. 11.00" in text  # local time (UTC+1), not 10.00
    assert "Booket" in text and "Onkologisk afdeling" in text and "Mette Rådgiver" in text
    assert "Kirurgisk" not in response.text

    everything = secretary_client.get("/meetings/?show=all").text
    assert meeting_links(everything) == {own.id, past.id, cancelled.id}
    assert foreign.id not in meeting_links(everything)


def test_waiting_tab_shows_meetings_waiting_for_their_video_link(secretary_client, world, factory, session):
    ready = factory.meeting(world.advisor, TUESDAY_10_UTC, ward=world.ward)
    waiting = factory.meeting(world.advisor, datetime(2026, 11, 25, 10, tzinfo=UTC), ward=world.ward)
    waiting.video_status = VideoStatus.pending
    foreign = factory.meeting(world.advisor, datetime(2026, 11, 26, 10, tzinfo=UTC),
                              ward=factory.ward(code="KIR"))
    foreign.video_status = VideoStatus.pending
    session.add_all([waiting, foreign])
    session.commit()

    response = secretary_client.get("/meetings/?show=waiting")
    assert response.status_code == 200
    assert meeting_links(response.text) == {waiting.id}
    assert "Venter på link" in response.text
    upcoming = secretary_client.get("/meetings/").text
    assert meeting_links(upcoming) == {ready.id, waiting.id}


# ---- the meeting page


def test_meeting_page_shows_parties_answers_link_and_invite(secretary_client, booked, world):
    response = secretary_client.get(f"/meetings/{booked.id}")
    assert response.status_code == 200
    page = parse(response.text)
    rows = [tr.text() for tr in page.by_id("parties-h").parent.find_all("tr")[1:]]
    expected = [("Patient", "Karl Jensen"), ("Pårørende", "Grete Jensen"), ("Hospitalet", "Sygeplejerske Sofie"),
                ("Hospitalet", "Læge Lars"), ("Sundhedsrådgiver", "Mette Rådgiver")]
    assert len(rows) == len(expected)
    for row, (role, name) in zip(rows, expected):
        assert row.startswith(role) and name in row and "Afventer svar" in row, row
    links = [a.attrs["href"] for a in page.find_all("a")]
    assert booked.video_join_url.startswith("https://meet.example.org/")
    assert booked.video_join_url in links
    assert f"/meetings/{booked.id}/invite.ics" in links
    assert f"/meetings/{booked.id}/print" in links
    assert "23. november 2026 kl. 11.00" in page.find_all("h1")[0].text()


def test_cpr_in_full_for_the_booking_secretary_masked_for_a_colleague(secretary_client, booked, world,
                                                                      client_for, factory):
    own = secretary_client.get(f"/meetings/{booked.id}").text
    assert "010150-1234" in own

    colleague = client_for(factory.secretary(world.ward))
    response = colleague.get(f"/meetings/{booked.id}")
    assert response.status_code == 200
    assert mask_cpr("0101501234") in response.text
    assert "010150-1234" not in response.text and "0101501234" not in response.text
    assert "Karl Jensen" in response.text  # she may see the meeting, just not the full CPR


def without_csrf_token(page: str) -> str:
    """A page's text without its CSRF token, which carries the second it was made."""
    return re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token"', page)


def test_another_ward_gets_404_everywhere_so_ids_cannot_be_probed(booked, other_ward_client, read):
    missing = booked.id + 1000
    for method, suffix in [("GET", ""), ("GET", "/invite.ics"), ("GET", "/print"), ("GET", "/reschedule"),
                           ("POST", "/reschedule"), ("GET", "/cancel"), ("POST", "/cancel"),
                           ("POST", "/video-link")]:
        data = {"reason": "probe", "action": "reschedule"} if method == "POST" else None
        real = other_ward_client.open(f"/meetings/{booked.id}{suffix}", method=method, data=data)
        fake = other_ward_client.open(f"/meetings/{missing}{suffix}", method=method, data=data)
        assert real.status_code == fake.status_code == 404, (method, suffix, real.status_code)
        assert without_csrf_token(real.text) == without_csrf_token(fake.text)
        assert "Karl" not in real.text
    assert get_meeting(read, booked.id).status == MeetingStatus.booked  # the cancel did nothing


# ---- invite download


def test_invite_download_is_a_calendar_request_without_personal_data(secretary_client, booked):
    response = secretary_client.get(f"/meetings/{booked.id}/invite.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert response.headers["Content-Disposition"].startswith("attachment")
    ics = unfold(response.text)
    assert "METHOD:REQUEST" in ics
    assert f"UID:{booked.uid}" in ics
    assert "SEQUENCE:0" in ics
    assert booked.video_join_url in ics
    for secret in ("Karl", "Jensen", "0101501234", "010150"):
        assert secret not in ics, secret
    assert response.headers.get("Cache-Control") == "no-store"


# ---- printable invitation


def test_print_page_has_link_qr_and_local_time_but_no_cpr(secretary_client, booked):
    response = secretary_client.get(f"/meetings/{booked.id}/print")
    assert response.status_code == 200
    html = response.text
    url = booked.video_join_url
    assert url in html
    assert "<svg" in html
    # The QR code is segno's rendering of exactly the join URL, as the filter makes it.
    assert segno.make(url, error="m").svg_inline(scale=4, border=2, title="QR") in html
    assert segno.make(url + "x", error="m").svg_inline(scale=4, border=2, title="QR") not in html  # it is specific
    assert "23. november 2026 kl. 11.00" in html  # Copenhagen time; UTC would say 10.00
    without_svg = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    for secret in ("0101501234", "010150-1234", "010150", "CPR"):
        assert secret not in without_svg, secret
