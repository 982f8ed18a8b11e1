"""The tamper-evident consent log: each site's events form a hash chain over field digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from . import clock
from .extensions import db
from .models import ChainHead, ConsentEvent

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
    """The one serialisation hashed: sorted keys, no spaces, UTC timestamps with ``Z``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default)


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return clock.isoformat(value)
    raise TypeError(f"cannot hash {type(value).__name__}")


def field_digest(value: Any) -> str:
    """SHA-256 of one field's canonical form."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def field_digests(event: Mapping[str, Any], erased: Mapping[str, str] | None = None) -> dict[str, str]:
    """Digest of every chained field; an erased field contributes the digest kept at erasure."""
    erased = erased or {}
    return {name: erased.get(name) or field_digest(event.get(name)) for name in CHAINED_FIELDS}


def link_hash(prev_hash: str, digests: Mapping[str, str]) -> str:
    """The hash of one link: the previous hash followed by the digests of this event."""
    payload = prev_hash + "\n" + "\n".join(digests[name] for name in CHAINED_FIELDS)
    return hashlib.sha256(payload.encode()).hexdigest()


def create_chain_head(site_id: int) -> None:
    """Start a site's chain (in the caller's transaction)."""
    db.session.add(ChainHead(site_id=site_id, seq=0, hash=GENESIS_HASH))


def append_event(site_id: int, event: dict[str, Any]) -> dict[str, Any]:
    """Add ``event`` to the site's chain in the caller's transaction and return the stored row.

    The UPDATE of the chain head comes first: it takes the row lock on PostgreSQL and the write
    lock on SQLite, so concurrent writers queue here and the chain can neither fork nor skip.
    """
    head = db.session.execute(
        sa.update(ChainHead).where(ChainHead.site_id == site_id)
        .values(seq=ChainHead.seq + 1).returning(ChainHead.seq, ChainHead.hash)
    ).one()
    row = {**event, "seq": head.seq, "prev_hash": head.hash}
    row["hash"] = link_hash(head.hash, field_digests(row))
    db.session.execute(sa.insert(ConsentEvent).values(site_id=site_id, **row))
    db.session.execute(
        sa.update(ChainHead).where(ChainHead.site_id == site_id).values(hash=row["hash"])
    )
    return row
