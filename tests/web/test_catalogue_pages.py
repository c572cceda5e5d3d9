"""Catalogue pages for admins and coordinators: list with retired offers, add/edit/retire/delete, import
with errors per row and export downloads."""
from __future__ import annotations

import csv
import io
import tomllib
from datetime import UTC, date, datetime

import pytest

from scheduler.models import Offer, OfferPresentation, OfferResponse, Role
from scheduler.schemas import OfferIn
from scheduler.services import offers as catalogue

from .conftest import count
from .html import assert_field_error, control, parse, value_of


@pytest.fixture
def offers(session, factory, world):
    """Sønderborg's catalogue: one active offer presented in a meeting, one unused, one retired."""
    made = {}
    for code, name, extra in (("genoptraening", "Genoptræning", {}), ("rygestop", "Rygestop", {}),
                              ("gaahold", "Gåhold", {"active_to": date(2025, 12, 31)})):
        made[code] = catalogue.create_offer(session, municipality_code="0540", data=OfferIn(
            code=code, name=name, category="rygestop" if code == "rygestop" else "genoptraening", **extra))
    meeting = factory.meeting(world.advisor, datetime(2026, 11, 2, 9, 0, tzinfo=UTC), ward=world.ward)
    session.add(OfferPresentation(meeting_id=meeting.id, offer_id=made["genoptraening"].id,
                                  response=OfferResponse.accepted))
    session.commit()
    return made


@pytest.fixture
def coordinator(session, factory):
    user = factory.user(role=Role.coordinator, municipality_code="0540", name="Kirsten Koordinator")
    session.commit()
    return user


@pytest.fixture
def coordinator_client(client_for, coordinator):
    return client_for(coordinator)


def find(read, code: str, municipality: str = "0540") -> Offer | None:
    return read(lambda s: catalogue.offer_by_code(s, municipality_code=municipality, code=code))


def test_list_shows_retired_offers_and_who_may_see_it(coordinator_client, client_for, session, factory, world, offers):
    response = coordinator_client.get("/catalogue/")
    assert response.status_code == 302 and response.location == "/catalogue/0540/"
    page = parse(coordinator_client.get("/catalogue/0540/").text)
    assert "Udfaset" in page.by_id("offer-gaahold").text()
    assert "Aktivt" in page.by_id("offer-rygestop").text()
    genoptraening = page.by_id("offer-genoptraening")
    assert "Slet" not in genoptraening.text() and "Udfas" in genoptraening.text()  # presented: retire only
    assert "Slet" in page.by_id("offer-rygestop").text()

    assert coordinator_client.get("/catalogue/0306/").status_code == 403
    assert coordinator_client.get("/catalogue/9999/").status_code == 404
    assert client_for(world.advisor).get("/catalogue/0540/").status_code == 403
    assert client_for(world.secretary).get("/catalogue/").status_code == 403
    regional = factory.user(role=Role.coordinator)
    regional.region_code = "DK-85"  # Sjælland
    session.commit()
    page = parse(client_for(regional).get("/catalogue/").text)
    names = [a.text() for a in page.by_id("main").find_all("a")]
    assert "Odsherred" in names and "Sønderborg" not in names


def test_add_with_errors_next_to_fields_then_saved(coordinator_client, offers, read):
    form = {"code": "kost", "name": "", "category": "yoga", "contact": "Sundhedscenter, tlf. 00 00 00 00",
            "active_from": "2026-11-23", "active_to": "2026-11-01"}
    response = coordinator_client.post("/catalogue/0540/new", data=form)
    assert response.status_code == 422
    page = parse(response.text)
    assert_field_error(page, "name", "Skal udfyldes")
    response = coordinator_client.post("/catalogue/0540/new", data={**form, "name": "Kost og vægt"})
    page = parse(response.text)
    assert_field_error(page, "category", "Ukendt kategori")
    assert_field_error(page, "active_to", "før startdatoen")
    assert value_of(page, "contact") == "Sundhedscenter, tlf. 00 00 00 00"
    assert count(read, Offer) == 3

    response = coordinator_client.post("/catalogue/0540/new", data={
        **form, "name": "Kost og vægt", "category": "kost_vaegt", "active_to": "", "referral_required": "1"})
    assert response.status_code == 302
    kost = find(read, "kost")
    assert (kost.name, kost.category, kost.referral_required, kost.active_to) == ("Kost og vægt", "kost_vaegt", True,
                                                                                  None)


