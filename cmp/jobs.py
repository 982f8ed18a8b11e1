"""The scheduled jobs, as data: one row per job, each a plain function the CLI and tests call."""

from __future__ import annotations

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
)


def find_job(job_id: str) -> Job:
    """The job with this id.

    :raises UnknownJob: naming the ids there are.
    """
    for job in JOBS:
        if job.id == job_id:
            return job
    raise UnknownJob(f"no job {job_id!r}; jobs: {', '.join(job.id for job in JOBS)}")
