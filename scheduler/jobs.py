"""Scheduled jobs: each finds due rows in the database, acts once, and commits.

Nothing lives only in the scheduler's memory, so a restart loses nothing. Reminders and
escalations write a JobMark whose primary key makes them happen once, even with two job
runners at the same time; the outbox claims rows before sending.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Callable

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from .db import new_session
from .models import AnswerStatus, JobMark, Meeting, Participant, ParticipantRole, User, VideoStatus
from .services import busy_feeds, sessions
from .services.booking import ACTIVE_STATUSES, participants_of, pending_video_meetings, retry_video_link
from .services.notifications import queue_notice
from .services.outbox import drain_outbox
from .services.recording import queue_followups
from .services.retention import remove_expired_personal_data

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from . import AppServices

log = logging.getLogger(__name__)


def _once(session: Session, key: str, action: Callable[[], object]) -> bool:
    """Do `action` and record `key` in one transaction; False if it was already done (maybe right now,
    by another runner: the primary key decides)."""
    try:
        if session.get(JobMark, key) is not None:
            session.rollback()
            return False
        session.add(JobMark(key=key))
        session.flush()  # PostgreSQL: waits for a runner inserting the same key, then fails here
        action()
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True


def send_outbox(services: AppServices) -> int:
    result = drain_outbox(services.engine, smtp=services.smtp, clock=services.clock,
                          sender=services.config.app.organizer_email,
                          max_attempts=services.config.jobs.outbox_max_attempts)
    return result.sent


def _upcoming(session: Session, *, services: AppServices, horizon: timedelta) -> list[Meeting]:
    now = services.clock()
    return list(session.exec(select(Meeting).where(
        Meeting.status.in_(ACTIVE_STATUSES), Meeting.video_status == VideoStatus.ready,
        Meeting.start_at > now, Meeting.start_at <= now + horizon).order_by(Meeting.start_at)))


def queue_reminders(services: AppServices) -> int:
    """Reminders `offset` minutes before each meeting; only the nearest one that is due, once per time."""
    offsets = services.config.jobs.reminder_offsets_minutes  # largest first
    if not offsets:
        return 0
    queued = 0
    with new_session(services.engine) as session:
        meetings = _upcoming(session, services=services, horizon=timedelta(minutes=offsets[0]))
        for meeting in meetings:
            now = services.clock()
            due = [o for o in offsets if meeting.start_at - timedelta(minutes=o) <= now]
            if not due:
                continue
            offset = min(due)
            if meeting.updated_at > meeting.start_at - timedelta(minutes=offset):
                continue  # booked or moved after this reminder's moment: the invite itself was the reminder
            ctx = services.booking_context()

            def remind(meeting: Meeting = meeting) -> None:
                for participant in participants_of(session, meeting):
                    queue_notice(session, ctx=ctx, kind="reminder", meeting=meeting, to=participant,
                                 language=ctx.mailer.language_of(session, meeting, participant))

            queued += _once(session, f"reminder:{meeting.id}:{meeting.sequence}:{offset}", remind)
    return queued


def queue_escalations(services: AppServices) -> int:
    """Tell the booking secretary when the advisor has not answered in time (or the meeting is close)."""
    jobs = services.config.jobs
    after = timedelta(minutes=jobs.escalate_after_minutes)
    before = timedelta(minutes=jobs.escalate_before_meeting_minutes)
    queued = 0
    with new_session(services.engine) as session:
        now = services.clock()
        rows = session.exec(select(Meeting, Participant).join(Participant, Participant.meeting_id == Meeting.id).where(
            Meeting.status.in_(ACTIVE_STATUSES), Meeting.start_at > now, Meeting.needs_rebooking.is_(False),
            Participant.role == ParticipantRole.advisor, Participant.status == AnswerStatus.needs_action)).all()
        for meeting, _advisor in rows:
            if meeting.updated_at + after > now and meeting.start_at - before > now:
                continue
            ctx = services.booking_context()
            secretary = session.get(User, meeting.booked_by_id)
            queued += _once(session, f"escalation:{meeting.id}:{meeting.sequence}",
                            lambda m=meeting, s=secretary: queue_notice(session, ctx=ctx, kind="escalation",
                                                                         meeting=m, to=s))
    return queued


def retry_video_links(services: AppServices) -> int:
    created = 0
    with new_session(services.engine) as session:
        for meeting in pending_video_meetings(session, now=services.clock()):
            created += retry_video_link(session, ctx=services.booking_context(), meeting=meeting, actor=None)
            session.commit()
    return created


def refresh_busy_feeds(services: AppServices) -> int:
    config = services.config
    with busy_feeds.http_session() as http:
        refreshed, _failed = busy_feeds.refresh_due_feeds(
            services.engine, http=http, timeout=config.jobs.busy_feed_timeout_seconds,
            max_bytes=config.jobs.busy_feed_max_bytes,
            interval=timedelta(minutes=config.jobs.busy_feed_interval_minutes), clock=services.clock,
            zone=config.zone)
    return refreshed


def remove_personal_data(services: AppServices) -> int:
    """Retention: names, CPR, contacts and notes of meetings that ended `retention.personal_data_days` ago."""
    return remove_expired_personal_data(services.engine, calendars=services.calendars, clock=services.clock,
                                        days=services.config.retention.personal_data_days)


def remove_finished_sessions(services: AppServices) -> int:
    """The server's records of browser sessions that were logged out or sat idle past the timeout."""
    with new_session(services.engine) as session:
        removed = sessions.remove_finished(session, now=services.clock(), idle=timedelta(
            minutes=services.config.security.session_idle_minutes))
        session.commit()
    return removed


JOBS: dict[str, Callable[[AppServices], int]] = {
    "busy_feeds": refresh_busy_feeds,
    "retry_video_links": retry_video_links,
    "reminders": queue_reminders,
    "escalations": queue_escalations,
    "followups": queue_followups,
    "outbox": send_outbox,
    "retention": remove_personal_data,
    "sessions": remove_finished_sessions,
}


def run_due_jobs(services: AppServices) -> dict[str, int]:
    """Every job once, in an order where what one queues the next sends (`jobs --once`)."""
    done = {}
    for name, job in JOBS.items():
        try:
            done[name] = job(services)
        except Exception:  # one failing job must not stop the others
            log.exception("job %s failed", name)
            done[name] = -1
    return done


def _intervals(services: AppServices) -> dict[str, timedelta]:
    jobs = services.config.jobs
    return {"outbox": timedelta(seconds=jobs.outbox_interval_seconds), "reminders": timedelta(minutes=1),
            "escalations": timedelta(minutes=5), "retry_video_links": timedelta(minutes=5),
            "busy_feeds": timedelta(minutes=1),  # only due feeds are fetched
            "followups": timedelta(minutes=15), "retention": timedelta(hours=1), "sessions": timedelta(hours=1)}


def make_scheduler(services: AppServices, *, blocking: bool) -> BaseScheduler:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone="UTC")
    for name, interval in _intervals(services).items():
        scheduler.add_job(JOBS[name], "interval", args=[services], id=name, seconds=interval.total_seconds(),
                          max_instances=1, coalesce=True, next_run_time=services.clock())
    return scheduler
