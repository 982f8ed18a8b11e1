"""The raw client address is truncated and hashed at the edge and written nowhere."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cmp.privacy import client_address, hash_ip, pseudonymise, truncate_ip

from .conftest import ROOT, database_text, decision, overridden_settings

IPV4 = "203.0.113.77"
IPV6 = "2001:db8:abcd:12:3456:789a:bcde:f012"
PROXIED = "198.51.100.201"
PROXY = "192.0.2.250"


def test_ipv4_is_cut_to_its_24_network_and_ipv6_to_its_48() -> None:
    assert truncate_ip(IPV4) == "203.0.113.0"
    assert truncate_ip(IPV6) == "2001:db8:abcd::"
    assert truncate_ip("::ffff:203.0.113.77") == "203.0.113.0"
    assert truncate_ip(" 10.1.2.3 ") == "10.1.2.0"
    for bad in ("256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", "a.b.c.d", ""):
        with pytest.raises(ValueError):
            truncate_ip(bad)


def test_the_hash_is_keyed_and_names_its_key() -> None:
    a = pseudonymise(IPV4, b"key-one", "k1")
    b = pseudonymise(IPV4, b"key-two", "k2")
    assert a.ip_hash != b.ip_hash and a.key_id == "k1"
    assert a.ip_hash == hash_ip("203.0.113.0", b"key-one")
    assert pseudonymise("203.0.113.5", b"key-one", "k1").ip_hash == a.ip_hash


def test_log_lines_lose_every_address_but_keep_ports_and_times() -> None:
    from cmp.logfilters import redact_addresses

    line = f"Invalid request from ip={IPV4}: bad line at 12:30:45; peer [{IPV6}]:443, 10.0.0.1:8000"
    assert redact_addresses(line) == (
        "Invalid request from ip=[address]: bad line at 12:30:45; peer [[address]]:443, "
        "[address]:8000"
    )
    assert redact_addresses("gunicorn 23.0.0 on Python 3.11.7") == "gunicorn 23.0.0 on Python 3.11.7"


def test_forwarded_for_counts_only_behind_trusted_proxies() -> None:
    assert client_address(PROXY, f"{IPV4}, {PROXIED}", 0) == PROXY
    assert client_address(PROXY, f"{IPV4}, {PROXIED}", 1) == PROXIED
    assert client_address(PROXY, f"{IPV4}, {PROXIED}", 2) == IPV4
    assert client_address(PROXY, PROXIED, 2) == PROXY  # fewer hops than proxies: not believed


@pytest.mark.db
def test_raw_addresses_reach_neither_the_database_nor_the_logs(
    app, client, config, caplog, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    for address in (IPV4, IPV6):
        response = client.post("/api/v1/sites/demo/consents", json=decision(config),
                               environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 201
        assert address not in response.get_data(as_text=True)
    with overridden_settings(app, trusted_proxies=1):
        response = client.post("/api/v1/sites/demo/consents", json=decision(config),
                               headers={"X-Forwarded-For": PROXIED},
                               environ_base={"REMOTE_ADDR": PROXY})
        assert response.status_code == 201

    dump = database_text(app)
    captured = capsys.readouterr()
    logs = caplog.text + captured.out + captured.err
    for raw in (IPV4, IPV6, IPV6.replace(":0", ":"), PROXIED):
        assert raw not in dump, f"{raw} found in the database"
        assert raw not in logs, f"{raw} found in the logs"
    for truncated in ("203.0.113.0", "2001:db8:abcd::", "198.51.100.0"):
        assert truncated in dump


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(url)


def test_gunicorn_access_and_error_logs_carry_no_client_address(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "CMP_ENV": "development", "CMP_INSTANCE_PATH": str(tmp_path),
           "CMP_DATABASE_URL": f"sqlite:///{tmp_path / 'cmp.sqlite3'}",
           "CMP_TRUSTED_PROXIES": "1", "CMP_BIND": f"127.0.0.1:{port}", "CMP_WORKERS": "1",
           "CMP_VENDORS_PATH": str(ROOT / "vendors.yaml"), "FLASK_APP": "wsgi.py"}
    bin_dir = Path(sys.executable).parent
    for args in (["db", "upgrade"], ["cmp", "init-demo"]):
        subprocess.run([str(bin_dir / "flask"), *args], cwd=ROOT, env=env, check=True,
                       capture_output=True)
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}/api/v1/sites/demo"
            _wait_for(base + "/config")
            import json

            revision = json.load(urllib.request.urlopen(base + "/config"))["revision"]
            body = json.dumps({"action": "reject_all", "revision": revision}).encode()
            request = urllib.request.Request(base + "/consents", data=body, method="POST", headers={
                "Content-Type": "application/json", "X-Forwarded-For": PROXIED})
            assert urllib.request.urlopen(request).status == 201
            bad = urllib.request.Request(base + "/consents", data=b"{", method="POST", headers={
                "Content-Type": "application/json", "X-Forwarded-For": PROXIED})
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(bad)
            # A request line gunicorn cannot parse makes it log the peer's address.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
                raw.recv(1024)
        finally:
            server.terminate()
            server.wait(timeout=10)
    text = log_path.read_text()
    assert "POST /api/v1/sites/demo/consents" in text  # the access log is on
    assert "Invalid request from ip=[address]" in text  # the error log is on, without the peer
    assert PROXIED not in text and "127.0.0.1" not in text
    files = "".join(p.read_bytes().decode("latin-1") for p in tmp_path.glob("cmp.sqlite3*"))
    assert PROXIED not in files and "198.51.100.0" in files
