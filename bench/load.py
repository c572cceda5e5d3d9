"""Benchmarks 1 and 2: the app under gunicorn (2 workers) on SQLite and PostgreSQL, loaded by client
threads (one keep-alive-less HTTP connection each, as gunicorn's sync workers close them).

1. Booking under load: N clients book distinct free slots through the JSON API for a fixed time;
   throughput, p50/p95/p99 latency and errors, beside the same figures for an empty JSON route
   (GET /api/v1/health) measured on the same server just before. Target: no errors, booking
   throughput at least 20 % of the empty route's.
2. Mixed load: 50 clients, each a ward secretary, for 60 s: meeting lists, meeting pages, slot
   searches and now and then a booking, with a think time between requests (a person reading the
   page). Target: no 5xx, p95 under 250 ms. Baseline: the empty route under the same 50 clients.

The database is a copy of the national data at scale 0.1 (structure at full size: 98
municipalities, 1,000 advisors, 100 wards; 50,000 meetings), thrown away after each run.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time as clock, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

from scheduler.db import make_engine

from . import national
from .common import ROOT, Result, cached, ms, percentile

ZONE = ZoneInfo("Europe/Copenhagen")
LOAD_SCALE = 0.1
WORKERS = 2
BOOKING_CLIENTS = int(os.environ.get("BENCH_BOOKING_CLIENTS", "8"))
BOOKING_SECONDS = float(os.environ.get("BENCH_BOOKING_SECONDS", "20"))
MIXED_CLIENTS = int(os.environ.get("BENCH_MIXED_CLIENTS", "50"))
MIXED_SECONDS = float(os.environ.get("BENCH_MIXED_SECONDS", "60"))
THINK_S = (0.5, 1.5)  # between two requests of one client (mean 1 s)
FIRST_BOOKING_DAY = date(2027, 3, 1)  # after the generated history: every advisor free


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: int, latency: float) -> None:
        with self.lock:
            self.latencies.append(latency)
            self.statuses[status] += 1
            self.by_kind[kind].append(latency)

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 or status == 0)

    def figures(self) -> dict[str, object]:
        return {"requests": len(self.latencies), "per s": round(len(self.latencies) / self.seconds, 1),
                "p50 ms": ms(percentile(self.latencies, 50)), "p95 ms": ms(percentile(self.latencies, 95)),
                "p99 ms": ms(percentile(self.latencies, 99)), "errors": self.errors,
                "statuses": " ".join(f"{s}:{n}" for s, n in sorted(self.statuses.items()))}


class Server:
    """gunicorn with WORKERS sync workers on a free port, its own config, calendars and database."""

    def __init__(self, url: str) -> None:
        self.url = url
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = Path(tempfile.mkdtemp(prefix="bench-load-"))

    def __enter__(self) -> "Server":
        (self.dir / "bench.toml").write_text("# the defaults, with the overrides below from the environment\n")
        env = {**os.environ, "SCHEDULER_CONFIG": str(self.dir / "bench.toml"), "SCHEDULER_DATABASE_URL": self.url,
               "SCHEDULER_CALENDARS_DIR": str(self.dir / "calendars"), "SCHEDULER_SECRET_KEY": national.SECRET_KEY,
               "SCHEDULER_CPR_KEYS": national.CPR_KEY, "SCHEDULER_JOBS_IN_WEB": "false",
               "SCHEDULER_VIDEO_PROVIDER": "jitsi", "SCHEDULER_BASE_URL": f"http://127.0.0.1:{self.port}"}
        self.log = open(self.dir / "gunicorn.log", "w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-w", str(WORKERS), "-b", f"127.0.0.1:{self.port}",
             "--backlog", "256", "--timeout", "120", "scheduler.wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if _request(self.port, "GET", "/api/v1/health")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not start: see {self.dir / 'gunicorn.log'}")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def _request(port: int, method: str, path: str, body: object = None, token: str | None = None,
             ) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Accept": "application/json"}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _timed(tally: Tally, kind: str, port: int, method: str, path: str,  # type: ignore[no-untyped-def]
           **kwargs) -> tuple[int, bytes]:
    started = time.perf_counter()
    try:
        status, body = _request(port, method, path, **kwargs)
    except OSError:
        status, body = 0, b""
    tally.add(kind, status, time.perf_counter() - started)
    return status, body


def _run_clients(count: int, seconds: float, work) -> Tally:  # type: ignore[no-untyped-def]
    """`count` threads calling work(client, tally, deadline) until the deadline."""
    tally = Tally()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=work, args=(i, tally, deadline)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    tally.seconds = time.perf_counter() - started
    return tally


# ---- who books what


@dataclass(frozen=True)
class Secretary:
    ward: str
    token: str
    municipality: str
    advisors: tuple[int, ...]


def _secretaries(url: str, count: int) -> list[Secretary]:
    """`count` secretaries, each with a municipality and advisors of her own, so their slots never collide."""
    engine = make_engine(url)
    with engine.connect() as conn:
        by_municipality: dict[str, list[int]] = defaultdict(list)
        for user_id, code in conn.execute(text(
                "SELECT id, municipality_code FROM app_user WHERE role = 'advisor' ORDER BY municipality_code, id")):
            by_municipality[code].append(user_id)
    engine.dispose()
    codes = sorted(by_municipality, key=lambda c: -len(by_municipality[c]))
    secretaries = []
    for n in range(1, count + 1):
        code = codes[(n - 1) % len(codes)]
        share = by_municipality[code][(n - 1) // len(codes)::max(1, (count - 1) // len(codes) + 1)]
        secretaries.append(Secretary(ward=f"W{n:03d}", token=f"{national.API_TOKEN}-{n}", municipality=code,
                                     advisors=tuple(share or by_municipality[code][:1])))
    return secretaries


def _slots(secretary: Secretary):  # type: ignore[no-untyped-def]
    """Her advisors' free starts, one an hour in working hours, working days from FIRST_BOOKING_DAY."""
    day = FIRST_BOOKING_DAY
    while True:
        if day.weekday() < 5:
            for hour in range(8, 14):
                for advisor_id in secretary.advisors:
                    yield advisor_id, datetime.combine(day, clock(hour, 0))
        day += timedelta(days=1)


