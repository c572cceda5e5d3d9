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
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY  # CRLF line ends, as SMTP wants them
from typing import Callable

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ..db import new_session
from ..models import OutboxMessage
from .mail import SmtpSettings

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)


def enqueue(session: Session, *, kind: str, message: EmailMessage, now: datetime, meeting_id: int | None = None,
            participant_id: int | None = None) -> OutboxMessage:
    row = OutboxMessage(kind=kind, meeting_id=meeting_id, participant_id=participant_id,
                        recipient=message["To"].addresses[0].addr_spec, subject=str(message["Subject"])[:300],
                        message=message.as_string(policy=SMTP_POLICY), created_at=now, next_attempt_at=now)
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


def _mark(engine: Engine, row: OutboxMessage, *, now: datetime, error: str | None) -> None:
    with new_session(engine) as session:
        values: dict[str, object] = {"claimed_until": None}
        if error is None:
            values["sent_at"] = now
        else:
            values.update(attempts=row.attempts + 1, last_error=error[:500],
                          next_attempt_at=now + backoff(row.attempts + 1))
        session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))
        session.commit()


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0


def drain_outbox(engine: Engine, *, smtp: SmtpSettings, clock: Callable[[], datetime], sender: str,
                 batch: int = 200, max_attempts: int = 12) -> DrainResult:
    """Send every due message over one reused SMTP connection per batch."""
    result = DrainResult()
    while True:
        rows = _claim(engine, now=clock(), limit=batch, max_attempts=max_attempts)
        if not rows:
            return result
        try:
            connection = smtp.connect()
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("SMTP server %s:%s unavailable: %s", smtp.host, smtp.port, exc)
            for row in rows:
                _mark(engine, row, now=clock(), error=f"connect: {exc}")
            result.failed += len(rows)
            return result
        try:
            for row in rows:
                try:
                    connection.sendmail(sender, [row.recipient], row.message.encode("utf-8"))
                except (OSError, smtplib.SMTPException) as exc:
                    log.warning("outbox message %s not sent: %s", row.id, type(exc).__name__)
                    _mark(engine, row, now=clock(), error=str(exc))
                    result.failed += 1
                    if isinstance(exc, (OSError, smtplib.SMTPServerDisconnected)):
                        connection = smtp.connect()
                    continue
                _mark(engine, row, now=clock(), error=None)
                result.sent += 1
        finally:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                pass
        if len(rows) < batch:
            return result
