"""The demo site served at ``/``: a shop page whose third-party tags are blocked by the banner."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Blueprint, Flask, Response, render_template

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "demo"
DEMO_SITE = "demo"
# Strict: scripts and styles only from this origin or carrying the per-response nonce.
CSP = (
    "default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
    "img-src 'self' data:; frame-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'"
)

bp = Blueprint(
    "demo", __name__, static_folder=str(STATIC_DIR), static_url_path="/demo/static"
)


def with_csp(body: str, nonce: str) -> Response:
    """An HTML response carrying the strict CSP for ``nonce``."""
    response = Response(body, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP.format(nonce=nonce)
    response.headers["Cache-Control"] = "no-store"
    return response


def render_page(template: str, **context: object) -> Response:
    """Render a demo page with a fresh CSP nonce."""
    nonce = secrets.token_urlsafe(16)
    return with_csp(render_template(template, nonce=nonce, site=DEMO_SITE, **context), nonce)


@bp.get("/")
@bp.get("/articles/<slug>")
def index(slug: str | None = None) -> Response:
    """The demo shop page (also under ``/articles/…`` to show cookies set on sub-paths)."""
    return render_page("demo/index.html", slug=slug)


@bp.get("/demo/youtube-embed")
def youtube_embed() -> Response:
    """A local stand-in for the YouTube player iframe: no external network."""
    return render_page("demo/youtube_embed.html")


def init_app(app: Flask) -> None:
    """Register the demo routes."""
    app.register_blueprint(bp)
