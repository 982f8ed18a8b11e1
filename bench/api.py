"""Load-test the cmp API under gunicorn on SQLite and PostgreSQL, as ratios to a bare Flask app."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _server  # noqa: E402

SITE = "demo"
CONFIG_PATH = f"/api/v1/sites/{SITE}/config?lang=en"
CONSENTS_PATH = f"/api/v1/sites/{SITE}/consents"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PG_DATABASE = "cmp_bench_api"
USER_AGENT = "cmp-bench/1 (bench/api.py)"
# Sent with every request of every load, the bare endpoint's too, as every browser sends it:
# the banner's config is then served gzipped, as visitors get it.
ACCEPT_ENCODING = "gzip, deflate, br"
P99_LIMIT_MS = 50.0
# Minimum ratio to the bare endpoint, per backend and endpoint.
TARGETS = {
    ("sqlite", "GET config"): 0.8, ("postgres", "GET config"): 0.8,
    ("sqlite", "POST consents"): 0.35, ("postgres", "POST consents"): 0.25,
}
LATENCY_LINE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
LUA_TEMPLATE = """wrk.method = "{method}"
wrk.headers["User-Agent"] = "{user_agent}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept-Encoding"] = "{accept_encoding}"
local bodies = {{ {bodies} }}
local requests = {{}}
local i = 0
if #bodies > 0 then
  -- Built once per thread: formatting a request per call would cost the client, on the same
  -- two cores as the server, work the bare endpoint's load does not have.
  init = function(args)
    for n, body in ipairs(bodies) do requests[n] = wrk.format(nil, nil, nil, body) end
  end
  request = function()
    i = i + 1
    return requests[(i % #requests) + 1]
  end
end
"""


@dataclass(frozen=True)
class Load:
    """One endpoint to load: method, path and the bodies to rotate through (POST)."""

    name: str
    method: str
    path: str
    bodies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    """What one bounded load measured; ``errors`` counts socket errors and non-2xx answers."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    error_detail: str = ""


@dataclass(frozen=True)
class Row:
    backend: str
    endpoint: str
    result: Result
    ratio: float | None = None
    target: float | None = None
    informative: bool = False  # measured for the README, no target

    def verdict(self) -> str:
        if self.result.errors or self.result.requests == 0:
            return f"FAILED ({self.result.error_detail or 'no requests'})"
        if self.informative:
            return "info"
        if self.target is None:
            return "baseline"
        misses = []
        if self.ratio is None or self.ratio < self.target:
            misses.append("ratio")
        if self.result.p99_ms >= P99_LIMIT_MS:
            misses.append("p99")
        return f"MISS ({', '.join(misses)})" if misses else "PASS"


@dataclass
class Options:
    duration: int
    connections: int
    warmup: int
    client: str
    app: str = "wsgi:app"
    rows: list[Row] = field(default_factory=list)


# --- load clients -------------------------------------------------------------------------------


def _lua_script(load: Load) -> str:
    bodies = ", ".join(f"[==[{body}]==]" for body in load.bodies)
    return LUA_TEMPLATE.format(method=load.method, user_agent=USER_AGENT, bodies=bodies,
                               accept_encoding=ACCEPT_ENCODING)


def _to_ms(value: str, unit: str) -> float:
    return float(value) * UNITS_MS[unit]


def parse_wrk(output: str) -> Result:
    """Requests/s, p50, p99 and errors from ``wrk --latency`` output."""
    latency = {p: (v, u) for p, v, u in LATENCY_LINE.findall(output)}
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s+(\d+) requests in", output, re.M)
    if rps is None or total is None or "50" not in latency or "99" not in latency:
        raise RuntimeError(f"could not read wrk output:\n{output}")
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    counts = dict(zip(("connect", "read", "write", "timeout"),
                      (int(n) for n in socket_errors.groups()), strict=True)) if socket_errors else {}
    counts["non-2xx"] = int(non_2xx.group(1)) if non_2xx else 0
    detail = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    return Result(float(rps.group(1)), _to_ms(*latency["50"]), _to_ms(*latency["99"]),
                  int(total.group(1)), sum(counts.values()), detail)


def run_wrk(base: str, load: Load, seconds: int, connections: int, workdir: Path) -> Result:
    """One bounded wrk run (``-t 2 -c N -d Ns``) against ``base + load.path``."""
    script = workdir / "load.lua"
    script.write_text(_lua_script(load))
    threads = max(1, min(2, connections))
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
               "--latency", "-s", str(script), base + load.path]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def _one_request(conn: http.client.HTTPConnection, load: Load, body: str | None) -> int:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(load.method, load.path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    if response.will_close:
        conn.close()
    return response.status


def _python_worker(
    base: str, load: Load, deadline: float, latencies: list[float], errors: list[int], offset: int,
) -> None:
    host = urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname or "127.0.0.1", host.port, timeout=5)
    i = offset
    while time.monotonic() < deadline:
        body = load.bodies[i % len(load.bodies)] if load.bodies else None
        i += 1
        started = time.perf_counter()
        try:
            ok = 200 <= _one_request(conn, load, body) < 300
        except (OSError, http.client.HTTPException):
            conn.close()
            ok = False
        latencies.append((time.perf_counter() - started) * 1000)
        if not ok:
            errors.append(1)
    conn.close()


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def run_python(base: str, load: Load, seconds: int, connections: int, _workdir: Path) -> Result:
    """The fallback client: one thread per connection, bounded by time. Slower than wrk."""
    latencies: list[float] = []
    errors: list[int] = []
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=_python_worker,
                                args=(base, load, deadline, latencies, errors, n), daemon=True)
               for n in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 10)
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    return Result(len(ordered) / elapsed, _percentile(ordered, 0.50), _percentile(ordered, 0.99),
                  len(ordered), len(errors), f"{len(errors)} failed" if errors else "")


