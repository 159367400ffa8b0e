"""One accumulator for a data set: pixel counts summed, edge and object scores averaged over images,
overall and per region."""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

import numpy as np

from farmannot.train.metrics.edge import bsds_counts, bsds_summary, bsds_thresholds, gtpbd_edge_scores
from farmannot.train.metrics.object import object_scores
from farmannot.train.metrics.pixel import PixelCounts, pixel_counts, pixel_scores

Protocol = Literal["gtpbd", "bsds"]


class MetricAccumulator:
    """Collects per-image results and summarises them overall and per region.

    Pixel metrics use confusion counts summed over images (pixels marked invalid, e.g. label 255, are left
    out); edge metrics (``gtpbd``) and object metrics are plain means over images, images without any
    boundary or parcel included, as the GTPBD script does. With ``protocol='bsds'`` the edge ODS/OIS come
    from the BSDS threshold sweep over the images' scores instead.

    Args:
        protocol: edge protocol, ``gtpbd`` or ``bsds``.
        bsds_levels: number of score thresholds for ``bsds``.
    """

    def __init__(self, protocol: Protocol = "gtpbd", bsds_levels: int = 99) -> None:
        if protocol not in ("gtpbd", "bsds"):
            raise ValueError(f"unknown edge protocol {protocol!r}; use gtpbd or bsds")
        self.protocol = protocol
        self.thresholds = bsds_thresholds(bsds_levels)
        self.images: list[dict] = []
        self._bsds: list[np.ndarray] = []
        self._counts: list[PixelCounts] = []

    def add(self, name: str, pred: np.ndarray, gt: np.ndarray, *, region: str = "all",
            valid: np.ndarray | None = None, score: np.ndarray | None = None) -> dict:
        """Score one image and keep the result.

        Args:
            name: image (tile) name.
            pred: binary prediction (non-zero = parcel).
            gt: ground truth (non-zero = parcel; pass ``valid`` to leave ignore pixels out).
            region: region name for the breakdown.
            valid: optional mask of pixels that count for pixel metrics.
            score: optional parcel score in [0, 1] for the ``bsds`` sweep (default: ``pred``).

        Returns:
            The per-image record (pixel, edge and object scores).
        """
        counts = pixel_counts(pred, gt, valid)
        rec: dict = {"name": name, "region": region}
        rec.update({k: v for k, v in pixel_scores(counts).items() if k in ("F1", "IoU", "Precision", "Recall")})
        edge = gtpbd_edge_scores(pred, gt)
        rec["ODS"], rec["OIS"] = edge["ODS"], edge["OIS"]
        rec.update({k: v for k, v in edge.items() if k.startswith("F1@")})
        rec.update(object_scores(pred, gt))
        if self.protocol == "bsds":
            s = (np.asarray(pred) != 0).astype(np.float32) if score is None else score
            self._bsds.append(bsds_counts(s, gt, self.thresholds))
        self._counts.append(counts)
        self.images.append(rec)
        return rec

    def _summary(self, idx: list[int]) -> dict[str, float]:
        total = PixelCounts()
        for i in idx:
            total = total + self._counts[i]
        out = pixel_scores(total)
        if self.protocol == "bsds":
            out.update({f"{k}": v for k, v in bsds_summary([self._bsds[i] for i in idx], self.thresholds).items()})
            out["bsds_threshold"] = out.pop("threshold")
        else:
            out["ODS"] = float(np.mean([self.images[i]["ODS"] for i in idx])) if idx else 0.0
            out["OIS"] = float(np.mean([self.images[i]["OIS"] for i in idx])) if idx else 0.0
        for k in ("GOC", "GUC", "GTC"):
            out[k] = float(np.mean([self.images[i][k] for i in idx])) if idx else 0.0
        out["images"] = len(idx)
        return out

    def summary(self) -> dict:
        """``{'protocol', 'overall': {...}, 'regions': {region: {...}}}``."""
        by_region: dict[str, list[int]] = defaultdict(list)
        for i, rec in enumerate(self.images):
            by_region[rec["region"]].append(i)
        return {
            "protocol": self.protocol,
            "overall": self._summary(list(range(len(self.images)))),
            "regions": {r: self._summary(ix) for r, ix in sorted(by_region.items())},
        }
