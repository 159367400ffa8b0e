"""Paper and script definitions side by side, on hand-computed numbers."""

import numpy as np
import pytest

from farmannot.train.metrics import (
    MetricAccumulator,
    PixelCounts,
    bsds_summary,
    pixel_scores,
)
from farmannot.train.report import definitions_table, summary_line


def test_farmsegvl_recall_is_the_two_class_mean_recall():
    s = pixel_scores(PixelCounts(tp=6, fp=2, fn=4, tn=8))
    assert s["Recall"] == pytest.approx(6 / 10)  # GTPBD-MM Rec.: TP/(TP+FN)
    assert s["Recall_mean"] == pytest.approx((6 / 10 + 8 / 10) / 2)  # FarmSeg-VL: (0.6 + 0.8) / 2 = 0.7
    assert s["Recall_mean"] == pytest.approx(s["mAcc"])


def test_bsds_ois_sums_counts_and_paper_ois_averages_f():
    # rows: [matched GT, total GT, matched pred, total pred] at two thresholds
    a = np.array([[8, 10, 8, 10],   # F = 0.8 (best for a)
                  [4, 10, 4, 4]])   # R 0.4, P 1, F 0.571
    b = np.array([[1, 2, 1, 4],     # R 0.5, P 0.25, F 1/3
                  [2, 2, 2, 2]])    # F = 1 (best for b)
    s = bsds_summary([a, b], np.array([0.3, 0.7]))
    assert s["OIS_mean"] == pytest.approx((0.8 + 1.0) / 2)  # GTPBD-MM eq. 10
    assert s["OIS"] == pytest.approx(10 / 12)  # BSDS benchmark: (8+2)/(10+2) and (8+2)/(10+2), one F
    # ODS: threshold 0.3 sums to R 9/12, P 9/14 -> F 27/39; threshold 0.7 to R 1/2, P 1 -> F 2/3
    assert s["ODS"] == pytest.approx(27 / 39) and s["threshold"] == 0.3


def test_accumulator_reports_both_definitions_labelled():
    gt = np.zeros((32, 32), np.uint8)
    gt[4:20, 4:20] = 1
    for protocol in ("gtpbd", "bsds"):
        acc = MetricAccumulator(protocol, bsds_levels=9)
        acc.add("perfect", gt, gt)
        acc.add("empty", np.zeros_like(gt), gt)
        summary = acc.summary()
        o = summary["overall"]
        # paper OIS: best F per tile (1 and 0), averaged; paper ODS: summed counts R 1/2, P 1 -> F 2/3
        assert o["OIS_paper"] == pytest.approx(0.5) and o["ODS_paper"] == pytest.approx(2 / 3)
        assert o["Recall_mean"] == pytest.approx(o["mAcc"])
        table = definitions_table(summary)
        assert "FarmSeg-VL" in table and "GTPBD-MM paper App. C.2 eq. 10" in table and "| 50.00 |" in table
        line = summary_line(summary)
        assert f"ODS/OIS {protocol}" in line and "GTPBD-MM paper 66.67/50.00" in line
    assert o["OIS"] == pytest.approx(2 / 3)  # bsds: counts summed at each tile's best threshold
    assert "OIS, BSDS benchmark" in table and "GTPBD script" not in table.split("Recall")[-1]
