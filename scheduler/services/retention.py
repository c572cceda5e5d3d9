"""Retention: `retention.personal_data_days` after a meeting ended, its personal data is removed.

Gone: the names, e-mail addresses and phone numbers of the parties who are not users (patient,
relatives, staff typed in by the secretary), the CPR number, answer comments, the advisor's note,
the cancel reason, free text in the meeting's history, its e-mails in the outbox and its invite
in `calendars/`. Kept: the meeting row (times, status, outcome, municipality, ward), the offers
presented and their uptake, the patient's CPR digest (the pseudonym that statistics and exports
join on), the links of the parties who are users, and the audit trail. So statistics and exports
give the same figures before and after.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ..db import new_session
from ..models import Meeting, MeetingEvent, OutboxMessage, Participant
from . import audit
from .invites import CalendarStore

REMOVED_NAME = "–"  # the name column is NOT NULL; the meeting page says the data was removed
# Keys of MeetingEvent.details that hold typed free text (reasons for rescheduling or cancelling).
FREE_TEXT_DETAILS = frozenset({"reason", "comment", "note"})
BATCH = 100


def due_meetings(session: Session, *, now: datetime, days: int, limit: int = BATCH) -> list[Meeting]:
    """Meetings that ended more than `days` ago and still hold personal data, locked for this transaction.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so a second job runner takes other meetings. SQLite: every
    transaction holds the write lock from its start (db.py), so a second runner waits and then finds
    these done. A meeting with an e-mail being sent right now waits for the next run.
    """
    being_sent = exists().where(OutboxMessage.meeting_id == Meeting.id, OutboxMessage.sent_at.is_(None),
                                OutboxMessage.claimed_until > now)
    query = (select(Meeting)
             .where(Meeting.end_at < now - timedelta(days=days), Meeting.personal_data_removed_at.is_(None),
                    ~being_sent)
             .order_by(Meeting.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Meeting)
    return list(session.exec(query))


def remove_personal_data(session: Session, *, meetings: list[Meeting], calendars: CalendarStore,
                         now: datetime) -> None:
    """Remove the personal data of these meetings (the caller commits); idempotent."""
    if not meetings:
        return
    ids = [m.id for m in meetings]
    session.execute(update(Participant).where(Participant.meeting_id.in_(ids), Participant.user_id.is_(None))
                    .values(name=REMOVED_NAME, email=None, phone=None))
    session.execute(update(Participant).where(Participant.meeting_id.in_(ids))
                    .values(cpr=None, answer_comment=None))
    for event in session.exec(select(MeetingEvent).where(MeetingEvent.meeting_id.in_(ids),
                                                         MeetingEvent.details.is_not(None))):
        details = without_free_text(event.details)
        if details != event.details:
            event.details = details
            session.add(event)
    # Every e-mail of the meeting holds names; ones never sent by now are long out of date.
    session.execute(delete(OutboxMessage).where(OutboxMessage.meeting_id.in_(ids)))
    refs = audit.patient_refs(session, ids)
    for meeting in meetings:
        meeting.advisor_note = None
        meeting.cancel_reason = None
        meeting.personal_data_removed_at = now
        session.add(meeting)
        audit.record(session, actor=None, action=audit.DELETE, object_type=audit.MEETING, object_id=meeting.id,
                     meeting=meeting, patient_ref=refs.get(meeting.id), now=now,
                     detail="retention: personal data removed")
        calendars.remove(meeting.uid)  # before the commit: if that fails, the next run removes it again
    session.flush()


def without_free_text(details: str) -> str | None:
    """A history entry's details without the keys that hold typed text; unreadable details go entirely."""
    try:
        data = json.loads(details)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if not FREE_TEXT_DETAILS & data.keys():
        return details
    kept = {key: value for key, value in data.items() if key not in FREE_TEXT_DETAILS}
    return json.dumps(kept, ensure_ascii=False) if kept else None


def remove_expired_personal_data(engine: Engine, *, calendars: CalendarStore, clock: Callable[[], datetime],
                                 days: int, batch: int = BATCH) -> int:
    """The retention job: every due meeting, a batch per transaction; how many meetings were done."""
    done = 0
    while True:
        with new_session(engine) as session:
            now = clock()
            meetings = due_meetings(session, now=now, days=days, limit=batch)
            remove_personal_data(session, meetings=meetings, calendars=calendars, now=now)
            session.commit()
        done += len(meetings)
        if len(meetings) < batch:
            break
    if done and engine.dialect.name == "sqlite":
        _checkpoint(engine)
    return done


def _checkpoint(engine: Engine) -> None:
    """Copy the zeroed pages into the database file and empty the WAL, which still holds the old ones.
    Outside a transaction (a checkpoint cannot run in one); busy readers only postpone it."""
    connection = engine.raw_connection()
    try:
        connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        connection.close()
