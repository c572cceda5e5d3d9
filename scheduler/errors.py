"""Domain errors: what a user can fix, with the field it concerns.

Messages are gettext message ids (Danish, the default language) with %-style parameters;
they are translated at the edge (web page or API response), so services stay free of Flask.
"""
from __future__ import annotations


def N_(message: str) -> str:
    """Mark a message id for extraction without translating it here."""
    return message


class DomainError(Exception):
    status_code = 422

    def __init__(self, message: str, *, field: str | None = None,
                 fields: dict[str, str] | None = None, **params: object):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params
        self.fields = dict(fields or {})
        if field:
            self.fields.setdefault(field, message % params if params else message)


class InvalidInput(DomainError):
    status_code = 422


class Conflict(DomainError):
    status_code = 409


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403
