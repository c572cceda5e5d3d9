"""Benchmark 6: 10,000 invitations through the outbox to a local SMTP server (aiosmtpd, its own
process): at least 200 messages/s with connection reuse, none lost or doubled.

Baseline: the same messages sent by smtplib over one connection with no database at all.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import SQLModel

from scheduler.db import make_engine, new_session
from scheduler.models import OutboxMessage, now_utc
from scheduler.services.mail import SmtpSettings, build_message
from scheduler.services.outbox import drain_outbox, enqueue

from .common import ROOT, DATA_DIR, Result, pg_create, pg_drop, pg_url

MESSAGES = int(os.environ.get("BENCH_OUTBOX_MESSAGES", "10000"))
TARGET_RATE = 200
SENDER = "udskrivning@hospital.example"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _messages(count: int):  # type: ignore[no-untyped-def]
    """Invitation-sized iMIP messages (text, HTML and a calendar part), each with its own recipient."""
    calendar = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:bench@x\r\n"
                "DTSTART:20261124T090000Z\r\nDTEND:20261124T094500Z\r\nSUMMARY:Udskrivningssamtale (video)\r\n"
                + "DESCRIPTION:" + "Deltag via linket. " * 40 + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode()
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    for seq in range(count):
        message = build_message(sender_name="Udskrivningssamtaler", sender_email=SENDER,
                                recipient_name=f"Modtager {seq}", recipient_email=f"person{seq}@kommune.example",
                                subject="Invitation: Udskrivningssamtale",
                                text="Du er inviteret til en udskrivningssamtale. " * 20,
                                html="<p>" + "Du er inviteret til en udskrivningssamtale. " * 20 + "</p>",
                                now=now, calendar=calendar, method="REQUEST")
        message.message["X-Bench-Seq"] = str(seq)
        yield message


class _Sink:
    def __init__(self) -> None:
        self.port = _free_port()
        self.log = Path(tempfile.mkstemp(prefix="bench-smtp-", suffix=".log")[1])

    def __enter__(self) -> "_Sink":
        self.process = subprocess.Popen([sys.executable, "-m", "bench.smtp_sink", str(self.port), str(self.log)],
                                        cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "ready"
        return self

    def received(self) -> list[str]:
        return self.log.read_text().splitlines()

    def reset(self) -> None:
        self.log.write_text("")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.unlink(missing_ok=True)


def _wait_for(sink: _Sink, count: int, timeout: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = sink.received()
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    return sink.received()


def _check(result: Result, label: str, lines: list[str], count: int) -> None:
    seqs = Counter(line.split()[1] for line in lines)
    lost = count - len(set(seqs) & {str(i) for i in range(count)})
    doubled = sum(n - 1 for n in seqs.values() if n > 1)
    result.check(f"{label}: none lost or doubled", target="0 lost, 0 doubled", value=f"{lost} lost, {doubled} doubled",
                 passed=lost == 0 and doubled == 0)


def run(kind: str, *, log=print) -> Result:  # type: ignore[no-untyped-def]
    result = Result(f"Outbox: {MESSAGES} invitations to a local SMTP server", kind)
    if kind == "sqlite":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path = DATA_DIR / "outbox.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"

        def cleanup() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        pg_create("bench_outbox")
        url = pg_url("bench_outbox")

        def cleanup() -> None:
            pg_drop("bench_outbox")
    engine = make_engine(url)
    try:
        SQLModel.metadata.create_all(engine)
        messages = list(_messages(MESSAGES))
        with _Sink() as sink:
            smtp = SmtpSettings(host="127.0.0.1", port=sink.port, security="none")
            # baseline: smtplib alone, one connection
            started = time.perf_counter()
            connection = smtp.connect()
            for message in messages:
                connection.sendmail(SENDER, [message.recipient], message.as_bytes())
            connection.quit()
            base_s = time.perf_counter() - started
            _check(result, "baseline (smtplib alone)", _wait_for(sink, MESSAGES), MESSAGES)
            sink.reset()

            started = time.perf_counter()
            with new_session(engine) as session:
                for message in messages:
                    enqueue(session, kind="invite", message=message, now=now_utc())
                session.commit()
            enqueue_s = time.perf_counter() - started

            started = time.perf_counter()
            drained = drain_outbox(engine, smtp=smtp, clock=now_utc, sender=SENDER)
            drain_s = time.perf_counter() - started
            lines = _wait_for(sink, MESSAGES)
            with new_session(engine) as session:
                unsent = session.exec(select(func.count()).select_from(OutboxMessage)
                                      .where(OutboxMessage.sent_at.is_(None))).scalar_one()
        rate, base_rate = MESSAGES / drain_s, MESSAGES / base_s
        result.rows.append({"messages": MESSAGES, "enqueue s": round(enqueue_s, 2), "drain s": round(drain_s, 2),
                            "outbox msgs/s": round(rate), "baseline smtplib msgs/s": round(base_rate),
                            "ratio outbox / baseline": round(rate / base_rate, 2), "sent": drained.sent,
                            "failed": drained.failed, "left unsent in the table": unsent})
        result.check("outbox throughput", target=f">= {TARGET_RATE} msgs/s", value=f"{rate:.0f} msgs/s",
                     passed=rate >= TARGET_RATE)
        _check(result, "outbox", lines, MESSAGES)
    finally:
        engine.dispose()
        cleanup()
    return result
