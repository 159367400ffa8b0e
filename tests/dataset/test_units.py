"""Work units inside a scene: the same labels from a unit's shapes as from all of them, every window in one
unit, the same bytes on 1 worker, 2 workers and a Dask cluster, and resume of a scene cut into units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from projectgen import make_project, tree

from farmannot.dataset import scene as scene_mod
from farmannot.dataset.build import build_dataset
from farmannot.dataset.config import load_config
from farmannot.dataset.units import UnitPlanStore, remove_plans, remove_run, scene_units, unit_shapes, unit_window
from farmannot.io.labelme_json import load_annotation
from farmannot.io.windows import tile_windows
from farmannot.labels.rasterize import LabelPlan, LabelPlanner, plan_labels, tile_labels

SAMPLE = "LC08_L1TP_224078_20200518_20200518_01_RT_subset"
# 64 px scenes in 16 px tiles: 4 x 4 windows, cut into units of 3 x 3, 3 x 1, 1 x 3 and 1 x 1 windows
UNITS = {"tile_size": 16, "card": False}


def unit_plans(plan: LabelPlan, units, pad: int) -> list[LabelPlan]:
    """Each unit's plan cut from the scene's whole plan in memory: the shapes :func:`unit_shapes` gives it."""
    unit_i, shape_i = unit_shapes(plan.drawing.bounds, units, pad)
    cut = np.searchsorted(unit_i, np.arange(len(units) + 1))
    return [plan.subset(shape_i[cut[k]:cut[k + 1]]) for k in range(len(units))]


@pytest.mark.parametrize("width, height, tile, overlap", [(64, 64, 16, 0), (70, 41, 16, 4), (768, 768, 256, 0),
                                                          (10, 10, 32, 0)])
def test_every_window_in_exactly_one_unit_inside_its_bounds(width, height, tile, overlap):
    windows = tile_windows(width, height, tile, overlap)
    units = scene_units(width, height, tile, overlap)
    got = sorted(i for u in units for i in u.windows)
    assert got == list(range(len(windows)))
    for u in units:
        box = unit_window(u)
        assert len(u.rects) == len(u.windows) <= 9
        for i, rect in zip(u.windows, u.rects):
            w = windows[i]
            assert rect == (w.col_off, w.row_off, w.width, w.height)  # the unit's own copy of its windows
            assert box.col_off <= w.col_off and w.col_off + w.width <= box.col_off + box.width
            assert box.row_off <= w.row_off and w.row_off + w.height <= box.row_off + box.height


@pytest.mark.parametrize("tile, unit_tiles, pad", [(128, 3, 1), (96, 2, 2)])
def test_unit_shapes_draw_the_same_labels_as_all_shapes(sample_data, tile, unit_tiles, pad):
    """The real Landsat sample (826 shapes, touching parcels): each tile's mask, boundary and parcel ids from its
    unit's shapes equal those from the whole plan, and a unit holds far fewer shapes than the scene."""
    ann = load_annotation(sample_data / "annotations" / f"{SAMPLE}.json")
    plan = plan_labels(ann.shapes, 768, 768)
    units = scene_units(768, 768, tile, 0, unit_tiles)
    plans = unit_plans(plan, units, pad)
    windows = tile_windows(768, 768, tile)
    assert len(units) > 1
    for unit, sub in zip(units, plans):
        assert 0 < len(sub.drawing) < len(plan.drawing)
        for i in unit.windows:
            whole, part = tile_labels(plan, windows[i], pad), tile_labels(sub, windows[i], pad)
            np.testing.assert_array_equal(part.mask, whole.mask)
            np.testing.assert_array_equal(part.boundary, whole.boundary)
            np.testing.assert_array_equal(part.parcel, whole.parcel)
            assert part.parcel_scene_ids == whole.parcel_scene_ids
    # a shape crossing a unit edge goes to both units, but the units together stay near the scene's count
    assert sum(len(p.drawing) for p in plans) < 1.5 * len(plan.drawing)


