"""Her own account ("Min konto"): change her password, create, list and revoke her API tokens."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from ..errors import DomainError
from ..models import Role
from ..services import users
from .auth import keep_session
from .context import db, now, services
from .guards import only_for

bp = Blueprint("account", __name__, url_prefix="/account")
only_for(bp, *Role)

def _page(*, errors: dict[str, str] | None = None, message: str | None = None, new_token: str | None = None,
          status: int = 200):  # type: ignore[no-untyped-def]
    return render_template("account/index.html", tokens=users.api_tokens(db(), user=current_user),
                           wards=users.wards_of(db(), current_user), errors=errors or {}, message=message,
                           new_token=new_token, min_length=users.MIN_PASSWORD_LENGTH,
                           languages=users.LANGUAGE_NAMES), status


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return _page()


@bp.post("/password")
def password():  # type: ignore[no-untyped-def]
    try:
        users.change_password(db(), user=current_user, current=request.form.get("current_password", ""),
                              new=request.form.get("new_password", ""),
                              repeat=request.form.get("new_password_repeat", ""), now=now(),
                              policy=users.LoginPolicy.from_config(services().config))
    except DomainError as exc:
        db().commit()  # nothing was changed, but a wrong current password counts as a failed login
        message, errors = exc.translated(gettext)
        return _page(errors=errors, message=message, status=422)
    db().commit()
    keep_session(current_user)  # this session goes on; her other sessions end
    flash(gettext("Din adgangskode er ændret. Du er logget ud alle andre steder."), "success")
    return redirect(url_for("account.index"))


@bp.post("/language")
def language():  # type: ignore[no-untyped-def]
    try:
        users.set_language(db(), user=current_user, language=request.form.get("language", ""))
    except DomainError as exc:
        message, errors = exc.translated(gettext)
        return _page(errors=errors, message=message, status=422)
    db().commit()
    flash(gettext("Dit sprog er gemt"), "success")
    return redirect(url_for("account.index"))


@bp.post("/tokens")
def create_token():  # type: ignore[no-untyped-def]
    token = users.issue_api_token(db(), user=current_user, now=now(), actor=current_user)
    db().commit()
    return _page(new_token=token, status=201)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):  # type: ignore[no-untyped-def]
    token = users.api_token_of(db(), user=current_user, token_id=token_id)
    users.revoke_api_token(db(), token=token, actor=current_user, now=now())
    db().commit()
    flash(gettext("Adgangsnøglen er tilbagekaldt og virker ikke længere"), "success")
    return redirect(url_for("account.index"))
