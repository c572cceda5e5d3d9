"""User management for admins: find, create and edit users, reset passwords, deactivate and reactivate,
and revoke anyone's API tokens."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from ..errors import DomainError
from ..models import Role, User
from ..services import users
from .context import db, now
from .guards import only_for

bp = Blueprint("admin_users", __name__, url_prefix="/admin/users")
only_for(bp, Role.admin)

STATUSES = ("active", "inactive", "all")
PROFILE_FIELDS = ("email", "name", "role", "language", "municipality_code", "region_code")


def _form_of(user: User) -> dict[str, Any]:
    form: dict[str, Any] = {name: getattr(user, name) or "" for name in PROFILE_FIELDS}
    form["role"] = user.role.value
    form["ward_codes"] = [ward.code for ward in users.wards_of(db(), user)]
    return form


def _form_from(data: MultiDict) -> dict[str, Any]:
    """What was typed, to validate and to show again: the profile fields and the chosen wards."""
    form: dict[str, Any] = {name: data.get(name, "") for name in PROFILE_FIELDS}
    form["ward_codes"] = data.getlist("ward_codes")
    return form


def _choices() -> dict[str, Any]:
    return {"roles": list(Role), "municipalities": users.municipalities(db()), "regions": users.regions(db()),
            "wards": users.all_wards(db()), "min_length": users.MIN_PASSWORD_LENGTH}


def _edit_page(user: User | None, *, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
               message: str | None = None, status: int = 200):  # type: ignore[no-untyped-def]
    """The user's page, or with `user` None the page of a new one (`form` then required)."""
    return render_template("admin/users_edit.html", user=user, form=form or _form_of(user), errors=errors or {},
                           message=message, tokens=users.api_tokens(db(), user=user) if user else [], now=now(),
                           **_choices()), status


def _password_shown_once(user: User, password: str):  # type: ignore[no-untyped-def]
    return render_template("admin/users_password.html", user=user, password=password)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    text = request.args.get("q", "")[:200]
    role = request.args.get("role", "")
    status = request.args.get("status", "active")
    status = status if status in STATUSES else "active"
    found = users.find_users(db(), text=text, role=Role(role) if role in Role._value2member_map_ else None,
                             status=status)  # type: ignore[arg-type]
    return render_template("admin/users.html", users=found, q=text, role=role, status=status, roles=list(Role),
                           now=now())


@bp.route("/new", methods=["GET", "POST"])
def new():  # type: ignore[no-untyped-def]
    if request.method == "GET":
        return _edit_page(None, form={"role": Role.secretary.value, "language": "da", "ward_codes": []})
    form = _form_from(request.form)
    try:
        user, generated = users.add_user(db(), data=users.user_input(form), actor=current_user, now=now(),
                                         password=request.form.get("password") or None,
                                         password_repeat=request.form.get("password_repeat", ""))
        db().commit()
    except DomainError as exc:
        db().rollback()
        message, errors = exc.translated(gettext)
        return _edit_page(None, form=form, errors=errors, message=message, status=422)
    if generated:
        return _password_shown_once(user, generated), 201
    flash(gettext("Brugeren %(email)s er oprettet", email=user.email), "success")
    return redirect(url_for("admin_users.edit", user_id=user.id))


@bp.route("/<int:user_id>", methods=["GET", "POST"])
def edit(user_id: int):  # type: ignore[no-untyped-def]
    user = users.get_user(db(), user_id)
    if request.method == "GET":
        return _edit_page(user)
    form = _form_from(request.form)
    try:
        users.update_user(db(), user=user, data=users.user_input(form), actor=current_user, now=now())
        db().commit()
    except DomainError as exc:
        db().rollback()
        message, errors = exc.translated(gettext)
        return _edit_page(db().get(User, user_id), form=form, errors=errors, message=message, status=422)
    flash(gettext("Brugeren %(email)s er gemt", email=user.email), "success")
    return redirect(url_for("admin_users.edit", user_id=user.id))


@bp.post("/<int:user_id>/password")
def reset_password(user_id: int):  # type: ignore[no-untyped-def]
    user = users.get_user(db(), user_id)
    try:
        generated = users.reset_password(db(), user=user, actor=current_user, now=now(),
                                         new=request.form.get("new_password") or None,
                                         repeat=request.form.get("new_password_repeat", ""))
        db().commit()
    except DomainError as exc:
        db().rollback()
        message, errors = exc.translated(gettext)
        return _edit_page(user, errors=errors, message=message, status=422)
    if generated:
        return _password_shown_once(user, generated)
    flash(gettext("Adgangskoden til %(email)s er ændret, og brugeren er logget ud overalt", email=user.email),
          "success")
    return redirect(url_for("admin_users.edit", user_id=user.id))


def _set_active(user_id: int, is_active: bool):  # type: ignore[no-untyped-def]
    user = users.get_user(db(), user_id)
    try:
        users.set_user_active(db(), user=user, is_active=is_active, actor=current_user, now=now())
        db().commit()
    except DomainError as exc:
        db().rollback()
        flash(exc.translated(gettext)[0], "error")
        return redirect(url_for("admin_users.edit", user_id=user_id))
    flash(gettext("%(email)s er genaktiveret", email=user.email) if is_active
          else gettext("%(email)s er deaktiveret og logget ud; brugerens adgangsnøgler virker ikke længere",
                       email=user.email), "success")
    return redirect(url_for("admin_users.edit", user_id=user_id))


@bp.post("/<int:user_id>/deactivate")
def deactivate(user_id: int):  # type: ignore[no-untyped-def]
    return _set_active(user_id, False)


@bp.post("/<int:user_id>/reactivate")
def reactivate(user_id: int):  # type: ignore[no-untyped-def]
    return _set_active(user_id, True)


@bp.post("/<int:user_id>/tokens/<int:token_id>/revoke")
def revoke_token(user_id: int, token_id: int):  # type: ignore[no-untyped-def]
    user = users.get_user(db(), user_id)
    token = users.api_token_of(db(), user=user, token_id=token_id)
    users.revoke_api_token(db(), token=token, actor=current_user, now=now())
    db().commit()
    flash(gettext("Adgangsnøglen er tilbagekaldt og virker ikke længere"), "success")
    return redirect(url_for("admin_users.edit", user_id=user_id))
