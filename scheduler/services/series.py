"""Recurring cross-sector meetings: one series, one video link, one invite with an RRULE.

The series is stored as its rule (first meeting, frequency, last day) plus exceptions: an occurrence
moved or cancelled is named by its original start (RECURRENCE-ID, RFC 5545 3.8.4.4), and only that
occurrence is sent again (REQUEST or CANCEL with RECURRENCE-ID, RFC 5546 3.2). Changing the series
itself changes the meetings still to come: a series that has begun is ended after its last past
meeting and continued as a new series from the next one, so past meetings stay as they were held.
Public holidays are skipped (EXDATE) or kept and pointed out, as the series says.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from dateutil.rrule import MONTHLY, WEEKLY, rrule, weekdays
from icalendar import CUTYPE, ROLE, STATUS, Calendar, Conference, Event, vCalAddress
from sqlmodel import Session, col, or_, select

from ..db import on_commit
from ..errors import N_, Conflict, InvalidInput, NotFound
from ..models import (AnswerStatus, HolidayPolicy, MeetingSeries, Role, SeriesException, SeriesFrequency,
                      SeriesParticipant, User, UserWard)
from ..schemas import MAX_ID
from ..video import MeetingInfo, VideoUnavailable
from .availability import is_holiday
from .context import BookingContext
from .invites import CONFERENCE_LABEL, GUEST_PIN, HOW_TO_JOIN, PARTSTATS, PRODID, invite_bytes
from .meeting_types import CROSS_SECTOR, meeting_type
from .timeutil import local_datetime

MAX_OCCURRENCES = 260  # five years of weekly meetings
MAX_PARTICIPANTS = 40
SIDES = ("hospital", "municipality")
_ICAL_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class SeriesInput:
    """What a coordinator or secretary fills in; `until` or `count` ends the series."""

    title: str
    municipality_code: str
    first_date: date
    start_time: time
    duration_minutes: int
    frequency: SeriesFrequency
    holiday_policy: HolidayPolicy
    until: date | None = None
    count: int | None = None
    ward_id: int | None = None
    participants: list[tuple[str, str, str]] = field(default_factory=list)  # (side, name, e-mail)


@dataclass(frozen=True)
class Occurrence:
    recurrence_id: datetime  # the original start, aware UTC: names the occurrence for good
    start_at: datetime
    end_at: datetime
    cancelled: bool = False
    moved: bool = False
    holiday: bool = False  # falls on a public holiday (only with the "flag" policy)


# ---- the rule


def _nth(first: date) -> int:
    """Which of its weekday in the month a date is; the 5th is the month's last (-1)."""
    nth = (first.day - 1) // 7 + 1
    return -1 if nth == 5 else nth


def _by_day(first: date, frequency: SeriesFrequency) -> str:
    day = _ICAL_DAYS[first.weekday()]
    return f"{_nth(first)}{day}" if frequency == SeriesFrequency.monthly else day


def _rule(series: MeetingSeries, zone) -> rrule:  # type: ignore[no-untyped-def]
    """The rule in local wall-clock time (a 10.00 meeting stays at 10.00 over DST changes)."""
    first = series.first_start_at.astimezone(zone).replace(tzinfo=None)
    last = datetime.combine(series.until, time(23, 59, 59))
    day = weekdays[first.weekday()]
    if series.frequency == SeriesFrequency.monthly:
        return rrule(MONTHLY, dtstart=first, until=last, byweekday=day(_nth(first.date())))
    interval = 2 if series.frequency == SeriesFrequency.biweekly else 1
    return rrule(WEEKLY, dtstart=first, until=last, interval=interval, byweekday=day)


def rule_starts(series: MeetingSeries, *, zone) -> list[datetime]:  # type: ignore[no-untyped-def]
    """Every start the rule gives (before holidays and exceptions), aware UTC, wall-clock time kept over DST."""
    return [local.replace(tzinfo=zone).astimezone(UTC) for local in _rule(series, zone)]


