"""Expiry of consents past their lifetime, in set-based batches that log one expired event each."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from itertools import groupby
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import sqlalchemy as sa

from . import audit, clock, json_codec
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
# The fields that differ from one expired event to the next, in the chain's order.
PER_CONSENT_FIELDS = tuple(name for name in audit.CHAINED_FIELDS
                           if name in ("seq", "consent_id", "snapshot_hash", "expires_at"))


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
            # expires_at as the driver holds it: written back unconverted, read only to hash
            .returning(consents.c.id, consents.c.site_id, consents.c.revision,
                       sa.type_coerce(consents.c.expires_at, sa.String()))
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
    # Raw expires_at sorts like the time: text of one fixed format on SQLite, datetimes on PG.
    ordered = sorted(map(tuple, expired), key=lambda row: (row[1], row[3], row[0]))
    chain = ExpiredEventChain(now, db.engine.dialect)
    new_events: list[tuple[Any, ...]] = []
    new_heads: list[dict[str, Any]] = []
    for site_id, site_rows in groupby(ordered, key=lambda row: row[1]):
        seq, prev_hash = db.session.execute(
            sa.select(heads.c.seq, heads.c.hash).where(heads.c.site_id == site_id)
        ).one()
        for consent_id, _site, revision, stored_expires_at in site_rows:
            seq += 1
            prev_hash = chain.append(new_events, site_id, seq, prev_hash,
                                     consent_id, revision, stored_expires_at)
        new_heads.append({"head_site": site_id, "new_seq": seq, "new_hash": prev_hash})
    _insert_events(chain, new_events)
    db.session.execute(
        sa.update(heads).where(heads.c.site_id == sa.bindparam("head_site"))
        .values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash")),
        new_heads,
    )


def _insert_events(chain: ExpiredEventChain, rows: list[tuple[Any, ...]]) -> None:
    """Bulk-insert bound event rows: COPY on PostgreSQL, the driver's executemany on SQLite.

    Both bypass SQLAlchemy's per-row parameter processing, which cost more than the INSERT
    itself; the rows are already bound the way SQLAlchemy would bind them.
    """
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.exec_driver_sql(chain.insert_sql, rows)
        return
    cursor = connection.connection.driver_connection.cursor()
    with cursor, cursor.copy(f"COPY {events.name} ({', '.join(chain.columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _binder(column: sa.Column[Any], dialect: sa.Dialect) -> Callable[[Any], Any]:
    """The column type's own bind processing, to apply it outside SQLAlchemy.

    JSON goes as its text on both backends (psycopg sends a str untyped, so PostgreSQL reads
    it as jsonb), because the driver left alone would turn a Python list into an array.
    """
    if isinstance(column.type, sa.JSON):
        return lambda value: None if value is None else json_codec.dumps(value)
    # The dialect's own implementation: SQLite's DATETIME renders SQLAlchemy's storage text,
    # where the generic type would hand the driver a datetime to format its own way.
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


class ExpiredEventChain:
    """Builds expired events and their link hashes; digests and binds the constant fields once.

    Each link is exactly ``audit.link_hash(prev, audit.field_digests(event))``; the shortcut
    matters because a catch-up run hashes hundreds of thousands of events.
    """

    def __init__(self, now: datetime, dialect: sa.Dialect) -> None:
        constant = {**EXPIRED_EVENT, "created_at": now}
        digests = audit.field_digests(constant)
        # The payload is prev_hash, then the digests in CHAINED_FIELDS order; cut it at the
        # per-consent fields so each link is a few concatenations of constant text.
        slot = "\0"
        text = "\n".join(["", *(slot if name in PER_CONSENT_FIELDS else digests[name]
                                for name in audit.CHAINED_FIELDS)])
        self.payload = tuple(text.split(slot))
        self.revision_digests: dict[str | None, str] = {None: audit.field_digest(None)}
        self.constant_values = tuple(
            _binder(events.c[name], dialect)(value) for name, value in constant.items()
        )
        self.columns = (*constant, "site_id", *PER_CONSENT_FIELDS, "prev_hash", "hash")
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        self.insert_sql = (f"INSERT INTO {events.name} ({', '.join(self.columns)}) "
                           f"VALUES ({', '.join(marker for _ in self.columns)})")

    def link_hash(self, seq: int, prev_hash: str, consent_id: str, revision: str | None,
                  expires_at: Any) -> str:
        """The hash of the expired event of ``consent_id`` at ``seq`` after ``prev_hash``."""
        revision_digest = self.revision_digests.get(revision)
        if revision_digest is None:  # a site has few revisions: digest each once per batch
            revision_digest = self.revision_digests[revision] = _sha256(
                encode_basestring(revision))
        before_seq, before_id, before_revision, before_expires, after = self.payload
        return _sha256(
            prev_hash + before_seq + _sha256(str(seq)) + before_id
            + _sha256(encode_basestring(consent_id)) + before_revision + revision_digest
            + before_expires + _sha256('"' + _canonical_time(expires_at) + '"') + after
        )

    def append(self, rows: list[tuple[Any, ...]], site_id: int, seq: int, prev_hash: str,
               consent_id: str, revision: str | None, stored_expires_at: Any) -> str:
        """Add the event's row, bound for the driver, to ``rows``; return its hash."""
        link = self.link_hash(seq, prev_hash, consent_id, revision, stored_expires_at)
        rows.append((*self.constant_values, site_id, seq, consent_id, revision,
                     stored_expires_at, prev_hash, link))
        return link


def _canonical_time(stored: Any) -> str:
    """``clock.isoformat`` of a timestamp as the driver returned it, without the slow path.

    SQLite hands back SQLAlchemy's storage text (naive UTC, always with microseconds),
    PostgreSQL an aware datetime.
    """
    if isinstance(stored, str):
        if len(stored) == 26 and stored[10] == " ":
            return stored[:10] + "T" + stored[11:] + "Z"
        stored = datetime.fromisoformat(stored).replace(tzinfo=UTC)
    text = stored.isoformat(timespec="microseconds")
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    return clock.isoformat(stored)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
