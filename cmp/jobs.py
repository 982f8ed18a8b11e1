"""The scheduled jobs, as data: one row per job, each a plain function the CLI and tests call."""

from __future__ import annotations

from .audit_jobs import checkpoint_chains, erase_past_retention
from .expiry import expire_consents
from .jobspec import Job, JobContext, every

__all__ = ["JOBS", "Job", "JobContext", "UnknownJob", "find_job"]


class UnknownJob(LookupError):
    """No job has this id."""


# Ids are stable: job_runs and job_leases refer to them. Adding a job is adding a row.
JOBS: tuple[Job, ...] = (
    Job("expire_consents", expire_consents,
        lambda settings: every(minutes=settings.expire_interval_minutes),
        "Mark consents past their lifetime expired and log an expired event for each."),
    Job("checkpoint_chains", checkpoint_chains,
        lambda settings: every(hours=settings.checkpoint_interval_hours),
        "Sign a checkpoint of every site's consent-log head."),
    Job("erase_past_retention", erase_past_retention, lambda settings: every(hours=24),
        "Erase the pseudonymous fields of events older than the retention period."),
)


def find_job(job_id: str) -> Job:
    """The job with this id.

    :raises UnknownJob: naming the ids there are.
    """
    for job in JOBS:
        if job.id == job_id:
            return job
    raise UnknownJob(f"no job {job_id!r}; jobs: {', '.join(job.id for job in JOBS)}")
