"""A Norwegian deployment: country-dependent config defaults, the 357 kommuner as reference data,
fødselsnummer rules, Norwegian public holidays, and `init-db` / `create-user` on a Norwegian config."""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import date

import holidays
import pytest
from sqlmodel import func, select

from scheduler.config import load_config
from scheduler.db import make_engine, new_session
from scheduler.models import Municipality, Role, User
from scheduler.services.fodselsnummer import birth_date, normalize_fodselsnummer
from scheduler.services.reference import read_municipalities

from .conftest import TEST_CPR_KEY, TEST_SECRET_KEY
from .test_config import ROOT, write

TODAY = date(2026, 11, 23)


# ---- config


def test_a_norwegian_deployment_defaults_to_bokmaal_oslo_time_and_a_norwegian_organizer(tmp_path):
    config = load_config(write(tmp_path, '[app]\ncountry = "NO"\n'), environ={})
    assert (config.app.language, config.app.timezone, config.app.organizer_name) == \
        ("nb", "Europe/Oslo", "Utskrivningssamtaler")
    danish = load_config(write(tmp_path, ""), environ={})
    assert (danish.app.language, danish.app.timezone, danish.app.organizer_name) == \
        ("da", "Europe/Copenhagen", "Udskrivningssamtaler")


def test_the_shipped_config_follows_the_country_too():
    config = load_config(ROOT / "config.toml", environ={}, overrides={"app": {"country": "NO"}})
    assert (config.app.language, config.app.timezone) == ("nb", "Europe/Oslo")


def test_explicit_settings_win_over_the_countrys_defaults(tmp_path):
    config = load_config(write(tmp_path, '[app]\ncountry = "NO"\nlanguage = "en"\ntimezone = "Europe/Copenhagen"\n'
                                         'organizer_name = "Helse Nord"\n'), environ={})
    assert (config.app.language, config.app.timezone, config.app.organizer_name) == \
        ("en", "Europe/Copenhagen", "Helse Nord")
    assert load_config(write(tmp_path, '[app]\ncountry = "NO"\nlanguage = "da"\n'), environ={}).app.language == "da"


# ---- reference data


def test_the_357_kommuner_of_2024_with_their_15_fylker():
    rows = read_municipalities("NO")
    assert len(rows) == 357 and len({r["code"] for r in rows}) == 357
    fylker = {r["region_code"]: r["region_name"] for r in rows}
    assert fylker == {"NO-03": "Oslo", "NO-11": "Rogaland", "NO-15": "Møre og Romsdal", "NO-18": "Nordland",
                      "NO-31": "Østfold", "NO-32": "Akershus", "NO-33": "Buskerud", "NO-34": "Innlandet",
                      "NO-39": "Vestfold", "NO-40": "Telemark", "NO-42": "Agder", "NO-46": "Vestland",
                      "NO-50": "Trøndelag", "NO-55": "Troms", "NO-56": "Finnmark"}
    for row in rows:  # 4 digits, the first two the fylke
        assert len(row["code"]) == 4 and row["code"].isdigit() and row["region_code"] == f"NO-{row['code'][:2]}"
        assert row["name"].strip() == row["name"] and row["name"]
    names = {r["code"]: r["name"] for r in rows}
    assert (names["0301"], names["4601"], names["1870"], names["1580"], names["5001"]) == \
        ("Oslo - Oslove", "Bergen", "Sortland - Suortá", "Haram", "Trondheim - Tråante")
    assert Counter(r["region_code"] for r in rows)["NO-03"] == 1


def test_the_danish_list_is_unchanged_and_apart():
    danish = read_municipalities("DK")
    assert len(danish) == 98 and {r["region_code"] for r in danish} == {f"DK-8{i}" for i in range(1, 6)}
    assert not {r["code"] for r in danish} & {r["code"] for r in read_municipalities("NO")}


