"""The settings layer: per-vendor choices, keyboard use, withdrawal and the consent receipt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

STATISTICS = 2  # position of the statistics purpose in the dialog
VENDOR_COOKIES = {"_ga", "_ga_DEMO123", "_gid", "ajs_anonymous_id", "ajs_user_id", "hubspotutk",
                  "__hstc", "__hssc", "__hssrc", "_fbp"}


def test_custom_choice_runs_only_the_vendor_switched_on(visitor, live):
    page = visitor.open()
    visitor.button("Cookie settings").click()
    dialog = visitor.dialog
    switches = dialog.get_by_role("switch")
    assert switches.first.is_checked() and switches.first.is_disabled(), "necessary: on, fixed"
    checked = [s.is_checked() for s in switches.all() if not s.is_disabled()]
    assert not any(checked), "no box is pre-ticked"
    visitor.show_providers(STATISTICS)
    segment = dialog.get_by_role("switch", name="Segment")
    segment.check()
    assert dialog.get_by_role("switch", name="Statistics").is_checked()
    assert not dialog.get_by_role("switch", name="Google Analytics").is_checked()
    disclosure = dialog.locator(".cmp-vendor").filter(
        has=page.get_by_role("switch", name="Segment")
    )
    assert "Segment.io, Inc." in disclosure.inner_text()
    disclosure.get_by_text("Cookies (3)").click()
    assert disclosure.get_by_role("cell", name="ajs_anonymous_id").is_visible()
    answer = visitor.decide("Save my choice")
    visitor.wait_ran("segment", "statistics-purpose")
    visitor.settle()
    assert visitor.ran() == ["segment", "statistics-purpose"]
    consent = live.consent(answer["consent_id"])
    assert consent["action"] == "custom"
    assert consent["vendors"]["segment"] is True
    assert consent["vendors"]["google-analytics"] is False
    assert consent["purposes"] == {"necessary": True, "preferences": False, "statistics": True,
                                   "marketing": False}
    assert page.get_by_role("status").inner_text() == "Your settings have been saved."


def test_keyboard_alone_reaches_and_operates_every_control_with_focus_trapped(visitor, live):
    page = visitor.open()
    reached = []
    for _ in range(8):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.textContent"))
        if reached[-1] == "Cookie settings":
            break
    assert {"Accept all", "Reject all", "Cookie settings"} <= set(reached)
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    dialog = visitor.dialog
    assert dialog.get_attribute("aria-modal") == "true"
    assert page.evaluate("document.getElementById("
                         "document.querySelector('[role=dialog]').getAttribute('aria-labelledby'))"
                         ".textContent") == "Your privacy settings"
    for key in ["Tab"] * 40 + ["Shift+Tab"] * 40:
        page.keyboard.press(key)
        assert page.evaluate("!!document.activeElement.closest('[role=dialog]')"), "focus escaped"
    page.keyboard.press("Escape")
    assert dialog.count() == 0
    assert page.evaluate("document.activeElement.textContent") == "Cookie settings", "focus returns"

    page.keyboard.press("Enter")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('label')?.textContent") == "Statistics":
            break
    page.keyboard.press("Space")
    assert dialog.get_by_role("switch", name="Statistics").is_checked()
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Save my choice":
            break
    with page.expect_response(lambda r: r.request.method == "POST") as response:
        page.keyboard.press("Enter")
    consent = live.consent(response.value.json()["consent_id"])
    assert consent["purposes"]["statistics"] is True
    assert consent["vendors"]["google-analytics"] is True
    visitor.wait_ran("google-analytics")


def test_withdrawal_is_recorded_and_deletes_vendor_cookies_on_every_domain_and_path(make_visitor, live):
    # A real host name, so cookies can live on the parent domain (.cmp.test) and on a sub-path.
    visitor = make_visitor(host="www.shop.cmp.test")
    page = visitor.open("/articles/trail-guide")
    answer = visitor.decide("Accept all")
    visitor.wait_ran("hubspot", "segment", "facebook-pixel")
    cookies = page.context.cookies()
    assert {"domain": ".cmp.test", "name": "__hstc"} in [
        {"domain": c["domain"], "name": c["name"]} for c in cookies
    ]
    assert {"path": "/articles", "name": "ajs_user_id"} in [
        {"path": c["path"], "name": c["name"]} for c in cookies
    ]
    visitor.open_settings()
    with page.expect_navigation():  # the page reloads so the running scripts stop
        visitor.button("Withdraw consent").click()
    visitor.wait_ready()
    visitor.settle()
    assert visitor.cookie_names() & VENDOR_COOKIES == set()
    assert visitor.ran() == []
    assert visitor.banner.count() == 0, "a withdrawal is an answer: no need to ask again"
    consent = live.consent(answer["consent_id"])
    assert consent["status"] == "withdrawn"
    assert [e["action"] for e in live.events(answer["consent_id"])][-1] == "withdraw"
    assert not any(v for k, v in consent["vendors"].items() if k == "google-analytics")


def test_narrowing_without_reload_when_the_site_turns_reload_off(visitor):
    page = visitor.open()
    visitor.decide("Accept all")
    visitor.wait_ran("facebook-pixel")
    page.evaluate("document.querySelector('script[data-site]').setAttribute('data-cmp-no-reload', '')")
    visitor.open_settings()
    visitor.dialog.get_by_role("switch", name="Marketing").uncheck()
    visitor.decide("Save my choice")
    visitor.settle()
    assert page.evaluate("window.__ranScripts.length") > 0, "same page: no reload happened"
    assert "_fbp" not in visitor.cookie_names()
    assert "_ga" in visitor.cookie_names()


def test_download_receipt_saves_the_signed_receipt_of_the_current_consent(visitor, live):
    page = visitor.open()
    answer = visitor.decide("Accept all")
    visitor.open_settings()
    downloads = []
    page.on("download", lambda d: downloads.append(d))
    with page.expect_response(lambda r: "/receipt" in r.url) as response:
        visitor.button("Download receipt").click()
    if response.value.status == 404:
        pytest.skip("the receipt endpoint (issue 5 item 8) is not in the API yet")
    for _ in range(50):
        if downloads:
            break
        page.wait_for_timeout(100)
    saved = downloads[0]
    assert saved.suggested_filename == "consent-receipt.json"
    document = json.loads(Path(saved.path()).read_text(encoding="utf-8"))
    assert answer["consent_id"] in json.dumps(document)
