"""Browser fixtures: the real app served on a free port, and headless Debian Chromium driving it."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from cmp import create_app
from cmp.extensions import db

ROOT = Path(__file__).resolve().parents[2]
VENDORS_YAML = ROOT / "vendors.yaml"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # Lets tests use real domain names (parent-domain cookies) that all resolve to this machine.
    "--host-resolver-rules=MAP *.cmp.test 127.0.0.1",
    # A page a test rewrites (route.fulfill) has no address, so counts as public; let it load
    # its scripts from this machine.
    "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests",
]
SITE = "demo"
BLOCKED_VENDOR_SCRIPTS = ["google-analytics", "segment", "hubspot", "facebook-pixel"]


@dataclass
class LiveSite:
    """A running cmp app and the URL its demo site answers on."""

    app: Flask
    url: str
    port: int

    def query(self, sql: str, **params: Any) -> list[sa.Row[Any]]:
        """Rows of a SQL query on the app's database."""
        with self.app.app_context():
            rows = list(db.session.execute(sa.text(sql), params))
            db.session.remove()
            return rows

    def consent(self, consent_id: str) -> dict[str, Any]:
        """The current consent row, JSON columns decoded."""
        rows = self.query("SELECT * FROM consents WHERE id = :id", id=consent_id)
        assert rows, f"consent {consent_id} is not in the database"
        return decoded(rows[0]._asdict())

    def events(self, consent_id: str) -> list[dict[str, Any]]:
        """The consent log of one consent, oldest first."""
        rows = self.query(
            "SELECT * FROM consent_events WHERE consent_id = :id ORDER BY seq", id=consent_id
        )
        return [decoded(r._asdict()) for r in rows]

    def cli(self, *args: str) -> str:
        """Run a ``flask`` command in the app; fail the test with its output when it fails."""
        result = self.app.test_cli_runner().invoke(args=list(args))
        assert result.exit_code == 0, f"{' '.join(args)} failed:\n{result.output}\n{result.exception}"
        return result.output


def decoded(row: dict[str, Any]) -> dict[str, Any]:
    """JSON columns come back from raw SQL as text on SQLite."""
    return {
        k: json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v for k, v in row.items()
    }


