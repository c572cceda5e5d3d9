"""The scheduled jobs as wired together: one pass of `run_due_jobs` reads due busy feeds."""
from sqlmodel import func, select

from scheduler.jobs import run_due_jobs
from scheduler.models import BusyInterval
from scheduler.services.busy_feeds import set_busy_feed

from .busy_feed_server import GOOD_FEED, GOOD_FEED_BUSY_COUNT, FeedServer


def test_busy_feeds_are_refreshed_by_the_jobs(mail_app, session, factory, now):
    advisor = factory.advisor("0540")
    with FeedServer() as server:
        server.serve(GOOD_FEED)
        set_busy_feed(session, user=advisor, url=server.url, now=now)
        session.commit()
        done = run_due_jobs(mail_app.extensions["scheduler"])
        assert done["busy_feeds"] == 1
        assert session.exec(select(func.count()).select_from(BusyInterval)).one() == GOOD_FEED_BUSY_COUNT
        session.commit()
        assert run_due_jobs(mail_app.extensions["scheduler"])["busy_feeds"] == 0  # not due again yet
