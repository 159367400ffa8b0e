"""GTPBD's published evaluation script, restated as the judge of ``evaluate`` and of the ``gtpbd-mm`` labels.

The script is ``caculate_pixel_edge_object.py`` of github.com/Z-ZW-WXQ/GTPBD (commit
a2524e2e720f4ba1c2988ef4e94c5fabbd7dfe24, 10 Feb 2026). The repository has no licence and is not available
to the test suite offline, so its logic is restated here, step by step, from reading it; nothing below is
imported from farmannot. What the script does, and this module does the same way:

- pairing: every ``*.tif`` of the prediction folder (``os.listdir`` order, at most 1000) whose name exists in
  the ground-truth folder; a prediction without ground truth is skipped;
- reading: ``rasterio`` ``src.read()``, the band axis squeezed, ``astype(np.uint8)``;
- pixel: per class 0 and 1, ``tp/fp/fn`` of ``pred == c`` against ``gt == c``, summed over images -> mIoU,
  mAcc; with parcel = value exactly 1, binary ``tp/fp/fn/tn`` summed over images -> P, R, F1, OA;
  ``1e-10`` in every denominator;
- object (per image, then a plain mean over images): both binary masks labelled with
  ``skimage.measure.label(connectivity=2)``; each predicted region (``regionprops``) takes the GT label it
  overlaps most (``np.unique`` order, first maximum); OC = 1 - overlap/area_gt, UC = 1 - overlap/area_pred,
  a region overlapping no GT gets OC = UC = 1; TC = sqrt((OC^2 + UC^2) / 2); weights = region area / total
  predicted area; no predicted region -> 0, 0, 0;
- boundary (per image, then a plain mean): ``skimage.segmentation.find_boundaries(mode='inner')`` of both
  masks; both empty -> OIS = ODS = 0; else ``scipy.ndimage.distance_transform_edt(1 - boundary)`` of each
  (on an array without zeros too, as the script does); for t in ``np.linspace(1, 5, 5)``:
  TP = predicted boundary pixels with GT distance <= t, FP = predicted boundary pixels - TP,
  FN = GT boundary pixels - GT boundary pixels with predicted distance <= t; P = TP/(TP+FP),
  R = TP/(TP+FN), F1 = 2PR/(P+R), each with 1e-10; OIS = max F1, ODS = mean F1.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
from scipy.ndimage import distance_transform_edt
from skimage import measure, segmentation

EPS = 1e-10
TOLERANCES = np.linspace(1, 5, 5)
MAX_IMAGES = 1000


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """The script's reading: every band with rasterio, a single band axis dropped, cast to uint8."""
    with rasterio.open(path) as src:
        data = src.read()
    if data.ndim == 3:
        data = data.squeeze(0)
    return data.astype(np.uint8)


def object_errors(pred_bin: np.ndarray, gt_bin: np.ndarray) -> tuple[float, float, float]:
    """GOC, GUC, GTC of one image, as the script's ``compute_object_metrics``."""
    gt_lab = measure.label(gt_bin, connectivity=2)
    pred_lab = measure.label(pred_bin, connectivity=2)
    gt_area = {r.label: r.area for r in measure.regionprops(gt_lab)}
    regions = measure.regionprops(pred_lab)
    if not regions:
        return 0.0, 0.0, 0.0
    total = sum(r.area for r in regions)
    goc = guc = gtc = 0.0
    for r in regions:
        inside = pred_lab == r.label
        under = gt_lab[inside]
        ids = np.unique(under[under != 0])
        if len(ids) == 0:
            oc = uc = 1.0
        else:
            hits = [int(np.sum(under == i)) for i in ids]
            best = ids[int(np.argmax(hits))]
            overlap = int(np.sum(inside & (gt_lab == best)))
            oc = 1 - overlap / gt_area[best]
            uc = 1 - overlap / r.area
        tc = np.sqrt((oc ** 2 + uc ** 2) / 2)
        w = r.area / total
        goc, guc, gtc = goc + oc * w, guc + uc * w, gtc + tc * w
    return float(goc), float(guc), float(gtc)


