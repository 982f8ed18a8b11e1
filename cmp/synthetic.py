"""Synthetic consent logs with a valid hash chain, fast to make, for load tests and benchmarks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from . import audit, clock
from .extensions import db
from .models import ChainHead

# A few decisions repeated: their digests are computed once, so only the per-event fields
# (seq, consent id, times) cost a hash each and a million events take seconds, not minutes.
TEMPLATES: tuple[dict[str, Any], ...] = tuple(
    {"kind": "given", "action": action, "purposes_granted": granted,
     "purposes_denied": denied, "vendors_granted": vendors, "vendors_denied": [],
     "snapshot_hash": None, "language": "en", "url": "https://shop.example/checkout",
     "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
     "ip_truncated": "198.51.100.0", "ip_hash": "ab" * 32, "ip_key_id": "k1", "gpc": False}
    for action, granted, denied, vendors in (
        ("accept_all", ["marketing", "necessary", "statistics"], [], ["cmp", "google-analytics"]),
        ("reject_all", ["necessary"], ["marketing", "statistics"], ["cmp"]),
        ("custom", ["necessary", "statistics"], ["marketing"], ["cmp", "google-analytics"]),
    )
)
LIFETIME = timedelta(days=365)


def _digest_text(text: str) -> str:
    """``audit.field_digest`` for a value whose canonical JSON is ``text`` (saves a dumps call)."""
    return hashlib.sha256(text.encode()).hexdigest()


def synthetic_events(count: int, start: datetime, snapshot_hash: str | None = None,
                     seq: int = 1, prev_hash: str = audit.GENESIS_HASH) -> Iterator[dict[str, Any]]:
    """``count`` chained events one second apart from ``start``, continuing at ``seq``."""
    templates = [{**t, "snapshot_hash": snapshot_hash} for t in TEMPLATES]
    fixed = [audit.field_digests(t) for t in templates]
    second = timedelta(seconds=1)
    created = start
    for n in range(count):
        which = n % len(templates)
        expires = created + LIFETIME
        consent_id = f"00000000-0000-4000-8000-{n + 1:012x}"
        row = {**templates[which], "seq": seq + n, "consent_id": consent_id,
               "created_at": created, "expires_at": expires}
        # Ints and plain ASCII strings: their canonical JSON is known without json.dumps.
        digests = {**fixed[which], "seq": _digest_text(str(seq + n)),
                   "consent_id": _digest_text(f'"{consent_id}"'),
                   "created_at": _digest_text(f'"{clock.isoformat(created)}"'),
                   "expires_at": _digest_text(f'"{clock.isoformat(expires)}"')}
        row["prev_hash"], row["hash"] = prev_hash, audit.link_hash(prev_hash, digests)
        prev_hash = row["hash"]
        created += second
        yield row


COLUMNS = ("site_id", "seq", "consent_id", "kind", "action", "purposes_granted",
           "purposes_denied", "vendors_granted", "vendors_denied", "snapshot_hash", "language",
           "url", "user_agent", "ip_truncated", "ip_hash", "ip_key_id", "gpc", "created_at",
           "expires_at", "prev_hash", "hash")
JSON_LISTS = ("purposes_granted", "purposes_denied", "vendors_granted", "vendors_denied")


def _driver_values(site_id: int, row: dict[str, Any], sqlite: bool) -> tuple[Any, ...]:
    """One row as the database driver takes it: JSON as text, SQLite times as naive text."""
    values = {**row, "site_id": site_id}
    for name in JSON_LISTS:
        values[name] = json.dumps(row[name])
    if sqlite:
        for name in ("created_at", "expires_at"):
            values[name] = row[name].strftime("%Y-%m-%d %H:%M:%S.%f")
    return tuple(values[name] for name in COLUMNS)


def insert_synthetic(site_id: int, count: int, start: datetime, snapshot_hash: str | None = None,
                     batch: int = 20_000) -> None:
    """Append ``count`` synthetic events to a site's chain through the raw driver (commits).

    PostgreSQL gets them by COPY, SQLite by executemany: a million rows take seconds.
    """
    head = db.session.execute(sa.select(ChainHead.seq, ChainHead.hash)
                              .where(ChainHead.site_id == site_id)).one()
    sqlite = db.engine.dialect.name == "sqlite"
    driver = db.session.connection().connection.driver_connection
    last = None
    rows = []
    events = synthetic_events(count, start, snapshot_hash, head.seq + 1, head.hash)
    for last in events:
        rows.append(_driver_values(site_id, last, sqlite))
        if len(rows) == batch:
            _write(driver, rows, sqlite)
            rows = []
    _write(driver, rows, sqlite)
    if last is not None:
        db.session.execute(sa.update(ChainHead).where(ChainHead.site_id == site_id)
                           .values(seq=last["seq"], hash=last["hash"]))
    db.session.commit()


def _write(driver: Any, rows: list[tuple[Any, ...]], sqlite: bool) -> None:
    if not rows:
        return
    names = ", ".join(COLUMNS)
    if sqlite:
        marks = ", ".join("?" * len(COLUMNS))
        driver.executemany(f"INSERT INTO consent_events ({names}) VALUES ({marks})", rows)
        return
    with driver.cursor() as cursor, cursor.copy(f"COPY consent_events ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
