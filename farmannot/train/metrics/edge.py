"""Boundary metrics: the ``gtpbd`` protocol (the GTPBD evaluation script, quirks included) and ``bsds``.

``gtpbd`` (per image, then a plain mean over images):
boundaries of each binary mask are ``skimage.segmentation.find_boundaries(mode='inner')`` (the image border
is not a boundary). With the Euclidean distance transform of each inverted boundary map, for tolerances
t = 1..5 px: TP = predicted boundary pixels within t of a GT boundary pixel, FP = the other predicted
boundary pixels, FN = GT boundary pixels with no predicted boundary pixel within t. P = TP/(TP+FP),
R = TP/(TP+FN) -- the predicted-side TP over the GT-side FN, not the textbook recall; the script does this
and so do we -- F1 = 2PR/(P+R), with 1e-10 in every denominator. OIS = max F1 over t, ODS = mean F1 over t.
When one mask has no boundary at all, the script's distance transform runs on an array without zeros and
returns distances to a phantom pixel outside the image; we treat that case as "no boundary within t"
(so an image without GT boundary scores F1 = 0 whatever the prediction).

``bsds``: parcel scores are thresholded at ``n`` levels; at each level the predicted boundary is matched
one-to-one (maximum bipartite matching) to the GT boundary within 0.0075 x the image diagonal. ODS = F of
the counts summed over the data set at the best fixed threshold; OIS = F of the counts summed with each
image's own best threshold -- what the BSDS500 benchmark code computes (``collect_eval_bdry.m``: the counts
``cntR/sumR/cntP/sumP`` at each image's best threshold are added up, then one F).

The GTPBD-MM paper (App. C.2, eqs. 8-10) defines ODS and OIS over score thresholds instead of the script's
distance tolerances: ODS = the best F over thresholds of the precision and recall aggregated over the data
set (= the ``bsds`` ODS), OIS = the *mean* over images of each image's best F. :func:`bsds_summary` returns
that mean as ``OIS_mean``; it differs from the BSDS OIS whenever images have different boundary lengths.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from scipy.spatial import cKDTree
from skimage.segmentation import find_boundaries

EPS = 1e-10
GTPBD_TOLERANCES = (1, 2, 3, 4, 5)
BSDS_MAX_DIST = 0.0075


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """Inner boundary (bool) of a binary mask (non-zero = parcel), as the GTPBD script computes it."""
    return find_boundaries((np.asarray(mask) != 0).astype(np.uint8), mode="inner")


def _distance_to(boundary: np.ndarray) -> np.ndarray:
    """Distance of every pixel to the nearest boundary pixel; +inf everywhere when there is none."""
    if not boundary.any():
        return np.full(boundary.shape, np.inf)
    return distance_transform_edt(~boundary)


def gtpbd_edge_scores(pred: np.ndarray, gt: np.ndarray,
                      tolerances: tuple[int, ...] = GTPBD_TOLERANCES) -> dict[str, float]:
    """Edge scores of one image by the GTPBD protocol.

    Args:
        pred: predicted mask (non-zero = parcel).
        gt: ground-truth mask of the same shape.
        tolerances: distance tolerances in pixels (the script uses 1..5).

    Returns:
        ``ODS`` (mean F1 over tolerances), ``OIS`` (max F1), and ``F1@t``/``P@t``/``R@t`` per tolerance.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    pb = mask_boundary(pred)
    gb = mask_boundary(gt)
    d_gt = _distance_to(gb)
    d_pred = _distance_to(pb)
    n_pred = int(pb.sum())
    out: dict[str, float] = {}
    f1s = []
    for t in tolerances:
        tp = int(np.count_nonzero(pb & (d_gt <= t)))
        fp = n_pred - tp
        fn = int(np.count_nonzero(gb & (d_pred > t)))
        p = tp / (tp + fp + EPS)
        r = tp / (tp + fn + EPS)
        f1 = 2 * p * r / (p + r + EPS)
        out[f"P@{t}"], out[f"R@{t}"], out[f"F1@{t}"] = p, r, f1
        f1s.append(f1)
    out["ODS"] = float(np.mean(f1s))
    out["OIS"] = float(np.max(f1s))
    return out


