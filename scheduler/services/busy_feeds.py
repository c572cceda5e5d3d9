"""An advisor's own busy calendar (an ICS feed): register it, fetch it on a schedule, keep the last good copy.

A feed that is down, slow, huge or malformed never breaks booking: the busy periods of the last good
copy stay in BusyInterval, and the feed's `error` holds the problem (a gettext message id, a newline,
then a technical detail that never contains the feed's address, which is often a secret link).
Only start and end times are stored, never titles or attendees.
"""
from __future__ import annotations

import logging
import time as timer
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Callable, Iterable, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events
import requests
import urllib3.exceptions
from sqlalchemy import delete, func, nulls_first, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ..db import new_session
from ..errors import N_, Forbidden, InvalidInput
from ..models import BusyFeed, BusyFeedVersion, BusyInterval, Meeting, Role, User

log = logging.getLogger(__name__)

DEFAULT_ZONE = ZoneInfo("Europe/Copenhagen")
MAX_URL_LENGTH = 1000
WINDOW_BEFORE = timedelta(days=1)  # recurrences are expanded over [now - 1 day, now + 90 days)
WINDOW_AFTER = timedelta(days=90)
# A 304 "not modified" keeps the copy only while it is this young: its recurrences were expanded
# from the day it was read, so an older copy is read again in full.
MAX_COPY_AGE = timedelta(days=1)
MAX_OCCURRENCES = 20_000  # more than this in the window is a broken or hostile feed
EXPANSION_PAGE = timedelta(days=7)  # expand page by page so a runaway rule stops early
CHUNK_BYTES = 64 * 1024
USER_AGENT = "discharge-scheduler busy-feed reader"

# What went wrong, in the advisor's words. The technical detail goes after a newline.
UNREACHABLE = N_("Kalenderen kunne ikke hentes, fordi serveren ikke kunne nås")
TIMEOUT = N_("Kalenderen kunne ikke hentes, fordi serveren ikke svarede i tide")
REFUSED = N_("Kalenderserveren nægtede adgang. Er kalenderen offentliggjort, og er adressen den rigtige?")
NOT_FOUND = N_("Der er ingen kalender på adressen. Er adressen den rigtige?")
SERVER_ERROR = N_("Kalenderserveren svarede med en fejl")
TOO_BIG = N_("Kalenderen er for stor til at blive læst")
NOT_A_CALENDAR = N_("Adressen giver ikke en kalender (en ICS-fil)")
UNREADABLE = N_("Kalenderen kunne ikke læses, fordi filen er ufuldstændig eller ugyldig")
TOO_MANY = N_("Kalenderen har for mange aftaler, eller aftaler der gentages oftere end hver time")


@dataclass(frozen=True)
class FeedProblem:
    message: str  # gettext message id (Danish)
    detail: str  # technical, untranslated


@dataclass(frozen=True)
class FeedStatus:
    """What the advisor sees about her feed."""

    url: str
    fetched_at: datetime | None
    ok_at: datetime | None  # when the last good copy was read
    busy_count: int  # busy periods in the last good copy
    problem: FeedProblem | None


class _Occurrence(NamedTuple):
    uid: str
    start_at: datetime
    end_at: datetime


@dataclass(frozen=True)
class _Fetched:
    body: bytes | None  # None: not modified since the stored ETag
    etag: str | None


class _FeedError(Exception):
    def __init__(self, message: str, detail: str):
        super().__init__(f"{message} ({detail})")
        self.message, self.detail = message, detail

    def stored(self) -> str:
        return f"{self.message}\n{self.detail}"[:500]


# ---- register, read back


def feed_of(session: Session, *, user: User) -> BusyFeed | None:
    return session.exec(select(BusyFeed).where(BusyFeed.user_id == user.id)).first()


def normalize_url(url: str) -> str:
    """The feed address to fetch: webcal:// becomes https://; InvalidInput (field "url") if unusable."""
    url = url.strip()
    scheme, separator, rest = url.partition("://")
    if separator and scheme.lower() in ("webcal", "webcals"):
        url = "https://" + rest
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(N_("Adressen må højst være %(max)d tegn"), field="url", max=MAX_URL_LENGTH)
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        parts = parts._replace(netloc="")
    if (parts.scheme.lower() not in ("http", "https") or not parts.hostname
            or any(c.isspace() or ord(c) < 32 for c in url)):
        raise InvalidInput(N_("Skriv en adresse, der begynder med https://, http:// eller webcal://"), field="url")
    return url


