"""A consent's life: active for its lifetime, expired by the job and logged, asked again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from cmp import audit, clock, expiry, sites
from cmp.extensions import db
from cmp.models import ChainHead, Consent, ConsentEvent

from .conftest import VENDORS_YAML, decision

pytestmark = pytest.mark.db

DAY = timedelta(days=1)


def status_of(client: Any, consent_id: str, site: str = "demo") -> str:
    response = client.get(f"/api/v1/sites/{site}/consents/{consent_id}/status")
    assert response.status_code == 200
    return response.get_json()["status"]


def history(client: Any, given: dict[str, Any]) -> list[dict[str, Any]]:
    """The consent's events as the visitor sees them with their receipt."""
    response = client.get(f"/api/v1/sites/demo/consents/{given['consent_id']}",
                          headers={"Authorization": f"Bearer {given['receipt']}"})
    assert response.status_code == 200
    return response.get_json()["events"]


def expire_now(batch_size: int = 5000) -> int:
    return expiry.expire_due(clock.now(), batch_size)


def expired_events(consent_id: str) -> list[ConsentEvent]:
    return list(db.session.scalars(sa.select(ConsentEvent).where(
        ConsentEvent.consent_id == consent_id, ConsentEvent.kind == "expired")))


def assert_chain_verifies(site_id: int) -> None:
    """Recompute every link of the site's log as an auditor would, oldest first."""
    prev, expected_seq = audit.GENESIS_HASH, 1
    for event in db.session.scalars(
        sa.select(ConsentEvent).where(ConsentEvent.site_id == site_id).order_by(ConsentEvent.seq)
    ):
        row = {name: getattr(event, name) for name in audit.CHAINED_FIELDS}
        assert event.seq == expected_seq
        assert event.prev_hash == prev
        assert event.hash == audit.link_hash(prev, audit.field_digests(row, event.erased_digests))
        prev, expected_seq = event.hash, expected_seq + 1
    head = db.session.get(ChainHead, site_id)
    assert (head.seq, head.hash) == (expected_seq - 1, prev)


def demo_site_id() -> int:
    return sites.get_site("demo").id


def test_consent_is_active_at_364_days_and_expired_after_the_job_at_366_days(
    client, give_consent
) -> None:
    given = give_consent()
    clock.shift(364 * DAY)
    assert expire_now() == 0
    assert status_of(client, given["consent_id"]) == "active"

    clock.shift(2 * DAY)
    assert expire_now() == 1

    assert status_of(client, given["consent_id"]) == "expired"
    assert db.session.get(Consent, given["consent_id"]).status == "expired"
    events = history(client, given)
    assert [e["kind"] for e in events] == ["given", "expired"]
    ended = events[-1]
    assert ended["action"] == "expire"
    assert ended["snapshot_hash"] == given["revision"]
    assert ended["expires_at"] == given["expires_at"]
    assert ended["purposes_granted"] == [] and ended["ip_hash"] is None


def test_status_says_expired_as_soon_as_the_lifetime_is_over_even_before_the_job(
    client, give_consent
) -> None:
    given = give_consent()
    clock.shift(366 * DAY)
    assert status_of(client, given["consent_id"]) == "expired"


def test_running_the_job_twice_writes_one_expired_event(give_consent) -> None:
    given = give_consent()
    clock.shift(366 * DAY)
    assert expire_now() == 1
    assert expire_now() == 0
    assert len(expired_events(given["consent_id"])) == 1
    assert_chain_verifies(demo_site_id())


def test_expired_events_store_their_times_like_every_other_event(give_consent) -> None:
    # The job binds rows itself; its timestamps must be stored exactly as SQLAlchemy stores
    # them (on SQLite, text compared as text by the export's time filters).
    given = give_consent()
    clock.shift(366 * DAY)
    now = clock.now().replace(microsecond=0)  # a whole second: formats that differ show
    expiry.expire_due(now, 5000)
    if db.engine.dialect.name == "sqlite":  # PostgreSQL stores timestamps, not text
        stored = {kind: db.session.execute(sa.text(
            "SELECT created_at, expires_at FROM consent_events WHERE consent_id = :id "
            "AND kind = :kind"), {"id": given["consent_id"], "kind": kind}).one()
            for kind in ("given", "expired")}
        assert [len(text) for text in stored["expired"]] == [len(text) for text in stored["given"]]
        assert stored["expired"][1] == stored["given"][1]  # the same expires_at, the same text
    (event,) = expired_events(given["consent_id"])
    assert event.created_at == now


def test_only_consents_past_their_lifetime_expire(client, give_consent) -> None:
    old = give_consent()
    clock.shift(200 * DAY)
    young = give_consent()
    clock.shift(170 * DAY)
    assert expire_now() == 1
    assert status_of(client, old["consent_id"]) == "expired"
    assert status_of(client, young["consent_id"]) == "active"


def test_a_withdrawn_consent_stays_withdrawn_and_is_not_expired(client, give_consent) -> None:
    given = give_consent()
    give_consent("withdraw", consent_id=given["consent_id"])
    clock.shift(366 * DAY)
    assert expire_now() == 0
    assert status_of(client, given["consent_id"]) == "withdrawn"
    assert [e["kind"] for e in history(client, given)] == ["given", "withdrawn"]


