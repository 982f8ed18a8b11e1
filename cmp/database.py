"""Per-connection database settings (SQLite in WAL mode with a busy timeout and foreign keys),
the SQLite writers' queue, and driver connections for the consent write path."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import IO, Any, cast

import sqlalchemy as sa
from flask import Flask, current_app

from . import wal
from .config import COMMON_ENGINE_OPTIONS
from .extensions import db
from .prepared import DriverConnection

CONSENT_ENGINE_KEY = "cmp.consent_engine"
# What "fast" and "durable" consent commits mean on each backend (settings.CONSENT_COMMITS).
SQLITE_SYNCHRONOUS = {"fast": "NORMAL", "durable": "FULL"}
PG_FAST_COMMIT = "-c synchronous_commit=off"
CONSENT_APPLICATION_NAME = "cmp consent writes"  # how they show in pg_stat_activity


def _sqlite_pragmas(synchronous: str, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer. With NORMAL a commit is safe from a crash
    # of cmp but not from power loss (the log is synced at checkpoints); FULL syncs every commit.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA synchronous={synchronous}")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Checkpoints run on a thread of their own (cmp.wal); this is only the backstop.
    cursor.execute(f"PRAGMA wal_autocheckpoint={wal.BACKSTOP_PAGES}")
    cursor.close()


def init_app(app: Flask) -> None:
    """Hook connection settings onto the app's engine and set up the consent write engine."""
    consent_commit = app.config["CMP_SETTINGS"].consent_commit
    with app.app_context():
        engine = db.engine
        app.extensions[CONSENT_ENGINE_KEY] = _consent_engine(engine, consent_commit)
        if engine.dialect.name != "sqlite":
            return
        sa.event.listen(engine, "connect", partial(_sqlite_pragmas, SQLITE_SYNCHRONOUS[consent_commit]))
        path = engine.url.database
        if path and path != ":memory:":
            sa.event.listen(engine, "connect",
                            lambda *_: wal.ensure_checkpointer(os.path.abspath(path)))


def _consent_engine(engine: sa.Engine, consent_commit: str) -> sa.Engine:
    """The engine consent POSTs write with.

    On PostgreSQL with fast commits it is a pool of its own whose sessions run with
    ``synchronous_commit = off``: a consent is answered once it is in PostgreSQL's log, without
    waiting for the disk flush that cost more than the rest of the write. A crash of the
    database server or machine can then lose the last fraction of a second of consents (never
    part of one, never a break in the chain); those visitors find no active consent and are
    asked again. Everything else (erasures, expiry, the CLI) keeps the app's engine and waits
    for the disk. SQLite's equivalent is its ``synchronous`` pragma, set on every connection.
    """
    if engine.dialect.name != "postgresql" or consent_commit != "fast":
        return engine
    options = " ".join(filter(None, (engine.url.query.get("options"), PG_FAST_COMMIT)))
    return sa.create_engine(
        engine.url.difference_update_query(["options"]), pool_recycle=3600,
        connect_args={"options": options, "application_name": CONSENT_APPLICATION_NAME},
        **COMMON_ENGINE_OPTIONS,  # type: ignore[arg-type]
    )


def consent_engine() -> sa.Engine:
    """The current app's engine for consent writes (see :func:`_consent_engine`)."""
    return cast(sa.Engine, current_app.extensions[CONSENT_ENGINE_KEY])


@contextmanager
def serialized_writes(engine: sa.Engine) -> Iterator[None]:
    """Hold the writers' queue for one write transaction (SQLite only; a no-op elsewhere).

    SQLite lets one writer in at a time and makes the others poll with growing sleeps (1, 2,
    5, 10 … ms), so two busy workers lose most of their time sleeping. An ``flock`` beside the
    database file queues them in the kernel instead, which wakes the next writer at once.
    PostgreSQL queues writers on the chain-head row lock and needs nothing here.
    """
    handle = _write_lock(engine)
    if handle is None:
        yield
        return
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def driver_transaction(
    engine: sa.Engine, *, single_statement: bool = False
) -> Iterator[DriverConnection]:
    """A pooled driver connection of its own, outside the ORM session, committed on success.

    The consent write needs none of the session's bookkeeping, which costs more than SQLite's
    own work. With ``single_statement`` on PostgreSQL the connection runs in autocommit: the
    caller's one statement is its own transaction, sent without a BEGIN and a COMMIT round trip.
    The writers' queue (:func:`serialized_writes`) is held from the first statement to the
    commit, not while the connection is taken from the pool or given back.
    """
    pooled = _checkout(engine)
    driver = pooled.driver_connection
    autocommit = single_statement and engine.dialect.name == "postgresql"
    try:
        if autocommit:
            driver.autocommit = True  # type: ignore[union-attr]
        with serialized_writes(engine):
            yield DriverConnection(engine.dialect, driver)
            if not autocommit:
                pooled.commit()
    except engine.dialect.loaded_dbapi.OperationalError as error:
        # The request answers "unavailable, retry" instead of a server error. A lost connection
        # means the server went away: every pooled connection went with it, so the pool starts
        # afresh rather than failing the next requests one dead connection at a time.
        if engine.dialect.is_disconnect(error, driver, None):
            pooled.invalidate(error)
            engine.dispose()
        else:
            pooled.rollback()
        raise DatabaseUnavailable from error
    except BaseException:
        pooled.rollback()
        raise
    finally:
        if autocommit and pooled.is_valid:
            driver.autocommit = False  # type: ignore[union-attr]
        pooled.close()  # back to the pool


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or dropped the connection; the request may be retried."""


def _checkout(engine: sa.Engine) -> Any:
    """A raw pooled connection, or :class:`DatabaseUnavailable` when none can be opened."""
    try:
        return engine.raw_connection()
    except sa.exc.OperationalError as error:
        raise DatabaseUnavailable from error


# One open lock file per process and database, opened on first use (after gunicorn's fork).
_lock_files: dict[tuple[int, str], IO[bytes]] = {}


def _write_lock(engine: sa.Engine) -> IO[bytes] | None:
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    key = (os.getpid(), url.database)
    handle = _lock_files.get(key)
    if handle is None:
        handle = _lock_files[key] = open(url.database + ".writelock", "a+b")  # noqa: SIM115
    return handle
