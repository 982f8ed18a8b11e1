"""The scheduler process (``flask cmp scheduler``): APScheduler fires each job of the JOBS table,
and every firing runs behind the job's database lease, so extra schedulers cannot double-run."""

from __future__ import annotations

import logging
import os
import signal
import socket
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from flask import Flask

from . import clock
from .extensions import db
from .jobs import JOBS, Job
from .jobspec import period_start
from .leases import RunOutcome, run_with_lease

log = logging.getLogger(__name__)


def run_scheduled(app: Flask, job: Job, trigger: BaseTrigger) -> RunOutcome:
    """One firing: the run for the trigger period ``now`` falls in, if nobody ran it yet.

    Each firing is a holder of its own, so even two firings in one process exclude each other.
    """
    with app.app_context():
        try:
            now = clock.now()
            period = clock.isoformat(period_start(trigger, now))
            outcome = run_with_lease(job, app.config["CMP_SETTINGS"], period, now=now)
        finally:
            db.session.remove()
    detail = outcome.reason or f"{outcome.rows_affected} rows"
    log.info("job %s period %s: %s (%s)", job.id, outcome.period, outcome.status, detail)
    return outcome


def build_scheduler(app: Flask) -> BlockingScheduler:
    """A scheduler with one APScheduler job per JOBS row, plus one firing of each at start-up.

    The start-up firing catches up after downtime; the lease and ``job_runs`` turn it into a
    no-op when the current period already ran elsewhere. The regular firings stay on the
    trigger's own grid, so every scheduler process fires at the same moments.
    """
    settings = app.config["CMP_SETTINGS"]
    # coalesce + max_instances=1: a backlog of missed firings becomes one run, never overlapping.
    scheduler = BlockingScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    started = datetime.now(UTC)
    for job in JOBS:
        trigger = job.trigger_factory(settings)
        scheduler.add_job(run_scheduled, trigger=trigger, args=(app, job, trigger),
                          id=job.id, name=job.id)
        scheduler.add_job(run_scheduled, trigger="date", run_date=started,
                          args=(app, job, trigger), id=f"{job.id}@start", name=f"{job.id}@start")
    return scheduler


def serve(app: Flask) -> None:
    """Run the scheduler until SIGTERM or SIGINT; a run in progress finishes first."""
    scheduler = build_scheduler(app)
    process = f"{socket.gethostname()}:{os.getpid()}"

    def stop(signum: int, _frame: FrameType | None) -> None:
        if scheduler.running:
            log.info("scheduler %s: %s received, stopping", process, signal.Signals(signum).name)
            scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler %s: running %s", process, ", ".join(job.id for job in JOBS))
    scheduler.start()
    log.info("scheduler %s: stopped", process)
