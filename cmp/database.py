"""Per-connection database settings (SQLite in WAL mode with a busy timeout and foreign keys),
the SQLite writers' queue, and driver connections for the consent write path."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import sqlalchemy as sa
from flask import Flask

from . import wal
from .extensions import db
from .prepared import DriverConnection


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; NORMAL sync is durable in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Checkpoints run on a thread of their own (cmp.wal); this is only the backstop.
    cursor.execute(f"PRAGMA wal_autocheckpoint={wal.BACKSTOP_PAGES}")
    cursor.close()


def init_app(app: Flask) -> None:
    """Hook connection settings onto the app's engine."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "sqlite":
            return
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        path = engine.url.database
        if path and path != ":memory:":
            sa.event.listen(engine, "connect",
                            lambda *_: wal.ensure_checkpointer(os.path.abspath(path)))


@contextmanager
def serialized_writes() -> Iterator[None]:
    """Hold the writers' queue for one write transaction (SQLite only; a no-op elsewhere).

    SQLite lets one writer in at a time and makes the others poll with growing sleeps (1, 2,
    5, 10 … ms), so two busy workers lose most of their time sleeping. An ``flock`` beside the
    database file queues them in the kernel instead, which wakes the next writer at once.
    PostgreSQL queues writers on the chain-head row lock and needs nothing here.
    """
    handle = _write_lock()
    if handle is None:
        yield
        return
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def driver_transaction(*, single_statement: bool = False) -> Iterator[DriverConnection]:
    """A pooled driver connection of its own, outside the ORM session, committed on success.

    The consent write needs none of the session's bookkeeping, which costs more than SQLite's
    own work. With ``single_statement`` on PostgreSQL the connection runs in autocommit: the
    caller's one statement is its own transaction, sent without a BEGIN and a COMMIT round trip.
    """
    engine = db.engine
    pooled = engine.raw_connection()
    driver = pooled.driver_connection
    autocommit = single_statement and engine.dialect.name == "postgresql"
    try:
        if autocommit:
            driver.autocommit = True  # type: ignore[union-attr]
        yield DriverConnection(engine.dialect, driver)
        if not autocommit:
            pooled.commit()
    except BaseException:
        pooled.rollback()
        raise
    finally:
        if autocommit:
            driver.autocommit = False  # type: ignore[union-attr]
        pooled.close()  # back to the pool


# One open lock file per process and database, opened on first use (after gunicorn's fork).
_lock_files: dict[tuple[int, str], IO[bytes]] = {}


def _write_lock() -> IO[bytes] | None:
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    key = (os.getpid(), url.database)
    handle = _lock_files.get(key)
    if handle is None:
        handle = _lock_files[key] = open(url.database + ".writelock", "a+b")  # noqa: SIM115
    return handle
