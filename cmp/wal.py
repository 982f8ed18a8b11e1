"""SQLite write-ahead-log checkpoints, run beside the requests instead of inside them.

SQLite copies the WAL back into the database file (a checkpoint) from inside whichever commit
pushes the log over 1,000 pages. That commit then takes several milliseconds while it still
holds the write lock, so every writer behind it waits: on the consent POST these stalls were
under 1% of the requests but 8% of the time, and all of the p99. Here each process runs one
daemon thread that makes a PASSIVE checkpoint every fraction of a second; PASSIVE never waits
for readers or writers, and the sqlite3 module lets go of the GIL while it works. The
connections' own automatic checkpoint stays as a far-off backstop, should the thread stop.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 0.2
# Pages of WAL before a committing connection checkpoints by itself (SQLite's default is 1,000):
# reached only when the thread is not keeping up or not running.
BACKSTOP_PAGES = 20_000

_running: dict[tuple[int, str], WalCheckpointer] = {}
_lock = threading.Lock()


class WalCheckpointer(threading.Thread):
    """Checkpoints one database file every ``interval`` seconds until it is gone."""

    def __init__(self, path: str, interval: float = INTERVAL_SECONDS) -> None:
        super().__init__(name=f"wal-checkpoint {os.path.basename(path)}", daemon=True)
        self.path = path
        self.interval = interval
        self.checkpoints = 0  # completed checkpoint calls, for tests and curiosity

    def run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while os.path.exists(self.path):
                time.sleep(self.interval)
                try:
                    if connection is None:
                        connection = sqlite3.connect(self.path, timeout=1, check_same_thread=False)
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as error:  # busy or locked: the next round tries again
                    log.debug("WAL checkpoint of %s skipped: %s", self.path, error)
        finally:
            if connection is not None:
                connection.close()
            with _lock:
                _running.pop((os.getpid(), self.path), None)


def ensure_checkpointer(path: str) -> WalCheckpointer:
    """The running checkpointer of ``path`` in this process, started on first call.

    Keyed by process id as well: a thread does not survive gunicorn's fork, so every worker
    starts its own when it first connects.
    """
    key = (os.getpid(), path)
    with _lock:
        checkpointer = _running.get(key)
        if checkpointer is None or not checkpointer.is_alive():
            checkpointer = _running[key] = WalCheckpointer(path)
            checkpointer.start()
    return checkpointer
