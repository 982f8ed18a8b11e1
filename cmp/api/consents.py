"""Consent endpoints: record a decision, read a consent with its receipt, check its status."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import consent, tokens
from ..errors import Problem
from ..schemas import (
    ConsentRecordSchema,
    ConsentRequestSchema,
    ConsentResponseSchema,
    ConsentStatusSchema,
)
from .edge import (
    config_service,
    current_client,
    enforce_rate_limit,
    is_consent_id,
    load_json,
    receipt_holder,
    receipt_required,
    settings,
    site_or_404,
)

bp = Blueprint("consents_api", __name__, url_prefix="/api/v1/sites")


CONSENT_REQUEST = ConsentRequestSchema()
CONSENT_RESPONSE = ConsentResponseSchema()
CONSENT_RECORD = ConsentRecordSchema()
CONSENT_STATUS = ConsentStatusSchema()


@bp.post("/<site_key>/consents")
def post_consent(site_key: str) -> tuple[Response, int]:
    site = site_or_404(site_key)
    enforce_rate_limit()
    decision = consent.Decision(**load_json(CONSENT_REQUEST))
    user_agent = request.headers.get("User-Agent", "").replace("\x00", "")
    try:
        recorded = consent.record_consent(site, config_service(), decision, current_client(),
                                          user_agent)
    except consent.UnknownRevision as error:
        raise Problem(409, "This revision was never served for this site; fetch the config again.",
                      slug="unknown-revision", extra={"current_revision": error.current}) from None
    except consent.ConsentError as error:
        raise Problem(422, "The choices do not fit the revision: " + str(error),
                      slug="invalid-choices", errors=error.errors) from None
    except consent.UnknownConsent:
        raise Problem(404, "No consent with this consent_id on this site; omit it to start anew.",
                      slug="unknown-consent", errors={"consent_id": ["unknown"]}) from None
    receipt = tokens.issue_receipt(settings().secret_key, site_key, recorded.consent_id)
    return jsonify(CONSENT_RESPONSE.dump({**recorded.__dict__, "receipt": receipt})), 201


@bp.get("/<site_key>/consents/<consent_id>")
def get_consent(site_key: str, consent_id: str) -> Response:
    site = receipt_holder(site_key, consent_id)
    try:
        record = consent.consent_record(site_key, site.id, consent_id)
    except consent.UnknownConsent:
        raise receipt_required() from None
    response = jsonify(CONSENT_RECORD.dump(record))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<site_key>/consents/<consent_id>/status")
def get_status(site_key: str, consent_id: str) -> Response:
    site = site_or_404(site_key)
    try:
        if not is_consent_id(consent_id):
            raise consent.UnknownConsent(consent_id)
        state = consent.consent_status(site.id, consent_id)
    except consent.UnknownConsent:
        raise Problem(404, "No consent with this id on this site.", slug="unknown-consent") from None
    response = jsonify(CONSENT_STATUS.dump(state))
    # Private: one device's answer; a few minutes is fresh enough for a daily check.
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
