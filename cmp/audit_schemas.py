"""Marshmallow schemas of the audit API: export and stats queries, tokens' views, receipts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .export import FORMATS
from .models import EVENT_KINDS
from .schemas import SLUG
from .stats import BUCKETS

# Years a time filter may fall in, once in UTC: a year short of datetime's limit, so that a
# bound shifted by a zone or a day (by a driver, a bucket) can never leave datetime's range.
YEARS = (1, 9998)


class UTCTime(fields.AwareDateTime):
    """An ISO 8601 time, loaded as an aware UTC datetime within ``YEARS``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            # 0001-01-01T00:00+14:00 is a valid ISO time that has no UTC datetime.
            moment = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("is out of range once converted to UTC") from None
        if not YEARS[0] <= moment.year <= YEARS[1]:
            raise ValidationError(f"must lie within the years {YEARS[0]}..{YEARS[1]} (UTC)")
        return moment


def _time(name: str) -> UTCTime:
    # Naive times and plain dates are read as UTC, the zone of every stored timestamp.
    return UTCTime(data_key=name, load_default=None, default_timezone=UTC)


class _Period(Schema):
    since = _time("from")
    until = _time("to")

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ValidationError("must be later than from", "to")


class ExportQuerySchema(_Period):
    format = fields.String(load_default="csv", validate=validate.OneOf(FORMATS))
    kind = fields.String(load_default=None, validate=validate.OneOf(EVENT_KINDS))
    purpose = fields.String(load_default=None, validate=SLUG)
    vendor = fields.String(load_default=None, validate=SLUG)


class StatsQuerySchema(_Period):
    bucket = fields.String(load_default="day", validate=validate.OneOf(tuple(BUCKETS)))


class ChoiceRateSchema(Schema):
    granted = fields.Integer()
    denied = fields.Integer()
    opt_in_rate = fields.Float()


class StatsBucketSchema(Schema):
    start = fields.String()
    accept_all = fields.Integer()
    reject_all = fields.Integer()
    custom = fields.Integer()
    withdraw = fields.Integer()
    total = fields.Integer()
    purposes = fields.Dict(keys=fields.String(), values=fields.Nested(ChoiceRateSchema))
    vendors = fields.Dict(keys=fields.String(), values=fields.Nested(ChoiceRateSchema))


class StatsSchema(Schema):
    site = fields.String()
    bucket = fields.String()
    buckets = fields.List(fields.Nested(StatsBucketSchema))


class VerifiedSchema(Schema):
    valid = fields.Boolean()
