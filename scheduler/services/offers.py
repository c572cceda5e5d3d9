"""Each municipality's catalogue of offers: categories, who may maintain it, changes that keep the
history of meetings intact (offers are retired, not deleted, once presented), CSV/TOML import and export."""
from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any, Literal

from pydantic import ValidationError
from sqlmodel import Session, func, select

from ..errors import N_, Forbidden, InvalidInput, NotFound
from ..models import Municipality, Offer, OfferPresentation, Role, User
from ..schemas import OfferIn, error_fields
from .reference import find_municipality

# Stable codes (stored, exported, used by the statistics) -> Danish label msgids, in display order.
CATEGORIES: dict[str, str] = {
    "genoptraening": N_("Genoptræning"),
    "kraeftrehabilitering": N_("Kræftrehabilitering"),
    "kol_rehabilitering": N_("KOL-rehabilitering"),
    "hjerterehabilitering": N_("Hjerterehabilitering"),
    "diabetesrehabilitering": N_("Diabetesrehabilitering"),
    "osteoporoserehabilitering": N_("Osteoporoserehabilitering"),
    "rygestop": N_("Rygestop"),
    "alkohol": N_("Alkoholrådgivning"),
    "kost_vaegt": N_("Kost og vægt"),
    "fysisk_aktivitet": N_("Fysisk aktivitet og motion"),
    "mental_sundhed": N_("Mental sundhed og psykologhjælp"),
    "patientuddannelse": N_("Patientuddannelse"),
    "sundhedssamtale": N_("Sundhedssamtale"),
    "paaroerende": N_("Pårørendetilbud"),
    "palliation": N_("Palliation"),
    "medicingennemgang": N_("Medicingennemgang"),
    "andet": N_("Andet"),
}
FIELDS = ("code", "name", "category", "description", "referral_required", "contact", "active_from", "active_to")
REQUIRED_COLUMNS = ("code", "name", "category")
MAX_IMPORT_ROWS = 500
Format = Literal["csv", "toml"]
FORMATS: tuple[Format, ...] = ("csv", "toml")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_active(offer: Offer, day: date) -> bool:
    """Active on `day`: both dates are inclusive, a missing one is open."""
    return (offer.active_from is None or offer.active_from <= day) and \
        (offer.active_to is None or day <= offer.active_to)


def sort_key(offer: Offer) -> tuple[int, str, str]:
    order = list(CATEGORIES)
    return (order.index(offer.category) if offer.category in CATEGORIES else len(order), offer.name.lower(),
            offer.code)


def all_offers(session: Session, *, municipality_code: str) -> list[Offer]:
    """The whole catalogue, retired and future offers too, by category and name."""
    rows = session.exec(select(Offer).where(Offer.municipality_code == municipality_code))
    return sorted(rows, key=sort_key)


def active_offers(session: Session, *, municipality_code: str, on: date) -> list[Offer]:
    """What the municipality offers on `day`, by category and name."""
    return [o for o in all_offers(session, municipality_code=municipality_code) if is_active(o, on)]


def offer_by_code(session: Session, *, municipality_code: str, code: str) -> Offer | None:
    return session.exec(select(Offer).where(Offer.municipality_code == municipality_code,
                                            Offer.code == code)).first()


def get_offer(session: Session, *, municipality_code: str, offer_id: int) -> Offer:
    offer = session.get(Offer, offer_id)
    if offer is None or offer.municipality_code != municipality_code:
        raise NotFound(N_("Tilbuddet findes ikke"))
    return offer


def is_presented(session: Session, offer: Offer) -> bool:
    """Whether any meeting recorded this offer (then it may be retired, never deleted)."""
    return session.exec(select(func.count()).select_from(OfferPresentation)
                        .where(OfferPresentation.offer_id == offer.id)).one() > 0


def presented_offer_ids(session: Session, *, municipality_code: str) -> set[int]:
    return set(session.exec(select(OfferPresentation.offer_id).join(Offer, Offer.id == OfferPresentation.offer_id)
                            .where(Offer.municipality_code == municipality_code).distinct()))


# ---- who maintains which catalogue


def catalogue_municipalities(session: Session, *, user: User) -> list[Municipality]:
    """Admins: all; a coordinator: her municipality, or every municipality of her region."""
    query = select(Municipality).order_by(Municipality.name)
    if user.role == Role.admin:
        return list(session.exec(query))
    if user.role != Role.coordinator:
        return []
    if user.municipality_code:
        return list(session.exec(query.where(Municipality.code == user.municipality_code)))
    if user.region_code:
        return list(session.exec(query.where(Municipality.region_code == user.region_code)))
    return []


