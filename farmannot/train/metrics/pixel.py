"""Pixel metrics of the parcel class from confusion counts summed over all images (no per-image mean).

Definitions follow the GTPBD evaluation script: parcel = positive class; Precision = TP/(TP+FP),
Recall = TP/(TP+FN) (the true recall, not the per-class precision one public FarmSeg-VL implementation
prints as "recall"), F1 = 2PR/(P+R), IoU = TP/(TP+FP+FN), OA = (TP+TN)/N; mIoU, mAcc (mean per-class
recall) and mDice are means over the two classes {background, parcel}; Cohen's kappa from the 2 x 2 table.
Every denominator has ``EPS`` added, so an empty denominator gives 0, never NaN.

FarmSeg-VL's tables print a "Recall" that is the two-class mean recall: for every label-only model in its
Tables 4-7 the Recall column equals the mACC column to the last digit. ``Recall_mean`` is that number
(= ``mAcc``); compare FarmSeg-VL's Recall with it, GTPBD-MM's Rec. (App. C.1 eq. 3, TP/(TP+FN)) with ``Recall``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-10


@dataclass
class PixelCounts:
    """Confusion counts of the parcel class (add them up over images with ``+``)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: "PixelCounts") -> "PixelCounts":
        return PixelCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def pixel_counts(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> PixelCounts:
    """Confusion counts of two masks (non-zero = parcel).

    Args:
        pred: predicted mask, any integer or bool array.
        gt: ground-truth mask of the same shape.
        valid: optional boolean array; pixels where it is False (e.g. label 255 = ignore) are not counted.

    Returns:
        The counts as :class:`PixelCounts`.

    Raises:
        ValueError: when the shapes differ.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    p = np.asarray(pred) != 0
    g = np.asarray(gt) != 0
    if valid is not None:
        v = np.asarray(valid, dtype=bool)
        p, g = p[v], g[v]
    tp = int(np.count_nonzero(p & g))
    fp = int(np.count_nonzero(p & ~g))
    fn = int(np.count_nonzero(~p & g))
    tn = int(p.size - tp - fp - fn)
    return PixelCounts(tp, fp, fn, tn)


def pixel_scores(counts: PixelCounts) -> dict[str, float]:
    """All pixel metrics (fractions in [0, 1]) from summed confusion counts.

    Returns:
        Keys ``OA, Precision, Recall, F1, IoU, mIoU, mAcc, mDice, Kappa`` plus the background-class
        ``IoU_background`` and ``Recall_background`` and ``Recall_mean`` (FarmSeg-VL's "Recall", = mAcc).
    """
    tp, fp, fn, tn = (float(counts.tp), float(counts.fp), float(counts.fn), float(counts.tn))
    n = tp + fp + fn + tn
    precision = tp / (tp + fp + EPS)
    recall = tp / (tp + fn + EPS)
    f1 = 2 * precision * recall / (precision + recall + EPS)
    iou = tp / (tp + fp + fn + EPS)
    # background as the positive class: its TP is tn, its FP is fn, its FN is fp
    iou_bg = tn / (tn + fn + fp + EPS)
    recall_bg = tn / (tn + fp + EPS)
    dice = 2 * tp / (2 * tp + fp + fn + EPS)
    dice_bg = 2 * tn / (2 * tn + fn + fp + EPS)
    oa = (tp + tn) / (n + EPS)
    pe = ((tp + fp) * (tp + fn) + (fn + tn) * (fp + tn)) / (n * n + EPS)
    kappa = (oa - pe) / (1 - pe + EPS)
    return {
        "OA": oa,
        "Precision": precision,
        "Recall": recall,
        "F1": f1,
        "IoU": iou,
        "mIoU": (iou + iou_bg) / 2,
        "mAcc": (recall + recall_bg) / 2,
        "mDice": (dice + dice_bg) / 2,
        "Kappa": kappa,
        "IoU_background": iou_bg,
        "Recall_background": recall_bg,
        "Recall_mean": (recall + recall_bg) / 2,
    }
