"""Visitor rights with the receipt as Bearer token: erasure and a signed consent receipt."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import audit, consent, receipts
from ..audit_schemas import VerifiedSchema
from .edge import json_body, receipt_holder, receipt_required, settings

bp = Blueprint("visitor_api", __name__, url_prefix="/api/v1")


def _holder_of(site_key: str, consent_id: str) -> int:
    return receipt_holder(site_key, consent_id).id


@bp.delete("/sites/<site_key>/consents/<consent_id>")
def erase_own_consent(site_key: str, consent_id: str) -> tuple[str, int]:
    site_id = _holder_of(site_key, consent_id)
    try:
        consent.get_consent(site_id, consent_id)
    except consent.UnknownConsent:
        raise receipt_required() from None
    audit.erase_consent(site_id, consent_id, "visitor request with receipt")
    return "", 204


@bp.get("/sites/<site_key>/consents/<consent_id>/receipt")
def consent_receipt(site_key: str, consent_id: str) -> Response:
    _holder_of(site_key, consent_id)
    try:
        document = receipts.build_receipt(site_key, consent_id, settings().secret_key)
    except consent.UnknownConsent:
        raise receipt_required() from None
    if request.args.get("format") == "text":
        response = Response("\n".join(document["summary"]) + "\n", mimetype="text/plain")
    else:
        response = jsonify(document)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="consent-receipt-{consent_id}.json"')
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/receipts/verify")
def verify_receipt() -> Response:
    document = json_body("the receipt")
    valid = receipts.verify_receipt(document, settings().secret_key)
    return jsonify(VerifiedSchema().dump({"valid": valid}))
