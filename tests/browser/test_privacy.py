"""GPC, Google Consent Mode, configured text as text, and a page under a strict CSP."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser

XSS_NAME = "<img src=x onerror=alert(1)>"
DATA_LAYER = """() => dataLayer.map(e =>
  Object.prototype.toString.call(e) === '[object Arguments]' ? Array.from(e) : e)"""


def test_gpc_keeps_marketing_off_says_so_and_is_recorded_until_the_visitor_turns_it_on(
    make_visitor, live
):
    visitor = make_visitor(gpc=True)
    visitor.open()
    assert "Global Privacy Control" in visitor.banner.inner_text()
    answer = visitor.decide("Accept all")
    visitor.wait_ran("google-analytics", "segment")
    visitor.settle()
    assert "facebook-pixel" not in visitor.ran() and "hubspot" not in visitor.ran()
    consent = live.consent(answer["consent_id"])
    assert consent["gpc"] in (True, 1)
    assert consent["purposes"]["marketing"] is False
    assert consent["vendors"]["facebook-pixel"] is False
    assert consent["vendors"]["google-analytics"] is True

    visitor.open_settings()
    visitor.dialog.get_by_role("switch", name="Marketing").check()
    answer = visitor.decide("Save my choice")
    visitor.wait_ran("facebook-pixel")
    assert live.consent(answer["consent_id"])["purposes"]["marketing"] is True, "explicit wins"


def test_consent_mode_defaults_come_first_and_update_follows_the_decision(visitor):
    page = visitor.open()
    first = page.evaluate(DATA_LAYER)[0]
    assert first[:2] == ["consent", "default"]
    assert first[2] == {
        "ad_storage": "denied", "analytics_storage": "denied", "ad_user_data": "denied",
        "ad_personalization": "denied", "functionality_storage": "granted",
        "security_storage": "granted", "wait_for_update": 500,
    }
    visitor.open_settings()
    visitor.show_providers(2)
    visitor.dialog.get_by_role("switch", name="Google Analytics").check()
    visitor.decide("Save my choice")
    visitor.wait_ran("google-analytics-config")
    layer = page.evaluate(DATA_LAYER)
    updates = [e[2] for e in layer if isinstance(e, list) and e[:2] == ["consent", "update"]]
    assert updates[-1]["analytics_storage"] == "granted"
    assert updates[-1]["ad_storage"] == "denied"
    google_tag = next(i for i, e in enumerate(layer) if isinstance(e, list) and e[0] == "config")
    assert google_tag > layer.index(next(e for e in layer if e[:2] == ["consent", "update"]))
    assert any(isinstance(e, dict) and e.get("event") == "cmp_consent" for e in layer)


@pytest.fixture(scope="module")
def xss_site(site_with_catalogue: Any) -> Any:
    """A second app whose catalogue names YouTube with markup."""
    return site_with_catalogue(
        lambda text: text.replace("    name: YouTube\n", f'    name: "{XSS_NAME}"\n')
    )


def test_vendor_name_with_markup_is_shown_as_text(make_visitor, xss_site):
    visitor = make_visitor(site=xss_site)
    page = visitor.page
    alerts: list[Any] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    visitor.open()
    assert XSS_NAME in page.locator(".cmp-ph").inner_text()
    visitor.open_settings()
    visitor.show_providers(1)
    assert visitor.dialog.get_by_text(XSS_NAME, exact=True).first.is_visible()
    assert page.locator(".cmp-root img").count() == 0
    assert alerts == []


def test_banner_works_under_a_strict_csp_without_violations(visitor):
    page = visitor.open()
    csp = page.evaluate("() => fetch(location.href).then(r => r.headers.get('content-security-policy'))")
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    visitor.decide("Accept all")
    visitor.wait_ran("google-analytics-config", "statistics-purpose")  # inline, with the nonce
    visitor.open_settings()
    assert page.evaluate("window.__cspViolations") == []
    assert page.locator(".cmp-dialog").evaluate("e => getComputedStyle(e).position") == "relative"
    assert page.locator("[style]").count() == 0, "no style attributes anywhere"
