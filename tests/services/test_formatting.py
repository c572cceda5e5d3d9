"""Dates and times as each language writes them, in local time (Europe/Copenhagen), across DST."""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from scheduler.services.formatting import format_local

ZONE = ZoneInfo("Europe/Copenhagen")
TUESDAY_10 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # winter time: UTC+1
SUMMER_8_05 = datetime(2026, 7, 1, 6, 5, tzinfo=UTC)  # summer time: UTC+2


@pytest.mark.parametrize(("language", "fmt", "expected"), [
    ("da", "full", "tirsdag den 1. december 2026 kl. 10.00"),
    ("da", "date", "tirsdag den 1. december 2026"),
    ("da", "short", "tirs. 1/12 kl. 10.00"),
    ("da", "time", "10.00"),
    ("nb", "full", "tirsdag 1. desember 2026 kl. 10.00"),
    ("nb", "date", "tirsdag 1. desember 2026"),
    ("nb", "short", "tir. 1.12. kl. 10.00"),
    ("nb", "time", "10.00"),
    ("en", "full", "Tuesday 1 December 2026 at 10:00"),
    ("en", "date", "Tuesday 1 December 2026"),
    ("en", "short", "Tue 1 Dec 10:00"),
    ("en", "time", "10:00"),
])
def test_each_language_writes_the_date_its_own_way(language, fmt, expected):
    assert format_local(TUESDAY_10, zone=ZONE, language=language, fmt=fmt) == expected


@pytest.mark.parametrize(("language", "expected"), [
    ("da", "onsdag den 1. juli 2026 kl. 08.05"),
    ("nb", "onsdag 1. juli 2026 kl. 08.05"),
    ("en", "Wednesday 1 July 2026 at 08:05"),
])
def test_summer_time_is_shown_as_local_time(language, expected):
    assert format_local(SUMMER_8_05, zone=ZONE, language=language) == expected


def test_the_local_date_can_differ_from_the_utc_date():
    late_evening = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # already Wednesday in Copenhagen
    assert format_local(late_evening, zone=ZONE, language="da", fmt="date") == "onsdag den 2. december 2026"


def test_an_unknown_language_falls_back_to_danish():
    assert format_local(TUESDAY_10, zone=ZONE, language="sv") == "tirsdag den 1. december 2026 kl. 10.00"


def test_no_time_is_empty_text():
    assert format_local(None, zone=ZONE, language="en") == ""


def test_any_other_format_is_a_babel_pattern():
    assert format_local(TUESDAY_10, zone=ZONE, language="da", fmt="yyyy-MM-dd HH:mm:ss") == "2026-12-01 10:00:00"
