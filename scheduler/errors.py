"""Domain errors: what a user can fix, with the field it concerns.

Messages are gettext message ids (Danish, the default language) with %-style parameters;
they are translated at the edge (web page or API response), so services stay free of Flask.
"""
from __future__ import annotations

from typing import Callable


def N_(message: str) -> str:
    """Mark a message id for extraction without translating it here."""
    return message


def _format(message: str, params: dict[str, object]) -> str:
    try:
        return message % params if params else message
    except (KeyError, TypeError, ValueError):
        return message


class DomainError(Exception):
    status_code = 422

    def __init__(self, message: str, *, field: str | None = None,
                 fields: dict[str, str] | None = None, **params: object):
        super().__init__(_format(message, params))
        self.message = message
        self.params = params
        self.fields = dict(fields or {})  # field -> message id
        if field:
            self.fields.setdefault(field, message)

    def translated(self, gettext: Callable[[str], str]) -> tuple[str, dict[str, str]]:
        """(message, {field: message}) in the reader's language."""
        return (_format(gettext(self.message), self.params),
                {name: _format(gettext(msg), self.params) for name, msg in self.fields.items()})


class InvalidInput(DomainError):
    status_code = 422


class Conflict(DomainError):
    status_code = 409


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403
