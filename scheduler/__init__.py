"""Virtual discharge-meeting scheduler: the application factory."""
from __future__ import annotations

import gc
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from flask import Flask
from sqlalchemy.engine import Engine

from . import crypto
from .config import PROJECT_ROOT, Config, load_config
from .db import make_engine
from .models import now_utc
from .services.context import BookingContext
from .services.invites import CalendarStore
from .services.links import AnswerLinks
from .services.mail import SmtpSettings
from .services.mail_render import MailRenderer
from .services.notifications import Mailer
from .services.rules import BookingRules
from .video import VideoProvider, load_provider


@dataclass
class AppServices:
    """Everything the views, jobs and CLI share, built once per app."""

    config: Config
    engine: Engine
    rules: BookingRules
    video: VideoProvider
    calendars: CalendarStore
    mailer: Mailer
    smtp: SmtpSettings
    clock: Callable[[], datetime] = now_utc

    def booking_context(self) -> BookingContext:
        """What services need, with 'now' read from the clock at this moment."""
        return BookingContext(rules=self.rules, video=self.video, calendars=self.calendars,
                              organizer_name=self.config.app.organizer_name,
                              organizer_email=self.config.app.organizer_email, now=self.clock(), mailer=self.mailer)


def _calendars_dir(config: Config) -> Path:
    path = Path(config.calendars.dir)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _secret_key(config: Config) -> str:
    if config.app.secret_key:
        return config.app.secret_key
    # Development only (production refuses to start without one): a key kept in instance/.
    key_file = PROJECT_ROOT / "instance" / "dev-secret-key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(48))
    return key_file.read_text().strip()


def configure_cpr_keys(config: Config, *, secret_key: str) -> None:
    """CPR encryption keys from config (SCHEDULER_CPR_KEYS); development derives one from the secret key."""
    keys = crypto.parse_keys(config.security.cpr_keys) or [crypto.derive_key(secret_key, "cpr")]
    crypto.configure_keys(keys, digest_secret=config.security.pseudonym_key or secret_key)


def make_mailer(config: Config, *, secret_key: str) -> Mailer:
    renderer = MailRenderer(templates_dir=PROJECT_ROOT / "templates",
                            translations_dir=Path(__file__).parent / "translations", zone=config.zone)
    links = AnswerLinks(secret_key=secret_key, base_url=config.app.base_url,
                        max_age_days=config.links.answer_link_days)
    return Mailer(renderer=renderer, links=links, default_language=config.app.language)


def freeze_startup_objects() -> None:
    """For a serving process, once it has started: what the start made (modules, the app, templates)
    lives as long as the process, so the collector's full passes need not scan it again. Without this a
    full pass every few hundred requests scanned it all: a 40-50 ms pause, the slowest 5 % of slot
    searches (BENCHMARKS.md). Not for tests, which make many apps in one process."""
    gc.collect()
    gc.freeze()


def create_app(config: Config | None = None, *, video: VideoProvider | None = None,
               clock: Callable[[], datetime] | None = None) -> Flask:
    config = config or load_config()
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.config.update(
        SECRET_KEY=_secret_key(config),
        MAX_CONTENT_LENGTH=256 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.app.base_url.startswith("https://"),
        WTF_CSRF_TIME_LIMIT=None,
        BABEL_DEFAULT_LOCALE=config.app.language,
        BABEL_DEFAULT_TIMEZONE=config.app.timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
    )
    if config.app.proxy_hops:  # the client's address (audit trail) and scheme as the TLS proxy saw them
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.app.proxy_hops, x_proto=config.app.proxy_hops)  # type: ignore[method-assign]
    configure_cpr_keys(config, secret_key=app.config["SECRET_KEY"])
    app.extensions["scheduler"] = AppServices(
        config=config, engine=make_engine(config.database.url), rules=BookingRules.from_config(config),
        video=video or load_provider(config), calendars=CalendarStore(_calendars_dir(config)),
        mailer=make_mailer(config, secret_key=app.config["SECRET_KEY"]), smtp=SmtpSettings.from_config(config),
        clock=clock or now_utc)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from .web import setup_web

    setup_web(app)
    from .cli import register_commands

    register_commands(app)
    return app
