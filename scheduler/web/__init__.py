"""Web set-up: language, login, CSRF, security headers, error pages, blueprints."""
from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from flask_babel import Babel, gettext
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from ..errors import N_, DomainError, InvalidInput
from .context import close_db, services

log = logging.getLogger(__name__)
LANGUAGES = ("da", "en", "nb")
csrf = CSRFProtect()

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def _locale() -> str:
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.language in LANGUAGES:
        return current_user.language
    return request.accept_languages.best_match(LANGUAGES) or services().config.app.language


def wants_json() -> bool:
    return request.path.startswith("/api/")


def _field_with_nul() -> str | None:
    """The first path part, query or form field holding a NUL character (JSON bodies: see schemas.py)."""
    fields = [*(request.view_args or {}).items(), *request.args.items(multi=True), *request.form.items(multi=True)]
    for name, value in fields:
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            return name
    return None


def setup_web(app: Flask) -> None:
    Babel(app, locale_selector=lambda: _locale() if request else app.config["BABEL_DEFAULT_LOCALE"])
    csrf.init_app(app)
    login = LoginManager(app)
    login.login_view = "auth.login"
    login.login_message = None
    login.session_protection = "strong"  # a session cookie used from another address or browser is dropped
    from .auth import load_session_user

    login.user_loader(load_session_user)

    from . import filters

    filters.register(app)
    app.teardown_appcontext(close_db)

    @app.before_request
    def refuse_nul_characters():  # type: ignore[no-untyped-def]
        """No one types a NUL character, and PostgreSQL cannot store one: refused before any view sees it."""
        field = _field_with_nul()
        if field is not None:
            raise InvalidInput(N_("Må ikke indeholde kontroltegn"), field=field)

    @app.after_request
    def security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if not request.path.startswith("/static/"):  # pages and API answers may hold personal data
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):  # type: ignore[no-untyped-def]
        message, fields = exc.translated(gettext)
        if wants_json():
            return jsonify(error=message, fields=fields), exc.status_code
        return render_template("error.html", message=message, status=exc.status_code), exc.status_code

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):  # type: ignore[no-untyped-def]
        message = gettext("Formularen er udløbet. Gå tilbage, genindlæs siden og prøv igen.")
        return render_template("error.html", message=message, status=400), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        messages = {
            400: gettext("Forespørgslen kunne ikke forstås"),
            401: gettext("Log ind for at fortsætte"),
            403: gettext("Du har ikke adgang til dette"),
            404: gettext("Siden findes ikke"),
            405: gettext("Metoden er ikke tilladt her"),
            410: gettext("Det findes ikke længere: personoplysningerne er slettet efter reglerne for opbevaring"),
            413: gettext("Forespørgslen er for stor"),
        }
        message = messages.get(exc.code or 500, exc.name)
        if wants_json():
            return jsonify(error=message, fields={}), exc.code
        return render_template("error.html", message=message, status=exc.code), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unexpected error on %s %s", request.method, request.path)
        session = g.get("db_session")
        if session is not None:
            session.rollback()
        message = gettext("Der skete en uventet fejl. Intet blev gemt. Prøv igen, eller kontakt support.")
        if wants_json():
            return jsonify(error=message, fields={}), 500
        return render_template("error.html", message=message, status=500), 500

    from ..api import api
    from .account import bp as account_bp
    from .admin_users import bp as admin_users_bp
    from .advisor import bp as advisor_bp
    from .answers import bp as answers_bp
    from .audit import bp as audit_bp
    from .auth import bp as auth_bp
    from .busy_feed import bp as busy_feed_bp
    from .calendar_feeds import bp as calendar_feeds_bp
    from .catalogue import bp as catalogue_bp
    from .dashboard import bp as dashboard_bp
    from .meetings import bp as meetings_bp
    from .recording import bp as recording_bp
    from .series import bp as series_bp

    csrf.exempt(api)
    app.register_blueprint(auth_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(admin_users_bp)
    app.register_blueprint(meetings_bp)
    app.register_blueprint(busy_feed_bp)
    app.register_blueprint(answers_bp)
    app.register_blueprint(advisor_bp)
    app.register_blueprint(calendar_feeds_bp)
    app.register_blueprint(recording_bp)
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(series_bp)
    app.register_blueprint(api)
