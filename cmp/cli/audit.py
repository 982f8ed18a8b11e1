"""``flask cmp verify|export|checkpoint|erase|token``: the auditor's and operator's commands."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError

from .. import admin_tokens, audit, export
from ..audit_schemas import ExportQuerySchema
from ..config import Settings
from ..extensions import db
from ..models import ChainHead, Consent, Site
from ..schemas import flatten_errors
from . import cmp_group

# Ids and seqs are BIGINT: a larger number would overflow in the driver, not fail cleanly.
MAX_ID = 2**63 - 1
ID = click.IntRange(1, MAX_ID)


def _settings() -> Settings:
    return current_app.config["CMP_SETTINGS"]


def _site_id(site_key: str) -> int:
    site_id = db.session.scalar(sa.select(Site.id).where(Site.key == site_key))
    if site_id is None:
        raise click.ClickException(f"no site with key {site_key!r}")
    return site_id


# --- verify -----------------------------------------------------------------------------------


def _report(label: str, result: audit.VerifyResult) -> bool:
    if result.ok:
        click.echo(f"{label}: OK — {result.events} events (up to seq {result.last_seq}), "
                   f"{result.erased} with erased fields, {result.checkpoints} checkpoints match")
        return True
    click.echo(f"{label}: BROKEN at seq {result.broken_seq}: {result.problem} — {result.detail}",
               err=True)
    return False


@cmp_group.command("verify")
@click.option("--site", "site_key", help="Only this site (default: every site).")
@click.option("--since", type=ID, help="Start at this seq (trusting before).")
@click.option("--bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify an export bundle instead of the database (no database needed).")
@click.option("--signatures", is_flag=True,
              help="With --bundle: also check checkpoint signatures with this service's key.")
def verify(site_key: str | None, since: int | None, bundle: Path | None, signatures: bool) -> None:
    """Recompute the consent log's hash chain and check its signed checkpoints."""
    if bundle is not None:
        _verify_bundle(bundle, _settings().secret_key if signatures else None)
        return
    query = sa.select(Site.id, Site.key).join(ChainHead, ChainHead.site_id == Site.id)
    if site_key is not None:
        query = query.where(Site.id == _site_id(site_key))
    all_ok = True
    for site_id, key in db.session.execute(query.order_by(Site.key)).all():
        all_ok &= _report(f"site {key}", audit.verify_chain(site_id, _settings().secret_key, since))
    if not all_ok:
        sys.exit(1)


def _verify_bundle(path: Path, secret_key: str | None) -> None:
    try:
        result = export.verify_bundle(path, secret_key)
    except (export.BundleError, OSError) as error:
        raise click.ClickException(f"{path}: not a cmp bundle ({error})") from None
    if not _report(f"bundle {path} (site {result.site}, {result.snapshots} snapshots)",
                   result.chain):
        sys.exit(1)


# --- export -----------------------------------------------------------------------------------


class Progress:
    """Rows and rate on one stderr line, only when stderr is a terminal."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.rows = 0
        self.started = self.shown = time.monotonic()

    def __call__(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if self.enabled and now - self.shown >= 0.25:
            self.shown = now
            self._line(now)

    def done(self) -> None:
        if self.enabled:
            self._line(time.monotonic())
            self.stream.write("\n")

    def _line(self, now: float) -> None:
        rate = self.rows / max(now - self.started, 1e-6)
        self.stream.write(f"\r{self.rows:,} rows  {rate:,.0f} rows/s")
        self.stream.flush()


@contextmanager
def _output(path: Path | None, binary: bool = False) -> Iterator[IO[Any]]:
    """stdout, or a file that appears only once complete (a failed export clobbers nothing)."""
    if path is None:
        yield sys.stdout.buffer if binary else sys.stdout
        return
    handle, temporary = _temporary_beside(path)
    try:
        with os.fdopen(handle, "wb" if binary else "w", encoding=None if binary else "utf-8",
                       newline=None if binary else "") as out:
            yield out
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _temporary_beside(path: Path) -> tuple[int, str]:
    """A temporary file in ``path``'s directory (so the final rename is atomic), or a message."""
    directory = path.resolve().parent
    if not directory.is_dir():
        raise click.ClickException(f"{path}: the directory {directory} does not exist")
    try:
        return tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
    except OSError as error:
        raise click.ClickException(f"{path}: cannot write there ({error.strerror})") from None


def _filters(values: dict[str, str | None]) -> tuple[str, export.ExportFilters]:
    given = {k: v for k, v in values.items() if v is not None}
    try:
        loaded = ExportQuerySchema().load(given)
    except ValidationError as error:
        problems = "; ".join(f"--{k}: {', '.join(v)}" for k, v in
                             flatten_errors(error.messages).items())
        raise click.UsageError(problems) from None
    fmt = loaded.pop("format")
    return fmt, export.ExportFilters(**loaded)


