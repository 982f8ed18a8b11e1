"""Small SQL helpers that differ by dialect (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db


def upsertable_insert(table: Any) -> Any:
    """The bound dialect's INSERT, which knows ON CONFLICT (both dialects spell it the same)."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def insert_ignoring_conflicts(table: Any, index_elements: list[str]) -> Any:
    """An INSERT that leaves an existing row with the same key alone (content-addressed rows)."""
    return upsertable_insert(table).on_conflict_do_nothing(index_elements=index_elements)


def is_postgres() -> bool:
    """True when the bound database is PostgreSQL."""
    return db.engine.dialect.name == "postgresql"


def table_names() -> list[str]:
    """Every table in the bound database."""
    return sa.inspect(db.engine).get_table_names()
