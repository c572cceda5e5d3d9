"""The `discharge-scheduler` console script, built on Flask's CLI."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext

from .config import ConfigError
from .db import new_session
from .errors import DomainError
from .models import Role


def _services():  # type: ignore[no-untyped-def]
    return current_app.extensions["scheduler"]


def _fail(exc: DomainError) -> None:
    fields = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
    raise click.ClickException(f"{exc}" + (f" ({fields})" if fields else ""))


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from .migrate import upgrade_database

    upgrade_database(_services().engine)
    click.echo("Database is at the newest schema.")


@click.command("demo-data")
@with_appcontext
def demo_data_command() -> None:
    """Load demo hospitals, wards, users and advisors (safe to run again)."""
    from .services.demo import DEMO_PASSWORD, load_demo_data

    with new_session(_services().engine) as session:
        logins = load_demo_data(session)
        session.commit()
    click.echo(f"Demo data loaded. Log in at {_services().config.app.base_url} with password {DEMO_PASSWORD}:")
    for email, role in logins:
        click.echo(f"  {role:<12} {email}")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--ward", "wards", multiple=True, help="Ward code (secretaries; may repeat).")
@click.option("--municipality", help="Municipality code (advisors).")
@click.option("--password", help="Password for logging in to the web app.")
@click.option("--api-token", is_flag=True, help="Print a new API token as the last line.")
@with_appcontext
def create_user_command(email: str, name: str, role: str, wards: tuple[str, ...], municipality: str | None,
                        password: str | None, api_token: bool) -> None:
    """Create or update a user."""
    from .services.users import create_user, issue_api_token

    services = _services()
    with new_session(services.engine) as session:
        try:
            user = create_user(session, email=email, name=name, role=Role(role), password=password,
                               ward_codes=list(wards), municipality_code=municipality)
        except DomainError as exc:
            _fail(exc)
        token = issue_api_token(session, user=user, now=services.clock()) if api_token else None
        session.commit()
        click.echo(f"User {user.email} ({user.role.value}) saved.")
        if token:
            click.echo(token)


@click.command("retry-video-links")
@with_appcontext
def retry_video_links_command() -> None:
    """Try again to create the video links of meetings waiting for one."""
    from .services.booking import pending_video_meetings, retry_video_link
    from .web.context import booking_context

    with new_session(_services().engine) as session:
        meetings = pending_video_meetings(session, now=_services().clock())
        created = 0
        for meeting in meetings:
            created += retry_video_link(session, ctx=booking_context(), meeting=meeting, actor=None)
            session.commit()
    click.echo(f"{created} of {len(meetings)} waiting meetings got their link.")


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@with_appcontext
def run_command(host: str, port: int, threads: int) -> None:
    """Serve the app (waitress). For several workers use gunicorn 'scheduler.wsgi:app'."""
    from waitress import serve

    click.echo(f"Serving on http://{host}:{port}")
    serve(current_app._get_current_object(), host=host, port=port, threads=threads)  # type: ignore[attr-defined]


def register_commands(app: Flask) -> None:
    for command in (init_db_command, demo_data_command, create_user_command, retry_video_links_command,
                    run_command):
        app.cli.add_command(command)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


cli = FlaskGroup(create_app=_create_app, add_default_commands=False, load_dotenv=False,
                 help="Virtual discharge-meeting scheduler.")
cli.add_command(shell_command)
cli.add_command(routes_command)


def main() -> None:
    try:
        cli(prog_name="discharge-scheduler")
    except ConfigError as exc:
        click.echo(f"Configuration error: {exc}", err=True)
        raise SystemExit(2) from None
