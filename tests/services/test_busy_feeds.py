"""Advisors' busy feeds: fetched from a real local HTTP server, good or broken, and used by slot search."""
from __future__ import annotations

import threading
import time as timer
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlmodel import func, select

from scheduler.db import new_session
from scheduler.errors import Conflict, Forbidden, InvalidInput
from scheduler.models import BusyFeed, BusyInterval, Role
from scheduler.services import busy_feeds
from scheduler.services.availability import check_advisor_free, find_free_slots
from scheduler.services.busy_feeds import (NOT_A_CALENDAR, REFUSED, SERVER_ERROR, TIMEOUT, TOO_BIG, TOO_MANY,
                                           UNREACHABLE, UNREADABLE, due_feeds, refresh_busy_feed,
                                           refresh_due_feeds, set_busy_feed)
from scheduler.services.rules import BookingRules

from ..busy_feed_server import GOOD_FEED, GOOD_FEED_BUSY_COUNT, FeedServer, event, ics

CPH = ZoneInfo("Europe/Copenhagen")
TIMEOUT_S = 0.5
MAX_BYTES = 20_000
MINUTES_45 = timedelta(minutes=45)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CPH).astimezone(UTC)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.serve(GOOD_FEED, etag='"v1"')
        yield server


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with busy_feeds.http_session() as http:
        yield http


@pytest.fixture
def rules(config):
    return BookingRules.from_config(config)


@pytest.fixture
def advisor(factory, session):
    advisor = factory.advisor("0540", name="Mette Rådgiver")
    session.commit()
    return advisor


@pytest.fixture
def feed(session, advisor, server, now):
    feed = set_busy_feed(session, user=advisor, url=server.url, now=now)
    session.commit()
    return feed


@pytest.fixture
def refresh(session, feed, http):
    """Fetch the feed as the job does, at `now` plus `minutes`; True if it was good."""

    def run(now: datetime, *, timeout: float = TIMEOUT_S, max_bytes: int = MAX_BYTES) -> bool:
        ok = refresh_busy_feed(session, feed=feed, http=http, timeout=timeout, max_bytes=max_bytes, now=now)
        session.commit()
        return ok

    return run


def intervals(session, user) -> list[tuple[datetime, datetime]]:
    return [(i.start_at, i.end_at) for i in session.exec(
        select(BusyInterval).where(BusyInterval.user_id == user.id).order_by(BusyInterval.start_at))]


def local_starts(session, rules, now, day: date) -> list[str]:
    """The offered start times on one day, as local HH:MM."""
    slots = find_free_slots(session, rules=rules, municipality_code="0540", from_date=day, to_date=day,
                            duration=MINUTES_45, now=now)
    return [s.start_at.astimezone(CPH).strftime("%H:%M") for s in slots]


def grid(first: str, last: str, *, without: tuple[str, str] | None = None) -> list[str]:
    """Quarter-hour local starts from first to last inclusive, minus the range `without` (inclusive)."""
    start, end = (datetime.strptime(t, "%H:%M") for t in (first, last))
    times = []
    while start <= end:
        text = start.strftime("%H:%M")
        if without is None or not without[0] <= text <= without[1]:
            times.append(text)
        start += timedelta(minutes=15)
    return times


GOOD_TUESDAY = grid("08:00", "14:45", without=("10:15", "12:00"))  # busy 11-12 plus the 15-minute buffer


def assert_good_copy_used(session, rules, now, advisor) -> None:
    assert len(intervals(session, advisor)) == GOOD_FEED_BUSY_COUNT
    assert local_starts(session, rules, now, date(2026, 11, 24)) == GOOD_TUESDAY


# ---- a good feed feeds slot search


