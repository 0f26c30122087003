"""The backup site's work runs at the lowest CPU and I/O priority unless configured otherwise,
and pg_dump (a child process) inherits it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

PROBE = """
import os, subprocess
from bindery.backups.cli import _yield_cpu
from bindery.config import load
_yield_cpu(load())
child = subprocess.run(["sh", "-c", "nice; ionice -p $$"], capture_output=True, text=True).stdout.split()
print("PRIORITY", os.nice(0), " ".join(child))
"""


def _probe(tmp_path, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BINDERY_")}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**clean, "BINDERY_VAR_DIR": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=60, check=True)
    return next(line for line in done.stdout.splitlines() if line.startswith("PRIORITY")).split()[1:]


@pytest.mark.skipif(shutil.which("ionice") is None or os.nice(0) != 0, reason="needs ionice and a normal-priority run")
def test_backup_work_runs_at_lowest_priority_by_default(tmp_path):
    nice, child_nice, io_class = _probe(tmp_path)[:3]
    assert (nice, child_nice) == ("19", "19")
    assert io_class.startswith("idle")
    assert _probe(tmp_path, BINDERY_BACKUP_PRIORITY="normal")[:2] == ["0", "0"]
    with pytest.raises(subprocess.CalledProcessError):
        _probe(tmp_path, BINDERY_BACKUP_PRIORITY="highest")