def holiday_starts(series: MeetingSeries, *, ctx: BookingContext,
                   starts: list[datetime] | None = None) -> set[datetime]:
    """The rule's starts (`starts`, when already expanded) that fall on a public holiday."""
    starts = rule_starts(series, zone=ctx.rules.zone) if starts is None else starts
    return {start for start in starts if is_holiday(ctx.rules, start.astimezone(ctx.rules.zone).date())}


def occurrences(session: Session, series: MeetingSeries, *, ctx: BookingContext) -> list[Occurrence]:
    """The series' meetings in time order, with its exceptions applied."""
    return _occurrences(series, exceptions_of(session, series), ctx=ctx)


def _occurrences(series: MeetingSeries, exceptions: list[SeriesException], *,
                 ctx: BookingContext) -> list[Occurrence]:
    zone, duration = ctx.rules.zone, timedelta(minutes=series.duration_minutes)
    by_start = {e.recurrence_id: e for e in exceptions}
    starts = rule_starts(series, zone=zone)
    holidays = holiday_starts(series, ctx=ctx, starts=starts)
    found = []
    for start in starts:
        if start in holidays and series.holiday_policy == HolidayPolicy.skip:
            continue
        exception = by_start.get(start)
        if exception and exception.cancelled:
            found.append(Occurrence(start, start, start + duration, cancelled=True, holiday=start in holidays))
        elif exception:
            found.append(Occurrence(start, exception.start_at, exception.end_at, moved=True,
                                    holiday=is_holiday(ctx.rules, exception.start_at.astimezone(zone).date())))
        else:
            found.append(Occurrence(start, start, start + duration, holiday=start in holidays))
    return sorted(found, key=lambda o: o.start_at)


def exceptions_of(session: Session, series: MeetingSeries) -> list[SeriesException]:
    return list(session.exec(select(SeriesException).where(SeriesException.series_id == series.id)
                             .order_by(col(SeriesException.recurrence_id))))


def participants_of(session: Session, series: MeetingSeries) -> list[SeriesParticipant]:
    return list(session.exec(select(SeriesParticipant).where(SeriesParticipant.series_id == series.id)
                             .order_by(col(SeriesParticipant.side), col(SeriesParticipant.id))))


# ---- access


def visible_series(user: User):  # type: ignore[no-untyped-def]
    """Series this user may see: her own; secretary: her wards'; advisor: where she takes part;
    coordinator: her municipality's or region's; admin: all."""
    query = select(MeetingSeries)
    if user.role == Role.admin:
        return query
    mine = MeetingSeries.organizer_id == user.id
    if user.role == Role.secretary:
        wards = select(UserWard.ward_id).where(UserWard.user_id == user.id)
        return query.where(or_(mine, col(MeetingSeries.ward_id).in_(wards)))
    if user.role == Role.advisor:
        taking_part = select(SeriesParticipant.series_id).where(SeriesParticipant.email == user.email.lower())
        return query.where(or_(mine, col(MeetingSeries.id).in_(taking_part)))
    if user.role == Role.coordinator:
        from ..models import Municipality

        if user.region_code:
            codes = select(Municipality.code).where(Municipality.region_code == user.region_code)
            return query.where(or_(mine, col(MeetingSeries.municipality_code).in_(codes)))
        if user.municipality_code:
            return query.where(or_(mine, MeetingSeries.municipality_code == user.municipality_code))
        return query  # a national coordinator
    return query.where(mine)


def series_for(session: Session, *, user: User, series_id: int) -> MeetingSeries:
    if not 1 <= series_id <= MAX_ID:
        raise NotFound(N_("Mødeserien findes ikke"))
    series = session.exec(visible_series(user).where(MeetingSeries.id == series_id)).first()
    if series is None:
        raise NotFound(N_("Mødeserien findes ikke"))
    return series


