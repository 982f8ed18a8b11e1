"""The HTTP API: thin blueprints that load with a schema, call a service and dump with a schema."""

from __future__ import annotations

from flask import Flask

from . import admin, consents, cors, edge, openapi, sites, visitor


def init_app(app: Flask) -> None:
    """Register the API blueprints and their shared request handling."""
    edge.init_app(app)
    app.register_blueprint(sites.bp)
    app.register_blueprint(consents.bp)
    app.register_blueprint(visitor.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(openapi.bp)
    cors.init_app(app)