def set_busy_feed(session: Session, *, user: User, url: str | None, now: datetime) -> BusyFeed | None:
    """Register or change the advisor's feed (due at once); None or empty removes it and its busy periods.

    A new address drops the old address's busy periods: they belong to another calendar.
    `now` is accepted for symmetry with the other services; nothing here depends on it yet.
    """
    if user.role != Role.advisor:
        raise Forbidden(N_("Kun rådgivere kan tilknytte en kalender med optagede tider"))
    feed = feed_of(session, user=user)
    if not (url or "").strip():
        if feed is not None:
            _delete_intervals(session, user_id=user.id)
            session.delete(feed)
            session.flush()
        return None
    url = normalize_url(url or "")
    if feed is None:
        feed = BusyFeed(user_id=user.id, url=url)
    elif feed.url != url:
        _delete_intervals(session, user_id=user.id)
        feed.url = url
        feed.fetched_at = feed.ok_at = feed.error = feed.etag = None
    session.add(feed)
    session.flush()
    return feed


def problem_of(feed: BusyFeed) -> FeedProblem | None:
    if not feed.error:
        return None
    message, _, detail = feed.error.partition("\n")
    return FeedProblem(message=message, detail=detail)


def feed_status(session: Session, *, user: User) -> FeedStatus | None:
    feed = feed_of(session, user=user)
    if feed is None:
        return None
    count = session.exec(select(func.count()).select_from(BusyInterval)
                         .where(BusyInterval.user_id == user.id)).one()
    return FeedStatus(url=feed.url, fetched_at=feed.fetched_at, ok_at=feed.ok_at, busy_count=count,
                      problem=problem_of(feed))


# ---- fetch and keep


def http_session() -> requests.Session:
    """A requests session for reading feeds; close it after use (it is a context manager)."""
    http = requests.Session()
    http.headers["User-Agent"] = USER_AGENT
    return http


def refresh_busy_feed(session: Session, *, feed: BusyFeed, http: requests.Session, timeout: float,
                      max_bytes: int, now: datetime, zone: ZoneInfo = DEFAULT_ZONE) -> bool:
    """Fetch the feed and, if it is good, make it the copy slot search uses; False if it was not.

    Never raises for a bad feed: the old copy stays and `feed.error` says why. The fetch happens
    before the session is used, so a caller without an open transaction holds no lock meanwhile.
    """
    url = feed.url
    etag = feed.etag if feed.ok_at is not None and now - feed.ok_at < MAX_COPY_AGE else None
    fetched: _Fetched | None = None
    occurrences: list[_Occurrence] = []
    problem: _FeedError | None = None
    try:
        fetched = _fetch(http, url=url, etag=etag, timeout=timeout, max_bytes=max_bytes)
        if fetched.body is not None:
            occurrences = _occurrences(fetched.body, start_at=now - WINDOW_BEFORE, end_at=now + WINDOW_AFTER,
                                       zone=zone)
    except _FeedError as exc:
        problem = exc

    # The advisor may have changed or removed the feed while it was fetched: the row lock makes
    # two refreshes of one feed (two job runners, or a click during a run) write one after the other.
    current = session.get(BusyFeed, feed.id, with_for_update=True, populate_existing=True)
    if current is None or current.url != url:
        return False
    current.fetched_at = now
    if problem is not None:
        log.warning("busy feed %s of user %s (%s): %s", current.id, current.user_id, _host(url), problem)
        current.error = problem.stored()
    elif fetched is not None and fetched.body is None:
        current.error = None  # not modified: the copy we have is the current one
    else:
        _replace_intervals(session, user_id=current.user_id, occurrences=occurrences)
        current.ok_at = now
        current.etag = fetched.etag if fetched else None
        current.error = None
    session.add(current)
    session.flush()
    return problem is None


def due_feeds(session: Session, *, now: datetime, interval: timedelta) -> list[BusyFeed]:
    """Feeds of active advisors not fetched in the last `interval`, never-fetched and oldest first."""
    return list(session.exec(
        select(BusyFeed).join(User, col(User.id) == col(BusyFeed.user_id))
        .where(User.role == Role.advisor, col(User.is_active).is_(True), _is_due(now, interval))
        .order_by(nulls_first(col(BusyFeed.fetched_at)), col(BusyFeed.id))))


