"""Consent receipts: a signed document of one consent, after ISO/IEC TS 27560 and Kantara."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature

from . import audit, clock, consent, tokens
from .extensions import db
from .models import ConfigSnapshot, Site

RECEIPT_VERSION = "cmp-receipt/1"
SPECIFICATIONS = ("ISO/IEC TS 27560:2023", "Kantara Consent Receipt Specification 1.1")
JURISDICTION = "EU/EEA: GDPR Art. 6(1)(a) and 7, ePrivacy Directive Art. 5(3)"
COLLECTION_METHOD = "website banner"


def _seen(revision: str) -> dict[str, Any]:
    """The config the visitor saw, for the titles of purposes and the names of vendors."""
    body = db.session.scalar(sa.select(ConfigSnapshot.body).where(ConfigSnapshot.hash == revision))
    return json.loads(body) if body else {"purposes": [], "vendors": []}


def _states(choices: dict[str, bool], described: list[dict[str, Any]], label: str
            ) -> list[dict[str, Any]]:
    names = {item["id"]: item.get(label) for item in described}
    return [{"id": key, label: names.get(key) or key, "state": "granted" if on else "denied"}
            for key, on in choices.items()]


def build_receipt(site_key: str, consent_id: str, secret_key: str) -> dict[str, Any]:
    """The signed receipt of a consent's current state.

    :raises consent.UnknownConsent: when the site has no such consent.
    """
    site = db.session.scalar(sa.select(Site).where(Site.key == site_key))
    if site is None:
        raise consent.UnknownConsent(consent_id)
    state = consent.get_consent(site.id, consent_id)
    status = consent.consent_status(site.id, consent_id)["status"]
    seen = _seen(state.revision)
    document: dict[str, Any] = {
        "receipt_version": RECEIPT_VERSION,
        "specifications": list(SPECIFICATIONS),
        "receipt_id": str(uuid.uuid4()),
        "timestamp": clock.isoformat(clock.now()),
        "jurisdiction": JURISDICTION,
        "legal_basis": "consent",
        "controller": {"name": site.name, "site": site.key,
                       "privacy_policy_url": site.privacy_policy_url},
        "collection_method": COLLECTION_METHOD,
        "consent_id": consent_id,
        "status": status,
        "action": state.action,
        "language": state.language,
        "gpc": state.gpc,
        "given_at": clock.isoformat(state.given_at),
        "updated_at": clock.isoformat(state.updated_at),
        "expires_at": clock.isoformat(state.expires_at),
        "snapshot_hash": state.revision,
        "purposes": _states(state.purposes, seen.get("purposes", []), "title"),
        "vendors": _states(state.vendors, seen.get("vendors", []), "name"),
    }
    document["summary"] = summary_lines(document)
    document["signature"] = tokens.sign(secret_key, tokens.RECEIPT_DOCUMENT_SALT,
                                        {"receipt_id": document["receipt_id"],
                                         "digest": _digest(document)})
    return document


def _digest(document: dict[str, Any]) -> str:
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    return hashlib.sha256(audit.canonical_json(unsigned).encode()).hexdigest()


def verify_receipt(document: Any, secret_key: str) -> bool:
    """True when ``document`` is a receipt this service signed, unchanged in every field."""
    if not isinstance(document, dict) or not isinstance(document.get("signature"), str):
        return False
    try:
        signed = tokens.unsign(secret_key, tokens.RECEIPT_DOCUMENT_SALT, document["signature"])
    except BadSignature:
        return False
    return signed == {"receipt_id": document.get("receipt_id"), "digest": _digest(document)}


def summary_lines(document: dict[str, Any]) -> list[str]:
    """The receipt in plain words, for the person it belongs to."""
    def listed(items: list[dict[str, Any]], label: str, state: str) -> str:
        return ", ".join(i[label] for i in items if i["state"] == state) or "none"

    controller = document["controller"]
    return [
        f"Consent receipt {document['receipt_id']} issued {document['timestamp']}.",
        f"Controller: {controller['name']} (privacy policy: "
        f"{controller['privacy_policy_url'] or 'not given'}).",
        f"Consent {document['consent_id']} collected by {document['collection_method']}, "
        f"status {document['status']}, last changed {document['updated_at']}, "
        f"expires {document['expires_at']}.",
        f"Purposes allowed: {listed(document['purposes'], 'title', 'granted')}; "
        f"refused: {listed(document['purposes'], 'title', 'denied')}.",
        f"Vendors allowed: {listed(document['vendors'], 'name', 'granted')}; "
        f"refused: {listed(document['vendors'], 'name', 'denied')}.",
        f"What you were shown has the SHA-256 {document['snapshot_hash']}.",
    ]
