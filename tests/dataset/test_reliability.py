"""Determinism, resume after a crash or a kill, workers, Dask, and every bad input with and without --keep-going."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rasterio
from click.testing import CliRunner
from projectgen import SHAPES, make_project, tree, write_annotation

from farmannot.cli.main import cli
from farmannot.dataset import scene as scene_mod
from farmannot.dataset.build import build_dataset
from farmannot.dataset.config import load_config
from farmannot.errors import FarmannotError

FAST = {"tile_size": 32, "card": False}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    project = make_project(root / "project")
    out = root / "out"
    build_dataset(project, out, load_config(None, FAST), progress=False)
    return project, out, tree(out)


def test_same_inputs_same_bytes_with_two_workers(reference, tmp_path):
    project, _, ref = reference
    out = tmp_path / "out2"
    build_dataset(project, out, load_config(None, {**FAST, "workers": 2}), progress=False)
    got = tree(out)
    assert got.keys() == ref.keys()
    assert [k for k in ref if got[k] != ref[k]] == []


def test_rerun_skips_finished_scenes_and_repairs_a_damaged_file(reference, tmp_path):
    project, _, ref = reference
    out = tmp_path / "out"
    build_dataset(project, out, load_config(None, FAST), progress=False)
    again = build_dataset(project, out, load_config(None, FAST), progress=False)
    assert again.resumed_scenes == 5 and again.written == 0
    victim = out / "gtpbd-mm" / "train" / "north" / "mask_labels" / "a2_0_0.tif"
    victim.write_bytes(b"garbage")
    third = build_dataset(project, out, load_config(None, FAST), progress=False)
    assert third.resumed_scenes == 4 and third.written == 1     # a2 rebuilt, only the damaged file rewritten
    assert tree(out) == ref


def test_resume_after_a_crash_mid_scene(reference, tmp_path, monkeypatch):
    project, _, ref = reference
    out = tmp_path / "out"
    real = scene_mod._tile
    calls = {"n": 0}

    def crashing(job, *a, **k):
        if job.name == "a3":
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("power cut")
        return real(job, *a, **k)

    monkeypatch.setattr(scene_mod, "_tile", crashing)
    with pytest.raises(RuntimeError, match="power cut"):
        build_dataset(project, out, load_config(None, FAST), progress=False)
    monkeypatch.setattr(scene_mod, "_tile", real)
    assert not (out / ".farmannot" / "scenes" / "a3.json").exists()
    s = build_dataset(project, out, load_config(None, FAST), progress=False)
    assert s.resumed_scenes == 2                               # a1, a2 finished before the crash
    assert 0 < s.unchanged                                     # a3's first two tiles were already there
    assert tree(out) == ref


def test_resume_after_a_killed_process(reference, tmp_path):
    project, _, ref = reference
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", "from farmannot.cli.main import cli; cli()", "build-dataset", str(project),
           "-o", str(out), "--tile-size", "32", "--no-progress"]
    proc = subprocess.Popen(cmd + ["--layout", "farmseg-vl,gtpbd-mm,spie,coco"], stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    deadline = time.time() + 60
    while (time.time() < deadline and proc.poll() is None
           and not (out / ".farmannot" / "scenes" / "a1.json").exists()):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / ".farmannot" / "scenes" / "a1.json").exists()
    assert not (out / "manifest.parquet").exists()
    s = build_dataset(project, out, load_config(None, FAST), progress=False)
    assert s.resumed_scenes >= 1
    assert tree(out) == ref                                   # killed mid-write: no temporary file left over


def test_dask_local_cluster_gives_the_same_dataset(reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    project, _, ref = reference
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        out = tmp_path / "dask"
        s = build_dataset(project, out, load_config(None, {**FAST, "dask_scheduler": cluster.scheduler_address}),
                          progress=False)
    assert s.scenes == 5 and tree(out) == ref


def test_unreachable_dask_scheduler_is_one_clear_error(reference, tmp_path):
    project, _, _ = reference
    with pytest.raises(FarmannotError, match="cannot connect"):
        build_dataset(project, tmp_path / "o", load_config(None, {**FAST, "dask_scheduler": "tcp://127.0.0.1:9",
                                                                  "dask_timeout_s": 1}),
                      progress=False)


# ------------------------------------------------------------------------------------------- bad inputs
def _break(project: Path, kind: str) -> tuple[str, str]:
    """Break scene a1 in one way; return (scene, expected message fragment)."""
    ann = project / "annotations" / "a1.json"
    if kind == "corrupt_tiff":
        tif = project / "scenes" / "a1.tif"
        tif.write_bytes(tif.read_bytes()[:400])
        return "a1", "a1.tif"
    if kind == "truncated_tiff":  # the header reads, a block in the middle does not
        from projectgen import scene_pixels

        tif = project / "scenes" / "a1.tif"
        with rasterio.open(tif, "w", driver="GTiff", width=64, height=64, count=4, dtype="uint8",
                           crs="EPSG:32618", transform=rasterio.transform.from_origin(500000, 2050000, 5, 5),
                           tiled=True, blockxsize=16, blockysize=16, compress="deflate") as dst:
            dst.write(scene_pixels(0))
        tif.write_bytes(tif.read_bytes()[: tif.stat().st_size * 2 // 3])
        return "a1", "cannot read the scene"
    if kind == "annotation_without_image":
        write_annotation(ann, "../scenes/gone.tif")
        return "a1", "does not exist"
    if kind == "dem_crs_mismatch":
        from projectgen import write_dem

        write_dem(project / "dems" / "a1.tif", crs=None)   # picked up by name; no CRS
        return "a1", "coordinate reference system"
    if kind == "dem_off_the_scene":
        from projectgen import write_dem

        write_dem(project / "dems" / "a1.tif", origin=(600000.0, 2150000.0))  # same CRS, 100 km away
        return "a1", "does not overlap"
    if kind == "polygons_outside":
        moved = [{**s, "points": [[x + 500, y + 500] for x, y in s["points"]]} for s in SHAPES]
        write_annotation(ann, "../scenes/a1.tif", shapes=moved)
        return "a1", "outside"
    if kind == "unknown_label":
        write_annotation(ann, "../scenes/a1.tif", shapes=[{**SHAPES[0], "label": "road"}])
        return "a1", "'road'"
    raise AssertionError(kind)


KINDS = ("corrupt_tiff", "truncated_tiff", "annotation_without_image", "dem_crs_mismatch", "dem_off_the_scene",
         "polygons_outside", "unknown_label")


@pytest.mark.parametrize("kind", KINDS)
def test_bad_scene_stops_the_build_with_its_file(tmp_path, kind):
    project = make_project(tmp_path / "p", scenes=[("a1", "north"), ("b1", "north")], dem_for=None)
    scene, frag = _break(project, kind)
    with pytest.raises(FarmannotError) as exc:
        build_dataset(project, tmp_path / "out", load_config(None, {**FAST, "split": "1:0:0"}), progress=False)
    assert frag in str(exc.value) and "a1" in str(exc.value)


def test_keep_going_reports_every_bad_scene(tmp_path):
    scenes = [(f"a{i}", "north") for i in range(1, len(KINDS) + 1)] + [("ok", "north")]
    project = make_project(tmp_path / "p", scenes=scenes, dem_for=None)
    for i, kind in enumerate(KINDS, start=1):
        name = f"a{i}"
        # _break works on a1: point it at this scene by renaming the paths it touches
        sub = tmp_path / f"tmp{i}"
        sub.mkdir()
        (sub / "annotations").mkdir()
        (sub / "scenes").mkdir()
        (sub / "dems").mkdir()
        for folder, suffix in (("annotations", ".json"), ("scenes", ".tif")):
            (sub / folder / f"a1{suffix}").write_bytes((project / folder / f"{name}{suffix}").read_bytes())
        _break(sub, kind)
        for folder, suffix in (("annotations", ".json"), ("scenes", ".tif"), ("dems", ".tif")):
            src = sub / folder / f"a1{suffix}"
            if src.exists():
                text = src.read_bytes().replace(b"../scenes/a1.tif", f"../scenes/{name}.tif".encode())
                (project / folder / f"{name}{suffix}").write_bytes(text)
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(cli, ["build-dataset", str(project), "-o", str(out), "--tile-size", "32", "--split",
                              "1:0:0", "--keep-going", "--no-progress"])
    assert res.exit_code == 1, res.output
    errors = json.loads((out / "errors.json").read_text(encoding="utf-8"))
    assert [e["scene"] for e in errors] == [f"a{i}" for i in range(1, len(KINDS) + 1)]
    assert all(e["file"].endswith(f"{e['scene']}.json") and e["reason"] for e in errors)
    assert f"{len(KINDS)} scene(s) failed" in res.output
    import pandas as pd

    df = pd.read_parquet(out / "manifest.parquet")
    assert set(df["scene"]) == {"ok"} and len(df) == 4


def test_cli_config_and_flags(tmp_path):
    project = make_project(tmp_path / "p", scenes=[("a1", "north")], dem_for=None)
    cfg = tmp_path / "build.yaml"
    cfg.write_text("tile_size: 64\nsplit: '1:0:0'\nlayouts: [gtpbd-mm]\ncard: false\n", encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(cli, ["build-dataset", str(project), "-o", str(tmp_path / "o"), "--config", str(cfg),
                              "--tile-size", "32", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "4 tile(s) from 1 scene(s)" in res.output         # the flag (32) beat the file (64)
    assert not (tmp_path / "o" / "farmseg-vl").exists()
    cfg.write_text("tile_sise: 64\n", encoding="utf-8")
    res = runner.invoke(cli, ["build-dataset", str(project), "-o", str(tmp_path / "o2"), "--config", str(cfg)])
    assert res.exit_code == 1 and "unknown option 'tile_sise'" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_geotiff_tiles_keep_bands_and_georeferencing(tmp_path):
    project = make_project(tmp_path / "p", scenes=[("a1", "north")], dem_for=None)
    out = tmp_path / "o"
    build_dataset(project, out, load_config(None, {**FAST, "split": "1:0:0", "geotiff": True,
                                                   "layouts": "gtpbd-mm"}), progress=False)
    with rasterio.open(out / "gtpbd-mm" / "train" / "north" / "image_tif" / "a1_32_32.tif") as t, \
            rasterio.open(project / "scenes" / "a1.tif") as s:
        assert t.count == 4 and t.crs == s.crs
        assert (t.read() == s.read(window=((32, 64), (32, 64)))).all()
        assert t.transform.c == s.transform.c + 32 * 5.0


def test_overlap_and_tile_filters(tmp_path):
    project = make_project(tmp_path / "p", scenes=[("a1", "north")], dem_for=None)
    cfg = {**FAST, "split": "1:0:0", "layouts": "gtpbd-mm", "overlap": 16}
    s = build_dataset(project, tmp_path / "o", load_config(None, cfg), progress=False)
    assert s.tiles == 9                                   # offsets 0, 16, 32 on both axes
    # a1_32_32 holds part of parcel 3, the bow-tie and the ignore square: the least farmland (45 %)
    s = build_dataset(project, tmp_path / "o2", load_config(None, {**cfg, "overlap": 0, "min_farmland": 0.5}),
                      progress=False)
    import pandas as pd

    df = pd.read_parquet(tmp_path / "o2" / "manifest.parquet")
    assert s.dropped == 1 and list(df["tile_id"]) == ["a1_0_0", "a1_0_32", "a1_32_0"]


def test_png_scene_without_georeferencing_uses_scenes_csv_place(tmp_path):
    from PIL import Image
    from projectgen import scene_pixels

    project = make_project(tmp_path / "p", scenes=[("a1", "north")], dem_for=None)
    (project / "scenes" / "a1.tif").unlink()
    Image.fromarray(scene_pixels(0)[:3].transpose(1, 2, 0)).save(project / "scenes" / "a1.png")
    ann = project / "annotations" / "a1.json"
    ann.write_text(ann.read_text().replace("a1.tif", "a1.png"))
    (project / "scenes.csv").write_text("scene,region,date,lat,lon\na1.png,north,2021-07-01,-25.5,-54.5\n")
    out = tmp_path / "o"
    build_dataset(project, out, load_config(None, {**FAST, "split": "1:0:0"}), progress=False)
    import pandas as pd

    df = pd.read_parquet(out / "manifest.parquet")
    assert len(df) == 4 and df["crs"].isna().all()
    assert (df["center_lat"] == -25.5).all() and (df["season"] == "winter").all()  # July, south
    assert df["caption_en"].str.contains("25.50°S, 54.50°W").all()
    assert (out / "gtpbd-mm" / "train" / "north" / "images" / "a1_0_0.png").exists()
    assert not (out / "gtpbd-mm" / "train" / "north" / "images" / "a1_0_0.wld").exists()  # nothing to place
