"""The tamper-evident consent log: each site's events form a hash chain over field digests."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature

from . import clock, tokens
from .extensions import db
from .models import ChainHead, Checkpoint, Consent, ConsentEvent, Site
from .prepared import DriverConnection, Prepared

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# The fields a link hashes, in order. The site is implied: every chain belongs to one site.
CHAINED_FIELDS = (
    "seq", "consent_id", "kind", "action",
    "purposes_granted", "purposes_denied", "vendors_granted", "vendors_denied",
    "snapshot_hash", "language", "url", "user_agent", "ip_truncated", "ip_hash", "ip_key_id",
    "gpc", "created_at", "expires_at",
)
# What an erasure removes: the pseudonymous data about the visitor's device.
ERASABLE_FIELDS = ("url", "user_agent", "ip_truncated", "ip_hash")


def canonical_json(value: Any) -> str:
    """The one serialisation hashed: sorted keys, no spaces, UTC timestamps with ``Z``.

    Strings, numbers, booleans, None, timestamps and lists of strings (every chained field) are
    rendered directly, exactly as ``json.dumps`` would: the consent write path hashes 18 fields.
    """
    if isinstance(value, str):
        return _json_string(value)
    if value is None or isinstance(value, bool):
        return _JSON_CONSTANTS[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return _json_string(clock.isoformat(value))
    if isinstance(value, list) and all(type(item) is str for item in value):
        return "[" + ",".join(map(_json_string, value)) + "]"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default)


_json_string = json.encoder.encode_basestring  # json.dumps(str, ensure_ascii=False), in C
_JSON_CONSTANTS = {None: "null", True: "true", False: "false"}


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return clock.isoformat(value)
    raise TypeError(f"cannot hash {type(value).__name__}")


def field_digest(value: Any) -> str:
    """SHA-256 of one field's canonical form."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


# Fields whose values come from small sets (kinds, actions, choice lists, revisions, languages,
# key ids): the same few values recur on every consent, so their digests are memoised. Fields
# about the visitor (URL, user agent, address) are never kept here.
RECURRING_FIELDS = frozenset({"kind", "action", "purposes_granted", "purposes_denied",
                              "vendors_granted", "vendors_denied", "snapshot_hash", "language",
                              "ip_key_id", "gpc"})


@lru_cache(maxsize=4096)
def _recurring_digest(value: str | bool | tuple[str, ...] | None) -> str:
    return field_digest(list(value) if isinstance(value, tuple) else value)