def _stored_plans(sample_data, out: Path, tile: int, pad: int):
    """The Landsat sample streamed as build-dataset reads it, in batches of 100 shapes, into its units' files
    (a buffer of 20 kB: several files per unit); the whole plan beside it, as the reference."""
    from farmannot.io.labelme_stream import stream_annotation

    path = sample_data / "annotations" / f"{SAMPLE}.json"
    units = scene_units(768, 768, tile, 0)
    planner = LabelPlanner(768, 768, keep=False)
    store = UnitPlanStore(out, "scene", units, pad, buffer_bytes=20_000)
    stream_annotation(path, lambda shapes, _first: store.add(planner.add(shapes)), batch=100)
    whole = plan_labels(load_annotation(path).shapes, 768, 768)
    assert planner.parts == [] and planner.finish().n_parcels == whole.n_parcels  # it kept no shapes
    return units, store.finish(768, 768, planner.n_ids), whole


def test_a_units_stored_plan_is_the_whole_plans_shapes_that_meet_it(sample_data, tmp_path):
    """Each unit's plan, written while the annotation streams, holds exactly the shapes of the whole plan whose
    pixel bounds meet the unit's area grown by the boundary margin (found here by comparing bounds), with the
    same vertices, values and parcel ids in file order; its tiles' masks are labelme's ``shapes_to_label``."""
    from labelme.utils.shape import shapes_to_label

    pad = 1
    units, stored, whole = _stored_plans(sample_data, tmp_path, 128, pad)
    raw = json.loads((sample_data / "annotations" / f"{SAMPLE}.json").read_text())
    cls, _ = shapes_to_label((768, 768), [{**s, "mask": None} for s in raw["shapes"]],
                             {"farmland": 1, "_background_": 0})
    b = whole.drawing.bounds
    windows = tile_windows(768, 768, 128)
    assert max(s.parts for s in stored) > 1
    for unit, ref in zip(units, stored):
        c0, r0, c1, r1 = unit.bounds
        meet = np.flatnonzero((b[:, 2] >= c0 - pad) & (b[:, 0] <= c1 - 1 + pad)
                              & (b[:, 3] >= r0 - pad) & (b[:, 1] <= r1 - 1 + pad))
        plan = ref.load()
        assert 0 < len(meet) < len(whole.drawing)
        assert plan.drawing.kinds == [whole.drawing.kinds[i] for i in meet]
        for got, i in zip(plan.drawing.coords, meet):
            np.testing.assert_array_equal(got, whole.drawing.coords[i])
        np.testing.assert_array_equal(plan.drawing.bounds, b[meet])
        assert plan.values == [whole.values[i] for i in meet]
        assert plan.parcel_ids == [whole.parcel_ids[i] for i in meet]
        assert (plan.width, plan.height, plan.n_parcels) == (768, 768, whole.n_parcels)
        for i in unit.windows:
            np.testing.assert_array_equal(tile_labels(plan, windows[i], pad).mask, cls[windows[i].toslices()])


