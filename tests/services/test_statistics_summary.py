"""The monthly offer totals: kept exact by the session hook through every kind of change, and the
statistics read from them equal the figures counted row by row, for any period and time zone."""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from scheduler.models import (MeetingMonthTotals, MeetingOutcome, MeetingStatus, Offer, OfferMonthTotals,
                              OfferPresentation, OfferResponse, UptakeStatus)
from scheduler.services import statistics_summary
from scheduler.services.statistics import _meeting_counts, _offer_counts, months_between, period_bounds
from scheduler.services.statistics_summary import MEETING_COUNTS, OFFER_COUNTS, meeting_result, offer_figures
from scheduler.services.timeutil import day_start_utc

ZONES = [ZoneInfo("Europe/Copenhagen"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"), UTC]
RESPONSES = list(OfferResponse)
RESULTS = [(MeetingStatus.booked, None), (MeetingStatus.confirmed, None), (MeetingStatus.held, None),
           (MeetingStatus.held, MeetingOutcome.held), (MeetingStatus.no_show, MeetingOutcome.no_show),
           (MeetingStatus.cancelled, None), (MeetingStatus.cancelled, MeetingOutcome.cancelled_late),
           (MeetingStatus.confirmed, MeetingOutcome.cancelled_late), (MeetingStatus.no_show, None)]


def random_meeting(factory, session, rng, advisor):  # type: ignore[no-untyped-def]
    meeting = factory.meeting(advisor, random_instant(rng))
    meeting.status, meeting.outcome = rng.choice(RESULTS)
    session.add(meeting)
    return meeting
UPTAKES = [None, *UptakeStatus]


def totals(session) -> dict[tuple, tuple[int, ...]]:
    """Both tables' non-empty rows."""
    found = {}
    for table, names in ((OfferMonthTotals, OFFER_COUNTS), (MeetingMonthTotals, MEETING_COUNTS)):
        for r in session.exec(select(table)).all():
            if any(getattr(r, n) for n in names):
                found[(table.__tablename__, r.month, r.municipality_code, getattr(r, "offer_id", None))] = \
                    tuple(getattr(r, n) for n in names)
    return found


def counted_row_by_row(session, *, start: date, end: date, zone, codes) -> tuple[dict, list]:
    """The reference: every meeting and presentation read and counted in Python."""
    from scheduler.models import Meeting

    start_at, end_at = period_bounds(start, end, zone)
    months = months_between(start, end)
    per_municipality: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(MEETING_COUNTS, 0))
    meetings_per_month = [dict.fromkeys(MEETING_COUNTS, 0) for _ in months]
    for start_meeting, code, status, outcome in session.exec(
            select(Meeting.start_at, Meeting.municipality_code, Meeting.status, Meeting.outcome)):
        if code not in codes or not start_at <= start_meeting < end_at:
            continue
        local = start_meeting.astimezone(zone).date()
        month = months.index(date(local.year, local.month, 1))
        for name in ("booked", meeting_result(status, outcome)):
            per_municipality[code][name] += 1
            meetings_per_month[month][name] += 1
    per_offer: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OFFER_COUNTS, 0))
    per_month = [dict.fromkeys(OFFER_COUNTS, 0) for _ in months]
    for start_meeting, code, offer_id, response, uptake in session.exec(
            select(Meeting.start_at, Meeting.municipality_code, OfferPresentation.offer_id,
                   OfferPresentation.response, OfferPresentation.uptake)
            .join(Meeting, Meeting.id == OfferPresentation.meeting_id)):
        if code not in codes or not start_at <= start_meeting < end_at:
            continue
        local = start_meeting.astimezone(zone).date()
        month = months.index(date(local.year, local.month, 1))
        for name in offer_figures(response, uptake):
            per_offer[offer_id][name] += 1
            per_month[month][name] += 1
    return (dict(per_municipality), meetings_per_month), (dict(per_offer), per_month)


def random_instant(rng: random.Random) -> datetime:
    """Often within hours of a month's edge, where local and UTC months differ."""
    month = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=31 * rng.randrange(20))
    month = month.replace(day=1)
    if rng.random() < 0.6:
        return month + timedelta(minutes=rng.randrange(-14 * 60, 14 * 60))
    return month + timedelta(minutes=rng.randrange(0, 28 * 24 * 60))