def test_a_job_killed_after_its_first_batch_is_completed_by_the_next_run(
    monkeypatch, give_consent
) -> None:
    given = [give_consent(action) for action in ("accept_all", "reject_all") * 4]
    clock.shift(366 * DAY)
    real_batch = expiry._expire_batch
    calls = []

    def dies_after_first_batch(*args: Any) -> int:
        if calls:
            raise KeyboardInterrupt("killed")
        calls.append(args)
        return real_batch(*args)

    monkeypatch.setattr(expiry, "_expire_batch", dies_after_first_batch)
    with pytest.raises(KeyboardInterrupt):
        expire_now(batch_size=3)
    assert db.session.scalar(
        sa.select(sa.func.count()).where(Consent.status == "expired")) == 3

    monkeypatch.setattr(expiry, "_expire_batch", real_batch)
    assert expire_now(batch_size=3) == 5
    for consent in given:
        assert len(expired_events(consent["consent_id"])) == 1
        assert db.session.get(Consent, consent["consent_id"]).status == "expired"
    assert_chain_verifies(demo_site_id())


def test_expiry_keeps_every_sites_chain_verifiable(client, runner, give_consent) -> None:
    result = runner.invoke(args=["cmp", "site", "create", "second", "--name", "Second shop",
                                 "--origin", "https://second.example", "--vendors", "all"])
    assert result.exit_code == 0, result.output
    second = client.get("/api/v1/sites/second/config?lang=de").get_json()
    for _ in range(4):
        give_consent()
        response = client.post("/api/v1/sites/second/consents", json=decision(second))
        assert response.status_code == 201
        clock.shift(timedelta(minutes=1))
    clock.shift(366 * DAY)
    assert expire_now(batch_size=3) == 8
    give_consent("reject_all")  # the chain goes on after the job's events
    for key in ("demo", "second"):
        assert_chain_verifies(sites.get_site(key).id)


def test_a_decision_after_expiry_is_a_new_consent_under_the_same_id(
    client, give_consent
) -> None:
    given = give_consent()
    clock.shift(366 * DAY)
    expire_now()
    again = give_consent("reject_all", consent_id=given["consent_id"])
    assert again["consent_id"] == given["consent_id"]
    assert status_of(client, given["consent_id"]) == "active"
    assert [e["kind"] for e in history(client, given)] == ["given", "expired", "given"]
    assert_chain_verifies(demo_site_id())


def catalogue_with_extra_vendor(tmp_path: Path) -> Path:
    """vendors.yaml plus one statistics vendor the demo site has never shown."""
    catalogue = yaml.safe_load(VENDORS_YAML.read_text())
    template = next(v for v in catalogue["vendors"] if v["id"] == "mixpanel")
    catalogue["vendors"].append({**template, "id": "plausible", "name": "Plausible"})
    path = tmp_path / "vendors.yaml"
    path.write_text(yaml.safe_dump(catalogue, allow_unicode=True, sort_keys=False))
    return path


def test_a_new_vendor_changes_the_revision_and_the_decision_is_asked_again(
    client, runner, config, give_consent, tmp_path
) -> None:
    given = give_consent("custom", purposes={"statistics": True}, vendors={"mixpanel": False})
    result = runner.invoke(args=["cmp", "load-vendors", str(catalogue_with_extra_vendor(tmp_path))])
    assert result.exit_code == 0, result.output

    new_config = client.get("/api/v1/sites/demo/config?lang=en").get_json()
    assert new_config["revision"] != config["revision"]
    assert any(v["id"] == "plausible" for v in new_config["vendors"])
    old = client.get(f"/api/v1/sites/demo/consents/{given['consent_id']}",
                     headers={"Authorization": f"Bearer {given['receipt']}"}).get_json()
    assert old["consent"]["revision"] == config["revision"]
    assert old["consent"]["vendors"]["mixpanel"] is False
    assert "plausible" not in old["consent"]["vendors"]

    response = client.post("/api/v1/sites/demo/consents", json=decision(
        new_config, "custom", consent_id=given["consent_id"],
        purposes={"statistics": True}, vendors={"mixpanel": False, "plausible": False}))
    assert response.status_code == 201, response.get_json()
    events = history(client, given)
    assert [e["kind"] for e in events] == ["given", "updated"]
    assert events[-1]["snapshot_hash"] == new_config["revision"]
    assert "plausible" in events[-1]["vendors_denied"]
    assert status_of(client, given["consent_id"]) == "active"


def test_a_decision_under_the_old_revision_is_still_accepted_after_the_change(
    client, runner, config, give_consent, tmp_path
) -> None:
    """A banner that loaded before the change still records what its visitor saw."""
    given = give_consent()
    runner.invoke(args=["cmp", "load-vendors", str(catalogue_with_extra_vendor(tmp_path))])
    response = client.post("/api/v1/sites/demo/consents", json=decision(
        config, "reject_all", consent_id=given["consent_id"]))
    assert response.status_code == 201
    assert history(client, given)[-1]["snapshot_hash"] == config["revision"]
