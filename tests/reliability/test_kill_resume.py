"""kill -9 at chosen moments (inside an atomic write of a tile, the manifest, a card plot), then the same
command again: the result is byte-identical to an uninterrupted build and no temporary file is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from clirun import (
    REPO,
    error_logs,  # noqa: F401 - an autouse fixture
    run,
)
from projectgen import make_project

from farmannot.io.atomic import is_temporary

# Kill this process with SIGKILL inside the atomic write of the file named argv[1] (after its temporary file
# exists), then run `farmannot argv[2:]`.
KILLER = """
import contextlib, os, signal, sys
import farmannot.io.atomic as atomic
real, target = atomic.atomic_path, sys.argv[1]

@contextlib.contextmanager
def killing(path):
    with real(path) as tmp:
        if os.path.basename(str(path)) == target:
            os.kill(os.getpid(), signal.SIGKILL)
        yield tmp

atomic.atomic_path = killing
from farmannot.cli.main import cli
cli(sys.argv[2:])
"""


def _tree(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def clean_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    project = make_project(root / "project", scenes=[("a1", "north"), ("b1", "east"), ("c1", "south")],
                           dem_for=None)
    args = ["build-dataset", project, "--tile-size", 32, "--group-by", "scene", "--split", "1:1:1", "--no-progress"]
    res = run(*args, "--output", root / "ds")
    assert res.exit_code == 0, res.output
    return args, _tree(root / "ds")


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["b1_0_32.png", "manifest.parquet", "split_map.png"])
def test_kill_9_then_rerun_gives_the_same_bytes(clean_build, tmp_path, moment):
    args, ref = clean_build
    out = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    proc = subprocess.run([sys.executable, "-c", KILLER, moment, *map(str, args), "--output", str(out)],
                          capture_output=True, text=True, env=env, timeout=240, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = [p.name for p in out.rglob("*") if is_temporary(p.name)]
    assert left, "the kill should leave the temporary file of the write it interrupted"
    res = run(*args, "--output", out)
    assert res.exit_code == 0, res.output
    assert "taking over the lock" in res.stderr
    assert _tree(out) == ref


@pytest.mark.slow
def test_sigterm_mid_write_leaves_no_temporary_file_and_no_lock(clean_build, tmp_path):
    args, ref = clean_build
    out = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    script = KILLER.replace("signal.SIGKILL", "signal.SIGTERM")
    proc = subprocess.run([sys.executable, "-c", script, "manifest.parquet", *map(str, args), "--output", str(out)],
                          capture_output=True, text=True, env=env, timeout=240, check=False)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not [p for p in out.rglob("*") if is_temporary(p.name) or p.name == ".farmannot.lock"]
    res = run(*args, "--output", out)
    assert res.exit_code == 0 and "taking over" not in res.stderr, res.output
    assert _tree(out) == ref


def test_a_killed_annotation_save_is_not_read_as_an_annotation(tmp_path):
    project = make_project(tmp_path / "project", scenes=[("a1", "north")], dem_for=None)
    ann = project / "annotations"
    (ann / ".a1.q7w8e9r0.tmp.json").write_text((ann / "a1.json").read_text()[:100])   # a save cut short
    res = run("build-dataset", project, "--output", tmp_path / "ds", "--tile-size", 32, "--split", "1:0:0",
              "--no-progress")
    assert res.exit_code == 0, res.output
    res = run("caption", ann, "--allow-outside", "--date", "2021-05-15", "--no-progress")
    assert res.exit_code == 0, res.output
    assert ".tmp.json" not in res.stdout and "q7w8e9r0" not in res.stderr
    res = run("export-vectors", ann, "--output", tmp_path / "p.gpkg", "--allow-outside", "--no-progress")
    assert res.exit_code == 0, res.output
