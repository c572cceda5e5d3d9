"""Local date and time text per language: Danish 'tirsdag den 1. december 2026 kl. 10.00'."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

PATTERNS = {
    "da": {"full": "EEEE 'den' d. MMMM y 'kl.' HH.mm", "date": "EEEE 'den' d. MMMM y",
           "short": "EEE d/M 'kl.' HH.mm", "time": "HH.mm"},
    "nb": {"full": "EEEE d. MMMM y 'kl.' HH.mm", "date": "EEEE d. MMMM y",
           "short": "EEE d.M. 'kl.' HH.mm", "time": "HH.mm"},
    "en": {"full": "EEEE d MMMM y 'at' HH:mm", "date": "EEEE d MMMM y",
           "short": "EEE d MMM HH:mm", "time": "HH:mm"},  # not 1/12: read as January in the US
}
LOCALES = {"da": "da_DK", "nb": "nb_NO", "en": "en_GB"}


def format_local(value: datetime | None, *, zone: ZoneInfo, language: str, fmt: str = "full") -> str:
    """An aware datetime in `zone`, as text for `language` (da when unknown); `fmt` names a pattern above
    or is a Babel pattern of its own (the audit log: "yyyy-MM-dd HH:mm:ss")."""
    if value is None:
        return ""
    patterns = PATTERNS.get(language, PATTERNS["da"])
    return format_datetime(value, patterns.get(fmt, fmt), tzinfo=zone, locale=LOCALES.get(language, "da_DK"))
