"""Load and validate `config.toml` plus `SCHEDULER_*` environment overrides.

Every option has a default, a help text and a typed validator; a bad value stops the
start with the file and the key named.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "config.toml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(ValueError):
    """A config value is missing or invalid; the message names the key."""


# ---- validators: each takes the raw value and returns the typed one or raises ValueError


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _meeting_types(value: Any) -> list[str]:
    known = ("discharge", "short_term_home_care", "cross_sector")
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("must be a non-empty list of meeting types")
    for item in value:
        if item not in known:
            raise ValueError(f"unknown meeting type {item!r}: must be one of {', '.join(known)}")
    return list(dict.fromkeys(value))


def _fernet_keys(value: Any) -> str:
    from .crypto import parse_keys

    parse_keys(_str(value))
    return value


def _int_range(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("must be a whole number")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return check


def _bool(value: Any) -> bool:
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        return value.lower() in ("1", "true", "yes", "on")
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return check


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(_str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def _url(value: Any) -> str:
    value = _str(value)
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


def _database_url(value: Any) -> str:
    value = _str(value)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
        raise ValueError("must be a sqlite:// or postgresql:// URL")
    return value


def _email(value: Any) -> str:
    value = _str(value)
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError("must be an e-mail address")
    return value


def _language(value: Any) -> str:
    return _choice("da", "en", "nb")(value)


def _offsets(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise ValueError("must be a list of minutes")
    return sorted({_int_range(1, 60 * 24 * 14)(item) for item in value}, reverse=True)


def _hhmm(value: Any) -> time:
    value = _str(value)
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"{value!r} is not a time like 08:30")
    return time(int(match[1]), int(match[2]))


def parse_hours(value: Any) -> list[tuple[time, time]]:
    """'08:00-12:00, 12:30-15:30' -> [(08:00, 12:00), (12:30, 15:30)]; '' means a day off."""
    value = _str(value).strip()
    if not value:
        return []
    windows = []
    for part in value.split(","):
        start_text, sep, end_text = part.strip().partition("-")
        if not sep:
            raise ValueError(f"{part.strip()!r} is not a range like 08:00-15:30")
        start, end = _hhmm(start_text.strip()), _hhmm(end_text.strip())
        if end <= start:
            raise ValueError(f"{part.strip()!r} ends before it starts")
        windows.append((start, end))
    windows.sort()
    for (_, end), (start, _) in zip(windows, windows[1:]):
        if start < end:
            raise ValueError("time ranges overlap")
    return windows


def _working_hours(value: Any) -> dict[str, list[tuple[time, time]]]:
    if not isinstance(value, dict):
        raise ValueError("must be a table of weekdays")
    unknown = set(value) - set(WEEKDAYS)
    if unknown:
        raise ValueError(f"unknown weekday {sorted(unknown)[0]!r}; use {', '.join(WEEKDAYS)}")
    return {day: parse_hours(value.get(day, "")) for day in WEEKDAYS}


@dataclass(frozen=True)
class Option:
    default: Any
    check: Callable[[Any], Any]
    help: str
    env: str | None = None
    secret: bool = False


# The one place every option is defined. config.toml documents the same keys.
SCHEMA: dict[str, dict[str, Option]] = {
    "app": {
        "secret_key": Option("", _str, "Signs sessions and links; set SCHEDULER_SECRET_KEY in production.",
                             env="SCHEDULER_SECRET_KEY", secret=True),
        "timezone": Option("Europe/Copenhagen", _timezone,
                           "Time zone of every meeting shown and sent (Europe/Oslo when country is NO)."),
        "language": Option("da", _language, "Default language of pages and messages (nb when country is NO)."),
        "country": Option("DK", _choice("DK", "NO"),
                          "Country: public holidays, municipalities, the patient's national identity number."),
        "base_url": Option("http://127.0.0.1:5000", _url, "Public address of the app, used in links.",
                           env="SCHEDULER_BASE_URL"),
        "organizer_name": Option("Udskrivningssamtaler", _str,
                                 "Name shown as the organizer of invites (Utskrivningssamtaler when country is NO)."),
        "organizer_email": Option("noreply@example.org", _email,
                                  "Organizer of every invite; also the From address of e-mails."),
        "production": Option(False, _bool, "Production mode: refuses to start without a real secret key.",
                             env="SCHEDULER_PRODUCTION"),
        "proxy_hops": Option(0, _int_range(0, 5), "Reverse proxies in front of the app whose X-Forwarded-For/"
                                                  "-Proto are trusted (0: none; 1 behind one TLS proxy).",
                             env="SCHEDULER_PROXY_HOPS"),
    },
    "database": {
        "url": Option("sqlite:///instance/scheduler.db", _database_url,
                      "SQLAlchemy URL. SQLite (embedded) or postgresql+psycopg://user@host/db.",
                      env="SCHEDULER_DATABASE_URL"),
    },
    "booking": {
        "meeting_minutes": Option(45, _int_range(10, 240), "Default meeting length in minutes."),
        "buffer_minutes": Option(15, _int_range(0, 120), "Free time an advisor keeps between meetings."),
        "min_notice_minutes": Option(120, _int_range(0, 60 * 24 * 14),
                                     "How soon from now a meeting may start at the earliest."),
        "slot_step_minutes": Option(15, _int_range(5, 60), "Offered start times are on this grid."),
        "search_days": Option(10, _int_range(1, 60), "Days ahead the slot search looks by default."),
        "max_search_days": Option(31, _int_range(1, 366), "Longest date range one slot search may cover."),
        "working_hours": Option(
            {"mon": "08:00-15:30", "tue": "08:00-15:30", "wed": "08:00-15:30", "thu": "08:00-15:30",
             "fri": "08:00-14:00"},
            _working_hours,
            "Advisors' working hours unless an advisor has her own; a missing day is a day off."),
    },
    "calendars": {
        "dir": Option("calendars", _str, "Where the current .ics of each meeting is written.",
                      env="SCHEDULER_CALENDARS_DIR"),
    },
    "video": {
        "provider": Option("jitsi", _choice("jitsi", "vdx"), "Who creates the meeting links.",
                           env="SCHEDULER_VIDEO_PROVIDER"),
        "jitsi_base_url": Option("https://meet.jit.si", _url, "Jitsi server the rooms live on.",
                                 env="SCHEDULER_JITSI_BASE_URL"),
        "vdx_base_url": Option("https://videoapi.vconf.dk/videoapi", _url, "MedCom VDX booking API.",
                               env="SCHEDULER_VDX_BASE_URL"),
        "vdx_token": Option("", _str, "Bearer token for the VDX API (set SCHEDULER_VDX_TOKEN).",
                            env="SCHEDULER_VDX_TOKEN", secret=True),
        "timeout_seconds": Option(10, _int_range(1, 120), "How long to wait for the video service."),
    },
    "smtp": {
        "host": Option("localhost", _str, "SMTP server.", env="SCHEDULER_SMTP_HOST"),
        "port": Option(25, _int_range(1, 65535), "SMTP port.", env="SCHEDULER_SMTP_PORT"),
        "security": Option("none", _choice("none", "starttls", "ssl"), "Transport security.",
                           env="SCHEDULER_SMTP_SECURITY"),
        "user": Option("", _str, "SMTP user name (empty: no login).", env="SCHEDULER_SMTP_USER"),
        "password": Option("", _str, "SMTP password (set SCHEDULER_SMTP_PASSWORD).",
                           env="SCHEDULER_SMTP_PASSWORD", secret=True),
    },
    "jobs": {
        "run_in_web": Option(True, _bool, "Single-machine mode: `run` also runs the scheduled jobs in-process.",
                             env="SCHEDULER_JOBS_IN_WEB"),
        "outbox_interval_seconds": Option(30, _int_range(1, 3600), "How often the outbox is drained."),
        "outbox_max_attempts": Option(12, _int_range(1, 100), "Give up on a message after this many tries."),
        "reminder_offsets_minutes": Option([1440, 60], _offsets, "Reminders this long before a meeting."),
        "escalate_after_minutes": Option(1440, _int_range(10, 60 * 24 * 14),
                                         "Tell the booking secretary when the advisor has not answered by then."),
        "escalate_before_meeting_minutes": Option(1440, _int_range(0, 60 * 24 * 14),
                                                  "...or sooner: when the meeting is this close."),
        "busy_feed_interval_minutes": Option(15, _int_range(1, 1440), "How often advisors' busy feeds are read."),
        "busy_feed_timeout_seconds": Option(10, _int_range(1, 120), "Give up on a busy feed after this long."),
        "busy_feed_max_bytes": Option(5_000_000, _int_range(10_000, 100_000_000), "Largest busy feed accepted."),
    },
    "offers": {
        "followup_days": Option(28, _int_range(1, 365),
                                "Days after a meeting the advisor is asked whether the patient started an offer."),
    },
    "statistics": {
        "suppression_threshold": Option(5, _int_range(1, 100),
                                        "Counts below this are hidden in every aggregated view and export."),
        "export_key": Option("", _str, "Key of the pseudonymous patient key in exports (SCHEDULER_EXPORT_KEY).",
                             env="SCHEDULER_EXPORT_KEY", secret=True),
    },
    "links": {
        "answer_link_days": Option(60, _int_range(1, 365), "How long a participant's answer link works."),
    },
    "meeting_types": {
        "enabled": Option(["discharge"], _meeting_types,
                          "Kinds of meeting offered: discharge, short_term_home_care, cross_sector (series)."),
        "short_term_home_care_minutes": Option(30, _int_range(10, 240),
                                               "Default length of a short-term placement to home care handover."),
        "cross_sector_minutes": Option(60, _int_range(10, 480), "Default length of a cross-sector meeting."),
    },
    "security": {
        "cpr_keys": Option("", _fernet_keys,
                           "Fernet keys that encrypt CPR numbers at rest, newest first, separated by commas "
                           "(set SCHEDULER_CPR_KEYS; empty: derived from the secret key, development only).",
                           env="SCHEDULER_CPR_KEYS", secret=True),
        "pseudonym_key": Option("", _str, "Key of the CPR digest that links a patient's meetings in statistics "
                                          "(SCHEDULER_PSEUDONYM_KEY; empty: the secret key). Never change it.",
                                env="SCHEDULER_PSEUDONYM_KEY", secret=True),
        "session_idle_minutes": Option(30, _int_range(1, 24 * 60), "Log a user out after this long without a request."),
        "login_max_failures": Option(5, _int_range(1, 100), "Failed logins in a row before the account is locked."),
        "login_lockout_minutes": Option(15, _int_range(1, 24 * 60), "How long a locked account stays locked."),
    },
    "retention": {
        "personal_data_days": Option(180, _int_range(1, 3650),
                                     "Days after a meeting its names, CPR, contacts and notes are removed."),
    },
}

# Defaults that follow app.country; a value set in the file or the environment always wins.
COUNTRY_DEFAULTS: dict[str, dict[tuple[str, str], Any]] = {
    "NO": {("app", "language"): "nb", ("app", "timezone"): "Europe/Oslo",
           ("app", "organizer_name"): "Utskrivningssamtaler"},
}


@dataclass
class Config:
    """The validated configuration: `config.section.key`, plus where it came from."""

    values: dict[str, dict[str, Any]]
    source: Path | None = None
    overrides: dict[str, str] = field(default_factory=dict)

    def __getattr__(self, section: str) -> Any:
        try:
            return _Section(self.values[section])
        except KeyError:
            raise AttributeError(section) from None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.values["app"]["timezone"])


class _Section:
    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None


def load_config(path: str | Path | None = None, *, environ: dict[str, str] | None = None,
                overrides: dict[str, dict[str, Any]] | None = None) -> Config:
    """Read the TOML file (SCHEDULER_CONFIG or config.toml), apply env and explicit overrides."""
    environ = os.environ if environ is None else environ
    if path is None:
        path = environ.get("SCHEDULER_CONFIG") or DEFAULT_CONFIG_FILE
    path = Path(path)
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    elif "SCHEDULER_CONFIG" in environ:
        raise ConfigError(f"SCHEDULER_CONFIG: file {path} does not exist")

    for section, table in (overrides or {}).items():
        raw.setdefault(section, {}).update(table)

    values: dict[str, dict[str, Any]] = {}
    for section in raw:
        if section not in SCHEMA:
            raise ConfigError(f"{path}: unknown section [{section}]")
        if not isinstance(raw[section], dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
    explicit: set[tuple[str, str]] = set()
    for section, options in SCHEMA.items():
        table = raw.get(section, {})
        for key in table:
            if key not in options:
                raise ConfigError(f"{path}: unknown key {section}.{key}")
        values[section] = {}
        for key, option in options.items():
            where = f"{path}: {section}.{key}"
            value = table.get(key, option.default)
            if key in table:
                explicit.add((section, key))
            if option.env and option.env in environ:
                value, where = environ[option.env], f"environment {option.env} ({section}.{key})"
                explicit.add((section, key))
            try:
                values[section][key] = option.check(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
    for (section, key), value in COUNTRY_DEFAULTS.get(values["app"]["country"], {}).items():
        if (section, key) not in explicit:
            values[section][key] = SCHEMA[section][key].check(value)
    config = Config(values=values, source=path if path.exists() else None)
    _check_production(config)
    return config


def _check_production(config: Config) -> None:
    if config.app.production and len(config.app.secret_key) < 32:
        raise ConfigError("app.secret_key: set SCHEDULER_SECRET_KEY to at least 32 random characters "
                          "in production")
    if config.app.production and not config.security.cpr_keys:
        raise ConfigError("security.cpr_keys: set SCHEDULER_CPR_KEYS to a Fernet key in production "
                          "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')")
