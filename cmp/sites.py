"""Sites: the websites that embed the banner, created and changed by the site owner's CLI."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from marshmallow import ValidationError

from . import audit, clock
from .config import MAX_LIFETIME_DAYS
from .extensions import db
from .models import Site, Vendor
from .schemas import LANGUAGE, SLUG

DEFAULT_LIFETIME_DAYS = 365


class SiteError(ValueError):
    """A site setting is invalid or the site does not exist."""


@dataclass(frozen=True)
class SiteSpec:
    """What a site owner may set; ``None`` leaves a field as it is on update."""

    name: str | None = None
    origins: list[str] | None = None
    vendor_ids: list[str] | None = None
    all_vendors: bool = False
    lifetime_days: int | None = None
    languages: list[str] | None = None
    cookie_domain: str | None = None
    privacy_policy_url: str | None = None


def create_site(key: str, spec: SiteSpec) -> Site:
    """Create a site and the head of its consent log.

    :raises SiteError: when the key is taken or a setting is invalid.
    """
    _check_key(key)
    if db.session.scalar(sa.select(Site.id).where(Site.key == key)) is not None:
        raise SiteError(f"a site with key {key!r} exists already")
    if not spec.name or not spec.origins:
        raise SiteError("a new site needs --name and at least one --origin")
    now = clock.now()
    site = Site(key=key, name=spec.name, origins=[], languages=["en", "de"],
                consent_lifetime_days=DEFAULT_LIFETIME_DAYS, vendor_ids=None,
                created_at=now, updated_at=now)
    _apply(site, spec)
    db.session.add(site)
    db.session.flush()
    audit.create_chain_head(site.id)
    db.session.commit()
    return site


def update_site(key: str, spec: SiteSpec) -> Site:
    """Change the given settings of an existing site."""
    site = get_site(key)
    _apply(site, spec)
    site.updated_at = clock.now()
    db.session.commit()
    return site


def get_site(key: str) -> Site:
    """The site with ``key``.

    :raises SiteError: when there is none.
    """
    site = db.session.scalar(sa.select(Site).where(Site.key == key))
    if site is None:
        raise SiteError(f"no site with key {key!r}")
    return site


def list_sites() -> list[Site]:
    """Every site, by key."""
    return list(db.session.scalars(sa.select(Site).order_by(Site.key)))


def _apply(site: Site, spec: SiteSpec) -> None:
    if spec.name is not None:
        site.name = _check_length("name", spec.name, 200)
    if spec.origins is not None:
        site.origins = [_check_origin(o) for o in spec.origins]
    if spec.all_vendors:
        site.vendor_ids = None
    elif spec.vendor_ids is not None:
        site.vendor_ids = _check_vendors(spec.vendor_ids)
    if spec.lifetime_days is not None:
        site.consent_lifetime_days = _check_lifetime(spec.lifetime_days)
    if spec.languages is not None:
        site.languages = _check_languages(spec.languages)
    if spec.cookie_domain is not None:
        site.cookie_domain = spec.cookie_domain or None
    if spec.privacy_policy_url is not None:
        site.privacy_policy_url = spec.privacy_policy_url or None


def _check_key(key: str) -> None:
    try:
        SLUG(key)
    except ValidationError:
        raise SiteError(f"site key {key!r} must be a lowercase slug (a-z, 0-9, -)") from None


def _check_length(field: str, value: str, limit: int) -> str:
    if not value.strip() or len(value) > limit:
        raise SiteError(f"{field} must be 1 to {limit} characters")
    return value.strip()


def _check_origin(origin: str) -> str:
    try:
        parts = urlsplit(origin)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        host = None
    if host is None or parts.scheme not in ("http", "https") or parts.path not in ("", "/"):
        raise SiteError(f"origin {origin!r} must look like https://example.com (scheme and host only)")
    return f"{parts.scheme}://{parts.netloc}".lower()


def _check_lifetime(days: int) -> int:
    if not 1 <= days <= MAX_LIFETIME_DAYS:
        raise SiteError(
            f"lifetime must be 1 to {MAX_LIFETIME_DAYS} days (13 months at most), got {days}"
        )
    return days


def _check_languages(languages: list[str]) -> list[str]:
    for language in languages:
        try:
            LANGUAGE(language)
        except ValidationError:
            raise SiteError(f"language {language!r} must be a tag like en or de") from None
    if not languages:
        raise SiteError("at least one language is needed")
    return languages


def _check_vendors(vendor_ids: list[str]) -> list[str]:
    known = set(db.session.scalars(sa.select(Vendor.id).where(Vendor.retired_at.is_(None))))
    unknown = [v for v in vendor_ids if v not in known]
    if unknown:
        raise SiteError(f"unknown vendor id(s): {', '.join(unknown)} (load vendors.yaml first?)")
    return vendor_ids
