"""Reference data shipped with the app: the municipalities with their codes and regions."""
from __future__ import annotations

import csv
from importlib import resources

from sqlmodel import Session, select

from ..models import Municipality


def read_municipalities() -> list[dict[str, str]]:
    text = resources.files("scheduler").joinpath("data/municipalities.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_municipalities(session: Session) -> int:
    """Insert or update every municipality; returns how many were new."""
    existing = {m.code: m for m in session.exec(select(Municipality))}
    added = 0
    for row in read_municipalities():
        municipality = existing.get(row["code"])
        if municipality is None:
            municipality = Municipality(code=row["code"])
            added += 1
        municipality.name = row["name"]
        municipality.region_code = row["region_code"]
        municipality.region_name = row["region_name"]
        session.add(municipality)
    session.flush()
    return added
