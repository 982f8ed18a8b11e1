"""One error shape for every 4xx and 5xx: ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, json
from werkzeug.exceptions import HTTPException

from .database import DatabaseUnavailable
from .extensions import db

log = logging.getLogger(__name__)
PROBLEM_TYPE = "https://cmp.dev/problems/"
RETRY_AFTER_SECONDS = 2


class Problem(Exception):
    """An error the client can act on; rendered as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        errors: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.errors = dict(errors or {})
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


def problem_response(problem: Problem) -> Response:
    """Render ``problem`` as an ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + problem.slug,
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors:
        body["errors"] = problem.errors
    body.update(problem.extra)
    response = Response(json.dumps(body), status=problem.status, mimetype="application/problem+json")
    response.headers.update(problem.headers)
    return response


def _from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    detail = error.description or HTTPStatus(status).phrase
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        detail = f"The request body is larger than the limit of {limit} bytes."
    response = problem_response(Problem(status, detail))
    if status == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    if status == 429:
        original = error.get_response()
        for name in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            if name in original.headers:
                response.headers[name] = original.headers[name]
    return response


def _rollback_session() -> None:
    # The session may hold a failed transaction: roll it back so the next request starts clean.
    # On a connection that is gone the rollback fails too; the pool replaces it either way.
    try:
        db.session.rollback()
    except sa.exc.SQLAlchemyError:
        db.session.invalidate()


def _from_database_outage(error: Exception) -> Response:
    """The database is down, restarting or unreachable: 503, retry shortly (nothing was kept)."""
    _rollback_session()
    log.warning("database unavailable: %s", type(error.__cause__ or error).__name__)
    return problem_response(Problem(
        503, "The database is not reachable right now; retry in a few seconds.",
        slug="database-unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}))


def _from_unexpected(error: Exception) -> Response:
    _rollback_session()
    log.error("unhandled error: %s", type(error).__name__, exc_info=error)
    return problem_response(Problem(500, "The server could not complete the request."))


def init_app(app: Flask) -> None:
    """Register the handlers that turn every error into problem+json."""
    app.register_error_handler(Problem, problem_response)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(DatabaseUnavailable, _from_database_outage)
    app.register_error_handler(sa.exc.OperationalError, _from_database_outage)
    app.register_error_handler(Exception, _from_unexpected)
