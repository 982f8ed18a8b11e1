"""Benchmark the consent-log export (CSV, NDJSON) on SQLite and PostgreSQL against raw baselines.

Each export runs in a subprocess of its own, which reports its own peak RSS (VmHWM); rates
are ratios to the fastest raw baseline measured in the same run: sqlite3 ``fetchmany`` + ``csv``
on SQLite, ``COPY … TO STDOUT`` on PostgreSQL.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PG_DATABASE = "cmp_bench_export"
TARGET_RATE = {"sqlite": 0.5, "postgres": 0.3}
RSS_LIMIT_MB = 100.0
SELECT_ALL = "SELECT * FROM consent_events WHERE site_id = {site} ORDER BY seq"


def _environment(url: str, instance: Path) -> dict[str, str]:
    return {"CMP_ENV": "test", "CMP_DATABASE_URL": url, "CMP_INSTANCE_PATH": str(instance),
            "CMP_VENDORS_PATH": str(ROOT / "vendors.yaml"), "CMP_LOG_LEVEL": "WARNING"}


# --- children: one export each, timed inside, RSS read by the parent -------------------------


def child_cmp(url: str, instance: str, fmt: str) -> tuple[int, float]:
    from cmp import create_app, export

    app = create_app(_environment(url, Path(instance)))
    with app.app_context(), open(os.devnull, "w") as out:
        target = export.site_target("demo", "cli")
        started = time.perf_counter()
        rows = 0

        def count(n: int) -> None:
            nonlocal rows
            rows += n

        for chunk in export.stream_export(target, fmt, export.ExportFilters(), count):
            out.write(chunk)
        return rows, time.perf_counter() - started


def child_sqlite_raw(path: str) -> tuple[int, float]:
    import sqlite3

    connection = sqlite3.connect(path)
    started = time.perf_counter()
    rows = 0
    with open(os.devnull, "w", newline="") as out:
        writer = csv.writer(out)
        cursor = connection.execute(SELECT_ALL.format(site=1))
        while batch := cursor.fetchmany(5000):
            writer.writerows(batch)
            rows += len(batch)
    return rows, time.perf_counter() - started


def child_postgres_copy(url: str) -> tuple[int, float]:
    import psycopg

    rows = 0
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as connection, \
            open(os.devnull, "wb") as out:
        started = time.perf_counter()
        with connection.cursor().copy(
                f"COPY ({SELECT_ALL.format(site=1)}) TO STDOUT WITH (FORMAT csv)") as copy:
            for block in copy:
                out.write(block)
                rows += bytes(block).count(b"\n")
        return rows, time.perf_counter() - started


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage: Linux carries a forked child's maxrss
    over from its parent, so the parent's own size would be counted in every child."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(args: list[str]) -> dict[str, Any]:
    """Run one export in a subprocess; its rows, seconds and peak RSS in MB."""
    process = subprocess.Popen([sys.executable, __file__, "--child", *args],
                               stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert process.stdout is not None
    output = process.stdout.read()
    if process.wait() != 0:
        raise SystemExit(f"child {args} failed with status {process.returncode}")
    result = json.loads(output)
    result["rate"] = result["rows"] / result["seconds"]
    return result


# --- setup ------------------------------------------------------------------------------------


def populate(url: str, instance: Path, rows: int) -> float:
    """Build the schema, the demo site and ``rows`` chained events; returns the seconds taken."""
    from flask_migrate import upgrade

    from cmp import create_app, synthetic
    from cmp.models import Site

    app = create_app(_environment(url, instance))
    started = time.perf_counter()
    with app.app_context():
        upgrade()
        result = app.test_cli_runner().invoke(args=["cmp", "init-demo"])
        assert result.exit_code == 0, result.output
        from cmp.extensions import db

        site_id = db.session.query(Site.id).filter(Site.key == "demo").scalar()
        synthetic.insert_synthetic(site_id, rows, datetime(2024, 1, 1, tzinfo=UTC))
        db.engine.dispose()
    return time.perf_counter() - started


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_SERVER.replace("postgresql+psycopg", "postgresql") + "/postgres",
                         autocommit=True) as connection:
        connection.execute(statement)


def bench_backend(backend: str, rows: int, workdir: Path) -> list[dict[str, Any]]:
    instance = workdir / backend
    instance.mkdir()
    if backend == "sqlite":
        path = instance / "bench.sqlite3"
        url = f"sqlite:///{path}"
        baseline_args = ["sqlite-raw", str(path)]
    else:
        _admin(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
        _admin(f"CREATE DATABASE {PG_DATABASE}")
        url = f"{PG_SERVER}/{PG_DATABASE}"
        baseline_args = ["postgres-copy", url]
    try:
        seconds = populate(url, instance, rows)
        print(f"{backend}: {rows:,} chained events written in {seconds:.1f} s", flush=True)
        # Best of two for the baseline: the fastest raw figure is the bar.
        baseline = max((run_child(baseline_args) for _ in range(2)), key=lambda r: r["rate"])
        print(f"{backend}: baseline {baseline['rate']:,.0f} rows/s", flush=True)
        results = [{"backend": backend, "export": f"baseline ({baseline_args[0]})", **baseline}]
        for fmt in ("csv", "ndjson"):
            measured = run_child(["cmp", url, str(instance), fmt])
            results.append({"backend": backend, "export": f"cmp {fmt}", **measured,
                            "ratio": measured["rate"] / baseline["rate"],
                            "rss_ratio": measured["rss_mb"] / baseline["rss_mb"]})
        return results
    finally:
        if backend == "postgres":
            _admin(f"DROP DATABASE IF EXISTS {PG_DATABASE}")


def report(results: list[dict[str, Any]]) -> bool:
    print(f"\n{'backend':9} {'export':24} {'rows':>9} {'rows/s':>10} {'ratio':>6} "
          f"{'peak RSS':>9} {'RSS ratio':>9}  verdict")
    all_met = True
    for r in results:
        ratio = r.get("ratio")
        if ratio is None:
            verdict, shown = "", "1.00"
        else:
            met = ratio >= TARGET_RATE[r["backend"]] and r["rss_mb"] <= RSS_LIMIT_MB
            all_met &= met
            verdict = ("OK" if met else "MISSED") + \
                f" (≥ {TARGET_RATE[r['backend']]}×, ≤ {RSS_LIMIT_MB:.0f} MB)"
            shown = f"{ratio:.2f}"
        rss_ratio = f"{r['rss_ratio']:.2f}" if "rss_ratio" in r else "1.00"
        print(f"{r['backend']:9} {r['export']:24} {r['rows']:>9,} {r['rate']:>10,.0f} "
              f"{shown:>6} {r['rss_mb']:>7.1f}MB {rss_ratio:>9}  {verdict}")
    return all_met


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, *rest = sys.argv[2:]
        runner = {"cmp": child_cmp, "sqlite-raw": child_sqlite_raw,
                  "postgres-copy": child_postgres_copy}[kind]
        rows, seconds = runner(*rest)
        print(json.dumps({"rows": rows, "seconds": seconds, "rss_mb": peak_rss_mb()}))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    options = parser.parse_args()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cmp-bench-export-") as workdir:
        for backend in options.backends.split(","):
            results.extend(bench_backend(backend, options.rows, Path(workdir)))
    sys.exit(0 if report(results) else 1)


if __name__ == "__main__":
    main()