def can_create_series(user: User) -> bool:
    return user.role in (Role.secretary, Role.coordinator, Role.admin)


# ---- changes


def _check_input(session: Session, data: SeriesInput, *, ctx: BookingContext, user: User) -> None:
    from ..models import Municipality

    if not data.title.strip():
        raise InvalidInput(N_("Skriv en titel"), field="title")
    if len(data.title) > 200 or "\n" in data.title or "\r" in data.title:
        raise InvalidInput(N_("Titlen skal være én linje på højst 200 tegn"), field="title")
    if session.get(Municipality, data.municipality_code) is None:
        raise InvalidInput(N_("Ukendt kommune"), field="municipality")
    if not 10 <= data.duration_minutes <= 480:
        raise InvalidInput(N_("Varigheden skal være mellem 10 og 480 minutter"), field="duration_minutes")
    if (data.until is None) == (data.count is None):
        raise InvalidInput(N_("Angiv enten en slutdato eller et antal møder"), field="until")
    if data.count is not None and not 1 <= data.count <= MAX_OCCURRENCES:
        raise InvalidInput(N_("Antal møder skal være mellem 1 og %(max)d"), field="count", max=MAX_OCCURRENCES)
    if data.until is not None and data.until < data.first_date:
        raise InvalidInput(N_("Slutdatoen ligger før det første møde"), field="until")
    if data.until is not None and data.until > data.first_date + timedelta(days=366 * 5):
        raise InvalidInput(N_("En mødeserie kan højst vare fem år"), field="until")
    if local_datetime(data.first_date, data.start_time, ctx.rules.zone) <= ctx.now:
        raise InvalidInput(N_("Det første møde skal ligge i fremtiden"), field="first_date")
    if not data.participants:
        raise InvalidInput(N_("Tilføj mindst én deltager"), field="participants_hospital")
    if len(data.participants) > MAX_PARTICIPANTS:
        raise InvalidInput(N_("Højst %(max)d deltagere"), field="participants_hospital", max=MAX_PARTICIPANTS)
    if data.ward_id is not None and user.role == Role.secretary:
        allowed = session.exec(select(UserWard).where(UserWard.user_id == user.id,
                                                      UserWard.ward_id == data.ward_id)).first()
        if allowed is None:
            raise InvalidInput(N_("Du booker ikke for den afdeling"), field="ward_id")


def _until_for_count(data: SeriesInput, series: MeetingSeries, *, ctx: BookingContext) -> date:
    """The day of the count-th meeting that takes place (holidays skipped by the policy do not count)."""
    series.until = data.first_date + timedelta(days=366 * 5)
    taken = 0
    for start in rule_starts(series, zone=ctx.rules.zone):
        day = start.astimezone(ctx.rules.zone).date()
        if series.holiday_policy == HolidayPolicy.skip and is_holiday(ctx.rules, day):
            continue
        taken += 1
        if taken == data.count:
            return day
    return series.until


def _info(series: MeetingSeries, ctx: BookingContext) -> MeetingInfo:
    first = series.first_start_at
    return MeetingInfo(uid=series.uid, start_at=first, end_at=first + timedelta(minutes=series.duration_minutes),
                       subject=series.title, organizer_email=ctx.organizer_email)


