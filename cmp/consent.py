"""Record, look up and report consents: the service layer, with no knowledge of HTTP."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from . import audit, clock
from .configs import ConfigService, SiteInfo, SnapshotView
from .database import consent_engine, driver_transaction
from .extensions import db
from .ids import time_ordered_id
from .models import Consent, ConsentEvent
from .prepared import Prepared
from .privacy import PseudonymousClient

USER_AGENT_LIMIT = 512
URL_LIMIT = 2000


class ConsentError(ValueError):
    """The decision is not acceptable; ``errors`` maps each field to what was wrong."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class UnknownConsent(LookupError):
    """No consent with this id exists on this site."""


class UnknownRevision(LookupError):
    """The decision names a config revision never served for this site; ``current`` is."""

    def __init__(self, current: str) -> None:
        super().__init__(current)
        self.current = current


@dataclass(frozen=True)
class Decision:
    """What the visitor chose, as the banner reported it."""

    action: str
    purposes: dict[str, bool]
    vendors: dict[str, bool]
    revision: str
    language: str
    url: str | None
    gpc: bool
    consent_id: str | None = None


@dataclass(frozen=True)
class RecordedConsent:
    consent_id: str
    status: str
    given_at: datetime
    expires_at: datetime
    revision: str
    kind: str


def resolve_choices(view: SnapshotView, decision: Decision) -> tuple[dict[str, bool], dict[str, bool]]:
    """Complete and check the choices against the revision the visitor saw.

    Missing purposes count as refused; a missing vendor follows its purposes. ``necessary`` and
    always-on vendors cannot be refused, and accept_all / reject_all must agree with the choices.

    :raises ConsentError: naming every field that is wrong.
    """
    errors: dict[str, list[str]] = {}
    for pid in decision.purposes:
        if pid not in view.purposes:
            errors.setdefault(f"purposes.{pid}", []).append("unknown purpose in this revision")
    for vid in decision.vendors:
        if vid not in view.vendors:
            errors.setdefault(f"vendors.{vid}", []).append("unknown vendor in this revision")
    everything = decision.action == "accept_all"
    purposes = {
        pid: always_on or decision.purposes.get(pid, everything)
        for pid, always_on in view.purposes.items()
    }
    vendors = {
        vid: rule.always_on or decision.vendors.get(
            vid, all(purposes.get(p, False) for p in rule.purposes)
        )
        for vid, rule in view.vendors.items()
    }
    for pid, always_on in view.purposes.items():
        if always_on and decision.purposes.get(pid) is False:
            errors.setdefault(f"purposes.{pid}", []).append("is necessary and cannot be refused")
    for vid, rule in view.vendors.items():
        if rule.always_on and decision.vendors.get(vid) is False:
            errors.setdefault(f"vendors.{vid}", []).append("is necessary and cannot be refused")
    _check_action(decision.action, view, purposes, vendors, errors)
    if errors:
        raise ConsentError(errors)
    return purposes, vendors


def _check_action(
    action: str, view: SnapshotView, purposes: dict[str, bool], vendors: dict[str, bool],
    errors: dict[str, list[str]],
) -> None:
    if action == "accept_all":
        refused = [k for k, v in {**purposes, **vendors}.items() if not v]
        if refused:
            errors.setdefault("action", []).append(
                f"accept_all but refused: {', '.join(sorted(refused))}"
            )
    elif action in ("reject_all", "withdraw"):
        optional_purposes = [p for p, on in purposes.items() if on and not view.purposes[p]]
        optional_vendors = [v for v, on in vendors.items() if on and not view.vendors[v].always_on]
        if optional_purposes or optional_vendors:
            granted = ", ".join(sorted(optional_purposes + optional_vendors))
            errors.setdefault("action", []).append(f"{action} but granted: {granted}")


def clean_url(url: str | None) -> str | None:
    """The page URL without query, fragment or credentials (they often carry personal data)."""
    if not url:
        return None
    parts = urlsplit(url.replace("\x00", ""))
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))[:URL_LIMIT]


