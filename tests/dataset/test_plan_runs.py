"""Each planning run of a scene writes its units' plans in a folder of its own: two runs of one scene never touch
each other's files, a finished scene removes only its own run's, and a killed run's folder is removed when the
next build starts and never read. GDAL's block cache is found once per scene and set only by the reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from projectgen import SHAPES, make_project, tree, write_annotation
from rasterio.windows import Window

from farmannot.dataset import scene as scene_mod
from farmannot.dataset.build import build_dataset
from farmannot.dataset.config import load_config
from farmannot.dataset.project import discover_scenes
from farmannot.dataset.units import StoredPlan, remove_run
from farmannot.io.labelme_json import load_annotation
from farmannot.labels.rasterize import plan_labels, tile_labels

UNITS = {"tile_size": 16, "card": False}  # 64 px scenes: 4 x 4 windows in 4 units


def scene_job(project: Path, cfg, name: str):
    jobs, errors = discover_scenes(project, cfg)
    assert not errors
    return dataclasses.replace(next(j for j in jobs if j.name == name), split="train")


def files(folder: str | Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Path(folder).iterdir()}


def test_two_planning_runs_of_a_scene_never_touch_each_others_files(tmp_path):
    """A scene planned again while its first run's plans are in use (a Dask worker lost reruns the planning
    task): the second run neither deletes nor rewrites the first's files, and a third run, built and finished
    (``build_scene``), removes its own folder only. The first run's plans still draw, tile by tile, the labels
    of the annotation read by labelme and planned whole in memory."""
    project = make_project(tmp_path / "p", scenes=[("a1", "north")], dem_for=None)
    cfg = load_config(None, UNITS)
    job = scene_job(project, cfg, "a1")
    out = tmp_path / "out"
    scene_dir = out / ".farmannot" / "plans" / "a1"
    first = scene_mod.plan_scene(job, cfg, str(out))
    before = files(first.plans_dir)
    assert len(before) == len(first.units) == 4 and {p.folder for p in first.plans} == {first.plans_dir}
    second = scene_mod.plan_scene(job, cfg, str(out))
    assert Path(first.plans_dir).parent == Path(second.plans_dir).parent == scene_dir
    assert first.plans_dir != second.plans_dir and files(first.plans_dir) == before
    assert sorted(files(second.plans_dir)) == sorted(before)  # the same units' files, in a folder of its own

    scene_mod.build_scene(job, cfg, str(out))  # a third run: planned, built, finished
    assert sorted(p.name for p in scene_dir.iterdir()) == sorted(Path(r.plans_dir).name for r in (first, second))
    remove_run(second.plans_dir)  # what finish_scene does with the run its scene was planned by
    assert files(first.plans_dir) == before and scene_dir.is_dir()

    whole = plan_labels(load_annotation(project / "annotations" / "a1.json").shapes, 64, 64, cfg.label_map)
    for unit, stored in zip(first.units, first.plans):
        plan = stored.load()
        for rect in unit.rects:
            got, ref = tile_labels(plan, Window(*rect), cfg.boundary_width), \
                tile_labels(whole, Window(*rect), cfg.boundary_width)
            np.testing.assert_array_equal(got.mask, ref.mask)
            np.testing.assert_array_equal(got.boundary, ref.boundary)
            np.testing.assert_array_equal(got.parcel, ref.parcel)


def test_a_killed_runs_plans_are_removed_when_the_next_build_starts_and_never_read(tmp_path, monkeypatch):
    """The plans of a run killed mid-build (here: of an edited annotation, its parcels moved, for the same scene
    and units) are gone before any scene of the next build is planned, no unit reads them, and the dataset is
    byte for byte the one a build into an empty folder gives."""
    project = make_project(tmp_path / "p", scenes=[("a1", "north"), ("b1", "north")], dem_for=None)
    cfg = load_config(None, {**UNITS, "split": "1:0:0"})
    build_dataset(project, tmp_path / "ref", cfg, progress=False)
    edited = make_project(tmp_path / "edited", scenes=[("a1", "north")], dem_for=None)
    moved = [{**s, "points": [[min(63, x + 9), y] for x, y in s["points"]]} for s in SHAPES]
    write_annotation(edited / "annotations" / "a1.json", "../scenes/a1.tif", shapes=moved)
    out = tmp_path / "out"
    stale = Path(scene_mod.plan_scene(scene_job(edited, cfg, "a1"), cfg, str(out)).plans_dir)
    assert len(files(stale)) == 4

    real_plan, real_load = scene_mod.plan_scene, StoredPlan.load
    stale_seen, loaded = [], []

    def plan(job, cfg_, out_dir):
        stale_seen.append(stale.exists())
        return real_plan(job, cfg_, out_dir)

    def load(self):
        loaded.append(Path(self.folder))
        return real_load(self)

    monkeypatch.setattr(scene_mod, "plan_scene", plan)
    monkeypatch.setattr(StoredPlan, "load", load)
    build_dataset(project, out, cfg, progress=False)
    assert stale_seen == [False, False]
    assert len(loaded) == 8 and stale not in loaded and all(p.parent.parent == stale.parent.parent for p in loaded)
    assert tree(out) == tree(tmp_path / "ref")
    assert not (out / ".farmannot" / "plans").exists()


def test_the_block_cache_is_found_once_per_scene_and_set_by_its_reads_only(tmp_path, monkeypatch):
    """GDAL's block cache is process-wide (Dask workers run tasks in threads): the planning, which reads the
    raster's header only, leaves it alone; the scene's size is found once, in look_scene (64 px of 4 uint8
    bands: the 8 MB floor), and each unit sets that size without opening the raster again to find it."""
    project = make_project(tmp_path / "p", scenes=[("a1", "north")], dem_for=None)
    cfg = load_config(None, UNITS)
    job = scene_job(project, cfg, "a1")
    sizes, opened = [], []
    real_cache, real_open = scene_mod.block_cache, scene_mod.open_raster
    monkeypatch.setattr(scene_mod, "block_cache", lambda mb: sizes.append(mb) or real_cache(mb))
    monkeypatch.setattr(scene_mod, "open_raster", lambda p: opened.append(p) or real_open(p))
    labels = scene_mod.plan_scene(job, cfg, str(tmp_path / "out"))
    assert sizes == [] and len(opened) == 1
    look = scene_mod.look_scene(job, cfg)
    assert look.cache_mb == 8 and sizes == [8]
    prep = scene_mod.combine("fp", labels, look)
    sizes.clear()
    opened.clear()
    for unit, stored in zip(prep.units, prep.plans):
        scene_mod.build_unit(job, cfg, str(tmp_path / "out"), prep.shared, unit, stored)
    assert sizes == [8] * 4 and len(opened) == 4