def create_series(session: Session, *, ctx: BookingContext, user: User, data: SeriesInput,
                  continued_from: MeetingSeries | None = None, send: bool = True) -> MeetingSeries:
    """Store the series, create its video room and send the REQUEST with the RRULE to everyone."""
    if not can_create_series(user):
        raise NotFound(N_("Siden findes ikke"))
    _check_input(session, data, ctx=ctx, user=user)
    series = MeetingSeries(
        uid=f"series-{uuid.uuid4()}@discharge-scheduler", title=" ".join(data.title.split()),
        meeting_type=CROSS_SECTOR, organizer_id=user.id, municipality_code=data.municipality_code,
        ward_id=data.ward_id, first_start_at=local_datetime(data.first_date, data.start_time, ctx.rules.zone),
        duration_minutes=data.duration_minutes, frequency=data.frequency, until=data.until or data.first_date,
        holiday_policy=data.holiday_policy, video_provider=ctx.video.name, created_at=ctx.now,
        updated_at=ctx.now, continued_from_id=continued_from.id if continued_from else None)
    if data.count is not None:
        series.until = _until_for_count(data, series, ctx=ctx)
    if not _occurrences(series, [], ctx=ctx):  # a new series has no exceptions yet
        raise InvalidInput(N_("Serien giver ingen møder (alle dage er helligdage?)"), field="first_date")
    if continued_from is not None and continued_from.video_join_url:
        series.video_join_url = continued_from.video_join_url
        series.video_external_id = continued_from.video_external_id
        series.video_guest_pin = continued_from.video_guest_pin
    else:
        try:
            room = ctx.video.create(_info(series, ctx))
        except VideoUnavailable:
            raise Conflict(N_("Videotjenesten svarer ikke lige nu; prøv igen om lidt"), field="video") from None
        series.video_join_url, series.video_external_id = room.join_url, room.external_id
        series.video_guest_pin = room.guest_pin
    session.add(series)
    session.flush()
    for side, name, email in data.participants:
        session.add(SeriesParticipant(series_id=series.id, side=side, name=" ".join(name.split()),
                                      email=email.strip().lower(), status=AnswerStatus.needs_action))
    session.flush()
    if send:
        _publish(session, series, ctx=ctx, kind="series_invite")
    return series


def _occurrence(session: Session, series: MeetingSeries, recurrence_id: datetime, *,
                ctx: BookingContext) -> Occurrence:
    for occurrence in occurrences(session, series, ctx=ctx):
        if occurrence.recurrence_id == recurrence_id:
            return occurrence
    raise InvalidInput(N_("Mødet findes ikke i serien"), field="occurrence")


def _check_changeable(series: MeetingSeries) -> None:
    if series.cancelled_at is not None:
        raise Conflict(N_("Mødeserien er aflyst"), field="series")


def cancel_occurrence(session: Session, *, ctx: BookingContext, series: MeetingSeries,
                      recurrence_id: datetime) -> None:
    """Cancel one meeting of the series: a CANCEL with its RECURRENCE-ID to everyone."""
    _check_changeable(series)
    occurrence = _occurrence(session, series, recurrence_id, ctx=ctx)
    if occurrence.cancelled:
        raise Conflict(N_("Mødet er allerede aflyst"), field="occurrence")
    if occurrence.start_at <= ctx.now:
        raise Conflict(N_("Et møde der er begyndt kan ikke aflyses"), field="occurrence")
    exception = _exception(session, series, recurrence_id)
    exception.cancelled, exception.sequence = True, exception.sequence + 1
    session.add(exception)
    series.updated_at = ctx.now
    session.add(series)
    session.flush()
    _publish(session, series, ctx=ctx, kind="series_cancel_one", only=exception)


def move_occurrence(session: Session, *, ctx: BookingContext, series: MeetingSeries, recurrence_id: datetime,
                    start_at: datetime) -> None:
    """Move one meeting of the series: a REQUEST for that occurrence only (same UID, RECURRENCE-ID)."""
    _check_changeable(series)
    occurrence = _occurrence(session, series, recurrence_id, ctx=ctx)
    if occurrence.cancelled:
        raise Conflict(N_("Mødet er aflyst"), field="occurrence")
    if start_at <= ctx.now:
        raise InvalidInput(N_("Vælg et tidspunkt i fremtiden"), field="start")
    exception = _exception(session, series, recurrence_id)
    exception.start_at = start_at
    exception.end_at = start_at + timedelta(minutes=series.duration_minutes)
    exception.sequence += 1
    session.add(exception)
    series.updated_at = ctx.now
    session.add(series)
    session.flush()
    _publish(session, series, ctx=ctx, kind="series_update_one", only=exception)


