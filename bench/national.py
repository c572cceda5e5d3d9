"""National-scale data: all 98 municipalities, about 1,000 advisors, 50,000 meetings a year for ten
years (500,000 meetings) and about 2,000,000 offer rows, at `scale` 1.0. Written with bulk inserts
and cached (see common.cached); statistics, exports and the load tests read it.
"""
from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text

from scheduler import crypto
from scheduler.db import make_engine, new_session
from scheduler.migrate import upgrade_database
from scheduler.models import (ApiToken, Hospital, Meeting, MeetingOutcome, MeetingStatus, Offer,
                              OfferPresentation, OfferResponse, Participant, ParticipantRole, Role, UptakeStatus,
                              User, UserWard, VideoStatus, Ward)
from scheduler.services import statistics_summary
from scheduler.services.offers import CATEGORIES
from scheduler.services.reference import load_municipalities

ZONE = ZoneInfo("Europe/Copenhagen")
FIRST_DAY, LAST_DAY = date(2017, 1, 1), date(2026, 12, 31)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # "today" for the generated history
MEETINGS_PER_YEAR = 50_000
ADVISORS = 1000
OFFERS_PER_MUNICIPALITY = 12
OFFERS_PER_HELD_MEETING = (1, 8)  # 4.5 on average: about 2,000,000 offer rows at scale 1
BATCH = 10_000
CPR_KEY = "YmVuY2htYXJrLWNwci1rZXktbm90LWZvci1wcm9kdWN0aW9u"[:43] + "="  # a fixed Fernet key for the data
SECRET_KEY = "benchmark-secret-key-" + "x" * 32
API_TOKEN = "bench-api-token-secretary"  # the bearer token of every benchmark secretary (hash stored)


def scale() -> float:
    return float(os.environ.get("BENCH_SCALE", "1.0"))


def name(kind_scale: float | None = None) -> str:
    return f"national-s{kind_scale if kind_scale is not None else scale():g}"


def configure_crypto() -> None:
    crypto.configure_keys([CPR_KEY], digest_secret=SECRET_KEY)


def generate(url: str, *, scale_factor: float | None = None, seed: int = 2026) -> None:
    factor = scale() if scale_factor is None else scale_factor
    rng = random.Random(seed)
    configure_crypto()
    engine = make_engine(url)
    upgrade_database(engine)  # the schema as the migrations build it, so later ones apply to the cache
    with new_session(engine) as session:
        load_municipalities(session)
        session.commit()
    with engine.begin() as conn:
        municipalities = [row[0] for row in conn.execute(text("SELECT code FROM municipality ORDER BY code"))]
        wards = _hospitals_and_wards(conn)
        advisors = _advisors(conn, rng, municipalities)
        offers = _offers(conn, municipalities)
    meetings = round(MEETINGS_PER_YEAR * 10 * factor)
    _meetings(engine, rng, count=meetings, advisors=advisors, wards=wards, offers=offers)
    with new_session(engine) as session:
        statistics_summary.rebuild(session)
        session.commit()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))  # planner statistics, as a database in use would have
    engine.dispose()


def _hospitals_and_wards(conn) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    """Four hospitals per region, five wards each, one secretary per ward with the benchmark API token."""
    from scheduler.services.users import hash_token

    wards = []
    n = 0
    for region in ("DK-81", "DK-82", "DK-83", "DK-84", "DK-85"):
        for h in range(4):
            hospital_id = conn.execute(insert(Hospital).values(name=f"Hospital {region} {h}", region_code=region)
                                       ).inserted_primary_key[0]
            for w in range(5):
                n += 1
                ward_id = conn.execute(insert(Ward).values(code=f"W{n:03d}", name=f"Afdeling {n}",
                                                           hospital_id=hospital_id)).inserted_primary_key[0]
                secretary_id = conn.execute(insert(User).values(
                    email=f"secretary{n}@bench.example", name=f"Sekretær {n}", role=Role.secretary, is_active=True,
                    language="da", failed_logins=0, created_at=NOW)).inserted_primary_key[0]
                conn.execute(insert(UserWard).values(user_id=secretary_id, ward_id=ward_id))
                conn.execute(insert(ApiToken).values(user_id=secretary_id, token_hash=hash_token(f"{API_TOKEN}-{n}"),
                                                     created_at=NOW))
                wards.append((ward_id, secretary_id))
    for role in (Role.coordinator, Role.admin):
        conn.execute(insert(User).values(email=f"{role.value}@bench.example", name=role.value, role=role,
                                         is_active=True, language="da", failed_logins=0, created_at=NOW))
    return wards


def _advisors(conn, rng: random.Random,  # type: ignore[no-untyped-def]
              municipalities: list[str]) -> dict[str, list[int]]:
    """About ADVISORS advisors: København many, the others a few to a dozen each."""
    weights = {code: (60 if code == "0101" else rng.randint(4, 14)) for code in municipalities}
    factor = ADVISORS / sum(weights.values())
    advisors: dict[str, list[int]] = {}
    for code in municipalities:
        rows = [{"email": f"advisor{i}.{code}@bench.example", "name": f"Rådgiver {i}", "role": Role.advisor,
                 "municipality_code": code, "is_active": True, "language": "da", "failed_logins": 0,
                 "created_at": NOW} for i in range(max(1, round(weights[code] * factor)))]
        conn.execute(insert(User), rows)
        advisors[code] = [row[0] for row in conn.execute(
            text("SELECT id FROM app_user WHERE municipality_code = :code AND role = 'advisor' ORDER BY id"),
            {"code": code})]
    return advisors


