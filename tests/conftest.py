"""Shared fixtures: an app built by the factory on SQLite or PostgreSQL, a client, a CLI runner.

``CMP_TEST_BACKEND=postgres`` (with ``CMP_TEST_DATABASE_URL``) runs the database tests on
PostgreSQL; the default is a fresh SQLite file per session.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from cmp import clock, create_app
from cmp.database import consent_engine
from cmp.extensions import db

ROOT = Path(__file__).resolve().parent.parent
VENDORS_YAML = ROOT / "vendors.yaml"
POSTGRES = os.environ.get("CMP_TEST_BACKEND") == "postgres"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need PostgreSQL skip on the SQLite run; they run on the PostgreSQL run."""
    skip = pytest.mark.skip(reason="needs PostgreSQL: runs when CMP_TEST_BACKEND=postgres")
    for item in items:
        if "postgres" in item.keywords and not POSTGRES:
            item.add_marker(skip)


def database_url(tmp_dir: Path) -> str:
    """The database of this test session."""
    if POSTGRES:
        url = os.environ.get("CMP_TEST_DATABASE_URL")
        if not url:
            pytest.exit("CMP_TEST_BACKEND=postgres needs CMP_TEST_DATABASE_URL", returncode=2)
        return url
    return f"sqlite:///{tmp_dir / 'cmp.sqlite3'}"


def test_environment(tmp_dir: Path, **overrides: str) -> dict[str, str]:
    """The CMP_* variables of a test app."""
    return {
        "CMP_ENV": "test",
        "CMP_INSTANCE_PATH": str(tmp_dir),
        "CMP_DATABASE_URL": database_url(tmp_dir),
        "CMP_VENDORS_PATH": str(VENDORS_YAML),
        "CMP_RATE_LIMIT": "100000/minute",
        "CMP_CONFIG_RECHECK_SECONDS": "0",
        **overrides,
    }


def rebuild_schema(app: Flask) -> None:
    """Drop everything and build the schema through the migrations, as production does."""
    from flask_migrate import upgrade

    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        db.session.remove()


def wipe(app: Flask) -> None:
    """Empty every table, children first."""
    with app.app_context():
        with db.engine.begin() as connection:
            for table in reversed(db.metadata.sorted_tables):
                connection.execute(table.delete())
        db.session.remove()


@pytest.fixture(scope="session")
def base_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    tmp = tmp_path_factory.mktemp("cmp")
    app = create_app(test_environment(tmp))
    rebuild_schema(app)
    yield app
    with app.app_context():
        consent_engine().dispose()
        db.engine.dispose()


@pytest.fixture
def app(base_app: Flask) -> Iterator[Flask]:
    """The app with a clean database holding the catalogue and the site ``demo``."""
    wipe(base_app)
    from cmp.api.edge import CONFIG_SERVICE_KEY

    base_app.extensions[CONFIG_SERVICE_KEY].forget()
    clock.reset()
    result = base_app.test_cli_runner().invoke(args=["cmp", "init-demo"])
    assert result.exit_code == 0, result.output
    with base_app.app_context():
        yield base_app
        db.session.remove()
    clock.reset()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def config(client: FlaskClient) -> dict[str, Any]:
    """The demo site's config in English."""
    response = client.get("/api/v1/sites/demo/config?lang=en")
    assert response.status_code == 200
    return response.get_json()


def decision(config: dict[str, Any], action: str = "accept_all", **fields: Any) -> dict[str, Any]:
    """A consent body for ``config``."""
    return {"action": action, "revision": config["revision"], "language": config["language"],
            "url": "https://shop.example/checkout", "gpc": False, **fields}


@pytest.fixture
def give_consent(client: FlaskClient, config: dict[str, Any]) -> Any:
    """Post a decision; returns the response JSON (asserting 201)."""

    def give(action: str = "accept_all", remote_addr: str = "198.51.100.23",
             headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        response = client.post(
            "/api/v1/sites/demo/consents", json=decision(config, action, **fields),
            headers=headers or {}, environ_base={"REMOTE_ADDR": remote_addr},
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return give


@contextmanager
def overridden_settings(app: Flask, **changes: Any) -> Iterator[None]:
    """Run with some settings changed (e.g. trusted proxies), then restore them."""
    original = app.config["CMP_SETTINGS"]
    app.config["CMP_SETTINGS"] = dataclasses.replace(original, **changes)
    try:
        yield
    finally:
        app.config["CMP_SETTINGS"] = original


def database_text(app: Flask) -> str:
    """Every row of every table as text, plus the raw SQLite files: a full dump to search."""
    parts: list[str] = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            parts.extend(repr(tuple(row)) for row in db.session.execute(sa.select(table)))
        url = db.engine.url
        if url.get_backend_name() == "sqlite" and url.database:
            for suffix in ("", "-wal", "-shm"):
                path = Path(url.database + suffix)
                if path.exists():
                    parts.append(path.read_bytes().decode("latin-1"))
    return "\n".join(parts)