def record_consent(
    site: SiteInfo, configs: ConfigService, decision: Decision, client: PseudonymousClient,
    user_agent: str | None,
) -> RecordedConsent:
    """Check a decision, append it to the consent log and store the consent's current state.

    One transaction: the log event and the state are written together or not at all.

    :raises UnknownRevision: when the site never served ``decision.revision``.
    :raises ConsentError: when the choices do not fit the revision.
    :raises UnknownConsent: when ``decision.consent_id`` is not a consent of this site.
    """
    view = configs.view(decision.revision)
    if view is None or view.site_id != site.id:
        raise UnknownRevision(configs.config(site.key, decision.language).revision)
    purposes, vendors = resolve_choices(view, decision)
    now = clock.now()
    expires_at = now + timedelta(days=site.consent_lifetime_days)
    status = "withdrawn" if decision.action == "withdraw" else "active"
    slot = _consent_slot(site.id, decision, now)
    consent_id, kind = slot.consent_id, slot.kind
    state = {
        "status": status, "action": decision.action, "purposes": purposes, "vendors": vendors,
        "revision": view.revision, "language": view.language, "gpc": decision.gpc,
        "updated_at": now, "expires_at": expires_at,
    }
    event = {
        "consent_id": consent_id, "kind": kind, "action": decision.action,
        "purposes_granted": sorted(k for k, v in purposes.items() if v),
        "purposes_denied": sorted(k for k, v in purposes.items() if not v),
        "vendors_granted": sorted(k for k, v in vendors.items() if v),
        "vendors_denied": sorted(k for k, v in vendors.items() if not v),
        "snapshot_hash": view.revision, "language": view.language,
        "url": clean_url(decision.url),
        "user_agent": (user_agent or "")[:USER_AGENT_LIMIT] or None,
        "ip_truncated": client.ip_truncated, "ip_hash": client.ip_hash,
        "ip_key_id": client.key_id, "gpc": decision.gpc,
        "created_at": now, "expires_at": expires_at,
    }
    pending = audit.pending_event(site.id, event, after=_state_write(site.id, slot, state))
    with driver_transaction(consent_engine(), single_statement=True) as connection:
        audit.append_pending(pending, connection)
    return RecordedConsent(consent_id, status, slot.given_at, expires_at, view.revision, kind)


# The consent's state, written with its log event. Each statement exists twice: as Core for
# SQLite, where it runs just before the chain append, and as the state CTE of PostgreSQL's
# one-statement append. The CTE shares the event's parameters where the values are the same
# by construction (site_id, action, language, gpc, expires_at).
_consents = Consent.__table__
STATE_FIELDS = ("status", "action", "purposes", "vendors", "revision", "language", "gpc",
                "updated_at", "expires_at")
_INSERT_FIELDS = ("id", "site_id", "given_at", *STATE_FIELDS)
_STATE_BINDS = (
    *(sa.bindparam(c.name, type_=c.type) for c in _consents.columns
      if c.name in ("id", "given_at", "status", "purposes", "vendors", "revision", "updated_at")),
    sa.bindparam("consent_key", type_=_consents.c.id.type),
)
_SET_STATE = ", ".join(f"{name} = :{name}" for name in STATE_FIELDS)
_UPDATE_STATE = sa.update(_consents).where(_consents.c.id == sa.bindparam("consent_key")).values(
    {name: sa.bindparam(name) for name in STATE_FIELDS})


def _state_statement(core: sa.sql.ClauseElement, pg_sql: str, keys: tuple[str, ...] = ()) -> tuple[
        Prepared, Prepared]:
    binds = [bind for bind in _STATE_BINDS if re.search(rf":{bind.key}\b", pg_sql)]
    return Prepared(core, keys), audit.pg_append_statement(pg_sql, binds)


