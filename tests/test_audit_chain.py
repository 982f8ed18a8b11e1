"""The consent log is tamper-evident: verify names the first broken seq and what broke."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from cmp import audit
from cmp.extensions import db
from cmp.models import ChainHead, ConsentEvent, Site

pytestmark = pytest.mark.db


def _site_id() -> int:
    return db.session.scalar(sa.select(Site.id).where(Site.key == "demo"))


def _verify(app: Flask, since: int | None = None) -> audit.VerifyResult:
    db.session.remove()
    return audit.verify_chain(_site_id(), app.config["SECRET_KEY"], since)


def _sql(statement: str, **params: Any) -> None:
    db.session.execute(sa.text(statement), params)
    db.session.commit()


@pytest.fixture
def five_events(give_consent: Any) -> list[dict[str, Any]]:
    given = [give_consent("accept_all") for _ in range(3)]
    give_consent("reject_all", consent_id=given[0]["consent_id"])
    give_consent("withdraw", consent_id=given[1]["consent_id"])
    return given


def _event(seq: int) -> ConsentEvent:
    return db.session.scalars(sa.select(ConsentEvent).where(ConsentEvent.seq == seq)).one()


def test_untouched_log_verifies_with_counts(app: Flask, five_events: Any) -> None:
    result = _verify(app)
    assert result.ok and result.events == 5 and result.last_seq == 5


def test_modified_event_is_named(app: Flask, five_events: Any) -> None:
    _sql("UPDATE consent_events SET purposes_granted = :v WHERE seq = 3", v='["necessary"]')
    result = _verify(app)
    assert (result.broken_seq, result.problem) == (3, "modified")


def test_modified_and_rehashed_event_is_named(app: Flask, five_events: Any) -> None:
    event = _event(3)
    row = {name: getattr(event, name) for name in audit.CHAINED_FIELDS}
    row["user_agent"] = "forged"
    _sql("UPDATE consent_events SET user_agent = 'forged', hash = :h WHERE seq = 3",
         h=audit.link_hash(event.prev_hash, audit.field_digests(row)))
    result = _verify(app)
    assert (result.broken_seq, result.problem) == (3, "modified")


def test_deleted_event_is_missing(app: Flask, five_events: Any) -> None:
    _sql("DELETE FROM consent_events WHERE seq = 3")
    result = _verify(app)
    assert (result.broken_seq, result.problem) == (3, "missing")


def test_deleted_last_event_is_missing(app: Flask, five_events: Any) -> None:
    _sql("DELETE FROM consent_events WHERE seq = 5")
    result = _verify(app)
    assert (result.broken_seq, result.problem) == (5, "missing")


def test_inserted_event_is_named(app: Flask, five_events: Any) -> None:
    before = _event(2)
    row = {name: getattr(_event(3), name) for name in audit.CHAINED_FIELDS}
    # Make room at seq 3 (in two steps: the unique (site, seq) is checked row by row).
    _sql("UPDATE consent_events SET seq = -(seq + 1) WHERE seq >= 3")
    _sql("UPDATE consent_events SET seq = -seq WHERE seq < 0")
    row.update(seq=3, action="accept_all", prev_hash=before.hash)
    row["hash"] = audit.link_hash(before.hash, audit.field_digests(row))
    db.session.execute(sa.insert(ConsentEvent).values(site_id=_site_id(), **row))
    db.session.execute(sa.update(ChainHead).values(seq=6))
    db.session.commit()
    result = _verify(app)
    assert (result.broken_seq, result.problem) == (3, "inserted")


def test_event_appended_behind_the_head_is_inserted(app: Flask, five_events: Any) -> None:
    row = {name: getattr(_event(5), name) for name in audit.CHAINED_FIELDS}
    row.update(seq=6, prev_hash=_event(5).hash)
    row["hash"] = audit.link_hash(row["prev_hash"], audit.field_digests(row))
    db.session.execute(sa.insert(ConsentEvent).values(site_id=_site_id(), **row))
    db.session.commit()
    result = _verify(app)
    assert (result.broken_seq, result.problem) == (6, "inserted")


def test_reordered_events_are_named(app: Flask, five_events: Any) -> None:
    _sql("UPDATE consent_events SET seq = -1 WHERE seq = 3")
    _sql("UPDATE consent_events SET seq = 3 WHERE seq = 4")
    _sql("UPDATE consent_events SET seq = 4 WHERE seq = -1")
    result = _verify(app)
    assert (result.broken_seq, result.problem) == (3, "reordered")


def test_verify_since_checks_only_the_tail(app: Flask, five_events: Any) -> None:
    _sql("UPDATE consent_events SET language = 'xx' WHERE seq = 2")
    assert _verify(app, since=3).ok
    assert _verify(app, since=2).broken_seq == 2


def test_checkpoint_catches_a_rewritten_tail(app: Flask, runner: Any, five_events: Any) -> None:
    assert runner.invoke(args=["cmp", "checkpoint"]).exit_code == 0
    # Rewrite the last event and recompute its hash and the head: the chain alone looks fine.
    event = _event(5)
    row = {name: getattr(event, name) for name in audit.CHAINED_FIELDS}
    row["action"] = "accept_all"
    forged = audit.link_hash(event.prev_hash, audit.field_digests(row))
    _sql("UPDATE consent_events SET action = 'accept_all', hash = :h WHERE seq = 5", h=forged)
    _sql("UPDATE chain_heads SET hash = :h", h=forged)
    result = _verify(app)
    assert (result.broken_seq, result.problem) == (5, "modified")
    assert "checkpoint" in result.detail


def test_forged_checkpoint_signature_fails(app: Flask, runner: Any, five_events: Any) -> None:
    assert runner.invoke(args=["cmp", "checkpoint", "--site", "demo"]).exit_code == 0
    _sql("UPDATE checkpoints SET signature = signature || 'x'")
    assert _verify(app).problem == "checkpoint"


def test_cli_verify_exit_status(app: Flask, runner: Any, five_events: Any) -> None:
    ok = runner.invoke(args=["cmp", "verify", "--site", "demo"])
    assert ok.exit_code == 0 and "OK" in ok.output and "5 events" in ok.output
    _sql("DELETE FROM consent_events WHERE seq = 2")
    broken = runner.invoke(args=["cmp", "verify"])
    assert broken.exit_code != 0
    assert "seq 2: missing" in broken.output


def test_cli_verify_unknown_site_fails(runner: Any) -> None:
    result = runner.invoke(args=["cmp", "verify", "--site", "nope"])
    assert result.exit_code != 0 and "no site" in result.output
