"""How consent POSTs commit: "fast" by default, "durable" on request, on both backends.

Only consent writes may skip the disk flush; erasures, expiry and the CLI always wait for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from cmp import create_app
from cmp.audit import verify_chain
from cmp.database import CONSENT_ENGINE_KEY, _consent_engine, consent_engine
from cmp.extensions import db

from .conftest import test_environment as environment_for

pytestmark = pytest.mark.db


@pytest.fixture(params=["fast", "durable"])
def commit_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    app = create_app(environment_for(tmp_path, CMP_CONSENT_COMMIT=request.param))
    with app.app_context():
        yield request.param, app
        consent_engine().dispose()
        db.engine.dispose()


def _setting(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            return str(connection.exec_driver_sql("SHOW synchronous_commit").scalar())
        return {1: "normal", 2: "full"}[connection.exec_driver_sql("PRAGMA synchronous").scalar()]


def test_only_consent_writes_skip_the_disk_flush(commit_app: tuple[str, Flask]) -> None:
    mode, _app = commit_app
    if db.engine.dialect.name == "postgresql":
        assert _setting(db.engine) == "on"  # erasures, expiry, CLI: always flushed
        assert _setting(consent_engine()) == ("off" if mode == "fast" else "on")
        assert (consent_engine() is db.engine) == (mode == "durable")
    else:  # one writer and one setting per SQLite database
        assert _setting(db.engine) == ("normal" if mode == "fast" else "full")
        assert consent_engine() is db.engine


@pytest.mark.parametrize("mode", ["fast", "durable"])
def test_consents_are_recorded_in_either_mode(app: Flask, mode: str) -> None:
    original = app.extensions[CONSENT_ENGINE_KEY]
    engine = app.extensions[CONSENT_ENGINE_KEY] = _consent_engine(db.engine, mode)
    try:
        client = app.test_client()
        config = client.get("/api/v1/sites/demo/config?lang=en").get_json()
        response = client.post("/api/v1/sites/demo/consents", json={
            "action": "reject_all", "revision": config["revision"], "language": "en"})
        assert response.status_code == 201
        status = db.session.scalar(sa.text("SELECT status FROM consents WHERE id = :id"),
                                   {"id": response.get_json()["consent_id"]})
        assert status == "active"
        site_id = app.extensions["cmp.config_service"].site("demo").id
        assert verify_chain(site_id, app.config["CMP_SETTINGS"].secret_key).ok
    finally:
        app.extensions[CONSENT_ENGINE_KEY] = original
        if engine is not db.engine:
            engine.dispose()


@pytest.mark.postgres
def test_options_in_the_database_url_are_kept_beside_the_fast_commit(app: Flask) -> None:
    url = db.engine.url.update_query_dict({"options": "-c statement_timeout=4321"})
    engine = _consent_engine(sa.create_engine(url), "fast")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "4321ms"
    finally:
        engine.dispose()
