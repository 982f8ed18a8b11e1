"""Start and stop gunicorn for the benches (repo settings, no access log), and a bare Flask app."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, Response, jsonify

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BARE_APP = "bench._server:bare_app"
BARE_PATH = "/bare"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
# The repo's gunicorn.conf.py, unchanged but for the access log (a line per request would cost
# the bare endpoint proportionally more than cmp and flatter the ratios) and the control socket
# (its default path is shared by every gunicorn on the machine).
CONFIG_TEMPLATE = """import runpy
globals().update(runpy.run_path({path!r}))
accesslog = None
control_socket_disable = True
"""

bare_app = Flask("bare")


@bare_app.get(BARE_PATH)
def bare() -> Response:
    """The baseline: the least a Flask JSON endpoint can do."""
    return jsonify({"status": "ok", "service": "bare"})


class ServerFailed(RuntimeError):
    """gunicorn exited or did not answer in time; the message carries the end of its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(workdir: Path) -> Path:
    """A gunicorn config file that loads the repo's and silences the access log."""
    path = workdir / "gunicorn.bench.py"
    path.write_text(CONFIG_TEMPLATE.format(path=str(REPO / "gunicorn.conf.py")))
    return path


def _answers(port: int, path: str) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            return conn.getresponse().status == 200
        finally:
            conn.close()
    except OSError:
        return False


def _log_tail(log: Path, lines: int = 30) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_ready(proc: subprocess.Popen[bytes], port: int, path: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerFailed(f"gunicorn exited with {proc.returncode}:\n{_log_tail(log)}")
        if _answers(port, path):
            return
        time.sleep(0.2)
    raise ServerFailed(f"gunicorn did not answer {path} within {READY_TIMEOUT_SECONDS:.0f} s:\n"
                       f"{_log_tail(log)}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn and its workers: TERM to the process group, KILL if it lingers."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(STOP_TIMEOUT_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def gunicorn(
    app_spec: str, env: Mapping[str, str], workdir: Path, ready_path: str, workers: int = 2,
) -> Iterator[str]:
    """Run ``app_spec`` under gunicorn on a free local port; yields the base URL.

    The server runs in its own process group and is stopped however the block ends.

    :raises ServerFailed: when gunicorn exits or ``ready_path`` does not answer 200 in time.
    """
    port = free_port()
    log = workdir / f"gunicorn-{port}.log"
    server_env = {**env, "CMP_BIND": f"127.0.0.1:{port}", "CMP_WORKERS": str(workers)}
    command = [str(BIN / "gunicorn"), "-c", str(write_config(workdir)), app_spec]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=server_env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_ready(proc, port, ready_path, log)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(proc)