def _booking(secretary: Secretary, advisor_id: int, start: datetime, n: int) -> dict[str, object]:
    return {"ward": secretary.ward, "municipality": secretary.municipality, "start": start.isoformat(),
            "advisor_id": advisor_id, "duration_minutes": 45, "patient": {"name": "Test Patient"},
            "staff": [{"name": "Sygeplejerske", "email": f"staff.{secretary.ward.lower()}.{n}@hospital.example"}]}


# ---- the two benchmarks


def _database(kind: str, log):  # type: ignore[no-untyped-def]
    return cached(kind, national.name(LOAD_SCALE), lambda url: national.generate(url, scale_factor=LOAD_SCALE), log=log)


def run_booking(kind: str, *, log=print) -> Result:  # type: ignore[no-untyped-def]
    result = Result(f"Booking under load ({BOOKING_CLIENTS} clients, {BOOKING_SECONDS:g} s, gunicorn -w {WORKERS})",
                    kind)
    with _database(kind, log).copy("booking") as url, Server(url) as server:
        secretaries = _secretaries(url, BOOKING_CLIENTS)

        def empty(i: int, tally: Tally, deadline: float) -> None:
            while time.monotonic() < deadline:
                _timed(tally, "health", server.port, "GET", "/api/v1/health")

        def book(i: int, tally: Tally, deadline: float) -> None:
            secretary = secretaries[i]
            for n, (advisor_id, start) in enumerate(_slots(secretary)):
                if time.monotonic() >= deadline:
                    return
                _timed(tally, "booking", server.port, "POST", "/api/v1/meetings",
                       body=_booking(secretary, advisor_id, start, n), token=secretary.token)

        baseline = _run_clients(BOOKING_CLIENTS, BOOKING_SECONDS, empty)
        bookings = _run_clients(BOOKING_CLIENTS, BOOKING_SECONDS, book)
    result.rows.append({"route": "GET /api/v1/health (baseline)", **baseline.figures()})
    result.rows.append({"route": "POST /api/v1/meetings", **bookings.figures()})
    ratio = (len(bookings.latencies) / bookings.seconds) / (len(baseline.latencies) / baseline.seconds)
    result.check("booking errors", target="0", value=str(bookings.errors), passed=bookings.errors == 0)
    result.check("booking throughput / empty route", target=">= 20 %", value=f"{ratio:.0%}", passed=ratio >= 0.2)
    return result