_INSERT_CONSENT = _state_statement(
    sa.insert(_consents),
    f"INSERT INTO consents ({', '.join(_INSERT_FIELDS)}) "
    f"VALUES ({', '.join(':' + name for name in _INSERT_FIELDS)})",
    _INSERT_FIELDS,
)
_UPDATE_CONSENT = _state_statement(
    _UPDATE_STATE, f"UPDATE consents SET {_SET_STATE} WHERE id = :consent_key")
_REGIVE_CONSENT = _state_statement(
    _UPDATE_STATE.values(given_at=sa.bindparam("given_at")),
    f"UPDATE consents SET {_SET_STATE}, given_at = :given_at WHERE id = :consent_key")


def _state_write(site_id: int, slot: ConsentSlot, state: dict[str, Any]) -> audit.StateWrite:
    """Insert or update the consent's current state, as a write that goes with its event."""
    if slot.new:
        statements = _INSERT_CONSENT
        params = {"id": slot.consent_id, "site_id": site_id, "given_at": slot.given_at, **state}
    elif slot.kind == "given":  # a decision after expiry or withdrawal starts the consent anew
        statements = _REGIVE_CONSENT
        params = {"consent_key": slot.consent_id, "given_at": slot.given_at, **state}
    else:
        statements = _UPDATE_CONSENT
        params = {"consent_key": slot.consent_id, **state}
    return audit.StateWrite(statements[0], params, statements[1])


@dataclass(frozen=True)
class ConsentSlot:
    """Where a decision is written: a new consent or an existing one, and the event it makes."""

    consent_id: str
    kind: str
    new: bool
    given_at: datetime


def _consent_slot(site_id: int, decision: Decision, now: datetime) -> ConsentSlot:
    """The consent id to write under, the kind of log event and when consent was given."""
    if decision.consent_id is None:
        return ConsentSlot(time_ordered_id(now), "given", True, now)
    previous = db.session.execute(
        sa.select(Consent.status, Consent.expires_at, Consent.given_at)
        .where(Consent.id == decision.consent_id, Consent.site_id == site_id)
    ).one_or_none()
    if previous is None:
        raise UnknownConsent(decision.consent_id)
    # A decision after expiry or withdrawal is a fresh consent under the same id; the expiry
    # job may not have run yet, so the time decides as well as the status.
    still_active = previous.status == "active" and previous.expires_at > now
    if decision.action == "withdraw":
        return ConsentSlot(decision.consent_id, "withdrawn", False, previous.given_at)
    if still_active:
        return ConsentSlot(decision.consent_id, "updated", False, previous.given_at)
    return ConsentSlot(decision.consent_id, "given", False, now)


def get_consent(site_id: int, consent_id: str) -> Consent:
    """The current state of one consent.

    :raises UnknownConsent: when the site has no such consent.
    """
    consent = db.session.scalar(
        sa.select(Consent).where(Consent.id == consent_id, Consent.site_id == site_id)
    )
    if consent is None:
        raise UnknownConsent(consent_id)
    return consent


def consent_events(site_id: int, consent_id: str) -> list[ConsentEvent]:
    """Every log event of one consent, oldest first."""
    return list(db.session.scalars(
        sa.select(ConsentEvent)
        .where(ConsentEvent.site_id == site_id, ConsentEvent.consent_id == consent_id)
        .order_by(ConsentEvent.seq)
    ))


def consent_record(site_key: str, site_id: int, consent_id: str) -> dict[str, Any]:
    """The consent's state and its whole history, as shown to the visitor or an admin."""
    consent = get_consent(site_id, consent_id)
    return {"consent": {**_state(consent), "site": site_key},
            "events": consent_events(site_id, consent_id)}


def _state(consent: Consent) -> dict[str, Any]:
    return {c.key: getattr(consent, c.key) for c in Consent.__table__.columns}


def consent_status(site_id: int, consent_id: str) -> dict[str, Any]:
    """Whether a consent still counts: past its lifetime it is expired, whatever the job did yet."""
    consent = get_consent(site_id, consent_id)
    status = consent.status
    if status == "active" and consent.expires_at <= clock.now():
        status = "expired"
    return {"status": status, "expires_at": consent.expires_at, "revision": consent.revision}
