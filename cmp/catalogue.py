"""The catalogue of purposes and vendors: load and validate vendors.yaml, sync it into the database."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from marshmallow import ValidationError

from . import clock
from .extensions import db
from .models import CatalogueVersion, Cookie, Purpose, Vendor
from .schemas import CatalogueSchema, flatten_errors

NECESSARY = "necessary"


class CatalogueError(ValueError):
    """vendors.yaml is unreadable or invalid; ``errors`` maps each path to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(f"{len(errors)} error(s) in the catalogue")
        self.errors = errors

    def lines(self) -> list[str]:
        """One ``path: message`` line per error, in file order."""
        return [f"{path}: {msg}" for path, msgs in self.errors.items() for msg in msgs]


@dataclass(frozen=True)
class SyncResult:
    """What a load changed."""

    version_id: int
    purposes: int
    vendors: int
    cookies: int
    retired: list[str]
    unchanged: bool


def parse_catalogue(raw: bytes) -> dict[str, Any]:
    """Parse and validate the bytes of a vendors.yaml.

    :raises CatalogueError: with every error found, each under its path.
    """
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(file)"
        raise CatalogueError({where: [f"not valid YAML: {getattr(error, 'problem', error)}"]}) from None
    if not isinstance(document, dict):
        raise CatalogueError({"(file)": ["must be a mapping with version, ui, purposes, vendors"]})
    errors: dict[str, list[str]] = {}
    try:
        data = CatalogueSchema().load(document)
    except ValidationError as error:
        data = None
        errors.update(flatten_errors(error.messages))
    # Cross-entry rules run on the raw document too, so one pass reports every error.
    for path, messages in _cross_check(document).items():
        errors.setdefault(path, []).extend(m for m in messages if m not in errors.get(path, []))
    if errors or data is None:
        raise CatalogueError(errors)
    return data


