"""The smaller cases of the bad-input corpus, and the resource limits (mask pixels, workers, NaN/Inf nodata)."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from clirun import (
    assert_failed_cleanly,
    error_logs,  # noqa: F401 - an autouse fixture
    run,
)
from corpus import bad_keyword_annotation, float_scene, mask_bomb_annotation, plain_png
from PIL import Image
from projectgen import make_project, write_annotation

from farmannot.errors import InputError
from farmannot.io.labelme_json import load_annotation

ONE = [("a1", "north")]


def _build(project, out, *extra):
    return run("build-dataset", project, "--output", out, "--tile-size", 32, "--split", "1:0:0", "--no-progress",
               *extra)


@pytest.mark.parametrize("fill", [float("nan"), float("inf")])
def test_all_nan_or_inf_scene_is_nodata_and_fails_max_nodata(tmp_path, fill):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    float_scene(project / "scenes" / "a1.tif", fill)
    res = _build(project, tmp_path / "ds")
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "ds" / "manifest.parquet")
    assert len(df) == 4 and (df["nodata_fraction"] == 1.0).all()
    (tmp_path / "cfg.yaml").write_text("max_nodata: 0.5\n")
    res = _build(project, tmp_path / "ds2", "--config", tmp_path / "cfg.yaml")
    assert res.exit_code == 0, res.output
    assert "4 tile(s) dropped by filters" in res.stderr
    assert len(pd.read_parquet(tmp_path / "ds2" / "manifest.parquet")) == 0


def test_workers_are_capped_to_scenes_and_cores(tmp_path):
    project = make_project(tmp_path / "project", scenes=[("a1", "north"), ("b1", "north")], dem_for=None)
    res = _build(project, tmp_path / "ds", "--workers", 300)
    assert res.exit_code == 0, res.output
    assert "note: 300 workers asked for, " in res.stderr
    used = int(res.stderr.split("300 workers asked for, ")[1].split()[0])
    assert 1 <= used <= 2


def test_mask_limits_hold_even_when_labelme_lifted_pil_s_limit(tmp_path, monkeypatch):
    import labelme  # noqa: F401 - labelme sets PIL.Image.MAX_IMAGE_PIXELS = None on import

    assert Image.MAX_IMAGE_PIXELS is None
    path = mask_bomb_annotation(tmp_path / "bomb.json", "scene.tif")
    with pytest.raises(InputError, match=r"shape 6: shape mask is 20000 x 20000 px, over the limit of 25,000,000"):
        load_annotation(path)
    # per annotation: two 40 x 40 masks against a total of 2,000 pixels, a setting
    small = mask_bomb_annotation(tmp_path / "small.json", "scene.tif", 40, 40)
    obj = json.loads(small.read_text())
    obj["shapes"].append(dict(obj["shapes"][-1]))
    small.write_text(json.dumps(obj))
    assert load_annotation(small).shapes[-1].mask.shape == (40, 40)
    monkeypatch.setenv("FARMANNOT_MAX_ANNOTATION_MASK_PIXELS", "2000")
    with pytest.raises(InputError, match="over 2,000 pixels, the limit per annotation"):
        load_annotation(small)


def test_config_with_a_wrong_type_is_one_line(tmp_path):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    (tmp_path / "cfg.yaml").write_text('tile_size: "big"\n')
    line = assert_failed_cleanly(run("build-dataset", project, "--output", tmp_path / "ds", "--config",
                                     tmp_path / "cfg.yaml"), "cfg.yaml", "tile_size must be a whole number")
    assert "'big'" in line


def test_png_without_georeferencing_names_the_missing_crs(tmp_path):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    plain_png(project / "scenes" / "p.png")
    write_annotation(project / "annotations" / "a1.json", "../scenes/p.png")
    (project / "scenes.csv").write_text("scene,region,date\np.png,north,2021-05-15\n")
    line = assert_failed_cleanly(_build(project, tmp_path / "ds"), "a1.json", "location")
    assert "no CRS" in line and "lat and lon in scenes.csv" in line
    (project / "scenes.csv").write_text("scene,region,date,lat,lon\np.png,north,2021-05-15,18.5,-75.0\n")
    assert _build(project, tmp_path / "ds").exit_code == 0


def test_symlinked_scene_inside_the_project_is_accepted(tmp_path):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    store = tmp_path / "store"
    store.mkdir()
    shutil.move(project / "scenes" / "a1.tif", store / "a1.tif")
    (project / "scenes" / "a1.tif").symlink_to(store / "a1.tif")
    res = _build(project, tmp_path / "ds")
    assert res.exit_code == 0, res.output
    assert len(pd.read_parquet(tmp_path / "ds" / "manifest.parquet")) == 4
    # climbing out with '..' stays refused, with advice that fits build-dataset
    write_annotation(project / "annotations" / "a1.json", "../../store/a1.tif")
    line = assert_failed_cleanly(_build(project, tmp_path / "ds2"), "a1.json", "outside the project folder")
    assert "link to it" in line


def test_invalid_confirmed_keyword_is_refused_not_replaced(tmp_path):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    bad_keyword_annotation(project / "annotations" / "a1.json", "../scenes/a1.tif")
    line = assert_failed_cleanly(_build(project, tmp_path / "ds"), "a1.json", "'lava' is not a water value")
    assert "--set water=VALUE" in line


def test_caption_key_holding_a_string_is_one_line(tmp_path):
    project = make_project(tmp_path / "project", scenes=ONE, dem_for=None)
    path = project / "annotations" / "a1.json"
    obj = json.loads(path.read_text())
    obj["farmannot"]["caption"] = "farmland"
    path.write_text(json.dumps(obj))
    assert_failed_cleanly(_build(project, tmp_path / "ds"), "a1.json", "farmannot.caption' must be an object")
    res = run("caption", path, "--allow-outside")
    assert_failed_cleanly(res, "a1.json", "farmannot.caption' must be an object")
