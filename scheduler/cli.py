"""The `discharge-scheduler` console script, built on Flask's CLI."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, routes_command, shell_command, with_appcontext

from . import freeze_startup_objects
from .config import ConfigError
from .db import new_session
from .errors import DomainError
from .models import Role


def _services():  # type: ignore[no-untyped-def]
    return current_app.extensions["scheduler"]


def _fail(exc: DomainError) -> None:
    message, fields = exc.translated(lambda text: text)
    details = "; ".join(f"{name}: {text}" for name, text in fields.items() if text != message)
    raise click.ClickException(f"{message} ({details or ', '.join(fields)})" if fields else message)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or upgrade the database schema (Alembic migrations) and load the country's municipalities."""
    from .migrate import upgrade_database
    from .services.reference import load_municipalities

    services = _services()
    upgrade_database(services.engine)
    with new_session(services.engine) as session:
        added = load_municipalities(session, country=services.config.app.country)
        session.commit()
    click.echo(f"Database is at the newest schema; {added} new municipalities ({services.config.app.country}).")


@click.command("demo-data")
@with_appcontext
def demo_data_command() -> None:
    """Load demo hospitals, wards, users and advisors (safe to run again)."""
    from .services.demo import DEMO_PASSWORD, load_demo_data

    from .services.demo_history import load_demo_history

    services = _services()
    with new_session(services.engine) as session:
        logins = load_demo_data(session)
        past = load_demo_history(session, now=services.clock(), zone=services.config.zone,
                                 followup_days=services.config.offers.followup_days)
        session.commit()
    if past:
        click.echo(f"{past} past demo meetings with recorded offers added for the dashboard.")
    click.echo(f"Demo data loaded. Log in at {_services().config.app.base_url} with password {DEMO_PASSWORD}:")
    for email, role in logins:
        click.echo(f"  {role:<12} {email}")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--ward", "wards", multiple=True, help="Ward code (secretaries; may repeat).")
@click.option("--municipality", help="Municipality code (advisors; a coordinator of one municipality).")
@click.option("--region", help="Region code, e.g. DK-83 (a coordinator of a whole region).")
@click.option("--password", help="Password for logging in to the web app.")
@click.option("--api-token", is_flag=True, help="Print a new API token as the last line.")
@with_appcontext
def create_user_command(email: str, name: str, role: str, wards: tuple[str, ...], municipality: str | None,
                        region: str | None, password: str | None, api_token: bool) -> None:
    """Create or update a user."""
    from .services.users import check_new_password, create_user, issue_api_token

    services = _services()
    with new_session(services.engine) as session:
        try:
            if password is not None:  # the same rules as a password set on the web pages
                check_new_password(password, email=email, field="password")
            user = create_user(session, email=email, name=name, role=Role(role), password=password,
                               ward_codes=list(wards), municipality_code=municipality, region_code=region,
                               language=services.config.app.language)
        except DomainError as exc:
            _fail(exc)
        token = issue_api_token(session, user=user, now=services.clock()) if api_token else None
        session.commit()
        click.echo(f"User {user.email} ({user.role.value}) saved.")
        if token:
            click.echo(token)


@click.command("jobs")
@click.option("--once", is_flag=True, help="Run every job once and exit (for cron and tests).")
@with_appcontext
def jobs_command(once: bool) -> None:
    """Run the scheduled jobs: outbox, reminders, escalations, video-link retries, busy feeds, retention."""
    from .jobs import make_scheduler, run_due_jobs

    if once:
        for name, count in run_due_jobs(_services()).items():
            click.echo(f"{name}: {count}")
        return
    click.echo("Running scheduled jobs; stop with Ctrl+C.")
    freeze_startup_objects()
    try:
        make_scheduler(_services(), blocking=True).start()
    except (KeyboardInterrupt, SystemExit):
        pass


@click.command("rotate-cpr-keys")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="CPR numbers re-encrypted per transaction.")
@with_appcontext
def rotate_cpr_keys_command(batch_size: int) -> None:
    """Re-encrypt every stored CPR number with the first key of SCHEDULER_CPR_KEYS ("new,old")."""
    from .crypto import CprKeyError
    from .services.cpr import rotate_stored_cprs

    try:
        count = rotate_stored_cprs(_services().engine, batch_size=batch_size,
                                   on_batch=lambda done: click.echo(f"  {done} so far ...", err=True))
    except CprKeyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{count} CPR numbers re-encrypted with the newest key. "
               "The old key can be removed from SCHEDULER_CPR_KEYS once every process runs with the new list.")


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@with_appcontext
def run_command(host: str, port: int, threads: int) -> None:
    """Serve the app (waitress). For several workers use gunicorn 'scheduler.wsgi:app'."""
    from waitress import serve

    from .jobs import make_scheduler

    scheduler = None
    if _services().config.jobs.run_in_web:
        scheduler = make_scheduler(_services(), blocking=False)
        scheduler.start()
        click.echo("Scheduled jobs run in this process (jobs.run_in_web).")
    click.echo(f"Serving on http://{host}:{port}")
    freeze_startup_objects()
    try:
        serve(current_app._get_current_object(), host=host, port=port, threads=threads)  # type: ignore[attr-defined]
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)


def register_commands(app: Flask) -> None:
    from .cli_export import export_group

    for command in (init_db_command, demo_data_command, create_user_command, jobs_command,
                    rotate_cpr_keys_command, run_command, export_group):
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