def _match_count(pb: np.ndarray, gb: np.ndarray, max_dist: float) -> int:
    """Size of a maximum one-to-one matching of predicted to GT boundary pixels within ``max_dist``."""
    ps = np.argwhere(pb)
    gs = np.argwhere(gb)
    if len(ps) == 0 or len(gs) == 0:
        return 0
    pairs = cKDTree(ps).sparse_distance_matrix(cKDTree(gs), max_dist, output_type="coo_matrix")
    if pairs.nnz == 0:
        return 0
    graph = csr_matrix((np.ones(pairs.nnz, dtype=np.int8), (pairs.row, pairs.col)), shape=(len(ps), len(gs)))
    match = maximum_bipartite_matching(graph, perm_type="column")
    return int(np.count_nonzero(match >= 0))


def bsds_thresholds(n: int = 99) -> np.ndarray:
    """The BSDS benchmark's threshold levels: ``n`` evenly spaced values strictly inside (0, 1)."""
    return np.linspace(1.0 / (n + 1), n / (n + 1.0), n)


def bsds_counts(score: np.ndarray, gt: np.ndarray, thresholds: np.ndarray | None = None,
                max_dist: float = BSDS_MAX_DIST) -> np.ndarray:
    """BSDS counts of one image at every threshold.

    Args:
        score: parcel score in [0, 1] (a binary mask works too: 1 = parcel).
        gt: ground-truth mask (non-zero = parcel).
        thresholds: score levels (default :func:`bsds_thresholds`); parcel = score >= level.
        max_dist: matching tolerance as a fraction of the image diagonal.

    Returns:
        Array ``(len(thresholds), 4)`` of ``[matched GT, total GT, matched pred, total pred]`` boundary pixels.
    """
    thresholds = bsds_thresholds() if thresholds is None else np.asarray(thresholds, dtype=float)
    score = np.asarray(score, dtype=np.float32)
    gb = mask_boundary(gt)
    tol = max_dist * float(np.hypot(*gt.shape))
    n_gt = int(gb.sum())
    out = np.zeros((len(thresholds), 4), dtype=np.int64)
    prev_mask = None
    prev_row = None
    for i, th in enumerate(thresholds):
        m = score >= th
        if prev_mask is not None and np.array_equal(m, prev_mask):
            out[i] = prev_row
            continue
        pb = mask_boundary(m)
        matched = _match_count(pb, gb, tol)
        out[i] = (matched, n_gt, matched, int(pb.sum()))
        prev_mask, prev_row = m, out[i].copy()
    return out


def _f_from_counts(c: np.ndarray) -> np.ndarray:
    r = c[..., 0] / (c[..., 1] + EPS)
    p = c[..., 2] / (c[..., 3] + EPS)
    return 2 * p * r / (p + r + EPS)


def bsds_summary(per_image_counts: list[np.ndarray], thresholds: np.ndarray | None = None) -> dict[str, float]:
    """ODS, OIS and the best threshold from the per-image outputs of :func:`bsds_counts`.

    Returns:
        ``ODS`` (F of the summed counts at the best single threshold), ``OIS`` (BSDS benchmark: F of the
        counts summed at each image's best threshold), ``OIS_mean`` (GTPBD-MM eq. 10: mean of each image's
        best F) and ``threshold`` (the ODS threshold).
    """
    thresholds = bsds_thresholds() if thresholds is None else np.asarray(thresholds, dtype=float)
    if not per_image_counts:
        return {"ODS": 0.0, "OIS": 0.0, "OIS_mean": 0.0, "threshold": float("nan")}
    stack = np.stack(per_image_counts)  # images x thresholds x 4
    total = stack.sum(axis=0)
    f = _f_from_counts(total)
    best = int(np.argmax(f))
    per_f = _f_from_counts(stack)  # images x thresholds
    per_best = np.argmax(per_f, axis=1)  # the first best threshold on ties, as the benchmark's find(F==max(F))
    ois_counts = stack[np.arange(len(stack)), per_best].sum(axis=0)
    return {"ODS": float(f[best]), "OIS": float(_f_from_counts(ois_counts)),
            "OIS_mean": float(per_f.max(axis=1).mean()), "threshold": float(thresholds[best])}
