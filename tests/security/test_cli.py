"""`bindery tokens`: create prints the token once, list never shows secrets, bad input is one line."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bindery.security.tokens import SCANNER_REGEX
from tests.test_cli import run


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite var dir with the demo tenant, shared by this module's tests."""
    path = tmp_path_factory.mktemp("tokens")
    # There is no `tenants create` command yet: a second tenant comes from Django's shell.
    second = "from bindery.control.actions import do_create_tenant; do_create_tenant('globex', 'Globex', actor='test')"
    for args in (("migrate", "--quiet"), ("demo",), ("manage", "shell", "-c", second)):
        result = run(path, *args)
        assert result.returncode == 0, result.stderr
    return path


def one_clear_line(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 1, result
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("bindery: ")
    assert text in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def create(var: Path, name: str, *extra: str) -> str:
    result = run(var, "tokens", "create", "--tenant", "demo", "--name", name, *extra)
    assert result.returncode == 0, result.stderr
    tokens = re.findall(SCANNER_REGEX, result.stdout)
    assert len(tokens) == 1, result.stdout
    return tokens[0]


def test_create_list_revoke(var: Path) -> None:
    """A created token is printed once; list shows its prefix and state but never the secret; revoke stops it."""
    token = create(var, "erp sync", "--scopes", "catalog:read,sales:write", "--expires-days", "30")
    prefix = "_".join(token.split("_")[:2])
    listed = run(var, "tokens", "list", "--tenant", "demo")
    assert listed.returncode == 0, listed.stderr
    line = next(li for li in listed.stdout.splitlines() if prefix in li)
    assert "erp sync" in line
    assert "catalog:read,sales:write" in line
    assert "active" in line
    assert "never" in line  # last use
    assert token.split("_")[2] not in listed.stdout
    assert not re.search(SCANNER_REGEX, listed.stdout)
    revoked = run(var, "tokens", "revoke", "--tenant", "demo", prefix)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in revoked.stdout
    listed = run(var, "tokens", "list", "--tenant", "demo")
    assert "revoked" in next(li for li in listed.stdout.splitlines() if prefix in li)


def test_rotate(var: Path) -> None:
    """Rotating prints a new token once and lists the old one as rotating during the overlap."""
    token = create(var, "pos", "--scopes", "*:read")
    lookup = token.split("_")[1]
    rotated = run(var, "tokens", "rotate", "--tenant", "demo", lookup, "--overlap-hours", "2")
    assert rotated.returncode == 0, rotated.stderr
    new = re.findall(SCANNER_REGEX, rotated.stdout)
    assert len(new) == 1
    assert new[0] != token
    listed = run(var, "tokens", "list", "--tenant", "demo").stdout
    assert "rotating" in next(li for li in listed.splitlines() if lookup in li)
    again = run(var, "tokens", "rotate", "--tenant", "demo", lookup)
    one_clear_line(again, "already rotated")


@pytest.mark.parametrize(("args", "text"), [
    (("create", "--tenant", "nope", "--name", "x", "--scopes", "sales:read"), "no tenant 'nope'"),
    (("create", "--tenant", "demo", "--name", "x", "--scopes", "sales:read,orders:eat"), "unknown scope 'orders:eat'"),
    (("create", "--tenant", "demo", "--name", "x", "--scopes", "sales:read", "--expires-days", "0"), "expiry"),
    (("create", "--tenant", "demo", "--name", "x", "--scopes", "sales:read", "--expires-days", "9" * 12),
     "too large"),
    (("list", "--tenant", "nope"), "no tenant 'nope'"),
    (("revoke", "--tenant", "demo", "bnd_zzzzzzzzzzzz"), "has no token"),
    (("rotate", "--tenant", "demo", "00000000-0000-0000-0000-000000000000"), "has no token"),
])
def test_bad_input_gives_one_line(var: Path, args: tuple[str, ...], text: str) -> None:
    """Unknown tenant, scope or token and bad numbers end with one clear line and exit 1."""
    one_clear_line(run(var, "tokens", *args), text)


def test_other_tenants_token_cannot_be_touched(var: Path) -> None:
    """A token is found only within the named tenant: another tenant cannot revoke, rotate or list it."""
    token = create(var, "mine", "--scopes", "sales:read")
    lookup = token.split("_")[1]
    for action in ("revoke", "rotate"):
        one_clear_line(run(var, "tokens", action, "--tenant", "globex", lookup), "has no token")
    assert lookup not in run(var, "tokens", "list", "--tenant", "globex").stdout
    listed = run(var, "tokens", "list", "--tenant", "demo").stdout
    assert "active" in next(li for li in listed.splitlines() if lookup in li)
