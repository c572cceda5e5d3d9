"""What the advisor records after a meeting: its outcome, the offers she presented with the patient's
response to each, and later whether the patient started the offers she accepted. Corrections are kept
in the meeting's history; the free-text note never is."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import String, cast, literal
from sqlmodel import Session, col, select

from ..db import new_session
from ..errors import N_, Conflict, Forbidden, InvalidInput, NotFound
from ..models import (JobMark, Meeting, MeetingOutcome, MeetingStatus, Offer, OfferPresentation, OfferResponse, Role,
                      UptakeStatus, User)
from ..schemas import MAX_NOTE, NOTE_CONTROL
from .booking import ACTIVE_STATUSES, change_status, record_event
from .context import BookingContext
from .locking import lock_schedule
from .meeting_types import meeting_type
from .notifications import queue_notice
from .offers import is_active, offer_by_code, sort_key

if TYPE_CHECKING:
    from .. import AppServices

OUTCOME_STATUS = {
    MeetingOutcome.held: MeetingStatus.held,
    MeetingOutcome.no_show: MeetingStatus.no_show,
    MeetingOutcome.cancelled_late: MeetingStatus.cancelled,
}
FOLLOWUP_RESPONSES = (OfferResponse.accepted, OfferResponse.referred)
FOLLOWUPS_PATH = "/advisor/followups"
LISTED = 200


def may_record(user: User, meeting: Meeting) -> bool:
    """Advisors of the meeting's municipality, and admins."""
    return user.is_active and (user.role == Role.admin or (
        user.role == Role.advisor and user.municipality_code == meeting.municipality_code))


def _begin(session: Session, *, meeting: Meeting, actor: User) -> None:
    """Check the actor, serialise recordings of this meeting, and read it fresh."""
    if not may_record(actor, meeting):
        raise Forbidden(N_("Kun kommunens sundhedsrådgivere kan registrere, hvad der skete på mødet"))
    lock_schedule(session, names=[f"recording:{meeting.id}"])
    session.flush()
    session.refresh(meeting)


def meeting_day(ctx: BookingContext, meeting: Meeting) -> date:
    return meeting.start_at.astimezone(ctx.rules.zone).date()


def presentations_of(session: Session, meeting: Meeting) -> list[tuple[OfferPresentation, Offer]]:
    """The offers recorded for the meeting, by category and name."""
    rows = session.exec(select(OfferPresentation, Offer).join(Offer, col(Offer.id) == col(OfferPresentation.offer_id))
                        .where(OfferPresentation.meeting_id == meeting.id))
    return sorted(rows, key=lambda row: sort_key(row[1]))


def clean_note(note: str | None) -> str | None:
    """The optional note: lines kept, control characters refused, None when empty."""
    text = (note or "").replace("\r\n", "\n").strip()
    if NOTE_CONTROL.search(text):
        raise InvalidInput(N_("Må ikke indeholde kontroltegn"), field="note")
    if len(text) > MAX_NOTE:
        raise InvalidInput(N_("Må højst være %(max_length)s tegn"), field="note", max_length=MAX_NOTE)
    return text or None


def record_outcome(session: Session, *, ctx: BookingContext, meeting: Meeting, outcome: MeetingOutcome,
                   actor: User) -> Meeting:
    """Held, no-show or cancelled late, once the meeting has begun; held and no-show can be swapped later."""
    _begin(session, meeting=meeting, actor=actor)
    if ctx.now < meeting.start_at:
        raise InvalidInput(N_("Udfaldet kan først registreres, når mødet er begyndt"), field="outcome")
    if outcome == meeting.outcome:
        return meeting
    if outcome != MeetingOutcome.held and presentations_of(session, meeting):
        raise Conflict(N_("Mødet har registrerede tilbud. Fjern dem først, hvis mødet ikke blev holdt."),
                       field="outcome")
    try:
        change_status(meeting, OUTCOME_STATUS[outcome])
    except Conflict:
        raise Conflict(N_("Et møde med status %(old)s kan ikke registreres som %(new)s"), field="outcome",
                       old=meeting.status.value, new=outcome.value) from None
    previous = meeting.outcome
    meeting.outcome = outcome
    meeting.updated_at = ctx.now
    session.add(meeting)
    record_event(session, meeting, action="outcome_recorded" if previous is None else "outcome_corrected", actor=actor,
            now=ctx.now, old=previous.value if previous else None, new=outcome.value)
    session.flush()
    return meeting


