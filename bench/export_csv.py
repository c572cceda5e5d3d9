"""Benchmark 4: the uptake log of 1,000,000 offer rows (scale 1) as CSV, within 2x the time of the
database's own CSV dump of the same query (`sqlite3 -csv`, PostgreSQL `COPY ... TO STDOUT WITH
CSV`), with peak memory under 150 MB; and XLSX for 100,000 rows.

Each export runs in its own process (`python -m bench.export_csv URL FROM TO FORMAT OUT [LIMIT]`),
which reports its time and its peak resident memory (VmHWM) before and after the export.
"""
from __future__ import annotations

import itertools
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from .common import DATA_DIR, ROOT, Result, cached, median, pg_libpq_url

ZONE = ZoneInfo("Europe/Copenhagen")
PERIOD = (date(2022, 1, 1), date(2026, 12, 31))  # half of the ten years: about 1,000,000 offer rows
XLSX_ROWS = 100_000
TARGET_RATIO, TARGET_MB = 2.0, 150


def _child(url: str, start: str, end: str, fmt: str, out: str, limit: str | None = None) -> None:
    from scheduler.db import make_engine
    from scheduler.services import exports
    from sqlalchemy import select
    from scheduler.models import Municipality

    from . import national

    national.configure_crypto()
    engine = make_engine(url)
    with engine.connect() as conn:
        codes = list(conn.execute(select(Municipality.code)).scalars())
    before_kb = _peak_kb()
    started = time.perf_counter()
    rows = exports.uptake_rows(engine, start=date.fromisoformat(start), end=date.fromisoformat(end),
                               municipality_codes=codes, zone=ZONE, key=b"bench-export-key")
    if limit:
        rows = itertools.islice(rows, int(limit))
    count = 0

    def add(n: int) -> None:
        nonlocal count
        count += n

    with open(out, "wb") as target:
        for chunk in exports.export_chunks(exports.counted(rows, add), fmt=fmt):
            target.write(chunk)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": count, "bytes": Path(out).stat().st_size,
                      "peak_mb_before": before_kb / 1024,
                      "peak_mb": _peak_kb() / 1024}))


def _peak_kb() -> int:
    """This process's peak resident memory. Not getrusage's ru_maxrss: Linux carries that over from the
    parent through fork and exec, so a child of a large benchmark process would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _export(url: str, fmt: str, limit: int | None = None) -> dict[str, float]:
    out = DATA_DIR / f"export-out.{fmt}"
    args = [sys.executable, "-m", "bench.export_csv", url, PERIOD[0].isoformat(), PERIOD[1].isoformat(), fmt, str(out)]
    if limit:
        args.append(str(limit))
    done = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True)
    out.unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _dump_sql(kind: str) -> str:
    """The export's query as plain SQL (same joins, columns, order), for the database's own dump."""
    from scheduler.services.statistics import period_bounds

    start_at, end_at = period_bounds(*PERIOD, ZONE)
    if kind == "sqlite":
        start, end = (f"'{t.replace(tzinfo=None).isoformat(' ', timespec='microseconds')}'" for t in (start_at, end_at))
    else:
        start, end = f"'{start_at.isoformat()}'", f"'{end_at.isoformat()}'"
    return ("SELECT m.start_at, m.municipality_code, mu.name, w.code, o.code, o.category, p.response, p.uptake, "
            "p.started_on, m.status, m.outcome, m.meeting_type, m.uid, (SELECT min(pa.cpr_digest) FROM participant pa "
            "WHERE pa.meeting_id = m.id AND pa.role = 'patient' AND pa.cpr_digest IS NOT NULL) "
            "FROM offerpresentation p JOIN meeting m ON m.id = p.meeting_id JOIN offer o ON o.id = p.offer_id "
            "JOIN municipality mu ON mu.code = m.municipality_code JOIN ward w ON w.id = m.ward_id "
            f"WHERE m.start_at >= {start} AND m.start_at < {end} ORDER BY m.start_at, m.id, o.code")


def _dump(kind: str, database) -> float:  # type: ignore[no-untyped-def]
    out = DATA_DIR / "dump-out.csv"
    started = time.perf_counter()
    with open(out, "wb") as target:
        if kind == "sqlite":
            subprocess.run(["sqlite3", "-csv", str(database.path), _dump_sql(kind)], stdout=target, check=True)
        else:
            subprocess.run(["psql", "-q", pg_libpq_url(database.pg_name), "-c",
                            f"COPY ({_dump_sql(kind)}) TO STDOUT WITH CSV"], stdout=target, check=True)
    seconds = time.perf_counter() - started
    out.unlink(missing_ok=True)
    return seconds


def run(kind: str, *, runs: int = 3, log=print) -> Result:  # type: ignore[no-untyped-def]
    from . import national

    database = cached(kind, national.name(), national.generate, log=log)
    result = Result("Export of the uptake log", kind)
    csv_runs = [_export(database.url, "csv") for _ in range(runs)]
    dumps = [_dump(kind, database) for _ in range(runs)]
    csv_s, dump_s = median([r["seconds"] for r in csv_runs]), median(dumps)
    peak = max(r["peak_mb"] for r in csv_runs)
    result.rows.append({"format": "CSV", "rows": csv_runs[0]["rows"], "MB written": round(csv_runs[0]["bytes"] / 1e6),
                        "export median s": round(csv_s, 2), "database dump median s": round(dump_s, 2),
                        "ratio": round(csv_s / dump_s, 2), "peak memory MB": round(peak),
                        "peak before export MB": round(csv_runs[0]["peak_mb_before"])})
    xlsx = _export(database.url, "xlsx", XLSX_ROWS)
    result.rows.append({"format": "XLSX", "rows": xlsx["rows"], "MB written": round(xlsx["bytes"] / 1e6, 1),
                        "export median s": round(xlsx["seconds"], 2), "peak memory MB": round(xlsx["peak_mb"]),
                        "peak before export MB": round(xlsx["peak_mb_before"])})
    result.check("CSV export time / database's own dump", target=f"<= {TARGET_RATIO:g}x",
                 value=f"{csv_s / dump_s:.2f}x", passed=csv_s / dump_s <= TARGET_RATIO)
    result.check("CSV export peak memory", target=f"< {TARGET_MB} MB", value=f"{peak:.0f} MB", passed=peak < TARGET_MB)
    try:
        import lxml  # noqa: F401  (only whether it is there)
        result.notes.append("lxml installed: openpyxl's write-only mode streams the XLSX through it")
    except ImportError:
        result.notes.append("lxml not installed: openpyxl writes XLSX with its slower pure-Python writer")
    return result


if __name__ == "__main__":
    _child(*sys.argv[1:])
