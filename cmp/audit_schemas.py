"""Marshmallow schemas of the audit API: export and stats queries, tokens' views, receipts."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .export import FORMATS
from .models import EVENT_KINDS
from .schemas import SLUG
from .stats import BUCKETS


def _time(name: str) -> fields.AwareDateTime:
    # Naive times and plain dates are read as UTC, the zone of every stored timestamp.
    return fields.AwareDateTime(data_key=name, load_default=None, default_timezone=UTC)


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
