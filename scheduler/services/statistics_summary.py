"""Meetings and offers presented, added up per UTC month (MeetingMonthTotals, OfferMonthTotals),
kept current with every change.

Statistics over years would read millions of rows; they add up these monthly totals instead, and
read rows only where a local month or the period does not line up with UTC months
(services/statistics.py). The totals are kept in one place: a session hook that, at every flush
that adds or changes a meeting (its start, municipality, status or outcome) or an offer
presentation, takes away what the affected meetings counted before the flush and adds what they
count after it. Bulk statements that bypass the session (a data load) call `rebuild` afterwards.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, event, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..models import (Meeting, MeetingMonthTotals, MeetingOutcome, MeetingStatus, OfferMonthTotals,
                      OfferPresentation, OfferResponse, UptakeStatus)

MEETING_COUNTS = ("booked", "held", "no_show", "cancelled", "unrecorded")
RESPONSE_COUNTS = ("presented", "accepted", "declined", "considering", "referred")
UPTAKE_COUNTS = ("eligible", "started", "not_started", "unknown", "pending")
OFFER_COUNTS = RESPONSE_COUNTS + UPTAKE_COUNTS
_MEETING_FIELDS = ("start_at", "municipality_code", "status", "outcome")  # what a meeting's counts depend on
_CHUNK = 500  # meetings per query when many change at once
_PENDING = "month_totals_pending"
Counts = dict[tuple[Any, ...], dict[str, int]]  # (UTC month, municipality[, offer]) -> counts


def meeting_result(status: MeetingStatus, outcome: MeetingOutcome | None) -> str:
    """What became of a meeting: the recorded outcome wins, else its status; exactly one of
    held, no_show, cancelled (also cancelled late) or unrecorded."""
    if status == MeetingStatus.cancelled or outcome == MeetingOutcome.cancelled_late:
        return "cancelled"
    if outcome == MeetingOutcome.held or (outcome is None and status == MeetingStatus.held):
        return "held"
    if outcome == MeetingOutcome.no_show or (outcome is None and status == MeetingStatus.no_show):
        return "no_show"
    return "unrecorded"


def offer_figures(response: OfferResponse, uptake: UptakeStatus | None) -> tuple[str, ...]:
    """The counts one offer presented adds to: presented, its response, and for an accepted or
    referred offer eligible plus its uptake (pending until recorded)."""
    if response in (OfferResponse.accepted, OfferResponse.referred):
        return "presented", response.value, "eligible", uptake.value if uptake else "pending"
    return "presented", response.value


def utc_month(value: datetime) -> date:
    return date(value.year, value.month, 1)  # values are aware UTC (UTCDateTime)


# ---- counting rows


def _meeting_rows(meeting_ids: list[int] | None):  # type: ignore[no-untyped-def]
    query = select(Meeting.start_at, Meeting.municipality_code, Meeting.status, Meeting.outcome)
    return query if meeting_ids is None else query.where(Meeting.id.in_(meeting_ids))


def _offer_rows(meeting_ids: list[int] | None):  # type: ignore[no-untyped-def]
    query = (select(Meeting.start_at, Meeting.municipality_code, OfferPresentation.offer_id,
                    OfferPresentation.response, OfferPresentation.uptake)
             .join(Meeting, Meeting.id == OfferPresentation.meeting_id))
    return query if meeting_ids is None else query.where(Meeting.id.in_(meeting_ids))


def _count(connection: Connection, meeting_ids: list[int] | None) -> tuple[Counts, Counts]:
    """What these meetings (None: all) add to the meeting and the offer totals, as the database holds them now."""
    meetings: Counts = defaultdict(lambda: dict.fromkeys(MEETING_COUNTS, 0))
    offers: Counts = defaultdict(lambda: dict.fromkeys(OFFER_COUNTS, 0))
    chunks = [None] if meeting_ids is None else [meeting_ids[i:i + _CHUNK] for i in range(0, len(meeting_ids), _CHUNK)]
    # Streaming (a server-side cursor on PostgreSQL) only for a rebuild over every row: the session hook
    # counts a few meetings at every booking, where the cursor's extra round trips would be pure cost.
    options = {"yield_per": 10_000} if meeting_ids is None else {}
    for chunk in chunks:
        for start_at, code, status, outcome in connection.execute(
                _meeting_rows(chunk).execution_options(**options)):
            row = meetings[utc_month(start_at), code]
            row["booked"] += 1
            row[meeting_result(status, outcome)] += 1
        for start_at, code, offer_id, response, uptake in connection.execute(
                _offer_rows(chunk).execution_options(**options)):
            row = offers[utc_month(start_at), code, offer_id]
            for name in offer_figures(response, uptake):
                row[name] += 1
    return meetings, offers


def rebuild(session: Session) -> None:
    """Count every meeting and presentation again (after a bulk load, or to repair)."""
    connection = session.connection()
    connection.execute(delete(MeetingMonthTotals))
    connection.execute(delete(OfferMonthTotals))
    meetings, offers = _count(connection, None)
    for table, counts, key_names in ((MeetingMonthTotals, meetings, ("month", "municipality_code")),
                                     (OfferMonthTotals, offers, ("month", "municipality_code", "offer_id"))):
        rows = [{**dict(zip(key_names, key)), **values} for key, values in counts.items()]
        for i in range(0, len(rows), 5000):
            connection.execute(table.__table__.insert(), rows[i:i + 5000])


# ---- the upkeep


def _affected_meetings(session: Session) -> tuple[set[int], list[Meeting]]:
    """Meetings whose counts may change in this flush: ids known before it, and new meetings."""
    ids: set[int] = set()
    new: list[Meeting] = []
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, OfferPresentation):
            history = inspect(obj).attrs.meeting_id.history
            ids.update(i for i in (*history.deleted, *history.unchanged, *history.added) if i is not None)
        elif isinstance(obj, Meeting):
            if obj in session.new:
                new.append(obj)
            elif obj.id is not None and (obj in session.deleted or any(
                    inspect(obj).attrs[name].history.has_changes() for name in _MEETING_FIELDS)):
                ids.add(obj.id)
    return ids, new


def _apply(connection: Connection, table, before: Counts, after: Counts,  # type: ignore[no-untyped-def]
           key_names: tuple[str, ...], names: tuple[str, ...]) -> None:
    """Add after - before to the totals: one upsert per changed row, in key order (no deadlocks)."""
    columns = table.__table__.c
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        delta = {name: (new[name] if new else 0) - (old[name] if old else 0) for name in names}
        if not any(delta.values()):
            continue
        statement = insert(table.__table__).values(**dict(zip(key_names, key)), **delta)
        connection.execute(statement.on_conflict_do_update(
            index_elements=list(key_names), set_={name: columns[name] + statement.excluded[name] for name in names}))


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context, _instances) -> None:  # type: ignore[no-untyped-def]
    session.info.pop(_PENDING, None)  # left by a flush that failed
    ids, new = _affected_meetings(session)
    if not ids and not new:
        return
    with session.no_autoflush:
        before = _count(session.connection(), sorted(ids)) if ids else ({}, {})
    session.info[_PENDING] = (ids, new, before)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:  # type: ignore[no-untyped-def]
    pending = session.info.pop(_PENDING, None)
    if pending is None:
        return
    ids, new, (meetings_before, offers_before) = pending
    connection = session.connection()
    meetings_after, offers_after = _count(connection, sorted(ids | {m.id for m in new if m.id is not None}))
    _apply(connection, MeetingMonthTotals, meetings_before, meetings_after, ("month", "municipality_code"),
           MEETING_COUNTS)
    _apply(connection, OfferMonthTotals, offers_before, offers_after, ("month", "municipality_code", "offer_id"),
           OFFER_COUNTS)

