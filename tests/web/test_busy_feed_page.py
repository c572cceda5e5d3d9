"""The advisor's busy-calendar page: register the address, fetch now, see the problem and the last good copy."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from scheduler.models import BusyFeed, BusyInterval, Role

from ..busy_feed_server import GOOD_FEED, GOOD_FEED_BUSY_COUNT, FeedServer
from .conftest import count
from .html import assert_field_error, control, labelled, parse, value_of

PAGE = "/advisor/busy-feed"
NOW_TEXT = "mandag den 23. november 2026 kl. 09.00"  # the app's frozen now, in Copenhagen


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.serve(GOOD_FEED)
        yield server


@pytest.fixture
def advisor(factory, session):
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    session.commit()
    return advisor


@pytest.fixture
def advisor_client(client_for, advisor):
    return client_for(advisor)


def text_of(page, id_: str) -> str:
    node = page.by_id(id_)
    assert node is not None, f"no #{id_} on the page"
    return node.text()


def test_an_advisor_registers_her_feed_and_it_is_read_at_once(advisor_client, advisor, server, read):
    page = parse(advisor_client.get(PAGE).text)
    assert labelled(page, control(page, "url"))
    assert control(page, "url").attrs.get("inputmode") == "url"
    assert page.by_id("feed-busy-count") is None  # nothing registered yet

    response = advisor_client.post(PAGE, data={"url": server.url, "action": "save"})
    assert response.status_code == 302 and response.location == PAGE
    page = parse(advisor_client.get(PAGE).text)
    assert "Kalenderen er hentet" in page.text()
    assert value_of(page, "url") == server.url
    assert text_of(page, "feed-busy-count") == str(GOOD_FEED_BUSY_COUNT)
    assert text_of(page, "feed-ok-at") == NOW_TEXT
    assert page.by_id("feed-problem") is None
    assert count(read, BusyInterval, BusyInterval.user_id == advisor.id) == GOOD_FEED_BUSY_COUNT


def test_a_broken_feed_shows_the_problem_and_the_last_good_copy_still_counts(advisor_client, advisor, server,
                                                                             read):
    advisor_client.post(PAGE, data={"url": server.url, "action": "save"})
    server.status = 500

    response = advisor_client.post(f"{PAGE}/refresh")
    assert response.status_code == 302
    page = parse(advisor_client.get(PAGE).text)
    assert "Kalenderen kunne ikke hentes" in page.text()
    problem = text_of(page, "feed-problem")
    assert "Kalenderserveren svarede med en fejl" in problem and "HTTP 500" in problem
    assert f"Vi bruger fortsat den seneste gode kopi fra {NOW_TEXT}" in problem
    assert page.by_id("feed-problem").attrs["role"] == "alert"
    assert text_of(page, "feed-ok-at") == NOW_TEXT
    assert text_of(page, "feed-busy-count") == str(GOOD_FEED_BUSY_COUNT)
    assert count(read, BusyInterval, BusyInterval.user_id == advisor.id) == GOOD_FEED_BUSY_COUNT


def test_a_feed_that_never_worked_says_that_nothing_is_blocked_yet(advisor_client, server):
    server.stop()
    advisor_client.post(PAGE, data={"url": server.url, "action": "save"})
    page = parse(advisor_client.get(PAGE).text)
    problem = text_of(page, "feed-problem")
    assert "serveren ikke kunne nås" in problem and "blokerer ingen tider endnu" in problem
    assert text_of(page, "feed-ok-at") == "Ingen endnu"


def test_an_unusable_address_is_shown_next_to_the_field_and_kept(advisor_client, read):
    response = advisor_client.post(PAGE, data={"url": "ftp://example.org/cal.ics", "action": "save"})
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, "url", "Skriv en adresse, der begynder med https://")
    assert value_of(page, "url") == "ftp://example.org/cal.ics"
    assert count(read, BusyFeed) == 0


def test_she_removes_her_feed(advisor_client, advisor, server, read):
    advisor_client.post(PAGE, data={"url": server.url, "action": "save"})
    response = advisor_client.post(PAGE, data={"url": server.url, "action": "remove"})
    assert response.status_code == 302
    assert count(read, BusyFeed) == 0
    assert count(read, BusyInterval, BusyInterval.user_id == advisor.id) == 0
    assert "Din kalender er fjernet" in advisor_client.get(PAGE).text


def test_refresh_without_a_feed_says_so(advisor_client):
    advisor_client.post(f"{PAGE}/refresh")
    assert "Du har ikke tilknyttet en kalender endnu" in advisor_client.get(PAGE).text


@pytest.mark.parametrize("role", [Role.secretary, Role.coordinator, Role.admin])
def test_only_advisors_may_use_the_page(client_for, factory, session, role, read):
    client = client_for(factory.user(role=role))
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"url": "https://example.org/c.ics"}).status_code == 403
    assert client.post(f"{PAGE}/refresh").status_code == 403
    assert read(lambda s: s.exec(select(BusyFeed)).all()) == []


def test_anonymous_users_are_sent_to_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and response.location.startswith("/login")
