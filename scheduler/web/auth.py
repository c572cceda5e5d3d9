"""Log in and out, and keep each session honest: it ends after `security.session_idle_minutes` without a
request, when she logs out (on the server too: services/sessions.py), when her password changes
elsewhere, and when she is deactivated."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user

from ..models import User
from ..schemas import MAX_EMAIL
from ..services import sessions
from ..services.users import LoginPolicy, log_in, session_version
from .context import db, now, services

bp = Blueprint("auth", __name__)

SEEN_AT = "seen_at"  # the clock's time (seconds) of the session's last request
VERSION = "password_version"  # users.session_version when the session began
SESSION_ID = "session_id"  # the server's record of this session (services/sessions.py)
PASSES = ("static", "api")  # no session check: files, and the API (bearer tokens, no cookies)


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


def _clock_seconds() -> int:
    return int(now().timestamp())


def _idle() -> timedelta:
    return timedelta(minutes=services().config.security.session_idle_minutes)


def load_session_user(user_id: str) -> User | None:
    """Flask-Login's user loader: an active user whose password is the one this session began with,
    in a session the server still holds open."""
    user = db().get(User, int(user_id)) if user_id.isdigit() else None
    if user is None or not user.is_active or session.get(VERSION) != session_version(user):
        return None
    if not sessions.is_live(db(), token=session.get(SESSION_ID), user_id=user.id, now=now(), idle=_idle()):
        return None
    return user


def start_session(user: User) -> None:
    """Sign her in (the caller commits, which opens the server's record of the session)."""
    session.clear()  # nothing from before the login survives
    login_user(user)
    session[SESSION_ID] = sessions.start(db(), user=user, now=now())
    keep_session(user)


def keep_session(user: User) -> None:
    """Mark the session current for `user` (after login, or after she changed her own password)."""
    session[VERSION] = session_version(user)
    session[SEEN_AT] = _clock_seconds()


def end_session() -> None:
    sessions.end(db(), token=session.get(SESSION_ID), now=now())
    db().commit()
    logout_user()
    for key in (VERSION, SEEN_AT, SESSION_ID):
        session.pop(key, None)


@bp.before_app_request
def check_session():  # type: ignore[no-untyped-def]
    """End a session that sat idle too long or whose user can no longer use it; pages that need a
    login then send her to the login page, where the message is shown."""
    if request.blueprint in PASSES or request.endpoint in PASSES or "_user_id" not in session:
        return
    seen_at = session.get(SEEN_AT)
    idle_minutes = services().config.security.session_idle_minutes
    if not isinstance(seen_at, int) or _clock_seconds() - seen_at > idle_minutes * 60:
        end_session()
        flash(gettext("Du er blevet logget ud, fordi du ikke har brugt systemet i %(minutes)s minutter. "
                      "Log ind igen.", minutes=idle_minutes), "warn")
    elif not current_user.is_authenticated:  # deactivated, password changed, or the session moved
        end_session()
        flash(gettext("Din session er afsluttet. Log ind igen."), "warn")
    else:
        session[SEEN_AT] = _clock_seconds()
        if db().dirty:  # the server's record noted this use (at most once a minute)
            db().commit()


@bp.route("/login", methods=["GET", "POST"])
def login():  # type: ignore[no-untyped-def]
    error, status = None, 200
    email = request.form.get("email", "")[:MAX_EMAIL]
    if request.method == "POST":
        result = log_in(db(), email=email, password=request.form.get("password", ""), now=now(),
                        policy=LoginPolicy.from_config(services().config))
        db().commit()  # the attempt counts whatever its outcome
        if result.user is not None:
            start_session(result.user)
            db().commit()
            return redirect(_safe_next(request.args.get("next")))
        if result.is_locked:
            error, status = gettext("Kontoen er låst efter for mange forkerte forsøg. Prøv igen om %(minutes)s "
                                    "minutter.", minutes=result.minutes_left(now())), 429
        else:
            error, status = gettext("Forkert e-mail eller adgangskode"), 401
    return render_template("auth/login.html", email=email, error=error), status


@bp.post("/logout")
@login_required
def logout():  # type: ignore[no-untyped-def]
    end_session()
    return redirect(url_for("auth.login"))


@bp.get("/")
@login_required
def home():  # type: ignore[no-untyped-def]
    return redirect(_start_page())
