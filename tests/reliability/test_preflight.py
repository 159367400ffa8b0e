"""Checks at the start: an output that cannot be written or a full disk is found before the long work."""

from __future__ import annotations

import shutil
from collections import namedtuple

from clirun import (
    assert_failed_cleanly,
    error_logs,  # noqa: F401 - an autouse fixture
    run,
)
from projectgen import make_project, write_scene


def test_predict_refuses_an_unwritable_output_before_loading_the_model(tmp_path):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "run").mkdir()                                # no checkpoint: loading it would fail differently
    write_scene(tmp_path / "scene.tif", seed=0)
    line = assert_failed_cleanly(run("predict", tmp_path / "run", tmp_path / "scene.tif", "--output",
                                     tmp_path / "afile" / "pred.tif", "--no-progress"), "afile")
    assert "checkpoint" not in line.lower()
    line = assert_failed_cleanly(run("predict", tmp_path / "run", tmp_path / "scene.tif", "--output",
                                     tmp_path / "pred.tif", "--polygons", tmp_path / "afile" / "p.json",
                                     "--no-progress"), "p.json", "cannot write")
    assert not (tmp_path / "pred.tif").exists()


def test_evaluate_refuses_an_unwritable_report_folder_first(tmp_path):
    (tmp_path / "afile").write_text("x")
    for d in ("pred", "gt"):
        (tmp_path / d).mkdir()
    assert_failed_cleanly(run("evaluate", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt", "--output",
                              tmp_path / "afile" / "report"), "afile")


def test_build_refuses_a_disk_without_room_before_any_tile(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project", scenes=[("a1", "north")], dem_for=None)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 4096, 4096))
    out = tmp_path / "ds"
    line = assert_failed_cleanly(run("build-dataset", project, "--output", out, "--tile-size", 32, "--split",
                                     "1:0:0", "--no-progress"), str(out), "4.0 KiB free on its disk")
    assert "4 tile(s) in 4 layout(s)" in line
    assert [p.name for p in out.rglob("*") if p.is_file()] == []


def test_a_command_failing_after_its_start_up_checks_leaves_no_empty_folder_it_created(tmp_path):
    (tmp_path / "run").mkdir()                                # no checkpoint: fails after the checks
    write_scene(tmp_path / "scene.tif", seed=0)
    assert_failed_cleanly(run("predict", tmp_path / "run", tmp_path / "scene.tif", "--output",
                              tmp_path / "out" / "pred.tif", "--polygons", tmp_path / "drafts" / "sub" / "p.json",
                              "--no-progress"))
    assert not (tmp_path / "out").exists() and not (tmp_path / "drafts").exists()
    (tmp_path / "drafts").mkdir()                             # the user's folder: kept
    assert_failed_cleanly(run("predict", tmp_path / "run", tmp_path / "scene.tif", "--output",
                              tmp_path / "drafts" / "pred.tif", "--polygons", tmp_path / "drafts" / "p.json",
                              "--no-progress"))
    assert (tmp_path / "drafts").is_dir() and not any((tmp_path / "drafts").iterdir())