def run_mixed(kind: str, *, log=print) -> Result:  # type: ignore[no-untyped-def]
    result = Result(f"Mixed load ({MIXED_CLIENTS} clients, {MIXED_SECONDS:g} s, think time "
                    f"{THINK_S[0]:g}-{THINK_S[1]:g} s, gunicorn -w {WORKERS})", kind)
    with _database(kind, log).copy("mixed") as url, Server(url) as server:
        secretaries = _secretaries(url, MIXED_CLIENTS)

        def empty(i: int, tally: Tally, deadline: float) -> None:
            rng = random.Random(i)
            while time.monotonic() < deadline:
                _timed(tally, "health", server.port, "GET", "/api/v1/health")
                time.sleep(rng.uniform(*THINK_S))

        def browse(i: int, tally: Tally, deadline: float) -> None:
            rng = random.Random(i)
            secretary = secretaries[i]
            slots = _slots(secretary)
            seen: list[int] = []
            n = 0
            while time.monotonic() < deadline:
                roll = rng.random()
                if roll < 0.35 or not seen:
                    day = date(2026, 11, 1) + timedelta(days=rng.randrange(60))
                    status, body = _timed(tally, "list", server.port, "GET",
                                          f"/api/v1/meetings?from={day}&to={day + timedelta(days=14)}",
                                          token=secretary.token)
                    if status == 200:
                        seen = [m["id"] for m in json.loads(body)["meetings"]][:50] or seen
                elif roll < 0.65:
                    _timed(tally, "meeting", server.port, "GET", f"/api/v1/meetings/{rng.choice(seen)}",
                           token=secretary.token)
                elif roll < 0.9:
                    day = FIRST_BOOKING_DAY + timedelta(days=rng.randrange(30))
                    query = f"municipality={secretary.municipality}&from={day}&to={day + timedelta(days=9)}"
                    _timed(tally, "slots", server.port, "GET", f"/api/v1/slots?{query}", token=secretary.token)
                else:
                    advisor_id, start = next(slots)
                    n += 1
                    _timed(tally, "booking", server.port, "POST", "/api/v1/meetings",
                           body=_booking(secretary, advisor_id, start, n), token=secretary.token)
                time.sleep(rng.uniform(*THINK_S))

        baseline = _run_clients(MIXED_CLIENTS, min(MIXED_SECONDS, 20), empty)
        mixed = _run_clients(MIXED_CLIENTS, MIXED_SECONDS, browse)
    result.rows.append({"what": "GET /api/v1/health (baseline)", **baseline.figures()})
    result.rows.append({"what": "all of the mix", **mixed.figures()})
    for kind_name, latencies in sorted(mixed.by_kind.items()):
        result.rows.append({"what": f"  {kind_name}", "requests": len(latencies),
                            "p50 ms": ms(percentile(latencies, 50)), "p95 ms": ms(percentile(latencies, 95)),
                            "p99 ms": ms(percentile(latencies, 99))})
    p95 = percentile(mixed.latencies, 95)
    result.check("mixed load 5xx", target="0", value=str(mixed.server_errors), passed=mixed.server_errors == 0)
    result.check("mixed load p95", target="< 250 ms", value=f"{ms(p95)} ms", passed=p95 < 0.250)
    result.notes.append(f"baseline p95 under the same clients: {ms(percentile(baseline.latencies, 95))} ms")
    return result
