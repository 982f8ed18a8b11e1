"""Visitor rights: erasure keeps the chain verifiable, receipts are signed, retention erases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from cmp import admin_tokens, audit, clock, jobs
from cmp.extensions import db
from cmp.jobspec import JobContext
from cmp.models import ConsentEvent, JobRun, Site

pytestmark = pytest.mark.db


def _path(consent_id: str, suffix: str = "") -> str:
    return f"/api/v1/sites/demo/consents/{consent_id}{suffix}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _verify(app: Flask) -> audit.VerifyResult:
    site_id = db.session.scalar(sa.select(Site.id).where(Site.key == "demo"))
    return audit.verify_chain(site_id, app.config["SECRET_KEY"])


def _events(consent_id: str) -> list[ConsentEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(ConsentEvent).where(
        ConsentEvent.consent_id == consent_id).order_by(ConsentEvent.seq)))


def test_visitor_erasure_removes_fields_and_chain_still_verifies(
        app: Flask, client: FlaskClient, give_consent: Any) -> None:
    given = give_consent(headers={"User-Agent": "Firefox"})
    give_consent("reject_all", consent_id=given["consent_id"])
    other = give_consent()
    response = client.delete(_path(given["consent_id"]), headers=_bearer(given["receipt"]))
    assert response.status_code == 204
    events = _events(given["consent_id"])
    assert [e.kind for e in events] == ["given", "updated", "erased"]
    for event in events:
        assert (event.url, event.user_agent, event.ip_truncated, event.ip_hash) == (None,) * 4
    assert set(events[0].erased_digests) == set(audit.ERASABLE_FIELDS)
    assert _events(other["consent_id"])[0].ip_hash is not None  # nobody else's data goes
    result = _verify(app)
    assert result.ok and result.erased == 2 and result.events == 4
    record = client.get(_path(given["consent_id"]), headers=_bearer(given["receipt"]))
    assert record.get_json()["events"][0]["user_agent"] is None


def test_erasure_needs_the_receipt(client: FlaskClient, give_consent: Any) -> None:
    mine, theirs = give_consent(), give_consent()
    assert client.delete(_path(mine["consent_id"])).status_code == 401
    wrong = client.delete(_path(mine["consent_id"]), headers=_bearer(theirs["receipt"]))
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"


def test_admin_reads_and_erases_on_request(app: Flask, client: FlaskClient,
                                          give_consent: Any) -> None:
    given = give_consent()
    admin = admin_tokens.create_token("admin", "demo")[1]
    auditor = admin_tokens.create_token("auditor", "demo")[1]
    url = f"/api/v1/admin/sites/demo/consents/{given['consent_id']}"
    assert client.get(url, headers=_bearer(auditor)).status_code == 403
    read = client.get(url, headers=_bearer(admin))
    assert read.status_code == 200 and read.get_json()["events"][0]["kind"] == "given"
    assert client.delete(url, headers=_bearer(auditor)).status_code == 403
    assert client.delete(url, headers=_bearer(admin)).status_code == 204
    assert _events(given["consent_id"])[-1].kind == "erased"
    assert _verify(app).ok


def test_cli_erase(app: Flask, runner: FlaskCliRunner, give_consent: Any) -> None:
    given = give_consent()
    result = runner.invoke(args=["cmp", "erase", given["consent_id"]])
    assert result.exit_code == 0 and "1 events erased" in result.output
    assert runner.invoke(args=["cmp", "erase", "nope"]).exit_code != 0
    assert _verify(app).ok


def test_receipt_downloads_and_verifies(client: FlaskClient, give_consent: Any,
                                        config: Any) -> None:
    given = give_consent("custom", purposes={"statistics": True})
    response = client.get(_path(given["consent_id"], "/receipt"),
                          headers=_bearer(given["receipt"]))
    assert response.status_code == 200
    receipt = response.get_json()
    assert receipt["consent_id"] == given["consent_id"]
    assert receipt["collection_method"] == "website banner"
    assert receipt["controller"]["name"] and receipt["snapshot_hash"] == config["revision"]
    states = {p["id"]: p["state"] for p in receipt["purposes"]}
    assert states["statistics"] == "granted" and states["marketing"] == "denied"
    assert any("Purposes allowed" in line for line in receipt["summary"])
    verified = client.post("/api/v1/receipts/verify", json=receipt)
    assert verified.get_json() == {"valid": True}
    tampered = {**receipt, "purposes": [{**p, "state": "granted"} for p in receipt["purposes"]]}
    assert client.post("/api/v1/receipts/verify", json=tampered).get_json() == {"valid": False}
    text = client.get(_path(given["consent_id"], "/receipt?format=text"),
                      headers=_bearer(given["receipt"]))
    assert text.mimetype == "text/plain" and given["consent_id"] in text.get_data(as_text=True)


def test_receipt_needs_the_receipt_token(client: FlaskClient, give_consent: Any) -> None:
    given = give_consent()
    assert client.get(_path(given["consent_id"], "/receipt")).status_code == 401
    assert client.post("/api/v1/receipts/verify", data="x").status_code == 415


def test_retention_job_erases_old_events_and_records_its_run(
        app: Flask, runner: FlaskCliRunner, give_consent: Any) -> None:
    old = give_consent()
    clock.shift(timedelta(days=365 + 1095 + 1))
    new = give_consent()
    settings = app.config["CMP_SETTINGS"]
    erased = jobs.find_job("erase_past_retention").func(JobContext(settings, clock.now()))
    assert erased == 1
    assert _events(old["consent_id"])[0].ip_hash is None
    given, erased = _events(old["consent_id"])
    assert erased.kind == "erased" and erased.snapshot_hash == given.snapshot_hash is not None
    assert _events(new["consent_id"])[0].ip_hash is not None
    assert _verify(app).ok
    result = runner.invoke(args=["cmp", "run-job", "erase_past_retention"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRun).where(
        JobRun.job_id == "erase_past_retention")) >= 1


def test_checkpoint_job_signs_every_chain(app: Flask, give_consent: Any) -> None:
    give_consent()
    settings = app.config["CMP_SETTINGS"]
    assert jobs.find_job("checkpoint_chains").func(JobContext(settings, clock.now())) == 1
    result = _verify(app)
    assert result.ok and result.checkpoints == 1
