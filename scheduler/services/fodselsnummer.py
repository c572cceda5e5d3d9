"""Norwegian national identity numbers (fødselsnummer, D-nummer, H-nummer): shape and plausible date.

DDMMYY + a 3-digit individual number + 2 control digits. A D-number adds 4 to the first digit of the
day, an H-number (the health services' help number) 4 to the first digit of the month. The control
digits are not checked: numbers issued from 2032 follow a changed control-digit rule (Skatteetaten),
and, as with Danish CPR numbers since 2007, a valid number must never be refused.
"""
from __future__ import annotations

import re
from datetime import date

from ..errors import N_
from .national_id import NumberRules, normalize_number

_NUMBER = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{3})([0-9]{2})")  # ASCII digits only


def _century(individual: int, yy: int) -> int | None:
    """The century the individual number gives the two-digit year (the Population Register's ranges)."""
    if individual <= 499:
        return 1900
    if individual <= 749 and yy >= 54:
        return 1800
    if yy <= 39:
        return 2000
    if individual >= 900:
        return 1900
    return None


def birth_date(number: str) -> date:
    """The date a normalised number encodes (for a D-number possibly the registration date); ValueError if none."""
    day, month, yy, individual = int(number[0:2]), int(number[2:4]), int(number[4:6]), int(number[6:9])
    if day > 40:  # D-number
        day -= 40
    if month > 40:  # H-number
        month -= 40
    century = _century(individual, yy)
    if century is None:
        raise ValueError("no century for this individual number")
    return date(century + yy, month, day)


def normalize_fodselsnummer(text: str, *, today: date) -> str:
    """'DDMMYYIIIKK' (11 digits) -> the same digits; ValueError with a gettext msgid otherwise."""
    return normalize_number(text, _RULES, today=today)


_RULES = NumberRules(_NUMBER, birth_date, wrong_shape=N_("Fødselsnummeret skal være 11 cifre (DDMMÅÅXXXXX)"),
                     no_date=N_("Fødselsnummeret indeholder ikke en gyldig fødselsdato"),
                     future=N_("Fødselsnummerets fødselsdato ligger i fremtiden"))
