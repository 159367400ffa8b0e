"""`train` never lands on top of a finished run: refused unless --resume or --overwrite."""

from __future__ import annotations

import importlib.util

import pytest
from clirun import (
    REPO,
    assert_failed_cleanly,
    error_logs,  # noqa: F401 - an autouse fixture
    run,
)

from farmannot.io.atomic import is_temporary
from farmannot.train.checkpoint import load_checkpoint

_spec = importlib.util.spec_from_file_location("train_fixtures", REPO / "tests" / "train" / "train_fixtures.py")
train_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train_fixtures)


def _train(dataset, out, *flags, epochs=1):
    return run("train", dataset, "--output", out, "--epochs", epochs, "--batch-size", 4, "--encoder",
               train_fixtures.TINY["encoder"], "--workers", 0, "--device", "cpu", "--no-progress", *flags)


@pytest.mark.slow
def test_train_refuses_a_finished_run_then_overwrites_or_resumes_only_when_asked(tmp_path):
    dataset = train_fixtures.write_gtpbd(tmp_path / "ds", n_train=4, n_val=2, n_test=0)
    out = tmp_path / "run"
    res = _train(dataset, out, epochs=2)
    assert res.exit_code == 0, res.output
    finished = (out / "last.pt").read_bytes()

    line = assert_failed_cleanly(_train(dataset, out), str(out), "already holds a run")
    assert "--resume" in line and "--overwrite" in line
    assert (out / "last.pt").read_bytes() == finished          # the finished 2-epoch model is untouched
    assert_failed_cleanly(_train(dataset, out, "--resume", "--overwrite"), "exclude each other")

    # a killed save left a temporary checkpoint: the next run on the folder removes it
    (out / ".last.ab12cd34.tmp.pt").write_bytes(b"")
    res = _train(dataset, out, "--resume", epochs=3)
    assert res.exit_code == 0, res.output
    assert load_checkpoint(out / "last.pt")["epoch"] == 3
    assert not [p for p in out.iterdir() if is_temporary(p.name)]

    res = _train(dataset, out, "--overwrite", epochs=1)
    assert res.exit_code == 0, res.output
    assert "removed" in res.stderr and "last.pt" in res.stderr
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 1 and len(state["history"]) == 1
    assert len((out / "train_log.csv").read_text().strip().splitlines()) == 1 + 1   # header + the new epoch


# kill -9 this process inside the atomic write of argv[1] the argv[2]-th time, then run `farmannot argv[3:]`
KILL_NTH = """
import contextlib, os, signal, sys
import farmannot.io.atomic as atomic
real, target, nth, seen = atomic.atomic_path, sys.argv[1], int(sys.argv[2]), [0]

@contextlib.contextmanager
def killing(path):
    with real(path) as tmp:
        if os.path.basename(str(path)) == target:
            seen[0] += 1
            if seen[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        yield tmp

atomic.atomic_path = killing
from farmannot.cli.main import cli
cli(sys.argv[3:])
"""


@pytest.mark.slow
@pytest.mark.parametrize(("target", "nth"), [("best.pt", 3), ("last.pt", 2), ("train_log.csv", 3)])
def test_kill_between_checkpoint_and_log_writes_resumes_consistent(tmp_path, target, nth):
    """Killed in the last epoch's best.pt or log write, or mid-run in last.pt: the resumed run folder agrees
    with itself (the tiny model improves every epoch, so best.pt is written each epoch)."""
    import csv
    import os
    import signal
    import subprocess
    import sys

    dataset = train_fixtures.write_gtpbd(tmp_path / "ds", n_train=4, n_val=2, n_test=0)
    out = tmp_path / "run"
    args = ["train", dataset, "--output", out, "--epochs", 3, "--batch-size", 4, "--encoder",
            train_fixtures.TINY["encoder"], "--workers", 0, "--device", "cpu", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", KILL_NTH, target, str(nth), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    res = run(*args, "--resume")
    assert res.exit_code == 0, res.output
    last = load_checkpoint(out / "last.pt")
    best = load_checkpoint(out / "best.pt")
    assert last["epoch"] == 3
    assert best["epoch"] == last["best_epoch"] and best["best"] == last["best"]
    with open(out / "train_log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert not [p for p in out.iterdir() if is_temporary(p.name)]
