"""A consent over time: recorded with what was shown, asked again when it lapses, never lost."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cmp import clock

pytestmark = pytest.mark.browser

DAY_MS = 86_400_000
ALL_BUT_MAILCHIMP = (
    "cmp,consentmanager,webflow,sentry,stripe,paypal,six-payment-services,join,google-fonts,"
    "intercom,freshdesk,youtube,twitter,google-tag-manager,google-analytics,segment,mixpanel,"
    "posthog,hubspot,google-ads,facebook-pixel,facebook-custom-audiences,linkedin-insight"
)
AGE_COOKIE = """days => {
  const raw = document.cookie.match(/cmp_consent=([^;]*)/)[1];
  const fields = decodeURIComponent(raw).split('|');
  fields[2] = String(Number(fields[2]) - days * 86400000);
  document.cookie = 'cmp_consent=' + encodeURIComponent(fields.join('|')) + '; Path=/';
}"""


def test_decision_is_in_the_consent_log_with_the_revision_that_was_shown(visitor, live):
    page = visitor.page
    with page.expect_response(lambda r: "/config" in r.url) as shown:
        visitor.open()
    revision = shown.value.json()["revision"]
    answer = visitor.decide("Reject all")
    events = live.events(answer["consent_id"])
    assert [(e["kind"], e["action"]) for e in events] == [("given", "reject_all")]
    assert events[0]["snapshot_hash"] == revision
    assert live.consent(answer["consent_id"])["revision"] == revision
    assert visitor.consent_id() == answer["consent_id"]


def test_a_cookie_older_than_the_lifetime_brings_the_banner_back(visitor):
    page = visitor.open()
    visitor.decide("Accept all")
    page.evaluate(AGE_COOKIE, 366)
    visitor.reload()
    assert visitor.banner.is_visible()
    visitor.settle()
    assert visitor.ran() == []


def test_a_new_revision_asks_again_keeping_earlier_choices_and_new_vendors_off(make_visitor, live):
    live.cli("cmp", "site", "update", "demo", "--vendors", ALL_BUT_MAILCHIMP)
    try:
        visitor = make_visitor()
        visitor.open()
        visitor.open_settings()
        visitor.show_providers(2)
        visitor.dialog.get_by_role("switch", name="Google Analytics").check()
        answer = visitor.decide("Save my choice")
        visitor.wait_ran("google-analytics")
        live.cli("cmp", "site", "update", "demo", "--vendors", "all")

        # The next visit, with the config no longer in the browser cache.
        later = make_visitor(storage_state=visitor.page.context.storage_state())
        later.open()
        assert later.banner.is_visible()
        later.settle()
        assert later.ran() == []
        later.button("Cookie settings").click()
        later.show_providers(2)
        assert later.dialog.get_by_role("switch", name="Google Analytics").is_checked()
        later.show_providers(3)
        assert not later.dialog.get_by_role("switch", name="Mailchimp").is_checked()
        again = later.decide("Save my choice")
        assert again["consent_id"] == answer["consent_id"]
    finally:
        live.cli("cmp", "site", "update", "demo", "--vendors", "all")


def test_consent_expired_by_the_job_brings_the_banner_back_and_is_renewed_under_the_same_id(
    visitor, live
):
    page = visitor.open()
    answer = visitor.decide("Accept all")
    try:
        clock.shift(timedelta(days=366))
        live.cli("cmp", "run-job", "expire_consents")
        assert live.consent(answer["consent_id"])["status"] == "expired"
        # A day later the banner asks the server again (it does so at most once a day).
        page.evaluate("ms => localStorage.setItem('cmp_checked', Date.now() - ms)", 2 * DAY_MS)
        visitor.reload()
        assert visitor.banner.is_visible()
        visitor.settle()
        assert visitor.ran() == []
        again = visitor.decide("Reject all")
    finally:
        clock.reset()
    assert again["consent_id"] == answer["consent_id"]
    assert live.consent(answer["consent_id"])["status"] == "active"
    kinds = [e["kind"] for e in live.events(answer["consent_id"])]
    assert kinds[:2] == ["given", "expired"] and len(kinds) == 3


def test_when_the_api_is_down_the_choice_applies_and_reaches_the_server_on_a_later_page(
    visitor, live
):
    page = visitor.page

    def refuse_posts(route):
        if route.request.method == "POST":
            route.abort("connectionrefused")
        else:
            route.continue_()

    page.route("**/api/v1/sites/*/consents", refuse_posts)
    visitor.open()
    visitor.button("Accept all").click()
    visitor.wait_ran("google-analytics", "facebook-pixel")
    assert "could not reach the server" in page.get_by_role("status").inner_text()
    assert page.evaluate("JSON.parse(localStorage.getItem('cmp_queue')).length") == 1
    page.unroute("**/api/v1/sites/*/consents")

    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        visitor.reload()
    consent_id = sent.value.json()["consent_id"]
    assert live.consent(consent_id)["action"] == "accept_all"
    assert page.evaluate("JSON.parse(localStorage.getItem('cmp_queue')).length") == 0
    visitor.until("() => cmp.getConsent().consentId")
    assert visitor.consent_id() == consent_id


def test_consent_cookie_is_lax_lasts_the_lifetime_and_is_shared_across_subdomains(make_visitor):
    visitor = make_visitor(host="www.shop.cmp.test")
    page = visitor.page

    def with_cookie_domain(route):
        response = route.fetch(url=visitor.site.url + "/")  # Playwright resolves this one itself
        body = response.text().replace(
            'data-site="demo"', 'data-site="demo" data-cookie-domain=".cmp.test"'
        )
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        route.fulfill(status=200, headers=headers, body=body)

    page.route(visitor.base + "/", with_cookie_domain)
    visitor.open()
    visitor.decide("Reject all")
    cookie = next(c for c in page.context.cookies() if c["name"] == "cmp_consent")
    assert cookie["domain"] == ".cmp.test"
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False, "Secure only on https"
    lifetime = cookie["expires"] - page.evaluate("Date.now() / 1000")
    assert abs(lifetime - 365 * 86400) < 60

    page.unroute(visitor.base + "/")
    page.goto(f"http://blog.cmp.test:{visitor.site.port}/")
    visitor.wait_ready()
    assert visitor.banner.count() == 0, "the decision holds on the other subdomain"