def test_good_feed_busy_times_are_not_offered(session, rules, now, advisor, feed, refresh, server):
    assert refresh(now) is True
    stored = session.get(BusyFeed, feed.id)
    assert (stored.ok_at, stored.fetched_at, stored.error, stored.etag) == (now, now, None, '"v1"')

    busy = intervals(session, advisor)
    assert len(busy) == GOOD_FEED_BUSY_COUNT
    assert busy[:4] == [
        (local(2026, 11, 24, 11), local(2026, 11, 24, 12)),  # UTC event
        (local(2026, 11, 25, 9), local(2026, 11, 25, 10)),  # weekly, TZID
        (local(2026, 11, 26, 0), local(2026, 11, 27, 0)),  # all day: the whole local day
        (local(2026, 11, 30, 13), local(2026, 11, 30, 14)),  # Outlook's Windows zone name
    ]  # nothing on Friday: the transparent and the cancelled event do not block
    assert (local(2026, 12, 9, 9), local(2026, 12, 9, 10)) in busy
    assert not any(start.astimezone(CPH).date() == date(2026, 12, 2) for start, _ in busy)  # EXDATE

    assert local_starts(session, rules, now, date(2026, 11, 24)) == GOOD_TUESDAY
    assert local_starts(session, rules, now, date(2026, 11, 25)) == grid("08:00", "14:45", without=("08:15", "10:00"))
    assert local_starts(session, rules, now, date(2026, 11, 26)) == []
    assert local_starts(session, rules, now, date(2026, 11, 27)) == grid("08:00", "13:15")
    assert local_starts(session, rules, now, date(2026, 11, 30)) == grid("08:00", "14:45", without=("12:15", "14:00"))
    assert local_starts(session, rules, now, date(2026, 12, 2)) == grid("08:00", "14:45")
    assert local_starts(session, rules, now, date(2026, 12, 9)) == grid("08:00", "14:45", without=("08:15", "10:00"))


def test_booking_inside_or_next_to_a_feed_busy_time_is_a_conflict(session, rules, now, advisor, refresh):
    refresh(now)

    def check(start_at: datetime) -> None:
        check_advisor_free(session, rules=rules, advisor=advisor, start_at=start_at, end_at=start_at + MINUTES_45,
                           now=now)

    for start_at in (local(2026, 11, 24, 11, 15), local(2026, 11, 24, 10, 30), local(2026, 11, 24, 12)):
        with pytest.raises(Conflict) as caught:
            check(start_at)
        assert "start" in caught.value.fields
    check(local(2026, 11, 24, 12, 15))  # after the buffer
    check(local(2026, 11, 24, 10))


def test_the_apps_own_meetings_in_her_calendar_are_not_counted_twice(session, rules, now, factory, advisor, feed,
                                                                       http, server):
    """Once she accepts our invite her calendar holds the meeting too: moving it must still be possible."""
    meeting = factory.meeting(advisor, local(2026, 11, 24, 13))
    session.commit()
    server.serve(ics("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x",
                     *event(meeting.uid, "DTSTART:20261124T120000Z", "DTEND:20261124T124500Z"),
                     *event("other", "DTSTART:20261125T120000Z", "DTEND:20261125T130000Z"), "END:VCALENDAR"))
    assert refresh_busy_feed(session, feed=feed, http=http, timeout=TIMEOUT_S, max_bytes=MAX_BYTES, now=now)
    session.commit()
    assert intervals(session, advisor) == [(local(2026, 11, 25, 13), local(2026, 11, 25, 14))]
    check_advisor_free(session, rules=rules, advisor=advisor, start_at=local(2026, 11, 24, 13, 15),
                       end_at=local(2026, 11, 24, 14), now=now, exclude_meeting_id=meeting.id)


# ---- a broken feed: the last good copy is used, and the problem is kept


def problem(session, feed) -> tuple[str, str]:
    stored = session.get(BusyFeed, feed.id)
    assert stored.error, "no problem recorded"
    message, _, detail = stored.error.partition("\n")
    # The address is often a secret link: it must not end up in the message, the detail or the logs.
    assert "secret-token" not in stored.error and "127.0.0.1" not in stored.error
    return message, detail


def assert_failed_keeping_the_copy(session, rules, now, advisor, feed, *, at: datetime) -> None:
    stored = session.get(BusyFeed, feed.id)
    assert (stored.ok_at, stored.fetched_at) == (now, at)
    assert_good_copy_used(session, rules, now, advisor)