def field_digests(
    event: Mapping[str, Any], erased: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Digest of every chained field; an erased field contributes the digest kept at erasure."""
    digests: dict[str, str] = {}
    for name in CHAINED_FIELDS:
        value = event.get(name)
        if erased and erased.get(name):
            digests[name] = erased[name]
        elif name in RECURRING_FIELDS and (value is None or type(value) in (str, bool)):
            digests[name] = _recurring_digest(value)
        elif name in RECURRING_FIELDS and type(value) is list and all(
                type(item) is str for item in value):
            digests[name] = _recurring_digest(tuple(value))
        else:
            digests[name] = field_digest(value)
    return digests


def link_hash(prev_hash: str, digests: Mapping[str, str]) -> str:
    """The hash of one link: the previous hash followed by the digests of this event."""
    payload = prev_hash + "\n" + "\n".join(digests[name] for name in CHAINED_FIELDS)
    return hashlib.sha256(payload.encode()).hexdigest()


def create_chain_head(site_id: int) -> None:
    """Start a site's chain (in the caller's transaction)."""
    db.session.add(ChainHead(site_id=site_id, seq=0, hash=GENESIS_HASH))


_heads = ChainHead.__table__
_EVENT_FIELDS = tuple(name for name in CHAINED_FIELDS if name != "seq")
_ADVANCE_HEAD = Prepared(
    sa.update(_heads).where(_heads.c.site_id == sa.bindparam("head_site"))
    .values(seq=_heads.c.seq + 1).returning(_heads.c.seq, _heads.c.hash)
)
_INSERT_EVENT = Prepared(sa.insert(ConsentEvent.__table__),
                         ("site_id", "seq", "prev_hash", "hash", *_EVENT_FIELDS))
_SET_HEAD_HASH = Prepared(
    sa.update(_heads).where(_heads.c.site_id == sa.bindparam("head_site"))
    .values(hash=sa.bindparam("head_hash"))
)


def append_event(
    site_id: int, event: dict[str, Any], connection: sa.Connection | DriverConnection | None = None,
    *, after: StateWrite | None = None,
) -> dict[str, Any]:
    """Add ``event`` to the site's chain in the caller's transaction and return the stored row.

    Advancing the chain head takes the row lock on PostgreSQL and the write lock on SQLite, so
    concurrent writers queue here and the chain can neither fork nor skip. ``after`` is a write
    that belongs with the event (the consent's state): it runs first, so the lock is then held
    only for the append and the commit, and on PostgreSQL both travel in one statement.
    """
    return append_pending(pending_event(site_id, event, after), connection)


@dataclass(frozen=True)
class PendingEvent:
    """An event ready to be appended, with the digest of every field but ``seq``.

    The digests need no lock: a writer that queues (SQLite's single writer) prepares this first
    and holds the queue only for the statements and the commit.
    """

    site_id: int
    event: dict[str, Any]
    digests: dict[str, str]
    after: StateWrite | None = None


def pending_event(site_id: int, event: dict[str, Any], after: StateWrite | None = None
                  ) -> PendingEvent:
    """Digest ``event`` for :func:`append_pending` (``after`` as for :func:`append_event`)."""
    return PendingEvent(site_id, event, field_digests({**event, "seq": None}), after)


def append_pending(
    pending: PendingEvent, connection: sa.Connection | DriverConnection | None = None
) -> dict[str, Any]:
    """Append a prepared event in the caller's transaction (see :func:`append_event`)."""
    site_id, event, digests, after = pending.site_id, pending.event, pending.digests, pending.after
    if not isinstance(connection, DriverConnection):
        connection = DriverConnection.of(connection or db.session.connection())
    if connection.dialect_name == "postgresql":
        return _append_in_one_statement(site_id, event, digests, connection, after)
    if after is not None:
        after.statement.execute(after.params, connection)
    seq, prev_hash = _ADVANCE_HEAD.execute({"head_site": site_id}, connection).fetchone()
    row = {**event, "seq": seq, "prev_hash": prev_hash}
    row["hash"] = link_hash(prev_hash, {**digests, "seq": field_digest(seq)})
    _INSERT_EVENT.execute({"site_id": site_id, **row}, connection)
    _SET_HEAD_HASH.execute({"head_site": site_id, "head_hash": row["hash"]}, connection)
    return row


@dataclass(frozen=True)
class StateWrite:
    """A write that goes with a chain append: a Core statement and its parameters.

    On PostgreSQL the statement becomes a data-modifying CTE of the append (it may use the
    event's own parameters by name); elsewhere it runs just before the append.
    """

    statement: Prepared
    params: dict[str, Any]
    pg_append: Prepared


def _hex_sha256_sql(text_sql: str) -> str:
    return f"encode(sha256(convert_to({text_sql}, 'UTF8')), 'hex')"


# PostgreSQL: one round trip instead of three while the head is locked. Every digest but the
# sequence number's is computed in Python before the lock (``tail``); the statement locks the
# head, digests the new seq and takes the link hash exactly as ``link_hash`` does, advances
# the head and inserts the event. ``prev`` reads the head before the update (FOR UPDATE waits
# for a concurrent writer and then sees its committed head).
_PG_APPEND_SQL = f"""
prev AS (
    SELECT seq, hash FROM chain_heads WHERE site_id = :site_id FOR UPDATE
), head AS (
    UPDATE chain_heads AS h
    SET seq = prev.seq + 1,
        hash = {_hex_sha256_sql(
            "prev.hash || chr(10) || " + _hex_sha256_sql("(prev.seq + 1)::text")
            + " || chr(10) || :tail")}
    FROM prev WHERE h.site_id = :site_id
    RETURNING h.seq, h.hash, prev.hash AS prev_hash
)
INSERT INTO consent_events (site_id, seq, prev_hash, hash, {", ".join(_EVENT_FIELDS)})
SELECT :site_id, head.seq, head.prev_hash, head.hash, {", ".join(":" + f for f in _EVENT_FIELDS)}
FROM head
RETURNING seq, prev_hash, hash
"""
_EVENT_BINDS = tuple(sa.bindparam(c.name, type_=c.type) for c in ConsentEvent.__table__.columns
                     if c.name in _EVENT_FIELDS)


def pg_append_statement(state_sql: str = "", binds: Iterable[sa.BindParameter[Any]] = ()) -> Prepared:
    """The PostgreSQL append, optionally after ``state_sql`` run as a data-modifying CTE.

    ``state_sql`` may use the event's parameters (``:consent_id``, ``:created_at`` …) and its
    own ``binds``; PostgreSQL runs every CTE to completion, so the state and the event are
    written by one autocommitted statement.
    """
    ctes = f"WITH state AS ({state_sql}), " if state_sql else "WITH "
    return Prepared(sa.text(ctes + _PG_APPEND_SQL).bindparams(*_EVENT_BINDS, *binds))


_PG_APPEND = pg_append_statement()


def _append_in_one_statement(
    site_id: int, event: dict[str, Any], digests: dict[str, str], connection: DriverConnection,
    after: StateWrite | None,
) -> dict[str, Any]:
    tail = "\n".join(digests[name] for name in _EVENT_FIELDS)
    params = {name: event.get(name) for name in _EVENT_FIELDS}
    params.update(site_id=site_id, tail=tail)
    statement = _PG_APPEND
    if after is not None:
        statement = after.pg_append
        params.update(after.params)
    seq, prev_hash, link = statement.execute(params, connection).fetchone()
    return {**event, "seq": seq, "prev_hash": prev_hash, "hash": link}


# --- verification ---------------------------------------------------------------------------

BREAKS = ("modified", "missing", "inserted", "reordered")
VERIFY_CHUNK = 2000  # rows fetched per round trip while verifying; memory stays constant


@dataclass
class VerifyResult:
    """The outcome of checking one site's chain: counts, or the first broken seq and why."""

    events: int = 0
    erased: int = 0
    checkpoints: int = 0
    last_seq: int = 0
    broken_seq: int | None = None
    problem: str | None = None  # one of BREAKS, or "checkpoint"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None and self.problem is None

    def fail(self, seq: int, problem: str, detail: str) -> VerifyResult:
        self.broken_seq, self.problem, self.detail = seq, problem, detail
        return self


@dataclass(frozen=True)
class CheckpointClaim:
    """A checkpoint as the chain must match it: ``seq`` must carry ``hash``."""

    seq: int
    hash: str
    signature_ok: bool = True


class ChainWalker:
    """Walks links in seq order and names the first break; holds only the previous link.

    Shared by the database check and the offline bundle check, so both classify alike.
    """

    def __init__(self, result: VerifyResult, start_seq: int = 1, start_hash: str = GENESIS_HASH,
                 checkpoints: list[CheckpointClaim] | None = None,
                 later_hash: Callable[[str, int], bool] | None = None,
                 head_seq: int | None = None) -> None:
        self.result = result
        self.head_seq = head_seq
        self.expected_seq = start_seq
        self.expected_prev = start_hash
        self.previous: Mapping[str, Any] | None = None
        self.pending = sorted(checkpoints or [], key=lambda c: c.seq)
        # Asked only once something broke: does a later link carry this hash (a reordering)?
        self.later_hash = later_hash or (lambda _hash, _seq: False)

    def step(self, link: Mapping[str, Any]) -> bool:
        """Check one link; False once the chain is broken (the result says where and why)."""
        seq = link["seq"]
        if seq < self.expected_seq:
            return self._broken(seq, "inserted", f"a second event claims seq {seq}")
        if self.head_seq is not None and seq > self.head_seq:
            return self._broken(seq, "inserted", f"seq {seq} lies beyond the chain head")
        if seq > self.expected_seq:
            return self._broken(self.expected_seq, "missing",
                                f"seq {self.expected_seq}..{seq - 1} absent (next is {seq})")
        recomputed = link_hash(link["prev_hash"], field_digests(link, link.get("erased_digests")))
        if link["prev_hash"] != self.expected_prev:
            return self._broken(*self._classify_bad_link(link, recomputed == link["hash"]))
        if recomputed != link["hash"]:
            if self._ids_go_back(link):
                return self._broken(seq, "reordered", f"seq {seq} was moved (ids out of order)")
            return self._broken(seq, "modified", f"seq {seq}: its fields no longer give its hash")
        self._accept(link)
        return self._check_checkpoints(seq, link["hash"])

    def finish(self, head_seq: int | None = None, head_hash: str | None = None) -> VerifyResult:
        """Close the walk: the head and every checkpoint must lie on the chain just walked."""
        last = self.expected_seq - 1
        if self.result.ok and head_seq is not None and head_seq > last:
            self._broken(last + 1, "missing",
                         f"the chain head is at seq {head_seq}, the log ends at {last}")
        elif self.result.ok and head_seq is not None and head_seq < last:
            self._broken(head_seq + 1, "inserted", f"events after the chain head (seq {head_seq})")
        elif self.result.ok and head_hash is not None and head_hash != self.expected_prev:
            self._broken(last, "modified", f"seq {last} does not carry the chain head's hash")
        if self.result.ok and self.pending:
            claim = self.pending[0]
            self._broken(claim.seq, "missing",
                         f"a checkpoint names seq {claim.seq}, the log ends at {last}")
        self.result.last_seq = last
        return self.result

    def _classify_bad_link(
        self, link: Mapping[str, Any], self_consistent: bool
    ) -> tuple[int, str, str]:
        """Why a link does not follow the one before it, from the links around it."""
        seq = link["seq"]
        if self.previous is not None and link["prev_hash"] == self.previous["prev_hash"]:
            return seq - 1, "inserted", f"seq {seq - 1} and {seq} follow the same link"
        if self._ids_go_back(link) or self.later_hash(link["prev_hash"], seq):
            return seq, "reordered", f"seq {seq} follows a link that comes later in the log"
        if self_consistent and seq > 1:
            return seq - 1, "modified", f"seq {seq - 1} was rewritten: {seq} no longer follows it"
        return seq, "modified", f"seq {seq}: prev_hash is not the hash of seq {seq - 1}"

    def _ids_go_back(self, link: Mapping[str, Any]) -> bool:
        previous_id = self.previous.get("id") if self.previous is not None else None
        return previous_id is not None and link.get("id") is not None and link["id"] < previous_id

    def _accept(self, link: Mapping[str, Any]) -> None:
        self.result.events += 1
        if link.get("erased_digests"):
            self.result.erased += 1
        self.previous = link
        self.expected_seq += 1
        self.expected_prev = link["hash"]

    def _check_checkpoints(self, seq: int, hash_: str) -> bool:
        while self.pending and self.pending[0].seq <= seq:
            claim = self.pending.pop(0)
            if not claim.signature_ok:
                return self._broken(claim.seq, "checkpoint", "a checkpoint's signature is invalid")
            if claim.seq == seq and claim.hash != hash_:
                return self._broken(seq, "modified", f"seq {seq} differs from a signed checkpoint")
            self.result.checkpoints += 1
        return True

    def _broken(self, seq: int, problem: str, detail: str) -> bool:
        self.result.fail(seq, problem, detail)
        return False


def _event_links(site_id: int, since_seq: int) -> Iterator[dict[str, Any]]:
    """The site's events in seq order, streamed with a server-side cursor."""
    columns = [ConsentEvent.id, ConsentEvent.seq, ConsentEvent.prev_hash, ConsentEvent.hash,
               ConsentEvent.erased_digests,
               *(getattr(ConsentEvent, name) for name in CHAINED_FIELDS if name != "seq")]
    query = (sa.select(*columns)
             .where(ConsentEvent.site_id == site_id, ConsentEvent.seq >= since_seq)
             .order_by(ConsentEvent.seq, ConsentEvent.id)
             .execution_options(stream_results=True, yield_per=VERIFY_CHUNK))
    rows = db.session.execute(query)
    try:
        for row in rows:
            yield row._asdict()
    finally:
        rows.close()  # a verify that stops at a break must release the server-side cursor


def _start_of(site_id: int, since_seq: int | None) -> tuple[int, str]:
    """Where a partial check starts: the stored hash of the link before ``since_seq`` is trusted."""
    if not since_seq or since_seq <= 1:
        return 1, GENESIS_HASH
    before = db.session.scalar(sa.select(ConsentEvent.hash).where(
        ConsentEvent.site_id == site_id, ConsentEvent.seq == since_seq - 1))
    return since_seq, before or GENESIS_HASH


def _later_link_has(site_id: int) -> Callable[[str, int], bool]:
    def probe(hash_: str, seq: int) -> bool:
        found = db.session.scalar(sa.select(ConsentEvent.id).where(
            ConsentEvent.site_id == site_id, ConsentEvent.seq > seq, ConsentEvent.hash == hash_
        ).limit(1))
        return found is not None
    return probe


def checkpoint_claims(site_key: str, secret_key: str, rows: Iterable[Mapping[str, Any]]
                      ) -> list[CheckpointClaim]:
    """Checkpoints with their signatures checked (``rows`` carry seq, hash, time, signature)."""
    claims = []
    for row in rows:
        expected = checkpoint_payload(site_key, row["seq"], row["hash"], row["time"])
        try:
            signed = tokens.unsign(secret_key, tokens.CHECKPOINT_SALT, row["signature"])
        except BadSignature:
            signed = None
        claims.append(CheckpointClaim(row["seq"], row["hash"], signed == expected))
    return claims


def verify_chain(site_id: int, secret_key: str, since_seq: int | None = None) -> VerifyResult:
    """Recompute a site's chain (from ``since_seq``) and check its head and signed checkpoints.

    Streams the events, so memory stays constant however long the log is.
    """
    site_key = db.session.scalar(sa.select(Site.key).where(Site.id == site_id))
    start_seq, start_hash = _start_of(site_id, since_seq)
    claims = checkpoint_claims(site_key or "", secret_key, (
        {"seq": c.seq, "hash": c.hash, "time": clock.isoformat(c.created_at),
         "signature": c.signature}
        for c in db.session.scalars(sa.select(Checkpoint).where(
            Checkpoint.site_id == site_id, Checkpoint.seq >= start_seq))
    ))
    head = db.session.execute(
        sa.select(ChainHead.seq, ChainHead.hash).where(ChainHead.site_id == site_id)).one_or_none()
    walker = ChainWalker(VerifyResult(), start_seq, start_hash, claims, _later_link_has(site_id),
                         head.seq if head else None)
    with closing(_event_links(site_id, start_seq)) as links:
        for link in links:
            if not walker.step(link):
                break
    return walker.finish(head.seq, head.hash) if head else walker.finish()


# --- checkpoints ----------------------------------------------------------------------------


def checkpoint_payload(site_key: str, seq: int, hash_: str, time: str) -> dict[str, Any]:
    """What a checkpoint signs: the site, its head link and the time."""
    return {"site": site_key, "seq": seq, "hash": hash_, "time": time}


def write_checkpoint(site_id: int, secret_key: str) -> Checkpoint:
    """Sign the site's current chain head and store it (commits)."""
    site_key = db.session.scalar(sa.select(Site.key).where(Site.id == site_id))
    head = db.session.execute(
        sa.select(ChainHead.seq, ChainHead.hash).where(ChainHead.site_id == site_id)).one()
    now = clock.now()
    payload = checkpoint_payload(site_key or "", head.seq, head.hash, clock.isoformat(now))
    checkpoint = Checkpoint(site_id=site_id, seq=head.seq, hash=head.hash, created_at=now,
                            signature=tokens.sign(secret_key, tokens.CHECKPOINT_SALT, payload))
    db.session.add(checkpoint)
    db.session.commit()
    return checkpoint


# --- erasure --------------------------------------------------------------------------------


def _erasure_update(row: Any) -> dict[str, Any]:
    """Parameters that blank one event's erasable fields and keep their digests."""
    digests = dict(row.erased_digests or {})
    for name in ERASABLE_FIELDS:
        digests.setdefault(name, field_digest(getattr(row, name)))
    return {"event_id": row.id, "digests": digests}


def _erasable_rows(condition: sa.ColumnElement[bool], limit: int | None = None) -> list[Any]:
    still_there = sa.or_(*(getattr(ConsentEvent, name).is_not(None) for name in ERASABLE_FIELDS))
    query = (sa.select(ConsentEvent.id, ConsentEvent.site_id, ConsentEvent.consent_id,
                       ConsentEvent.erased_digests,
                       *(getattr(ConsentEvent, name) for name in ERASABLE_FIELDS))
             .where(condition, still_there).order_by(ConsentEvent.id).limit(limit))
    return list(db.session.execute(query))


def _blank(rows: list[Any]) -> None:
    """One executemany UPDATE for the batch: fields gone, their digests kept."""
    if not rows:
        return
    table = ConsentEvent.__table__
    statement = (sa.update(table).where(table.c.id == sa.bindparam("event_id"))
                 .values(erased_digests=sa.bindparam("digests"),
                         **{name: None for name in ERASABLE_FIELDS}))
    db.session.execute(statement, [_erasure_update(row) for row in rows])


# Consent ids per lookup: a retention batch may touch more consents than SQLite takes
# bound parameters in one statement.
LOOKUP_SLICE = 1000


def _snapshot_hashes(site_id: int, consent_ids: Collection[str]) -> dict[str, str | None]:
    """The config snapshot each consent now stands on, so its ``erased`` event names one too.

    That is the consent's current revision; a consent whose row is gone falls back on the
    snapshot of its latest event that names one. Read before the chain is locked.
    """
    wanted = sorted(consent_ids)
    found: dict[str, str | None] = {}
    for start in range(0, len(wanted), LOOKUP_SLICE):
        part = wanted[start:start + LOOKUP_SLICE]
        found.update(db.session.execute(
            sa.select(Consent.id, Consent.revision)
            .where(Consent.site_id == site_id, Consent.id.in_(part))).all())
        gone = [consent_id for consent_id in part if consent_id not in found]
        if gone:
            found.update(_latest_snapshot_hashes(site_id, gone))
    return found


def _latest_snapshot_hashes(site_id: int, consent_ids: list[str]) -> dict[str, str | None]:
    e = ConsentEvent
    latest = (sa.select(e.consent_id, sa.func.max(e.seq).label("seq"))
              .where(e.site_id == site_id, e.consent_id.in_(consent_ids),
                     e.snapshot_hash.is_not(None))
              .group_by(e.consent_id).subquery())
    return dict(db.session.execute(
        sa.select(e.consent_id, e.snapshot_hash)
        .join(latest, sa.and_(e.consent_id == latest.c.consent_id, e.seq == latest.c.seq))
        .where(e.site_id == site_id)).all())


def _erased_event(consent_id: str, snapshot_hash: str | None) -> dict[str, Any]:
    return {"consent_id": consent_id, "kind": "erased", "action": "erase",
            "purposes_granted": [], "purposes_denied": [], "vendors_granted": [],
            "vendors_denied": [], "snapshot_hash": snapshot_hash, "language": None, "url": None,
            "user_agent": None, "ip_truncated": None, "ip_hash": None, "ip_key_id": None,
            "gpc": False, "created_at": clock.now(), "expires_at": None}


def erase_consent(site_id: int, consent_id: str, reason: str) -> int:
    """Erase the pseudonymous fields of every event of one consent and log an ``erased`` event.

    The chain keeps each erased field's digest, so it still verifies. Commits.

    :returns: how many events lost data.
    """
    try:
        rows = _erasable_rows(sa.and_(ConsentEvent.site_id == site_id,
                                      ConsentEvent.consent_id == consent_id))
        _blank(rows)
        snapshot_hash = _snapshot_hashes(site_id, [consent_id]).get(consent_id)
        append_event(site_id, _erased_event(consent_id, snapshot_hash))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    log.info("erased consent %s on site %s (%s): %d events", consent_id, site_id, reason, len(rows))
    return len(rows)


def erase_before(site_id: int, cutoff: datetime, batch_size: int,
                 after_batch: Callable[[], None] | None = None) -> int:
    """Erase, in batches of ``batch_size``, every event of a site created before ``cutoff``.

    Each batch is one transaction: its UPDATE plus one ``erased`` event per consent touched,
    so a run that stops half-way leaves whole batches and the next run carries on.
    """
    total = 0
    while True:
        try:
            rows = _erasable_rows(sa.and_(ConsentEvent.site_id == site_id,
                                          ConsentEvent.created_at < cutoff), batch_size)
            _blank(rows)
            snapshots = _snapshot_hashes(site_id, {row.consent_id for row in rows})
            for consent_id in sorted({row.consent_id for row in rows}):
                append_event(site_id, _erased_event(consent_id, snapshots.get(consent_id)))
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        total += len(rows)
        if len(rows) < batch_size:
            return total
        if after_batch is not None:
            after_batch()