def measure(base: str, load: Load, options: Options, workdir: Path) -> Result:
    """Warm both workers up, then one measured run."""
    run = run_wrk if options.client == "wrk" else run_python
    if options.warmup:
        run(base, load, options.warmup, options.connections, workdir)
    return run(base, load, options.duration, options.connections, workdir)


# --- databases and servers ----------------------------------------------------------------------


def cmp_env(database_url: str, workdir: Path) -> dict[str, str]:
    """The environment cmp runs with in the bench: a fresh instance, no practical rate limit."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CMP_")},
        "CMP_ENV": "development",
        "CMP_DATABASE_URL": database_url,
        "CMP_INSTANCE_PATH": str(workdir / "instance"),
        "CMP_VENDORS_PATH": str(_server.REPO / "vendors.yaml"),
        # All bench traffic comes from one pseudonymised client.
        "CMP_RATE_LIMIT": "1000000/minute",
        "CMP_LOG_LEVEL": "WARNING",
        "FLASK_APP": "wsgi.py",
    }


def prepare_schema(env: dict[str, str]) -> None:
    """``flask db upgrade`` and ``flask cmp init-demo`` on the bench database."""
    for args in (["db", "upgrade"], ["cmp", "init-demo"]):
        done = subprocess.run([str(_server.BIN / "flask"), *args], cwd=_server.REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


@contextmanager
def sqlite_database(workdir: Path) -> Iterator[str]:
    """A fresh SQLite file in the bench's temp directory (removed with it)."""
    yield f"sqlite:///{workdir / 'cmp.sqlite3'}"


def _pg_admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_SERVER.replace("+psycopg", "") + "/postgres", autocommit=True,
                         connect_timeout=3) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


@contextmanager
def postgres_database(_workdir: Path) -> Iterator[str]:
    """A fresh ``cmp_bench_api`` database, dropped afterwards."""
    _pg_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
    _pg_admin(f"CREATE DATABASE {PG_DATABASE}")
    try:
        yield f"{PG_SERVER}/{PG_DATABASE}"
    finally:
        _pg_admin(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")


def postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        _pg_admin("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means: skip PostgreSQL
        return f"{type(error).__name__}: {error}".strip()
    return None


def fetch_revision(base: str) -> str:
    """The revision of the English config, as the banner would read it first."""
    host = urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname or "127.0.0.1", host.port, timeout=10)
    try:
        conn.request("GET", CONFIG_PATH)
        return str(json.loads(conn.getresponse().read())["revision"])
    finally:
        conn.close()


def consent_bodies(revision: str) -> tuple[str, ...]:
    """Valid decisions of every kind the banner sends, rotated through by the load."""
    common = {"revision": revision, "language": "en", "url": "https://shop.example/p?utm=x",
              "gpc": False}
    decisions = [{"action": "accept_all"}, {"action": "reject_all"},
                 {"action": "custom", "purposes": {"statistics": True}}]
    return tuple(json.dumps({**common, **d}, separators=(",", ":")) for d in decisions)


def check_post(base: str, body: str) -> None:
    """One consent by hand first: a load of 4xx answers would measure nothing useful."""
    host = urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname or "127.0.0.1", host.port, timeout=10)
    try:
        conn.request("POST", CONSENTS_PATH, body=body,
                     headers={"Content-Type": "application/json", "User-Agent": USER_AGENT})
        response = conn.getresponse()
        answer = response.read().decode(errors="replace")
        if response.status != 201:
            raise RuntimeError(f"POST consents answered {response.status}: {answer[:500]}")
    finally:
        conn.close()


