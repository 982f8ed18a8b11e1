"""Admin and auditor endpoints: export the consent log, statistics, one consent by id."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context

from .. import audit, consent, export, stats
from ..audit_schemas import ExportQuerySchema, StatsQuerySchema, StatsSchema
from ..errors import Problem
from ..schemas import ConsentRecordSchema
from .auth import require_token
from .edge import is_consent_id, load_values, site_or_404

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin/sites")

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}


@bp.get("/<site_key>/consents/export")
def export_consents(site_key: str) -> Response:
    token = require_token(site_key, "export")
    site = site_or_404(site_key)
    query = load_values(ExportQuerySchema(), request.args)
    fmt = query.pop("format")
    target = export.ExportTarget(site.id, site_key, "api", token.id)
    chunks = export.stream_export(target, fmt, export.ExportFilters(**query))
    filename = f"consents-{site_key}.{fmt}"
    return Response(stream_with_context(chunks), mimetype=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    })


@bp.get("/<site_key>/stats")
def consent_stats(site_key: str) -> Response:
    require_token(site_key, "stats")
    site = site_or_404(site_key)
    query = load_values(StatsQuerySchema(), request.args)
    buckets = stats.consent_stats(site.id, query["since"], query["until"], query["bucket"])
    return jsonify(StatsSchema().dump(
        {"site": site_key, "bucket": query["bucket"], "buckets": buckets}))


def _known_consent(site_key: str, consent_id: str) -> int:
    site = site_or_404(site_key)
    try:
        if not is_consent_id(consent_id):
            raise consent.UnknownConsent(consent_id)
        consent.get_consent(site.id, consent_id)
    except consent.UnknownConsent:
        raise Problem(404, "No consent with this id on this site.", slug="unknown-consent") from None
    return site.id


@bp.get("/<site_key>/consents/<consent_id>")
def read_consent(site_key: str, consent_id: str) -> Response:
    require_token(site_key, "read_consent")
    site_id = _known_consent(site_key, consent_id)
    response = jsonify(ConsentRecordSchema().dump(
        consent.consent_record(site_key, site_id, consent_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/<site_key>/consents/<consent_id>")
def erase_consent(site_key: str, consent_id: str) -> tuple[str, int]:
    token = require_token(site_key, "erase_consent")
    site_id = _known_consent(site_key, consent_id)
    audit.erase_consent(site_id, consent_id, f"visitor request via admin token {token.id}")
    return "", 204