def require_catalogue_access(session: Session, *, user: User, municipality_code: str) -> Municipality:
    """The municipality if this user may maintain its catalogue; NotFound or Forbidden otherwise."""
    municipality = find_municipality(session, municipality_code)
    if municipality is None:
        raise NotFound(N_("Kommunen findes ikke"))
    if user.role == Role.admin:
        return municipality
    if user.role == Role.coordinator and (
            user.municipality_code == municipality.code
            or (not user.municipality_code and user.region_code and user.region_code == municipality.region_code)):
        return municipality
    raise Forbidden(N_("Du kan ikke redigere denne kommunes tilbudskatalog"))


# ---- changes


def _check(data: OfferIn, *, prefix: str = "") -> dict[str, str]:
    """Rules beyond the field types, as {field: message id}."""
    errors = {}
    if data.category not in CATEGORIES:
        errors[f"{prefix}category"] = N_("Ukendt kategori")
    if data.active_from and data.active_to and data.active_to < data.active_from:
        errors[f"{prefix}active_to"] = N_("Slutdatoen ligger før startdatoen")
    return errors


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise InvalidInput(N_("Ugyldige oplysninger"), fields=errors)


def _apply(offer: Offer, data: OfferIn) -> bool:
    """Copy the fields; True if anything changed."""
    changed = False
    for name in FIELDS:
        value = getattr(data, name)
        if getattr(offer, name) != value:
            setattr(offer, name, value)
            changed = True
    return changed


def create_offer(session: Session, *, municipality_code: str, data: OfferIn) -> Offer:
    errors = _check(data)
    if offer_by_code(session, municipality_code=municipality_code, code=data.code) is not None:
        errors["code"] = N_("Kommunen har allerede et tilbud med denne kode")
    _raise(errors)
    offer = Offer(municipality_code=municipality_code, code=data.code, name=data.name, category=data.category)
    _apply(offer, data)
    session.add(offer)
    session.flush()
    return offer


def update_offer(session: Session, *, offer: Offer, data: OfferIn) -> Offer:
    """Change an offer; its code is stable once a meeting has recorded it."""
    errors = _check(data)
    if data.code != offer.code:
        if is_presented(session, offer):
            errors["code"] = N_("Koden kan ikke ændres, når tilbuddet er registreret i et møde")
        elif offer_by_code(session, municipality_code=offer.municipality_code, code=data.code) is not None:
            errors["code"] = N_("Kommunen har allerede et tilbud med denne kode")
    _raise(errors)
    _apply(offer, data)
    session.add(offer)
    session.flush()
    return offer


def retire_offer(session: Session, *, offer: Offer, today: date) -> Offer:
    """Offered for the last time today: gone from tomorrow's checklists, still in every record."""
    if offer.active_to is not None and offer.active_to <= today:
        return offer  # already retired; keep the earlier date
    if offer.active_from is not None and offer.active_from > today:
        raise InvalidInput(N_("Tilbuddet er ikke begyndt endnu; ret datoerne eller slet det"), field="active_to")
    offer.active_to = today
    session.add(offer)
    session.flush()
    return offer


def delete_offer(session: Session, *, offer: Offer) -> None:
    """Only an offer no meeting has recorded (e.g. a typing error); others are retired."""
    if is_presented(session, offer):
        raise InvalidInput(N_("Tilbuddet er registreret i et møde og kan kun udfases, ikke slettes"))
    session.delete(offer)
    session.flush()


# ---- import and export


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "ja" if value else "nej"
    text = value.isoformat() if isinstance(value, date) else str(value)
    # A leading apostrophe stops spreadsheets running the cell as a formula; import removes it again.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _toml_string(value: str) -> str:
    out = ['"']
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return _toml_string(str(value))


def export_catalogue(session: Session, *, municipality_code: str, fmt: Format) -> bytes:
    """The whole catalogue (retired offers too): CSV with `;` and a BOM for Danish Excel, or TOML."""
    offers = all_offers(session, municipality_code=municipality_code)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
        writer.writerow(FIELDS)
        for offer in offers:
            writer.writerow([_csv_cell(getattr(offer, name)) for name in FIELDS])
        return buffer.getvalue().encode("utf-8-sig")
    municipality = session.get(Municipality, municipality_code)
    lines = [f"# {municipality.name if municipality else municipality_code}",
             f"municipality = {_toml_string(municipality_code)}"]
    for offer in offers:
        lines += ["", "[[offers]]"]
        lines += [f"{name} = {_toml_value(getattr(offer, name))}" for name in FIELDS
                  if getattr(offer, name) is not None]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(N_("Filen skal være gemt som UTF-8"), field="file") from None


