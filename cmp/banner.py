"""Serves the visitor-facing banner files, minified once per process, cached and gzipped."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import rcssmin
import rjsmin
from flask import Blueprint, Flask, Response, request

BANNER_DIR = Path(__file__).resolve().parent.parent / "static" / "banner"
# The URL carries the version, so a file under it never changes: browsers may keep it a year.
CACHE_CONTROL = "public, max-age=31536000, immutable"
CONTENT_TYPES = {
    "cmp.js": "text/javascript; charset=utf-8",
    "cmp.css": "text/css; charset=utf-8",
}
HEADERS = {
    "Cache-Control": CACHE_CONTROL,
    "Vary": "Accept-Encoding",
    "X-Content-Type-Options": "nosniff",
    # Sites embed the banner from another origin, also with SRI (crossorigin) or COEP.
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
}
MINIFIERS = {"cmp.js": rjsmin.jsmin, "cmp.css": rcssmin.cssmin}

bp = Blueprint("banner", __name__, url_prefix="/banner/v1")


@dataclass(frozen=True)
class Asset:
    """One banner file as served: minified text, its gzip form and the ETag of both."""

    body: bytes
    gzipped: bytes
    etag: str
    content_type: str


def minify(name: str, source: str) -> str:
    """Minify a banner source file with the minifier for its type."""
    return MINIFIERS[name](source)


@cache
def asset(name: str) -> Asset:
    """Read, minify and compress a banner file (once per process)."""
    body = minify(name, (BANNER_DIR / name).read_text(encoding="utf-8")).encode()
    return Asset(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        etag=hashlib.sha256(body).hexdigest()[:32],
        content_type=CONTENT_TYPES[name],
    )


def accepts_gzip() -> bool:
    """Whether the client accepts a gzip body (a ``q=0`` refusal counts as no)."""
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


@bp.get("/<any('cmp.js', 'cmp.css'):name>")
def serve(name: str) -> Response:
    """One banner file: 304 when the client holds it, gzip when accepted."""
    item = asset(name)
    compressed = accepts_gzip()
    # Each encoding is its own representation, so each gets its own strong ETag.
    etag = f"{item.etag}-gzip" if compressed else item.etag
    response = Response(status=200, content_type=item.content_type)
    response.set_etag(etag)
    response.headers.update(HEADERS)
    if request.if_none_match.contains(etag):
        response.status_code = 304
        return response
    response.set_data(item.gzipped if compressed else item.body)
    if compressed:
        response.headers["Content-Encoding"] = "gzip"
    return response


def init_app(app: Flask) -> None:
    """Register the banner routes."""
    app.register_blueprint(bp)
