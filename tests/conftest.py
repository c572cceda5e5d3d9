"""Fixtures: a fresh database per test on SQLite and on PostgreSQL, config, factories."""
from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from scheduler.config import load_config
from scheduler.db import make_engine, new_session
from scheduler.services.reference import load_municipalities

from .factories import Factory

def pytest_sessionstart(session):
    """Compile missing or stale catalogues (.mo), as `make install` does, so a bare `pytest` uses current ones."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (Path(__file__).resolve().parent.parent / "scheduler" / "translations").glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as source, mo.open("wb") as target:
                write_mo(target, read_po(source))


TEST_SECRET_KEY = "test-secret-key-" + "x" * 32
TEST_CPR_KEY = "dGVzdC1jcHIta2V5LW5vdC1mb3ItcHJvZHVjdGlvbiE="  # Fernet key used by every test


@pytest.fixture(autouse=True)
def cpr_keys():
    """Every test starts with the same CPR keys as the `config` fixture (an app factory may reconfigure)."""
    from scheduler import crypto

    crypto.configure_keys([TEST_CPR_KEY], digest_secret=TEST_SECRET_KEY)


PG_ADMIN_URL = os.environ.get("SCHEDULER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_reachable() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}".strip()


@pytest.fixture(scope="session")
def pg_database_url():
    """A throw-away PostgreSQL database for this test run, schema created once."""
    problem = _pg_reachable()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem + " (CI must run the PostgreSQL tests)")
        pytest.skip(problem)
    name = f"scheduler_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    engine = make_engine(url)
    SQLModel.metadata.create_all(engine)
    engine.dispose()
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """The database of one test: a new SQLite file, or the emptied PostgreSQL test database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        engine = make_engine(url)
        SQLModel.metadata.create_all(engine)
        engine.dispose()
        return url
    url = request.getfixturevalue("pg_database_url")
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with new_session(engine) as session:
        load_municipalities(session)
        session.commit()
        yield session


@pytest.fixture
def config(tmp_path, database_url):
    return load_config(Path(__file__).parent / "missing.toml", environ={}, overrides={
        "database": {"url": database_url},
        "calendars": {"dir": str(tmp_path / "calendars")},
        "app": {"secret_key": TEST_SECRET_KEY},
        "security": {"cpr_keys": TEST_CPR_KEY},
    })


@pytest.fixture
def factory(session):
    return Factory(session)


@pytest.fixture
def now():
    """A fixed 'now' that tests pass to services: Monday 23 November 2026, 08:00 UTC."""
    return datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def calendars(tmp_path):
    from scheduler.services.invites import CalendarStore

    return CalendarStore(tmp_path / "calendars")


@pytest.fixture
def ctx(config, calendars, now):
    """A BookingContext with the real Jitsi provider (no network needed) and frozen time."""
    from scheduler import make_mailer
    from scheduler.services.context import BookingContext
    from scheduler.services.rules import BookingRules
    from scheduler.video.jitsi import JitsiProvider

    return BookingContext(rules=BookingRules.from_config(config), video=JitsiProvider("https://meet.example.org"),
                          calendars=calendars, organizer_name="Udskrivningssamtaler",
                          organizer_email="noreply@example.org", now=now,
                          mailer=make_mailer(config, secret_key=config.app.secret_key))


@pytest.fixture
def app(config, session, now):
    """The Flask app on this test's database, with Jitsi links and 'now' frozen."""
    from scheduler import create_app
    from scheduler.video.jitsi import JitsiProvider

    app = create_app(config, video=JitsiProvider("https://meet.example.org"), clock=lambda: now)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    yield app
    app.extensions["scheduler"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login(client):
    """Log a user in through the real login form."""
    from werkzeug.security import generate_password_hash

    def do_login(user, session, password="correct horse"):
        user.password_hash = generate_password_hash(password, method="pbkdf2:sha256:1000")
        session.add(user)
        session.commit()
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 302, response.text
        return client

    return do_login


@pytest.fixture
def api_token(session, now):
    """Issue a bearer token for a user, as `create-user --api-token` does."""
    from scheduler.services.users import issue_api_token

    def issue(user):
        token = issue_api_token(session, user=user, now=now)
        session.commit()
        return {"Authorization": f"Bearer {token}"}

    return issue


@pytest.fixture
def smtp_server():
    from .smtp_server import SmtpServer

    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(config, session, now, smtp_server):
    """The app with its SMTP settings pointed at the test's real SMTP server and a settable clock."""
    from scheduler import create_app
    from scheduler.config import load_config
    from scheduler.video.jitsi import JitsiProvider

    mail_config = load_config(Path(__file__).parent / "missing.toml", environ={}, overrides={
        "database": {"url": config.database.url}, "calendars": {"dir": config.calendars.dir},
        "app": {"secret_key": config.app.secret_key, "organizer_email": "udskrivning@hospital.example"},
        "smtp": {"host": "127.0.0.1", "port": smtp_server.port}, "security": {"cpr_keys": TEST_CPR_KEY}})
    clock = {"now": now}
    app = create_app(mail_config, video=JitsiProvider("https://meet.example.org"), clock=lambda: clock["now"])
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    app.clock = clock
    yield app
    app.extensions["scheduler"].engine.dispose()