def test_every_kind_of_broken_feed_keeps_the_last_good_copy(session, rules, now, advisor, feed, refresh, server,
                                                            caplog):
    assert refresh(now)
    later = now + timedelta(minutes=15)

    server.status = 500
    assert refresh(later) is False
    assert problem(session, feed) == (SERVER_ERROR, "HTTP 500")
    assert_failed_keeping_the_copy(session, rules, now, advisor, feed, at=later)

    server.status = 403
    assert refresh(later) is False
    assert problem(session, feed) == (REFUSED, "HTTP 403")

    server.serve("<!doctype html><html><body>Log ind</body></html>")
    assert refresh(later) is False
    assert problem(session, feed)[0] == NOT_A_CALENDAR

    server.serve(GOOD_FEED[:len(GOOD_FEED) // 2])  # cut off half-way
    assert refresh(later) is False
    assert problem(session, feed)[0] == UNREADABLE

    server.serve(GOOD_FEED.replace(b"DTSTART:20261124T100000Z", b"DTSTART:2026-11-24 10:00"))
    assert refresh(later) is False
    assert problem(session, feed)[0] == UNREADABLE

    server.serve(ics("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x",
                     *event("runaway", "DTSTART:20261124T100000Z", "DTEND:20261124T100100Z", "RRULE:FREQ=MINUTELY"),
                     "END:VCALENDAR"))
    assert refresh(later) is False
    assert problem(session, feed)[0] == TOO_MANY
    assert_failed_keeping_the_copy(session, rules, now, advisor, feed, at=later)

    server.stop()
    assert refresh(later) is False
    message, detail = problem(session, feed)
    assert message == UNREACHABLE and "refused" in detail.lower()
    assert_failed_keeping_the_copy(session, rules, now, advisor, feed, at=later)
    assert "secret-token" not in caplog.text


def test_a_slow_feed_times_out(session, rules, now, advisor, feed, refresh, server):
    assert refresh(now)
    server.delay = 2.0
    started = timer.monotonic()
    assert refresh(now + timedelta(minutes=15)) is False
    assert timer.monotonic() - started < 1.5
    assert problem(session, feed)[0] == TIMEOUT
    assert_failed_keeping_the_copy(session, rules, now, advisor, feed, at=now + timedelta(minutes=15))


def test_a_feed_that_drips_in_slowly_times_out_as_a_whole(session, now, advisor, feed, refresh, server):
    """Each piece comes well within the timeout, but the whole would take twice as long."""
    server.drip = (5, 0.25)
    started = timer.monotonic()
    assert refresh(now) is False
    assert timer.monotonic() - started < 1.0
    assert problem(session, feed) == (TIMEOUT, f"not complete within {TIMEOUT_S:g} s")
    assert intervals(session, advisor) == []


@pytest.mark.parametrize("send_length", [True, False], ids=["content-length", "until-close"])
def test_a_huge_feed_is_cut_off_and_refused(session, rules, now, advisor, feed, refresh, server, send_length):
    assert refresh(now)
    padding = [line for i in range(400) for line in event(f"old-{i}", "DTSTART:20200101T100000Z",
                                                          "DTEND:20200101T110000Z")]
    huge = ics("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x", *padding, "END:VCALENDAR")
    assert len(huge) > MAX_BYTES
    server.serve(huge)
    server.send_length = send_length
    assert refresh(now + timedelta(minutes=15)) is False
    message, detail = problem(session, feed)
    assert message == TOO_BIG and str(MAX_BYTES) in detail
    assert_failed_keeping_the_copy(session, rules, now, advisor, feed, at=now + timedelta(minutes=15))


def test_not_modified_keeps_the_copy_and_clears_the_problem(session, rules, now, advisor, feed, refresh, server):
    assert refresh(now)
    assert "If-None-Match" not in server.received[-1]

    server.status = 500
    assert not refresh(now + timedelta(minutes=15))
    server.status = 200
    assert refresh(now + timedelta(minutes=30)) is True
    assert server.received[-1]["If-None-Match"] == '"v1"'
    stored = session.get(BusyFeed, feed.id)
    assert (stored.error, stored.fetched_at, stored.ok_at) == (None, now + timedelta(minutes=30), now)
    assert_good_copy_used(session, rules, now, advisor)

    # A copy a day old is read in full again: its recurrences were expanded from the day it was read.
    two_days = now + timedelta(days=2)
    assert refresh(two_days) is True
    assert "If-None-Match" not in server.received[-1]
    assert session.get(BusyFeed, feed.id).ok_at == two_days


def test_a_good_feed_after_a_broken_one_replaces_the_copy(session, now, advisor, feed, refresh, server):
    assert refresh(now)
    server.status = 500
    assert not refresh(now + timedelta(minutes=15))
    server.serve(ics("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:x",
                     *event("new", "DTSTART:20261201T090000Z", "DTEND:20261201T100000Z"), "END:VCALENDAR"),
                 etag='"v2"')
    assert refresh(now + timedelta(minutes=30))
    assert intervals(session, advisor) == [(datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 1, 10, tzinfo=UTC))]
    stored = session.get(BusyFeed, feed.id)
    assert (stored.error, stored.ok_at, stored.etag) == (None, now + timedelta(minutes=30), '"v2"')


# ---- registering the address


def test_webcal_becomes_https_and_a_new_address_drops_the_old_copy(session, now, advisor, feed, refresh):
    assert refresh(now)
    changed = set_busy_feed(session, user=advisor, url="  webcal://calendar.example.org/me.ics ", now=now)
    session.commit()
    assert changed.id == feed.id
    assert (changed.url, changed.ok_at, changed.fetched_at, changed.error, changed.etag) == (
        "https://calendar.example.org/me.ics", None, None, None, None)
    assert intervals(session, advisor) == []


def test_the_same_address_again_keeps_the_copy(session, now, advisor, feed, refresh, server):
    assert refresh(now)
    assert set_busy_feed(session, user=advisor, url=server.url, now=now).ok_at == now
    assert len(intervals(session, advisor)) == GOOD_FEED_BUSY_COUNT


@pytest.mark.parametrize("url", [None, "", "   "])
def test_removing_the_feed_removes_its_busy_times(session, now, advisor, feed, refresh, url):
    assert refresh(now)
    assert set_busy_feed(session, user=advisor, url=url, now=now) is None
    session.commit()
    assert session.exec(select(BusyFeed)).all() == []
    assert intervals(session, advisor) == []


@pytest.mark.parametrize("url", ["ftp://example.org/cal.ics", "calendar.example.org/cal.ics", "https://",
                                 "https://exa mple.org/cal.ics", "http://example.org:port/cal.ics",
                                 "javascript:alert(1)", "https://example.org/" + "a" * 1000])
def test_an_unusable_address_is_refused_naming_the_field(session, now, advisor, url):
    with pytest.raises(InvalidInput) as caught:
        set_busy_feed(session, user=advisor, url=url, now=now)
    assert list(caught.value.fields) == ["url"]


def test_only_advisors_have_a_busy_feed(session, factory, now):
    with pytest.raises(Forbidden):
        set_busy_feed(session, user=factory.user(role=Role.secretary), url="https://example.org/c.ics", now=now)


# ---- the scheduled job


def test_due_feeds(session, factory, now):
    def feed_of(fetched_minutes_ago: int | None, *, active: bool = True) -> BusyFeed:
        advisor = factory.advisor()
        advisor.is_active = active
        feed = set_busy_feed(session, user=advisor, url=f"https://example.org/{advisor.id}.ics", now=now)
        feed.fetched_at = None if fetched_minutes_ago is None else now - timedelta(minutes=fetched_minutes_ago)
        return feed

    never, old, recent = feed_of(None), feed_of(20), feed_of(10)
    feed_of(None, active=False)
    session.commit()
    assert [f.id for f in due_feeds(session, now=now, interval=timedelta(minutes=15))] == [never.id, old.id]
    assert recent not in due_feeds(session, now=now, interval=timedelta(minutes=15))


def test_refresh_due_feeds_refreshes_each_once_and_survives_a_broken_one(engine, session, factory, now, http,
                                                                         server):
    good = factory.advisor()
    broken = factory.advisor()
    set_busy_feed(session, user=good, url=server.url, now=now)
    set_busy_feed(session, user=broken, url=server.url.replace("secret-token", "no-such"), now=now)
    session.commit()

    clock = [now]

    def run() -> tuple[int, int]:
        return refresh_due_feeds(engine, http=http, timeout=TIMEOUT_S, max_bytes=MAX_BYTES,
                                 interval=timedelta(minutes=15), clock=lambda: clock[0])

    assert run() == (1, 1)
    with new_session(engine) as check:
        feeds = {f.user_id: f for f in check.exec(select(BusyFeed))}
        assert feeds[good.id].ok_at == now and feeds[good.id].error is None
        assert feeds[broken.id].fetched_at == now and feeds[broken.id].error.startswith("Der er ingen kalender")
        assert len(intervals(check, good)) == GOOD_FEED_BUSY_COUNT
    requests_before = len(server.received)
    clock[0] = now + timedelta(minutes=5)
    assert run() == (0, 0)  # not due yet
    assert len(server.received) == requests_before
    clock[0] = now + timedelta(minutes=15)
    assert run() == (1, 1)


def test_two_job_runners_at_once_fetch_each_feed_once(engine, session, factory, now, server):
    for _ in range(3):
        set_busy_feed(session, user=factory.advisor(), url=server.url, now=now)
    session.commit()
    server.delay = 0.2  # both runners see every feed as due before the first fetch ends
    results: list[tuple[int, int]] = []

    def runner() -> None:
        with busy_feeds.http_session() as http:
            results.append(refresh_due_feeds(engine, http=http, timeout=2, max_bytes=MAX_BYTES,
                                             interval=timedelta(minutes=15), clock=lambda: now))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.received) == 3
    assert sum(ok for ok, _ in results) == 3 and sum(failed for _, failed in results) == 0
    with new_session(engine) as check:
        assert check.exec(select(func.count()).select_from(BusyInterval)).one() == 3 * GOOD_FEED_BUSY_COUNT
