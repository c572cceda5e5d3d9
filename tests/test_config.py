"""Config: defaults, documented file, environment overrides, bad values naming the key."""
from datetime import time
from pathlib import Path

import pytest

from scheduler.config import SCHEMA, ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads_and_documents_every_option():
    config = load_config(ROOT / "config.toml", environ={})
    assert config.app.timezone == "Europe/Copenhagen"
    assert config.booking.working_hours["mon"] == [(time(8), time(15, 30))]
    assert config.booking.working_hours["sat"] == []
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    for section, options in SCHEMA.items():
        assert f"[{section}]" in text
        for key in options:
            assert key in text, f"{section}.{key} is not documented in config.toml"


def test_environment_overrides(tmp_path):
    config = load_config(write(tmp_path, ""), environ={
        "SCHEDULER_DATABASE_URL": "postgresql+psycopg://u@db/x", "SCHEDULER_SECRET_KEY": "k" * 40,
        "SCHEDULER_CALENDARS_DIR": "/srv/ics", "SCHEDULER_SMTP_HOST": "mail.example", "SCHEDULER_SMTP_PORT": "587",
        "SCHEDULER_VIDEO_PROVIDER": "vdx"})
    assert config.database.url == "postgresql+psycopg://u@db/x"
    assert config.app.secret_key == "k" * 40
    assert config.calendars.dir == "/srv/ics"
    assert (config.smtp.host, config.smtp.port) == ("mail.example", 587)
    assert config.video.provider == "vdx"


def test_scheduler_config_points_to_another_file(tmp_path):
    path = write(tmp_path, '[booking]\nmeeting_minutes = 30\n')
    assert load_config(environ={"SCHEDULER_CONFIG": str(path)}).booking.meeting_minutes == 30
    with pytest.raises(ConfigError, match="SCHEDULER_CONFIG"):
        load_config(environ={"SCHEDULER_CONFIG": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize("text, key", [
    ('[app]\ntimezone = "Mars/Olympus"', "app.timezone"),
    ('[booking]\nmeeting_minutes = "long"', "booking.meeting_minutes"),
    ('[booking]\nbuffer_minutes = -5', "booking.buffer_minutes"),
    ('[booking.working_hours]\nmon = "15:00-08:00"', "booking.working_hours"),
    ('[booking.working_hours]\nfunday = "08:00-10:00"', "booking.working_hours"),
    ('[video]\nprovider = "zoom"', "video.provider"),
    ('[database]\nurl = "mysql://x"', "database.url"),
    ('[app]\nshoe_size = 42', "app.shoe_size"),
    ('[nonsense]\nx = 1', "[nonsense]"),
    ('[app\n', "not valid TOML"),
])
def test_bad_values_fail_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, text), environ={})


def test_bad_environment_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="SCHEDULER_SMTP_PORT"):
        load_config(write(tmp_path, ""), environ={"SCHEDULER_SMTP_PORT": "abc"})


def test_production_requires_a_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="secret_key"):
        load_config(write(tmp_path, "[app]\nproduction = true\n"), environ={})
