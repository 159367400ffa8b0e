"""``farmannot propose`` through the real code path with a tiny random-weight SAM checkpoint."""

import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from farmannot.cli.main import cli
from farmannot.io.labelme_json import load_annotation


@pytest.fixture()
def scene(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((4, 96, 120)) * 40 + 60).astype(np.uint8)
    data[3, 20:60, 30:90] = 220   # a bright-NIR field
    data[0, 20:60, 30:90] = 40
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", width=120, height=96, count=4, dtype="uint8",
                       crs="EPSG:32618", transform=from_origin(790000, 2050000, 5, 5)) as dst:
        dst.write(data)
    return path


def test_propose_writes_flagged_draft_shapes_and_reuses_the_chip_cache(tiny_checkpoint, scene, tmp_path):
    out = tmp_path / "scene.json"
    args = ["propose", str(scene), "--sam-checkpoint", str(tiny_checkpoint), "--output", str(out), "--chip", "64",
            "--overlap", "16", "--points-per-side", "4", "--pred-iou-thresh", "-100", "--stability-thresh",
            "-100", "--filter", "none", "--cache-dir", str(tmp_path / "cache"), "--sensor", "rgbn"]
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "on 6 chip(s)" in res.output and "0 embedding(s) from cache" in res.output
    ann = load_annotation(out)
    assert ann.image_path == "scene.tif" and (ann.image_width, ann.image_height) == (120, 96)
    assert ann.farmannot["provenance"]["method"] == "sam-proposals"
    assert ann.farmannot["scene"]["crs"] == "EPSG:32618"
    assert ann.shapes, "random SAM with thresholds off still proposes masks"
    for s in ann.shapes:
        assert s.flags == {"proposal": True}
        assert s.label in ("farmland", "_background_")
        pts = np.asarray(s.points)
        assert (pts[:, 0] >= 0).all() and (pts[:, 0] <= 120).all()
        assert (pts[:, 1] >= 0).all() and (pts[:, 1] <= 96).all()
        if s.label == "farmland" and s.group_id is None:
            assert "score" in json.loads(s.description)["attributes"]
    # second run: every chip embedding comes from the disk cache, same proposals
    res2 = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert "6 embedding(s) from cache" in res2.output
    assert [s.points for s in load_annotation(out).shapes] == [s.points for s in ann.shapes]
    # the file opens in labelme's own loader
    from labelme._label_file import LabelFile
    assert len(LabelFile(str(out)).shapes) == len(ann.shapes)


def test_propose_without_checkpoint_says_how_to_get_one(scene, tmp_path, monkeypatch):
    monkeypatch.delenv("FARMANNOT_SAM_CHECKPOINT", raising=False)
    res = CliRunner().invoke(cli, ["propose", str(scene), "-o", str(tmp_path / "x.json")])
    assert res.exit_code != 0 and "--sam-checkpoint" in res.output and "Traceback" not in res.output
