"""A decision the API rejects is never silently lost: a stale id starts a new consent, a revision the
server never served asks again, other refusals leave the queue without breaking the page."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.browser

CONSENTS = "**/api/v1/sites/*/consents"
# A well-formed consent id that no consent on the server has (its database was reset, say).
STALE_ID = "5c1e0b7a-9d3f-4a61-8e2b-000000000d11"
SET_COOKIE_ID = """id => {
  const raw = document.cookie.match(/cmp_consent=([^;]*)/)[1];
  const fields = decodeURIComponent(raw).split('|');
  fields[0] = id;
  document.cookie = 'cmp_consent=' + encodeURIComponent(fields.join('|')) + '; Path=/';
}"""
COOKIE_ID = """() => {
  const raw = document.cookie.match(/cmp_consent=([^;]*)/);
  return raw && decodeURIComponent(raw[1]).split('|')[0];
}"""
QUEUED = "JSON.parse(localStorage.getItem('cmp_queue')).length"


def consent_posts(page):
    """Statuses of the consent POSTs the page makes from now on, in order."""
    statuses = []
    page.on("response", lambda r: r.request.method == "POST" and "/consents" in r.url
            and statuses.append(r.status))
    return statuses


def a_decision_under_a_stale_id(visitor, live):
    """A visitor who decided once, whose cookie now holds an id the server does not know."""
    visitor.open()
    first = visitor.decide("Reject all")["consent_id"]
    visitor.page.evaluate(SET_COOKIE_ID, STALE_ID)
    assert not live.query("SELECT id FROM consents WHERE id = :id", id=STALE_ID)
    return first


def is_new_consent(r):
    return r.request.method == "POST" and "/consents" in r.url and r.status == 201


def assert_recorded_as_a_new_consent(visitor, live, answer, first, action):
    consent_id = answer["consent_id"]
    assert consent_id not in (STALE_ID, first)
    assert live.consent(consent_id)["action"] == action
    assert [e["kind"] for e in live.events(consent_id)] == ["given"]
    assert not live.query("SELECT id FROM consents WHERE id = :id", id=STALE_ID)
    # The cookie (and the API) now carry the new id; the stale one is gone for good.
    visitor.until(f"() => ({COOKIE_ID})() === {json.dumps(consent_id)}")
    assert visitor.consent_id() == consent_id
    assert visitor.page.evaluate(QUEUED) == 0
    assert visitor.page.errors == []


def test_a_decision_under_an_unknown_consent_id_is_recorded_as_a_new_consent(visitor, live):
    first = a_decision_under_a_stale_id(visitor, live)
    visitor.reload()
    assert not visitor.banner.is_visible()
    statuses = consent_posts(visitor.page)

    visitor.open_settings()
    with visitor.page.expect_response(is_new_consent) as sent:
        visitor.button("Accept all").click()

    assert statuses == [404, 201]
    assert_recorded_as_a_new_consent(visitor, live, sent.value.json(), first, "accept_all")
    visitor.reload()
    assert not visitor.banner.is_visible()


def test_a_queued_decision_under_an_unknown_consent_id_is_recorded_on_a_later_page(visitor, live):
    page = visitor.page
    first = a_decision_under_a_stale_id(visitor, live)

    def refuse_posts(route):
        if route.request.method == "POST":
            route.abort("connectionrefused")
        else:
            route.continue_()

    page.route(CONSENTS, refuse_posts)
    visitor.reload()
    visitor.open_settings()
    visitor.button("Accept all").click()
    visitor.until(f"() => {QUEUED} === 1")
    page.unroute(CONSENTS)
    statuses = consent_posts(page)

    with page.expect_response(is_new_consent) as sent:
        visitor.reload()

    assert statuses == [404, 201]
    assert_recorded_as_a_new_consent(visitor, live, sent.value.json(), first, "accept_all")


def test_a_decision_on_a_revision_the_server_never_served_asks_again_on_the_next_page(visitor):
    page = visitor.page
    visitor.open()

    def with_unknown_revision(route):
        body = json.loads(route.request.post_data)
        route.continue_(post_data=json.dumps({**body, "revision": "0" * 64}))

    # As if the server no longer knew the config the visitor decided on.
    page.route(CONSENTS, with_unknown_revision)
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        visitor.button("Accept all").click()
    assert sent.value.status == 409
    assert sent.value.json()["current_revision"]
    page.unroute(CONSENTS)

    visitor.until(f"() => !({COOKIE_ID})()")
    assert page.evaluate(QUEUED) == 0
    visitor.reload()
    assert visitor.banner.is_visible()
    assert page.errors == []


def test_other_refusals_leave_the_queue_without_an_error(visitor):
    page = visitor.page
    visitor.open()
    page.route(CONSENTS, lambda route: route.fulfill(
        status=422, content_type="application/problem+json",
        body=json.dumps({"type": "https://cmp.example/problems/invalid-choices", "status": 422}),
    ))
    with page.expect_response(lambda r: r.request.method == "POST") as sent:
        visitor.button("Reject all").click()
    assert sent.value.status == 422
    page.unroute(CONSENTS)

    visitor.settle()
    assert page.evaluate(QUEUED) == 0
    assert page.errors == []
    # The choice stands on this device; it was never recorded, so it carries no id.
    visitor.reload()
    assert not visitor.banner.is_visible()
    assert visitor.consent_id() is None
