"""Rate limits on the consent POST, counted per pseudonymised client.

Flask-Limiter hooks every request of the app; only one endpoint needs a limit, so this is called
from that endpoint. Shared stores (``redis://…``, for several instances) go through the
``limits`` library; the per-process default is a plain counter here, because ``limits``' memory
store wakes a timer thread every 10 ms, which costs a sync worker more than the check itself.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from limits import parse, storage, strategies

SCOPE = "consents"


class RateLimiter(Protocol):
    def hit(self, client_key: str) -> int | None:
        """Count one request; None when allowed, else the seconds until the window resets."""

    def reset(self) -> None:
        """Forget every count (tests)."""


class LocalRateLimiter:
    """A fixed-window counter in this process's memory."""

    def __init__(self, rate: str) -> None:
        item = parse(rate)
        self._amount = item.amount
        self._window = item.get_expiry()
        self._lock = threading.Lock()
        self._current = -1
        self._counts: dict[str, int] = {}

    def hit(self, client_key: str) -> int | None:
        now = time.time()
        window = int(now // self._window)
        with self._lock:
            if window != self._current:  # a new window: every count starts again
                self._current, self._counts = window, {}
            count = self._counts.get(client_key, 0) + 1
            self._counts[client_key] = count
        if count <= self._amount:
            return None
        return max(1, int((window + 1) * self._window - now) + 1)

    def reset(self) -> None:
        with self._lock:
            self._counts = {}


class SharedRateLimiter:
    """A fixed-window limit kept in a store shared by every process (redis://, memcached://…)."""

    def __init__(self, rate: str, storage_uri: str) -> None:
        self._limit = parse(rate)
        self._storage = storage.storage_from_string(storage_uri)
        self._strategy = strategies.FixedWindowRateLimiter(self._storage)

    def hit(self, client_key: str) -> int | None:
        if self._strategy.hit(self._limit, SCOPE, client_key):
            return None
        reset_at, _remaining = self._strategy.get_window_stats(self._limit, SCOPE, client_key)
        return max(1, int(reset_at - time.time()) + 1)

    def reset(self) -> None:
        self._storage.reset()


def rate_limiter(rate: str, storage_uri: str) -> RateLimiter:
    """The limiter for ``rate`` kept where ``storage_uri`` says (``memory://``: this process)."""
    if storage_uri == "memory://":
        return LocalRateLimiter(rate)
    return SharedRateLimiter(rate, storage_uri)