def record_offers(session: Session, *, ctx: BookingContext, meeting: Meeting,
                  offers: list[tuple[str, OfferResponse]], note: str | None,
                  actor: User) -> list[tuple[OfferPresentation, Offer]]:
    """Replace the offers presented and the note. New offers must be the municipality's and active on the
    meeting's date; offers already recorded stay valid even if the catalogue changed since."""
    _begin(session, meeting=meeting, actor=actor)
    if meeting.outcome is None:
        raise InvalidInput(N_("Registrér først, om mødet blev holdt"), field="outcome")
    if offers and meeting.outcome != MeetingOutcome.held:
        raise InvalidInput(N_("Tilbud kan kun registreres for et møde, der blev holdt"), field="offers")
    if offers and not meeting_type(meeting.meeting_type).presents_offers:
        raise InvalidInput(N_("Ved denne mødetype præsenteres ingen kommunale tilbud"), field="offers")
    note = clean_note(note)
    current = {offer.code: (presentation, offer) for presentation, offer in presentations_of(session, meeting)}
    day = meeting_day(ctx, meeting)
    errors: dict[str, str] = {}
    chosen: dict[str, tuple[Offer, OfferResponse]] = {}
    for i, (code, response) in enumerate(offers):
        field = f"offers.{i}.code"
        offer = current[code][1] if code in current else \
            offer_by_code(session, municipality_code=meeting.municipality_code, code=code)
        if code in chosen:
            errors[field] = N_("Tilbuddet står flere gange")
        elif offer is None:
            errors[field] = N_("Tilbuddet findes ikke i borgerens kommune")
        elif code not in current and not is_active(offer, day):
            errors[field] = N_("Tilbuddet blev ikke tilbudt på mødets dato")
        else:
            chosen[code] = (offer, OfferResponse(response))
    if errors:
        raise InvalidInput(N_("Ret de markerede tilbud"), fields=errors)

    added, removed, changed = [], [], []
    for code, (presentation, _offer) in current.items():
        if code not in chosen:
            removed.append({"code": code, "response": presentation.response.value,
                            "uptake": presentation.uptake.value if presentation.uptake else None})
            session.delete(presentation)
    for code, (offer, response) in chosen.items():
        if code not in current:
            session.add(OfferPresentation(meeting_id=meeting.id, offer_id=offer.id, response=response,
                                          recorded_at=ctx.now, recorded_by_id=actor.id))
            added.append({"code": code, "response": response.value})
            continue
        presentation = current[code][0]
        if presentation.response == response:
            continue
        change = {"code": code, "old": presentation.response.value, "new": response.value}
        presentation.response, presentation.recorded_at, presentation.recorded_by_id = response, ctx.now, actor.id
        if response not in FOLLOWUP_RESPONSES and presentation.uptake is not None:
            change["uptake_cleared"] = presentation.uptake.value  # no follow-up on an offer she did not take
            presentation.uptake, presentation.started_on, presentation.uptake_recorded_at = None, None, None
        session.add(presentation)
        changed.append(change)
    note_changed = note != meeting.advisor_note
    if note_changed:
        meeting.advisor_note = note
        session.add(meeting)
    if added or removed or changed:
        # The history names codes and responses only: the note is free text and may hold anything.
        record_event(session, meeting, action="offers_corrected" if current else "offers_recorded", actor=actor,
                now=ctx.now, added=added, removed=removed, changed=changed, note_changed=note_changed)
    elif note_changed:
        record_event(session, meeting, action="note_changed", actor=actor, now=ctx.now)
    session.flush()
    return presentations_of(session, meeting)


def record_uptake(session: Session, *, ctx: BookingContext, meeting: Meeting, code: str, status: UptakeStatus,
                  started_on: date | None, actor: User) -> OfferPresentation:
    """Whether the patient started an offer she accepted or was referred to (a start date with 'started')."""
    _begin(session, meeting=meeting, actor=actor)
    found = [p for p, offer in presentations_of(session, meeting) if offer.code == code]
    if not found:
        raise NotFound(N_("Tilbuddet er ikke registreret på mødet"), field="code")
    presentation = found[0]
    if presentation.response not in FOLLOWUP_RESPONSES:
        raise InvalidInput(N_("Opfølgning gælder kun tilbud, borgeren sagde ja til eller blev henvist til"),
                           field="status")
    if status == UptakeStatus.started:
        if started_on is None:
            raise InvalidInput(N_("Angiv hvornår borgeren startede"), field="started_on")
        if started_on < meeting_day(ctx, meeting):
            raise InvalidInput(N_("Startdatoen ligger før mødet"), field="started_on")
        if started_on > ctx.now.astimezone(ctx.rules.zone).date():
            raise InvalidInput(N_("Startdatoen ligger i fremtiden"), field="started_on")
    else:
        started_on = None  # a date only means something with "started"
    if (presentation.uptake, presentation.started_on) == (status, started_on):
        return presentation
    previous = {"status": presentation.uptake.value if presentation.uptake else None,
                "started_on": presentation.started_on}
    presentation.uptake, presentation.started_on, presentation.uptake_recorded_at = status, started_on, ctx.now
    session.add(presentation)
    record_event(session, meeting, action="uptake_recorded" if previous["status"] is None else "uptake_corrected",
            actor=actor, now=ctx.now, code=code, old=previous, new={"status": status.value, "started_on": started_on})
    session.flush()
    return presentation


