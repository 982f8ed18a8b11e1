"""Typed SQLAlchemy models: the data cmp keeps. No HTTP here, no request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db

CONSENT_STATUSES = ("active", "withdrawn", "expired")
EVENT_KINDS = ("given", "updated", "withdrawn", "expired", "erased")
ACTIONS = ("accept_all", "reject_all", "custom", "withdraw", "expire", "erase")


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone, so we add it back)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use cmp.clock.now()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Site(db.Model):
    """A website that embeds the banner."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    origins: Mapped[list[str]] = mapped_column(JSONType)
    languages: Mapped[list[str]] = mapped_column(JSONType)
    consent_lifetime_days: Mapped[int] = mapped_column(default=365)
    cookie_domain: Mapped[str | None] = mapped_column(sa.String(253))
    privacy_policy_url: Mapped[str | None] = mapped_column(sa.String(2000))
    # None means "every vendor in the catalogue", so a vendor added to vendors.yaml reaches the site.
    vendor_ids: Mapped[list[str] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CatalogueVersion(db.Model):
    """One load of vendors.yaml; the newest id is the catalogue version configs are built from."""

    __tablename__ = "catalogue_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    ui_texts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Purpose(db.Model):
    """Why data is processed: necessary, preferences, statistics, marketing."""

    __tablename__ = "purposes"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    position: Mapped[int]
    always_on: Mapped[bool] = mapped_column(default=False)
    texts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Vendor(db.Model):
    """A third party (or cmp itself) whose scripts and cookies need a legal basis."""

    __tablename__ = "vendors"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(200))
    legal_entity: Mapped[str] = mapped_column(sa.String(300))
    address: Mapped[str] = mapped_column(sa.String(500))
    country: Mapped[str] = mapped_column(sa.String(2))
    privacy_policy_url: Mapped[str] = mapped_column(sa.String(2000))
    purposes: Mapped[list[str]] = mapped_column(JSONType)
    legal_basis: Mapped[str] = mapped_column(sa.String(32))
    always_on: Mapped[bool] = mapped_column(default=False)
    retention: Mapped[str] = mapped_column(sa.String(32))
    transfer: Mapped[dict[str, Any]] = mapped_column(JSONType)
    consent_mode: Mapped[list[str]] = mapped_column(JSONType)
    texts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Cookie(db.Model):
    """A cookie a vendor sets: exact name or a pattern with ``*``."""

    __tablename__ = "cookies"

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[str] = mapped_column(sa.ForeignKey("vendors.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(200))
    domain: Mapped[str | None] = mapped_column(sa.String(253))
    party: Mapped[str] = mapped_column(sa.String(8))
    duration: Mapped[str] = mapped_column(sa.String(32))
    texts: Mapped[dict[str, Any]] = mapped_column(JSONType)


class ConfigSnapshot(db.Model):
    """The exact config JSON a banner was served, stored once under its SHA-256 (the revision)."""

    __tablename__ = "config_snapshots"

    hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    language: Mapped[str] = mapped_column(sa.String(16))
    catalogue_version_id: Mapped[int] = mapped_column(sa.ForeignKey("catalogue_versions.id"))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Consent(db.Model):
    """The current consent state of one device on one site."""

    __tablename__ = "consents"
    __table_args__ = (
        # Only active rows can come due, so the expiry job reads an index as small as the work.
        sa.Index(
            "ix_consents_due",
            "expires_at",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    # Not indexed: consents are read by id, and nothing filters them by site alone.
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"))
    status: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(16))
    purposes: Mapped[dict[str, bool]] = mapped_column(JSONType)
    vendors: Mapped[dict[str, bool]] = mapped_column(JSONType)
    revision: Mapped[str] = mapped_column(sa.String(64))
    language: Mapped[str] = mapped_column(sa.String(16))
    gpc: Mapped[bool] = mapped_column(default=False)
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChainHead(db.Model):
    """The newest link of a site's consent log; writers lock this row to extend the chain."""

    __tablename__ = "chain_heads"

    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    hash: Mapped[str] = mapped_column(sa.String(64))


class ConsentEvent(db.Model):
    """One entry of the append-only, hash-chained consent log."""

    __tablename__ = "consent_events"
    __table_args__ = (
        sa.UniqueConstraint("site_id", "seq", name="uq_consent_events_site_seq"),
        sa.Index("ix_consent_events_site_created", "site_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    consent_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(16))
    purposes_granted: Mapped[list[str]] = mapped_column(JSONType)
    purposes_denied: Mapped[list[str]] = mapped_column(JSONType)
    vendors_granted: Mapped[list[str]] = mapped_column(JSONType)
    vendors_denied: Mapped[list[str]] = mapped_column(JSONType)
    snapshot_hash: Mapped[str | None] = mapped_column(sa.String(64))
    language: Mapped[str | None] = mapped_column(sa.String(16))
    url: Mapped[str | None] = mapped_column(sa.String(2000))
    user_agent: Mapped[str | None] = mapped_column(sa.String(512))
    ip_truncated: Mapped[str | None] = mapped_column(sa.String(64))
    ip_hash: Mapped[str | None] = mapped_column(sa.String(64))
    ip_key_id: Mapped[str | None] = mapped_column(sa.String(32))
    gpc: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Digests of fields erased later: the chain hashes digests, so it still verifies without them.
    erased_digests: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class Checkpoint(db.Model):
    """A signed statement of a site's chain head at a moment, for auditors to keep."""

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signature: Mapped[str] = mapped_column(sa.Text)


class ApiToken(db.Model):
    """An auditor or admin bearer token; only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id"))
    label: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ExportRecord(db.Model):
    """Every export of the consent log is itself logged."""

    __tablename__ = "export_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_tokens.id"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    format: Mapped[str] = mapped_column(sa.String(16))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType)
    rows: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobLease(db.Model):
    """Who may run a scheduled job right now; a crashed holder's lease runs out."""

    __tablename__ = "job_leases"

    job_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(128))
    period: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobRun(db.Model):
    """One run of a scheduled job."""

    __tablename__ = "job_runs"
    __table_args__ = (sa.Index("ix_job_runs_job_started", "job_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(64))
    period: Mapped[str | None] = mapped_column(sa.String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rows_affected: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    status: Mapped[str] = mapped_column(sa.String(16))
    error: Mapped[str | None] = mapped_column(sa.Text)
