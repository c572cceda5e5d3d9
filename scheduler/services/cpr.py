"""Danish CPR numbers: shape and plausible birth date, never modulus 11 (see DOMAIN.md); and the
re-encryption of the stored numbers when the keys rotate (scheduler/crypto.py encrypts them)."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from sqlalchemy import Integer, Text, column, select, table, update
from sqlalchemy.engine import Engine

from .. import crypto
from ..errors import N_
from .national_id import NumberRules, normalize_number

_CPR = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})-?([0-9]{4})")  # ASCII digits only (not \d: "٠١")


def _century(digit7: int, yy: int) -> int:
    if digit7 <= 3:
        return 1900
    if digit7 in (4, 9):
        return 2000 if yy <= 36 else 1900
    return 2000 if yy <= 57 else 1800


def birth_date(cpr: str) -> date:
    """The birth date a normalised CPR number encodes; ValueError if it is not a real date."""
    day, month, yy, digit7 = int(cpr[0:2]), int(cpr[2:4]), int(cpr[4:6]), int(cpr[6])
    return date(_century(digit7, yy) + yy, month, day)


def normalize_cpr(text: str, *, today: date) -> str:
    """'DDMMYY-SSSS' or 'DDMMYYSSSS' -> 'DDMMYYSSSS'; ValueError with a gettext msgid otherwise."""
    return normalize_number(text, _RULES, today=today)


_RULES = NumberRules(_CPR, birth_date,
                     wrong_shape=N_("CPR-nummeret skal være 10 cifre, evt. med bindestreg (DDMMÅÅ-XXXX)"),
                     no_date=N_("CPR-nummeret indeholder ikke en gyldig fødselsdato"),
                     future=N_("CPR-nummerets fødselsdato ligger i fremtiden"))


def mask_cpr(cpr: str | None) -> str | None:
    """Show the birth date part only: '010190-****'."""
    return f"{cpr[:6]}-****" if cpr else None


# The participant table as stored: the ciphertext itself, not the model's decrypted EncryptedText.
_STORED = table("participant", column("id", Integer), column("cpr", Text))


def rotate_stored_cprs(engine: Engine, *, batch_size: int = 500,
                       on_batch: Callable[[int], None] = lambda done: None) -> int:
    """Re-encrypt every stored CPR number with the newest key, one transaction per batch; how many.

    A row is only rewritten if it still holds the value read, so a number removed meanwhile (retention)
    is never brought back. Running it again is harmless.
    """
    done, last_id = 0, 0
    while True:
        with engine.begin() as connection:
            rows = connection.execute(select(_STORED.c.id, _STORED.c.cpr)
                                      .where(_STORED.c.cpr.is_not(None), _STORED.c.id > last_id)
                                      .order_by(_STORED.c.id).limit(batch_size)).all()
            for row_id, token in rows:
                try:
                    rotated = crypto.rotate(token)
                except crypto.CprKeyError as exc:
                    raise crypto.CprKeyError(f"participant {row_id}: {exc}") from None
                done += connection.execute(update(_STORED).where(_STORED.c.id == row_id, _STORED.c.cpr == token)
                                           .values(cpr=rotated)).rowcount
        if not rows:
            return done
        last_id = rows[-1][0]
        on_batch(done)
