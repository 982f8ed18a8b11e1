"""JSON for the API and the JSON columns, through orjson.

The standard library's encoder goes through several Python layers per call; a consent POST
encodes eight small values (its choices for two columns, four lists for the log, the response,
the request) and orjson cut about a tenth of the whole request's time. The log's hashes do not
use this: they hash ``audit.canonical_json``, whose output must never change.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from flask.json.provider import JSONProvider

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """What orjson leaves to us: the few types Flask's own provider also turns into JSON."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    """Compact JSON text with sorted keys."""
    return orjson.dumps(value, default=_default, option=_OPTIONS).decode()


def loads(text: str | bytes) -> Any:
    """Parse JSON; malformed input raises ``json.JSONDecodeError`` (a ``ValueError``)."""
    return orjson.loads(text)


class OrjsonProvider(JSONProvider):
    """Flask's JSON provider on orjson: ``jsonify``, ``request.get_json`` and the test client."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        option = _OPTIONS | (orjson.OPT_INDENT_2 if kwargs.get("indent") else 0)
        return orjson.dumps(obj, default=_default, option=option).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)