def _exception(session: Session, series: MeetingSeries, recurrence_id: datetime) -> SeriesException:
    found = session.exec(select(SeriesException).where(SeriesException.series_id == series.id,
                                                       SeriesException.recurrence_id == recurrence_id)).first()
    # An occurrence's SEQUENCE starts above the series' own, so clients take it as newer (RFC 5546 2.1.5).
    return found or SeriesException(series_id=series.id, recurrence_id=recurrence_id, sequence=series.sequence)


def cancel_series(session: Session, *, ctx: BookingContext, series: MeetingSeries) -> None:
    """Cancel every meeting still to come: the whole series if none was held, else end it after the last one held."""
    _check_changeable(series)
    past = [o for o in occurrences(session, series, ctx=ctx) if o.start_at <= ctx.now]
    if past:
        _end_after(session, series, past[-1], ctx=ctx, kind="series_ended")
        series.cancelled_at = ctx.now
        session.add(series)
        session.flush()
        return
    series.cancelled_at, series.updated_at, series.sequence = ctx.now, ctx.now, series.sequence + 1
    session.add(series)
    session.flush()
    _publish(session, series, ctx=ctx, kind="series_cancel")
    if series.video_join_url:
        from ..video import VideoRoom

        room = VideoRoom(join_url=series.video_join_url, external_id=series.video_external_id)
        on_commit(session, lambda: _release(ctx, room))


def _release(ctx: BookingContext, room) -> None:  # type: ignore[no-untyped-def]
    try:
        ctx.video.delete(room)
    except VideoUnavailable:
        pass  # the provider expires unused rooms itself


def _end_after(session: Session, series: MeetingSeries, last: Occurrence, *, ctx: BookingContext,
               kind: str = "series_update") -> None:
    """The series ends with `last`: REQUEST with the shorter rule (later meetings leave the calendars)."""
    series.until = last.recurrence_id.astimezone(ctx.rules.zone).date()
    series.updated_at, series.sequence = ctx.now, series.sequence + 1
    for exception in exceptions_of(session, series):
        if exception.recurrence_id > last.recurrence_id:
            session.delete(exception)
    session.add(series)
    session.flush()
    _publish(session, series, ctx=ctx, kind=kind)


def change_series(session: Session, *, ctx: BookingContext, user: User, series: MeetingSeries,
                  data: SeriesInput) -> MeetingSeries:
    """Change time, length, rule or participants of the meetings still to come.

    Not begun: the series itself changes (REQUEST, SEQUENCE + 1; removed participants get a CANCEL).
    Begun: it ends after its last past meeting and a new series carries on from `data.first_date`.
    """
    _check_changeable(series)
    past = [o for o in occurrences(session, series, ctx=ctx) if o.start_at <= ctx.now]
    if past:
        _check_input(session, data, ctx=ctx, user=user)
        _end_after(session, series, past[-1], ctx=ctx)
        removed = _removed(session, series, data)
        if removed:
            _publish(session, series, ctx=ctx, kind="series_cancel", recipients=removed)
        return create_series(session, ctx=ctx, user=user, data=data, continued_from=series)
    _check_input(session, data, ctx=ctx, user=user)
    removed = _removed(session, series, data)
    series.title = " ".join(data.title.split())
    series.first_start_at = local_datetime(data.first_date, data.start_time, ctx.rules.zone)
    series.duration_minutes, series.frequency = data.duration_minutes, data.frequency
    series.holiday_policy, series.until = data.holiday_policy, data.until or data.first_date
    if data.count is not None:
        series.until = _until_for_count(data, series, ctx=ctx)
    series.sequence, series.updated_at = series.sequence + 1, ctx.now
    for exception in exceptions_of(session, series):  # the old rule's occurrences are gone
        session.delete(exception)
    kept = {p.email: p for p in participants_of(session, series)}
    for participant in removed:
        session.delete(participant)
    for side, name, email in data.participants:
        existing = kept.get(email.strip().lower())
        if existing is None:
            session.add(SeriesParticipant(series_id=series.id, side=side, name=" ".join(name.split()),
                                          email=email.strip().lower(), status=AnswerStatus.needs_action))
        else:
            existing.side, existing.name = side, " ".join(name.split())
            session.add(existing)
    session.add(series)
    session.flush()
    if removed:
        _publish(session, series, ctx=ctx, kind="series_cancel", recipients=removed)
    _publish(session, series, ctx=ctx, kind="series_update")
    return series


