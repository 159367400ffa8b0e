"""The bad-input corpus reuses the dataset tests' project generator."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dataset"))


@pytest.fixture(autouse=True)
def error_logs(tmp_path, monkeypatch):
    """Tracebacks of unexpected errors go to a folder of the test, not the user's cache."""
    logs = tmp_path / "error-logs"
    monkeypatch.setenv("FARMANNOT_LOG_DIR", str(logs))
    return logs
