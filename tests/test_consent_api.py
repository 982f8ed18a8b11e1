"""POST consents and reading them back: validation, receipts, CORS, errors, rate limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cmp.extensions import db
from cmp.models import Consent, ConsentEvent

from .conftest import decision

pytestmark = pytest.mark.db
URL = "/api/v1/sites/demo/consents"


def post(client, body: Any, **kwargs: Any):
    return client.post(URL, json=body, **kwargs)


def test_accept_all_is_recorded_as_state_and_one_log_event(client, config) -> None:
    response = post(client, decision(config, url="https://shop.example/a?email=x@y.z#top"),
                    headers={"User-Agent": "Firefox"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "active" and body["receipt"]

    consent = db.session.get(Consent, body["consent_id"])
    assert all(consent.purposes.values()) and all(consent.vendors.values())
    event = db.session.scalars(sa.select(ConsentEvent)).one()
    assert (event.kind, event.action, event.seq) == ("given", "accept_all", 1)
    assert event.snapshot_hash == config["revision"]
    assert event.url == "https://shop.example/a"  # no query, no fragment
    assert event.user_agent == "Firefox"
    assert event.ip_key_id and len(event.ip_hash) == 64


def test_a_custom_choice_keeps_each_purpose_and_vendor(client, config) -> None:
    body = decision(config, "custom", purposes={"statistics": True},
                    vendors={"google-analytics": True, "segment": False})
    consent_id = post(client, body).get_json()["consent_id"]
    consent = db.session.get(Consent, consent_id)
    assert consent.purposes == {"necessary": True, "preferences": False, "statistics": True,
                                "marketing": False}
    assert consent.vendors["google-analytics"] is True
    assert consent.vendors["segment"] is False
    assert consent.vendors["facebook-pixel"] is False
    assert consent.vendors["cmp"] is True  # necessary vendors are always on


def test_a_later_decision_updates_the_same_consent(client, config, give_consent) -> None:
    first = give_consent("accept_all")
    second = give_consent("reject_all", consent_id=first["consent_id"])
    assert second["consent_id"] == first["consent_id"]
    kinds = db.session.scalars(sa.select(ConsentEvent.kind).order_by(ConsentEvent.seq)).all()
    assert kinds == ["given", "updated"]
    assert second["given_at"] == first["given_at"]  # an update keeps when consent was given
    assert not db.session.get(Consent, first["consent_id"]).vendors["google-analytics"]


def test_withdrawal_turns_everything_but_necessary_off(client, give_consent) -> None:
    first = give_consent("accept_all")
    withdrawn = give_consent("withdraw", consent_id=first["consent_id"])
    assert withdrawn["status"] == "withdrawn"
    consent = db.session.get(Consent, first["consent_id"])
    assert consent.purposes["marketing"] is False and consent.purposes["necessary"] is True


def test_the_receipt_opens_its_own_consent_with_every_event(client, give_consent) -> None:
    first = give_consent("accept_all")
    give_consent("reject_all", consent_id=first["consent_id"])
    response = client.get(f"{URL}/{first['consent_id']}",
                          headers={"Authorization": f"Bearer {first['receipt']}"})
    assert response.status_code == 200
    record = response.get_json()
    assert record["consent"]["consent_id"] == first["consent_id"]
    assert [e["kind"] for e in record["events"]] == ["given", "updated"]


def test_the_receipt_of_one_consent_does_not_open_another(client, give_consent) -> None:
    mine, theirs = give_consent(), give_consent()
    response = client.get(f"{URL}/{theirs['consent_id']}",
                          headers={"Authorization": f"Bearer {mine['receipt']}"})
    assert response.status_code == 401
    assert theirs["consent_id"] not in response.get_data(as_text=True)


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc"])
def test_reading_a_consent_without_a_valid_receipt_is_401(client, give_consent, header) -> None:
    consent_id = give_consent()["consent_id"]
    headers = {"Authorization": header} if header else {}
    response = client.get(f"{URL}/{consent_id}", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_a_missing_consent_answers_like_a_wrong_receipt(client, give_consent) -> None:
    receipt = give_consent()["receipt"]
    missing = client.get(f"{URL}/00000000-0000-4000-8000-000000000000",
                         headers={"Authorization": f"Bearer {receipt}"})
    assert missing.status_code == 401


def test_the_status_endpoint_needs_no_receipt(client, give_consent) -> None:
    given_consent = give_consent()
    status = client.get(f"{URL}/{given_consent['consent_id']}/status").get_json()
    assert status == {"status": "active", "expires_at": given_consent["expires_at"],
                      "revision": given_consent["revision"]}


def test_a_revision_never_served_is_409_with_the_current_revision(client, config) -> None:
    response = post(client, decision(config, revision="f" * 64))
    assert response.status_code == 409
    assert response.get_json()["current_revision"] == config["revision"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"purposes": {"necessary": False}}, "purposes.necessary"),
        ({"purposes": {"astrology": True}}, "purposes.astrology"),
        ({"vendors": {"acme-tracker": True}}, "vendors.acme-tracker"),
        ({"vendors": {"cmp": False}}, "vendors.cmp"),
    ],
)
def test_choices_that_do_not_fit_the_revision_are_422_naming_the_field(
    client, config, fields, field
) -> None:
    response = post(client, decision(config, "custom", **fields))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_accept_all_that_refuses_something_is_refused(client, config) -> None:
    response = post(client, decision(config, "accept_all", purposes={"marketing": False}))
    assert response.status_code == 422 and "action" in response.get_json()["errors"]


def test_reject_all_that_grants_something_is_refused(client, config) -> None:
    response = post(client, decision(config, "reject_all", vendors={"google-ads": True}))
    assert response.status_code == 422 and "action" in response.get_json()["errors"]


def test_an_unknown_consent_id_is_404(client, config) -> None:
    response = post(client, decision(config, consent_id="00000000-0000-4000-8000-000000000000"))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "{not json", "content_type": "application/json"}, 400),
        ({"data": "action=accept_all", "content_type": "application/x-www-form-urlencoded"}, 415),
        ({"data": "[1, 2]", "content_type": "application/json"}, 422),
        ({"data": json.dumps({"pad": "x" * 20_000}), "content_type": "application/json"}, 413),
    ],
)
def test_malformed_requests_get_a_problem_a_developer_can_act_on(client, kwargs, status) -> None:
    response = client.post(URL, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert {"type", "title", "status", "detail"} <= set(problem)


def test_deeply_nested_json_is_a_400_not_a_crash(client) -> None:
    deep = "[" * 8_000 + "]" * 8_000  # under the 16 KB limit, far over the parser's depth
    for path in (URL, "/api/v1/receipts/verify"):
        response = client.post(path, data=deep, content_type="application/json")
        assert response.status_code == 400, path
        assert response.mimetype == "application/problem+json"


def test_the_page_url_is_kept_without_credentials_query_or_nul(client, config) -> None:
    consent_id = post(client, decision(
        config, url="https://user:secret@shop.example/a\x00b?mail=x#frag")).get_json()["consent_id"]
    event = db.session.scalars(sa.select(ConsentEvent).where(
        ConsentEvent.consent_id == consent_id)).one()
    assert event.url == "https://shop.example/ab"


def test_wrong_types_and_over_long_strings_are_named(client, config) -> None:
    body = decision(config, gpc="yes", language="x" * 40, url="javascript:alert(1)")
    body["purposes"] = {"statistics": "true"}
    errors = post(client, body).get_json()["errors"]
    assert {"gpc", "language", "url", "purposes.statistics.value"} <= set(errors)


@pytest.mark.parametrize(("fields", "path"), [
    ({"url": "ftp://shop.example/"}, "url"),
    ({"url": "https:///no-host"}, "url"),
    ({"url": "https://shop.example:99999/"}, "url"),
    ({"url": "https://[::1/"}, "url"),
    ({"url": "https://shop.example/a b"}, "url"),
    ({"url": "https://shop.example/" + "a" * 2000}, "url"),
    ({"purposes": ["statistics"]}, "purposes"),
    ({"purposes": {"x" * 65: True}}, "purposes." + "x" * 65 + ".key"),
    ({"vendors": {f"v{n}": True for n in range(501)}}, "vendors"),
])
def test_malformed_urls_and_choice_maps_are_named(client, config, fields, path) -> None:
    response = post(client, decision(config, **fields))
    assert response.status_code == 422
    assert path in response.get_json()["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0


def test_an_unknown_site_is_404_for_posts_too(client, config) -> None:
    response = client.post("/api/v1/sites/ghost/consents", json=decision(config))
    assert response.status_code == 404


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["consent_id", "action", "purposes", "vendors", "revision",
                               "language", "url", "gpc", "extra"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(field_names, json_values, max_size=8) | json_values)
def test_hostile_bodies_never_cause_a_server_error(client, config, body) -> None:
    if isinstance(body, dict) and "revision" not in body:
        body = {**body, "revision": config["revision"]}
    response = client.post(URL, data=json.dumps(body), content_type="application/json")
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300), path=st.text(min_size=1, max_size=30))
def test_hostile_bytes_and_paths_never_cause_a_server_error(client, raw, path) -> None:
    from urllib.parse import quote

    assert client.post(URL, data=raw, content_type="application/json").status_code < 500
    site = quote(path, safe="")
    assert client.get(f"/api/v1/sites/{site}/config?lang={site}").status_code < 500
    assert client.get(f"{URL}/{site}/status").status_code < 500


def test_cors_allows_only_the_sites_origins(client) -> None:
    allowed = client.options(URL, headers={"Origin": "http://127.0.0.1:8000",
                                           "Access-Control-Request-Method": "POST"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in allowed.headers["Access-Control-Allow-Headers"]

    foreign = client.get("/api/v1/sites/demo/config", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_the_consent_post_is_rate_limited_per_pseudonymised_client(app, client, config) -> None:
    from cmp.api.edge import RATE_LIMITER_KEY
    from cmp.ratelimit import rate_limiter

    original = app.extensions[RATE_LIMITER_KEY]
    app.extensions[RATE_LIMITER_KEY] = rate_limiter("3/minute", "memory://")
    try:
        responses = [post(client, decision(config), environ_base={"REMOTE_ADDR": "192.0.2.1"})
                     for _ in range(4)]
        neighbour = post(client, decision(config), environ_base={"REMOTE_ADDR": "192.0.2.99"})
        other = post(client, decision(config), environ_base={"REMOTE_ADDR": "192.0.3.1"})
    finally:
        app.extensions[RATE_LIMITER_KEY] = original
    assert [r.status_code for r in responses] == [201, 201, 201, 429]
    assert responses[-1].mimetype == "application/problem+json"
    assert int(responses[-1].headers["Retry-After"]) >= 1
    assert neighbour.status_code == 429  # the same /24 network is the same pseudonymous client
    assert other.status_code == 201
