"""Browser fixtures: the real app served on a free port, and headless Debian Chromium driving it."""

from __future__ import annotations

import shutil
import threading
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

    def cli(self, *args: str) -> str:
        """Run a ``flask`` command in the app; fail the test with its output when it fails."""
        result = self.app.test_cli_runner().invoke(args=list(args))
        assert result.exit_code == 0, f"{' '.join(args)} failed:\n{result.output}\n{result.exception}"
        return result.output


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