def _csv_rows(text: str) -> list[tuple[int, dict[str, Any]]]:
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first_line or "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error:
        raise InvalidInput(N_("Filen kan ikke læses som CSV"), field="file") from None
    unknown = [h for h in header if h not in FIELDS]
    if unknown:
        raise InvalidInput(N_("Ukendt kolonne: %(column)s"), field="file", column=unknown[0])
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(N_("Kolonnen %(column)s mangler"), field="file", column=missing[0])
    rows = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                raise InvalidInput(N_("Række %(row)s har flere felter end overskriften"), field="file",
                                   row=reader.line_num)
            row = {name: _uncell(value) for name, value in zip(header, values)}
            rows.append((reader.line_num, row))
    except csv.Error:
        raise InvalidInput(N_("Filen kan ikke læses som CSV"), field="file") from None
    return rows


def _uncell(value: str) -> str:
    value = value.strip()
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def _toml_rows(text: str, *, municipality_code: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(N_("Filen kan ikke læses som TOML: %(reason)s"), field="file", reason=str(exc)) from None
    unknown = sorted(set(document) - {"municipality", "offers"})
    if unknown:
        raise InvalidInput(N_("Ukendt nøgle: %(key)s"), field="file", key=unknown[0])
    if document.get("municipality", municipality_code) != municipality_code:
        raise InvalidInput(N_("Filen er kataloget for kommune %(code)s"), field="file",
                           code=str(document["municipality"]))
    offers = document.get("offers", [])
    if not isinstance(offers, list) or not all(isinstance(o, dict) for o in offers):
        raise InvalidInput(N_("Tilbuddene skal stå som [[offers]]-tabeller"), field="file")
    return list(enumerate(offers, start=1))


def parse_catalogue(data: bytes, *, fmt: Format, municipality_code: str) -> list[OfferIn]:
    """Every row validated, or InvalidInput naming each bad field as rows.<row>.<field>."""
    text = _decode(data)
    rows = _csv_rows(text) if fmt == "csv" else _toml_rows(text, municipality_code=municipality_code)
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidInput(N_("Filen har mere end %(max)s tilbud"), field="file", max=MAX_IMPORT_ROWS)
    errors: dict[str, str] = {}
    offers: list[OfferIn] = []
    first_row_of: dict[str, int] = {}
    for row_number, row in rows:
        prefix = f"rows.{row_number}."
        try:
            offer = OfferIn.model_validate(row)
        except ValidationError as exc:
            errors.update({prefix + name: message for name, message in error_fields(exc).items()})
            continue
        errors.update(_check(offer, prefix=prefix))
        if offer.code in first_row_of:
            errors[prefix + "code"] = N_("Koden står flere gange i filen")
        first_row_of.setdefault(offer.code, row_number)
        offers.append(offer)
    if errors:
        raise InvalidInput(N_("Filen blev ikke indlæst; ret rækkerne herunder"), fields=errors)
    return offers


def import_catalogue(session: Session, *, municipality_code: str, data: bytes, fmt: Format) -> ImportResult:
    """Create or update offers by code; offers missing from the file stay as they are.

    All or nothing: on any error nothing is changed and every bad row is named.
    """
    if fmt not in FORMATS:
        raise InvalidInput(N_("Vælg CSV eller TOML"), field="format")
    parsed = parse_catalogue(data, fmt=fmt, municipality_code=municipality_code)
    existing = {o.code: o for o in all_offers(session, municipality_code=municipality_code)}
    created = updated = unchanged = 0
    for data_row in parsed:
        offer = existing.get(data_row.code)
        if offer is None:
            create_offer(session, municipality_code=municipality_code, data=data_row)
            created += 1
        elif _apply(offer, data_row):
            session.add(offer)
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return ImportResult(created=created, updated=updated, unchanged=unchanged)


def format_for_filename(filename: str | None) -> Format | None:
    name = (filename or "").lower()
    return "csv" if name.endswith(".csv") else "toml" if name.endswith(".toml") else None


# ---- demo data

DEMO_MUNICIPALITIES = ("0540", "0306", "0151", "0849", "0101")


def load_demo_catalogues(session: Session) -> int:
    """The demo catalogues in scheduler/data/offers/<code>.toml; safe to run again. Returns offers created."""
    created = 0
    for code in DEMO_MUNICIPALITIES:
        data = resources.files("scheduler").joinpath(f"data/offers/{code}.toml").read_bytes()
        created += import_catalogue(session, municipality_code=code, data=data, fmt="toml").created
    return created