def test_no_file_holds_the_whole_scenes_shapes(sample_data, tmp_path):
    """The units' files each hold only shapes that meet their unit (so a unit's file, and the process that
    reads it, follows the unit's area): none holds every shape, and together they hold each shape that meets a
    unit, a shape on a unit edge in both, under 1.5 times the scene's count. Pickled to a worker, a unit's plan
    is its file's name, not its shapes."""
    import pickle

    pad = 1
    units, stored, whole = _stored_plans(sample_data, tmp_path, 128, pad)
    run = Path(stored[0].folder)
    assert run.parent == tmp_path / ".farmannot" / "plans" / "scene" and {s.folder for s in stored} == {str(run)}
    files = sorted(run.iterdir())
    assert len(files) == sum(s.parts for s in stored) > len(units)
    held = 0
    for f in files:
        k = int(f.name.split(".")[0])
        c0, r0, c1, r1 = units[k].bounds
        with np.load(f) as z:
            b = z["bounds"]
            assert 0 < len(b) < len(whole.drawing) and len(z["kind"]) == len(b)
            assert ((b[:, 2] >= c0 - pad) & (b[:, 0] <= c1 - 1 + pad) & (b[:, 3] >= r0 - pad)
                    & (b[:, 1] <= r1 - 1 + pad)).all()
            held += len(b)
    assert len(whole.drawing) < held < 1.5 * len(whole.drawing)
    assert all(len(pickle.dumps(s)) < 500 for s in stored)
    remove_run(run)
    assert not run.exists() and (tmp_path / ".farmannot" / "plans" / "scene").is_dir()  # the shared folders stay
    remove_plans(tmp_path)
    assert not (tmp_path / ".farmannot" / "plans").exists()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("units")
    project = make_project(root / "project")
    out = root / "one"
    build_dataset(project, out, load_config(None, UNITS), progress=False)
    return project, tree(out)


