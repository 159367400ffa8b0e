"""``farmannot evaluate --protocol gtpbd`` judged by GTPBD's published evaluation script
(``caculate_pixel_edge_object.py`` of github.com/Z-ZW-WXQ/GTPBD, restated in ``tests/gtpbd_judge.py``).

Ground truths are parcels drawn by scikit-image (touching, holed, cut by the tile edge, none at all),
predictions are what a model gets wrong (shifted, merged, split, spurious, missed, empty); both are written
as GeoTIFFs, the only files the script reads, and scored by both from the same folders.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from gtpbd_judge import boundary_scores, score_folders
from rasterio.transform import from_origin
from skimage.draw import disk, polygon
from skimage.morphology import dilation
from skimage.morphology import disk as footprint

from farmannot.cli.main import cli
from farmannot.train.metrics import gtpbd_edge_scores

H, W = 48, 56
#: every summary value the script prints -> the key farmannot's metrics.json gives it
KEYS = {"P": "Precision", "R": "Recall", "F1": "F1", "OA": "OA", "IoU": "IoU", "mIoU": "mIoU", "mAcc": "mAcc",
        "GOC": "GOC", "GUC": "GUC", "GTC": "GTC", "OIS": "OIS", "ODS": "ODS"}


def _write(path, arr):
    with rasterio.open(path, "w", driver="GTiff", width=arr.shape[1], height=arr.shape[0], count=1, dtype="uint8",
                       crs="EPSG:32618", transform=from_origin(500000, 4000000, 2, 2)) as dst:
        dst.write(arr[None])


def _ground_truth(rng) -> np.ndarray:
    gt = np.zeros((H, W), np.uint8)
    for _ in range(int(rng.integers(1, 5))):
        r, c = rng.integers(0, H), rng.integers(0, W)
        rr, cc = polygon([r, r + rng.integers(6, 20), r + rng.integers(6, 20), r],
                         [c, c + rng.integers(-4, 5), c + rng.integers(8, 24), c + rng.integers(8, 24)], (H, W))
        gt[rr, cc] = 1
    return gt


def _cases(seed=3):
    """(name, prediction, ground truth): the mistakes a model makes on drawn parcels."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(8):
        gt = _ground_truth(rng)
        out.append((f"shift{i}", np.roll(gt, int(rng.integers(-3, 4)), axis=i % 2), gt))
    gt = _ground_truth(rng)
    gt[20:30, 0:12] = 1
    gt[20:30, 13:24] = 1                                               # two parcels one pixel apart
    merged = gt.copy()
    merged[20:30, 12] = 1
    out.append(("merged", merged, gt))
    split = gt.copy()
    split[:, W // 2] = 0
    out.append(("split", split, gt))
    spurious = gt.copy()
    spurious[disk((40, 45), 5, shape=(H, W))] = 1
    out.append(("spurious", spurious, gt))
    holed = gt.copy()
    holed[disk((24, 6), 2)] = 0
    out.append(("holed", dilation(holed, footprint(1)), gt))
    out.append(("missed", np.zeros((H, W), np.uint8), gt))
    out.append(("nothing", np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)))
    return out


@pytest.fixture()
def folders(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    for name, pred, gt in _cases():
        _write(pred_dir / f"{name}.tif", pred)
        _write(gt_dir / f"{name}.tif", gt)
    _write(pred_dir / "orphan.tif", np.ones((H, W), np.uint8))          # no ground truth: both skip it
    return pred_dir, gt_dir


def _evaluate(pred_dir, gt_dir, out) -> dict:
    res = CliRunner().invoke(cli, ["evaluate", "--pred", str(pred_dir), "--gt", str(gt_dir), "-o", str(out),
                                   "--protocol", "gtpbd", "--no-progress"])
    assert res.exit_code == 0, res.output
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))["overall"]


def test_evaluate_gives_the_gtpbd_scripts_numbers(folders, tmp_path):
    pred_dir, gt_dir = folders
    script = score_folders(pred_dir, gt_dir)
    ours = _evaluate(pred_dir, gt_dir, tmp_path / "report")
    assert ours["images"] == script["images"] == 14
    assert {k: ours[v] for k, v in KEYS.items()} == pytest.approx({k: script[k] for k in KEYS}, rel=1e-9, abs=1e-12)
    # the cases are not trivial: every summary is away from its best value
    assert script["R"] < 0.95 and script["ODS"] < 0.9 and script["GTC"] > 0.05 and script["mIoU"] < 0.95


def test_the_judge_sees_a_wrong_prediction(folders, tmp_path):
    """One prediction changed: the script's numbers move, so equality above is not trivially true."""
    pred_dir, gt_dir = folders
    before = score_folders(pred_dir, gt_dir)
    _write(pred_dir / "shift0.tif", np.zeros((H, W), np.uint8))
    after = score_folders(pred_dir, gt_dir)
    assert after["R"] < before["R"] and after["ODS"] < before["ODS"]
    assert _evaluate(pred_dir, gt_dir, tmp_path / "r")["ODS"] == pytest.approx(after["ODS"], rel=1e-9)


def test_the_one_documented_difference_is_a_tile_without_ground_truth_boundary():
    """A prediction with a boundary on a tile whose ground truth has none: the script's distance transform
    runs on an array without zeros and measures distances to a phantom pixel outside the top-left corner, so
    predicted boundary pixels near that corner count as matched; farmannot scores the tile F1 = 0
    (``farmannot.train.metrics.edge``, REFERENCES: "treat that case as no GT boundary within t")."""
    gt = np.zeros((H, W), np.uint8)
    pred = np.zeros((H, W), np.uint8)
    pred[0:4, 0:6] = 1
    ois, ods = boundary_scores(gt, pred)
    assert ods > 0                                                     # the script's artefact
    ours = gtpbd_edge_scores(pred, gt)
    assert ours["ODS"] == 0.0 and ours["OIS"] == 0.0