def bench_backend(backend: str, options: Options) -> None:
    """Bare endpoint, GET config and POST consents on one backend, one after the other."""
    database = sqlite_database if backend == "sqlite" else postgres_database
    with tempfile.TemporaryDirectory(prefix=f"cmp-bench-api-{backend}-") as tmp:
        workdir = Path(tmp)
        with database(workdir) as url:
            env = cmp_env(url, workdir)
            prepare_schema(env)
            bare_load = Load("bare JSON", "GET", _server.BARE_PATH)
            with _server.gunicorn(_server.BARE_APP, env, workdir, _server.BARE_PATH) as base:
                bare = measure(base, bare_load, options, workdir)
            options.rows.append(Row(backend, bare_load.name, bare))
            with _server.gunicorn(options.app, env, workdir, CONFIG_PATH) as base:
                bodies = consent_bodies(fetch_revision(base))
                check_post(base, bodies[0])
                for load in (Load("GET config", "GET", CONFIG_PATH),
                             Load("POST consents", "POST", CONSENTS_PATH, bodies)):
                    result = measure(base, load, options, workdir)
                    ratio = result.rps / bare.rps if bare.rps else None
                    options.rows.append(Row(backend, load.name, result, ratio,
                                            TARGETS[(backend, load.name)]))
            # The default answers a consent once it is in the database's log; for the README,
            # the same load when every consent waits for the disk (CMP_CONSENT_COMMIT=durable).
            durable_env = {**env, "CMP_CONSENT_COMMIT": "durable"}
            with _server.gunicorn(options.app, durable_env, workdir, CONFIG_PATH) as base:
                load = Load("POST consents, durable", "POST", CONSENTS_PATH, bodies)
                result = measure(base, load, options, workdir)
                options.rows.append(Row(backend, load.name, result,
                                        result.rps / bare.rps if bare.rps else None,
                                        informative=True))


# --- report -------------------------------------------------------------------------------------


def _fmt_row(row: Row) -> list[str]:
    r = row.result
    ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "1.00x"
    target = f">={row.target:.2f}x, p99<{P99_LIMIT_MS:.0f}ms" if row.target is not None else "-"
    if row.informative:
        target = "(no target)"
    return [row.backend, row.endpoint, f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}",
            f"{r.requests:,}", str(r.errors), ratio, target, row.verdict()]


def print_table(rows: list[Row]) -> None:
    header = ["backend", "endpoint", "req/s", "p50 ms", "p99 ms", "requests", "errors",
              "x bare", "target", "result"]
    table = [header, *(_fmt_row(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    right = {2, 3, 4, 5, 6, 7}
    for n, line in enumerate(table):
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(line, widths, strict=True))]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def load_average() -> str:
    """The 1-minute load average: above the CPU count, other work skews the figures."""
    one_minute = os.getloadavg()[0]
    crowded = " - busy machine, figures are noisy" if one_minute > (os.cpu_count() or 1) else ""
    return f"{one_minute:.2f}{crowded}"


def describe(options: Options) -> None:
    client = "wrk (" + subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout \
        .splitlines()[0].split(" [")[0] + ")" if options.client == "wrk" else "python threads"
    print(f"cmp API bench: gunicorn 2 sync workers on 127.0.0.1, {options.connections} "
          f"connections, {options.duration} s per endpoint (+{options.warmup} s warm-up), "
          f"client {client}")
    print(f"host: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, Options]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load first")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--app", default="wsgi:app",
                        help="cmp WSGI app to serve, e.g. a module that patches cmp for a trial")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 120 or not 1 <= args.connections <= 256:
        parser.error("--duration must be 1..120 s and --connections 1..256")
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    return args, Options(args.duration, args.connections, max(0, args.warmup), client, args.app)


def main(argv: list[str] | None = None) -> int:
    args, options = parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    describe(options)
    for backend in backends:
        if backend == "postgres" and (why := postgres_reachable()) is not None:
            print(f"PostgreSQL at {PG_SERVER.split('@')[1]} unreachable, skipped: {why}")
            continue
        print(f"== {backend} (load average before: {load_average()})", flush=True)
        bench_backend(backend, options)
        print(f"   done (load average after: {load_average()})", flush=True)
    print()
    print_table(options.rows)
    verdicts = [row.verdict() for row in options.rows]
    if any(v.startswith("FAILED") for v in verdicts):
        return 1
    return 2 if args.strict and any(v.startswith("MISS") for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
