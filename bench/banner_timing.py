"""Times script start to banner visible in headless Chromium, against a static-div baseline.

The banner marks ``cmp:start`` when cmp.js begins and ``cmp:visible`` in the first animation
frame after the banner is in the page (config fetched, stylesheet loaded). The baseline, measured
in the same run on the same server, is a page whose script loads the same stylesheet and appends
a div of the same size and text: the least any styled banner costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from cmp import create_app

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BASELINE_PATH = "/bench/baseline"
BASELINE_HTML = """<!doctype html><html lang="en"><head><meta charset="utf-8"></head><body>
<script>
performance.mark('base:start');
const css = document.createElement('link');
css.rel = 'stylesheet';
css.href = '/banner/v1/cmp.css';
css.onload = () => {
  const box = document.createElement('div');
  box.className = 'cmp-root cmp-banner';
  const title = document.createElement('h2');
  title.className = 'cmp-h';
  title.textContent = %(title)s;
  const text = document.createElement('p');
  text.textContent = %(text)s;
  box.append(title, text);
  document.body.prepend(box);
  requestAnimationFrame(() => performance.mark('base:visible'));
};
document.head.append(css);
</script></body></html>"""
ELAPSED = """([start, end]) => new Promise(resolve => {
  const poll = () => {
    const s = performance.getEntriesByName(start)[0], e = performance.getEntriesByName(end)[0];
    if (s && e) resolve(e.startTime - s.startTime); else setTimeout(poll, 10);
  };
  poll();
})"""


def start_server(tmp: Path) -> str:
    """The app with the demo site, served from a daemon thread; returns its base URL."""
    app = create_app({
        "CMP_ENV": "test", "CMP_DATABASE_URL": f"sqlite:///{tmp / 'cmp.sqlite3'}",
        "CMP_INSTANCE_PATH": str(tmp), "CMP_VENDORS_PATH": str(ROOT / "vendors.yaml"),
        "CMP_RATE_LIMIT": "100000/minute",
    })
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    runner = app.test_cli_runner()
    for args in (["db", "upgrade"], ["cmp", "load-vendors", str(ROOT / "vendors.yaml")],
                 ["cmp", "site", "create", "demo", "--name", "Demo", "--origin", url,
                  "--vendors", "all", "--languages", "en,de"]):
        result = runner.invoke(args=args)
        if result.exit_code != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{result.output}")
    return url


def measure(browser: Any, url: str, marks: tuple[str, str], html: str | None = None) -> float:
    """Milliseconds between two performance marks on a fresh visit (no cookies, warm server)."""
    context = browser.new_context()
    page = context.new_page()
    if html is not None:
        page.route(url, lambda route: route.fulfill(body=html, content_type="text/html"))
    page.goto(url)
    elapsed = page.evaluate(ELAPSED, list(marks))
    context.close()
    return float(elapsed)


def summary(samples: list[float]) -> tuple[float, float]:
    """Median and 90th percentile."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.9 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        url = start_server(Path(tmp))
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        config = browser.new_context().request.get(f"{url}/api/v1/sites/demo/config?lang=en").json()
        texts = config["texts"]
        baseline_html = BASELINE_HTML % {"title": json.dumps(texts["banner_title"]),
                                         "text": json.dumps(texts["banner_text"])}
        measure(browser, url + "/", ("cmp:start", "cmp:visible"))  # warm-up: caches, JIT
        banner, baseline = [], []
        for _ in range(args.runs):  # interleaved, so drift hits both alike
            banner.append(measure(browser, url + "/", ("cmp:start", "cmp:visible")))
            baseline.append(measure(browser, url + BASELINE_PATH, ("base:start", "base:visible"),
                                    baseline_html))
        browser.close()
    b_med, b_p90 = summary(banner)
    s_med, s_p90 = summary(baseline)
    print(f"runs: {args.runs} each, headless Chromium, fresh context per run (no consent cookie)")
    print(f"banner   start -> visible: median {b_med:6.1f} ms  p90 {b_p90:6.1f} ms")
    print(f"baseline start -> visible: median {s_med:6.1f} ms  p90 {s_p90:6.1f} ms  (static div + same CSS)")
    print(f"ratio banner / baseline: median {b_med / s_med:.2f}x  p90 {b_p90 / s_p90:.2f}x")


if __name__ == "__main__":
    main()
