"""``flask cmp jobs``, ``flask cmp run-job NAME`` and ``flask cmp scheduler``."""

from __future__ import annotations

import click
from flask import current_app

from .. import clock, leases, scheduler
from ..jobs import JOBS, UnknownJob, find_job
from . import cmp_group


@cmp_group.command("jobs")
def list_jobs() -> None:
    """Every scheduled job, its trigger and its last run."""
    settings = current_app.config["CMP_SETTINGS"]
    for job in JOBS:
        click.echo(f"{job.id}  {job.trigger_factory(settings)}\n  {job.description}")
        run = leases.last_run(job.id)
        if run is None:
            click.echo("  last run: never")
            continue
        click.echo(f"  last run: {clock.isoformat(run.started_at)} {run.status}, "
                   f"{run.rows_affected} rows (period {run.period})")
        if run.error:
            click.echo(f"  error: {run.error}")


@cmp_group.command("run-job")
@click.argument("name")
def run_job(name: str) -> None:
    """Run the job NAME now, through its lease (never beside a scheduled run of it)."""
    try:
        job = find_job(name)
    except UnknownJob as error:
        raise click.ClickException(str(error)) from None
    now = clock.now()
    # A manual run has a period of its own: it is an extra run, not the scheduled one.
    outcome = leases.run_with_lease(
        job, current_app.config["CMP_SETTINGS"], f"manual:{clock.isoformat(now)}", now=now
    )
    if outcome.status != "succeeded":
        raise click.ClickException(f"{job.id}: {outcome.status}: {outcome.reason}")
    click.echo(f"{job.id}: {outcome.rows_affected} rows affected (run {outcome.run_id})")


@cmp_group.command("scheduler")
def run_scheduler() -> None:
    """Run the scheduled jobs in this process until SIGTERM/SIGINT (one per deployment is
    enough; extra ones are harmless: each run takes a database lease)."""
    scheduler.serve(current_app._get_current_object())  # type: ignore[attr-defined]
