"""What the Danish CPR number and the Norwegian fødselsnummer share: a fixed shape of ASCII digits and a
birth date that must exist and not lie ahead. Each country's rules are in services/cpr.py and
services/fodselsnummer.py; neither checks control digits (a valid number must never be refused)."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class NumberRules:
    pattern: re.Pattern[str]  # fullmatch; its groups, joined, are the stored number
    birth_date: Callable[[str], date]  # of the stored number; ValueError if it encodes none
    wrong_shape: str  # gettext msgids of the three ways to be wrong
    no_date: str
    future: str


def normalize_number(text: str, rules: NumberRules, *, today: date) -> str:
    """The number as stored (digits only); ValueError with one of the rules' msgids otherwise."""
    match = rules.pattern.fullmatch(text.strip())
    if not match:
        raise ValueError(rules.wrong_shape)
    number = "".join(match.groups())
    try:
        born = rules.birth_date(number)
    except ValueError:
        raise ValueError(rules.no_date) from None
    if born > today:
        raise ValueError(rules.future)
    return number
