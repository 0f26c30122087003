"""``bindery backup ...`` end to end in real processes, on a fresh embedded install."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys


def _bindery(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bindery", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=check)


def test_backup_commands_end_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_")}
    env.update(BINDERY_VAR_DIR=str(tmp_path / "var"), BINDERY_QUEUE="immediate",
               BINDERY_BACKUP_TARGET=str(tmp_path / "offsite"), BINDERY_BACKUP_RETENTION="1,0,0")
    _bindery(env, "migrate", "--quiet")
    run = _bindery(env, "backup", "run")
    assert "control: control/" in run.stdout
    assert "host-local: host-local/" in run.stdout
    _bindery(env, "backup", "run", "--database", "control")
    listed = _bindery(env, "backup", "list").stdout
    assert "3 backup(s)" in listed
    assert "ok" in _bindery(env, "backup", "verify", "all").stdout
    drill = _bindery(env, "backup", "drill").stdout
    assert drill.count("drill ok") == 2
    restored = tmp_path / "restored.sqlite3"
    _bindery(env, "backup", "restore", "host-local", "--to", str(restored))
    assert sqlite3.connect(restored).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    refused = _bindery(env, "backup", "restore", "host-local", "--to", str(restored), check=False)
    assert refused.returncode == 1
    assert "exists" in refused.stderr
    pruned = _bindery(env, "backup", "prune").stdout
    assert "control: removed 1 backup(s)" in pruned
    assert "2 backup(s)" in _bindery(env, "backup", "list").stdout  # one per database remains
    assert (tmp_path / "var" / "backup_site_key").stat().st_mode & 0o777 == 0o600
    assert _bindery(env, "backup", "override-distance", "host-local", check=False).returncode == 1  # no reason
    recorded = _bindery(env, "backup", "override-distance", "host-local", "--reason", "one site for now").stdout
    assert "override of the 500 km rule recorded" in recorded
    assert "1 override(s) revoked" in _bindery(env, "backup", "override-distance", "host-local", "--revoke").stdout
    config = _bindery(env, "config").stdout
    assert "backup_site_key  [key file in the var folder]" in config
