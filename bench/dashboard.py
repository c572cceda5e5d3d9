"""Benchmark 5: the coordinator's dashboard statistics over the national data (about 2,000,000 offer
rows at scale 1): under 1 s, country-wide over ten years included.

Baseline: the database only counting the offer rows of the same period and municipalities
(one plain COUNT over the join), the least any row-by-row statistic has to read.
"""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from scheduler.db import make_engine
from scheduler.models import Meeting, Municipality, OfferPresentation
from scheduler.services.reading import reading_session
from scheduler.services.statistics import period_bounds, uptake_statistics

from . import national
from .common import Result, cached, median, ms, timed

ZONE = ZoneInfo("Europe/Copenhagen")
TARGET_S = 1.0


def _cases(session: Session) -> list[tuple[str, date, date, list[str]]]:
    every = [m.code for m in session.exec(select(Municipality).order_by(Municipality.code)).scalars()]
    region = [m.code for m in session.exec(select(Municipality).where(Municipality.region_code == "DK-84")).scalars()]
    return [
        ("country, ten years", date(2017, 1, 1), date(2026, 12, 31), every),
        ("country, last 12 months", date(2025, 12, 1), date(2026, 11, 23), every),
        ("region Hovedstaden, last 12 months", date(2025, 12, 1), date(2026, 11, 23), region),
        ("København, ten years", date(2017, 1, 1), date(2026, 12, 31), ["0101"]),
        ("Sønderborg, one month", date(2026, 10, 1), date(2026, 10, 31), ["0540"]),
    ]


def run(kind: str, *, runs: int = 5, log=print) -> Result:  # type: ignore[no-untyped-def]
    database = cached(kind, national.name(), national.generate, log=log)
    engine = make_engine(database.url)
    result = Result("Dashboard statistics", kind)
    try:
        with reading_session(engine) as session:
            cases = _cases(session)
            result.notes.append(f"{session.exec(select(func.count()).select_from(OfferPresentation)).scalar_one()} "
                                f"offer rows, {session.exec(select(func.count()).select_from(Meeting)).scalar_one()} "
                                "meetings")
        slowest = 0.0
        for label, start, end, codes in cases:
            def statistics() -> None:
                with reading_session(engine) as session:
                    uptake_statistics(session, start=start, end=end, municipality_codes=codes, zone=ZONE, threshold=5)

            def baseline() -> int:
                start_at, end_at = period_bounds(start, end, ZONE)
                with reading_session(engine) as session:
                    return session.exec(select(func.count()).select_from(OfferPresentation)
                                        .join(Meeting, Meeting.id == OfferPresentation.meeting_id)
                                        .where(Meeting.start_at >= start_at, Meeting.start_at < end_at,
                                               Meeting.municipality_code.in_(codes))).scalar_one()

            rows = baseline()
            times = timed(statistics, runs=runs)
            base = timed(baseline, runs=runs)
            slowest = max(slowest, median(times))
            result.rows.append({"period and municipalities": label, "offer rows": rows,
                                "statistics median ms": ms(median(times)), "max ms": ms(max(times)),
                                "baseline: COUNT of the rows, ms": ms(median(base)),
                                "ratio": round(median(times) / median(base), 2)})
        result.check("dashboard statistics, slowest case (median)", target=f"< {TARGET_S:g} s",
                     value=f"{slowest:.2f} s", passed=slowest < TARGET_S)
    finally:
        engine.dispose()
    return result