def refresh_due_feeds(engine: Engine, *, http: requests.Session, timeout: float, max_bytes: int,
                      interval: timedelta, clock: Callable[[], datetime],
                      zone: ZoneInfo = DEFAULT_ZONE) -> tuple[int, int]:
    """Refresh every due feed, each in its own short transactions; (refreshed, not refreshed).

    A feed is claimed (its fetched_at set) before it is fetched, so two job runners never fetch
    the same feed, and no transaction stays open while a feed is read.
    """
    with new_session(engine) as session:
        feed_ids = [feed.id for feed in due_feeds(session, now=clock(), interval=interval)]
    refreshed = failed = 0
    for feed_id in feed_ids:
        with new_session(engine) as session:
            try:
                feed = _claim(session, feed_id=feed_id, now=clock(), interval=interval)
                session.commit()
                if feed is None:
                    continue  # another runner has it
                ok = refresh_busy_feed(session, feed=feed, http=http, timeout=timeout, max_bytes=max_bytes,
                                       now=clock(), zone=zone)
                session.commit()
            except Exception:  # a database problem with one feed must not stop the others
                session.rollback()
                log.exception("busy feed %s could not be refreshed", feed_id)
                ok = False
        if ok:
            refreshed += 1
        else:
            failed += 1
    return refreshed, failed


def _is_due(now: datetime, interval: timedelta):  # type: ignore[no-untyped-def]
    return or_(col(BusyFeed.fetched_at).is_(None), col(BusyFeed.fetched_at) <= now - interval)


def _claim(session: Session, *, feed_id: int, now: datetime, interval: timedelta) -> BusyFeed | None:
    claimed = session.exec(update(BusyFeed).where(col(BusyFeed.id) == feed_id, _is_due(now, interval))
                           .values(fetched_at=now)).rowcount
    return session.get(BusyFeed, feed_id, populate_existing=True) if claimed == 1 else None


def _delete_intervals(session: Session, *, user_id: int) -> None:
    session.exec(delete(BusyInterval).where(col(BusyInterval.user_id) == user_id))
    _new_version(session, user_id=user_id)


def _new_version(session: Session, *, user_id: int) -> None:
    """Her busy rows changed: slot search's parsed copy of the old ones is no longer used."""
    row = session.get(BusyFeedVersion, user_id) or BusyFeedVersion(user_id=user_id, version="")
    row.version = uuid.uuid4().hex  # random, not a counter: equal in no other database or process
    session.add(row)


def _replace_intervals(session: Session, *, user_id: int, occurrences: list[_Occurrence]) -> None:
    # The app's own meetings come back in her calendar once she accepts them; they are already
    # busy time (with the buffer), and a reschedule must not collide with the meeting's old time.
    ours = _meeting_uids(session, {o.uid for o in occurrences if o.uid})
    _delete_intervals(session, user_id=user_id)
    for start_at, end_at in _merged((o.start_at, o.end_at) for o in occurrences if o.uid not in ours):
        session.add(BusyInterval(user_id=user_id, start_at=start_at, end_at=end_at))


def _meeting_uids(session: Session, uids: set[str]) -> set[str]:
    found: set[str] = set()
    ordered = sorted(uids)
    for i in range(0, len(ordered), 500):
        found.update(session.exec(select(Meeting.uid).where(col(Meeting.uid).in_(ordered[i:i + 500]))))
    return found


def _merged(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start_at, end_at in sorted(intervals):
        if merged and start_at <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end_at))
        else:
            merged.append((start_at, end_at))
    return merged


# ---- HTTP


def _fetch(http: requests.Session, *, url: str, etag: str | None, timeout: float, max_bytes: int) -> _Fetched:
    headers = {"Accept": "text/calendar, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    deadline = timer.monotonic() + timeout  # `timeout` alone is per read: a slow drip would never end
    try:
        with http.get(url, headers=headers, timeout=timeout, stream=True) as response:
            if response.status_code == 304 and etag:
                return _Fetched(body=None, etag=etag)
            _check_status(response.status_code)
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise _FeedError(TOO_BIG, f"{int(length)} bytes; at most {max_bytes} are read")
            body = _read_body(response.raw, deadline=deadline, timeout=timeout, max_bytes=max_bytes)
            new_etag = response.headers.get("ETag")
            return _Fetched(body=body, etag=new_etag if new_etag and len(new_etag) <= 200 else None)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        if _is_timeout(exc):
            raise _FeedError(TIMEOUT, f"no answer within {timeout:g} s") from None
        raise _FeedError(UNREACHABLE, _reason(exc)) from None


def _read_body(raw: urllib3.BaseHTTPResponse, *, deadline: float, timeout: float, max_bytes: int) -> bytes:
    """The (decompressed) body, refused past `max_bytes` or the deadline.

    read1 returns whatever has arrived, so a slow drip is noticed at the deadline rather than
    after a whole chunk; decompression is capped per read, so a small zip bomb stays small.
    """
    chunks, size = [], 0
    while True:
        if timer.monotonic() > deadline:
            raise _FeedError(TIMEOUT, f"not complete within {timeout:g} s")
        chunk = raw.read1(CHUNK_BYTES, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise _FeedError(TOO_BIG, f"more than {max_bytes} bytes")
        chunks.append(chunk)


def _check_status(status: int) -> None:
    if 200 <= status < 300:
        return
    message = {401: REFUSED, 403: REFUSED, 404: NOT_FOUND, 410: NOT_FOUND}.get(status, SERVER_ERROR)
    raise _FeedError(message, f"HTTP {status}")


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps (requests -> urllib3 -> socket), without repeats."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < 20:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend(e for e in (getattr(current, "reason", None), current.__cause__, current.__context__,
                                *current.args) if isinstance(e, BaseException))
    return seen


