"""Object metrics GOC, GUC, GTC of one image, as the GTPBD evaluation script computes them (lower is better).

Both masks are labelled with 8-connectivity (touching parcels merge into one object). Each predicted object
is matched to the GT object it overlaps most (ties: the lowest label). OC = 1 - overlap/area_gt,
UC = 1 - overlap/area_pred, TC = sqrt((OC^2 + UC^2)/2) (``tc='rms'``; the older script's sqrt(OC*UC) is
``tc='geometric'``). A predicted object overlapping no GT object scores 1, 1, 1; missed GT objects add
nothing. The image scores are sums weighted by predicted object area over the total predicted area.
An empty prediction scores 0, 0, 0 (the best score; the script counts such images in its mean), an empty
GT with a non-empty prediction 1, 1, 1.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from skimage.measure import label


def object_scores(pred: np.ndarray, gt: np.ndarray, tc: Literal["rms", "geometric"] = "rms") -> dict[str, float]:
    """GOC, GUC and GTC of one image.

    Args:
        pred: predicted mask (non-zero = parcel).
        gt: ground-truth mask of the same shape.
        tc: how OC and UC combine into TC: ``rms`` (current script) or ``geometric`` (older script).

    Returns:
        ``{'GOC': ..., 'GUC': ..., 'GTC': ...}``.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    pl, n_pred = label(np.asarray(pred) != 0, connectivity=2, return_num=True)
    gl, n_gt = label(np.asarray(gt) != 0, connectivity=2, return_num=True)
    if n_pred == 0:
        return {"GOC": 0.0, "GUC": 0.0, "GTC": 0.0}
    if n_gt == 0:
        return {"GOC": 1.0, "GUC": 1.0, "GTC": 1.0}
    joint = np.bincount(pl.ravel().astype(np.int64) * (n_gt + 1) + gl.ravel(),
                        minlength=(n_pred + 1) * (n_gt + 1)).reshape(n_pred + 1, n_gt + 1)
    area_pred = joint[1:].sum(axis=1).astype(float)
    area_gt = joint[:, 1:].sum(axis=0).astype(float)
    overlaps = joint[1:, 1:]
    best = np.argmax(overlaps, axis=1)  # argmax returns the first (lowest label) on ties
    ov = overlaps[np.arange(n_pred), best].astype(float)
    hit = ov > 0
    oc = np.where(hit, 1 - ov / area_gt[best], 1.0)
    uc = np.where(hit, 1 - ov / area_pred, 1.0)
    if tc == "rms":
        tcv = np.sqrt((oc ** 2 + uc ** 2) / 2)
    else:
        tcv = np.sqrt(oc * uc)
    tcv = np.where(hit, tcv, 1.0)
    w = area_pred / area_pred.sum()
    return {"GOC": float((w * oc).sum()), "GUC": float((w * uc).sum()), "GTC": float((w * tcv).sum())}
