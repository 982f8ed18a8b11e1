"""The demo site served at ``/`` by ``make run`` (placeholder; the banner work fills this in)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the demo routes."""
