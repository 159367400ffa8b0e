"""Pixel and object metrics against hand-computed cases and independent formulas."""

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, jaccard_score, recall_score

from farmannot.train.metrics import object_scores, pixel_counts, pixel_scores
from farmannot.train.metrics.pixel import PixelCounts


def test_pixel_hand_case_recall_is_tp_over_tp_fn():
    gt = np.array([[1, 1, 1, 1], [0, 0, 0, 0]])
    pred = np.array([[1, 1, 0, 0], [1, 0, 0, 0]])
    c = pixel_counts(pred, gt)
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 2, 3)
    s = pixel_scores(c)
    assert s["Recall"] == pytest.approx(2 / 4)  # TP/(TP+FN), not the precision 2/3
    assert s["Precision"] == pytest.approx(2 / 3)
    assert s["F1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert s["IoU"] == pytest.approx(2 / 5)
    assert s["OA"] == pytest.approx(5 / 8)
    assert s["mIoU"] == pytest.approx((2 / 5 + 3 / 6) / 2)
    assert s["mAcc"] == pytest.approx((2 / 4 + 3 / 4) / 2)
    assert s["mDice"] == pytest.approx((4 / 7 + 6 / 9) / 2)


def test_pixel_against_sklearn_on_random_masks():
    rng = np.random.default_rng(0)
    gts, preds = rng.random((3, 16, 16)) > 0.6, rng.random((3, 16, 16)) > 0.5
    total = PixelCounts()
    for p, g in zip(preds, gts):
        total = total + pixel_counts(p, g)
    s = pixel_scores(total)
    y, yh = gts.ravel(), preds.ravel()
    assert s["Kappa"] == pytest.approx(cohen_kappa_score(y, yh))
    assert s["mIoU"] == pytest.approx(jaccard_score(y, yh, average="macro"))
    assert s["mAcc"] == pytest.approx(recall_score(y, yh, average="macro"))
    assert s["Recall"] == pytest.approx(recall_score(y, yh))


def test_pixel_empty_gives_zero_not_nan_and_valid_mask():
    s = pixel_scores(pixel_counts(np.zeros((4, 4)), np.zeros((4, 4))))
    assert s["Precision"] == 0 and s["Recall"] == 0 and s["IoU"] == 0 and not any(map(math.isnan, s.values()))
    gt = np.array([[1, 255], [0, 0]])
    pred = np.array([[1, 0], [0, 0]])
    c = pixel_counts(pred, gt, valid=gt != 255)
    assert (c.tp, c.fp, c.fn, c.tn) == (1, 0, 0, 2)


def test_object_hand_case_and_tc_variants():
    gt = np.zeros((10, 10), np.uint8)
    gt[1:5, 1:5] = 1  # 16 px
    pred = np.zeros_like(gt)
    pred[1:5, 1:3] = 1  # 8 px inside
    s = object_scores(pred, gt)
    assert s["GOC"] == pytest.approx(0.5) and s["GUC"] == pytest.approx(0.0)
    assert s["GTC"] == pytest.approx(math.sqrt(0.125))
    assert object_scores(pred, gt, tc="geometric")["GTC"] == pytest.approx(0.0)


def test_object_unmatched_weighting_and_empty_cases():
    gt = np.zeros((10, 10), np.uint8)
    gt[0:4, 0:4] = 1
    pred = np.zeros_like(gt)
    pred[0:4, 0:4] = 1  # perfect, 16 px
    pred[7:9, 7:9] = 1  # false object, 4 px -> 1, 1, 1
    s = object_scores(pred, gt)
    assert s["GOC"] == pytest.approx(4 / 20) and s["GUC"] == pytest.approx(4 / 20) and s["GTC"] == pytest.approx(4 / 20)
    assert object_scores(np.zeros_like(gt), gt) == {"GOC": 0.0, "GUC": 0.0, "GTC": 0.0}
    assert object_scores(pred, np.zeros_like(gt)) == {"GOC": 1.0, "GUC": 1.0, "GTC": 1.0}


def test_object_tie_goes_to_lowest_label_and_8_connectivity_merges():
    gt = np.zeros((6, 9), np.uint8)
    gt[0:3, 0:3] = 1  # label 1 (9 px)
    gt[0:2, 6:9] = 1  # label 2 (6 px)
    pred = np.zeros_like(gt)
    pred[0:2, 1:8] = 1  # overlaps label 1 by 4 px and label 2 by 4 px -> tie -> label 1
    s = object_scores(pred, gt)
    assert s["GOC"] == pytest.approx(1 - 4 / 9)
    assert s["GUC"] == pytest.approx(1 - 4 / 14)
    diag = np.zeros((4, 4), np.uint8)
    diag[0, 0] = diag[1, 1] = 1  # one object with 8-connectivity
    assert object_scores(diag, diag)["GTC"] == pytest.approx(0.0)
    gt2 = np.zeros((4, 4), np.uint8)
    gt2[0, 0] = 1
    # with 4-connectivity the second pixel would be an unmatched object (GUC > 0.5 weighted); merged it is 0.5
    assert object_scores(diag, gt2)["GUC"] == pytest.approx(0.5)