@cmp_group.command("export")
@click.option("--site", "site_key", required=True, help="The site whose log to export.")
@click.option("--format", "fmt", default="csv", show_default=True, help="csv or ndjson.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (default: standard output).")
@click.option("--from", "since", help="Only events at or after this time (ISO 8601, UTC).")
@click.option("--to", "until", help="Only events before this time.")
@click.option("--kind", help="Only events of this kind (given, updated, withdrawn, …).")
@click.option("--purpose", help="Only events that decided this purpose.")
@click.option("--vendor", help="Only events that decided this vendor.")
@click.option("--bundle", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the whole chain, snapshots, checkpoints and a README as one zip.")
def export_command(site_key: str, fmt: str, output: Path | None, bundle: Path | None,
                   **filters: str | None) -> None:
    """Export a site's consent log, streaming, with rows and rate on the terminal."""
    fmt, chosen = _filters({"format": fmt, "from": filters["since"], "to": filters["until"],
                            "kind": filters["kind"], "purpose": filters["purpose"],
                            "vendor": filters["vendor"]})
    try:
        target = export.site_target(site_key, "cli")
    except export.ExportError as error:
        raise click.ClickException(str(error)) from None
    progress = Progress()
    if bundle is not None:
        if chosen != export.ExportFilters():
            raise click.UsageError("a bundle holds the whole chain (so it verifies): no filters")
        with _output(bundle, binary=True) as out:
            rows = export.write_bundle(target, out, progress)
        progress.done()
        click.echo(f"bundle {bundle}: {rows} records", err=True)
        return
    with _output(output) as out:
        for chunk in export.stream_export(target, fmt, chosen, progress):
            out.write(chunk)
    progress.done()
    if output is not None:
        click.echo(f"{output}: {progress.rows} rows", err=True)


# --- checkpoint, erase ------------------------------------------------------------------------


@cmp_group.command("checkpoint")
@click.option("--site", "site_key", help="Only this site (default: every site).")
def checkpoint(site_key: str | None) -> None:
    """Sign a checkpoint of the chain head now (the scheduler does it daily)."""
    query = sa.select(ChainHead.site_id, Site.key).join(Site, Site.id == ChainHead.site_id)
    if site_key is not None:
        query = query.where(Site.id == _site_id(site_key))
    for site_id, key in db.session.execute(query.order_by(Site.key)).all():
        made = audit.write_checkpoint(site_id, _settings().secret_key)
        click.echo(f"site {key}: checkpoint at seq {made.seq} {made.hash}")


@cmp_group.command("erase")
@click.argument("consent_id")
@click.option("--reason", default="erasure request", show_default=True,
              help="Why (kept in the log of this command).")
def erase(consent_id: str, reason: str) -> None:
    """Erase the pseudonymous fields of every event of CONSENT_ID (the chain still verifies)."""
    site_id = db.session.scalar(sa.select(Consent.site_id).where(Consent.id == consent_id))
    if site_id is None:
        raise click.ClickException(f"no consent with id {consent_id!r}")
    erased = audit.erase_consent(site_id, consent_id, reason)
    click.echo(f"consent {consent_id}: {erased} events erased, erased event logged")


# --- tokens -----------------------------------------------------------------------------------


@cmp_group.group("token")
def token_group() -> None:
    """Auditor and admin tokens for the admin API."""


def _token_call(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except admin_tokens.TokenError as error:
        raise click.ClickException(str(error)) from None


def _describe(info: admin_tokens.TokenInfo) -> str:
    state = "revoked" if info.revoked else "active"
    return (f"{info.id}\t{info.role}\t{info.site_key or '*'}\t{state}\t{info.label or ''}")


@token_group.command("create")
@click.option("--role", required=True, type=click.Choice(admin_tokens.ROLES))
@click.option("--site", "site_key", help="Bind the token to one site (default: every site).")
@click.option("--label", help="Who holds it, e.g. 'DPO Jane Roe'.")
def token_create(role: str, site_key: str | None, label: str | None) -> None:
    """Create a token and print it once: only its hash is kept."""
    info, secret = _token_call(lambda: admin_tokens.create_token(role, site_key, label))
    click.echo(f"token {info.id} ({role}, site {site_key or '*'}) — shown once, store it now:",
               err=True)
    click.echo(secret)


@token_group.command("list")
def token_list() -> None:
    """Every token: id, role, site, state, label."""
    for info in admin_tokens.list_tokens():
        click.echo(_describe(info))


@token_group.command("revoke")
@click.argument("token_id", type=ID)
def token_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID for good."""
    click.echo(_describe(_token_call(lambda: admin_tokens.revoke_token(token_id))))
