"""A local HTTP server that plays an advisor's published calendar (an ICS feed), good or broken.

    with FeedServer() as server:          # or the `feed_server` fixtures in the busy-feed tests
        server.serve(GOOD_FEED, etag='"v1"')
        server.status = 500               # then: down with an error
        server.delay = 1.0                # answer after a second (for timeouts)
        server.stop()                     # the port now refuses connections
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FEED_PATH = "/owa/calendar/secret-token-4f1c9a/calendar.ics"


class FeedServer:
    """One ICS feed on 127.0.0.1 from a background thread; `url` is the secret address to register."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.etag: str | None = None
        self.content_type = "text/calendar; charset=utf-8"
        self.send_length = True  # False: no Content-Length, the body ends when the connection closes
        self.delay = 0.0  # seconds before answering
        self.drip: tuple[int, float] | None = None  # send the body in this many pieces, this far apart
        self.received: list[dict[str, str]] = []  # the headers of each request
        self.url = ""
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def serve(self, body: bytes | str, *, etag: str | None = None, status: int = 200) -> None:
        self.body = body.encode() if isinstance(body, str) else body
        self.etag, self.status = etag, status

    def start(self) -> FeedServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = False  # server_close() waits for the handlers: nothing is left running
        server.feed = self  # type: ignore[attr-defined]
        self._server = server
        self._stopping.clear()
        self.url = f"http://127.0.0.1:{server.server_address[1]}{FEED_PATH}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="feed-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: afterwards the port refuses connections, like a calendar server that is down."""
        if self._server is None:
            return
        self._stopping.set()  # wakes handlers sleeping in `delay` or `drip`
        self._server.shutdown()
        self._server.server_close()
        assert self._thread is not None
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: test output is not the place for an access log."""

    def do_GET(self) -> None:
        feed: FeedServer = self.server.feed  # type: ignore[attr-defined]
        feed.received.append(dict(self.headers))
        if feed.delay and feed._stopping.wait(feed.delay):
            return  # stopping: the client has long given up
        try:
            if self.path != FEED_PATH:
                self._send(404, b"not found")
            elif feed.etag and self.headers.get("If-None-Match") == feed.etag and feed.status == 200:
                self.send_response(304)
                self.send_header("ETag", feed.etag)
                self.end_headers()
            else:
                self._send(feed.status, feed.body, feed)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (too big, too slow): that is what the test wanted

    def _send(self, status: int, body: bytes, feed: FeedServer | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", feed.content_type if feed and status == 200 else "text/plain")
        if feed is None or feed.send_length:
            self.send_header("Content-Length", str(len(body)))
        if feed and feed.etag and status == 200:
            self.send_header("ETag", feed.etag)
        self.end_headers()
        if feed and feed.drip:
            pieces, pause = feed.drip
            size = -(-len(body) // pieces)
            for i in range(0, len(body), size):
                self.wfile.write(body[i:i + size])
                self.wfile.flush()
                if feed._stopping.wait(pause):
                    return
        else:
            self.wfile.write(body)


def ics(*lines: str) -> bytes:
    """An iCalendar file from its lines (CRLF-terminated, as RFC 5545 wants)."""
    return ("\r\n".join(lines) + "\r\n").encode()


WINDOWS_ZONE = (  # Outlook names its zones the Windows way and ships their rules
    "BEGIN:VTIMEZONE", "TZID:Romance Standard Time",
    "BEGIN:STANDARD", "DTSTART:16010101T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100",
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10", "END:STANDARD",
    "BEGIN:DAYLIGHT", "DTSTART:16010101T020000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200",
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3", "END:DAYLIGHT",
    "END:VTIMEZONE",
)


def event(uid: str, *lines: str) -> tuple[str, ...]:
    return ("BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261101T120000Z", "SUMMARY:Privat aftale", *lines, "END:VEVENT")


# "Now" in the tests is Monday 23 November 2026, 09:00 in Copenhagen (08:00 UTC).
GOOD_FEED = ics(
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Busy feed//DA", "METHOD:PUBLISH",
    *WINDOWS_ZONE,
    # Tuesday 24 Nov 11:00-12:00 local, given in UTC
    *event("single-utc", "DTSTART:20261124T100000Z", "DTEND:20261124T110000Z"),
    # Wednesdays 09:00-10:00 local from 25 Nov, but not 2 Dec
    *event("weekly", "DTSTART;TZID=Europe/Copenhagen:20261125T090000", "DTEND;TZID=Europe/Copenhagen:20261125T100000",
           "RRULE:FREQ=WEEKLY;BYDAY=WE", "EXDATE;TZID=Europe/Copenhagen:20261202T090000"),
    # Thursday 26 Nov, all day
    *event("all-day", "DTSTART;VALUE=DATE:20261126", "DTEND;VALUE=DATE:20261127"),
    # Friday 27 Nov: shown as free, and cancelled: neither blocks
    *event("free", "DTSTART;TZID=Europe/Copenhagen:20261127T090000", "DTEND;TZID=Europe/Copenhagen:20261127T100000",
           "TRANSP:TRANSPARENT"),
    *event("cancelled", "DTSTART;TZID=Europe/Copenhagen:20261127T120000",
           "DTEND;TZID=Europe/Copenhagen:20261127T130000", "STATUS:CANCELLED"),
    # Monday 30 Nov 13:00-14:00 local, the Outlook way
    *event("outlook", "DTSTART;TZID=Romance Standard Time:20261130T130000",
           "DTEND;TZID=Romance Standard Time:20261130T140000"),
    "END:VCALENDAR",
)
# In the 90-day window: the single event, 12 of the 13 Wednesdays, the all-day event, the Outlook event.
GOOD_FEED_BUSY_COUNT = 15
