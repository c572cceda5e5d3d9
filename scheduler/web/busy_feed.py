"""The advisor's own busy calendar: register, change or remove its address, fetch it now, see its state."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from ..errors import DomainError
from ..models import BusyFeed, Role
from ..services import busy_feeds
from .context import db, now, services
from .guards import only_for

bp = Blueprint("busy_feed", __name__, url_prefix="/advisor/busy-feed")


only_for(bp, Role.advisor)


@bp.route("", methods=["GET", "POST"])
def show():  # type: ignore[no-untyped-def]
    errors: dict[str, str] = {}
    message = None
    form = {"url": request.form.get("url", "")}
    if request.method == "POST":
        url = None if request.form.get("action") == "remove" else form["url"]
        try:
            feed = busy_feeds.set_busy_feed(db(), user=current_user, url=url, now=now())
            db().commit()
        except DomainError as exc:
            db().rollback()
            message, errors = exc.translated(gettext)
        else:
            if feed is None:
                flash(gettext("Din kalender er fjernet. Dens optagede tider blokerer ikke længere."), "success")
            elif feed.fetched_at is None:  # a new address: read it at once, so she sees whether it works
                _refresh(feed)
            else:
                flash(gettext("Adressen er gemt"), "success")
            return redirect(url_for("busy_feed.show"))
    status = busy_feeds.feed_status(db(), user=current_user)
    if request.method == "GET" and status is not None:
        form["url"] = status.url
    problem = status.problem if status else None
    return render_template("busy_feed/show.html", form=form, errors=errors, message=message, status=status,
                           problem_message=gettext(problem.message) if problem else None), 422 if errors else 200


@bp.post("/refresh")
def refresh():  # type: ignore[no-untyped-def]
    feed = busy_feeds.feed_of(db(), user=current_user)
    if feed is None:
        flash(gettext("Du har ikke tilknyttet en kalender endnu"), "error")
    else:
        _refresh(feed)
    return redirect(url_for("busy_feed.show"))


def _refresh(feed: BusyFeed) -> None:
    # End the request's transaction first: on SQLite it holds the write lock, and a feed may be slow.
    db().commit()
    jobs = services().config.jobs
    with busy_feeds.http_session() as http:
        ok = busy_feeds.refresh_busy_feed(db(), feed=feed, http=http, timeout=jobs.busy_feed_timeout_seconds,
                                          max_bytes=jobs.busy_feed_max_bytes, now=now(), zone=services().rules.zone)
    db().commit()
    if ok:
        flash(gettext("Kalenderen er hentet. Dens optagede tider bliver ikke tilbudt til møder."), "success")
    else:
        flash(gettext("Kalenderen kunne ikke hentes. Se problemet herunder."), "error")
