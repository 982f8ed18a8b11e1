"""Per-site banner configs: built from the catalogue, stored as content-addressed snapshots,
served from memory and rebuilt only when the site or the catalogue changes."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from . import clock
from .catalogue import NECESSARY
from .extensions import db
from .models import CatalogueVersion, ConfigSnapshot, Cookie, Purpose, Site, Vendor
from .sql import insert_ignoring_conflicts

FALLBACK_LANGUAGE = "en"
SNAPSHOT_MEMORY = 512  # revisions kept parsed in memory per process for consent checks


class SiteNotFound(LookupError):
    """No site has this key."""


class CatalogueMissing(LookupError):
    """vendors.yaml was never loaded."""


@dataclass(frozen=True)
class SiteInfo:
    """What request handling needs to know about a site, cached per process."""

    id: int
    key: str
    origins: tuple[str, ...]
    languages: tuple[str, ...]
    consent_lifetime_days: int
    generation: tuple[Any, ...]


@dataclass(frozen=True)
class VendorRule:
    always_on: bool
    purposes: tuple[str, ...]


@dataclass(frozen=True)
class SnapshotView:
    """The ids a served config offered: what a consent made under that revision may name."""

    revision: str
    site_id: int
    language: str
    purposes: dict[str, bool]  # id -> always on
    vendors: dict[str, VendorRule]


@dataclass(frozen=True)
class ServedConfig:
    revision: str
    body: bytes  # the response: the snapshot with its revision added
    gzipped: bytes  # the same, compressed once for clients that accept gzip
    view: SnapshotView


def pick_texts(texts: dict[str, Any], language: str) -> dict[str, Any]:
    """Texts in ``language``, each missing key falling back to English."""
    return {**texts.get(FALLBACK_LANGUAGE, {}), **texts.get(language, {})}


def resolve_language(requested: str | None, offered: tuple[str, ...]) -> str:
    """The site language closest to ``requested`` (``de-AT`` → ``de``), else the site's first."""
    if requested:
        tag = requested.strip().lower()
        for candidate in (tag, tag.split("-")[0]):
            if candidate in offered:
                return candidate
    return FALLBACK_LANGUAGE if FALLBACK_LANGUAGE in offered else offered[0]


def build_config(site: Site, language: str, version: CatalogueVersion) -> dict[str, Any]:
    """The banner config of ``site`` in ``language``: a pure function of the stored catalogue."""
    vendors = _site_vendors(site)
    used = {NECESSARY} | {p for v in vendors for p in v.purposes}
    purposes = db.session.scalars(
        sa.select(Purpose).where(Purpose.retired_at.is_(None)).order_by(Purpose.position)
    )
    cookies = _cookies_by_vendor([v.id for v in vendors])
    signals: dict[str, list[str]] = {}
    for vendor in vendors:
        for signal in vendor.consent_mode:
            signals.setdefault(signal, []).append(vendor.id)
    return {
        "site": site.key,
        "name": site.name,
        "language": language,
        "languages": list(site.languages),
        "consent_lifetime_days": site.consent_lifetime_days,
        "cookie_domain": site.cookie_domain,
        "privacy_policy_url": site.privacy_policy_url,
        "texts": pick_texts(version.ui_texts, language),
        "purposes": [
            {"id": p.id, "always_on": p.always_on, **pick_texts(p.texts, language)}
            for p in purposes if p.id in used
        ],
        "vendors": [_vendor_json(v, cookies.get(v.id, []), language) for v in vendors],
        "consent_mode": signals,
    }


def _site_vendors(site: Site) -> list[Vendor]:
    query = sa.select(Vendor).where(Vendor.retired_at.is_(None)).order_by(Vendor.position)
    if site.vendor_ids is not None:
        query = query.where(Vendor.id.in_(site.vendor_ids))
    return list(db.session.scalars(query))


def _cookies_by_vendor(vendor_ids: list[str]) -> dict[str, list[Cookie]]:
    grouped: dict[str, list[Cookie]] = {}
    query = sa.select(Cookie).where(Cookie.vendor_id.in_(vendor_ids)).order_by(Cookie.position)
    for cookie in db.session.scalars(query):
        grouped.setdefault(cookie.vendor_id, []).append(cookie)
    return grouped


def _vendor_json(vendor: Vendor, cookies: list[Cookie], language: str) -> dict[str, Any]:
    return {
        "id": vendor.id,
        "name": vendor.name,
        "legal_entity": vendor.legal_entity,
        "address": vendor.address,
        "country": vendor.country,
        "privacy_policy_url": vendor.privacy_policy_url,
        "purposes": list(vendor.purposes),
        "legal_basis": vendor.legal_basis,
        "always_on": vendor.always_on,
        "retention": vendor.retention,
        "transfer": vendor.transfer,
        "consent_mode": list(vendor.consent_mode),
        **pick_texts(vendor.texts, language),
        "cookies": [
            {"name": c.name, "domain": c.domain, "party": c.party, "duration": c.duration,
             **pick_texts(c.texts, language)}
            for c in cookies
        ],
    }


