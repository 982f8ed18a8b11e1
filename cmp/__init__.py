"""cmp: a self-hosted consent management platform.

``create_app`` is the one way to build the application: settings, then extensions, then
blueprints, then the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin

from . import config as config_module
from .extensions import db, migrate
from .json_codec import OrjsonProvider


def create_app(overrides: Mapping[str, str] | None = None) -> Flask:
    """Build the Flask application.

    :param overrides: ``CMP_*`` variables that take the place of the process environment
        (tests pass a whole environment here).
    :raises ConfigError: when a setting is missing or malformed.
    """
    import os

    env = dict(os.environ) if overrides is None else {**_inherited(), **overrides}
    settings = config_module.load_settings(env)
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.config.update(settings.flask_config())
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    _configure_logging(settings.log_level)

    # cmp keeps no cookie sessions; skipping them saves building a signer on every request.
    app.session_interface = NoSessions()
    app.json = OrjsonProvider(app)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))

    from . import api, banner, cli, database, demo, errors

    database.init_app(app)
    errors.init_app(app)
    api.init_app(app)
    banner.init_app(app)
    demo.init_app(app)
    cli.init_app(app)
    return app


class NoSessions(SessionInterface):
    """A session interface that never reads or writes a session cookie."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def _inherited() -> dict[str, str]:
    """Variables a test mapping does not override but still needs (none are CMP_* settings)."""
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("CMP_")}


def _migrations_dir() -> object:
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"


def _configure_logging(level: str) -> None:
    from .logfilters import install

    # werkzeug's request log starts every line with the client address: its per-request lines
    # are dropped, and what it still logs (errors) has addresses removed.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    install("werkzeug")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
