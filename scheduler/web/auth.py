"""Log in and out with e-mail and password."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user

from ..services.users import authenticate
from .context import db

bp = Blueprint("auth", __name__)


def _start_page() -> str:
    """Where each role starts: advisors at their invitations, everyone else at the meetings."""
    if current_user.is_authenticated and current_user.role.value == "advisor":
        return url_for("advisor.index")
    return url_for("meetings.index")


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another host after login."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc \
            and "\\" not in target:
        return target
    return _start_page()


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    error = None
    email = request.form.get("email", "")
    if request.method == "POST":
        user = authenticate(db(), email=email, password=request.form.get("password", ""))
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        error = gettext("Forkert e-mail eller adgangskode")
    return render_template("login.html", email=email, error=error), 401 if error else 200


@bp.post("/logout")
@login_required
def logout():  # type: ignore[no-untyped-def]
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/")
@login_required
def home():  # type: ignore[no-untyped-def]
    return redirect(_start_page())
