"""The console script: init-db (migrations), demo-data (idempotent), create-user with an API token."""
from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import inspect
from sqlmodel import SQLModel, func, select

from scheduler.db import make_engine, new_session

from .conftest import TEST_CPR_KEY, TEST_SECRET_KEY
from scheduler.models import OfferPresentation, Participant, Role, User, Ward, WorkingHours
from scheduler.services.users import user_for_token


def cli(tmp_path, database_url, *args):
    env = {**os.environ, "SCHEDULER_DATABASE_URL": database_url, "SCHEDULER_CALENDARS_DIR": str(tmp_path / "ics"),
           "SCHEDULER_SECRET_KEY": "s" * 40, "SCHEDULER_CPR_KEYS": TEST_CPR_KEY,
           "SCHEDULER_PSEUDONYM_KEY": TEST_SECRET_KEY, "SCHEDULER_CONFIG": os.path.join(os.path.dirname(__file__), "..",
                                                                                "config.toml")}
    return subprocess.run([sys.executable, "-m", "scheduler", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_init_db_demo_data_and_create_user(tmp_path, now):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = cli(tmp_path, url, "init-db")
    assert result.returncode == 0, result.stderr
    assert cli(tmp_path, url, "init-db").returncode == 0  # upgrading twice is fine
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) >= {t.name for t in SQLModel.metadata.sorted_tables}

    first = cli(tmp_path, url, "demo-data")
    assert first.returncode == 0, first.stderr
    assert "sekretaer.sonderborg@demo.example" in first.stdout and "demo1234" in first.stdout
    with new_session(engine) as session:
        counts = (session.exec(select(func.count()).select_from(User)).one(),
                  session.exec(select(func.count()).select_from(WorkingHours)).one(),
                  session.exec(select(func.count()).select_from(OfferPresentation)).one())
        assert counts[2] > 100  # half a year of past meetings with offers, for the dashboard
        assert not session.exec(select(Participant).where(Participant.cpr.is_not(None))).first()
        municipalities = {u.municipality_code for u in session.exec(select(User).where(User.role == Role.advisor))}
    assert {"0540", "0306", "0151", "0849", "0101"} <= municipalities
    assert cli(tmp_path, url, "demo-data").returncode == 0
    with new_session(engine) as session:  # idempotent: nothing duplicated
        assert (session.exec(select(func.count()).select_from(User)).one(),
                session.exec(select(func.count()).select_from(WorkingHours)).one(),
                session.exec(select(func.count()).select_from(OfferPresentation)).one()) == counts

    result = cli(tmp_path, url, "create-user", "--email", "Ny@Hospital.example", "--name", "Ny Sekretær",
                 "--role", "secretary", "--ward", "SHS-MED", "--password", "pw12345678", "--api-token")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    with new_session(engine) as session:
        user = user_for_token(session, token=token, now=now)
        assert user is not None and user.email == "ny@hospital.example" and user.role == Role.secretary
        assert session.exec(select(Ward).where(Ward.code == "SHS-MED")).one()

    bad = cli(tmp_path, url, "create-user", "--email", "x@y.example", "--name", "X", "--role", "advisor",
              "--municipality", "9999")
    assert bad.returncode != 0 and "kommune" in bad.stderr.lower() and "Traceback" not in bad.stderr
    short = cli(tmp_path, url, "create-user", "--email", "kort@hospital.example", "--name", "Kort", "--role",
                "secretary", "--ward", "SHS-MED", "--password", "kort")  # the web pages' rules apply here too
    assert short.returncode != 0 and "password" in short.stderr and "Traceback" not in short.stderr
    with new_session(engine) as session:
        assert session.exec(select(User).where(User.email == "kort@hospital.example")).first() is None
    engine.dispose()


def test_bad_config_stops_the_start_naming_the_key(tmp_path):
    env_url = f"sqlite:///{tmp_path / 'x.db'}"
    result = subprocess.run([sys.executable, "-m", "scheduler", "init-db"], capture_output=True, text=True,
                            env={**os.environ, "SCHEDULER_DATABASE_URL": env_url, "SCHEDULER_SMTP_PORT": "many"},
                            timeout=60)
    assert result.returncode == 2
    assert "SCHEDULER_SMTP_PORT" in result.stderr and "Traceback" not in result.stderr


def test_jobs_once_runs_every_job_and_exits(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    assert cli(tmp_path, url, "init-db").returncode == 0
    result = cli(tmp_path, url, "jobs", "--once")
    assert result.returncode == 0, result.stderr
    names = [line.split(":")[0] for line in result.stdout.splitlines()]
    assert {"outbox", "reminders", "escalations", "retry_video_links"} <= set(names)
    assert all(line.split(": ")[1] == "0" for line in result.stdout.splitlines())


def test_a_serving_process_keeps_its_start_out_of_the_collectors_full_passes(tmp_path):
    """scheduler.wsgi (gunicorn) freezes what the start made (BENCHMARKS.md: a 40-50 ms pause otherwise)."""
    url = f"sqlite:///{tmp_path / 'wsgi.db'}"
    assert cli(tmp_path, url, "init-db").returncode == 0
    env = {**os.environ, "SCHEDULER_DATABASE_URL": url, "SCHEDULER_SECRET_KEY": "s" * 40,
           "SCHEDULER_CPR_KEYS": TEST_CPR_KEY, "SCHEDULER_CALENDARS_DIR": str(tmp_path / "ics")}
    result = subprocess.run([sys.executable, "-c", "import gc, scheduler.wsgi; print(gc.get_freeze_count())"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) > 10_000  # the modules, the app and its templates
