"""Scheduled audit work: signed checkpoints of every chain, and erasure past the retention."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from . import audit
from .extensions import db
from .jobspec import JobContext
from .models import ChainHead, Site

RETENTION_AFTER_LIFETIME_DAYS = 3 * 365  # the default: the consent lifetime plus three years


def checkpoint_chains(ctx: JobContext) -> int:
    """The scheduled job: sign a checkpoint of each site's chain head; returns how many."""
    site_ids = list(db.session.scalars(sa.select(ChainHead.site_id).order_by(ChainHead.site_id)))
    for site_id in site_ids:
        audit.write_checkpoint(site_id, ctx.settings.secret_key)
        ctx.keep_alive()
    return len(site_ids)


def retention_cutoffs(now: datetime, retention_days: int | None) -> list[tuple[int, datetime]]:
    """Per site, the moment before which events are erased.

    ``retention_days`` (CMP_RETENTION_DAYS) applies to every site; without it each site keeps
    its events for its consent lifetime plus three years.
    """
    rows = db.session.execute(sa.select(Site.id, Site.consent_lifetime_days).order_by(Site.id))
    return [(site_id, now - timedelta(days=retention_days or
                                      lifetime + RETENTION_AFTER_LIFETIME_DAYS))
            for site_id, lifetime in rows]


def erase_past_retention(ctx: JobContext) -> int:
    """The scheduled job: erase events older than the retention; returns the events erased."""
    total = 0
    for site_id, cutoff in retention_cutoffs(ctx.now, ctx.settings.retention_days):
        total += audit.erase_before(site_id, cutoff, ctx.settings.expire_batch_size,
                                    after_batch=ctx.keep_alive)
    return total