def _entries(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = document.get(key)
    return [e if isinstance(e, dict) else {} for e in value] if isinstance(value, list) else []


def _cross_check(document: dict[str, Any]) -> dict[str, list[str]]:
    """Rules that span entries: unique ids, known purposes, always-on only for necessary."""
    errors: dict[str, list[str]] = {}
    purposes = _entries(document, "purposes")
    # Ids that are not strings are reported by the schema; here they only must not crash a set.
    purpose_ids = [p.get("id") if isinstance(p.get("id"), str) else None for p in purposes]
    _duplicates(purpose_ids, "purposes", errors)
    if purposes and NECESSARY not in purpose_ids:
        errors.setdefault("purposes", []).append("the purpose 'necessary' is required")
    for index, purpose in enumerate(purposes):
        if bool(purpose.get("always_on")) != (purpose.get("id") == NECESSARY):
            errors.setdefault(f"purposes[{index}].always_on", []).append(
                "only 'necessary' is always on, and it always is"
            )
    vendors = _entries(document, "vendors")
    _duplicates([v.get("id") for v in vendors], "vendors", errors)
    known = set(purpose_ids)
    for index, vendor in enumerate(vendors):
        _check_vendor(index, vendor, known, errors)
    return errors


def _check_vendor(index: int, vendor: dict[str, Any], known: set[Any],
                  errors: dict[str, list[str]]) -> None:
    listed = vendor.get("purposes") if isinstance(vendor.get("purposes"), list) else []
    for p_index, purpose in enumerate(listed):
        if isinstance(purpose, str) and purpose not in known:
            errors.setdefault(f"vendors[{index}].purposes[{p_index}]", []).append(
                f"unknown purpose {purpose!r}"
            )
    if vendor.get("always_on") and (not listed or any(p != NECESSARY for p in listed)):
        errors.setdefault(f"vendors[{index}].always_on", []).append(
            "only a vendor whose every purpose is 'necessary' may be always on"
        )
    cookies = vendor.get("cookies") if isinstance(vendor.get("cookies"), list) else []
    for c_index, cookie in enumerate(cookies):
        if isinstance(cookie, dict) and cookie.get("party") == "third" and not cookie.get("domain"):
            errors.setdefault(f"vendors[{index}].cookies[{c_index}].domain", []).append(
                "a third-party cookie needs its domain"
            )


def _duplicates(ids: Iterable[Any], where: str, errors: dict[str, list[str]]) -> None:
    seen: dict[Any, int] = {}
    for index, item in enumerate(ids):
        if item is None or not isinstance(item, str):
            continue
        if item in seen:
            errors.setdefault(f"{where}[{index}].id", []).append(
                f"duplicate id {item!r} (first at {where}[{seen[item]}])"
            )
        seen.setdefault(item, index)


def load_catalogue_file(path: Path) -> tuple[dict[str, Any], str]:
    """Read and validate ``path``; return the data and the SHA-256 of the file."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CatalogueError({str(path): [f"cannot read: {error.strerror}"]}) from None
    return parse_catalogue(raw), hashlib.sha256(raw).hexdigest()


def sync_catalogue(data: dict[str, Any], sha256: str) -> SyncResult:
    """Upsert the validated catalogue in one transaction; vendors no longer listed are retired.

    Retired vendors stay in the database so old consent records still resolve.
    """
    now = clock.now()
    latest = db.session.scalar(sa.select(CatalogueVersion).order_by(CatalogueVersion.id.desc()))
    if latest is not None and latest.sha256 == sha256:
        return SyncResult(latest.id, len(data["purposes"]), len(data["vendors"]), 0, [], True)
    _sync_purposes(data["purposes"], now)
    retired = _sync_vendors(data["vendors"], now)
    cookies = _sync_cookies(data["vendors"])
    version = CatalogueVersion(sha256=sha256, ui_texts=data["ui"], loaded_at=now)
    db.session.add(version)
    db.session.flush()
    db.session.commit()
    return SyncResult(version.id, len(data["purposes"]), len(data["vendors"]), cookies, retired, False)


def _sync_purposes(purposes: list[dict[str, Any]], now: Any) -> None:
    listed = {p["id"] for p in purposes}
    for position, item in enumerate(purposes):
        db.session.merge(
            Purpose(id=item["id"], position=position, always_on=item["always_on"],
                    texts=item["texts"], retired_at=None)
        )
    db.session.execute(
        sa.update(Purpose).where(Purpose.id.not_in(listed), Purpose.retired_at.is_(None))
        .values(retired_at=now)
    )


def _sync_vendors(vendors: list[dict[str, Any]], now: Any) -> list[str]:
    listed = {v["id"] for v in vendors}
    for position, item in enumerate(vendors):
        fields = {k: v for k, v in item.items() if k != "cookies"}
        db.session.merge(Vendor(position=position, retired_at=None, **fields))
    retired = list(db.session.scalars(
        sa.select(Vendor.id).where(Vendor.id.not_in(listed), Vendor.retired_at.is_(None))
    ))
    if retired:
        db.session.execute(sa.update(Vendor).where(Vendor.id.in_(retired)).values(retired_at=now))
    return retired


def _sync_cookies(vendors: list[dict[str, Any]]) -> int:
    # A vendor's cookies are replaced whole: they have no identity of their own worth keeping.
    listed = [v["id"] for v in vendors]
    db.session.flush()
    db.session.execute(sa.delete(Cookie).where(Cookie.vendor_id.in_(listed)))
    rows = [
        {"vendor_id": v["id"], "position": i, **cookie}
        for v in vendors for i, cookie in enumerate(v["cookies"])
    ]
    if rows:
        db.session.execute(sa.insert(Cookie), rows)
    return len(rows)


def current_version_id() -> int | None:
    """The newest catalogue version, or None before the first load."""
    return db.session.scalar(sa.select(sa.func.max(CatalogueVersion.id)))
