"""Danish CPR numbers: shape and plausible birth date, never modulus 11 (see DOMAIN.md)."""
from __future__ import annotations

import re
from datetime import date

from ..errors import N_

_CPR = re.compile(r"(\d{2})(\d{2})(\d{2})-?(\d{4})")


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
    match = _CPR.fullmatch(text.strip())
    if not match:
        raise ValueError(N_("CPR-nummeret skal være 10 cifre, evt. med bindestreg (DDMMÅÅ-XXXX)"))
    cpr = "".join(match.groups())
    try:
        born = birth_date(cpr)
    except ValueError:
        raise ValueError(N_("CPR-nummeret indeholder ikke en gyldig fødselsdato")) from None
    if born > today:
        raise ValueError(N_("CPR-nummerets fødselsdato ligger i fremtiden"))
    return cpr


def mask_cpr(cpr: str | None) -> str | None:
    """Show the birth date part only: '010190-****'."""
    return f"{cpr[:6]}-****" if cpr else None
