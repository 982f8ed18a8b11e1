"""The scheduler process (``flask cmp scheduler``): APScheduler fires each job of the JOBS table,
and every firing runs behind the job's database lease, so extra schedulers cannot double-run."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from flask import Flask

from . import clock
from .extensions import db
from .jobs import JOBS, Job
from .jobspec import period_start
from .leases import RunOutcome, new_holder, run_with_lease

log = logging.getLogger(__name__)


def run_scheduled(app: Flask, job: Job, trigger: BaseTrigger, holder: str) -> RunOutcome:
    """One firing: the run for the trigger period ``now`` falls in, if nobody ran it yet."""
    with app.app_context():
        try:
            now = clock.now()
            period = clock.isoformat(period_start(trigger, now))
            outcome = run_with_lease(job, app.config["CMP_SETTINGS"], period, holder, now)
        finally:
            db.session.remove()
    detail = outcome.reason or f"{outcome.rows_affected} rows"
    log.info("job %s period %s: %s (%s)", job.id, outcome.period, outcome.status, detail)
    return outcome


def build_scheduler(app: Flask, holder: str) -> BlockingScheduler:
    """A scheduler with one APScheduler job per JOBS row, each also fired once at start-up.

    The start-up firing catches up after downtime; the lease and ``job_runs`` turn it into a
    no-op when the current period already ran elsewhere.
    """
    settings = app.config["CMP_SETTINGS"]
    # coalesce + max_instances=1: a backlog of missed firings becomes one run, never overlapping.
    scheduler = BlockingScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    for job in JOBS:
        trigger = job.trigger_factory(settings)
        scheduler.add_job(run_scheduled, trigger=trigger, args=(app, job, trigger, holder),
                          id=job.id, name=job.id, next_run_time=datetime.now(UTC))
    return scheduler


def serve(app: Flask) -> None:
    """Run the scheduler until SIGTERM or SIGINT; a run in progress finishes first."""
    holder = new_holder()
    scheduler = build_scheduler(app, holder)

    def stop(signum: int, _frame: FrameType | None) -> None:
        if scheduler.running:
            log.info("scheduler %s: %s received, stopping", holder, signal.Signals(signum).name)
            scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler %s: running %s", holder, ", ".join(job.id for job in JOBS))
    scheduler.start()
    log.info("scheduler %s: stopped", holder)
