"""Expiry of consents past their lifetime, in set-based batches that log one expired event each."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import groupby
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import sqlalchemy as sa

from . import audit, clock
from .extensions import db
from .jobspec import JobContext
from .models import ChainHead, Consent, ConsentEvent

consents = Consent.__table__
events = ConsentEvent.__table__
heads = ChainHead.__table__

# The fields of an expired event that do not depend on the consent: nothing about the visitor
# is known to the job, so the pseudonymous fields stay empty.
EXPIRED_EVENT: dict[str, Any] = {
    "kind": "expired", "action": "expire",
    "purposes_granted": [], "purposes_denied": [], "vendors_granted": [], "vendors_denied": [],
    "language": None, "url": None, "user_agent": None,
    "ip_truncated": None, "ip_hash": None, "ip_key_id": None, "gpc": False,
}
# The fields that differ from one expired event to the next.
PER_CONSENT_FIELDS = ("seq", "consent_id", "snapshot_hash", "expires_at")


def expire_consents(ctx: JobContext) -> int:
    """The scheduled job: expire what was due at ``ctx.now``; returns the consents expired."""
    return expire_due(ctx.now, ctx.settings.expire_batch_size, after_batch=ctx.keep_alive)


def expire_due(
    now: datetime, batch_size: int, after_batch: Callable[[], None] | None = None
) -> int:
    """Mark every active consent with ``expires_at <= now`` expired, ``batch_size`` at a time.

    Each batch is one transaction, so a run that dies after some batches leaves them complete
    and the next run carries on from there; a run with nothing due changes nothing.

    :returns: how many consents were expired.
    """
    total, lower = 0, None
    while True:
        upper = _batch_upper_bound(now, lower, batch_size)
        total += _expire_batch(now, lower, upper or now)
        if upper is None:
            return total
        lower = upper
        if after_batch is not None:
            after_batch()


def _due(lower: datetime | None, upper: datetime) -> sa.ColumnElement[bool]:
    """Active consents with ``lower < expires_at <= upper``: a key range of ``ix_consents_due``."""
    condition = sa.and_(consents.c.status == "active", consents.c.expires_at <= upper)
    if lower is not None:
        condition = sa.and_(condition, consents.c.expires_at > lower)
    return condition


def _batch_upper_bound(now: datetime, lower: datetime | None, batch_size: int) -> datetime | None:
    """The ``expires_at`` of the batch's last consent, or None when fewer than a batch are due.

    One indexed read of the keys: walking the range this way keeps each UPDATE a plain range
    scan instead of a ``LIMIT`` subquery joined back to the table.
    """
    return db.session.execute(
        sa.select(consents.c.expires_at).where(_due(lower, now))
        .order_by(consents.c.expires_at).offset(batch_size - 1).limit(1)
    ).scalar_one_or_none()


def _expire_batch(now: datetime, lower: datetime | None, upper: datetime) -> int:
    """Expire one key range and extend each site's chain with its events, in one transaction."""
    try:
        _lock_chain_heads()
        expired = db.session.execute(
            sa.update(consents).where(_due(lower, upper))
            .values(status="expired", updated_at=now)
            .returning(consents.c.id, consents.c.site_id, consents.c.revision,
                       consents.c.expires_at)
        ).all()
        if expired:
            _log_expiry(now, expired)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return len(expired)


def _lock_chain_heads() -> None:
    """Lock every chain head before touching consents, in the order web requests do (head, then
    consent), so a visitor deciding again during a batch queues instead of deadlocking.

    SQLite needs nothing here: the batch's UPDATE takes the database's single write lock.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            sa.select(heads.c.site_id).order_by(heads.c.site_id).with_for_update()
        ).all()


def _log_expiry(now: datetime, expired: Sequence[sa.Row[Any]]) -> None:
    """Append one expired event per consent to its site's chain, sites in a fixed order."""
    ordered = sorted(expired, key=lambda row: (row.site_id, row.expires_at, row.id))
    chain = ExpiredEventChain(now)
    new_events: list[dict[str, Any]] = []
    new_heads: list[dict[str, Any]] = []
    for site_id, site_rows in groupby(ordered, key=lambda row: row.site_id):
        seq, prev_hash = db.session.execute(
            sa.select(heads.c.seq, heads.c.hash).where(heads.c.site_id == site_id)
        ).one()
        for row in site_rows:
            seq += 1
            event = chain.link(site_id, seq, prev_hash, row)
            new_events.append(event)
            prev_hash = event["hash"]
        new_heads.append({"head_site": site_id, "new_seq": seq, "new_hash": prev_hash})
    db.session.execute(sa.insert(events), new_events)
    db.session.execute(
        sa.update(heads).where(heads.c.site_id == sa.bindparam("head_site"))
        .values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash")),
        new_heads,
    )


class ExpiredEventChain:
    """Builds expired events and their link hashes, digesting the constant fields only once.

    The result is exactly ``audit.link_hash(prev, audit.field_digests(event))``; the shortcut
    matters because a catch-up run hashes hundreds of thousands of events.
    """

    def __init__(self, now: datetime) -> None:
        self.constant = {**EXPIRED_EVENT, "created_at": now}
        digests = audit.field_digests(self.constant)
        self.template = [digests[name] for name in audit.CHAINED_FIELDS]
        self.slots = {name: audit.CHAINED_FIELDS.index(name) for name in PER_CONSENT_FIELDS}

    def link(self, site_id: int, seq: int, prev_hash: str, row: Any) -> dict[str, Any]:
        """The stored row of the expired event of consent ``row`` at ``seq`` of the chain."""
        parts = self.template.copy()
        parts[self.slots["seq"]] = _sha256(str(seq))
        parts[self.slots["consent_id"]] = _sha256(encode_basestring(row.id))
        parts[self.slots["snapshot_hash"]] = (
            _sha256(encode_basestring(row.revision)) if row.revision is not None
            else audit.field_digest(None)
        )
        parts[self.slots["expires_at"]] = _sha256('"' + clock.isoformat(row.expires_at) + '"')
        link = hashlib.sha256((prev_hash + "\n" + "\n".join(parts)).encode()).hexdigest()
        return {
            **self.constant, "site_id": site_id, "seq": seq, "consent_id": row.id,
            "snapshot_hash": row.revision, "expires_at": row.expires_at,
            "erased_digests": None, "prev_hash": prev_hash, "hash": link,
        }


def _sha256(canonical: str) -> str:
    return hashlib.sha256(canonical.encode()).hexdigest()
