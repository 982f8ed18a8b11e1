"""What a scheduled job is: its row in the JOBS table and the context each of its runs gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .config import Settings

# Every interval trigger counts its periods from here, so all scheduler processes agree on which
# period a firing belongs to, however far apart they were started.
PERIOD_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


def _stay_alive() -> None:
    """The default keep-alive of a run that holds no lease (a direct call from a test)."""


@dataclass(frozen=True)
class JobContext:
    """What one run of a job is given.

    :param now: the moment the run is for; a job works on what was due then, not what falls
        due while it runs.
    :param keep_alive: call between units of work: it extends the run's lease and raises
        ``LeaseLost`` when another runner took the job over.
    """

    settings: Settings
    now: datetime
    period: str = "direct"
    keep_alive: Callable[[], None] = field(default=_stay_alive)


@dataclass(frozen=True)
class Job:
    """One scheduled job: a stable id, the function that does the work, and when it runs."""

    id: str
    func: Callable[[JobContext], int]
    trigger_factory: Callable[[Settings], BaseTrigger]
    description: str


def every(**interval: int) -> IntervalTrigger:
    """An interval trigger aligned on ``PERIOD_ORIGIN`` (``every(minutes=60)``)."""
    return IntervalTrigger(**interval, start_date=PERIOD_ORIGIN, timezone=UTC)


def period_start(trigger: BaseTrigger, now: datetime) -> datetime:
    """The fire time of the period ``now`` falls in: the trigger's latest fire time <= ``now``.

    Interval triggers are computed exactly; other triggers (cron) are walked back from a week
    before ``now``, and a trigger that never fired in that week counts by the minute.
    """
    if isinstance(trigger, IntervalTrigger):
        start = trigger.start_date
        return start + ((now - start) // trigger.interval) * trigger.interval
    latest = None
    fire = trigger.get_next_fire_time(None, now - timedelta(days=7))
    while fire is not None and fire <= now:
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest or now.replace(second=0, microsecond=0)