def record_meeting(session: Session, *, ctx: BookingContext, meeting: Meeting, outcome: MeetingOutcome,
                   offers: list[tuple[str, OfferResponse]], note: str | None,
                   actor: User) -> list[tuple[OfferPresentation, Offer]]:
    """The recording form in one go: outcome, offers and note, in the order the rules allow."""
    if outcome != MeetingOutcome.held and offers:
        raise InvalidInput(N_("Tilbud kan kun registreres for et møde, der blev holdt"), field="offers")
    if outcome != MeetingOutcome.held and presentations_of(session, meeting):
        record_offers(session, ctx=ctx, meeting=meeting, offers=[], note=note, actor=actor)  # no longer held
        record_outcome(session, ctx=ctx, meeting=meeting, outcome=outcome, actor=actor)
        return []
    record_outcome(session, ctx=ctx, meeting=meeting, outcome=outcome, actor=actor)
    return record_offers(session, ctx=ctx, meeting=meeting, offers=offers, note=note, actor=actor)


# ---- the advisor's lists


@dataclass(frozen=True)
class FollowUp:
    meeting: Meeting
    due_at: datetime
    items: list[tuple[OfferPresentation, Offer]]


def _open_rows(*, now: datetime, followup_days: int):  # type: ignore[no-untyped-def]
    return (select(Meeting, OfferPresentation, Offer)
            .join(OfferPresentation, col(OfferPresentation.meeting_id) == col(Meeting.id))
            .join(Offer, col(Offer.id) == col(OfferPresentation.offer_id))
            .where(Meeting.outcome == MeetingOutcome.held, Meeting.start_at <= now - timedelta(days=followup_days),
                   col(OfferPresentation.response).in_(FOLLOWUP_RESPONSES), col(OfferPresentation.uptake).is_(None))
            .order_by(Meeting.start_at, Meeting.id, Offer.name))


def open_followups(session: Session, *, advisor: User, now: datetime, followup_days: int) -> list[FollowUp]:
    """Meetings of her municipality held at least `followup_days` ago with accepted or referred offers
    whose uptake is not recorded yet, oldest first."""
    if not advisor.municipality_code:
        return []
    grouped: dict[int, FollowUp] = {}
    for meeting, presentation, offer in session.exec(
            _open_rows(now=now, followup_days=followup_days).where(
                Meeting.municipality_code == advisor.municipality_code)):
        followup = grouped.setdefault(meeting.id, FollowUp(meeting=meeting, items=[],
                                                           due_at=meeting.start_at + timedelta(days=followup_days)))
        followup.items.append((presentation, offer))
    return list(grouped.values())


def meetings_to_record(session: Session, *, advisor: User, now: datetime) -> list[Meeting]:
    """Meetings of her municipality that have begun and have no outcome yet, newest first."""
    return list(session.exec(select(Meeting).where(
        Meeting.municipality_code == advisor.municipality_code, col(Meeting.outcome).is_(None),
        col(Meeting.status).in_(ACTIVE_STATUSES), Meeting.start_at <= now)
        .order_by(col(Meeting.start_at).desc()).limit(LISTED)))


def recorded_meetings(session: Session, *, advisor: User, now: datetime, days: int = 60) -> list[Meeting]:
    """Meetings of her municipality recorded in the last `days` days, to correct; newest first."""
    return list(session.exec(select(Meeting).where(
        Meeting.municipality_code == advisor.municipality_code, col(Meeting.outcome).is_not(None),
        Meeting.start_at >= now - timedelta(days=days), Meeting.start_at <= now)
        .order_by(col(Meeting.start_at).desc()).limit(LISTED)))


# ---- the follow-up prompt (a scheduled job)


FOLLOWUP_MARK = "followup:"  # JobMark key prefix: followup:<meeting id>, one e-mail per meeting


def due_followup_meetings(session: Session, *, now: datetime, followup_days: int) -> list[Meeting]:
    """Meetings whose follow-up is due and whose advisor has not been prompted yet."""
    prompted = select(JobMark.key).where(col(JobMark.key).startswith(FOLLOWUP_MARK))
    key = literal(FOLLOWUP_MARK, String) + cast(Meeting.id, String)
    meetings: dict[int, Meeting] = {}
    for meeting, _presentation, _offer in session.exec(
            _open_rows(now=now, followup_days=followup_days).where(key.not_in(prompted))):
        meetings.setdefault(meeting.id, meeting)
    return list(meetings.values())


def queue_followups(services: AppServices) -> int:
    """E-mail the meeting's advisor once when its follow-up falls due; the mail holds no patient data,
    only a link to her list of open follow-ups."""
    from ..jobs import _once  # jobs.py imports this module

    followup_days = services.config.offers.followup_days
    queued = 0
    with new_session(services.engine) as session:
        for meeting in due_followup_meetings(session, now=services.clock(), followup_days=followup_days):
            advisor = session.get(User, meeting.advisor_id)
            if advisor is None or not advisor.is_active:
                continue  # her colleagues see it in their list of open follow-ups
            ctx = services.booking_context()
            url = f"{services.mailer.links.base_url}{FOLLOWUPS_PATH}"
            queued += _once(session, f"{FOLLOWUP_MARK}{meeting.id}",
                            lambda m=meeting, a=advisor: queue_notice(session, ctx=ctx, kind="followup", meeting=m,
                                                                      to=a, followups_url=url))
    return queued
