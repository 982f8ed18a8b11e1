"""Request-edge concerns shared by every API view: settings, services, the pseudonymised
client, JSON bodies and the rate limiter."""

from __future__ import annotations

import re
from typing import Any, cast

from flask import Flask, current_app, request
from marshmallow import Schema, ValidationError

from .. import tokens
from ..config import Settings
from ..configs import CatalogueMissing, ConfigService, SiteInfo, SiteNotFound
from ..errors import Problem
from ..privacy import PseudonymousClient, client_address, pseudonymise
from ..ratelimit import RateLimiter, rate_limiter
from ..schemas import flatten_errors

CONFIG_SERVICE_KEY = "cmp.config_service"
CLIENT_KEY = "cmp.client"
RATE_LIMITER_KEY = "cmp.rate_limiter"
SITE_KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
CONSENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def settings() -> Settings:
    """The parsed settings of the running app."""
    return cast(Settings, current_app.config["CMP_SETTINGS"])


def config_service() -> ConfigService:
    """The app's config service (one per process)."""
    return cast(ConfigService, current_app.extensions[CONFIG_SERVICE_KEY])


def current_client() -> PseudonymousClient:
    """The pseudonymised client of this request; the raw address is read here and kept nowhere."""
    # Cached on the request itself (not ``g``, which can outlive one request).
    cached = request.environ.get(CLIENT_KEY)
    if cached is None:
        s = settings()
        address = client_address(
            request.remote_addr, request.headers.get("X-Forwarded-For"), s.trusted_proxies
        )
        cached = request.environ[CLIENT_KEY] = pseudonymise(address, s.ip_hash_key, s.ip_hash_key_id)
    return cast(PseudonymousClient, cached)


def enforce_rate_limit() -> None:
    """Count this request against its pseudonymised client (never the raw address); 429 over."""
    limiter = cast(RateLimiter, current_app.extensions[RATE_LIMITER_KEY])
    retry_after = limiter.hit(current_client().ip_hash)
    if retry_after is not None:
        raise Problem(429, f"Too many consent requests from this network; retry in {retry_after} s.",
                      slug="rate-limited", headers={"Retry-After": str(retry_after)})


def site_or_404(site_key: str) -> SiteInfo:
    """The site named in the URL, or a 404 problem."""
    # Checked before any query: PostgreSQL refuses some strings (NUL) with an error, not a miss.
    if not SITE_KEY.match(site_key):
        raise Problem(404, f"No site with key {site_key!r}.", slug="unknown-site")
    try:
        return config_service().site(site_key)
    except SiteNotFound:
        raise Problem(404, f"No site with key {site_key!r}.", slug="unknown-site") from None
    except CatalogueMissing as error:
        raise Problem(503, str(error), slug="catalogue-missing") from None


def is_consent_id(value: str) -> bool:
    """True when ``value`` has the form of a consent id (a UUID) and can be looked up."""
    return bool(CONSENT_ID.match(value))


def receipt_required() -> Problem:
    """The one answer for "no receipt", "wrong receipt" and "no such consent": nothing leaks."""
    return Problem(401, "A valid receipt for this consent is needed as Authorization: Bearer.",
                   slug="receipt-required", headers={"WWW-Authenticate": "Bearer"})


def receipt_holder(site_key: str, consent_id: str) -> SiteInfo:
    """The site, once the request proved it holds this consent's receipt (else 401)."""
    site = site_or_404(site_key)
    token = bearer_token()
    if not (token and is_consent_id(consent_id)
            and tokens.receipt_opens(settings().secret_key, token, site_key, consent_id)):
        raise receipt_required()
    return site


def json_body(what: str = "the body") -> Any:
    """The parsed JSON body; a missing content type, bad JSON or absurd nesting is a 4xx."""
    if not request.is_json:
        raise Problem(415, f"Send {what} as application/json.", slug="unsupported-media-type")
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # thousands of nested brackets: refuse, don't crash
        body = None
    if body is None:
        raise Problem(400, "The body is not valid JSON.", slug="malformed-json")
    return body


def load_json(schema: Schema) -> dict[str, Any]:
    """Parse the JSON body with ``schema``; every failure is a 4xx that says what was wrong."""
    body = json_body()
    if not isinstance(body, dict):
        raise Problem(422, "The body must be a JSON object.", slug="validation-error",
                      errors={"(body)": ["must be an object"]})
    return load_values(schema, body)


def load_values(schema: Schema, values: Any) -> dict[str, Any]:
    """Load ``values`` (a body or query arguments) with ``schema``, or a 422 problem."""
    try:
        return cast(dict[str, Any], schema.load(values))
    except ValidationError as error:
        errors = flatten_errors(error.messages)
        raise Problem(422, "Some fields are invalid: " + ", ".join(errors), slug="validation-error",
                      errors=errors) from None


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def init_app(app: Flask) -> None:
    """Create the per-process services and bind the limiter."""
    s = cast(Settings, app.config["CMP_SETTINGS"])
    app.extensions[CONFIG_SERVICE_KEY] = ConfigService(s.config_recheck_seconds)
    app.extensions[RATE_LIMITER_KEY] = rate_limiter(s.rate_limit, s.rate_limit_storage)