@pytest.fixture
def offers(session):
    made = [Offer(municipality_code=code, code=f"T{i}", name=f"Tilbud {i}", category="genoptraening")
            for code in ("0540", "0306") for i in range(3)]
    session.add_all(made)
    session.flush()
    return made


def test_totals_follow_every_change_and_match_a_rebuild(session, factory, offers):
    rng = random.Random(8)
    advisors = {code: factory.advisor(code) for code in ("0540", "0306")}
    meetings = []
    for _ in range(40):
        code = rng.choice(list(advisors))
        meeting = random_meeting(factory, session, rng, advisors[code])
        meetings.append(meeting)
        for offer in rng.sample([o for o in offers if o.municipality_code == code], rng.randint(0, 3)):
            session.add(OfferPresentation(meeting_id=meeting.id, offer_id=offer.id, response=rng.choice(RESPONSES),
                                          uptake=rng.choice(UPTAKES)))
    session.commit()

    def check() -> None:
        incremental = totals(session)
        statistics_summary.rebuild(session)
        assert totals(session) == incremental
        session.rollback()  # keep the incrementally kept rows for the next round

    check()
    for _ in range(4):
        for meeting in rng.sample(meetings, 8):  # moved, often into another month
            meeting.start_at = random_instant(rng)
            meeting.end_at = meeting.start_at + timedelta(minutes=45)
            session.add(meeting)
        for meeting in rng.sample(meetings, 5):  # recorded, cancelled, corrected
            meeting.status, meeting.outcome = rng.choice(RESULTS)
            session.add(meeting)
        presentations = session.exec(select(OfferPresentation)).all()
        for presentation in rng.sample(presentations, min(6, len(presentations))):
            presentation.response, presentation.uptake = rng.choice(RESPONSES), rng.choice(UPTAKES)
            session.add(presentation)
        for presentation in rng.sample(presentations, min(3, len(presentations))):
            session.delete(presentation)
        session.flush()  # several flushes in one transaction
        meeting = rng.choice(meetings)
        taken = {p.offer_id for p in session.exec(select(OfferPresentation)
                                                  .where(OfferPresentation.meeting_id == meeting.id))}
        for offer in offers:
            if offer.municipality_code == meeting.municipality_code and offer.id not in taken:
                session.add(OfferPresentation(meeting_id=meeting.id, offer_id=offer.id,
                                              response=OfferResponse.accepted))
        session.commit()
        check()

    # a rolled-back change leaves the totals as they were
    before = totals(session)
    meetings[0].start_at += timedelta(days=62)
    session.add(meetings[0])
    session.flush()
    session.rollback()
    assert totals(session) == before


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_statistics_from_the_totals_equal_counting_every_row(session, factory, offers, zone):
    rng = random.Random(str(zone))
    advisors = {code: factory.advisor(code) for code in ("0540", "0306")}
    for _ in range(150):
        code = rng.choice(list(advisors))
        meeting = random_meeting(factory, session, rng, advisors[code])
        for offer in rng.sample([o for o in offers if o.municipality_code == code], rng.randint(0, 3)):
            session.add(OfferPresentation(meeting_id=meeting.id, offer_id=offer.id, response=rng.choice(RESPONSES),
                                          uptake=rng.choice(UPTAKES)))
    session.commit()
    periods = [(date(2025, 1, 1), date(2026, 8, 31)), (date(2025, 3, 1), date(2025, 3, 31)),
               (date(2025, 2, 14), date(2025, 2, 20)), (date(2025, 1, 20), date(2025, 11, 10)),
               (date(2024, 12, 31), date(2025, 1, 1))]
    periods += [(date(2025, 1, 1) + timedelta(days=a), date(2025, 1, 1) + timedelta(days=a + b))
                for a, b in ((rng.randrange(500), rng.randrange(1, 200)) for _ in range(6))]
    for start, end in periods:
        for codes in (("0540",), ("0306", "0540")):
            start_at, end_at = period_bounds(start, end, zone)
            bounds = [start_at, *(day_start_utc(m, zone) for m in months_between(start, end)[1:]), end_at]
            assert (_meeting_counts(session, bounds=bounds, codes=codes), _offer_counts(session, bounds=bounds,
                                                                                       codes=codes)) == \
                counted_row_by_row(session, start=start, end=end, zone=zone, codes=codes), (start, end, codes)


