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
           "short": "EEE d/M HH:mm", "time": "HH:mm"},
}
LOCALES = {"da": "da_DK", "nb": "nb_NO", "en": "en_GB"}


def format_local(value: datetime | None, *, zone: ZoneInfo, language: str, fmt: str = "full") -> str:
    if value is None:
        return ""
    patterns = PATTERNS.get(language, PATTERNS["da"])
    return format_datetime(value, patterns.get(fmt, fmt), tzinfo=zone, locale=LOCALES.get(language, "da_DK"))
