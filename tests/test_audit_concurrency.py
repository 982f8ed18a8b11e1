"""Concurrent writers on PostgreSQL never fork or skip a site's chain."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from cmp import audit
from cmp.extensions import db
from cmp.models import ConsentEvent, Site
from tests.conftest import decision

pytestmark = pytest.mark.postgres
WRITERS = 8
PER_WRITER = 15


def test_eight_concurrent_writers_leave_an_unbroken_chain(app: Flask, config: Any) -> None:
    barrier = threading.Barrier(WRITERS)
    failures: list[Any] = []

    def writer(number: int) -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            for _ in range(PER_WRITER):
                response = client.post("/api/v1/sites/demo/consents", json=decision(config),
                                       environ_base={"REMOTE_ADDR": f"203.0.113.{number}"})
                if response.status_code != 201:
                    failures.append(response.get_json())
            db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    db.session.remove()
    total = WRITERS * PER_WRITER
    seqs = db.session.scalars(sa.select(ConsentEvent.seq).order_by(ConsentEvent.seq)).all()
    assert seqs == list(range(1, total + 1))
    site_id = db.session.scalar(sa.select(Site.id).where(Site.key == "demo"))
    result = audit.verify_chain(site_id, app.config["SECRET_KEY"])
    assert result.ok and result.events == total
