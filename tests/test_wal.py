"""SQLite WAL checkpoints run on a thread of their own, not inside a consent's commit."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from flask import Flask

from cmp import wal
from cmp.extensions import db


def _wait_for(condition, seconds: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_thread_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = str(tmp_path / "wal.sqlite3")
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # nothing but the thread checkpoints
    writer.execute("CREATE TABLE t (x TEXT)")
    writer.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 2000)
    writer.commit()
    before = Path(path).stat().st_size
    assert Path(path + "-wal").stat().st_size > 500_000  # the rows live in the log so far

    checkpointer = wal.WalCheckpointer(path, interval=0.02)
    checkpointer.start()
    assert _wait_for(lambda: Path(path).stat().st_size > before + 500_000)
    busy, log_frames, checkpointed = writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert (busy, checkpointed) == (0, log_frames)
    writer.close()

    Path(path).unlink()  # the database is gone: the thread ends by itself
    checkpointer.join(timeout=5)
    assert not checkpointer.is_alive()


@pytest.mark.db
def test_app_connections_leave_checkpoints_to_the_thread(app: Flask) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as connection:
        pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pages == wal.BACKSTOP_PAGES
    running = wal.ensure_checkpointer(os.path.abspath(db.engine.url.database or ""))
    assert running.is_alive()
    assert running is wal.ensure_checkpointer(running.path)  # one per process and file
