"""evaluate: a trained run on a split, and saved predictions against GT folders, through the CLI."""

import json

import cv2
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from train_fixtures import TINY

from farmannot.cli.main import cli
from farmannot.train.config import TrainConfig
from farmannot.train.metrics import gtpbd_edge_scores, object_scores
from farmannot.train.trainer import train


def test_evaluate_run_writes_report(gtpbd_dataset, tmp_path):
    train(TrainConfig(dataset=str(gtpbd_dataset), epochs=1, batch_size=4, workers=0, **TINY), tmp_path / "run",
          progress=False)
    out = tmp_path / "report"
    r = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "run"), "--dataset", str(gtpbd_dataset), "--split",
                                 "test", "-o", str(out), "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["overall"]["images"] == 4 and set(m["regions"]) == {"north", "south"}
    assert m["regions"]["north"]["images"] + m["regions"]["south"]["images"] == 4
    md = (out / "report.md").read_text()
    assert "## Per region" in md and "| north |" in md and "plots/regions.png" in md
    assert len(list((out / "overlays").glob("*.png"))) == 4 and len(list((out / "predictions").glob("*.png"))) == 4


def test_evaluate_pred_gt_folders_matches_metric_functions(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    tp = fp = fn = 0
    ods, gtc = [], []
    for i in range(3):
        gt = np.zeros((40, 40), np.uint8)
        gt[5 + i:25, 8:30 - i] = 1
        pred = np.roll(gt, i + 1, axis=1)
        pred[30:35, 30:35] = 1
        cv2.imwrite(str(gt_dir / f"t{i}.png"), gt * 255)  # non-zero = parcel (the script would need value 1)
        cv2.imwrite(str(pred_dir / f"t{i}.png"), pred)
        tp += int((pred & gt).sum())
        fp += int((pred & (1 - gt)).sum())
        fn += int(((1 - pred) & gt).sum())
        ods.append(gtpbd_edge_scores(pred, gt)["ODS"])
        gtc.append(object_scores(pred, gt)["GTC"])
    cv2.imwrite(str(pred_dir / "orphan.png"), np.ones((40, 40), np.uint8))  # no GT: skipped
    out = tmp_path / "rep"
    r = CliRunner().invoke(cli, ["evaluate", "--pred", str(pred_dir), "--gt", str(gt_dir), "-o", str(out),
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    o = m["overall"]
    assert o["images"] == 3 and m["meta"]["predictions_without_gt"] == 1
    assert o["Recall"] == pytest.approx(tp / (tp + fn)) and o["Precision"] == pytest.approx(tp / (tp + fp))
    assert o["ODS"] == pytest.approx(np.mean(ods)) and o["GTC"] == pytest.approx(np.mean(gtc))


def test_evaluate_bsds_with_float_scores_and_errors(tmp_path):
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    gt = np.zeros((64, 64), np.uint8)
    gt[10:50, 10:50] = 1
    score = np.where(gt == 1, 0.8, 0.1).astype(np.float32)
    score[55:60, 55:60] = 0.3  # spurious blob below the best threshold
    cv2.imwrite(str(gt_dir / "a.png"), gt)
    with rasterio.open(pred_dir / "a.tif", "w", driver="GTiff", width=64, height=64, count=1, dtype="float32") as d:
        d.write(score, 1)
    out = tmp_path / "rep"
    r = CliRunner().invoke(cli, ["evaluate", "--pred", str(pred_dir), "--gt", str(gt_dir), "--protocol", "bsds",
                                 "--bsds-levels", "9", "-o", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    o = json.loads((out / "metrics.json").read_text())["overall"]
    assert o["ODS"] == pytest.approx(1.0) and o["bsds_threshold"] > 0.3
    r = CliRunner().invoke(cli, ["evaluate", "--pred", str(pred_dir), "-o", str(out)])
    assert r.exit_code != 0 and "--pred and --gt together" in r.output
