"""Site owners' CLI: create, update and list sites; lifetimes over 13 months are refused."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.db


def test_site_create_list_and_update(runner) -> None:
    created = runner.invoke(args=[
        "cmp", "site", "create", "shop", "--name", "Shop", "--origin", "https://shop.example",
        "--origin", "https://www.shop.example", "--vendors", "google-analytics,youtube",
        "--lifetime-days", "180", "--languages", "de,en",
    ])
    assert created.exit_code == 0, created.output
    assert "vendors: google-analytics,youtube" in created.output

    updated = runner.invoke(args=["cmp", "site", "update", "shop", "--vendors", "all",
                                  "--lifetime-days", "395"])
    assert updated.exit_code == 0, updated.output

    listed = runner.invoke(args=["cmp", "site", "list"])
    assert "shop" in listed.output and "lifetime: 395 days" in listed.output
    assert "vendors: all" in listed.output


def test_a_lifetime_over_thirteen_months_is_refused(runner) -> None:
    result = runner.invoke(args=["cmp", "site", "create", "long", "--name", "Long",
                                 "--origin", "https://long.example", "--lifetime-days", "396"])
    assert result.exit_code != 0
    assert "13 months" in result.output
    assert "long" not in runner.invoke(args=["cmp", "site", "list"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--origin", "https://a.example/path"], "scheme and host only"),
        (["--origin", "ftp://a.example"], "scheme and host only"),
        (["--origin", "http://[::1"], "scheme and host only"),
        (["--origin", "https://a.example", "--vendors", "nosuchvendor"], "unknown vendor"),
        (["--origin", "https://a.example", "--languages", "english!"], "language"),
    ],
)
def test_bad_site_settings_are_refused_with_a_message(runner, args, message) -> None:
    result = runner.invoke(args=["cmp", "site", "create", "bad", "--name", "Bad", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_a_second_site_with_the_same_key_is_refused(runner) -> None:
    result = runner.invoke(args=["cmp", "site", "create", "demo", "--name", "Again",
                                 "--origin", "https://x.example"])
    assert result.exit_code != 0 and "exists already" in result.output


def test_updating_a_missing_site_fails(runner) -> None:
    result = runner.invoke(args=["cmp", "site", "update", "ghost", "--name", "Boo"])
    assert result.exit_code != 0 and "no site with key 'ghost'" in result.output
