"""Reference data shipped with the app: each country's municipalities with their codes and regions.

Denmark: the 98 municipalities with their 4-digit codes and the five regions (DK-81 ... DK-85).
Norway: the 357 kommuner of 2024 with their 4-digit kommunenummer; the first two digits are the
county (fylke), kept as the region (NO-03 Oslo ... NO-56 Finnmark; SSB classification 131).
"""
from __future__ import annotations

import csv
from importlib import resources

from sqlmodel import Session, select

from ..models import Municipality

MUNICIPALITY_FILES = {"DK": "data/municipalities_dk.csv", "NO": "data/municipalities_no.csv"}


def read_municipalities(country: str = "DK") -> list[dict[str, str]]:
    text = resources.files("scheduler").joinpath(MUNICIPALITY_FILES[country]).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_municipalities(session: Session, *, country: str = "DK") -> int:
    """Insert or update every municipality of the country (app.country); returns how many were new."""
    existing = {m.code: m for m in session.exec(select(Municipality))}
    added = 0
    for row in read_municipalities(country):
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


def find_municipality(session: Session, code: str) -> Municipality | None:
    """The municipality with this code; None for an unknown code, and for one not of four ASCII digits,
    which is never sent to the database (PostgreSQL refuses e.g. a NUL character in a query)."""
    if not (len(code) == 4 and code.isascii() and code.isdigit()):
        return None
    return session.get(Municipality, code)
