"""The one source of "now": every timestamp in cmp comes from here, so tests can move time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    """Return the current time as an aware UTC datetime (shifted or frozen by tests)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def shift(delta: timedelta) -> None:
    """Move the clock by ``delta`` for the rest of the process (tests only)."""
    global _offset
    _offset += delta


def freeze(at: datetime | None) -> None:
    """Stop the clock at ``at``; ``None`` lets it run again."""
    global _frozen
    _frozen = at


def reset() -> None:
    """Return to real time."""
    global _offset, _frozen
    _offset, _frozen = timedelta(0), None


@contextmanager
def frozen_at(at: datetime) -> Iterator[None]:
    """Freeze the clock at ``at`` for the duration of the block."""
    previous = _frozen
    freeze(at)
    try:
        yield
    finally:
        freeze(previous)


def isoformat(moment: datetime) -> str:
    """Render a timestamp the one way cmp writes them: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
