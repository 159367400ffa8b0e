"""Malformed inputs found by a sweep of every command: each is one line naming the file and what to do."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from clirun import (
    assert_failed_cleanly,
    error_logs,  # noqa: F401 - an autouse fixture
    run,
)
from projectgen import SHAPES, make_project, write_annotation

ONE = [("a1", "north")]


@pytest.mark.parametrize("shape_type, points", [("circle", [[20, 20]]), ("rectangle", [[20, 20]])])
def test_a_shape_with_too_few_points_is_dropped_like_labelme_refuses_it(tmp_path, shape_type, points):
    from labelme.utils.shape import shape_to_mask

    with pytest.raises(AssertionError, match="must have 2 points"):  # labelme's own converter refuses it
        shape_to_mask((64, 64), points, shape_type)
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    ann = project / "annotations" / "a1.json"
    write_annotation(ann, "../scenes/a1.tif", shapes=[*SHAPES, {"label": "farmland", "points": points,
                                                                 "shape_type": shape_type}])
    res = run("build-dataset", project, "--output", tmp_path / "ds", "--tile-size", 32, "--split", "1:0:0",
              "--no-progress")
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(tmp_path / "ds" / "manifest.parquet")) == 4
    report = json.loads((tmp_path / "ds" / "build_report.json").read_text())
    dropped = json.dumps(report)
    assert "shape 6 ('farmland')" in dropped and f"a {shape_type} of 1 point(s), too few to draw" in dropped

    # alone in its annotation: one line that says what is wrong (not "lies outside the image")
    write_annotation(ann, "../scenes/a1.tif", shapes=[{"label": "farmland", "points": points,
                                                       "shape_type": shape_type}])
    for args in (["caption", ann, "--suggest", "--allow-outside"],
                 ["build-dataset", project, "--output", tmp_path / "ds2", "--tile-size", 32, "--split", "1:0:0",
                  "--no-progress"]):
        line = assert_failed_cleanly(run(*args), "a1.json", "too few points to draw")
        assert "internal error" not in line
    line = assert_failed_cleanly(run("export-vectors", ann, "--allow-outside", "--output", tmp_path / "x.gpkg"), "a1.json")
    assert "internal error" not in line and not (tmp_path / "x.gpkg").exists()


def _complex_scene(path):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=4, dtype="complex64", crs="EPSG:32618",
                       transform=from_origin(500000, 2050000, 5, 5)) as dst:
        dst.write(np.full((4, 64, 64), 1 + 2j, np.complex64))
        dst.descriptions = ("red", "green", "blue", "nir")
    with rasterio.open(path) as src:                          # GDAL's own reading of the file
        assert src.dtypes[0] == "complex64"
    return path


def test_complex_pixels_are_refused_in_one_line_not_cast_to_their_real_part(tmp_path):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for="a1")
    scene = _complex_scene(tmp_path / "sar.tif")
    out = tmp_path / "out"
    cases = [(["prompts", scene, "--tile-size", 32, "--output", out / "p.jsonl"], "sar.tif"),
             (["caption", project / "annotations" / "a1.json", "--scene", scene, "--suggest",
               "--allow-outside"], "sar.tif"),
             (["align-dem", scene, "--to", project / "scenes" / "a1.tif", "--output", out / "a.tif"], "sar.tif"),
             (["import-vectors", tmp_path / "none.geojson", "--scene", scene, "--output", out / "i.json"], "sar.tif")]
    for args, name in cases:
        line = assert_failed_cleanly(run(*args), name, "complex numbers")
        assert "gdal_translate -ot Float32" in line
    _complex_scene(project / "scenes" / "a1.tif")
    assert_failed_cleanly(run("build-dataset", project, "--output", out / "ds", "--tile-size", 32, "--split",
                              "1:0:0", "--no-progress"), "a1.tif", "complex numbers")
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_a_nan_vertex_in_a_vector_file_is_one_line_naming_it(tmp_path, recwarn):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    ring = [[500010, 2049990], [float("nan"), 2049990], [500100, 2049900], [500010, 2049990]]
    (tmp_path / "nan.geojson").write_text(json.dumps({"type": "FeatureCollection", "crs": {
        "type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32618"}}, "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    res = run("import-vectors", tmp_path / "nan.geojson", "--scene", project / "scenes" / "a1.tif", "--output",
              tmp_path / "i.json")
    line = assert_failed_cleanly(res, "nan.geojson", "invalid geometry")
    assert "internal error" not in line and not (tmp_path / "i.json").exists()
    # and nothing else on stderr: no numpy "invalid value encountered" warning above the line
    assert [str(w.message) for w in recwarn if issubclass(w.category, RuntimeWarning)] == []


@pytest.mark.parametrize("text, fragment", [
    ("tile_size: 32\nlayouts: f\u00e9\n".encode("latin-1"), "save it as UTF-8"),
    (b"tile_size: 32\nworkers: -3\n", "workers must be at least 1"),
    (b"split: \"1:2\"\n", "three weights"),
    (b"split: 7:2:1\n", 'YAML reads an unquoted 7:2:1'),              # yaml.safe_load: 7*3600 + 2*60 + 1
])
def test_a_config_the_file_gets_wrong_is_one_line_naming_it(tmp_path, text, fragment):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    (tmp_path / "build.yaml").write_bytes(text)
    line = assert_failed_cleanly(run("build-dataset", project, "--output", tmp_path / "ds", "--config",
                                     tmp_path / "build.yaml", "--no-progress"), "build.yaml", fragment)
    assert "internal error" not in line and not (tmp_path / "ds").exists()


def test_a_flag_the_file_does_not_set_is_not_blamed_on_the_file(tmp_path):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    (tmp_path / "build.yaml").write_text("overlap: 8\n")
    line = assert_failed_cleanly(run("build-dataset", project, "--output", tmp_path / "ds", "--config",
                                     tmp_path / "build.yaml", "--group-by", "block", "--no-progress"),
                                 "group_by block needs overlap 0")
    assert "build.yaml" not in line


@pytest.fixture()
def run_folder(tmp_path):

    from farmannot.train.checkpoint import BEST, save_checkpoint, write_config
    from farmannot.train.models import build_model

    config = {"model": "unet", "encoder": "resnet18", "in_channels": 3, "inputs": "image",
              "arch_kwargs": {"encoder_depth": 3, "decoder_channels": [32, 16, 8]},
              "stats": {"mean": [120.0, 110.0, 100.0], "std": [50.0, 50.0, 50.0], "dem_scale": 10.0},
              "threshold": 0.5}
    d = tmp_path / "run"
    d.mkdir()
    write_config(d, config)
    save_checkpoint(d / BEST, {"model": build_model(config).state_dict()})
    return d


def test_a_run_folder_holding_a_sam_checkpoint_or_a_list_config_is_one_line(run_folder, tmp_path, tiny_checkpoint):
    import shutil

    import torch

    from farmannot.train.models import build_model

    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    scene = project / "scenes" / "a1.tif"
    build_model(json.loads((run_folder / "config.json").read_text()))        # the run itself is sound
    shutil.copy(tiny_checkpoint, run_folder / "best.pt")                        # ... but best.pt is a SAM's
    assert "model" not in torch.load(run_folder / "best.pt", weights_only=True)
    line = assert_failed_cleanly(run("predict", run_folder, scene, "--output", tmp_path / "p.tif", "--patch", 64,
                                     "--overlap", 8, "--no-progress"), "best.pt", "not a checkpoint of 'farmannot train'")
    assert "internal error" not in line and not (tmp_path / "p.tif").exists()
    (run_folder / "best.pt").unlink()
    from farmannot.train.checkpoint import BEST, save_checkpoint

    save_checkpoint(run_folder / BEST, {"model": {}})
    (run_folder / "config.json").write_text("[1, 2]")
    line = assert_failed_cleanly(run("predict", run_folder, scene, "--output", tmp_path / "p.tif", "--patch", 64,
                                     "--overlap", 8, "--no-progress"), "config.json", "not an object")
    assert "internal error" not in line and not (tmp_path / "p.tif").exists()


def test_a_truncated_sam_checkpoint_is_one_line_in_propose(tmp_path, tiny_checkpoint):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(tiny_checkpoint.read_bytes()[:5000])
    line = assert_failed_cleanly(run("propose", project / "scenes" / "a1.tif", "--sam-checkpoint", cut, "--cache-dir",
                                     tmp_path / "cache", "--output", tmp_path / "p.json"), "cut.pth",
                                 "not a loadable SAM checkpoint")
    assert "internal error" not in line and not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("features, have", [([], "0 feature(s), none a polygon;"),
                                            ([{"type": "LineString", "coordinates": [[500010, 2049990],
                                                                                     [500100, 2049900]]}],
                                             "1 feature(s), none a polygon (1 LineString)")])
def test_a_layer_without_polygons_says_so_not_check_the_crs(tmp_path, features, have):
    import pyogrio

    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    (tmp_path / "v.geojson").write_text(json.dumps({"type": "FeatureCollection", "crs": {
        "type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32618"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": g} for g in features]}))
    assert pyogrio.read_info(tmp_path / "v.geojson")["features"] == len(features)   # GDAL's count
    line = assert_failed_cleanly(run("import-vectors", tmp_path / "v.geojson", "--scene", project / "scenes" / "a1.tif",
                                     "--output", tmp_path / "i.json"), "v.geojson", have)
    assert "Check the CRS" not in line and not (tmp_path / "i.json").exists()


def test_merge_onto_the_annotation_of_another_scene_is_refused_and_leaves_it_as_it_was(tmp_path):
    import shutil

    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    shutil.copy(project / "scenes" / "a1.tif", project / "scenes" / "b1.tif")  # another file, the same grid
    ann = project / "annotations" / "a1.json"                   # imagePath ../scenes/a1.tif
    before = ann.read_bytes()
    ring = [[500010, 2049990], [500100, 2049990], [500100, 2049900], [500010, 2049900], [500010, 2049990]]
    (tmp_path / "p.geojson").write_text(json.dumps({"type": "FeatureCollection", "crs": {
        "type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32618"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    line = assert_failed_cleanly(run("import-vectors", tmp_path / "p.geojson", "--scene", project / "scenes" / "b1.tif",
                                     "--output", ann, "--merge"), "a1.json", "not of the scene")
    assert "b1.tif" in line and ann.read_bytes() == before
    res = run("import-vectors", tmp_path / "p.geojson", "--scene", project / "scenes" / "a1.tif", "--output", ann,
              "--merge")
    assert res.exit_code == 0, res.output
    assert len(json.loads(ann.read_text())["shapes"]) == len(SHAPES) + 1


def test_an_annotation_saved_as_latin1_in_a_folder_is_reported_not_left_out(tmp_path):
    import pyogrio

    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    ann = project / "annotations"
    text = (ann / "a1.json").read_text(encoding="utf-8").replace('"farmland"', '"f\u00e9rmland"')
    (ann / "latin.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):                     # not UTF-8, as JSON must be (RFC 8259)
        (ann / "latin.json").read_text(encoding="utf-8")
    (ann / "other.json").write_text('{"type": "FeatureCollection", "features": []}')  # not an annotation
    line = assert_failed_cleanly(run("export-vectors", ann, "--allow-outside", "--output", tmp_path / "x.gpkg",
                                     "--no-progress"), "latin.json")
    assert "internal error" not in line and not (tmp_path / "x.gpkg").exists()
    res = run("export-vectors", ann, "--allow-outside", "--output", tmp_path / "kg.gpkg", "--no-progress",
              "--keep-going")
    assert res.exit_code == 1 and "Traceback" not in res.stderr
    assert "1 annotation(s) failed" in res.stderr and "latin.json" in res.stderr and "other.json" not in res.stderr
    assert len(pyogrio.read_dataframe(tmp_path / "kg.gpkg")) == 4   # a1.json's four parcels


def test_export_vectors_refuses_a_format_its_output_suffix_contradicts(tmp_path):
    import pyogrio

    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    ann = project / "annotations" / "a1.json"
    for fmt, name, named in (("geojson", "x.gpkg", "gpkg"), ("gpkg", "x.geojson", "geojson"),
                             ("fiboa", "x.fgb", "fgb"), ("shp", "x.parquet", "fiboa")):
        line = assert_failed_cleanly(run("export-vectors", ann, "--format", fmt, "--output", tmp_path / name,
                                         "--no-progress"), name, f"names {named}, not --format {fmt}")
        assert "internal error" not in line and not (tmp_path / name).exists()
    # a suffix that names no format, or the same one (.json is GeoJSON), is the user's choice
    for fmt, name, driver in (("geojson", "x.json", "GeoJSON"), ("gpkg", "x.gpkg", "GPKG"), ("fgb", "x.dat", "FlatGeobuf")):
        res = run("export-vectors", ann, "--format", fmt, "--output", tmp_path / name, "--no-progress")
        assert res.exit_code == 0, res.output
        assert pyogrio.read_info(tmp_path / name)["driver"] == driver          # GDAL's reading of the file