def snapshot_view(revision: str, site_id: int, config: dict[str, Any]) -> SnapshotView:
    """The ids and rules of a config, for checking consents made under it."""
    return SnapshotView(
        revision=revision,
        site_id=site_id,
        language=config["language"],
        purposes={p["id"]: p["always_on"] for p in config["purposes"]},
        vendors={v["id"]: VendorRule(v["always_on"], tuple(v["purposes"])) for v in config["vendors"]},
    )


class ConfigService:
    """Serves configs from memory; re-checks the site and catalogue at most every few seconds."""

    def __init__(self, recheck_seconds: float) -> None:
        self._recheck = recheck_seconds
        self._lock = threading.Lock()
        self._sites: dict[str, tuple[SiteInfo, float]] = {}
        self._configs: dict[tuple[int, str], ServedConfig] = {}
        self._generations: dict[tuple[int, str], tuple[Any, ...]] = {}
        self._views: OrderedDict[str, SnapshotView] = OrderedDict()

    def site(self, key: str) -> SiteInfo:
        """The site with ``key``, from memory when checked recently.

        :raises SiteNotFound: when no site has this key.
        """
        cached = self._sites.get(key)
        if cached is not None and time.monotonic() - cached[1] < self._recheck:
            return cached[0]
        info = self._load_site(key)
        with self._lock:
            if len(self._sites) > 10_000:
                self._sites.clear()
            self._sites[key] = (info, time.monotonic())
        return info

    def config(self, key: str, requested_language: str | None) -> ServedConfig:
        """The served config for a site in the language closest to the one asked for."""
        info = self.site(key)
        language = resolve_language(requested_language, info.languages)
        slot = (info.id, language)
        served = self._configs.get(slot)
        if served is None or self._generations.get(slot) != info.generation:
            served = self._build(info, language)
            with self._lock:
                self._configs[slot] = served
                self._generations[slot] = info.generation
                self._remember(served.view)
        return served

    def view(self, revision: str) -> SnapshotView | None:
        """The rules of a revision this service (or any other process) has served, else None."""
        view = self._views.get(revision)
        if view is not None:
            return view
        snapshot = db.session.get(ConfigSnapshot, revision)
        if snapshot is None:
            return None
        view = snapshot_view(revision, snapshot.site_id, json.loads(snapshot.body))
        with self._lock:
            self._remember(view)
        return view

    def forget(self) -> None:
        """Drop everything cached (after a catalogue load or a site change in this process)."""
        with self._lock:
            self._sites.clear()
            self._configs.clear()
            self._generations.clear()

    def _remember(self, view: SnapshotView) -> None:
        self._views[view.revision] = view
        self._views.move_to_end(view.revision)
        while len(self._views) > SNAPSHOT_MEMORY:
            self._views.popitem(last=False)

    def _load_site(self, key: str) -> SiteInfo:
        latest = sa.select(sa.func.max(CatalogueVersion.id)).scalar_subquery()
        row = db.session.execute(
            sa.select(Site, latest).where(Site.key == key)
        ).one_or_none()
        if row is None:
            raise SiteNotFound(key)
        site, version_id = row
        if version_id is None:
            raise CatalogueMissing("load vendors.yaml first: flask cmp load-vendors")
        return SiteInfo(
            id=site.id, key=site.key, origins=tuple(site.origins), languages=tuple(site.languages),
            consent_lifetime_days=site.consent_lifetime_days,
            generation=(version_id, site.updated_at),
        )

    def _build(self, info: SiteInfo, language: str) -> ServedConfig:
        site = db.session.get(Site, info.id)
        version = db.session.get(CatalogueVersion, info.generation[0])
        assert site is not None and version is not None
        config = build_config(site, language, version)
        body = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        revision = hashlib.sha256(body.encode()).hexdigest()
        db.session.execute(
            insert_ignoring_conflicts(ConfigSnapshot.__table__, ["hash"]).values(
                hash=revision, site_id=info.id, language=language,
                catalogue_version_id=version.id, body=body, created_at=clock.now(),
            )
        )
        db.session.commit()
        response = '{"revision":"' + revision + '",' + body[1:]
        encoded = response.encode()
        return ServedConfig(revision, encoded, gzip.compress(encoded, mtime=0),
                            snapshot_view(revision, info.id, config))
