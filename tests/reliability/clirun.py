"""Run farmannot commands in-process or as a real process, and judge how they fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from farmannot.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
# the bad-input corpus reuses the dataset tests' project generator (no conftest here: the train tests import
# their own conftest by name)
if str(REPO / "tests" / "dataset") not in sys.path:
    sys.path.insert(0, str(REPO / "tests" / "dataset"))


@pytest.fixture(autouse=True)
def error_logs(tmp_path, monkeypatch):
    """Tracebacks of unexpected errors go to a folder of the test, not the user's cache (import it to use)."""
    logs = tmp_path / "error-logs"
    monkeypatch.setenv("FARMANNOT_LOG_DIR", str(logs))
    return logs


def run(*args) -> Result:
    """``farmannot ARGS`` through click's CliRunner (stderr kept apart)."""
    return CliRunner().invoke(cli, [str(a) for a in args], obj={})


def run_process(*args, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """``python -m farmannot ARGS`` as its own process: real stderr, real exit code."""
    penv = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")]), **(env or {})}
    return subprocess.run([sys.executable, "-m", "farmannot", *map(str, args)], capture_output=True, text=True, check=False,
                          env=penv, timeout=timeout, cwd=REPO)


def assert_failed_cleanly(res: Result, *names: str) -> str:
    """Exit code 1, no exception escaped, no traceback, and exactly one ``Error:`` line naming ``names``."""
    assert res.exit_code == 1, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.stderr, res.stderr
    errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.stderr
    for name in names:
        assert name in errors[0], errors[0]
    return errors[0]


def assert_kept_going(res: Result, *names: str) -> list[str]:
    """Exit code 1 after a --keep-going run: each of ``names`` on one ``error:`` line, no traceback."""
    assert res.exit_code == 1, (res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.stderr, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    for name in names:
        assert sum(name in line for line in lines) == 1, (name, res.stderr)
    return lines