def test_migration_counts_the_existing_offer_rows(database_url, tmp_path):
    """Migration 0006 fills the totals from the rows already there, as the hook would have."""
    from alembic import command
    from sqlalchemy import text
    from sqlmodel import SQLModel

    from scheduler.db import make_engine, new_session
    from scheduler.migrate import alembic_config, upgrade_database
    from scheduler.services.reference import load_municipalities

    engine = make_engine(database_url)

    def empty() -> None:
        with engine.begin() as conn:
            SQLModel.metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))

    empty()
    try:
        upgrade_database(engine, "0005")
        rng = random.Random(6)
        with engine.begin() as conn:  # rows as the schema of 0005 has them: plain SQL, not today's models
            for code in ("0540", "0306"):
                conn.execute(text("INSERT INTO municipality (code, name, region_code, region_name) "
                                  "VALUES (:code, 'K', 'DK-83', 'R')"), {"code": code})
            conn.execute(text("INSERT INTO hospital (id, name) VALUES (1, 'H')"))
            conn.execute(text("INSERT INTO ward (id, code, name, hospital_id) VALUES (1, 'W', 'W', 1)"))
            conn.execute(text("INSERT INTO app_user (id, email, name, role, language, is_active, created_at, "
                              "failed_logins) VALUES (1, 'a@x.dk', 'A', 'advisor', 'da', true, '2026-01-01', 0)"))
            for i, code in enumerate(("0540", "0306", "0540")):
                conn.execute(text("INSERT INTO offer (id, municipality_code, code, name, category, referral_required) "
                                  "VALUES (:id, :code, :offer_code, 'T', 'andet', false)"),
                             {"id": i + 1, "code": code, "offer_code": f"T{i}"})
            for n in range(30):
                start = random_instant(rng)
                status, outcome = RESULTS[n % len(RESULTS)]
                when = start.replace(tzinfo=None).isoformat(" ") if engine.dialect.name == "sqlite" else start
                conn.execute(text(
                    "INSERT INTO meeting (id, uid, status, sequence, start_at, end_at, municipality_code, ward_id, "
                    "advisor_id, booked_by_id, created_at, updated_at, needs_rebooking, patient_language, "
                    "video_provider, video_status, outcome) VALUES (:id, :uid, :status, 0, :start, :start, :code, 1, "
                    "1, 1, :start, :start, false, 'da', 'jitsi', 'ready', :outcome)"),
                    {"id": n + 1, "uid": f"m{n}", "status": status.value, "start": when,
                     "code": rng.choice(("0540", "0306")), "outcome": outcome.value if outcome else None})
                for offer_id in rng.sample((1, 2, 3), rng.randint(0, 3)):
                    uptake = rng.choice(UPTAKES)
                    conn.execute(text(
                        "INSERT INTO offerpresentation (meeting_id, offer_id, response, uptake, recorded_at) "
                        "VALUES (:meeting, :offer, :response, :uptake, :at)"),
                        {"meeting": n + 1, "offer": offer_id, "response": rng.choice(RESPONSES).value,
                         "uptake": uptake.value if uptake else None, "at": when})
        command.upgrade(alembic_config(engine), "head")  # 0006 fills the totals; later ones add to the models
        with new_session(engine) as session:
            migrated = totals(session)
            assert any(key[0] == "meeting_month_totals" for key in migrated)
            assert any(key[0] == "offer_month_totals" for key in migrated)
            statistics_summary.rebuild(session)
            assert totals(session) == migrated
    finally:  # leave the schema of today's models for the tests that follow (shared PostgreSQL database)
        empty()
        SQLModel.metadata.create_all(engine)
        with new_session(engine) as session:
            load_municipalities(session)
            session.commit()
        engine.dispose()
