"""`discharge-scheduler export ...`: the pseudonymised uptake log to a file, with a progress bar."""
from __future__ import annotations

import getpass
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlmodel import select

from .db import new_session
from .errors import DomainError
from .models import Municipality


def _os_user() -> str:
    """Who ran the command: the command line has no login, so the audit names the operating-system account."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@click.group("export")
def export_group() -> None:
    """Export evaluation data (pseudonymised: no names, CPR numbers, notes or contact data)."""


@export_group.command("uptake")
@click.option("--from", "start", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="First meeting date (local), YYYY-MM-DD.")
@click.option("--to", "end", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Last meeting date (local), YYYY-MM-DD.")
@click.option("--municipality", "municipalities", multiple=True,
              help="Municipality code (may repeat); none: every municipality.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "json"]), default="csv", show_default=True)
@click.option("--separator", type=click.Choice([";", ","]), default=";", show_default=True, help="CSV only.")
@click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path))
@with_appcontext
def export_uptake_command(start: datetime, end: datetime, municipalities: tuple[str, ...], fmt: str,
                          separator: str, output: Path) -> None:
    """The uptake log: one row per offer presented, with a pseudonymous patient key."""
    from .services import audit, exports

    services = current_app.extensions["scheduler"]
    zone = services.config.zone
    key = exports.export_key(configured=services.config.statistics.export_key,
                             secret_key=current_app.config["SECRET_KEY"])
    with new_session(services.engine) as session:
        known = set(session.exec(select(Municipality.code)))
        unknown = sorted(set(municipalities) - known)
        if unknown:
            raise click.BadParameter(f"unknown municipality code {unknown[0]}", param_hint="--municipality")
        codes = sorted(set(municipalities)) or sorted(known)
        try:
            total = exports.count_uptake_rows(session, start=start.date(), end=end.date(), municipality_codes=codes,
                                              zone=zone)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from None
        covered = audit.export_detail(start=start.date(), end=end.date(), municipality_codes=codes, fmt=fmt)
        audit.record(session, actor=None, action=audit.EXPORT, object_type=audit.UPTAKE_LOG, now=services.clock(),
                     detail=f"command line os_user={_os_user()} {covered} rows={total}")
        session.commit()
    rows = exports.uptake_rows(services.engine, start=start.date(), end=end.date(), municipality_codes=codes,
                               zone=zone, key=key)
    # Written next to the target and renamed at the end: a half-written export never looks finished.
    handle, temporary = tempfile.mkstemp(dir=output.resolve().parent, prefix=f".{output.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file, click.progressbar(
                length=total, label="Exporting", file=sys.stderr) as bar:
            for chunk in exports.export_chunks(exports.counted(rows, bar.update), fmt=fmt,
                                               separator=separator):
                file.write(chunk)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    click.echo(f"{total} rows written to {output}", err=True)
