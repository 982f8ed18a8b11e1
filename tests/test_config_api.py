"""GET config: texts per language, revisions as stored snapshots, caching by ETag."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cmp import configs
from cmp.extensions import db
from cmp.models import ConfigSnapshot

pytestmark = pytest.mark.db


def test_german_and_english_configs_have_different_revisions_and_both_are_stored(client) -> None:
    german = client.get("/api/v1/sites/demo/config?lang=de").get_json()
    english = client.get("/api/v1/sites/demo/config?lang=en").get_json()

    assert german["revision"] != english["revision"]
    assert german["texts"]["accept_all"] != english["texts"]["accept_all"]
    stored = dict(db.session.execute(sa.select(ConfigSnapshot.hash, ConfigSnapshot.language)).all())
    assert stored == {german["revision"]: "de", english["revision"]: "en"}


def test_the_revision_is_the_sha256_of_the_stored_snapshot(client) -> None:
    import hashlib

    body = client.get("/api/v1/sites/demo/config?lang=en").get_json()
    snapshot = db.session.get(ConfigSnapshot, body["revision"])
    assert hashlib.sha256(snapshot.body.encode()).hexdigest() == body["revision"]


def test_the_config_lists_purposes_vendors_cookies_and_disclosures(config) -> None:
    assert [p["id"] for p in config["purposes"]][0] == "necessary"
    assert config["purposes"][0]["always_on"] is True
    analytics = next(v for v in config["vendors"] if v["id"] == "google-analytics")
    assert analytics["legal_entity"] and analytics["privacy_policy_url"].startswith("https://")
    assert analytics["transfer"]["safeguard"] in ("DPF", "SCC")
    assert any(c["name"] == "_ga" for c in analytics["cookies"])
    assert config["consent_lifetime_days"] == 365
    assert config["consent_mode"]["analytics_storage"] == ["google-analytics"]


def test_etag_is_the_revision_and_if_none_match_gives_304(client) -> None:
    first = client.get("/api/v1/sites/demo/config?lang=en")
    assert first.headers["ETag"] == f'"{first.get_json()["revision"]}"'
    assert "max-age" in first.headers["Cache-Control"]

    again = client.get("/api/v1/sites/demo/config?lang=en",
                       headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_an_unknown_language_falls_back_to_english_and_a_region_to_its_language(client) -> None:
    assert client.get("/api/v1/sites/demo/config?lang=fr").get_json()["language"] == "en"
    assert client.get("/api/v1/sites/demo/config?lang=de-AT").get_json()["language"] == "de"


def test_an_unknown_site_is_a_404_problem(client) -> None:
    response = client.get("/api/v1/sites/nosuchsite/config")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert "nosuchsite" in response.get_json()["detail"]


def test_the_config_is_built_once_and_then_served_from_memory(client, monkeypatch) -> None:
    calls = []
    original = configs.build_config
    monkeypatch.setattr(configs, "build_config", lambda *a: calls.append(a) or original(*a))
    for _ in range(5):
        assert client.get("/api/v1/sites/demo/config?lang=de").status_code == 200
    assert len(calls) == 1


def test_a_site_change_gives_a_new_revision(client, runner) -> None:
    before = client.get("/api/v1/sites/demo/config").get_json()["revision"]
    result = runner.invoke(args=["cmp", "site", "update", "demo", "--lifetime-days", "200"])
    assert result.exit_code == 0
    after = client.get("/api/v1/sites/demo/config").get_json()
    assert after["revision"] != before and after["consent_lifetime_days"] == 200


def test_the_openapi_document_describes_the_consent_endpoints(client) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/sites/{site}/consents" in document["paths"]
    assert "action" in document["components"]["schemas"]["ConsentRequest"]["properties"]
    export = document["paths"]["/api/v1/admin/sites/{site}/consents/export"]["get"]
    query = {p["name"]: p for p in export["parameters"] if p["in"] == "query"}
    assert set(query) == {"format", "from", "to", "kind", "purpose", "vendor"}
    assert query["format"]["schema"]["enum"] == ["csv", "ndjson"]
    assert query["from"]["schema"]["format"] == "date-time"
    stats = document["paths"]["/api/v1/admin/sites/{site}/stats"]["get"]
    schema = stats["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Stats"}
    assert "buckets" in document["components"]["schemas"]["Stats"]["properties"]
    assert {"ExportQuery", "StatsQuery", "Verified", "ConfigQuery"} <= set(
        document["components"]["schemas"])


@pytest.mark.parametrize(("accept_encoding", "gzipped"), [
    ("gzip, deflate, br", True), ("br;q=1.0, gzip;q=0.8", True), ("gzip;q=0", False),
    ("identity", False), ("*", True), ("", False),
])
def test_gzip_follows_accept_encoding_every_time(client, accept_encoding, gzipped) -> None:
    for _ in range(2):  # the parsed header is reused: the second answer must agree
        response = client.get("/api/v1/sites/demo/config?lang=en",
                              headers={"Accept-Encoding": accept_encoding})
        assert (response.headers.get("Content-Encoding") == "gzip") is gzipped


def test_a_bad_query_is_refused_every_time(client) -> None:
    for _ in range(2):
        assert client.get("/api/v1/sites/demo/config?lang=" + "x" * 40).status_code == 422


def test_clients_that_accept_gzip_get_the_config_compressed(client) -> None:
    import gzip
    import json

    plain = client.get("/api/v1/sites/demo/config?lang=de")
    packed = client.get("/api/v1/sites/demo/config?lang=de", headers={"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert len(packed.data) < len(plain.data) / 3
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()
    assert packed.headers["ETag"] == f'"{plain.get_json()["revision"]}-gzip"'
    again = client.get("/api/v1/sites/demo/config?lang=de",
                       headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304
