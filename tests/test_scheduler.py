"""Scheduled jobs: the CLI, the lease that makes each period run once, the scheduler process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from cmp import clock, jobs, leases
from cmp.extensions import db
from cmp.jobspec import Job, every, period_start
from cmp.models import Consent, JobRun

from .conftest import ROOT

pytestmark = pytest.mark.db

EXPIRE = jobs.find_job("expire_consents")
PERIOD = "2030-01-01T10:00:00.000000Z"


def settings(app: Flask) -> Any:
    return app.config["CMP_SETTINGS"]


def job_runs(job_id: str = "expire_consents") -> list[JobRun]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(JobRun).where(JobRun.job_id == job_id)
                                   .order_by(JobRun.id)))


def expired_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(Consent.status == "expired"))


def test_run_job_expires_due_consents_and_prints_rows_affected(runner, give_consent) -> None:
    give_consent()
    give_consent("reject_all")
    clock.shift(timedelta(days=366))
    result = runner.invoke(args=["cmp", "run-job", "expire_consents"])
    assert result.exit_code == 0, result.output
    assert "expire_consents: 2 rows affected" in result.output
    [run] = job_runs()
    assert (run.status, run.rows_affected, run.error) == ("succeeded", 2, None)
    assert run.finished_at >= run.started_at


def test_jobs_lists_each_job_with_trigger_and_last_run(runner) -> None:
    before = runner.invoke(args=["cmp", "jobs"])
    assert before.exit_code == 0, before.output
    assert "expire_consents  interval[1:00:00]" in before.output
    assert "last run: never" in before.output
    runner.invoke(args=["cmp", "run-job", "expire_consents"])
    after = runner.invoke(args=["cmp", "jobs"])
    assert "succeeded, 0 rows (period manual:" in after.output


def test_an_unknown_job_is_refused_with_a_non_zero_exit(runner) -> None:
    result = runner.invoke(args=["cmp", "run-job", "expire_everything"])
    assert result.exit_code != 0
    assert "no job 'expire_everything'; jobs: expire_consents" in result.output
    assert job_runs() == []


def test_a_period_runs_once_however_often_it_fires(app, give_consent) -> None:
    give_consent()
    clock.shift(timedelta(days=366))
    first = leases.run_with_lease(EXPIRE, settings(app), PERIOD, holder="scheduler-a")
    second = leases.run_with_lease(EXPIRE, settings(app), PERIOD, holder="scheduler-b")
    assert (first.status, first.rows_affected) == ("succeeded", 1)
    assert (second.status, second.reason) == ("skipped", "this period already ran")
    assert [run.period for run in job_runs()] == [PERIOD]


def test_a_held_lease_blocks_a_second_runner(app, give_consent) -> None:
    give_consent()
    clock.shift(timedelta(days=366))
    assert leases.take_lease(EXPIRE.id, "crashed-runner", PERIOD, settings(app).lease_seconds)
    outcome = leases.run_with_lease(EXPIRE, settings(app), PERIOD, holder="scheduler-b")
    assert (outcome.status, outcome.reason) == ("skipped", "another runner holds the lease")
    assert job_runs() == [] and expired_count() == 0


def test_an_expired_lease_is_taken_over_and_the_dead_run_closed(app, give_consent) -> None:
    give_consent()
    clock.shift(timedelta(days=366))
    assert leases.take_lease(EXPIRE.id, "crashed-runner", PERIOD, settings(app).lease_seconds)
    leases._start_run(EXPIRE.id, PERIOD, "crashed-runner")  # then the process died

    clock.shift(timedelta(seconds=settings(app).lease_seconds + 1))
    outcome = leases.run_with_lease(EXPIRE, settings(app), PERIOD, holder="scheduler-b")
    assert (outcome.status, outcome.rows_affected) == ("succeeded", 1)
    dead, taken_over = job_runs()
    assert dead.status == "failed" and "lease ran out" in dead.error
    assert taken_over.status == "succeeded"


def test_a_runner_that_lost_its_lease_stops_between_batches(app) -> None:
    assert leases.take_lease(EXPIRE.id, "slow-runner", PERIOD, settings(app).lease_seconds)
    clock.shift(timedelta(seconds=settings(app).lease_seconds + 1))
    assert leases.take_lease(EXPIRE.id, "scheduler-b", PERIOD, settings(app).lease_seconds)
    with pytest.raises(leases.LeaseLost):
        leases.renew_lease(EXPIRE.id, "slow-runner", settings(app).lease_seconds)


def test_a_failing_job_is_recorded_with_its_error_and_frees_the_lease(app) -> None:
    def broken(_context: Any) -> int:
        raise RuntimeError("disk full")

    job = Job("broken", broken, lambda _s: every(minutes=5), "fails")
    outcome = leases.run_with_lease(job, settings(app), PERIOD)
    assert outcome.status == "failed"
    [run] = job_runs("broken")
    assert (run.status, run.error) == ("failed", "RuntimeError: disk full")
    assert leases.take_lease("broken", "next-runner", PERIOD, settings(app).lease_seconds)


def test_every_process_puts_a_firing_in_the_same_period() -> None:
    hourly = every(minutes=60)
    early = datetime(2030, 5, 17, 9, 0, 0, tzinfo=UTC)
    late = datetime(2030, 5, 17, 9, 59, 59, tzinfo=UTC)
    assert period_start(hourly, early) == period_start(hourly, late) == early
    assert period_start(hourly, late + timedelta(seconds=1)) == early + timedelta(hours=1)
    nightly = CronTrigger(hour=3, timezone=UTC)
    assert period_start(nightly, late) == datetime(2030, 5, 17, 3, tzinfo=UTC)


def scheduler_process(app: Flask, log: Path) -> subprocess.Popen[bytes]:
    """``flask cmp scheduler`` against the test database, logging to ``log``."""
    own = settings(app)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CMP_")},
        "FLASK_APP": "wsgi.py", "CMP_ENV": "test", "CMP_LOG_LEVEL": "INFO",
        "CMP_INSTANCE_PATH": str(own.instance_path), "CMP_DATABASE_URL": own.database_url,
        "CMP_VENDORS_PATH": str(own.vendors_path),
        # A period far longer than the test: both processes' start-up firings share it.
        "CMP_EXPIRE_INTERVAL_MINUTES": str(7 * 24 * 60),
    }
    flask = Path(sys.executable).with_name("flask")
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([str(flask), "cmp", "scheduler"], cwd=ROOT, env=env,
                                stdout=output, stderr=subprocess.STDOUT)


def wait_for(logs: list[Path], text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(text in log.read_text() for log in logs):
            return
        time.sleep(0.1)
    pytest.fail(f"{text!r} not in every log:\n" + "\n---\n".join(p.read_text() for p in logs))


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=15)


def test_two_scheduler_processes_run_a_period_once(app, give_consent, tmp_path) -> None:
    """Runs on SQLite and, in the PostgreSQL run, on PostgreSQL (marked db)."""
    for _ in range(3):
        give_consent()
    # The subprocesses run on the real clock, so the consents are made due in the database.
    db.session.execute(sa.update(Consent).values(expires_at=clock.now() - timedelta(days=1)))
    db.session.commit()
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    processes = [scheduler_process(app, log) for log in logs]
    try:
        wait_for(logs, "job expire_consents period ")
    finally:
        codes = [stop(process) for process in processes]
    assert codes == [0, 0]
    [run] = job_runs()
    assert (run.status, run.rows_affected) == ("succeeded", 3)
    assert expired_count() == 3
    outcomes = " ".join(log.read_text() for log in logs)
    assert "succeeded (3 rows)" in outcomes and "skipped" in outcomes
    assert all("stopped" in log.read_text() for log in logs)
