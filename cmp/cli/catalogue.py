"""``flask cmp load-vendors`` and ``flask cmp init-demo``."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from .. import catalogue, sites
from ..api.edge import CONFIG_SERVICE_KEY
from ..extensions import db
from . import cmp_group

DEMO_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]


def _load(path: Path) -> catalogue.SyncResult:
    try:
        data, sha256 = catalogue.load_catalogue_file(path)
    except catalogue.CatalogueError as error:
        for line in error.lines():
            click.echo(f"{path}: {line}", err=True)
        raise click.ClickException(f"{len(error.lines())} error(s); nothing was loaded") from None
    try:
        result = catalogue.sync_catalogue(data, sha256)
    except Exception:
        db.session.rollback()
        raise
    current_app.extensions[CONFIG_SERVICE_KEY].forget()
    return result


def _report(path: Path, result: catalogue.SyncResult) -> None:
    if result.unchanged:
        click.echo(f"{path}: unchanged (catalogue version {result.version_id})")
        return
    click.echo(
        f"{path}: loaded {result.purposes} purposes, {result.vendors} vendors, "
        f"{result.cookies} cookies as catalogue version {result.version_id}"
    )
    if result.retired:
        click.echo(f"retired (kept for old records): {', '.join(result.retired)}")


@cmp_group.command("load-vendors")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def load_vendors(path: Path | None) -> None:
    """Validate vendors.yaml and sync it into the database in one transaction."""
    path = path or current_app.config["CMP_SETTINGS"].vendors_path
    _report(path, _load(path))


@cmp_group.command("init-demo")
def init_demo() -> None:
    """Load vendors.yaml and create the site ``demo`` if it is missing (used by make run)."""
    path = current_app.config["CMP_SETTINGS"].vendors_path
    _report(path, _load(path))
    try:
        sites.get_site("demo")
        click.echo("site demo: exists")
    except sites.SiteError:
        sites.create_site("demo", sites.SiteSpec(
            name="cmp demo shop", origins=DEMO_ORIGINS, all_vendors=True,
            languages=["en", "de"], privacy_policy_url="http://127.0.0.1:8000/privacy",
        ))
        click.echo("site demo: created for " + ", ".join(DEMO_ORIGINS))
