"""Consent statistics per time bucket: decisions by action and opt-in rates, counted in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .extensions import db
from .models import ConsentEvent

BUCKETS = {"day": ("YYYY-MM-DD", 10), "month": ("YYYY-MM", 7)}
DECISION_KINDS = ("given", "updated", "withdrawn")
COUNTED_ACTIONS = ("accept_all", "reject_all", "custom", "withdraw")
CHOICE_LISTS = (
    ("purposes", "granted", ConsentEvent.purposes_granted),
    ("purposes", "denied", ConsentEvent.purposes_denied),
    ("vendors", "granted", ConsentEvent.vendors_granted),
    ("vendors", "denied", ConsentEvent.vendors_denied),
)


def _bucket(bucket: str) -> Any:
    pattern, length = BUCKETS[bucket]
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", ConsentEvent.created_at), pattern)
    # SQLite keeps UTC datetimes as "YYYY-MM-DD HH:MM:SS.ffffff": the prefix is the bucket.
    return sa.func.substr(sa.type_coerce(ConsentEvent.created_at, sa.String), 1, length)


def _decisions(site_id: int, since: datetime | None, until: datetime | None) -> list[Any]:
    conditions: list[Any] = [ConsentEvent.site_id == site_id,
                             ConsentEvent.kind.in_(DECISION_KINDS)]
    if since is not None:
        conditions.append(ConsentEvent.created_at >= since)
    if until is not None:
        conditions.append(ConsentEvent.created_at < until)
    return conditions


def _elements(column: Any) -> Any:
    """The elements of a JSON list column as a table joined to each row."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.jsonb_array_elements_text(column).table_valued("value").lateral()
    return sa.func.json_each(column).table_valued("value")


def _action_counts(bucket: Any, conditions: list[Any]) -> dict[str, dict[str, int]]:
    sums = [sa.func.sum(sa.case((ConsentEvent.action == action, 1), else_=0)).label(action)
            for action in COUNTED_ACTIONS]
    query = (sa.select(bucket.label("bucket"), *sums).where(*conditions)
             .group_by(bucket).order_by(bucket))
    return {row.bucket: {a: int(getattr(row, a) or 0) for a in COUNTED_ACTIONS}
            for row in db.session.execute(query)}


def _choice_counts(bucket: Any, conditions: list[Any]) -> list[Any]:
    parts = []
    for subject, state, column in CHOICE_LISTS:
        elements = _elements(column)
        parts.append(
            sa.select(bucket.label("bucket"), sa.literal(subject).label("subject"),
                      sa.literal(state).label("state"), elements.c.value.label("id"),
                      sa.func.count().label("n"))
            .select_from(ConsentEvent).join(elements, sa.true()).where(*conditions)
            .group_by(bucket, elements.c.value))
    return list(db.session.execute(sa.union_all(*parts)))


def consent_stats(site_id: int, since: datetime | None = None, until: datetime | None = None,
                  bucket: str = "day") -> list[dict[str, Any]]:
    """Per bucket: decisions by action, and granted/denied counts with the opt-in rate
    of every purpose and vendor.

    :raises KeyError: for an unknown ``bucket``.
    """
    bucket_expression = _bucket(bucket)
    conditions = _decisions(site_id, since, until)
    buckets = {
        start: {"start": start, **counts, "total": sum(counts.values()),
                "purposes": {}, "vendors": {}}
        for start, counts in _action_counts(bucket_expression, conditions).items()
    }
    for row in _choice_counts(bucket_expression, conditions):
        entry = buckets[row.bucket][row.subject].setdefault(row.id, {"granted": 0, "denied": 0})
        entry[row.state] += int(row.n)
    for data in buckets.values():
        for subject in ("purposes", "vendors"):
            for entry in data[subject].values():
                entry["opt_in_rate"] = round(entry["granted"] / (entry["granted"]
                                                                 + entry["denied"]), 4)
    return list(buckets.values())
