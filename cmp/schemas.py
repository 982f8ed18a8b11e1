"""Marshmallow schemas: the vendors.yaml format and the API's request and response bodies."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,63}$", error="must be a lowercase slug (a-z, 0-9, -)")
LANGUAGE = validate.Regexp(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", error="must be a language tag like en or de")
ISO_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")
LEGAL_BASES = ("consent", "legitimate_interest", "contract", "legal_obligation")
SAFEGUARDS = ("DPF", "SCC", "adequacy", "none")
CONSENT_MODE_SIGNALS = (
    "ad_storage",
    "analytics_storage",
    "ad_user_data",
    "ad_personalization",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
)
URL_LIMIT = 2000
SHA256_HEX = validate.Regexp(r"^[0-9a-f]{64}$", error="must be a 64-character hex SHA-256")


def _duration(value: str) -> None:
    if value != "session" and not ISO_DURATION.match(value):
        raise ValidationError("must be an ISO 8601 duration like P1Y, P26M, PT30M, or 'session'")


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false``, nothing that merely looks like one ("yes", 1)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class ChoiceMap(fields.Field):
    """A JSON object of ids (1 to 64 characters) to ``true``/``false``, at most ``max_items``.

    Checked in one pass: ``fields.Dict`` with a key and a value field costs a field call per
    entry, and this is parsed on every consent.
    """

    def __init__(self, max_items: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, bool]:
        if not isinstance(value, dict):
            raise ValidationError("must be an object of ids to true or false")
        if len(value) > self.max_items:
            raise ValidationError(f"must have at most {self.max_items} entries")
        errors: dict[str, dict[str, list[str]]] = {}
        for key, choice in value.items():
            if not 1 <= len(key) <= 64:
                errors.setdefault(key, {})["key"] = ["must be 1 to 64 characters"]
            if type(choice) is not bool:
                errors.setdefault(key, {})["value"] = ["must be true or false"]
        if errors:
            raise ValidationError(errors)  # type: ignore[arg-type]
        return value


class PageUrl(fields.String):
    """An absolute http(s) URL with a host, at most ``URL_LIMIT`` characters.

    ``fields.Url``'s validating regex cost half of a consent's parsing; the page URL is only
    kept as scheme, host and path, so parsing it is check enough.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        url = super()._deserialize(value, attr, data, **kwargs)
        if len(url) > URL_LIMIT:
            raise ValidationError(f"must be at most {URL_LIMIT} characters")
        try:
            parts = urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:  # e.g. an unclosed IPv6 bracket
            valid = False
        if not valid or any(c.isspace() for c in url):
            raise ValidationError("must be an absolute http or https URL")
        return url


