"""Serialise bookings that touch the same advisors or staff, on both databases."""
from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlmodel import Session


def _key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def lock_schedule(session: Session, *, names: list[str]) -> None:
    """Hold these schedule locks until the transaction ends.

    PostgreSQL: transaction-level advisory locks, taken in a fixed order (no deadlocks); every
    read after this sees what the previous holder committed. SQLite: every transaction already
    starts with BEGIN IMMEDIATE (see db.py), which serialises writers, so nothing more is needed.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted({_key(name) for name in names}):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
