"""The bad-input corpus against every command that takes the input: exit 1, one line naming the file, no
traceback, no partial output; with --keep-going the good inputs complete."""

from __future__ import annotations

import importlib.util
import json

import pytest
from clirun import (
    REPO,
    assert_failed_cleanly,
    assert_kept_going,
    error_logs,  # noqa: F401 - an autouse fixture
    run,
)
from corpus import nested_json, truncated_tif
from projectgen import make_project, write_scene


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    project = make_project(root / "project", scenes=[("a1", "north")], dem_for=None)
    truncated_tif(root / "cut.tif")
    truncated_tif(root / "dem.tif")
    write_scene(root / "good.tif", seed=1)
    utm = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[500010, 2049990], [500100, 2049990], [500100, 2049900],
                                            [500010, 2049990]]]}}]}
    (root / "utm.geojson").write_text(json.dumps(utm))
    opened = {"type": "FeatureCollection",
              "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32618"}},
              "features": [{"type": "Feature", "properties": {}, "geometry": {
                  "type": "Polygon", "coordinates": [[[500010, 2049990], [500100, 2049990], [500100, 2049900],
                                                      [500020, 2049900]]]}}]}
    (root / "open.geojson").write_text(json.dumps(opened))
    nested_json(root / "deep.json")
    return root, project


CASES = {
    "prompts truncated scene": (lambda r, p: ["prompts", r / "cut.tif"], "cut.tif"),
    "caption truncated scene": (lambda r, p: ["caption", p / "annotations" / "a1.json", "--allow-outside",
                                              "--scene", r / "cut.tif"], "cut.tif"),
    "caption truncated dem": (lambda r, p: ["caption", p / "annotations" / "a1.json", "--allow-outside",
                                            "--dem", r / "dem.tif", "--suggest"], "dem.tif"),
    "caption nested json": (lambda r, p: ["caption", r / "deep.json"], "deep.json"),
    "align-dem truncated dem": (lambda r, p: ["align-dem", r / "dem.tif", "--to", r / "good.tif", "--output",
                                              r / "out" / "aligned.tif"], "dem.tif"),
    "align-dem truncated target": (lambda r, p: ["align-dem", r / "good.tif", "--to", r / "cut.tif", "--output",
                                                 r / "out" / "aligned.tif"], "cut.tif"),
    "import-vectors utm geojson": (lambda r, p: ["import-vectors", r / "utm.geojson", "--scene", r / "good.tif",
                                                 "--output", r / "out" / "imp.json"], "utm.geojson"),
    "import-vectors utm geojson assumed": (lambda r, p: ["import-vectors", r / "utm.geojson", "--scene",
                                                         r / "cut.tif", "--output", r / "out" / "imp.json",
                                                         "--assume-crs", "EPSG:32618"], "cut.tif"),
    "import-vectors unclosed ring": (lambda r, p: ["import-vectors", r / "open.geojson", "--scene", r / "good.tif",
                                                   "--output", r / "out" / "imp.json"], "open.geojson"),
    "export-vectors nested json": (lambda r, p: ["export-vectors", r / "deep.json", "--output",
                                                 r / "out" / "x.gpkg"], "deep.json"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_naming_the_file(corpus, case):
    root, project = corpus
    make_args, name = CASES[case]
    res = run(*make_args(root, project))
    line = assert_failed_cleanly(res, name)
    assert "internal error" not in line
    assert not (root / "out").exists() or not [p for p in (root / "out").rglob("*") if p.is_file()]


def test_utm_geojson_imports_with_assume_crs(corpus, tmp_path):
    root, _ = corpus
    res = run("import-vectors", root / "utm.geojson", "--scene", root / "good.tif", "--output", tmp_path / "i.json",
              "--assume-crs", "EPSG:32618")
    assert res.exit_code == 0, res.output
    (shape,) = json.loads((tmp_path / "i.json").read_text())["shapes"]
    xs = [x for x, _ in shape["points"]]
    assert 1 < min(xs) < 4 and 19 < max(xs) < 22              # x 500010..500100 m on a 5 m grid from 500000


def test_sam_commands_keep_going_and_fail_in_one_line(corpus, tmp_path, tiny_checkpoint):
    root, _ = corpus
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "cut.tif").write_bytes((root / "cut.tif").read_bytes())
    (folder / "good.tif").write_bytes((root / "good.tif").read_bytes())
    res = run("precompute-embeddings", folder, "--sam-checkpoint", tiny_checkpoint, "--cache-dir", tmp_path / "c",
              "--keep-going", "--no-progress")
    assert_kept_going(res, "cut.tif")
    # good.tif: its propose chip and the annotator's whole picture (one cache key scheme for both)
    assert "2 computed, 0 already cached, 1 failed" in res.stderr
    res = run("propose", root / "cut.tif", "--sam-checkpoint", tiny_checkpoint, "--cache-dir", tmp_path / "c",
              "--output", tmp_path / "p.json")
    assert_failed_cleanly(res, "cut.tif")
    assert not (tmp_path / "p.json").exists()


@pytest.mark.slow
def test_predict_truncated_scene_is_one_line(corpus, tmp_path):
    spec = importlib.util.spec_from_file_location("train_fixtures", REPO / "tests" / "train" / "train_fixtures.py")
    fx = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fx)
    dataset = fx.write_gtpbd(tmp_path / "ds", n_train=4, n_val=0, n_test=0)
    res = run("train", dataset, "--output", tmp_path / "run", "--epochs", 1, "--batch-size", 4, "--encoder",
              fx.TINY["encoder"], "--encoder-depth", 3, "--workers", 0, "--device", "cpu", "--no-progress")
    assert res.exit_code == 0, res.output
    root, _ = corpus
    res = run("predict", tmp_path / "run", root / "cut.tif", "--output", tmp_path / "pred.tif", "--no-progress")
    assert_failed_cleanly(res, "cut.tif")
    assert not (tmp_path / "pred.tif").exists()