def serve(app: Flask) -> tuple[BaseWSGIServer, threading.Thread]:
    """Serve ``app`` on 127.0.0.1 at a free port from a daemon thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def start_site(tmp: Path, vendors_yaml: Path) -> Iterator[LiveSite]:
    """Build an app through the factory on a fresh SQLite file, load the catalogue, serve it."""
    app = create_app({
        "CMP_ENV": "test",
        "CMP_DATABASE_URL": f"sqlite:///{tmp / 'cmp.sqlite3'}",
        "CMP_INSTANCE_PATH": str(tmp),
        "CMP_VENDORS_PATH": str(vendors_yaml),
        "CMP_RATE_LIMIT": "100000/minute",
        "CMP_CONFIG_RECHECK_SECONDS": "0",
    })
    server, thread = serve(app)
    site = LiveSite(app=app, url=f"http://127.0.0.1:{server.server_port}", port=server.server_port)
    site.cli("db", "upgrade")
    site.cli("cmp", "load-vendors", str(vendors_yaml))
    site.cli(
        "cmp", "site", "create", SITE, "--name", "Demo",
        "--origin", site.url, "--origin", f"http://www.shop.cmp.test:{site.port}",
        "--vendors", "all", "--languages", "en,de",
        "--privacy-policy-url", "https://example.com/privacy",
    )
    yield site
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """The demo site with the real catalogue."""
    yield from start_site(tmp_path_factory.mktemp("live"), VENDORS_YAML)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: `make test` installs it with apt-get")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open pages in fresh browser contexts (no cookies, no storage) with page errors failing."""
    contexts: list[Any] = []

    def open_page(**context_options: Any) -> Any:
        context = browser.new_context(**{"locale": "en-US", **context_options})
        context.set_default_timeout(8000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    """A page in a fresh browser context."""
    return new_page()


def copy_catalogue(tmp: Path, change: Callable[[str], str]) -> Path:
    """A copy of vendors.yaml with ``change`` applied to its text."""
    target = tmp / "vendors.yaml"
    shutil.copyfile(VENDORS_YAML, target)
    target.write_text(change(target.read_text(encoding="utf-8")), encoding="utf-8")
    return target


# Records the banner's DOM events and any CSP violation, before the page's own scripts run.
RECORDER = """
window.__cmpEvents = []; window.__cspViolations = [];
['cmp:ready', 'cmp:consent'].forEach(function (name) {
  document.addEventListener(name, function (e) { window.__cmpEvents.push([name, e.detail]); });
});
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""
GPC_ON = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true});"
IS_CONSENT_POST = "/consents"


class Visitor:
    """A visitor of the demo site in one browser context, with what a test needs to observe."""

    def __init__(self, page: Any, site: LiveSite, host: str | None = None) -> None:
        self.page = page
        self.site = site
        self.base = f"http://{host}:{site.port}" if host else site.url
        page.context.add_init_script(RECORDER)

    def open(self, path: str = "/") -> Any:
        """Load a page and wait until the banner has decided what to show."""
        self.page.goto(self.base + path)
        self.wait_ready()
        return self.page

    def until(self, script: str, arg: Any = None, timeout: float = 8.0) -> Any:
        """Poll a JS function until it returns something truthy.

        ``page.wait_for_function`` evaluates its predicate with eval, which the demo's strict
        CSP (rightly) refuses; ``evaluate`` goes through the debugger protocol instead.
        """
        deadline = time.monotonic() + timeout
        while not (result := self.page.evaluate(script, arg)):
            assert time.monotonic() < deadline, f"timed out waiting for {script}"
            self.page.wait_for_timeout(50)
        return result

    def wait_ready(self) -> None:
        self.until("() => window.__cmpEvents && window.__cmpEvents.some(e => e[0] === 'cmp:ready')")

    def reload(self) -> None:
        self.page.reload()
        self.wait_ready()

    @property
    def banner(self) -> Any:
        return self.page.locator(".cmp-banner")

    @property
    def dialog(self) -> Any:
        return self.page.get_by_role("dialog")

    def button(self, name: str) -> Any:
        return self.page.get_by_role("button", name=name, exact=True)

    def decide(self, name: str) -> dict[str, Any]:
        """Click a decision button and return the server's answer to the POST it makes."""
        with self.page.expect_response(
            lambda r: r.request.method == "POST" and IS_CONSENT_POST in r.url
        ) as response:
            self.button(name).click()
        return response.value.json()

    def ran(self) -> list[str]:
        """Stand-in vendor scripts that ran, in order (the YouTube iframe loads on its own)."""
        return [n for n in self.page.evaluate("window.__ranScripts") if n != "youtube"]

    def wait_ran(self, *names: str) -> None:
        self.until("names => names.every(n => window.__ranScripts.includes(n))", list(names))

    def settle(self) -> None:
        """Give scripts that should not run a moment to (wrongly) do so."""
        self.page.wait_for_timeout(300)

    def cookie_names(self) -> set[str]:
        """Every cookie in the browser, whatever its domain or path."""
        return {c["name"] for c in self.page.context.cookies()}

    def consent_id(self) -> str:
        return self.page.evaluate("cmp.getConsent().consentId")

    def open_settings(self) -> Any:
        self.page.get_by_role("link", name="Cookie settings").click()
        self.dialog.wait_for()
        return self.dialog

    def show_providers(self, purpose_index: int) -> None:
        self.dialog.locator(".cmp-purpose > details > summary").nth(purpose_index).click()


@pytest.fixture
def visitor(page: Any, live: LiveSite) -> Visitor:
    """A first-time visitor of the demo site."""
    return Visitor(page, live)


@pytest.fixture
def make_visitor(new_page: Callable[..., Any], live: LiveSite) -> Callable[..., Visitor]:
    """More visitors: ``host`` (a ``*.cmp.test`` name), ``gpc``, context options."""

    def make(host: str | None = None, gpc: bool = False, site: LiveSite | None = None,
             **options: Any) -> Visitor:
        page = new_page(**options)
        if gpc:
            page.context.add_init_script(GPC_ON)
        return Visitor(page, site or live, host)

    return make



@pytest.fixture(scope="session")
def site_with_catalogue(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[Callable[[str], str]], LiveSite]]:
    """Start another app whose vendors.yaml is the real one with a change applied to its text."""
    running: list[Iterator[LiveSite]] = []

    def start(change: Callable[[str], str]) -> LiveSite:
        tmp = tmp_path_factory.mktemp("catalogue")
        site = start_site(tmp, copy_catalogue(tmp, change))
        running.append(site)
        return next(site)

    yield start
    for site in running:
        next(site, None)