def _is_timeout(exc: BaseException) -> bool:
    # urllib3's NewConnectionError ("connection refused") is a ConnectTimeoutError: not a timeout here.
    return any(isinstance(e, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError))
               and not isinstance(e, urllib3.exceptions.NewConnectionError) for e in _causes(exc))


def _reason(exc: BaseException) -> str:
    """A short cause without the address (requests' own messages contain it)."""
    if isinstance(exc, requests.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS certificate or handshake failed"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                        requests.exceptions.MissingSchema)):
        return "the address cannot be used"
    causes = _causes(exc)
    if any(type(e).__name__ == "NameResolutionError" for e in causes):
        return "host name not found"
    for cause in causes:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    return type(causes[-1]).__name__


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


# ---- iCalendar


def _occurrences(data: bytes, *, start_at: datetime, end_at: datetime, zone: ZoneInfo) -> list[_Occurrence]:
    """The busy occurrences overlapping [start_at, end_at): recurrences expanded, free and cancelled ones left out."""
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:15].upper() != b"BEGIN:VCALENDAR":
        raise _FeedError(NOT_A_CALENDAR, "the answer does not start with BEGIN:VCALENDAR")
    if not text.rstrip().upper().endswith(b"END:VCALENDAR"):
        raise _FeedError(UNREADABLE, "cut off: END:VCALENDAR is missing at the end")
    try:
        calendar = icalendar.Calendar.from_ical(text)
        _check_rules(calendar)
        query = recurring_ical_events.of(calendar)
        found: dict[tuple[str, datetime, datetime], None] = {}
        page_start = start_at
        while page_start < end_at:
            page_end = min(page_start + EXPANSION_PAGE, end_at)
            for event in query.between(page_start, page_end):
                if _is_free(event):
                    continue
                occurrence = _Occurrence(str(event.get("UID", "")), _instant(event.start, zone),
                                         _instant(event.end, zone))
                if occurrence.end_at > occurrence.start_at:
                    found[occurrence] = None  # an occurrence on a page boundary comes twice
            if len(found) > MAX_OCCURRENCES:
                raise _FeedError(TOO_MANY, f"more than {MAX_OCCURRENCES} busy periods in {WINDOW_AFTER.days} days")
            page_start = page_end
    except _FeedError:
        raise
    except Exception as exc:  # a broken or hostile file can make the parsers raise almost anything
        raise _FeedError(UNREADABLE, f"{type(exc).__name__} while reading the calendar") from None
    return list(found)


def _check_rules(calendar: icalendar.Calendar) -> None:
    """Refuse rules that repeat more than hourly: expanding them could exhaust memory."""
    for event in calendar.walk("VEVENT"):
        rules = event.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
            frequency = str((rule.get("FREQ") or [""])[0]).upper()
            if frequency in ("SECONDLY", "MINUTELY") or rule.get("BYSECOND") or len(rule.get("BYMINUTE") or []) > 1:
                raise _FeedError(TOO_MANY, f"an event repeats {frequency or 'more than hourly'}")


def _is_free(event: icalendar.Event) -> bool:
    """Shown as free (TRANSP:TRANSPARENT, or Outlook's busy status FREE) or cancelled."""
    return (str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"
            or str(event.get("STATUS", "")).upper() == "CANCELLED"
            or str(event.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper() == "FREE")


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """An iCalendar time as aware UTC: a date is local midnight, a floating time is local time."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)
