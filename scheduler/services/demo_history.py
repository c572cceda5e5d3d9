"""Half a year of past demo meetings with outcomes, offers and uptake, so the coordinator's
dashboard shows figures on a fresh demo. Made-up citizens only (no CPR); written once."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from ..models import (AnswerStatus, Hospital, JobMark, Meeting, MeetingOutcome, MeetingStatus, Municipality, Offer,
                      OfferPresentation, OfferResponse, Participant, ParticipantRole, Role, UptakeStatus, User,
                      UserWard, VideoStatus, Ward)
from .offers import is_active

MARK = "demo:history"
DAYS = 180
MEETINGS_PER_MUNICIPALITY = 70
OUTCOMES = [(MeetingOutcome.held, 85), (MeetingOutcome.no_show, 9), (MeetingOutcome.cancelled_late, 6)]
RESPONSES = [(OfferResponse.accepted, 45), (OfferResponse.declined, 20), (OfferResponse.considering, 20),
             (OfferResponse.referred, 15)]
UPTAKE = [(UptakeStatus.started, 60), (UptakeStatus.not_started, 25), (UptakeStatus.unknown, 15)]


def _pick(rng: random.Random, weighted: list[tuple[object, int]]):  # type: ignore[no-untyped-def]
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def load_demo_history(session: Session, *, now: datetime, zone: ZoneInfo, followup_days: int) -> int:
    """Past meetings for every municipality that has demo advisors and a catalogue; returns how many."""
    if session.get(JobMark, MARK) is not None:
        return 0
    rng = random.Random(20261122)  # the same demo every time
    secretaries = session.exec(select(User, UserWard.ward_id, Hospital.region_code)
                               .join(UserWard, UserWard.user_id == User.id).join(Ward, Ward.id == UserWard.ward_id)
                               .join(Hospital, Hospital.id == Ward.hospital_id)
                               .where(User.role == Role.secretary)).all()
    regions = {m.code: m.region_code for m in session.exec(select(Municipality))}
    advisors: dict[str, list[User]] = {}
    for advisor in session.exec(select(User).where(User.role == Role.advisor).order_by(User.id)):
        advisors.setdefault(advisor.municipality_code, []).append(advisor)
    created = 0
    for municipality, staff in sorted(advisors.items()):
        offers = list(session.exec(select(Offer).where(Offer.municipality_code == municipality)))
        if not offers or not secretaries:
            continue
        for n in range(MEETINGS_PER_MUNICIPALITY):
            day = now.astimezone(zone).date() - timedelta(days=rng.randint(2, DAYS))
            while day.weekday() >= 5:
                day -= timedelta(days=1)
            start = datetime.combine(day, time(rng.choice([9, 10, 11, 13, 14])), tzinfo=zone)
            nearby = [s for s in secretaries if s[2] == regions[municipality]] or secretaries
            secretary, ward_id, _region = rng.choice(nearby)  # patients are mostly treated in their region
            created += _meeting(session, rng=rng, municipality=municipality, advisor=rng.choice(staff),
                                secretary=secretary, ward_id=ward_id, start=start, number=n,
                                offers=[o for o in offers if is_active(o, day)],
                                follow_up=now - start >= timedelta(days=followup_days))
    session.add(JobMark(key=MARK, done_at=now))
    session.flush()
    return created


def _meeting(session: Session, *, rng: random.Random, municipality: str, advisor: User, secretary: User,
             ward_id: int, start: datetime, number: int, offers: list[Offer], follow_up: bool) -> int:
    outcome = _pick(rng, OUTCOMES)
    status = {MeetingOutcome.held: MeetingStatus.held, MeetingOutcome.no_show: MeetingStatus.no_show,
              MeetingOutcome.cancelled_late: MeetingStatus.cancelled}[outcome]
    meeting = Meeting(uid=f"{uuid.UUID(int=rng.getrandbits(128))}@discharge-scheduler", status=status, sequence=0,
                      start_at=start, end_at=start + timedelta(minutes=45), municipality_code=municipality,
                      ward_id=ward_id, advisor_id=advisor.id, booked_by_id=secretary.id,
                      created_at=start - timedelta(days=3), updated_at=start, outcome=outcome,
                      video_provider="jitsi", video_status=VideoStatus.ready,
                      video_join_url=f"https://meet.jit.si/demo{rng.getrandbits(128):032x}")
    session.add(meeting)
    session.flush()
    session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.patient,
                            name=f"Demoborger {municipality}-{number + 1}", status=AnswerStatus.accepted))
    session.add(Participant(meeting_id=meeting.id, role=ParticipantRole.advisor, name=advisor.name,
                            email=advisor.email, user_id=advisor.id, status=AnswerStatus.accepted))
    if outcome == MeetingOutcome.held and offers:
        for offer in rng.sample(offers, k=min(len(offers), rng.randint(1, 3))):
            response = _pick(rng, RESPONSES)
            uptake, started_on = None, None
            if follow_up and response in (OfferResponse.accepted, OfferResponse.referred):
                uptake = _pick(rng, UPTAKE)
                if uptake == UptakeStatus.started:
                    started_on = start.date() + timedelta(days=rng.randint(3, 25))
            session.add(OfferPresentation(meeting_id=meeting.id, offer_id=offer.id, response=response,
                                          uptake=uptake, started_on=started_on, recorded_at=start,
                                          recorded_by_id=advisor.id))
    return 1


__all__ = ["load_demo_history"]
