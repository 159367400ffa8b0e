"""One accumulator for a data set: pixel counts summed, edge and object scores averaged over images,
overall and per region."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from farmannot.train.metrics.edge import bsds_counts, bsds_summary, bsds_thresholds, gtpbd_edge_scores
from farmannot.train.metrics.object import object_scores
from farmannot.train.metrics.pixel import PixelCounts, pixel_counts, pixel_scores
from farmannot.train.metrics.protocol import Protocol

DEFINITIONS = {
    "Recall": "TP/(TP+FN) of the parcel class (GTPBD-MM Rec., App. C.1 eq. 3; the GTPBD script)",
    "Recall_mean": "mean of parcel and background recall (= mAcc): the 'Recall' of FarmSeg-VL's Tables 4-7",
    "ODS@gtpbd": "GTPBD script: per tile, mean boundary F1 over tolerances 1..5 px; then mean over tiles",
    "OIS@gtpbd": "GTPBD script: per tile, max boundary F1 over tolerances 1..5 px; then mean over tiles",
    "ODS@bsds": "BSDS benchmark: F of the counts summed over tiles at the best single score threshold",
    "OIS@bsds": "BSDS benchmark (collect_eval_bdry.m): F of the counts summed at each tile's best threshold",
    "ODS_paper": "GTPBD-MM App. C.2 eq. 9: best F over score thresholds of dataset-aggregated P and R "
                 "(one-to-one matching within 0.0075 x diagonal)",
    "OIS_paper": "GTPBD-MM App. C.2 eq. 10: mean over tiles of each tile's best F over score thresholds",
}


class MetricAccumulator:
    """Collects per-image results and summarises them overall and per region.

    Pixel metrics use confusion counts summed over images (pixels marked invalid, e.g. label 255, are left
    out); edge metrics (``gtpbd``) and object metrics are plain means over images, images without any
    boundary or parcel included, as the GTPBD script does. With ``protocol='bsds'`` the edge ODS/OIS come
    from the BSDS threshold sweep over the images' scores instead.

    Whatever the protocol, the summary also holds the paper definitions where they differ from the scripts:
    ``ODS_paper`` / ``OIS_paper`` (GTPBD-MM App. C.2: the threshold sweep, ODS from precision and recall
    aggregated over the data set, OIS the mean of each image's best F) and ``Recall_mean`` (FarmSeg-VL's
    "Recall", the two-class mean recall). :data:`DEFINITIONS` says which is which.

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
        sweep = bsds_summary([self._bsds[i] for i in idx], self.thresholds)
        if self.protocol == "bsds":
            out.update({"ODS": sweep["ODS"], "OIS": sweep["OIS"]})
        else:
            out["ODS"] = float(np.mean([self.images[i]["ODS"] for i in idx])) if idx else 0.0
            out["OIS"] = float(np.mean([self.images[i]["OIS"] for i in idx])) if idx else 0.0
        out["ODS_paper"], out["OIS_paper"] = sweep["ODS"], sweep["OIS_mean"]
        out["bsds_threshold"] = sweep["threshold"]
        for k in ("GOC", "GUC", "GTC"):
            out[k] = float(np.mean([self.images[i][k] for i in idx])) if idx else 0.0
        out["images"] = len(idx)
        return out

    def summary(self) -> dict:
        """``{'protocol', 'definitions', 'overall': {...}, 'regions': {region: {...}}}``."""
        by_region: dict[str, list[int]] = defaultdict(list)
        for i, rec in enumerate(self.images):
            by_region[rec["region"]].append(i)
        return {
            "protocol": self.protocol,
            "definitions": {k.split("@")[0]: v for k, v in DEFINITIONS.items()
                            if "@" not in k or k.endswith("@" + self.protocol)},
            "overall": self._summary(list(range(len(self.images)))),
            "regions": {r: self._summary(ix) for r, ix in sorted(by_region.items())},
        }