def _removed(session: Session, series: MeetingSeries, data: SeriesInput) -> list[SeriesParticipant]:
    wanted = {email.strip().lower() for _side, _name, email in data.participants}
    return [p for p in participants_of(session, series) if p.email not in wanted]


# ---- the calendar


def build_series_calendar(session: Session, series: MeetingSeries, *, ctx: BookingContext,
                          method: str | None = "REQUEST", only: SeriesException | None = None,
                          participants: list[SeriesParticipant] | None = None,
                          exceptions: list[SeriesException] | None = None,
                          translate=str) -> Calendar:  # type: ignore[no-untyped-def]
    """The series as iCalendar.

    method REQUEST: the master VEVENT (RRULE, EXDATE) and one VEVENT per moved occurrence;
    with `only`: that one occurrence (RECURRENCE-ID), as REQUEST or, if cancelled, CANCEL;
    method CANCEL: the whole series; method None: published (feeds, the stored file).
    `participants` and `exceptions`, when the caller has them already, save reading them again.
    """
    zone = ctx.rules.zone
    everyone = participants_of(session, series) if participants is None else participants
    if exceptions is None and only is None:
        exceptions = exceptions_of(session, series)
    calendar = Calendar()
    calendar.prodid = PRODID
    calendar.version = "2.0"
    calendar.calscale = "GREGORIAN"
    if only is not None:
        calendar.method = "CANCEL" if only.cancelled else "REQUEST"
        calendar.add_component(_occurrence_event(series, only, everyone, ctx=ctx, translate=translate))
    else:
        if method:
            calendar.method = method
        calendar.add_component(_master_event(series, everyone, exceptions, ctx=ctx, translate=translate,
                                             cancelled=method == "CANCEL"))
        if method != "CANCEL":
            for exception in exceptions:
                if not exception.cancelled:
                    calendar.add_component(_occurrence_event(series, exception, everyone, ctx=ctx,
                                                             translate=translate))
    starts = [series.first_start_at.astimezone(zone).year, datetime.combine(series.until, time()).year]
    calendar.add_missing_timezones(first_date=date(min(starts), 1, 1), last_date=date(max(starts) + 1, 1, 1))
    return calendar


def _event(series: MeetingSeries, participants: list[SeriesParticipant], *, start: datetime, end: datetime,
           sequence: int, ctx: BookingContext, translate, cancelled: bool = False) -> Event:  # type: ignore[no-untyped-def]
    zone = ctx.rules.zone
    link = series.video_join_url or ""
    description = [translate(HOW_TO_JOIN), link]
    if series.video_guest_pin:
        description += ["", translate(GUEST_PIN) % {"pin": series.video_guest_pin}]
    return Event.new(
        uid=series.uid, sequence=sequence, stamp=ctx.now.astimezone(UTC),
        start=start.astimezone(zone), end=end.astimezone(zone),
        status=STATUS.CANCELLED if cancelled else STATUS.CONFIRMED,
        summary=" ".join(series.title.split()) or translate(meeting_type(series.meeting_type).title),
        description="\n".join(description), location=link, url=link,
        conferences=[Conference(link, feature="VIDEO", label=translate(CONFERENCE_LABEL))] if link else [],
        organizer=vCalAddress.new(ctx.organizer_email, cn=" ".join(ctx.organizer_name.split())),
        attendees=[vCalAddress.new(p.email, cn=" ".join(p.name.split()), cutype=CUTYPE.INDIVIDUAL,
                                   role=ROLE.REQ_PARTICIPANT, partstat=PARTSTATS[p.status], rsvp=True)
                   for p in participants],
    )


