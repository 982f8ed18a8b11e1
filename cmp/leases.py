"""Exactly-once job runs: a database lease per job, and a ``job_runs`` row for each run."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from . import clock
from .config import Settings
from .extensions import db
from .jobspec import Job, JobContext
from .models import JobLease, JobRun
from .sql import upsertable_insert

log = logging.getLogger(__name__)

leases = JobLease.__table__
runs = JobRun.__table__
ERROR_LIMIT = 4000


class LeaseLost(RuntimeError):
    """Another runner took the job over (this run's lease ran out); the run must stop."""


@dataclass(frozen=True)
class RunOutcome:
    """What became of one attempt to run a job for a period."""

    job_id: str
    period: str
    status: str  # succeeded | failed | skipped
    rows_affected: int = 0
    run_id: int | None = None
    reason: str | None = None


def new_holder() -> str:
    """A name for this runner, unique across hosts and processes, readable in ``job_leases``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def take_lease(job_id: str, holder: str, period: str, lease_seconds: int) -> bool:
    """Take the job's lease if it is free, ran out, or is already ours; commit; report success.

    One statement, so two runners cannot both win: on PostgreSQL the loser's upsert waits for the
    winner's commit and then finds the lease live; on SQLite writers are serialised anyway.
    """
    now = clock.now()
    statement = upsertable_insert(leases).values(
        job_id=job_id, holder=holder, period=period,
        expires_at=now + timedelta(seconds=lease_seconds),
    )
    statement = statement.on_conflict_do_update(
        index_elements=[leases.c.job_id],
        set_={"holder": statement.excluded.holder, "period": statement.excluded.period,
              "expires_at": statement.excluded.expires_at},
        where=sa.or_(leases.c.expires_at < now, leases.c.holder == holder),
    ).returning(leases.c.holder)
    try:
        taken = db.session.execute(statement).scalar_one_or_none() is not None
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return taken


def renew_lease(job_id: str, holder: str, lease_seconds: int) -> None:
    """Push the lease's end out again, between units of work of a long run.

    :raises LeaseLost: when the lease is no longer ours.
    """
    renewed = db.session.execute(
        sa.update(leases).where(leases.c.job_id == job_id, leases.c.holder == holder)
        .values(expires_at=clock.now() + timedelta(seconds=lease_seconds))
    ).rowcount
    db.session.commit()
    if not renewed:
        raise LeaseLost(f"{holder} no longer holds the lease of {job_id}")


def release_lease(job_id: str, holder: str) -> None:
    """Let the next runner in at once instead of after the lease runs out."""
    db.session.execute(
        sa.update(leases).where(leases.c.job_id == job_id, leases.c.holder == holder)
        .values(expires_at=clock.now())
    )
    db.session.commit()


def _start_run(job_id: str, period: str, holder: str) -> int | None:
    """Record the run as running, or return None when the period already has a successful run.

    Runs still marked running belong to a runner whose lease ran out (we hold it now): they
    are closed as failed so ``job_runs`` tells what happened.
    """
    now = clock.now()
    db.session.execute(
        sa.update(runs).where(runs.c.job_id == job_id, runs.c.status == "running")
        .values(status="failed", finished_at=now,
                error="abandoned: the runner's lease ran out before it finished")
    )
    done = db.session.execute(
        sa.select(runs.c.id).where(
            runs.c.job_id == job_id, runs.c.period == period, runs.c.status == "succeeded"
        ).limit(1)
    ).scalar_one_or_none()
    if done is not None:
        db.session.commit()
        return None
    run_id = db.session.execute(
        sa.insert(runs).values(job_id=job_id, period=period, started_at=now, rows_affected=0,
                               status="running").returning(runs.c.id)
    ).scalar_one()
    db.session.commit()
    log.debug("job %s period %s: started by %s as run %s", job_id, period, holder, run_id)
    return run_id


def _finish_run(run_id: int, status: str, rows: int, error: str | None) -> None:
    db.session.execute(
        sa.update(runs).where(runs.c.id == run_id)
        .values(status=status, finished_at=clock.now(), rows_affected=rows, error=error)
    )
    db.session.commit()


def run_with_lease(job: Job, settings: Settings, period: str, holder: str | None = None,
                   now: datetime | None = None) -> RunOutcome:
    """Run ``job`` for ``period`` unless another runner holds its lease or already ran it.

    Failures are recorded in ``job_runs`` and returned, not raised: the scheduler must go on.
    """
    holder = holder or new_holder()
    if not take_lease(job.id, holder, period, settings.lease_seconds):
        return RunOutcome(job.id, period, "skipped", reason="another runner holds the lease")
    try:
        run_id = _start_run(job.id, period, holder)
        if run_id is None:
            return RunOutcome(job.id, period, "skipped", reason="this period already ran")
        context = JobContext(
            settings=settings, now=now or clock.now(), period=period,
            keep_alive=lambda: renew_lease(job.id, holder, settings.lease_seconds),
        )
        return _execute(job, context, run_id)
    finally:
        release_lease(job.id, holder)


def _execute(job: Job, context: JobContext, run_id: int) -> RunOutcome:
    try:
        rows = job.func(context)
    except Exception as error:  # recorded in job_runs: the scheduler must go on
        db.session.rollback()
        log.exception("job %s period %s failed", job.id, context.period)
        message = f"{type(error).__name__}: {error}"[:ERROR_LIMIT]
        _finish_run(run_id, "failed", 0, message)
        return RunOutcome(job.id, context.period, "failed", 0, run_id, message)
    _finish_run(run_id, "succeeded", rows, None)
    return RunOutcome(job.id, context.period, "succeeded", rows, run_id)


def last_run(job_id: str) -> JobRun | None:
    """The job's most recent run, whatever became of it."""
    return db.session.scalar(
        sa.select(JobRun).where(JobRun.job_id == job_id)
        .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1)
    )
