"""--keep-going holds when a worker process is killed (as the kernel does when memory runs out)."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pandas as pd
import pytest
from clirun import (
    assert_kept_going,
    error_logs,  # noqa: F401 - an autouse fixture
    run,
)
from projectgen import make_project

from farmannot.dataset import build as build_mod
from farmannot.dataset import scene as scene_mod

_real_build_scene = scene_mod.build_scene


def dying_build_scene(job, cfg, out, on_tile=None):
    """build_scene, except that the worker building scene b1 is killed with SIGKILL."""
    if job.name == "b1":
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_build_scene(job, cfg, out, on_tile)


@pytest.mark.slow
@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="the patch reaches workers by fork")
def test_a_killed_worker_fails_its_scene_only(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project", scenes=[("a1", "north"), ("b1", "north"), ("c1", "north")],
                           dem_for=None)
    dying_build_scene.__module__ = scene_mod.__name__          # pickled by name: farmannot.dataset.scene
    dying_build_scene.__qualname__ = "build_scene"
    monkeypatch.setattr(scene_mod, "build_scene", dying_build_scene)
    monkeypatch.setattr(build_mod, "build_scene", dying_build_scene)
    out = tmp_path / "ds"
    res = run("build-dataset", project, "--output", out, "--tile-size", 32, "--split", "1:0:0", "--workers", 2,
              "--keep-going", "--no-progress")
    lines = assert_kept_going(res, "b1.tif")
    assert "worker process building this scene died" in " ".join(lines)
    df = pd.read_parquet(out / "manifest.parquet")
    assert sorted(set(df["scene"])) == ["a1", "c1"] and len(df) == 8