def _offers(conn, municipalities: list[str]) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    categories = list(CATEGORIES)
    offers: dict[str, list[int]] = {}
    for m, code in enumerate(municipalities):
        conn.execute(insert(Offer), [{"municipality_code": code, "code": f"T{k:02d}", "name": f"Tilbud {k}",
                                      "category": categories[(m + k) % len(categories)], "referral_required": False}
                                     for k in range(OFFERS_PER_MUNICIPALITY)])
        offers[code] = [row[0] for row in conn.execute(
            text("SELECT id FROM offer WHERE municipality_code = :code ORDER BY id"), {"code": code})]
    return offers


RESPONSES = [(OfferResponse.accepted, 45), (OfferResponse.declined, 25), (OfferResponse.considering, 15),
             (OfferResponse.referred, 15)]
UPTAKES = [(UptakeStatus.started, 55), (UptakeStatus.not_started, 20), (UptakeStatus.unknown, 10), (None, 15)]


def _pick(rng: random.Random, weighted: list[tuple[object, int]]) -> object:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _meetings(engine, rng: random.Random, *, count: int, advisors: dict[str, list[int]],  # type: ignore[no-untyped-def]
              wards: list[tuple[int, int]], offers: dict[str, list[int]]) -> None:
    """`count` meetings spread over ten years in working hours, with a patient each and offers for the held ones."""
    codes = list(advisors)
    weights = [len(advisors[c]) for c in codes]
    days = (LAST_DAY - FIRST_DAY).days + 1
    retention_from = NOW - timedelta(days=180)
    next_id = 1
    meetings, patients, presented = [], [], []

    def flush() -> None:
        with engine.begin() as conn:
            if meetings:
                conn.execute(insert(Meeting), meetings)
            if patients:
                conn.execute(insert(Participant), patients)
            if presented:
                conn.execute(insert(OfferPresentation), presented)
        meetings.clear()
        patients.clear()
        presented.clear()

    for _ in range(count):
        code = rng.choices(codes, weights)[0]
        day = FIRST_DAY + timedelta(days=rng.randrange(days))
        while day.weekday() >= 5:
            day += timedelta(days=1)
        start = datetime.combine(day, time(rng.randrange(8, 15), rng.choice((0, 15, 30, 45))), tzinfo=ZONE
                                 ).astimezone(UTC)
        ward_id, secretary_id = rng.choice(wards)
        status, outcome = _result(rng, start)
        meeting_id = next_id
        next_id += 1
        meetings.append({"id": meeting_id, "uid": f"{uuid.UUID(int=rng.getrandbits(128))}@discharge-scheduler",
                         "status": status, "outcome": outcome, "sequence": 0, "start_at": start,
                         "end_at": start + timedelta(minutes=45), "municipality_code": code, "ward_id": ward_id,
                         "advisor_id": rng.choice(advisors[code]), "booked_by_id": secretary_id,
                         "created_at": start - timedelta(days=3), "updated_at": start, "needs_rebooking": False,
                         "patient_language": "da", "video_provider": "jitsi", "video_status": VideoStatus.ready,
                         "video_join_url": f"https://meet.example/{meeting_id}"})
        cpr = f"{rng.randint(1, 28):02d}{rng.randint(1, 12):02d}{rng.randint(30, 99):02d}{rng.randint(1000, 9999)}"
        patients.append({"meeting_id": meeting_id, "role": ParticipantRole.patient, "name": "Patient",
                         "cpr": cpr if start >= retention_from else None, "cpr_digest": crypto.cpr_digest(cpr),
                         "status": "accepted"})
        if status == MeetingStatus.held:
            for offer_id in rng.sample(offers[code], rng.randint(*OFFERS_PER_HELD_MEETING)):
                response = _pick(rng, RESPONSES)
                uptake = _pick(rng, UPTAKES) if response in (OfferResponse.accepted, OfferResponse.referred) else None
                presented.append({"meeting_id": meeting_id, "offer_id": offer_id, "response": response,
                                  "uptake": uptake, "recorded_at": start + timedelta(hours=2)})
        if len(meetings) >= BATCH:
            flush()
    flush()
    if engine.dialect.name == "postgresql":  # the ids were given: move the sequence past them
        with engine.begin() as conn:
            conn.execute(text("SELECT setval('meeting_id_seq', (SELECT max(id) FROM meeting))"))


def _result(rng: random.Random, start: datetime) -> tuple[MeetingStatus, MeetingOutcome | None]:
    if start > NOW:
        return (MeetingStatus.booked if rng.random() < 0.5 else MeetingStatus.confirmed), None
    roll = rng.random()
    if roll < 0.85:
        return MeetingStatus.held, MeetingOutcome.held
    if roll < 0.90:
        return MeetingStatus.no_show, MeetingOutcome.no_show
    if roll < 0.97:
        return MeetingStatus.cancelled, None
    return MeetingStatus.cancelled, MeetingOutcome.cancelled_late
