"""Exporting the consent log: tokens, CSV safety, filters, logging, bundles, bounded memory."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from cmp import admin_tokens, audit, export, synthetic
from cmp.extensions import db
from cmp.models import Consent, ExportRecord, Site

pytestmark = pytest.mark.db
EXPORT = "/api/v1/admin/sites/demo/consents/export"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auditor(app: Flask) -> str:
    return admin_tokens.create_token("auditor", "demo", "test auditor")[1]


@pytest.fixture
def other_site(runner: FlaskCliRunner) -> str:
    result = runner.invoke(args=["cmp", "site", "create", "other", "--name", "Other",
                                 "--origin", "https://other.example"])
    assert result.exit_code == 0, result.output
    return "other"


def test_export_without_token_is_401(client: FlaskClient) -> None:
    response = client.get(EXPORT)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_export_with_unknown_token_is_401(client: FlaskClient) -> None:
    assert client.get(EXPORT, headers=_bearer("cmp_nonsense")).status_code == 401


def test_export_with_token_of_another_site_is_403(client: FlaskClient, other_site: str) -> None:
    token = admin_tokens.create_token("auditor", other_site)[1]
    response = client.get(EXPORT, headers=_bearer(token))
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


def test_export_with_revoked_token_is_401(client: FlaskClient, runner: FlaskCliRunner) -> None:
    created = runner.invoke(args=["cmp", "token", "create", "--role", "auditor"])
    token = created.stdout.strip().splitlines()[-1]
    assert client.get(EXPORT, headers=_bearer(token)).status_code == 200
    token_id = admin_tokens.list_tokens()[-1].id
    assert runner.invoke(args=["cmp", "token", "revoke", str(token_id)]).exit_code == 0
    assert client.get(EXPORT, headers=_bearer(token)).status_code == 401


def test_token_is_stored_only_as_its_hash(app: Flask) -> None:
    info, token = admin_tokens.create_token("admin")
    stored = db.session.execute(sa.text("SELECT token_hash FROM api_tokens")).scalar_one()
    assert stored == admin_tokens.token_digest(token) and token not in stored


def test_csv_neutralises_formulas(client: FlaskClient, give_consent: Any, auditor: str) -> None:
    give_consent(headers={"User-Agent": '=HYPERLINK("https://evil.example","click")'})
    give_consent(headers={"User-Agent": "@SUM(1+1)"})
    response = client.get(EXPORT + "?format=csv", headers=_bearer(auditor))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    agents = [row["user_agent"] for row in rows]
    assert agents == ['\'=HYPERLINK("https://evil.example","click")', "'@SUM(1+1)"]
    for row in rows:
        assert row["snapshot_hash"] and row["hash"] and row["prev_hash"] and row["seq"]
        assert "198.51.100.23" not in row.values()  # the raw address is never exported
        assert row["ip_truncated"] == "198.51.100.0"


def test_ndjson_rows_carry_the_chain(client: FlaskClient, give_consent: Any,
                                     auditor: str) -> None:
    give_consent("accept_all")
    give_consent("reject_all")
    response = client.get(EXPORT + "?format=ndjson", headers=_bearer(auditor))
    assert response.mimetype == "application/x-ndjson"
    records = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [r["seq"] for r in records] == [1, 2]
    assert records[1]["prev_hash"] == records[0]["hash"]
    assert records[0]["created_at"].endswith("Z") and records[0]["gpc"] is False
    assert "marketing" in records[0]["purposes_granted"]
    # Both backends: compact objects, every key, in one fixed order.
    first_line = response.get_data(as_text=True).splitlines()[0]
    assert list(records[0]) == list(export.NDJSON_KEYS) and '" : ' not in first_line


def test_filters_select_events(client: FlaskClient, give_consent: Any, auditor: str) -> None:
    first = give_consent("accept_all")
    give_consent("reject_all")
    give_consent("withdraw", consent_id=first["consent_id"])

    def seqs(query: str) -> list[int]:
        body = client.get(f"{EXPORT}?format=ndjson&{query}", headers=_bearer(auditor))
        return [json.loads(line)["seq"] for line in body.get_data(as_text=True).splitlines()]

    assert seqs("kind=withdrawn") == [3]
    assert seqs("purpose=marketing") == [1, 2, 3]
    assert seqs("vendor=google-analytics") == [1, 2, 3]
    assert seqs("from=2000-01-01&to=2001-01-01") == []
    assert seqs("from=2000-01-01") == [1, 2, 3]


@pytest.mark.parametrize("query, field", [
    ("format=xml", "format"), ("kind=deleted", "kind"), ("from=yesterday", "from"),
    ("purpose=Bad%20Id", "purpose"), ("from=2025-02-01&to=2025-01-01", "to"),
    # Valid ISO times with no UTC datetime, or at its very edge: 422, not an OverflowError.
    ("from=0001-01-01T00:00:00%2B14:00", "from"), ("to=9999-12-31T23:59:59-14:00", "to"),
    ("to=9999-06-01T00:00:00Z", "to"),
])
def test_bad_filter_is_422_naming_it(client: FlaskClient, auditor: str, query: str,
                                     field: str) -> None:
    response = client.get(f"{EXPORT}?{query}", headers=_bearer(auditor))
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_time_filters_at_the_edge_of_the_range_work(client: FlaskClient, give_consent: Any,
                                                    auditor: str) -> None:
    give_consent()
    response = client.get(f"{EXPORT}?format=ndjson&from=0001-01-01T00:00:00Z"
                          "&to=9998-12-31T23:59:59Z", headers=_bearer(auditor))
    assert response.status_code == 200 and len(response.get_data().splitlines()) == 1


@pytest.mark.parametrize("option, value", [
    ("--from", "0001-01-01T00:00:00+14:00"), ("--to", "9999-12-31T23:59:59-14:00"),
])
def test_cli_export_out_of_range_time_fails_with_a_message(runner: FlaskCliRunner, option: str,
                                                           value: str) -> None:
    result = runner.invoke(args=["cmp", "export", "--site", "demo", option, value])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    assert option in result.output and "UTC" in result.output


@pytest.mark.parametrize("option", ["--output", "--bundle"])
def test_cli_export_into_a_missing_directory_fails_with_a_message(
        runner: FlaskCliRunner, tmp_path: Path, option: str) -> None:
    target = tmp_path / "nonexistent" / "dir" / "x.csv"
    result = runner.invoke(args=["cmp", "export", "--site", "demo", option, str(target)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "does not exist" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExportRecord)) == 0


@pytest.mark.parametrize("args", [
    ["verify", "--since", "99999999999999999999"], ["token", "revoke", "99999999999999999999"],
    ["token", "revoke", "0"],
])
def test_cli_numbers_out_of_range_are_usage_errors(runner: FlaskCliRunner,
                                                   args: list[str]) -> None:
    result = runner.invoke(args=["cmp", *args])
    assert result.exit_code == 2 and "range" in result.output


def test_every_export_is_logged(client: FlaskClient, runner: FlaskCliRunner,
                                give_consent: Any, auditor: str, tmp_path: Path) -> None:
    give_consent()
    client.get(EXPORT + "?format=csv&kind=given", headers=_bearer(auditor)).get_data()
    result = runner.invoke(args=["cmp", "export", "--site", "demo", "--format", "ndjson",
                                 "--output", str(tmp_path / "log.ndjson")])
    assert result.exit_code == 0, result.output
    records = db.session.scalars(sa.select(ExportRecord).order_by(ExportRecord.id)).all()
    api, cli = records
    assert (api.channel, api.format, api.filters, api.rows) == ("api", "csv", {"kind": "given"}, 1)
    assert api.token_id == admin_tokens.list_tokens()[0].id
    assert (cli.channel, cli.format, cli.rows, cli.token_id) == ("cli", "ndjson", 1, None)


def test_cli_export_bad_filter_fails_and_writes_nothing(runner: FlaskCliRunner,
                                                       tmp_path: Path) -> None:
    target = tmp_path / "keep.csv"
    target.write_text("previous export")
    result = runner.invoke(args=["cmp", "export", "--site", "demo", "--kind", "nonsense",
                                 "--output", str(target)])
    assert result.exit_code != 0 and "--kind" in result.output
    assert target.read_text() == "previous export"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExportRecord)) == 0


def _bundle(runner: FlaskCliRunner, path: Path) -> None:
    result = runner.invoke(args=["cmp", "export", "--site", "demo", "--bundle", str(path)])
    assert result.exit_code == 0, result.output


def test_bundle_verifies_offline(runner: FlaskCliRunner, give_consent: Any, config: Any,
                                 tmp_path: Path) -> None:
    first = give_consent("accept_all")
    give_consent("reject_all")
    assert runner.invoke(args=["cmp", "erase", first["consent_id"]]).exit_code == 0
    assert runner.invoke(args=["cmp", "checkpoint"]).exit_code == 0
    path = tmp_path / "bundle.zip"
    _bundle(runner, path)
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
        assert {"records.ndjson", "checkpoints.json", "README.md", "manifest.json",
                f"snapshots/{config['revision']}.json"} <= names
    result = export.verify_bundle(path)  # no database involved
    assert result.ok and result.chain.events == 3 and result.chain.checkpoints == 1
    assert result.chain.erased == 1
    assert result.snapshots == 1
    cli = runner.invoke(args=["cmp", "verify", "--bundle", str(path), "--signatures"])
    assert cli.exit_code == 0 and "OK" in cli.output


def _rewrite(path: Path, name: str, change: Any) -> None:
    with zipfile.ZipFile(path) as bundle:
        members = {n: bundle.read(n) for n in bundle.namelist()}
    members[name] = change(members[name])
    with zipfile.ZipFile(path, "w") as bundle:
        for n, data in members.items():
            bundle.writestr(n, data)


def test_bundle_with_one_changed_byte_fails_naming_the_seq(
        runner: FlaskCliRunner, give_consent: Any, tmp_path: Path) -> None:
    for _ in range(3):
        give_consent()
    path = tmp_path / "bundle.zip"
    _bundle(runner, path)

    def flip(data: bytes) -> bytes:
        lines = data.split(b"\n")
        lines[1] = lines[1].replace(b"checkout", b"checkouT", 1)  # one byte of seq 2
        return b"\n".join(lines)

    _rewrite(path, "records.ndjson", flip)
    result = export.verify_bundle(path)
    assert (result.chain.broken_seq, result.chain.problem) == (2, "modified")
    cli = runner.invoke(args=["cmp", "verify", "--bundle", str(path)])
    assert cli.exit_code != 0 and "seq 2" in cli.output


def test_erased_events_name_a_snapshot_so_every_row_does(
        client: FlaskClient, runner: FlaskCliRunner, give_consent: Any, config: Any,
        auditor: str, tmp_path: Path) -> None:
    first, second = give_consent(), give_consent("reject_all")
    assert runner.invoke(args=["cmp", "erase", first["consent_id"]]).exit_code == 0
    # A consent whose row is gone still names the snapshot of its latest event.
    db.session.execute(sa.delete(Consent).where(Consent.id == second["consent_id"]))
    db.session.commit()
    site_id = db.session.scalar(sa.select(Site.id).where(Site.key == "demo"))
    assert audit.erase_consent(site_id, second["consent_id"], "test") == 1
    body = client.get(EXPORT + "?format=csv", headers=_bearer(auditor)).get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["kind"] for row in rows] == ["given", "given", "erased", "erased"]
    assert {row["snapshot_hash"] for row in rows} == {config["revision"]}
    path = tmp_path / "bundle.zip"
    _bundle(runner, path)
    assert export.verify_bundle(path).ok  # the snapshot the erased events name is in it


def test_bundle_with_changed_snapshot_fails(runner: FlaskCliRunner, give_consent: Any,
                                            config: Any, tmp_path: Path) -> None:
    give_consent()
    path = tmp_path / "bundle.zip"
    _bundle(runner, path)
    _rewrite(path, f"snapshots/{config['revision']}.json", lambda b: b.replace(b"{", b"{ ", 1))
    assert not export.verify_bundle(path).ok


def _replace_line(number: int, change: Any) -> Any:
    def rewrite(data: bytes) -> bytes:
        lines = data.split(b"\n")
        lines[number - 1] = change(lines[number - 1])
        return b"\n".join(lines)
    return rewrite


def _set_field(name: str, value: Any) -> Any:
    return lambda line: json.dumps({**json.loads(line), name: value}).encode()


@pytest.mark.parametrize("change, problem", [
    (_set_field("seq", "2"), "seq is not an integer"),
    (lambda line: b"[]", "not a JSON object"),
    (_set_field("prev_hash", None), "prev_hash is not a string"),
    (_set_field("hash", 7), "hash is not a string"),
    (_set_field("erased_digests", ["url"]), "erased_digests is not an object"),
    (_set_field("snapshot_hash", ["x"]), "snapshot_hash is not a string"),
])
def test_bundle_with_a_malformed_record_fails_naming_the_line(
        runner: FlaskCliRunner, give_consent: Any, tmp_path: Path, change: Any,
        problem: str) -> None:
    for _ in range(3):
        give_consent()
    path = tmp_path / "bundle.zip"
    _bundle(runner, path)
    _rewrite(path, "records.ndjson", _replace_line(2, change))
    result = export.verify_bundle(path)
    assert not result.ok and result.chain.broken_seq == 2
    assert result.chain.detail.startswith(f"malformed record at line 2: {problem}")
    cli = runner.invoke(args=["cmp", "verify", "--bundle", str(path)])
    assert cli.exit_code == 1 and isinstance(cli.exception, SystemExit)
    assert "malformed record at line 2" in cli.output


@pytest.mark.parametrize("checkpoints, problem", [
    (b'[{"seq": "1", "hash": "x", "time": "t", "signature": "s"}]', "seq is not an integer"),
    (b'[{"seq": 1, "hash": "x"}]', "time is not a string"),
    (b'[7]', "not a JSON object"),
    (b'{"seq": 1}', "is not a list"),
    (b'not json', "is not JSON"),
])
def test_bundle_with_a_malformed_checkpoint_fails(runner: FlaskCliRunner, give_consent: Any,
                                                   tmp_path: Path, checkpoints: bytes,
                                                   problem: str) -> None:
    give_consent()
    path = tmp_path / "bundle.zip"
    _bundle(runner, path)
    _rewrite(path, "checkpoints.json", lambda _: checkpoints)
    assert export.verify_bundle(path).chain.problem == "checkpoint"
    for extra in ([], ["--signatures"]):
        cli = runner.invoke(args=["cmp", "verify", "--bundle", str(path), *extra])
        assert cli.exit_code == 1 and isinstance(cli.exception, SystemExit)
        assert problem in cli.output


@pytest.mark.parametrize("content", [b"notazip", b"PK\x03\x04 truncated"])
def test_verify_of_a_file_that_is_no_bundle_fails_with_a_message(
        runner: FlaskCliRunner, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notazip"
    path.write_bytes(content)
    result = runner.invoke(args=["cmp", "verify", "--bundle", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "not a cmp bundle" in result.output


def test_bundle_with_a_bad_manifest_is_no_bundle(runner: FlaskCliRunner, give_consent: Any,
                                                 tmp_path: Path) -> None:
    give_consent()
    path = tmp_path / "bundle.zip"
    _bundle(runner, path)
    _rewrite(path, "manifest.json", lambda _: b"[]")
    result = runner.invoke(args=["cmp", "verify", "--bundle", str(path)])
    assert result.exit_code == 1 and "not a cmp bundle" in result.output


def test_bundle_with_its_tail_cut_off_fails_naming_what_is_missing(
        runner: FlaskCliRunner, give_consent: Any, tmp_path: Path) -> None:
    for _ in range(4):
        give_consent()
    path = tmp_path / "bundle.zip"
    _bundle(runner, path)
    with zipfile.ZipFile(path) as bundle:
        manifest = json.loads(bundle.read("manifest.json"))
    assert (manifest["records"], manifest["last_seq"]) == (4, 4)
    _rewrite(path, "records.ndjson", lambda data: b"".join(data.splitlines(True)[:2]))
    result = export.verify_bundle(path)
    assert (result.chain.broken_seq, result.chain.problem) == (3, "missing")
    assert "seq 3..4 missing" in result.chain.detail
    cli = runner.invoke(args=["cmp", "verify", "--bundle", str(path)])
    assert cli.exit_code == 1 and "seq 3..4 missing" in cli.output


def test_bundle_whose_last_record_differs_from_the_manifest_fails(
        runner: FlaskCliRunner, give_consent: Any, tmp_path: Path) -> None:
    give_consent()
    path = tmp_path / "bundle.zip"
    _bundle(runner, path)

    def other_end(data: bytes) -> bytes:
        return json.dumps({**json.loads(data), "last_hash": "f" * 64}).encode()

    _rewrite(path, "manifest.json", other_end)
    result = export.verify_bundle(path)
    assert (result.chain.broken_seq, result.chain.problem) == (1, "modified")


def test_bundle_readme_script_verifies_without_cmp(runner: FlaskCliRunner, give_consent: Any,
                                                   tmp_path: Path) -> None:
    import subprocess
    import sys

    give_consent()
    give_consent("reject_all")
    path = tmp_path / "bundle.zip"
    _bundle(runner, path)
    with zipfile.ZipFile(path) as bundle:
        readme = bundle.read("README.md").decode()
    script = readme.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "check.py").write_text(script)
    done = subprocess.run([sys.executable, str(tmp_path / "check.py"), str(path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK 2 records"

    # The same bundle with its last record removed.
    _rewrite(path, "records.ndjson", lambda data: b"".join(data.splitlines(keepends=True)[:-1]))
    done = subprocess.run([sys.executable, str(tmp_path / "check.py"), str(path)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0 and "records missing at the end" in done.stderr


@pytest.mark.slow
def test_exporting_100000_events_keeps_memory_bounded(app: Flask) -> None:
    site_id = db.session.scalar(sa.select(Site.id).where(Site.key == "demo"))
    synthetic.insert_synthetic(site_id, 100_000, datetime(2025, 1, 1, tzinfo=UTC))
    db.session.remove()
    target = export.ExportTarget(site_id, "demo", "cli")
    for fmt in export.FORMATS:
        tracemalloc.start()
        try:
            size = sum(len(chunk) for chunk in
                       export.stream_export(target, fmt, export.ExportFilters()))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert size > 30_000_000  # ~100,000 rows of several hundred bytes went through
        assert peak < 20_000_000, f"{fmt}: peak {peak / 1e6:.1f} MB"
