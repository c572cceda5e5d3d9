"""Offer catalogue pages for admins and coordinators: list (retired offers too), add, edit, retire,
delete an unused offer, import and export as CSV or TOML."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from ..errors import N_, DomainError
from ..models import Municipality, Offer, Role
from ..schemas import OfferIn, parse_input
from ..services import offers as catalogue
from .context import db, now, services
from .guards import only_for

bp = Blueprint("catalogue", __name__, url_prefix="/catalogue")

FIELD_LABELS = {
    "code": N_("Kode"), "name": N_("Navn"), "category": N_("Kategori"), "description": N_("Beskrivelse"),
    "referral_required": N_("Kræver henvisning"), "contact": N_("Kontakt"), "active_from": N_("Aktiv fra"),
    "active_to": N_("Aktiv til og med"),
}
MIMETYPES = {"csv": "text/csv; charset=utf-8", "toml": "application/toml; charset=utf-8"}


only_for(bp, Role.admin, Role.coordinator)


def _municipality(code: str) -> Municipality:
    return catalogue.require_catalogue_access(db(), user=current_user, municipality_code=code)


def _today():  # type: ignore[no-untyped-def]
    return now().astimezone(services().rules.zone).date()


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    municipalities = catalogue.catalogue_municipalities(db(), user=current_user)
    if len(municipalities) == 1:
        return redirect(url_for("catalogue.offers", code=municipalities[0].code))
    return render_template("catalogue/index.html", municipalities=municipalities)


@bp.get("/<code>/")
def offers(code: str):  # type: ignore[no-untyped-def]
    municipality = _municipality(code)
    return render_template("catalogue/offers.html", municipality=municipality, today=_today(),
                           offers=catalogue.all_offers(db(), municipality_code=code),
                           presented=catalogue.presented_offer_ids(db(), municipality_code=code))


def _offer_data(form: Any) -> dict[str, Any]:
    data = {name: (form.get(name) or "").strip() for name in catalogue.FIELDS if name != "referral_required"}
    data["referral_required"] = bool(form.get("referral_required"))
    return data


def _form_of(offer: Offer) -> dict[str, str]:
    form = {name: "" if getattr(offer, name) is None else str(getattr(offer, name)) for name in catalogue.FIELDS}
    form["referral_required"] = "1" if offer.referral_required else ""
    return form


def _edit_page(municipality: Municipality, *, offer: Offer | None, form: dict[str, Any], errors: dict[str, str],
               message: str | None, status: int = 200):  # type: ignore[no-untyped-def]
    return render_template("catalogue/edit.html", municipality=municipality, offer=offer, form=form, errors=errors,
                           message=message, categories=catalogue.CATEGORIES,
                           code_locked=offer is not None and catalogue.is_presented(db(), offer)), status


@bp.route("/<code>/new", methods=["GET", "POST"])
def new(code: str):  # type: ignore[no-untyped-def]
    municipality = _municipality(code)
    if request.method == "GET":
        return _edit_page(municipality, offer=None, form={"active_from": _today().isoformat()}, errors={},
                          message=None)
    form = dict(request.form)
    try:
        offer = catalogue.create_offer(db(), municipality_code=code, data=parse_input(OfferIn, _offer_data(form)))
        db().commit()
    except DomainError as exc:
        db().rollback()
        message, errors = exc.translated(gettext)
        return _edit_page(municipality, offer=None, form=form, errors=errors, message=message, status=422)
    flash(gettext("Tilbuddet %(name)s er oprettet", name=offer.name), "success")
    return redirect(url_for("catalogue.offers", code=code))


@bp.route("/<code>/<int:offer_id>/edit", methods=["GET", "POST"])
def edit(code: str, offer_id: int):  # type: ignore[no-untyped-def]
    municipality = _municipality(code)
    offer = catalogue.get_offer(db(), municipality_code=code, offer_id=offer_id)
    if request.method == "GET":
        return _edit_page(municipality, offer=offer, form=_form_of(offer), errors={}, message=None)
    form = dict(request.form)
    try:
        catalogue.update_offer(db(), offer=offer, data=parse_input(OfferIn, _offer_data(form)))
        db().commit()
    except DomainError as exc:
        db().rollback()
        message, errors = exc.translated(gettext)
        return _edit_page(municipality, offer=offer, form=form, errors=errors, message=message, status=422)
    flash(gettext("Tilbuddet %(name)s er gemt", name=offer.name), "success")
    return redirect(url_for("catalogue.offers", code=code))


@bp.post("/<code>/<int:offer_id>/retire")
def retire(code: str, offer_id: int):  # type: ignore[no-untyped-def]
    _municipality(code)
    offer = catalogue.get_offer(db(), municipality_code=code, offer_id=offer_id)
    try:
        catalogue.retire_offer(db(), offer=offer, today=_today())
        db().commit()
        flash(gettext("%(name)s tilbydes ikke længere efter i dag", name=offer.name), "success")
    except DomainError as exc:
        db().rollback()
        flash(exc.translated(gettext)[0], "error")
    return redirect(url_for("catalogue.offers", code=code))


@bp.post("/<code>/<int:offer_id>/delete")
def delete(code: str, offer_id: int):  # type: ignore[no-untyped-def]
    _municipality(code)
    offer = catalogue.get_offer(db(), municipality_code=code, offer_id=offer_id)
    name = offer.name
    try:
        catalogue.delete_offer(db(), offer=offer)
        db().commit()
        flash(gettext("%(name)s er slettet", name=name), "success")
    except DomainError as exc:
        db().rollback()
        flash(exc.translated(gettext)[0], "error")
    return redirect(url_for("catalogue.offers", code=code))


def _row_errors(fields: dict[str, str]) -> tuple[dict[str, str], list[tuple[int, str, str]]]:
    """Split an import error into form fields and (row, column label, message) per bad cell, by row."""
    form_errors, rows = {}, []
    for name, text in fields.items():
        parts = name.split(".", 2)
        if len(parts) == 3 and parts[0] == "rows" and parts[1].isdigit():
            label = FIELD_LABELS.get(parts[2].split(".")[0])
            rows.append((int(parts[1]), gettext(label) if label else parts[2], text))
        else:
            form_errors[name] = text
    return form_errors, sorted(rows, key=lambda r: r[0])


@bp.route("/<code>/import", methods=["GET", "POST"])
def import_file(code: str):  # type: ignore[no-untyped-def]
    municipality = _municipality(code)
    errors: dict[str, str] = {}
    row_errors: list[tuple[int, str, str]] = []
    message = None
    if request.method == "POST":
        upload = request.files.get("file")
        fmt = catalogue.format_for_filename(upload.filename if upload else None)
        if upload is None or not upload.filename:
            errors["file"] = gettext("Vælg en fil")
        elif fmt is None:
            errors["file"] = gettext("Filen skal være en .csv- eller .toml-fil")
        else:
            try:
                result = catalogue.import_catalogue(db(), municipality_code=code, data=upload.read(), fmt=fmt)
                db().commit()
                flash(gettext("Kataloget er indlæst: %(created)s nye, %(updated)s ændrede og %(unchanged)s uændrede "
                              "tilbud", created=result.created, updated=result.updated, unchanged=result.unchanged),
                      "success")
                return redirect(url_for("catalogue.offers", code=code))
            except DomainError as exc:
                db().rollback()
                message, fields = exc.translated(gettext)
                errors, row_errors = _row_errors(fields)
    return render_template("catalogue/import.html", municipality=municipality, errors=errors, row_errors=row_errors,
                           message=message, field_names=catalogue.FIELDS,
                           categories=catalogue.CATEGORIES), 422 if errors or row_errors else 200


@bp.get("/<code>/export.<fmt>")
def export(code: str, fmt: str):  # type: ignore[no-untyped-def]
    _municipality(code)
    if fmt not in catalogue.FORMATS:
        abort(404)
    data = catalogue.export_catalogue(db(), municipality_code=code, fmt=fmt)  # type: ignore[arg-type]
    return Response(data, content_type=MIMETYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="tilbud-{code}.{fmt}"'})
