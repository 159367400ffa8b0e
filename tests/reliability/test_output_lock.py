"""An output folder belongs to one run: a second run refuses, a dead run's lock is taken over, kill -9 resumes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys

import pandas as pd
import pytest
from clirun import (
    REPO,
    assert_failed_cleanly,
    error_logs,  # noqa: F401 - an autouse fixture
    run,
    run_process,
)
from projectgen import make_project

from farmannot.errors import FarmannotError
from farmannot.io.atomic import is_temporary
from farmannot.io.lock import LOCK_NAME, lock_path, output_lock

HOLDER = """
import sys
from farmannot.io.lock import output_lock
with output_lock(sys.argv[1], "farmannot build-dataset (test holder)"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def _holder(folder):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _consistent(out):
    """Every file the manifest lists exists with its checksum."""
    df = pd.read_parquet(out / "manifest.parquet")
    bad = [rel for sums in df["checksums"] for rel, digest in json.loads(sums).items()
           if not (out / rel).is_file() or hashlib.sha256((out / rel).read_bytes()).hexdigest() != digest]
    return len(df), bad


def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    with output_lock(tmp_path / "out", "farmannot test"):
        with (pytest.raises(FarmannotError, match=rf"in use by another run \(pid {os.getpid()} on .*farmannot test"),
              output_lock(tmp_path / "out", "farmannot other")):
            pass
        assert (tmp_path / "out" / LOCK_NAME).exists()
    assert not (tmp_path / "out" / LOCK_NAME).exists()     # released: gone
    with output_lock(tmp_path / "out", "farmannot again"):   # and free again
        pass


def test_file_output_lock_lives_beside_the_file(tmp_path):
    assert lock_path(tmp_path / "pred.tif", folder=False) == tmp_path / ".pred.tif.lock"
    with output_lock(tmp_path / "pred.tif", "farmannot predict", folder=False):
        res = run("predict", tmp_path, tmp_path / "scene.tif", "--output", tmp_path / "pred.tif", "--no-progress")
        assert_failed_cleanly(res, "pred.tif", "in use by another run")


def test_build_into_a_folder_in_use_is_refused_and_writes_nothing(tmp_path):
    project = make_project(tmp_path / "project", scenes=[("a1", "north")], dem_for=None)
    out = tmp_path / "ds"
    with output_lock(out, "farmannot build-dataset"):
        res = run("build-dataset", project, "--output", out, "--tile-size", 32, "--split", "1:0:0", "--no-progress")
        line = assert_failed_cleanly(res, str(out), f"pid {os.getpid()}")
        assert "wait for it to finish" in line
    assert sorted(p.name for p in out.iterdir()) == []


@pytest.mark.slow
def test_second_process_refused_then_dead_holder_taken_over(tmp_path):
    project = make_project(tmp_path / "project", scenes=[("a1", "north"), ("b1", "east")], dem_for=None)
    out = tmp_path / "ds"
    holder = _holder(out)
    try:
        proc = run_process("build-dataset", project, "--output", out, "--tile-size", 32, "--split", "1:0:0",
                           "--no-progress")
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
        assert f"pid {holder.pid}" in line and "test holder" in line
        assert not (out / "manifest.parquet").exists()
    finally:
        os.kill(holder.pid, signal.SIGKILL)                  # dies holding the lock: the file stays behind
        holder.wait()
    assert (out / LOCK_NAME).exists()
    (out / ".card.k1l2m3n4.tmp.png").write_bytes(b"")      # a 0-byte plot a killed run left
    proc = run_process("build-dataset", project, "--output", out, "--tile-size", 32, "--split", "1:0:0",
                       "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert f"taking over the lock left by a run that ended without releasing it (pid {holder.pid}" in proc.stderr
    assert "removed 1 temporary file(s)" in proc.stderr
    assert not (out / LOCK_NAME).exists()
    assert not [p for p in out.rglob("*") if is_temporary(p.name)]
    n, bad = _consistent(out)
    assert n == 8 and bad == []


@pytest.mark.slow
def test_two_builds_started_together_never_mix_one_folder(tmp_path):
    project = make_project(tmp_path / "project", dem_for=None)
    out = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "farmannot", "build-dataset", str(project), "--output", str(out),
                               "--tile-size", str(size), "--group-by", "scene", "--no-progress"],
                              stderr=subprocess.PIPE, text=True, env=env) for size in (32, 16)]
    results = [(p.wait(timeout=240), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    refused = [err for rc, err in results if rc == 1]
    assert codes in ([0, 0], [0, 1]), results
    for err in refused:                                      # the loser says why, in one line
        assert "in use by another run" in err and "Traceback" not in err
    n, bad = _consistent(out)
    assert bad == [] and n > 0
    df = pd.read_parquet(out / "manifest.parquet")
    assert df["width"].nunique() == 1                       # the tiles of one build, not a mix
    files = {p.relative_to(out).as_posix() for p in out.glob("gtpbd-mm/*/mask/*.png")}
    listed = {rel for sums in df["checksums"] for rel in json.loads(sums) if "/mask/" in rel and "gtpbd" in rel}
    assert files == listed                                   # no stray tiles of the other build


@pytest.mark.parametrize("command", ["train", "audit", "evaluate", "export-vectors", "propose"])
def test_every_locking_command_refuses_an_output_in_use(tmp_path, command):
    folder = command in ("train", "audit", "evaluate")
    out = tmp_path / ("out" if folder else "out.json")
    (tmp_path / "in").mkdir()
    args = {"train": ["train", tmp_path / "in"], "audit": ["audit", tmp_path / "in"],
            "evaluate": ["evaluate", "--pred", tmp_path / "in", "--gt", tmp_path / "in"],
            "export-vectors": ["export-vectors", tmp_path / "in"], "propose": ["propose", tmp_path / "s.tif"]}[command]
    with output_lock(out, "farmannot holder", folder=folder):
        assert_failed_cleanly(run(*args, "--output", out), str(out), "in use by another run", "farmannot holder")
