"""Settings are read once from CMP_* variables; bad values stop start-up naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from cmp.config import ConfigError, load_settings


def test_production_refuses_a_missing_secret_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CMP_SECRET_KEY"):
        load_settings({"CMP_ENV": "production", "CMP_IP_HASH_KEY": "x" * 32}, tmp_path)


def test_production_refuses_a_placeholder_ip_hash_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CMP_IP_HASH_KEY"):
        load_settings({"CMP_ENV": "production", "CMP_SECRET_KEY": "s" * 32,
                       "CMP_IP_HASH_KEY": "change-me"}, tmp_path)


def test_development_generates_secrets_once_and_keeps_them(tmp_path: Path) -> None:
    first = load_settings({"CMP_ENV": "development"}, tmp_path)
    second = load_settings({"CMP_ENV": "development"}, tmp_path)
    assert first.secret_key == second.secret_key and len(first.secret_key) >= 32
    assert first.ip_hash_key == second.ip_hash_key
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_the_default_database_is_sqlite_under_instance(tmp_path: Path) -> None:
    settings = load_settings({}, tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'cmp.sqlite3'}"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("CMP_TRUSTED_PROXIES", "many"), ("CMP_TRUSTED_PROXIES", "-1"), ("CMP_ENV", "staging"),
     ("CMP_MAX_BODY_BYTES", "1"), ("CMP_RATE_LIMIT", "lots"), ("CMP_CONFIG_RECHECK_SECONDS", "soon"),
     ("CMP_CONSENT_COMMIT", "eventually")],
)
def test_malformed_values_name_their_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings({variable: value}, tmp_path)


def test_postgres_urls_get_the_psycopg_driver(tmp_path: Path) -> None:
    settings = load_settings({"CMP_DATABASE_URL": "postgresql://u@h/db"}, tmp_path)
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_wsgi_start_up_fails_with_the_variables_name(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"], capture_output=True, text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={"CMP_ENV": "production", "CMP_INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin"},
    )
    assert result.returncode != 0
    assert "CMP_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
