"""Settings from ``CMP_*`` environment variables, parsed and checked once at start-up."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from . import json_codec

T = TypeVar("T")

ENVIRONMENTS = ("development", "production", "test")
# Values that are clearly placeholders: refusing them in production stops copy-pasted examples.
PLACEHOLDER_SECRETS = {"", "dev", "change-me", "changeme", "secret", "development"}
MAX_LIFETIME_DAYS = 395  # 13 months: the longest consent lifetime regulators accept
# How a consent POST commits: "fast" answers once the write is in the database's log (SQLite
# WAL with synchronous=NORMAL, PostgreSQL synchronous_commit=off), "durable" once it is on disk.
CONSENT_COMMITS = ("fast", "durable")


# hide_parameters: a failed statement's values (user agents, URLs) stay out of the logs.
COMMON_ENGINE_OPTIONS: dict[str, object] = {
    "hide_parameters": True, "json_serializer": json_codec.dumps,
    "json_deserializer": json_codec.loads,
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Every setting cmp reads, already parsed."""

    env: str
    instance_path: Path
    database_url: str
    secret_key: str
    ip_hash_key: bytes
    ip_hash_key_id: str
    trusted_proxies: int
    vendors_path: Path
    rate_limit: str
    rate_limit_storage: str
    config_recheck_seconds: float
    max_body_bytes: int
    expire_interval_minutes: int
    expire_batch_size: int
    checkpoint_interval_hours: int
    retention_days: int | None
    lease_seconds: int
    log_level: str
    consent_commit: str = "fast"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def flask_config(self) -> dict[str, object]:
        """The Flask and extension keys derived from these settings."""
        # No pre-ping: it costs a round trip on every request; a connection broken by a database
        # restart fails one request and is then replaced by the pool.
        engine_options: dict[str, object] = {"pool_recycle": 3600, **COMMON_ENGINE_OPTIONS}
        if self.database_url.startswith("sqlite"):
            engine_options = {"connect_args": {"timeout": 30}, **COMMON_ENGINE_OPTIONS}
        return {
            "ENV_NAME": self.env,
            "SECRET_KEY": self.secret_key,
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "SQLALCHEMY_SESSION_OPTIONS": {"expire_on_commit": False},
            "MAX_CONTENT_LENGTH": self.max_body_bytes,
            "RATELIMIT_STORAGE_URI": self.rate_limit_storage,
            "RATELIMIT_HEADERS_ENABLED": True,
            "TESTING": self.env == "test",
            "CMP_SETTINGS": self,
        }


def _parse_int(name: str, raw: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{name} must be {bounds}, got {value}")
    return value


def _parse_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {value}")
    return value


def _parse_rate(name: str, raw: str) -> str:
    from limits import parse

    try:
        parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must look like 120/minute or 10/second, got {raw!r}") from None
    return raw


def _read(env: Mapping[str, str], name: str, default: str, parse: Callable[[str, str], T]) -> T:
    return parse(name, env.get(name, default))


def _dev_secrets(instance_path: Path) -> dict[str, str]:
    """Secrets generated once per checkout, so a restart keeps IP hashes and receipts stable."""
    path = instance_path / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    generated = {"secret_key": secrets.token_urlsafe(32), "ip_hash_key": secrets.token_urlsafe(32)}
    instance_path.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(generated))
    path.chmod(0o600)
    return generated


def _secret(env: Mapping[str, str], name: str, fallback: str, production: bool) -> str:
    value = env.get(name, "")
    if production and (value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 16):
        raise ConfigError(
            f"{name} must be set to a random value of at least 16 characters in production"
        )
    return value or fallback


def load_settings(env: Mapping[str, str] | None = None, instance_path: Path | None = None) -> Settings:
    """Parse settings from ``env`` (default: the process environment).

    :raises ConfigError: naming the first variable that is missing or malformed.
    """
    env = os.environ if env is None else env
    instance = Path(env.get("CMP_INSTANCE_PATH") or instance_path or Path.cwd() / "instance")
    mode = env.get("CMP_ENV", "development")
    if mode not in ENVIRONMENTS:
        raise ConfigError(f"CMP_ENV must be one of {', '.join(ENVIRONMENTS)}, got {mode!r}")
    production = mode == "production"
    generated = {} if production else _dev_secrets(instance)
    database_url = env.get("CMP_DATABASE_URL") or f"sqlite:///{instance / 'cmp.sqlite3'}"
    if database_url.startswith("postgres://"):
        raise ConfigError("CMP_DATABASE_URL: use postgresql+psycopg://, not postgres://")
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    retention = env.get("CMP_RETENTION_DAYS", "")
    return Settings(
        env=mode,
        instance_path=instance,
        database_url=database_url,
        secret_key=_secret(env, "CMP_SECRET_KEY", generated.get("secret_key", ""), production),
        ip_hash_key=_secret(
            env, "CMP_IP_HASH_KEY", generated.get("ip_hash_key", ""), production
        ).encode(),
        ip_hash_key_id=env.get("CMP_IP_HASH_KEY_ID", "k1"),
        trusted_proxies=_read(env, "CMP_TRUSTED_PROXIES", "0", lambda n, r: _parse_int(n, r, 0, 10)),
        vendors_path=Path(env.get("CMP_VENDORS_PATH", "vendors.yaml")),
        rate_limit=_read(env, "CMP_RATE_LIMIT", "120/minute", _parse_rate),
        rate_limit_storage=env.get("CMP_RATE_LIMIT_STORAGE", "memory://"),
        config_recheck_seconds=_read(env, "CMP_CONFIG_RECHECK_SECONDS", "5", _parse_float),
        max_body_bytes=_read(env, "CMP_MAX_BODY_BYTES", "16384", lambda n, r: _parse_int(n, r, 1024)),
        expire_interval_minutes=_read(
            env, "CMP_EXPIRE_INTERVAL_MINUTES", "60", lambda n, r: _parse_int(n, r, 1)
        ),
        expire_batch_size=_read(
            env, "CMP_EXPIRE_BATCH_SIZE", "5000", lambda n, r: _parse_int(n, r, 1)
        ),
        checkpoint_interval_hours=_read(
            env, "CMP_CHECKPOINT_INTERVAL_HOURS", "24", lambda n, r: _parse_int(n, r, 1)
        ),
        retention_days=_parse_int("CMP_RETENTION_DAYS", retention, 1) if retention else None,
        lease_seconds=_read(env, "CMP_LEASE_SECONDS", "600", lambda n, r: _parse_int(n, r, 5)),
        log_level=env.get("CMP_LOG_LEVEL", "INFO").upper(),
        consent_commit=_read(env, "CMP_CONSENT_COMMIT", "fast", _parse_consent_commit),
    )


def _parse_consent_commit(name: str, raw: str) -> str:
    if raw not in CONSENT_COMMITS:
        raise ConfigError(f"{name} must be one of {', '.join(CONSENT_COMMITS)}, got {raw!r}")
    return raw
