"""CORS per site: each site's own allowed origins, looked up from the site in the URL.

Written by hand because CORS libraries take one fixed origin list, while here the list depends
on which site the request names.
"""

from __future__ import annotations

from flask import Flask, Response, request

from ..configs import CatalogueMissing, SiteNotFound
from .edge import config_service

ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOWED_HEADERS = "Content-Type, Authorization"
PREFLIGHT_MAX_AGE = "600"


def _allowed_origin(origin: str, site_key: str) -> bool:
    try:
        return origin.lower() in config_service().site(site_key).origins
    except (SiteNotFound, CatalogueMissing):
        return False


def add_cors_headers(response: Response) -> Response:
    """Allow the requesting origin when it is one of the site's origins."""
    site_key = (request.view_args or {}).get("site_key")
    origin = request.headers.get("Origin")
    if site_key is None or not request.path.startswith("/api/v1/sites/"):
        return response
    if "Origin" not in response.headers.get("Vary", ""):
        response.headers.add("Vary", "Origin")
    if not origin or not _allowed_origin(origin, site_key):
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = "ETag, Retry-After"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


def init_app(app: Flask) -> None:
    """Add CORS headers to every API response."""
    app.after_request(add_cors_headers)