def _master_event(series: MeetingSeries, participants: list[SeriesParticipant], exceptions: list[SeriesException],
                  *, ctx: BookingContext, translate, cancelled: bool) -> Event:  # type: ignore[no-untyped-def]
    zone = ctx.rules.zone
    first = series.first_start_at
    event = _event(series, participants, start=first, end=first + timedelta(minutes=series.duration_minutes),
                   sequence=series.sequence, ctx=ctx, translate=translate, cancelled=cancelled)
    starts = rule_starts(series, zone=zone)
    recur = {"FREQ": "MONTHLY" if series.frequency == SeriesFrequency.monthly else "WEEKLY",
             "BYDAY": [_by_day(first.astimezone(zone).date(), series.frequency)],
             "UNTIL": starts[-1].astimezone(UTC) if starts else first.astimezone(UTC)}
    if series.frequency == SeriesFrequency.biweekly:
        recur["INTERVAL"] = 2
    event.add("RRULE", recur)
    skipped = sorted((holiday_starts(series, ctx=ctx) if series.holiday_policy == HolidayPolicy.skip else set())
                     | {e.recurrence_id for e in exceptions if e.cancelled})
    if skipped:
        event.add("EXDATE", [s.astimezone(zone) for s in skipped])
    return event


def _occurrence_event(series: MeetingSeries, exception: SeriesException, participants: list[SeriesParticipant],
                      *, ctx: BookingContext, translate) -> Event:  # type: ignore[no-untyped-def]
    start = exception.start_at or exception.recurrence_id
    end = exception.end_at or start + timedelta(minutes=series.duration_minutes)
    event = _event(series, participants, start=start, end=end, sequence=exception.sequence, ctx=ctx,
                   translate=translate, cancelled=exception.cancelled)
    event.add("RECURRENCE-ID", exception.recurrence_id.astimezone(ctx.rules.zone))
    return event


# ---- sending


SUBJECTS = {
    "series_invite": N_("Invitation: mødeserie %(title)s"),
    "series_update": N_("Ændret: mødeserie %(title)s"),
    "series_cancel": N_("Aflyst: mødeserie %(title)s"),
    "series_ended": N_("Aflyst: de kommende møder i serien %(title)s"),
    "series_update_one": N_("Flyttet: %(title)s %(when)s"),
    "series_cancel_one": N_("Aflyst: %(title)s %(when)s"),
}


