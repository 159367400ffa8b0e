"""Edge metrics: the GTPBD protocol against a brute-force reference, and BSDS one-to-one matching."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from farmannot.train.metrics import MetricAccumulator, bsds_counts, bsds_summary, gtpbd_edge_scores, mask_boundary


def _brute_gtpbd(pred_b, gt_b, ts=(1, 2, 3, 4, 5)):
    """Reference by explicit pairwise distances (no distance transform)."""
    ps, gs = np.argwhere(pred_b), np.argwhere(gt_b)
    f1s = []
    for t in ts:
        if len(ps) and len(gs):
            d = cdist(ps, gs)
            tp = int((d.min(axis=1) <= t).sum())
            fn = int((d.min(axis=0) > t).sum())
        else:
            tp, fn = 0, len(gs)
        fp = len(ps) - tp
        p = tp / (tp + fp + 1e-10)
        r = tp / (tp + fn + 1e-10)  # the script's quirk: predicted-side TP over GT-side FN
        f1s.append(2 * p * r / (p + r + 1e-10))
    return np.mean(f1s), np.max(f1s)


def test_inner_boundary_excludes_image_border():
    m = np.zeros((6, 6), np.uint8)
    m[0:3, :] = 1
    b = mask_boundary(m)
    assert b[2].all() and b.sum() == 6  # only the row next to background; the border rows are not boundary
    assert not mask_boundary(np.ones((5, 5))).any()


def test_gtpbd_matches_bruteforce_on_random_shapes():
    rng = np.random.default_rng(1)
    for _ in range(5):
        gt = np.zeros((40, 40), np.uint8)
        pred = np.zeros_like(gt)
        for _ in range(3):
            y, x, h, w = rng.integers(0, 30, 4)
            gt[y:y + h // 2 + 3, x:x + w // 2 + 3] = 1
            dy, dx = rng.integers(-3, 4, 2)
            pred[max(0, y + dy):y + dy + h // 2 + 3, max(0, x + dx):x + dx + w // 2 + 3] = 1
        s = gtpbd_edge_scores(pred, gt)
        ods, ois = _brute_gtpbd(mask_boundary(pred), mask_boundary(gt))
        assert s["ODS"] == pytest.approx(ods) and s["OIS"] == pytest.approx(ois)


def test_gtpbd_recall_quirk_differs_from_textbook():
    gt = np.zeros((30, 30), np.uint8)
    gt[5:25, 5:25] = 1
    pred = np.zeros_like(gt)
    pred[5:25, 5:10:2] = 1  # three 1-px lines near the left GT edge: every pixel is a boundary pixel
    s = gtpbd_edge_scores(pred, gt)
    pb, gb = mask_boundary(pred), mask_boundary(gt)
    d = cdist(np.argwhere(pb), np.argwhere(gb))
    tp_pred = int((d.min(axis=1) <= 5).sum())
    fn = int((d.min(axis=0) > 5).sum())
    textbook = (gb.sum() - fn) / gb.sum()
    assert s["R@5"] == pytest.approx(tp_pred / (tp_pred + fn))
    assert s["R@5"] > textbook + 0.1  # the script's recall is not the textbook recall


def test_gtpbd_identical_empty_and_no_gt_boundary():
    gt = np.zeros((20, 20), np.uint8)
    gt[3:12, 4:15] = 1
    s = gtpbd_edge_scores(gt, gt)
    assert s["ODS"] == pytest.approx(1.0) and s["OIS"] == pytest.approx(1.0)
    z = np.zeros_like(gt)
    assert gtpbd_edge_scores(z, gt)["ODS"] == 0.0
    assert gtpbd_edge_scores(gt, z)["ODS"] == 0.0  # no GT boundary: nothing is within t
    assert gtpbd_edge_scores(z, z)["OIS"] == 0.0


def test_bsds_one_to_one_matching():
    gt = np.zeros((400, 400), np.uint8)
    gt[100:300, 100:300] = 1
    c = bsds_counts(gt.astype(float), gt)
    n = int(mask_boundary(gt).sum())
    assert tuple(c[50]) == (n, n, n, n)
    shifted = np.roll(gt, 3, axis=1)  # tolerance 0.0075 * 565.7 = 4.2 px
    c2 = bsds_counts(shifted.astype(float), gt)
    assert c2[0, 0] == n
    ring = np.zeros_like(gt)
    ring[99:301, 99:301] = 1
    ring[101:299, 101:299] = 0
    c3 = bsds_counts(ring.astype(float), gt)[0]
    assert c3[0] == n and c3[3] > 1.9 * n  # each GT pixel matched once: precision about 1/2
    s = bsds_summary([c3[None].repeat(3, 0)], np.array([0.2, 0.5, 0.8]))
    assert s["ODS"] == pytest.approx(2 * 1 * (n / c3[3]) / (1 + n / c3[3]), rel=1e-6)


def test_bsds_threshold_sweep_picks_best_level():
    gt = np.zeros((100, 100), np.uint8)
    gt[20:80, 20:80] = 1
    score = np.zeros((100, 100), np.float32)
    score[20:80, 20:80] = 0.7  # right parcel at 0.7
    score[0:10, 0:10] = 0.4  # spurious blob below 0.5
    th = np.array([0.3, 0.6])
    s = bsds_summary([bsds_counts(score, gt, th)], th)
    assert s["threshold"] == 0.6 and s["ODS"] == pytest.approx(1.0)


def test_accumulator_regions_and_protocols():
    gt = np.zeros((16, 16), np.uint8)
    gt[2:10, 2:10] = 1
    acc = MetricAccumulator()
    acc.add("a", gt, gt, region="north")
    acc.add("b", np.zeros_like(gt), gt, region="south")
    s = acc.summary()
    assert s["regions"]["north"]["IoU"] == pytest.approx(1.0) and s["regions"]["south"]["IoU"] == 0
    assert s["overall"]["ODS"] == pytest.approx(0.5)  # plain mean over images, the empty one included
    assert s["overall"]["GTC"] == 0.0  # empty prediction scores 0 (best) and is counted
    assert s["overall"]["Recall"] == pytest.approx(0.5)
    b = MetricAccumulator("bsds", bsds_levels=9)
    b.add("a", gt, gt)
    assert b.summary()["overall"]["ODS"] == pytest.approx(1.0)