class Duration(fields.String):
    """An ISO 8601 duration or ``session``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=_duration, **kwargs)


def texts_field(inner: type[Schema]) -> fields.Dict:
    """Texts per language: ``{en: {...}, de: {...}}``; English is required."""
    return fields.Dict(
        keys=fields.String(validate=LANGUAGE),
        values=fields.Nested(inner),
        required=True,
        validate=_english_present,
    )


def _english_present(value: dict[str, Any]) -> None:
    if "en" not in value:
        raise ValidationError("English text (en) is required")


# --- vendors.yaml ---------------------------------------------------------------------------


class TitledText(Schema):
    title = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(required=True, validate=validate.Length(1, 2000))


class DescriptionText(Schema):
    description = fields.String(required=True, validate=validate.Length(1, 2000))


class PurposeSchema(Schema):
    id = fields.String(required=True, validate=SLUG)
    always_on = fields.Boolean(load_default=False)
    texts = texts_field(TitledText)


class CookieSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    domain = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 253))
    party = fields.String(required=True, validate=validate.OneOf(("first", "third")))
    duration = Duration(required=True)
    texts = texts_field(DescriptionText)


class TransferSchema(Schema):
    third_country = fields.Boolean(required=True)
    countries = fields.List(fields.String(validate=validate.Length(2, 2)), load_default=list)
    safeguard = fields.String(required=True, validate=validate.OneOf(SAFEGUARDS))

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        if data["third_country"] and data["safeguard"] == "none":
            raise ValidationError("a third-country transfer needs a safeguard", "safeguard")


class VendorSchema(Schema):
    id = fields.String(required=True, validate=SLUG)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    legal_entity = fields.String(required=True, validate=validate.Length(1, 300))
    address = fields.String(required=True, validate=validate.Length(1, 500))
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    privacy_policy_url = fields.Url(required=True, schemes={"https", "http"})
    purposes = fields.List(fields.String(validate=SLUG), required=True, validate=validate.Length(1))
    legal_basis = fields.String(required=True, validate=validate.OneOf(LEGAL_BASES))
    always_on = fields.Boolean(load_default=False)
    retention = Duration(required=True)
    transfer = fields.Nested(TransferSchema, required=True)
    consent_mode = fields.List(
        fields.String(validate=validate.OneOf(CONSENT_MODE_SIGNALS)), load_default=list
    )
    texts = texts_field(DescriptionText)
    cookies = fields.List(fields.Nested(CookieSchema), load_default=list)


class CatalogueSchema(Schema):
    version = fields.Integer(required=True, validate=validate.Equal(1))
    languages = fields.List(fields.String(validate=LANGUAGE), required=True)
    ui = fields.Dict(
        keys=fields.String(validate=LANGUAGE),
        values=fields.Dict(keys=fields.String(), values=fields.String()),
        required=True,
        validate=_english_present,
    )
    purposes = fields.List(fields.Nested(PurposeSchema), required=True, validate=validate.Length(1))
    vendors = fields.List(fields.Nested(VendorSchema), required=True)


# --- API ------------------------------------------------------------------------------------

ACTIONS = ("accept_all", "reject_all", "custom", "withdraw")


class ConfigQuerySchema(Schema):
    lang = fields.String(load_default=None, validate=validate.Length(1, 35))


class ConsentRequestSchema(Schema):
    consent_id = fields.UUID(load_default=None, allow_none=True)
    action = fields.String(required=True, validate=validate.OneOf(ACTIONS))
    purposes = ChoiceMap(64, load_default=dict)
    vendors = ChoiceMap(500, load_default=dict)
    revision = fields.String(required=True, validate=SHA256_HEX)
    language = fields.String(load_default="en", validate=LANGUAGE)
    url = PageUrl(load_default=None, allow_none=True)
    gpc = StrictBoolean(load_default=False)

    @post_load
    def _plain_id(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        # Services take plain values: the consent id as the string stored everywhere.
        consent_id = data["consent_id"]
        return {**data, "consent_id": str(consent_id) if consent_id else None}


class ConsentResponseSchema(Schema):
    consent_id = fields.String()
    status = fields.String()
    given_at = fields.DateTime()
    expires_at = fields.DateTime()
    revision = fields.String()
    receipt = fields.String()


class ConsentStateSchema(Schema):
    consent_id = fields.String(attribute="id")
    site = fields.String()
    status = fields.String()
    action = fields.String()
    purposes = fields.Dict(keys=fields.String(), values=fields.Boolean())
    vendors = fields.Dict(keys=fields.String(), values=fields.Boolean())
    revision = fields.String()
    language = fields.String()
    gpc = fields.Boolean()
    given_at = fields.DateTime()
    updated_at = fields.DateTime()
    expires_at = fields.DateTime()


class ConsentEventSchema(Schema):
    seq = fields.Integer()
    kind = fields.String()
    action = fields.String()
    purposes_granted = fields.List(fields.String())
    purposes_denied = fields.List(fields.String())
    vendors_granted = fields.List(fields.String())
    vendors_denied = fields.List(fields.String())
    snapshot_hash = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    url = fields.String(allow_none=True)
    user_agent = fields.String(allow_none=True)
    ip_truncated = fields.String(allow_none=True)
    ip_hash = fields.String(allow_none=True)
    ip_key_id = fields.String(allow_none=True)
    gpc = fields.Boolean()
    created_at = fields.DateTime()
    expires_at = fields.DateTime(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String()


class ConsentRecordSchema(Schema):
    consent = fields.Nested(ConsentStateSchema)
    events = fields.List(fields.Nested(ConsentEventSchema))


class ConsentStatusSchema(Schema):
    status = fields.String()
    expires_at = fields.DateTime()
    revision = fields.String()


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into ``{"vendors[4].cookies[1].duration": [...]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix or "(body)"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            for sub_path, sub in flatten_errors(value, path).items():
                flat.setdefault(sub_path, []).extend(sub)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "(body)"] = list(messages)
    elif isinstance(messages, list):
        for item in messages:
            for sub_path, sub in flatten_errors(item, prefix).items():
                flat.setdefault(sub_path, []).extend(sub)
    else:
        flat[prefix or "(body)"] = [str(messages)]
    return flat
