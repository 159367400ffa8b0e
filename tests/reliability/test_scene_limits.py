"""Decoded-size limits of whole-scene commands: a raster of a few megabytes declaring 40 Gpx is one line."""

from __future__ import annotations

import shutil
from collections import namedtuple

import numpy as np
import pytest
import rasterio
from clirun import (
    assert_failed_cleanly,
    error_logs,  # noqa: F401 - an autouse fixture
    run,
)
from projectgen import make_project, write_dem
from rasterio.transform import from_origin
from rasterio.windows import Window

HUGE = 200_000
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    """200,000 x 200,000 px, 4 bands, tiled and deflate-compressed, one block written: a few megabytes."""
    path = tmp_path_factory.mktemp("huge") / "huge.tif"
    with rasterio.open(path, "w", driver="GTiff", width=HUGE, height=HUGE, count=4, dtype="uint16", crs="EPSG:32618",
                       transform=from_origin(500000, 2050000, 5, 5), tiled=True, blockxsize=256, blockysize=256,
                       compress="deflate", sparse_ok=True) as dst:
        dst.write(np.full((4, 256, 256), 1000, np.uint16), window=Window(0, 0, 256, 256))
    with rasterio.open(path) as src:                          # what the file declares, read by GDAL
        assert (src.width, src.height) == (HUGE, HUGE)
    assert path.stat().st_size < 10 * MIB
    return path


def _coarse_target(path, cell=20_000.0):
    """A 50 x 50 px image over the whole huge raster (its DEM pixels under it: all 40 Gpx)."""
    with rasterio.open(path, "w", driver="GTiff", width=50, height=50, count=3, dtype="uint8", crs="EPSG:32618",
                       transform=from_origin(500000, 2050000, cell, cell)) as dst:
        dst.write(np.random.default_rng(0).integers(0, 255, (3, 50, 50), dtype=np.uint8))
    return path


def test_a_huge_declared_scene_is_refused_up_front_by_every_whole_scene_command(huge, tmp_path, tiny_checkpoint):
    out = tmp_path / "out"
    size = "200,000 x 200,000 px (40,000,000,000 px)"
    cases = [["prompts", huge, "--output", out / "new" / "p.jsonl"],
             ["align-dem", tmp_path / "dem.tif", "--to", huge, "--output", out / "a.tif"],
             ["propose", huge, "--sam-checkpoint", tiny_checkpoint, "--cache-dir", tmp_path / "cache",
              "--output", out / "p.json", "--no-progress"]]
    write_dem(tmp_path / "dem.tif")
    for args in cases:
        line = assert_failed_cleanly(run(*args), "huge.tif", size, "$FARMANNOT_MAX_SCENE_PIXELS", "1,000,000,000")
        assert "gdal_translate -srcwin" in line and "internal error" not in line
    # the DEM side: all of its pixels lie under a coarse target
    line = assert_failed_cleanly(run("align-dem", huge, "--to", _coarse_target(tmp_path / "coarse.tif"), "--output",
                                     out / "a.tif"), "huge.tif", "under the target's extent", size, "gdalwarp")
    assert not out.exists()                                   # not even an empty folder
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npz"))


def test_the_scene_limit_is_a_setting_counted_from_the_header(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project", scenes=[("a1", "north")], dem_for="a1")
    scene = project / "scenes" / "a1.tif"
    with rasterio.open(scene) as src:
        n = src.width * src.height
    monkeypatch.setenv("FARMANNOT_MAX_SCENE_PIXELS", str(n - 1))
    line = assert_failed_cleanly(run("prompts", scene, "--tile-size", 32, "--output", tmp_path / "p.jsonl"), "a1.tif",
                                 f"({n:,} px), over the limit of {n - 1:,} px")
    assert not (tmp_path / "p.jsonl").exists(), line
    assert_failed_cleanly(run("align-dem", project / "dems" / "a1-dem.tif", "--to", scene, "--output",
                              tmp_path / "a.tif"), "a1.tif", f"limit of {n - 1:,} px")
    monkeypatch.setenv("FARMANNOT_MAX_SCENE_PIXELS", str(n))
    res = run("prompts", scene, "--tile-size", 32, "--output", tmp_path / "p.jsonl")
    assert res.exit_code == 0, res.output
    monkeypatch.setenv("FARMANNOT_MAX_SCENE_PIXELS", "lots")
    assert_failed_cleanly(run("prompts", scene, "--output", tmp_path / "q.jsonl"), "$FARMANNOT_MAX_SCENE_PIXELS",
                          "'lots'")


def test_align_dem_refuses_a_disk_that_cannot_hold_even_the_best_compressed_output(huge, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setenv("FARMANNOT_MAX_SCENE_PIXELS", "0")     # no pixel limit: the disk check is reached
    write_dem(tmp_path / "dem.tif")
    # deflate compresses at most 1032:1; 200,000^2 float32 = 160 GB -> 155,038,759 bytes, plus the 16 MiB margin
    need = 200_000 * 200_000 * 4 // 1032 + 16 * MIB
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12 - need + 1, need - 1))
    assert_failed_cleanly(run("align-dem", tmp_path / "dem.tif", "--to", huge, "--output", tmp_path / "a.tif"),
                          "a.tif", "163.9 MiB needed", "200000 x 200000 px, 1-band float32")
    assert not (tmp_path / "a.tif").exists()
    # a 64 x 64 px, 2-band output needs 64 * 64 * 2 * 4 // 1032 = 31 bytes + 16 MiB: exactly that is enough
    project = make_project(tmp_path / "project", scenes=[("a1", "north")], dem_for="a1")
    small_need = 64 * 64 * 2 * 4 // 1032 + 16 * MIB
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12 - small_need, small_need - 1))
    res = run("align-dem", project / "dems" / "a1-dem.tif", "--to", project / "scenes" / "a1.tif", "--derive", "slope",
              "--output", tmp_path / "b.tif", "--no-register")
    assert_failed_cleanly(res, "b.tif", "needed")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**12, 10**12 - small_need, small_need))
    res = run("align-dem", project / "dems" / "a1-dem.tif", "--to", project / "scenes" / "a1.tif", "--derive", "slope",
              "--output", tmp_path / "b.tif", "--no-register")
    assert res.exit_code == 0, res.output
    with rasterio.open(tmp_path / "b.tif") as src:
        assert (src.width, src.height, src.count) == (64, 64, 2)
