"""Segmentation metrics as published: pixel, edge (``gtpbd`` and ``bsds`` protocols) and object.

Pure numpy/scipy/scikit-image; no torch. Every function takes binary masks (any non-zero = parcel) and
returns plain floats, so the metrics can score any model's saved predictions.

- :mod:`.pixel`: confusion counts and OA, Precision, Recall (= TP/(TP+FN)), F1, IoU, mIoU, mAcc, mDice, Kappa.
- :mod:`.edge`: boundary F-scores, ``gtpbd`` (the GTPBD script, quirks included) and ``bsds``.
- :mod:`.object`: GOC, GUC, GTC (lower is better).
- :mod:`.accumulate`: one accumulator for a data set with a per-region breakdown.
"""

from farmannot.train.metrics.accumulate import MetricAccumulator
from farmannot.train.metrics.edge import bsds_counts, bsds_summary, gtpbd_edge_scores, mask_boundary
from farmannot.train.metrics.object import object_scores
from farmannot.train.metrics.pixel import PixelCounts, pixel_counts, pixel_scores

__all__ = [
    "MetricAccumulator", "PixelCounts", "bsds_counts", "bsds_summary", "gtpbd_edge_scores", "mask_boundary",
    "object_scores", "pixel_counts", "pixel_scores",
]
