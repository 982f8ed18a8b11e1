"""Consent statistics: decisions per action and opt-in rates per purpose and vendor, per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from cmp import admin_tokens, clock

pytestmark = pytest.mark.db
STATS = "/api/v1/admin/sites/demo/stats"


def test_stats_count_actions_and_opt_in_rates(client: FlaskClient, give_consent: Any) -> None:
    clock.freeze(datetime(2025, 3, 1, 10, tzinfo=UTC))
    first = give_consent("accept_all")
    give_consent("accept_all")
    give_consent("reject_all")
    give_consent("custom", purposes={"statistics": True})
    give_consent("withdraw", consent_id=first["consent_id"])
    clock.freeze(datetime(2025, 3, 2, 9, tzinfo=UTC))
    give_consent("reject_all")
    token = admin_tokens.create_token("auditor", "demo")[1]
    response = client.get(STATS + "?from=2025-03-01&to=2025-03-03&bucket=day",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    day1, day2 = response.get_json()["buckets"]
    assert day1["start"] == "2025-03-01" and day2["start"] == "2025-03-02"
    assert {k: day1[k] for k in ("accept_all", "reject_all", "custom", "withdraw", "total")} == {
        "accept_all": 2, "reject_all": 1, "custom": 1, "withdraw": 1, "total": 5}
    assert day1["purposes"]["marketing"] == {"granted": 2, "denied": 3, "opt_in_rate": 0.4}
    assert day1["purposes"]["statistics"] == {"granted": 3, "denied": 2, "opt_in_rate": 0.6}
    assert day1["purposes"]["necessary"]["opt_in_rate"] == 1.0
    assert day2["reject_all"] == 1 and day2["purposes"]["marketing"]["opt_in_rate"] == 0.0
    assert "google-analytics" in day1["vendors"]


def test_stats_need_a_token_and_a_valid_bucket(client: FlaskClient) -> None:
    assert client.get(STATS).status_code == 401
    token = admin_tokens.create_token("auditor")[1]
    response = client.get(STATS + "?bucket=hour", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422 and "bucket" in response.get_json()["errors"]


def test_stats_leave_out_expiry_and_erasure(client: FlaskClient, runner: Any,
                                            give_consent: Any) -> None:
    given = give_consent("accept_all")
    runner.invoke(args=["cmp", "erase", given["consent_id"]])
    clock.shift(timedelta(days=1))
    token = admin_tokens.create_token("auditor")[1]
    buckets = client.get(STATS, headers={"Authorization": f"Bearer {token}"}).get_json()["buckets"]
    assert sum(b["total"] for b in buckets) == 1


@pytest.mark.parametrize("query, field", [
    ("from=0001-01-01T00:00:00%2B14:00", "from"), ("to=9999-12-31T23:59:59-14:00", "to"),
])
def test_stats_time_out_of_range_is_422_naming_it(client: FlaskClient, query: str,
                                                  field: str) -> None:
    token = admin_tokens.create_token("auditor")[1]
    response = client.get(f"{STATS}?{query}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422 and field in response.get_json()["errors"]


@pytest.mark.parametrize("bucket", ["day", "month"])
def test_stats_at_the_edge_of_the_time_range_work(client: FlaskClient, give_consent: Any,
                                                  bucket: str) -> None:
    give_consent()
    token = admin_tokens.create_token("auditor")[1]
    response = client.get(f"{STATS}?from=0001-01-01&to=9998-12-31T23:59:59Z&bucket={bucket}",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert sum(b["total"] for b in response.get_json()["buckets"]) == 1
