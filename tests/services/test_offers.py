"""The offer catalogue: per municipality, active dates, retiring without breaking history, who maintains
it, and CSV/TOML import and export (all or nothing, errors per row)."""
from __future__ import annotations

import csv
import io
import tomllib
from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from scheduler.errors import Forbidden, InvalidInput, NotFound
from scheduler.models import Offer, OfferPresentation, OfferResponse, Role
from scheduler.schemas import OfferIn, parse_input
from scheduler.services import offers as catalogue

TODAY = date(2026, 11, 23)


def add(session, code: str, *, municipality: str = "0540", **fields) -> Offer:
    data = {"code": code, "name": code.capitalize(), "category": "genoptraening", **fields}
    return catalogue.create_offer(session, municipality_code=municipality, data=OfferIn.model_validate(data))


def present(session, factory, offer: Offer) -> OfferPresentation:
    advisor = factory.advisor(offer.municipality_code)
    meeting = factory.meeting(advisor, datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    presentation = OfferPresentation(meeting_id=meeting.id, offer_id=offer.id, response=OfferResponse.accepted)
    session.add(presentation)
    session.flush()
    return presentation


def codes(offers: list[Offer]) -> list[str]:
    return [o.code for o in offers]


def test_active_offers_are_per_municipality_with_inclusive_dates_in_category_order(session):
    add(session, "smoke", category="rygestop", name="Rygestop")
    add(session, "rehab-b", name="B genoptræning")
    add(session, "rehab-a", name="A genoptræning")
    add(session, "old", active_to=date(2026, 11, 22))
    add(session, "last-day", active_to=TODAY)
    add(session, "first-day", active_from=TODAY)
    add(session, "later", active_from=date(2026, 12, 1))
    add(session, "elsewhere", municipality="0306")

    active = catalogue.active_offers(session, municipality_code="0540", on=TODAY)
    assert codes(active) == ["rehab-a", "rehab-b", "first-day", "last-day", "smoke"]  # by category, then name
    assert "last-day" not in codes(catalogue.active_offers(session, municipality_code="0540", on=date(2026, 11, 24)))
    everything = catalogue.all_offers(session, municipality_code="0540")
    assert {"old", "later"} <= set(codes(everything)) and "elsewhere" not in codes(everything)
    assert codes(catalogue.active_offers(session, municipality_code="0306", on=TODAY)) == ["elsewhere"]


def test_create_names_the_bad_field(session):
    add(session, "rygestop", category="rygestop")
    with pytest.raises(InvalidInput) as exc:
        add(session, "rygestop", category="rygestop")
    assert set(exc.value.fields) == {"code"}
    add(session, "rygestop", category="rygestop", municipality="0306")  # codes are per municipality
    with pytest.raises(InvalidInput) as exc:
        add(session, "x", category="yoga", active_from=date(2026, 12, 1), active_to=date(2026, 11, 30))
    assert set(exc.value.fields) == {"category", "active_to"}
    with pytest.raises(InvalidInput) as exc:
        parse_input(OfferIn, {"code": "rø g", "name": "=HYPERLINK(1)", "category": "rygestop",
                              "referral_required": "måske"})
    assert set(exc.value.fields) == {"code", "name", "referral_required"}


def test_code_is_stable_once_presented(session, factory):
    offer = add(session, "genoptr")
    renamed = catalogue.update_offer(session, offer=offer, data=OfferIn(code="genoptraening", name="Genoptræning",
                                                                         category="genoptraening"))
    assert renamed.code == "genoptraening"
    present(session, factory, offer)
    with pytest.raises(InvalidInput) as exc:
        catalogue.update_offer(session, offer=offer, data=OfferIn(code="gt", name="Genoptræning",
                                                                  category="genoptraening"))
    assert set(exc.value.fields) == {"code"}
    catalogue.update_offer(session, offer=offer, data=OfferIn(code="genoptraening", name="Genoptræning § 140",
                                                              category="genoptraening", referral_required=True))
    assert offer.name == "Genoptræning § 140" and offer.referral_required


def test_retire_keeps_history_and_only_unused_offers_can_be_deleted(session, factory):
    used, unused = add(session, "used"), add(session, "unused")
    presentation = present(session, factory, used)
    catalogue.retire_offer(session, offer=used, today=TODAY)
    assert used.active_to == TODAY
    catalogue.retire_offer(session, offer=used, today=date(2026, 12, 5))
    assert used.active_to == TODAY  # already retired: the earlier date stays
    assert "used" not in codes(catalogue.active_offers(session, municipality_code="0540", on=date(2026, 11, 24)))
    with pytest.raises(InvalidInput):
        catalogue.delete_offer(session, offer=used)
    assert session.get(Offer, used.id) is not None and session.get(OfferPresentation, presentation.id) is not None

    catalogue.delete_offer(session, offer=unused)
    assert catalogue.offer_by_code(session, municipality_code="0540", code="unused") is None
    future = add(session, "future", active_from=date(2027, 1, 1))
    with pytest.raises(InvalidInput):
        catalogue.retire_offer(session, offer=future, today=TODAY)


def test_who_maintains_which_catalogue(session, factory):
    admin = factory.user(role=Role.admin)
    local = factory.user(role=Role.coordinator, municipality_code="0306")
    regional = factory.user(role=Role.coordinator)
    regional.region_code = "DK-83"  # Syddanmark: Sønderborg, not Odsherred
    nowhere = factory.user(role=Role.coordinator)
    advisor = factory.advisor("0540")

    assert len(catalogue.catalogue_municipalities(session, user=admin)) == 98
    assert [m.code for m in catalogue.catalogue_municipalities(session, user=local)] == ["0306"]
    regional_codes = {m.code for m in catalogue.catalogue_municipalities(session, user=regional)}
    assert "0540" in regional_codes and "0306" not in regional_codes and len(regional_codes) == 22
    assert catalogue.catalogue_municipalities(session, user=nowhere) == []
    assert catalogue.catalogue_municipalities(session, user=advisor) == []

    assert catalogue.require_catalogue_access(session, user=regional, municipality_code="0540").code == "0540"
    for user, code in ((local, "0540"), (regional, "0306"), (nowhere, "0540"), (advisor, "0540")):
        with pytest.raises(Forbidden):
            catalogue.require_catalogue_access(session, user=user, municipality_code=code)
    with pytest.raises(NotFound):
        catalogue.require_catalogue_access(session, user=admin, municipality_code="0411")


def test_csv_export_opens_in_danish_excel_and_imports_back_unchanged(session):
    add(session, "tlf", name="Ring til os", contact="+45 00 00 00 01", referral_required=True,
        description='-5 kg på "hold"; også om aftenen', active_from=date(2026, 1, 1))
    add(session, "old", active_to=date(2025, 12, 31))
    data = catalogue.export_catalogue(session, municipality_code="0540", fmt="csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert [r["code"] for r in rows] == ["old", "tlf"]
    tlf = rows[1]
    assert tlf["contact"] == "'+45 00 00 00 01"  # no formula in a spreadsheet
    assert tlf["description"] == "'-5 kg på \"hold\"; også om aftenen"
    assert (tlf["referral_required"], tlf["active_from"], rows[0]["active_to"]) == ("ja", "2026-01-01", "2025-12-31")

    result = catalogue.import_catalogue(session, municipality_code="0540", data=data, fmt="csv")
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)
    assert catalogue.offer_by_code(session, municipality_code="0540", code="tlf").contact == "+45 00 00 00 01"
    copied = catalogue.import_catalogue(session, municipality_code="0306", data=data, fmt="csv")
    assert copied.created == 2


def test_toml_export_parses_and_imports_back_unchanged(session):
    add(session, "q", name='Samtale "Tryg hjem" \\ Sønderborg', description="Ærø # ikke en kommentar",
        active_from=date(2026, 1, 1))
    data = catalogue.export_catalogue(session, municipality_code="0540", fmt="toml")
    document = tomllib.loads(data.decode())
    assert document["municipality"] == "0540"
    (offer,) = document["offers"]
    assert offer["name"] == 'Samtale "Tryg hjem" \\ Sønderborg' and offer["active_from"] == date(2026, 1, 1)
    assert offer["description"] == "Ærø # ikke en kommentar"
    assert offer["referral_required"] is False and "active_to" not in offer
    assert tomllib.loads("x = " + catalogue._toml_string("a\tb\x7f\n"))["x"] == "a\tb\x7f\n"
    result = catalogue.import_catalogue(session, municipality_code="0540", data=data, fmt="toml")
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    with pytest.raises(InvalidInput) as exc:
        catalogue.import_catalogue(session, municipality_code="0306", data=data, fmt="toml")
    assert set(exc.value.fields) == {"file"}


def test_import_creates_and_updates_by_code_and_leaves_other_offers(session):
    add(session, "kol", name="KOL", category="kol_rehabilitering")
    add(session, "keep")
    text = ("code;name;category;referral_required;active_from\n"
            "kol;KOL-rehabilitering;kol_rehabilitering;ja;2026-01-01\n"
            "\n"
            "hjerte;Hjerterehabilitering;hjerterehabilitering;nej;\n")
    result = catalogue.import_catalogue(session, municipality_code="0540", data=text.encode(), fmt="csv")
    assert (result.created, result.updated, result.unchanged) == (1, 1, 0)
    kol = catalogue.offer_by_code(session, municipality_code="0540", code="kol")
    assert kol.name == "KOL-rehabilitering" and kol.referral_required and kol.active_from == date(2026, 1, 1)
    assert set(codes(catalogue.all_offers(session, municipality_code="0540"))) == {"kol", "keep", "hjerte"}
    comma = "code,name,category\nrygestop,Rygestop,rygestop\n"
    assert catalogue.import_catalogue(session, municipality_code="0540", data=comma.encode(), fmt="csv").created == 1


def test_import_with_errors_saves_nothing_and_names_each_bad_row(session):
    add(session, "kol", name="KOL", category="kol_rehabilitering")
    session.commit()
    text = ("code;name;category;active_from;active_to\n"
            "kol;Nyt navn;kol_rehabilitering;;\n"
            "yoga;Yoga;yoga;;\n"
            "motion;Motion;fysisk_aktivitet;1. december;\n"
            "kol;Igen;kol_rehabilitering;;\n"
            ";Uden kode;rygestop;2026-02-01;2026-01-01\n")
    with pytest.raises(InvalidInput) as exc:
        catalogue.import_catalogue(session, municipality_code="0540", data=text.encode("utf-8-sig"), fmt="csv")
    assert set(exc.value.fields) == {"rows.3.category", "rows.4.active_from", "rows.5.code", "rows.6.code"}
    for _ in range(2):  # nothing changed, neither in this transaction nor after the caller's rollback
        assert catalogue.offer_by_code(session, municipality_code="0540", code="kol").name == "KOL"
        assert codes(catalogue.all_offers(session, municipality_code="0540")) == ["kol"]
        session.rollback()

    toml = b'[[offers]]\ncode = "a"\nname = "A"\ncategory = "andet"\nactive_to = 2026-01-01\nactive_from = 2026-02-01\n'
    with pytest.raises(InvalidInput) as exc:
        catalogue.import_catalogue(session, municipality_code="0540", data=toml, fmt="toml")
    assert set(exc.value.fields) == {"rows.1.active_to"}


@pytest.mark.parametrize("data, fmt", [
    (b"code;name;category;colour\n", "csv"),
    (b"code;name\n", "csv"),
    ("code;name;category\nx;Sø;andet\n".encode("latin-1"), "csv"),
    (b"offers = [", "toml"),
    (b'municipality = "0306"\n', "toml"),
    (b"offers = 3\n", "toml"),
    (b"colour = 1\n", "toml"),
])
def test_unreadable_files_are_refused_as_a_whole(session, data, fmt):
    with pytest.raises(InvalidInput) as exc:
        catalogue.import_catalogue(session, municipality_code="0540", data=data, fmt=fmt)
    assert set(exc.value.fields) == {"file"}


def test_demo_catalogues_load_idempotently(session):
    catalogue.load_demo_catalogues(session)
    counts = {code: len(catalogue.all_offers(session, municipality_code=code))
              for code in catalogue.DEMO_MUNICIPALITIES}
    assert all(8 <= n <= 14 for n in counts.values()), counts
    assert catalogue.load_demo_catalogues(session) == 0
    assert {code: len(catalogue.all_offers(session, municipality_code=code))
            for code in catalogue.DEMO_MUNICIPALITIES} == counts
    offers = session.exec(select(Offer)).all()
    assert {o.category for o in offers} <= set(catalogue.CATEGORIES)
    odsherred = {o.code: o for o in catalogue.active_offers(session, municipality_code="0306", on=TODAY)}
    assert odsherred["lysningen"].category == "palliation" and "Lysningen" in odsherred["lysningen"].name
    assert odsherred["medicingennemgang"].category == "medicingennemgang"
    assert "dosisdispensering" in odsherred["medicingennemgang"].name.lower()