def test_edit_keeps_the_code_of_a_presented_offer(coordinator_client, offers, read):
    url = f"/catalogue/0540/{offers['genoptraening'].id}/edit"
    page = parse(coordinator_client.get(url).text)
    assert "readonly" in control(page, "code").attrs and value_of(page, "name") == "Genoptræning"
    response = coordinator_client.post(url, data={"code": "gt", "name": "Genoptræning", "category": "genoptraening"})
    assert response.status_code == 422
    assert_field_error(parse(response.text), "code", "kan ikke ændres")
    response = coordinator_client.post(url, data={"code": "genoptraening", "name": "Genoptræning § 140",
                                                  "category": "genoptraening", "referral_required": "1"})
    assert response.status_code == 302
    assert find(read, "genoptraening").name == "Genoptræning § 140"
    other = coordinator_client.get(f"/catalogue/0306/{offers['genoptraening'].id}/edit")
    assert other.status_code == 403


def test_retire_and_delete(coordinator_client, offers, read, now):
    response = coordinator_client.post(f"/catalogue/0540/{offers['genoptraening'].id}/retire")
    assert response.status_code == 302
    assert find(read, "genoptraening").active_to == date(2026, 11, 23)
    assert coordinator_client.post(f"/catalogue/0540/{offers['genoptraening'].id}/delete").status_code == 302
    assert find(read, "genoptraening") is not None  # presented: never deleted
    assert coordinator_client.post(f"/catalogue/0540/{offers['rygestop'].id}/delete").status_code == 302
    assert find(read, "rygestop") is None
    page = parse(coordinator_client.get("/catalogue/0540/").text)
    assert "Udfases" in page.by_id("offer-genoptraening").text()


def test_import_names_bad_rows_and_saves_nothing_then_imports(coordinator_client, offers, read):
    bad = ("code;name;category;referral_required\n"
           "genoptraening;Nyt navn;genoptraening;ja\n"
           "yoga;Yoga;yoga;nej\n"
           "kost;Kost;kost_vaegt;måske\n").encode("utf-8-sig")
    response = coordinator_client.post("/catalogue/0540/import", data={"file": (io.BytesIO(bad), "katalog.csv")},
                                       content_type="multipart/form-data")
    assert response.status_code == 422
    rows = [[td.text() for td in tr.find_all("td")] for tr in parse(response.text).by_id("row-errors").find_all("tr")]
    assert ["3", "Kategori", "Ukendt kategori"] in rows
    assert ["4", "Kræver henvisning", "Skal være ja eller nej"] in rows
    assert find(read, "genoptraening").name == "Genoptræning" and find(read, "kost") is None

    wrong = coordinator_client.post("/catalogue/0540/import", data={"file": (io.BytesIO(b"x"), "katalog.xlsx")},
                                    content_type="multipart/form-data")
    assert wrong.status_code == 422
    assert_field_error(parse(wrong.text), "file", ".csv- eller .toml-fil")

    good = ('municipality = "0540"\n[[offers]]\ncode = "kost"\nname = "Kost og vægt"\ncategory = "kost_vaegt"\n'
            'active_from = 2026-01-01\n').encode()
    response = coordinator_client.post("/catalogue/0540/import", data={"file": (io.BytesIO(good), "k.toml")},
                                       content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200 and "1 nye, 0 ændrede og 0 uændrede" in response.text
    assert find(read, "kost").active_from == date(2026, 1, 1)


def test_export_downloads(coordinator_client, offers):
    response = coordinator_client.get("/catalogue/0540/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="tilbud-0540.csv"' in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert sorted(r["code"] for r in rows) == ["gaahold", "genoptraening", "rygestop"]
    toml = coordinator_client.get("/catalogue/0540/export.toml")
    assert len(tomllib.loads(toml.data.decode())["offers"]) == 3
    assert coordinator_client.get("/catalogue/0540/export.xlsx").status_code == 404
    assert coordinator_client.get("/catalogue/0306/export.csv").status_code == 403
