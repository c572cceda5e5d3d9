"""The outbox: messages are rows written with the change that caused them; a sender drains them.

Each row is claimed (a lease) before sending and marked sent right after the server accepted it,
so two senders never send the same row and a sender that dies leaves rows that are retried
once the lease runs out.
"""
from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from ..db import new_session
from ..models import OutboxMessage
from .mail import Mail, SmtpSettings

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)


def enqueue(session: Session, *, kind: str, message: Mail, now: datetime, meeting_id: int | None = None,
            participant_id: int | None = None) -> OutboxMessage:
    row = OutboxMessage(kind=kind, meeting_id=meeting_id, participant_id=participant_id, recipient=message.recipient,
                        subject=message.subject[:300], message=message.wire_text(), created_at=now,
                        next_attempt_at=now)
    session.add(row)
    return row


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 ... minutes, at most an hour."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 60))


def _claim(engine: Engine, *, now: datetime, limit: int, max_attempts: int) -> list[OutboxMessage]:
    with new_session(engine) as session:
        query = (select(OutboxMessage)
                 .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now,
                        OutboxMessage.attempts < max_attempts,
                        (OutboxMessage.claimed_until.is_(None)) | (OutboxMessage.claimed_until < now))
                 .order_by(OutboxMessage.id).limit(limit))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = list(session.exec(query))
        for row in rows:
            row.claimed_until = now + LEASE
            session.add(row)
        session.commit()
        return rows


class _Marks:
    """Marks rows sent or failed, each in its own short transaction on one connection held for the drain.

    A mark commits right after the server accepted the message, so a sender that dies sends at most the
    message in hand again. The commit does not wait for the disk (PostgreSQL `synchronous_commit = off`,
    SQLite `synchronous = NORMAL` in WAL mode): the mark is visible at once and survives a crash of this
    process; only a crash of the database server or the machine within about a second can lose the last
    marks, and then those messages are sent a second time when their lease runs out. Waiting for the
    disk at every message capped the outbox at about 50 messages/s (BENCHMARKS.md).
    """

    def __init__(self, engine: Engine):
        self.connection = engine.connect()
        self.dialect = engine.dialect.name
        if self.dialect == "sqlite":  # a per-connection setting, changed outside any transaction
            driver = self.connection.connection.driver_connection
            self._sqlite_synchronous = driver.execute("PRAGMA synchronous").fetchone()[0]
            driver.execute("PRAGMA synchronous=NORMAL")
        elif self.dialect == "postgresql":
            with self.connection.begin():
                self.connection.exec_driver_sql("SET synchronous_commit TO off")

    def _restore_durability(self) -> None:
        """The pooled connection goes back as it came."""
        if self.dialect == "sqlite":
            self.connection.connection.driver_connection.execute(f"PRAGMA synchronous={self._sqlite_synchronous}")
        elif self.dialect == "postgresql":
            with self.connection.begin():
                self.connection.exec_driver_sql("RESET synchronous_commit")

    def mark(self, row: OutboxMessage, *, now: datetime, error: str | None) -> None:
        values: dict[str, object] = {"claimed_until": None}
        if error is None:
            values["sent_at"] = now
        else:
            values.update(attempts=row.attempts + 1, last_error=error[:500],
                          next_attempt_at=now + backoff(row.attempts + 1))
        with self.connection.begin():
            self.connection.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))

    def close(self) -> None:
        try:
            self._restore_durability()
        except SQLAlchemyError:
            self.connection.invalidate()  # or not at all
        finally:
            self.connection.close()


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    unreachable: bool = False  # the server could not be reached: the rest waits for the next run


def drain_outbox(engine: Engine, *, smtp: SmtpSettings, clock: Callable[[], datetime], sender: str,
                 batch: int = 200, max_attempts: int = 12) -> DrainResult:
    """Send every due message over one reused SMTP connection per batch."""
    result = DrainResult()
    marks: _Marks | None = None  # opened at the first message: most runs (every 30 s) find none
    try:
        while True:
            rows = _claim(engine, now=clock(), limit=batch, max_attempts=max_attempts)
            if not rows:
                return result
            marks = marks or _Marks(engine)
            _send_batch(rows, marks=marks, smtp=smtp, clock=clock, sender=sender, result=result)
            if len(rows) < batch or result.unreachable:
                return result
    finally:
        if marks is not None:
            marks.close()


def _send_batch(rows: list[OutboxMessage], *, marks: _Marks, smtp: SmtpSettings, clock: Callable[[], datetime],
                sender: str, result: DrainResult) -> None:
    try:
        connection = smtp.connect()
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("SMTP server %s:%s unavailable: %s", smtp.host, smtp.port, exc)
        for row in rows:
            marks.mark(row, now=clock(), error=f"connect: {exc}")
        result.failed += len(rows)
        result.unreachable = True
        return
    try:
        for row in rows:
            try:
                connection.sendmail(sender, [row.recipient], row.message.encode("utf-8"))
            except (OSError, smtplib.SMTPException) as exc:
                log.warning("outbox message %s not sent: %s", row.id, type(exc).__name__)
                marks.mark(row, now=clock(), error=str(exc))
                result.failed += 1
                if isinstance(exc, (OSError, smtplib.SMTPServerDisconnected)):
                    connection = smtp.connect()
                continue
            marks.mark(row, now=clock(), error=None)
            result.sent += 1
    finally:
        try:
            connection.quit()
        except (OSError, smtplib.SMTPException):
            pass
