"""One error path: every failure is one line naming the file; --keep-going keeps the good inputs."""

from __future__ import annotations

import errno
import json
import os

import pandas as pd
import pytest
from clirun import (
    assert_failed_cleanly,
    assert_kept_going,
    error_logs,  # noqa: F401 - an autouse fixture
    run,
    run_process,
)
from corpus import mask_bomb_annotation, nan_vertex_annotation, nested_json, truncated_tif
from projectgen import make_project, write_scene

BAD = {"nested": nested_json, "bomb": mask_bomb_annotation, "nanvertex": nan_vertex_annotation}


def _bad_project(root):
    project = make_project(root / "project", scenes=[("a1", "north"), ("b1", "east")], dem_for=None)
    lines = (project / "scenes.csv").read_text().splitlines()
    for i, (name, make) in enumerate(BAD.items()):
        write_scene(project / "scenes" / f"{name}.tif", seed=10 + i)
        lines.append(f"{name}.tif,north,2021-05-15,")
        if make is nested_json:
            make(project / "annotations" / f"{name}.json")
        else:
            make(project / "annotations" / f"{name}.json", f"../scenes/{name}.tif")
    (project / "scenes.csv").write_text("\n".join(lines) + "\n")
    return project


@pytest.mark.slow
def test_build_dataset_keep_going_survives_hostile_annotations(tmp_path):
    project = _bad_project(tmp_path)
    out = tmp_path / "ds"
    res = run("build-dataset", project, "--output", out, "--tile-size", 32, "--split", "1:0:0",
              "--keep-going", "--no-progress")
    assert_kept_going(res, *(f"{name}.json" for name in BAD))
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert sorted(set(manifest["scene"])) == ["a1", "b1"]
    assert len(manifest) == 2 * 4                            # 64 px scenes, 32 px tiles: every good tile
    errors = json.loads((out / "errors.json").read_text())
    assert sorted(e["scene"] for e in errors) == sorted(BAD)
    assert all("internal error" not in e["reason"] for e in errors), errors


@pytest.mark.parametrize("name", sorted(BAD))
def test_build_dataset_stops_on_a_hostile_annotation_with_one_line(tmp_path, name):
    project = make_project(tmp_path / "project", scenes=[("a1", "north")], dem_for=None)
    write_scene(project / "scenes" / "x.tif", seed=3)
    with open(project / "scenes.csv", "a") as fh:
        fh.write("x.tif,north,2021-05-15,\n")
    if name == "nested":
        nested_json(project / "annotations" / "x.json")
    else:
        BAD[name](project / "annotations" / "x.json", "../scenes/x.tif")
    res = run("build-dataset", project, "--output", tmp_path / "ds", "--tile-size", 32, "--split", "1:0:0",
              "--no-progress")
    assert_failed_cleanly(res, "x.json")


def test_caption_keep_going_prints_the_good_annotation(tmp_path):
    project = make_project(tmp_path / "project", scenes=[("a1", "north")], dem_for=None)
    ann = project / "annotations"
    nested_json(ann / "deep.json")
    mask_bomb_annotation(ann / "bomb.json", "../scenes/a1.tif")
    res = run("caption", ann, "--json", "--date", "2021-05-15", "--keep-going", "--no-progress", "--allow-outside")
    assert_kept_going(res, "deep.json", "bomb.json")
    (rec,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert rec["path"].endswith("a1.json") and rec["text"]["en"]


def test_prompts_keep_going_writes_every_good_scene_and_no_part_of_a_bad_one(tmp_path):
    write_scene(tmp_path / "good.tif", seed=0)
    truncated_tif(tmp_path / "cut.tif")
    out = tmp_path / "p.jsonl"
    res = run("prompts", tmp_path / "good.tif", tmp_path / "cut.tif", "--tile-size", 32, "--output", out,
              "--keep-going")
    assert_kept_going(res, "cut.tif")
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["source"] for r in recs} == {str(tmp_path / "good.tif")}
    assert len(recs) == 4 * 2                       # 4 tiles x vegetation, water (building needs SWIR)
    report = json.loads((tmp_path / "p.jsonl.errors.json").read_text())
    assert [e["file"] for e in report] == [str(tmp_path / "cut.tif")]


def test_disk_full_is_one_line_naming_the_output(tmp_path, monkeypatch):
    write_scene(tmp_path / "good.tif", seed=0)
    out = tmp_path / "p.jsonl"
    real = os.replace

    def full(src, dst, *a, **k):
        if str(dst) == str(out):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", full)
    res = run("prompts", tmp_path / "good.tif", "--tile-size", 32, "--output", out)
    line = assert_failed_cleanly(res, "p.jsonl")
    assert "no space left" in line
    assert not out.exists() and not list(tmp_path.glob(".p.*"))


def test_unexpected_error_is_one_line_with_the_traceback_file(tmp_path, monkeypatch):
    import farmannot.spectral.scene as spectral_scene

    def bug(*a, **k):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(spectral_scene, "scene_prompt_records", bug)
    import farmannot.cli.prompts as prompts_cli

    monkeypatch.setattr(prompts_cli, "scene_prompt_records", bug)
    write_scene(tmp_path / "good.tif", seed=0)
    res = run("prompts", tmp_path / "good.tif", "--output", tmp_path / "p.jsonl")
    line = assert_failed_cleanly(res, "good.tif", "internal error TypeError")
    (log,) = (tmp_path / "error-logs").iterdir()            # FARMANNOT_LOG_DIR of the error_logs fixture
    assert str(log) in line
    assert "Traceback" in log.read_text() and "unsupported operand" in log.read_text()


@pytest.mark.slow
def test_real_process_stderr_has_no_traceback(tmp_path):
    truncated_tif(tmp_path / "cut.tif")
    proc = run_process("prompts", tmp_path / "cut.tif", env={"FARMANNOT_LOG_DIR": str(tmp_path / "logs")})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "cut.tif" in lines[0], proc.stderr


def test_export_vectors_keep_going_exports_the_good_annotation(tmp_path):
    import pyogrio

    project = make_project(tmp_path / "project", scenes=[("a1", "north")], dem_for=None)
    ann = project / "annotations"
    nested_json(ann / "deep.json")
    nan_vertex_annotation(ann / "nan.json", "../scenes/a1.tif")
    out = tmp_path / "parcels.gpkg"
    res = run("export-vectors", ann, "--output", out, "--allow-outside", "--keep-going", "--no-progress")
    assert res.exit_code == 1 and "Traceback" not in res.stderr, res.output
    assert "2 annotation(s) failed" in res.stderr and "deep.json" in res.stderr and "nan.json" in res.stderr
    assert len(pyogrio.read_dataframe(out)) == 4              # the good annotation's four parcels
    res = run("export-vectors", ann, "--output", tmp_path / "again.gpkg", "--allow-outside", "--no-progress")
    assert_failed_cleanly(res, "deep.json")
    assert not (tmp_path / "again.gpkg").exists()


def test_verbose_shows_the_traceback_instead(tmp_path):
    from farmannot.errors import InputError

    truncated_tif(tmp_path / "cut.tif")
    res = run("-v", "prompts", tmp_path / "cut.tif")
    assert res.exit_code == 1 and isinstance(res.exception, InputError)
    assert "cut.tif" in str(res.exception)
