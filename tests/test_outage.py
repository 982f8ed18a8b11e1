"""A database that drops or refuses connections gives 503 with Retry-After, never a 500, and the
next request works on a fresh connection."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cmp import prepared
from cmp.database import CONSENT_APPLICATION_NAME, consent_engine
from cmp.extensions import db
from cmp.models import Consent

from .conftest import decision

pytestmark = pytest.mark.db
URL = "/api/v1/sites/demo/consents"


def _assert_unavailable(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"].endswith("/database-unavailable")
    assert int(response.headers["Retry-After"]) > 0


def test_a_connection_lost_mid_write_is_503_and_the_next_post_works(
    client, config, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = consent_engine().dialect.loaded_dbapi.OperationalError("connection lost")

    def drop(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise lost

    with monkeypatch.context() as patch:
        patch.setattr(prepared.Prepared, "execute", drop)
        _assert_unavailable(client.post(URL, json=decision(config)))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0
    assert client.post(URL, json=decision(config)).status_code == 201


def test_a_database_that_refuses_connections_is_503(client, config, monkeypatch) -> None:
    def refuse(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise sa.exc.OperationalError("connect", {}, Exception("connection refused"))

    monkeypatch.setattr(consent_engine(), "raw_connection", refuse)
    _assert_unavailable(client.post(URL, json=decision(config)))


@pytest.mark.postgres
def test_connections_killed_by_the_server_cost_one_503_at_most(client, config) -> None:
    assert client.post(URL, json=decision(config)).status_code == 201  # pool holds a connection
    with db.engine.connect() as admin:
        killed = admin.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = :name"),
            {"name": CONSENT_APPLICATION_NAME}).scalar()
    assert killed >= 1
    statuses = [client.post(URL, json=decision(config)).status_code for _ in range(3)]
    # The one pooled connection is dead: its request is told to retry; the pool starts afresh.
    assert statuses == [503, 201, 201]
