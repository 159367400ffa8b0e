"""Segmentation metrics as published: pixel, edge (``gtpbd`` and ``bsds`` protocols) and object.

Pure numpy/scipy/scikit-image; no torch. Every function takes binary masks (any non-zero = parcel) and
returns plain floats, so the metrics can score any model's saved predictions.

- :mod:`.pixel`: confusion counts and OA, Precision, Recall (= TP/(TP+FN)), F1, IoU, mIoU, mAcc, mDice, Kappa.
- :mod:`.edge`: boundary F-scores, ``gtpbd`` (the GTPBD script, quirks included) and ``bsds``.
- :mod:`.object`: GOC, GUC, GTC (lower is better).
- :mod:`.accumulate`: one accumulator for a data set with a per-region breakdown.
- :mod:`.protocol`: the edge protocols' names (no scipy).

The names below are loaded on first use, so that importing a light submodule (``protocol``) does not load
scipy and scikit-image.
"""

from __future__ import annotations

import importlib

_HOME = {
    "MetricAccumulator": "accumulate",
    "bsds_counts": "edge", "bsds_summary": "edge", "gtpbd_edge_scores": "edge", "mask_boundary": "edge",
    "object_scores": "object",
    "PixelCounts": "pixel", "pixel_counts": "pixel", "pixel_scores": "pixel",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
