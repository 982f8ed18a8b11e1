"""``GET /api/v1/sites/{site}/config``: the banner's purposes, vendors and texts."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.http import parse_accept_header

from ..schemas import ConfigQuerySchema
from .edge import config_service, load_values, site_or_404

bp = Blueprint("sites_api", __name__, url_prefix="/api/v1/sites")
CONFIG_CACHE_CONTROL = "public, max-age=300"
CONFIG_QUERY = ConfigQuerySchema()
NO_QUERY = CONFIG_QUERY.load({})


# Banners send the same few queries and Accept-Encoding headers millions of times; each
# distinct one is parsed once. A query that fails validation raises and is not cached.
@lru_cache(maxsize=256)
def _config_query(args: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return load_values(CONFIG_QUERY, dict(args))


@lru_cache(maxsize=256)
def _accepts_gzip(accept_encoding: str) -> bool:
    return parse_accept_header(accept_encoding)["gzip"] > 0


@bp.get("/<site_key>/config")
def get_config(site_key: str) -> Response:
    # Header helpers that parse and re-serialise (vary.add, set_etag) cost as much as the rest
    # of this view, which serves a prebuilt body: headers are written here as plain strings.
    query = _config_query(tuple(request.args.items())) if request.args else NO_QUERY
    site_or_404(site_key)
    served = config_service().config(site_key, query["lang"])
    compressed = _accepts_gzip(request.headers.get("Accept-Encoding", ""))
    # Each encoding is its own representation with its own strong ETag; both name the revision.
    etag = served.revision + ("-gzip" if compressed else "")
    headers = {"ETag": f'"{etag}"', "Cache-Control": CONFIG_CACHE_CONTROL,
               "Content-Language": served.view.language, "Vary": "Accept-Encoding, Origin"}
    if "If-None-Match" in request.headers and (
        served.revision in request.if_none_match or etag in request.if_none_match
    ):
        return Response(status=304, headers=headers)
    if compressed:
        headers["Content-Encoding"] = "gzip"
        return Response(served.gzipped, mimetype="application/json", headers=headers)
    return Response(served.body, mimetype="application/json", headers=headers)
