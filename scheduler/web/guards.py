"""One way for a blueprint to say who may use it."""
from __future__ import annotations

from flask import Blueprint, abort, current_app
from flask_login import current_user

from ..models import Role


def only_for(bp: Blueprint, *roles: Role) -> None:
    """Every route of `bp`: anonymous users go to the login page, other roles get 403."""

    @bp.before_request
    def check_role():  # type: ignore[no-untyped-def]
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        if current_user.role not in roles:
            abort(403)
        return None
