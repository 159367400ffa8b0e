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