@pytest.mark.slow
def test_two_workers_and_a_dask_cluster_give_the_same_bytes_as_one(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    project, ref = reference
    assert any(k.startswith("gtpbd-mm/") for k in ref) and "manifest.parquet" in ref
    assert not any(k.startswith(".farmannot/units") for k in ref)    # unit records go when the scene is done
    assert not any(k.startswith(".farmannot/plans") for k in ref)    # so do the units' plans
    build_dataset(project, tmp_path / "two", load_config(None, {**UNITS, "workers": 2}), progress=False)
    assert tree(tmp_path / "two") == ref
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        build_dataset(project, tmp_path / "dask", load_config(None, {**UNITS, "dask_scheduler":
                                                                      cluster.scheduler_address}), progress=False)
    assert tree(tmp_path / "dask") == ref


@pytest.mark.slow
def test_resume_a_scene_cut_into_units(reference, tmp_path, monkeypatch):
    """A crash in a1's third unit: its first two units are recorded, and the rerun builds only the rest."""
    project, ref = reference
    out = tmp_path / "out"
    real = scene_mod._tile
    calls: list[tuple[int, int]] = []

    def crashing(job, cfg, out_, src, info, plan, win, *a, **k):
        if job.name == "a1" and (int(win.row_off), int(win.col_off)) == (48, 0):  # unit 2: the bottom row
            raise RuntimeError("power cut")
        return real(job, cfg, out_, src, info, plan, win, *a, **k)

    monkeypatch.setattr(scene_mod, "_tile", crashing)
    with pytest.raises(RuntimeError, match="power cut"):
        build_dataset(project, out, load_config(None, UNITS), progress=False)
    units = out / ".farmannot" / "units" / "a1"
    assert sorted(p.name for p in units.iterdir()) == ["0.json", "1.json"]
    assert not (out / ".farmannot" / "scenes" / "a1.json").exists()
    assert not (out / ".farmannot" / "plans").exists()  # the failed build's unit plans are not left behind

    def counting(job, cfg, out_, src, info, plan, win, *a, **k):
        if job.name == "a1":
            calls.append((int(win.row_off), int(win.col_off)))
        return real(job, cfg, out_, src, info, plan, win, *a, **k)

    monkeypatch.setattr(scene_mod, "_tile", counting)
    s = build_dataset(project, out, load_config(None, UNITS), progress=False)
    assert sorted(calls) == [(48, 0), (48, 16), (48, 32), (48, 48)]   # units 2 and 3 only
    assert s.unchanged >= 9 * 4                                      # units 0 and 1: every file kept
    assert tree(out) == ref
    assert not (out / ".farmannot" / "units").exists()  # the unit records go once the scene is done


@pytest.mark.slow
def test_bad_scenes_give_the_same_errors_on_1_and_2_workers_and_dask(tmp_path):
    """--keep-going with bad scenes: the same errors.json and dataset bytes whoever runs the work. Scene a1 is
    bad twice (a label not in the label map, and a DEM without CRS): the annotation's error is the one
    reported, though on 2 workers its raster half is prepared by another process at the same time."""
    distributed = pytest.importorskip("distributed")
    from projectgen import SHAPES, write_annotation, write_dem

    project = make_project(tmp_path / "p", scenes=[("a1", "north"), ("a2", "north"), ("ok", "north")],
                           dem_for=None)
    write_annotation(project / "annotations" / "a1.json", "../scenes/a1.tif",
                     shapes=[*SHAPES, {**SHAPES[0], "label": "road"}])
    write_dem(project / "dems" / "a1.tif", crs=None)                  # found by name; no CRS
    moved = [{**s, "points": [[x + 500, y + 500] for x, y in s["points"]]} for s in SHAPES]
    write_annotation(project / "annotations" / "a2.json", "../scenes/a2.tif", shapes=moved)
    cfg = {**UNITS, "split": "1:0:0", "keep_going": True}
    build_dataset(project, tmp_path / "one", load_config(None, cfg), progress=False, echo=lambda s: None)
    ref = tree(tmp_path / "one")
    errors = json.loads(ref["errors.json"])
    assert [e["scene"] for e in errors] == ["a1", "a2"]
    assert "'road'" in errors[0]["reason"] and "outside" in errors[1]["reason"]
    build_dataset(project, tmp_path / "two", load_config(None, {**cfg, "workers": 2}), progress=False,
                  echo=lambda s: None)
    assert tree(tmp_path / "two") == ref
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        build_dataset(project, tmp_path / "dask", load_config(None, {**cfg, "dask_scheduler":
                                                                      cluster.scheduler_address}),
                      progress=False, echo=lambda s: None)
    assert tree(tmp_path / "dask") == ref


@pytest.mark.slow
def test_a_unit_failing_on_dask_is_reported_and_resumed_as_on_one_worker(reference, tmp_path, monkeypatch):
    """On Dask a scene's units are submitted with its preparing tasks; a unit that fails on its own is reported
    with --keep-going as on one worker, and after a failed build the rerun builds only the units not recorded
    (--keep-going removes a failed scene's tiles, so there the units are built again)."""
    distributed = pytest.importorskip("distributed")
    project, ref = reference
    real = scene_mod._tile
    calls: list[tuple[int, int]] = []

    def crashing(job, cfg, out_, src, info, plan, win, *a, **k):
        if job.name == "a1" and (int(win.row_off), int(win.col_off)) == (48, 0):  # unit 2
            raise RuntimeError("power cut")
        return real(job, cfg, out_, src, info, plan, win, *a, **k)

    def counting(job, cfg, out_, src, info, plan, win, *a, **k):
        if job.name == "a1":
            calls.append((int(win.row_off), int(win.col_off)))
        return real(job, cfg, out_, src, info, plan, win, *a, **k)

    def reasons(out: Path) -> list[tuple[str, str]]:
        return [(e["scene"], e["reason"]) for e in json.loads((out / "errors.json").read_text())]

    def dataset(out: Path) -> dict[str, bytes]:
        return {k: v for k, v in tree(out).items() if not k.startswith(".farmannot/units/") and k != "errors.json"}

    monkeypatch.setattr(scene_mod, "_tile", crashing)
    keep = {**UNITS, "keep_going": True}
    build_dataset(project, tmp_path / "one", load_config(None, keep), progress=False, echo=lambda s: None)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        on_dask = {"dask_scheduler": cluster.scheduler_address}
        build_dataset(project, tmp_path / "keep", load_config(None, {**keep, **on_dask}), progress=False,
                      echo=lambda s: None)
        assert reasons(tmp_path / "keep") == reasons(tmp_path / "one")
        assert [s for s, _ in reasons(tmp_path / "one")] == ["a1"] and "power cut" in reasons(tmp_path / "one")[0][1]
        assert dataset(tmp_path / "keep") == dataset(tmp_path / "one")

        cfg = load_config(None, {**UNITS, **on_dask})
        with pytest.raises(RuntimeError, match="power cut"):
            build_dataset(project, tmp_path / "dask", cfg, progress=False)
        done = {int(p.stem) for p in (tmp_path / "dask" / ".farmannot" / "units" / "a1").glob("*.json")}
        assert 2 not in done
        monkeypatch.setattr(scene_mod, "_tile", counting)
        build_dataset(project, tmp_path / "dask", cfg, progress=False)
    # a1 is 64 px in 16 px tiles (4 x 4 windows, row-major): unit 2 is the bottom row's first three windows
    assert {(48, 0), (48, 16), (48, 32)} <= set(calls)
    recorded = {(16 * (i // 4), 16 * (i % 4)) for u in scene_units(64, 64, 16) if u.index in done for i in u.windows}
    assert not recorded & set(calls)                       # a recorded unit is not built again
    assert len(calls) == len(set(calls))
    assert tree(tmp_path / "dask") == ref


@pytest.mark.slow
@pytest.mark.parametrize("keep_going", [False, True])
def test_units_of_a_failed_scene_still_running_on_dask_stop_at_their_tile(reference, tmp_path, monkeypatch,
                                                                          keep_going):
    """A Dask task cannot be stopped. When a1 fails (in its units 1-3, once unit 0 is on its first tile), unit 0
    starts no further tile and writes no record once the scheduler has withdrawn the scene's plans (a unit
    checks before every tile and before its record): nothing of the failed scene lands after the build has
    moved on or ended. Before, unit 0 went on through its nine tiles and recorded them."""
    import threading
    import time

    from farmannot.dataset import scheduler as scheduler_mod

    distributed = pytest.importorskip("distributed")
    project, _ = reference
    real_tile, real_withdraw, real_record = scene_mod._tile, scheduler_mod.remove_scene_plans, scene_mod.write_unit
    unit0_started, withdrawn = threading.Event(), threading.Event()
    late: list[tuple[int, int]] = []
    late_records: list[str] = []

    def slow_or_crashing(job, cfg, out_, src, info, plan, win, *a, **k):
        if job.name == "a1":
            where = (int(win.row_off), int(win.col_off))
            if withdrawn.is_set():
                late.append(where)
            if 48 in where:  # units 1, 2 and 3 (the last row and column of windows) fail once unit 0 runs
                unit0_started.wait(10)
                raise RuntimeError("power cut")
            unit0_started.set()
            time.sleep(0.15)  # unit 0's nine tiles outlast the failure by far
        return real_tile(job, cfg, out_, src, info, plan, win, *a, **k)

    def withdraw(out, scene):
        real_withdraw(out, scene)
        if scene == "a1":
            withdrawn.set()

    def record(path, *a, **k):
        if withdrawn.is_set() and Path(path).parent.name == "a1":
            late_records.append(Path(path).name)
        return real_record(path, *a, **k)

    monkeypatch.setattr(scene_mod, "_tile", slow_or_crashing)
    monkeypatch.setattr(scene_mod, "write_unit", record)
    monkeypatch.setattr(scheduler_mod, "remove_scene_plans", withdraw)
    # four threads: every unit of a1 runs at once, so unit 0 is on its tiles when the others fail
    with distributed.LocalCluster(n_workers=1, threads_per_worker=4, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        cfg = load_config(None, {**UNITS, "keep_going": keep_going, "dask_scheduler": cluster.scheduler_address})
        if keep_going:
            build_dataset(project, tmp_path / "out", cfg, progress=False, echo=lambda s: None)
        else:
            with pytest.raises(RuntimeError, match="power cut"):
                build_dataset(project, tmp_path / "out", cfg, progress=False)
        assert unit0_started.is_set() and withdrawn.is_set()
        time.sleep(9 * 0.15 + 0.5)  # long enough for unit 0 to have run to its end
    # unit 0 may start the one tile it checked for just before the plans went
    assert len(late) <= 1, late
    assert late_records == []
