"""Statements of the consent write path, compiled once and run on a driver connection.

SQLAlchemy's per-execution work (cache lookups, parameter construction, result set-up) costs
about five times what SQLite spends executing the four statements of a consent. The statements
stay SQLAlchemy Core constructs on the models' tables: this compiles each one once for the bound
dialect, keeps its SQL text, parameter order and the column types' bind processors, and executes
it on a DBAPI connection: the session's (inside its transaction) or one of
:func:`cmp.database.driver_transaction`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from .extensions import db


@dataclass(frozen=True)
class DriverConnection:
    """A DBAPI connection and the dialect its statements are compiled for."""

    dialect: Dialect
    dbapi: Any

    @classmethod
    def of(cls, connection: sa.Connection) -> DriverConnection:
        """The driver connection under a SQLAlchemy connection (same transaction)."""
        return cls(connection.dialect, connection.connection.dbapi_connection)

    @property
    def dialect_name(self) -> str:
        return str(self.dialect.name)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: dict[str, Any]  # literal values the statement binds itself (the 1 of seq + 1)
    positional: bool


class Prepared:
    """A Core statement whose parameters are always ``keys``, compiled once per dialect."""

    def __init__(self, statement: sa.sql.ClauseElement, keys: Sequence[str] = ()) -> None:
        self._statement = statement
        self._keys = list(keys)
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._statement.compile(dialect=dialect, column_keys=self._keys or None)
        positional = bool(compiled.positional)
        names = tuple(compiled.positiontup or ()) if positional else tuple(compiled.binds)
        processors = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        defaults = {name: bind.value for name, bind in compiled.binds.items()
                    if bind.value is not None}
        return _Compiled(str(compiled), names, processors, defaults, positional)

    def execute(
        self, params: Mapping[str, Any], connection: sa.Connection | DriverConnection | None = None
    ) -> Any:
        """Run on ``connection`` (default: the session's); returns the driver cursor."""
        if not isinstance(connection, DriverConnection):
            connection = DriverConnection.of(connection or db.session.connection())
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = self._compile(dialect)
        raw = [params[name] if name in params else compiled.defaults[name]
               for name in compiled.names]
        values = [process(value) if process else value
                  for value, process in zip(raw, compiled.processors, strict=True)]
        cursor = connection.dbapi.cursor()
        cursor.execute(compiled.sql, values if compiled.positional
                       else dict(zip(compiled.names, values, strict=True)))
        return cursor
