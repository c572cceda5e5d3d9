"""`discharge-scheduler export uptake`: the uptake log to a file, with a progress bar on stderr."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

from openpyxl import load_workbook

from scheduler.db import make_engine, new_session

from .conftest import TEST_CPR_KEY, TEST_SECRET_KEY
from scheduler.services.exports import COLUMNS, patient_key
from scheduler.services.reference import load_municipalities

from .factories import Factory
from .uptake_data import build, digest_of


def run(tmp_path, url, *args):
    env = {**os.environ, "SCHEDULER_DATABASE_URL": url, "SCHEDULER_CALENDARS_DIR": str(tmp_path / "ics"),
           "SCHEDULER_SECRET_KEY": "s" * 40, "SCHEDULER_EXPORT_KEY": "cli-export-key",
           "SCHEDULER_CPR_KEYS": TEST_CPR_KEY, "SCHEDULER_PSEUDONYM_KEY": TEST_SECRET_KEY,
           "SCHEDULER_CONFIG": os.path.join(os.path.dirname(__file__), "..", "config.toml")}
    return subprocess.run([sys.executable, "-m", "scheduler", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_export_uptake_writes_each_format(tmp_path):
    url = f"sqlite:///{tmp_path / 'export.db'}"
    assert run(tmp_path, url, "init-db").returncode == 0
    engine = make_engine(url)
    with new_session(engine) as session:
        load_municipalities(session)
        build(session, Factory(session))
        session.commit()
    engine.dispose()
    period = ("--from", "2026-09-01", "--to", "2026-11-30", "--municipality", "0540", "--municipality", "0306")

    result = run(tmp_path, url, "export", "uptake", *period, "--output", str(tmp_path / "uptake.csv"))
    assert result.returncode == 0, result.stderr
    assert "Exporting" in result.stderr and "36 rows written" in result.stderr and result.stdout == ""
    data = (tmp_path / "uptake.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 36 and list(rows[0]) == list(COLUMNS)
    assert rows[0]["patient_key"] == patient_key(b"cli-export-key", cpr_digest=digest_of("S1"), meeting_uid="")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]

    result = run(tmp_path, url, "export", "uptake", *period, "--format", "xlsx", "--output", str(tmp_path / "u.xlsx"))
    assert result.returncode == 0, result.stderr
    workbook = load_workbook(tmp_path / "u.xlsx", read_only=True)
    assert len(list(workbook["uptake"].iter_rows(values_only=True))) == 37
    workbook.close()  # read-only workbooks keep the file open until closed

    result = run(tmp_path, url, "export", "uptake", "--from", "2026-09-01", "--to", "2026-11-30", "--format", "json",
                 "--output", str(tmp_path / "all.json"))  # every municipality: Ballerup's X3 too
    assert result.returncode == 0, result.stderr
    assert len(json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))) == 37

    comma = run(tmp_path, url, "export", "uptake", *period, "--separator", ",", "--output", str(tmp_path / "c.csv"))
    assert comma.returncode == 0 and (tmp_path / "c.csv").read_text(encoding="utf-8-sig").startswith(
        "meeting_date,municipality_code,")

    unknown = run(tmp_path, url, "export", "uptake", "--from", "2026-09-01", "--to", "2026-11-30",
                  "--municipality", "9999", "--output", str(tmp_path / "x.csv"))
    assert unknown.returncode != 0 and "9999" in unknown.stderr and "Traceback" not in unknown.stderr
    backwards = run(tmp_path, url, "export", "uptake", "--from", "2026-12-01", "--to", "2026-11-30",
                    "--output", str(tmp_path / "x.csv"))
    assert backwards.returncode != 0 and "Traceback" not in backwards.stderr
    assert not (tmp_path / "x.csv").exists()
