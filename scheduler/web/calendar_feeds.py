"""The advisor's calendar feed URL: no login, the secret token is the key; unknown or revoked is a 404."""
from __future__ import annotations

from flask import Blueprint, Response, abort

from ..services import calendar_feeds
from .context import booking_context, db, services

bp = Blueprint("calendar_feeds", __name__)


@bp.get("/feeds/<token>.ics")
def feed(token: str):  # type: ignore[no-untyped-def]
    user = calendar_feeds.user_for_feed(db(), token=token)
    if user is None:
        abort(404)
    renderer = services().mailer.renderer
    calendar = calendar_feeds.build_feed(db(), ctx=booking_context(), user=user,
                                         translate=lambda message: renderer.gettext(user.language, message))
    return Response(calendar.to_ical(), mimetype="text/calendar", headers={
        "Content-Disposition": 'inline; filename="udskrivningssamtaler.ics"',
        "Cache-Control": "no-store, private",
        "X-Robots-Tag": "noindex, nofollow",
    })
