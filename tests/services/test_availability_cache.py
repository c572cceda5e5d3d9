"""Slot search keeps each advisor's parsed busy-feed copy between searches, and never uses an old one."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event as sa_event

from scheduler.models import BusyFeedVersion
from scheduler.services.availability import find_free_slots
from scheduler.services.busy_feeds import http_session, refresh_busy_feed, set_busy_feed
from scheduler.services.rules import BookingRules

from ..busy_feed_server import FeedServer, event, ics

CPH = ZoneInfo("Europe/Copenhagen")
TUESDAY = date(2026, 11, 24)


def busy_at(hour: int) -> bytes:
    """A feed busy one hour from `hour` local time (UTC+1) on Tuesday."""
    return ics("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Busy feed//DA",
               *event(f"busy-{hour}", f"DTSTART:20261124T{hour - 1:02d}0000Z", f"DTEND:20261124T{hour:02d}0000Z"),
               "END:VCALENDAR")


@pytest.fixture
def feed_server():
    with FeedServer() as server:
        yield server


def test_parsed_copy_is_reused_until_the_feed_changes(session, engine, factory, config, now, feed_server):
    rules = BookingRules.from_config(config)
    advisor = factory.advisor("0540")
    feed = set_busy_feed(session, user=advisor, url=feed_server.url, now=now)
    session.commit()

    def refresh(body: bytes) -> None:
        feed_server.serve(body)
        with http_session() as http:
            assert refresh_busy_feed(session, feed=feed, http=http, timeout=2, max_bytes=100_000, now=now)
        session.commit()

    def offered() -> set[str]:
        slots = find_free_slots(session, rules=rules, municipality_code="0540", from_date=TUESDAY, to_date=TUESDAY,
                                duration=timedelta(minutes=45), now=now)
        return {s.start_at.astimezone(CPH).strftime("%H:%M") for s in slots}

    statements: list[str] = []
    sa_event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2].lower()))

    refresh(busy_at(12))  # 12:00-13:00 local
    first_version = session.get(BusyFeedVersion, advisor.id).version
    assert "12:00" not in offered() and "11:15" not in offered() and "10:15" in offered()
    statements.clear()
    assert "12:00" not in offered()
    assert not any("busyinterval" in s for s in statements)  # the parsed copy, not the rows

    refresh(busy_at(14))  # same frozen clock, other content: a new version all the same
    assert session.get(BusyFeedVersion, advisor.id).version != first_version
    assert {"12:00", "11:15"} <= offered() and "14:00" not in offered()

    set_busy_feed(session, user=advisor, url=None, now=now)  # removed: her copy is gone with it
    session.commit()
    assert "14:00" in offered()


def test_an_advisor_with_busy_rows_but_no_version_is_still_busy(session, factory, config, now):
    """Rows written before versions existed (or by hand) are read as rows, every time."""
    from scheduler.models import BusyInterval

    rules = BookingRules.from_config(config)
    advisor = factory.advisor("0540")
    session.add(BusyInterval(user_id=advisor.id, start_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
                             end_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC)))
    session.commit()
    slots = find_free_slots(session, rules=rules, municipality_code="0540", from_date=TUESDAY, to_date=TUESDAY,
                            duration=timedelta(minutes=45), now=now)
    offered = {s.start_at.astimezone(CPH).strftime("%H:%M") for s in slots}
    # 10:00-11:00 local, plus the buffer on both sides
    assert {"09:00", "11:15"} <= offered and not {"09:15", "10:00", "11:00"} & offered
