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

from farmannot.dataset import scene as scene_mod
from farmannot.dataset import scheduler as scheduler_mod

_real_plan_scene = scene_mod.plan_scene


def dying_plan_scene(job, cfg, *args):
    """plan_scene (a worker's first task for a scene), except that the worker planning b1 is killed."""
    if job.name == "b1":
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_plan_scene(job, cfg, *args)


@pytest.mark.slow
@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="the patch reaches workers by fork")
def test_a_killed_worker_fails_its_scene_only(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project", scenes=[("a1", "north"), ("b1", "north"), ("c1", "north")],
                           dem_for=None)
    dying_plan_scene.__module__ = scene_mod.__name__          # pickled by name: farmannot.dataset.scene
    dying_plan_scene.__qualname__ = "plan_scene"
    monkeypatch.setattr(scene_mod, "plan_scene", dying_plan_scene)
    monkeypatch.setattr(scheduler_mod, "plan_scene", dying_plan_scene)
    out = tmp_path / "ds"
    res = run("build-dataset", project, "--output", out, "--tile-size", 32, "--split", "1:0:0", "--workers", 2,
              "--keep-going", "--no-progress")
    lines = assert_kept_going(res, "b1.tif")
    assert "worker process building this scene died" in " ".join(lines)
    df = pd.read_parquet(out / "manifest.parquet")
    assert sorted(set(df["scene"])) == ["a1", "c1"] and len(df) == 8
