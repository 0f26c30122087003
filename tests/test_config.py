"""Configuration: every bad value names its variable; good values parse."""

from __future__ import annotations

from pathlib import Path

import pytest

from bindery.config import ConfigError, load, markdown_table


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"BINDERY_VAR_DIR": str(tmp_path / "var"), **values}


def test_defaults_are_the_embedded_platform(tmp_path: Path) -> None:
    """With nothing set, both databases are SQLite files under the var folder and TLS is on 8443."""
    config = load(env(tmp_path))
    assert config.control_db.is_sqlite
    assert config.host_db.is_sqlite
    assert config.host_db.path == (tmp_path / "var" / "host.sqlite3").resolve()
    assert (config.https_port, config.http_port) == (8443, 8080)
    assert config.public_url == "https://localhost:8443"
    assert config.queue_backend == "sqlite"


def test_secret_key_is_generated_once_with_owner_only_permissions(tmp_path: Path) -> None:
    """A generated secret key is kept in the var folder (mode 0600) and reused."""
    first = load(env(tmp_path)).secret_key
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load(env(tmp_path)).secret_key == first
    assert len(first) >= 50


def test_postgres_url_selects_the_postgres_queue(tmp_path: Path) -> None:
    """A PostgreSQL host database puts the job queue in that database."""
    config = load(env(tmp_path, BINDERY_HOST_DATABASE_URL="postgres://u:p@db.internal:5432/host"))
    assert config.host_db.engine == "postgresql"
    assert config.queue_backend == "postgres"


def test_secret_read_from_file(tmp_path: Path) -> None:
    """A secret may come from NAME_FILE instead of NAME."""
    secret = tmp_path / "key"
    secret.write_text("k" * 30 + "abcdefghij" * 3 + "\n")
    assert load(env(tmp_path, BINDERY_SECRET_KEY_FILE=str(secret))).secret_key == "k" * 30 + "abcdefghij" * 3


@pytest.mark.parametrize(
    ("values", "variable", "fragment"),
    [
        ({"BINDERY_HTTPS_PORT": "eighty"}, "BINDERY_HTTPS_PORT", "whole number"),
        ({"BINDERY_HTTPS_PORT": "70000"}, "BINDERY_HTTPS_PORT", "between 1 and 65535"),
        ({"BINDERY_HTTP_PORT": "8443"}, "BINDERY_HTTP_PORT", "must differ"),
        ({"BINDERY_DEBUG": "maybe"}, "BINDERY_DEBUG", "true or false"),
        ({"BINDERY_LOG_LEVEL": "LOUD"}, "BINDERY_LOG_LEVEL", "one of"),
        ({"BINDERY_QUEUE": "rabbit"}, "BINDERY_QUEUE", "one of"),
        ({"BINDERY_QUEUE": "postgres"}, "BINDERY_QUEUE", "PostgreSQL URL"),
        ({"BINDERY_BIND": "localhost; rm -rf /"}, "BINDERY_BIND", "IP address"),
        ({"BINDERY_HOST_DATABASE_URL": "mysql://x/y"}, "BINDERY_HOST_DATABASE_URL", "unsupported"),
        ({"BINDERY_HOST_DATABASE_URL": "postgres://"}, "BINDERY_HOST_DATABASE_URL", "needs a host"),
        ({"BINDERY_HOST_DATABASE_URL": "postgres://h:port/db"}, "BINDERY_HOST_DATABASE_URL", "port"),
        ({"BINDERY_CONTROL_DATABASE_URL": "postgres://h/"}, "BINDERY_CONTROL_DATABASE_URL", "database name"),
        ({"BINDERY_HOST_DATABASE_URL": "sqlite:///"}, "BINDERY_HOST_DATABASE_URL", "file name"),
        ({"BINDERY_HOST_DATABASE_URL": "sqlite:///a.db", "BINDERY_CONTROL_DATABASE_URL": "sqlite:///a.db"},
         "BINDERY_HOST_DATABASE_URL", "must differ"),
        ({"BINDERY_SECRET_KEY": "short"}, "BINDERY_SECRET_KEY", "at least 50"),
        ({"BINDERY_SECRET_KEY_FILE": "/nonexistent/key"}, "BINDERY_SECRET_KEY_FILE", "cannot read"),
        ({"BINDERY_TLS_CERT_FILE": "/etc/hostname"}, "BINDERY_TLS_KEY_FILE", "together"),
        ({"BINDERY_TLS_CERT_FILE": "/nonexistent.crt", "BINDERY_TLS_KEY_FILE": "/nonexistent.key"},
         "BINDERY_TLS_CERT_FILE", "cannot read"),
        ({"BINDERY_PUBLIC_URL": "http://shop.example"}, "BINDERY_PUBLIC_URL", "https://"),
        ({"BINDERY_HOST_NAME": "a b"}, "BINDERY_HOST_NAME", "letters"),
        ({"BINDERY_WEB_WORKERS": "0"}, "BINDERY_WEB_WORKERS", "between"),
        ({"BINDERY_HTTPS_PROT": "1"}, "BINDERY_HTTPS_PROT", "unknown variable"),
    ],
)
def test_bad_values_name_their_variable(tmp_path: Path, values: dict[str, str], variable: str,
                                        fragment: str) -> None:
    """Each malformed value raises ConfigError for exactly that variable with a readable reason."""
    with pytest.raises(ConfigError) as caught:
        load(env(tmp_path, **values))
    assert caught.value.variable == variable
    assert fragment in caught.value.problem


def test_oversized_and_binary_values_are_refused_cleanly(tmp_path: Path) -> None:
    """Hostile values (huge, control characters, non-UTF-8 secret files) give ConfigError, not a crash."""
    with pytest.raises(ConfigError):
        load(env(tmp_path, BINDERY_HTTPS_PORT="9" * 10_000))
    with pytest.raises(ConfigError):
        load(env(tmp_path, BINDERY_HOST_NAME="x\x00y"))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError) as caught:
        load(env(tmp_path, BINDERY_SECRET_KEY_FILE=str(binary)))
    assert "UTF-8" in caught.value.problem


def test_readme_table_lists_every_variable() -> None:
    """The README's configuration table is the generated one, so docs and code agree."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert markdown_table() in readme