def _publish(session: Session, series: MeetingSeries, *, ctx: BookingContext, kind: str,
             only: SeriesException | None = None, recipients: list[SeriesParticipant] | None = None) -> int:
    """Write the current calendar file and queue one iMIP e-mail per participant (in the outbox)."""
    everyone, exceptions = participants_of(session, series), exceptions_of(session, series)
    stored = invite_bytes(build_series_calendar(session, series, ctx=ctx, method=None, participants=everyone,
                                                exceptions=exceptions))
    uid = series.uid
    if kind == "series_cancel" and recipients is None:  # the whole series is gone
        on_commit(session, lambda: ctx.calendars.remove(uid))
    else:
        on_commit(session, lambda: ctx.calendars.write(uid, stored))
    if ctx.mailer is None:
        return 0
    from .mail import build_message
    from .formatting import format_local
    from .outbox import enqueue

    mailer = ctx.mailer
    people = everyone if recipients is None else recipients
    cancel = kind in ("series_cancel", "series_cancel_one")
    method = "CANCEL" if cancel else "REQUEST"
    languages = _languages_of(session, people, default=mailer.default_language)
    when_at = (only.start_at or only.recurrence_id) if only is not None else series.first_start_at
    # Per language, once: the calendar (a removed participant's CANCEL names her only), the time, the subject, the rule.
    calendars: dict[str, bytes] = {}
    words: dict[str, tuple[str, str, str]] = {}
    for person in people:
        language = languages[person.email]
        translate = mailer.translator(language)
        if recipients is not None and cancel:
            calendar = invite_bytes(build_series_calendar(session, series, ctx=ctx, method="CANCEL",
                                                          participants=[person], exceptions=exceptions,
                                                          translate=translate))
        else:
            if language not in calendars:
                calendars[language] = invite_bytes(build_series_calendar(
                    session, series, ctx=ctx, only=only, participants=everyone, exceptions=exceptions,
                    translate=translate, method=method))
            calendar = calendars[language]
        if language not in words:
            when = format_local(when_at, zone=ctx.rules.zone, language=language, fmt="short")
            words[language] = (when, mailer.renderer.gettext(language, SUBJECTS[kind], title=series.title, when=when),
                               describe_rule(series, language=language, mailer=mailer, ctx=ctx))
        when, subject, rule = words[language]
        text, html = mailer.renderer.render("series", language=language, series=series, kind=kind, name=person.name,
                                            organizer_name=ctx.organizer_name, when=when, rule=rule)
        message = build_message(sender_name=ctx.organizer_name, sender_email=ctx.organizer_email,
                                recipient_name=person.name, recipient_email=person.email, subject=subject,
                                text=text, html=html, now=ctx.now, calendar=calendar, method=method,
                                attach_calendar=False)
        enqueue(session, kind=kind, message=message, now=ctx.now)
    return len(people)


def _languages_of(session: Session, people: list[SeriesParticipant], *, default: str) -> dict[str, str]:
    """Each participant's language: a user's own, else the deployment's (one query for all)."""
    emails = [p.email for p in people]
    users = dict(session.exec(select(User.email, User.language).where(col(User.email).in_(emails))).all()) \
        if emails else {}
    return {email: users.get(email, default) for email in emails}


FREQUENCY_LABELS = {SeriesFrequency.weekly.value: N_("Hver uge"), SeriesFrequency.biweekly.value: N_("Hver anden uge"),
                    SeriesFrequency.monthly.value: N_("Hver måned (samme ugedag, fx 2. tirsdag)")}
POLICY_LABELS = {HolidayPolicy.skip.value: N_("Spring møder på helligdage over"),
                 HolidayPolicy.flag.value: N_("Hold møderne, men marker helligdage")}

FREQUENCY_TEXT = {
    SeriesFrequency.weekly: N_("hver uge om %(weekday)s kl. %(time)s"),
    SeriesFrequency.biweekly: N_("hver anden uge om %(weekday)s kl. %(time)s"),
    SeriesFrequency.monthly: N_("hver måned, %(nth)s %(weekday)s kl. %(time)s"),
}
NTH_TEXT = {1: N_("første"), 2: N_("anden"), 3: N_("tredje"), 4: N_("fjerde"), -1: N_("sidste")}


def describe_rule(series: MeetingSeries, *, language: str, mailer, ctx: BookingContext) -> str:  # type: ignore[no-untyped-def]
    """'hver anden uge om tirsdagen kl. 10.00' in the reader's language."""
    from babel.dates import format_date, format_time

    local = series.first_start_at.astimezone(ctx.rules.zone)
    weekday = format_date(local.date(), "EEEE", locale=language)
    clock = format_time(local.time(), "HH.mm" if language in ("da", "nb") else "HH:mm", locale=language)
    return mailer.renderer.gettext(language, FREQUENCY_TEXT[series.frequency], weekday=weekday, time=clock,
                                   nth=mailer.renderer.gettext(language, NTH_TEXT[_nth(local.date())]))