def boundary_scores(gt_bin: np.ndarray, pred_bin: np.ndarray) -> tuple[float, float]:
    """(OIS, ODS) of one image, as the script's ``compute_boundary_metrics`` (GT first, as it is called)."""
    gb = segmentation.find_boundaries(gt_bin, mode="inner").astype(np.uint8)
    pb = segmentation.find_boundaries(pred_bin, mode="inner").astype(np.uint8)
    if gb.sum() == 0 and pb.sum() == 0:
        return 0.0, 0.0
    d_gt = distance_transform_edt(1 - gb)
    d_pred = distance_transform_edt(1 - pb)
    f1s = []
    for t in TOLERANCES:
        tp = int(np.sum(pb & (d_gt <= t)))
        fp = int(pb.sum()) - tp
        fn = int(gb.sum()) - int(np.sum(gb & (d_pred <= t)))
        p = tp / (tp + fp + EPS)
        r = tp / (tp + fn + EPS)
        f1s.append(2 * p * r / (p + r + EPS))
    return float(np.max(f1s)), float(np.mean(f1s))


def score_arrays(pairs) -> dict[str, float]:
    """The script's summary over ``(pred, gt)`` uint8 arrays (what its main loop reads from the files)."""
    cls_tp, cls_fp, cls_fn = [0, 0], [0, 0], [0, 0]
    tp = fp = fn = tn = 0
    goc = guc = gtc = ois = ods = 0.0
    n = 0
    for pred, gt in pairs:
        for c in (0, 1):
            cls_tp[c] += int(np.sum((pred == c) & (gt == c)))
            cls_fp[c] += int(np.sum((pred == c) & (gt != c)))
            cls_fn[c] += int(np.sum((pred != c) & (gt == c)))
        pb, gb = (pred == 1).astype(np.uint8), (gt == 1).astype(np.uint8)
        tp += int(np.sum((pb == 1) & (gb == 1)))
        fp += int(np.sum((pb == 1) & (gb == 0)))
        fn += int(np.sum((pb == 0) & (gb == 1)))
        tn += int(np.sum((pb == 0) & (gb == 0)))
        o = object_errors(pb, gb)
        goc, guc, gtc = goc + o[0], guc + o[1], gtc + o[2]
        b = boundary_scores(gb, pb)
        ois, ods = ois + b[0], ods + b[1]
        n += 1
    p = tp / (tp + fp + EPS)
    r = tp / (tp + fn + EPS)
    ious = [cls_tp[c] / (cls_tp[c] + cls_fp[c] + cls_fn[c] + EPS) for c in (0, 1)]
    accs = [cls_tp[c] / (cls_tp[c] + cls_fn[c] + EPS) for c in (0, 1)]
    per_image = (lambda total: total / n if n else 0.0)
    return {"P": p, "R": r, "F1": 2 * p * r / (p + r + EPS), "OA": (tp + tn) / (tp + tn + fp + fn + EPS),
            "IoU": tp / (tp + fn + fp + EPS), "mIoU": float(np.mean(ious)), "mAcc": float(np.mean(accs)),
            "GOC": per_image(goc), "GUC": per_image(guc), "GTC": per_image(gtc),
            "OIS": per_image(ois), "ODS": per_image(ods), "images": n}


def score_folders(pred_dir: str | os.PathLike, gt_dir: str | os.PathLike) -> dict[str, float]:
    """The script's whole run: its pairing and reading of two folders of GeoTIFFs, then :func:`score_arrays`."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    names = [f for f in os.listdir(pred_dir) if f.endswith(".tif")][:MAX_IMAGES]
    pairs = ((read_mask(pred_dir / f), read_mask(gt_dir / f)) for f in names if (gt_dir / f).exists())
    return score_arrays(pairs)
