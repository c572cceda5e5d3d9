"""An advisor's personal calendar feed: a secret, revocable URL that always holds her current meetings.

Only the token's hash is stored (like API tokens), so the URL is shown once. The feed is a published
calendar (no METHOD): clients that subscribe replace their copy on every refresh, so a cancelled
meeting is simply left out and disappears; it is not sent as STATUS:CANCELLED.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta

from icalendar import Calendar, Timezone
from sqlmodel import Session, col, or_, select

from ..errors import N_
from ..models import (CalendarFeed, Meeting, MeetingSeries, MeetingStatus, Participant, ParticipantRole,
                      SeriesParticipant, User)
from .context import BookingContext
from .invites import PRODID, build_invite
from .series import build_series_calendar
from .users import hash_token

FEED_NAME = N_("Udskrivningssamtaler")
HISTORY = timedelta(days=30)  # meetings that ended this long ago are still in the feed
REFRESH = timedelta(hours=1)
TOKEN_PREFIX = "dscal_"
# Whose addresses a feed carries: the meeting's professionals, never the patient's or relatives'.
FEED_ATTENDEE_ROLES = (ParticipantRole.staff, ParticipantRole.advisor)


def active_feed(session: Session, *, user: User) -> CalendarFeed | None:
    return session.exec(select(CalendarFeed).where(CalendarFeed.user_id == user.id,
                                                   col(CalendarFeed.revoked_at).is_(None))
                        .order_by(col(CalendarFeed.id).desc())).first()


def issue_feed(session: Session, *, user: User, now: datetime) -> str:
    """A new secret feed token; any earlier URL of hers stops working (rotation). Shown once."""
    revoke_feed(session, user=user, now=now)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(CalendarFeed(user_id=user.id, token_hash=hash_token(token), created_at=now))
    session.flush()
    return token


def revoke_feed(session: Session, *, user: User, now: datetime) -> bool:
    """Stop every feed URL of hers; whether there was one."""
    feeds = session.exec(select(CalendarFeed).where(CalendarFeed.user_id == user.id,
                                                    col(CalendarFeed.revoked_at).is_(None))).all()
    for feed in feeds:
        feed.revoked_at = now
        session.add(feed)
    session.flush()
    return bool(feeds)


def user_for_feed(session: Session, *, token: str) -> User | None:
    """The active user a feed token belongs to; None for an unknown, revoked or malformed token."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    feed = session.exec(select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token),
                                                   col(CalendarFeed.revoked_at).is_(None))).first()
    user = session.get(User, feed.user_id) if feed else None
    return user if user is not None and user.is_active else None


def feed_meetings(session: Session, *, user: User, now: datetime) -> list[Meeting]:
    """Her meetings in the feed: not cancelled, ended at most HISTORY ago, with a video link."""
    return list(session.exec(select(Meeting).where(
        Meeting.advisor_id == user.id, Meeting.status != MeetingStatus.cancelled,
        col(Meeting.end_at) >= now - HISTORY, col(Meeting.video_join_url).is_not(None),
    ).order_by(col(Meeting.start_at))))


def feed_series(session: Session, *, user: User, now: datetime) -> list[MeetingSeries]:
    """The meeting series she takes part in (by e-mail) that still run or ended at most HISTORY ago."""
    return list(session.exec(select(MeetingSeries).where(
        col(MeetingSeries.id).in_(select(SeriesParticipant.series_id).where(
            SeriesParticipant.email == user.email.lower())),
        col(MeetingSeries.until) >= (now - HISTORY).date(),
        # a series cancelled before it began is gone; one cancelled later keeps its held meetings
        or_(col(MeetingSeries.cancelled_at).is_(None), col(MeetingSeries.cancelled_at) > MeetingSeries.first_start_at),
    ).order_by(col(MeetingSeries.id))))


def build_feed(session: Session, *, ctx: BookingContext, user: User,
               translate: Callable[[str], str] = str) -> Calendar:
    """One VCALENDAR without METHOD: the VEVENT of each of her meetings (as in its invite) and one VTIMEZONE."""
    meetings = feed_meetings(session, user=user, now=ctx.now)
    calendar = Calendar()
    calendar.prodid = PRODID
    calendar.version = "2.0"
    calendar.calscale = "GREGORIAN"
    calendar.add("X-WR-CALNAME", translate(FEED_NAME))
    calendar.add("X-WR-TIMEZONE", ctx.rules.zone.key)
    # Ask subscribing clients to look again hourly (RFC 7986; X-PUBLISHED-TTL for Outlook).
    calendar.add("REFRESH-INTERVAL", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", "PT1H")
    participants = _professionals(session, [m.id for m in meetings])
    for meeting in meetings:
        # A meeting waits for its link without an invite; the feed skips it the same way until then.
        invite = build_invite(meeting=meeting, participants=participants.get(meeting.id, []),
                              organizer_name=ctx.organizer_name, organizer_email=ctx.organizer_email,
                              zone=ctx.rules.zone, dtstamp=ctx.now, translate=translate, cancel=False)
        for event in invite.walk("VEVENT"):
            calendar.add_component(event)
    years = [m.start_at.astimezone(ctx.rules.zone).year for m in meetings] or [ctx.now.year]
    for series in feed_series(session, user=user, now=ctx.now):
        for event in build_series_calendar(session, series, ctx=ctx, method=None, translate=translate).walk("VEVENT"):
            calendar.add_component(event)
        years += [series.first_start_at.year, series.until.year]
    first_date, last_date = date(min(years), 1, 1), date(max(years) + 1, 1, 1)
    calendar.add_missing_timezones(first_date=first_date, last_date=last_date)
    if not calendar.timezones:  # no meetings: a calendar needs at least one component (RFC 5545)
        calendar.add_component(Timezone.from_tzid(ctx.rules.zone.key, first_date=first_date, last_date=last_date))
    return calendar


def _professionals(session: Session, meeting_ids: list[int]) -> dict[int, list[Participant]]:
    found: dict[int, list[Participant]] = {}
    if not meeting_ids:
        return found
    for participant in session.exec(select(Participant).where(
            col(Participant.meeting_id).in_(meeting_ids), col(Participant.role).in_(FEED_ATTENDEE_ROLES))
            .order_by(col(Participant.id))):
        found.setdefault(participant.meeting_id, []).append(participant)
    return found
