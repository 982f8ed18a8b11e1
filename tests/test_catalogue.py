"""vendors.yaml: complete texts, strict validation, and loads that change all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from cmp.catalogue import CatalogueError, parse_catalogue
from cmp.extensions import db
from cmp.models import Cookie, Purpose, Vendor

from .conftest import VENDORS_YAML

REQUIRED_VENDORS = {
    "google-tag-manager", "google-analytics", "google-ads", "facebook-pixel",
    "facebook-custom-audiences", "segment", "mixpanel", "hubspot", "intercom", "sentry",
    "google-fonts", "youtube", "twitter", "linkedin-insight", "posthog", "freshdesk", "mailchimp",
    "stripe", "webflow", "cmp",
}


def catalogue() -> dict:
    return yaml.safe_load(VENDORS_YAML.read_text())


def write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "vendors.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def test_every_vendor_has_complete_english_and_german_texts_and_cookies() -> None:
    document = catalogue()
    vendors = {v["id"]: v for v in document["vendors"]}
    assert len(vendors) >= 20
    assert REQUIRED_VENDORS <= set(vendors)
    for vendor in vendors.values():
        assert {"en", "de"} <= set(vendor["texts"]), vendor["id"]
        assert all(vendor["texts"][lang]["description"].strip() for lang in ("en", "de"))
        for field in ("legal_entity", "address", "country", "privacy_policy_url", "retention"):
            assert vendor[field], (vendor["id"], field)
        for cookie in vendor["cookies"]:
            assert {"en", "de"} <= set(cookie["texts"]), (vendor["id"], cookie["name"])
            assert cookie["duration"]
    assert set(document["ui"]["de"]) == set(document["ui"]["en"])
    for purpose in document["purposes"]:
        assert {"en", "de"} <= set(purpose["texts"])


def test_named_facts_from_the_privacy_policies_are_in_the_catalogue() -> None:
    vendors = {v["id"]: v for v in catalogue()["vendors"]}
    cookie_names = {vid: {c["name"] for c in v["cookies"]} for vid, v in vendors.items()}
    assert vendors["google-analytics"]["retention"] == "P26M"
    assert vendors["segment"]["retention"] == "P180D"
    assert "IDE" in cookie_names["google-ads"]
    assert {"PREF", "GPS", "YSC", "VISITOR_INFO1_LIVE"} <= cookie_names["youtube"]
    assert "tfw_exp" in cookie_names["twitter"]
    assert vendors["webflow"]["always_on"] and vendors["cmp"]["always_on"]
    assert "cmp_consent" in cookie_names["cmp"]


def test_the_shipped_catalogue_validates() -> None:
    data = parse_catalogue(VENDORS_YAML.read_bytes())
    assert [p["id"] for p in data["purposes"]] == ["necessary", "preferences", "statistics",
                                                     "marketing"]


@pytest.mark.db
def test_a_broken_file_names_every_error_and_leaves_the_database_unchanged(
    runner, tmp_path: Path
) -> None:
    document = catalogue()
    document["vendors"][4]["cookies"] = [
        {"name": "a", "party": "first", "duration": "P1Y", "texts": {"en": {"description": "x"}}},
        {"name": "b", "party": "first", "duration": "two weeks",
         "texts": {"en": {"description": "x"}}},
    ]
    document["vendors"][2]["purposes"] = ["statistics", "astrology"]
    document["vendors"][3]["id"] = document["vendors"][5]["id"]
    del document["vendors"][6]["texts"]["en"]
    analytics = next(v for v in document["vendors"] if v["purposes"] == ["statistics"])
    analytics["always_on"] = True
    before = snapshot_catalogue()

    result = runner.invoke(args=["cmp", "load-vendors", str(write(tmp_path, document))])

    assert result.exit_code != 0
    assert "vendors[4].cookies[1].duration" in result.output
    assert "vendors[2].purposes[1]: unknown purpose 'astrology'" in result.output
    assert "duplicate id" in result.output
    assert "vendors[6].texts" in result.output and "English" in result.output
    assert "only a vendor whose every purpose is 'necessary' may be always on" in result.output
    assert "nothing was loaded" in result.output
    assert snapshot_catalogue() == before


def snapshot_catalogue() -> tuple:
    return (
        db.session.execute(sa.select(Vendor.id, Vendor.name, Vendor.retired_at)).all(),
        db.session.execute(sa.select(Cookie.vendor_id, Cookie.name, Cookie.duration)).all(),
        db.session.execute(sa.select(Purpose.id, Purpose.texts)).all(),
    )


@pytest.mark.db
def test_invalid_yaml_is_reported_with_its_line(runner, tmp_path: Path) -> None:
    path = tmp_path / "vendors.yaml"
    path.write_text("version: 1\nvendors: [\n  - id: x\n")
    result = runner.invoke(args=["cmp", "load-vendors", str(path)])
    assert result.exit_code != 0
    assert "not valid YAML" in result.output


@pytest.mark.db
def test_a_vendor_removed_from_the_file_is_retired_not_deleted(runner, tmp_path: Path) -> None:
    document = catalogue()
    document["vendors"] = [v for v in document["vendors"] if v["id"] != "mixpanel"]

    result = runner.invoke(args=["cmp", "load-vendors", str(write(tmp_path, document))])

    assert result.exit_code == 0, result.output
    assert "retired (kept for old records): mixpanel" in result.output
    mixpanel = db.session.get(Vendor, "mixpanel")
    assert mixpanel is not None and mixpanel.retired_at is not None


@pytest.mark.db
def test_loading_the_same_file_twice_changes_nothing(runner) -> None:
    result = runner.invoke(args=["cmp", "load-vendors", str(VENDORS_YAML)])
    assert result.exit_code == 0
    assert "unchanged" in result.output


def test_parse_rejects_a_necessary_purpose_that_is_not_always_on() -> None:
    document = catalogue()
    document["purposes"][0]["always_on"] = False
    with pytest.raises(CatalogueError) as error:
        parse_catalogue(yaml.safe_dump(document).encode())
    assert "purposes[0].always_on" in error.value.errors


@pytest.mark.db
def test_ids_of_the_wrong_type_are_reported_not_crashed_on(runner, tmp_path: Path) -> None:
    document = catalogue()
    document["purposes"][1]["id"] = {"nested": "mapping"}
    document["vendors"][0]["purposes"] = [["necessary"]]
    result = runner.invoke(args=["cmp", "load-vendors", str(write(tmp_path, document))])
    assert result.exit_code == 1, result.output
    assert "purposes[1].id" in result.output and "vendors[0].purposes[0]" in result.output
    assert "Traceback" not in result.output
