"""``GET /api/v1/sites/{site}/config``: the banner's purposes, vendors and texts."""

from __future__ import annotations

from flask import Blueprint, Response, request

from ..schemas import ConfigQuerySchema
from .edge import config_service, load_values, site_or_404

bp = Blueprint("sites_api", __name__, url_prefix="/api/v1/sites")
CONFIG_CACHE_CONTROL = "public, max-age=300"
CONFIG_QUERY = ConfigQuerySchema()


@bp.get("/<site_key>/config")
def get_config(site_key: str) -> Response:
    query = load_values(CONFIG_QUERY, request.args.to_dict())
    site_or_404(site_key)
    served = config_service().config(site_key, query["lang"])
    compressed = "gzip" in request.accept_encodings
    # Each encoding is its own representation with its own strong ETag; both name the revision.
    etag = served.revision + ("-gzip" if compressed else "")
    if request.if_none_match.contains_raw(f'"{served.revision}"') or etag in request.if_none_match:
        response = Response(status=304)
    elif compressed:
        response = Response(served.gzipped, mimetype="application/json")
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(served.body, mimetype="application/json")
    response.set_etag(etag)
    response.vary.add("Accept-Encoding")
    response.headers["Cache-Control"] = CONFIG_CACHE_CONTROL
    response.headers["Content-Language"] = served.view.language
    response.vary.add("Accept-Language")
    return response