def test_norwegian_public_holidays_are_the_ones_slot_search_skips():
    norwegian, danish = holidays.country_holidays("NO", years=2028), holidays.country_holidays("DK", years=2028)
    assert date(2028, 5, 17) in norwegian and date(2028, 5, 17) not in danish  # Grunnlovsdag, a Wednesday
    assert date(2028, 5, 1) in norwegian and date(2028, 5, 1) not in danish


# ---- fødselsnummer


@pytest.mark.parametrize("text, normalised, born", [
    ("01019012345", "01019012345", date(1990, 1, 1)),
    (" 15067549913 ", "15067549913", date(1975, 6, 15)),  # fails the old control-digit check: still accepted
    ("41019012345", "41019012345", date(1990, 1, 1)),  # D-number: day + 40
    ("01419012345", "01419012345", date(1990, 1, 1)),  # H-number: month + 40
    ("29020050012", "29020050012", date(2000, 2, 29)),  # individual 500-999 with year 00-39: 2000s
    ("01018560012", "01018560012", date(1885, 1, 1)),  # individual 500-749 with year 54-99: 1800s
    ("01015095012", "01015095012", date(1950, 1, 1)),  # individual 900-999 with year 40-99: 1900s
])
def test_valid_numbers(text, normalised, born):
    assert normalize_fodselsnummer(text, today=TODAY) == normalised
    assert birth_date(normalised) == born


@pytest.mark.parametrize("text, message", [
    ("0101901234", "11 cifre"),  # a Danish CPR number is 10 digits
    ("010190-12345", "11 cifre"),
    ("0101901234x", "11 cifre"),
    ("٠١٠١٩٠١٢٣٤٥", "11 cifre"),  # Arabic-Indic digits are digits to Python, not to the register
    ("32019012345", "gyldig fødselsdato"),
    ("29020012345", "gyldig fødselsdato"),  # individual 123: 1900, not a leap year
    ("01015080012", "gyldig fødselsdato"),  # individual 800 with year 50: never issued
    ("01013050012", "fremtiden"),  # 2030
])
def test_invalid_numbers_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        normalize_fodselsnummer(text, today=TODAY)


# ---- command line


def cli(tmp_path, database_url, *args):
    config = tmp_path / "norway.toml"
    config.write_text('[app]\ncountry = "NO"\n', encoding="utf-8")
    env = {**os.environ, "SCHEDULER_DATABASE_URL": database_url, "SCHEDULER_CALENDARS_DIR": str(tmp_path / "ics"),
           "SCHEDULER_SECRET_KEY": "s" * 40, "SCHEDULER_CPR_KEYS": TEST_CPR_KEY,
           "SCHEDULER_PSEUDONYM_KEY": TEST_SECRET_KEY, "SCHEDULER_CONFIG": str(config)}
    return subprocess.run([sys.executable, "-m", "scheduler", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_init_db_loads_the_kommuner_and_new_users_read_bokmaal(tmp_path):
    url = f"sqlite:///{tmp_path / 'norway.db'}"
    result = cli(tmp_path, url, "init-db")
    assert result.returncode == 0, result.stderr
    assert "357 new municipalities (NO)" in result.stdout
    assert cli(tmp_path, url, "init-db").returncode == 0  # again: nothing new, nothing duplicated
    created = cli(tmp_path, url, "create-user", "--email", "radgiver@sortland.kommune.example",
                  "--name", "Kari Nordmann", "--role", "advisor", "--municipality", "1870")
    assert created.returncode == 0, created.stderr
    coordinator = cli(tmp_path, url, "create-user", "--email", "koordinator@helse-nord.example", "--name", "Ola",
                      "--role", "coordinator", "--region", "NO-18")
    assert coordinator.returncode == 0, coordinator.stderr
    engine = make_engine(url)
    try:
        with new_session(engine) as session:
            assert session.exec(select(func.count()).select_from(Municipality)).one() == 357
            assert session.get(Municipality, "1870").region_name == "Nordland"
            advisor = session.exec(select(User).where(User.role == Role.advisor)).one()
            assert (advisor.municipality_code, advisor.language) == ("1870", "nb")
    finally:
        engine.dispose()
