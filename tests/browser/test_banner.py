"""The first layer and script blocking, as a visitor of the demo site meets them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

EVERY_BLOCKED_SCRIPT_IN_ORDER = [
    "google-analytics", "google-analytics-config", "segment", "hubspot", "facebook-pixel",
    "statistics-purpose",
]
STATISTICS_AND_MARKETING_COOKIES = {
    "_ga", "_ga_DEMO123", "_gid", "ajs_anonymous_id", "ajs_user_id", "hubspotutk", "__hstc",
    "__hssc", "__hssrc", "_fbp",
}


def test_first_visit_shows_banner_and_runs_no_blocked_script(visitor):
    page = visitor.open()
    banner = visitor.banner
    assert banner.get_by_role("heading", name="We respect your privacy").is_visible()
    assert banner.get_by_role("link", name="Privacy policy").get_attribute("href") == (
        "https://example.com/privacy"
    )
    sizes = [visitor.button(name).bounding_box() for name in
             ("Accept all", "Reject all", "Cookie settings")]
    assert len({(round(b["width"]), round(b["height"])) for b in sizes}) == 1, "equal buttons"
    assert banner.get_attribute("role") == "region", "a region, not a cookie wall"
    assert page.locator(".cmp-overlay").count() == 0
    visitor.settle()
    assert visitor.ran() == []
    assert visitor.cookie_names() & STATISTICS_AND_MARKETING_COOKIES == set()
    assert page.locator("iframe.video").is_hidden()


def test_reject_all_runs_no_statistics_or_marketing_script_and_sets_none_of_their_cookies(visitor):
    visitor.open()
    answer = visitor.decide("Reject all")
    assert answer["status"] == "active"
    visitor.settle()
    assert visitor.banner.count() == 0
    assert visitor.ran() == []
    assert visitor.cookie_names() & STATISTICS_AND_MARKETING_COOKIES == set()
    assert "cmp_consent" in visitor.cookie_names()


def test_accept_all_runs_every_blocked_script_once_in_document_order(visitor):
    page = visitor.open()
    visitor.decide("Accept all")
    visitor.wait_ran(*EVERY_BLOCKED_SCRIPT_IN_ORDER)
    page.evaluate("cmp.acceptAll()")  # a second decision must not run anything again
    visitor.settle()
    assert visitor.ran() == EVERY_BLOCKED_SCRIPT_IN_ORDER
    assert STATISTICS_AND_MARKETING_COOKIES <= visitor.cookie_names()
    assert page.locator("iframe.video").is_visible()


def test_reload_after_a_decision_shows_no_banner_and_runs_the_same_scripts(visitor):
    visitor.open()
    visitor.decide("Accept all")
    visitor.wait_ran(*EVERY_BLOCKED_SCRIPT_IN_ORDER)
    visitor.reload()
    visitor.wait_ran(*EVERY_BLOCKED_SCRIPT_IN_ORDER)
    visitor.settle()
    assert visitor.banner.count() == 0
    assert visitor.ran() == EVERY_BLOCKED_SCRIPT_IN_ORDER


def test_closing_the_first_layer_records_nothing_and_it_comes_back_on_the_next_page(visitor):
    page = visitor.open()
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.keyboard.press("Escape")
    assert visitor.banner.count() == 0
    visitor.reload()
    assert visitor.banner.is_visible()
    visitor.button("Close").first.click()
    assert visitor.banner.count() == 0
    visitor.settle()
    assert posts == []
    assert visitor.ran() == []
    assert "cmp_consent" not in visitor.cookie_names()


def test_youtube_iframe_shows_placeholder_with_load_once_and_always_allow(visitor, live):
    page = visitor.open()
    placeholder = page.locator(".cmp-ph")
    assert "This content is provided by YouTube" in placeholder.inner_text()
    assert page.locator("iframe.video").is_hidden()
    visitor.button("Load this time").click()
    visitor.until("() => window.__ranScripts.includes('youtube')")
    assert page.locator("iframe.video").is_visible()
    assert "cmp_consent" not in visitor.cookie_names(), "loading once records no consent"

    visitor.reload()
    assert placeholder.is_visible(), "once means once"
    answer = visitor.decide("Always allow")
    visitor.until("() => window.__ranScripts.includes('youtube')")
    assert live.consent(answer["consent_id"])["vendors"]["youtube"] is True
    visitor.reload()
    visitor.until("() => window.__ranScripts.includes('youtube')")
    assert placeholder.count() == 0


def test_cookie_settings_link_and_js_api_open_settings_and_decide(visitor):
    page = visitor.open()
    assert page.evaluate("cmp.hasConsent('google-analytics')") is False
    assert page.evaluate("cmp.hasConsent('necessary')") is True
    assert page.evaluate("cmp.getConsent()") is None
    visitor.open_settings()
    page.keyboard.press("Escape")
    assert visitor.dialog.count() == 0
    page.evaluate("cmp.show()")
    visitor.dialog.wait_for()
    page.keyboard.press("Escape")
    page.evaluate("window.__changes = []; cmp.onChange(c => window.__changes.push(c.vendors))")
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.evaluate("cmp.rejectAll()")
    assert page.evaluate("cmp.hasConsent('google-analytics')") is False
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.evaluate("cmp.acceptAll()")
    assert page.evaluate("cmp.hasConsent('google-analytics')") is True
    assert page.evaluate("cmp.hasConsent('statistics')") is True
    assert len(page.evaluate("window.__changes")) == 2
    events = [e[0] for e in page.evaluate("window.__cmpEvents")]
    assert events == ["cmp:ready", "cmp:consent", "cmp:consent"]
    pushes = page.evaluate("dataLayer.filter(e => e.event === 'cmp_consent').map(e => e.cmp_action)")
    assert pushes == ["reject_all", "accept_all"]


def test_page_in_german_gets_the_german_banner(visitor):
    visitor.open("/?lang=de")
    assert visitor.banner.get_by_role("heading").inner_text() == "Wir respektieren Ihre Privatsphäre"
    assert visitor.button("Alle ablehnen").is_visible()


def test_unsupported_page_language_falls_back_to_the_browser_language(make_visitor):
    visitor = make_visitor(locale="de-DE")
    visitor.open("/?lang=fr")
    assert visitor.button("Alle akzeptieren").is_visible()
    english = make_visitor(locale="fr-FR")
    english.open("/?lang=fr")
    assert english.button("Accept all").is_visible()
