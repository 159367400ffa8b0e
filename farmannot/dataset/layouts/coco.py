"""The COCO layout: ``coco/{split}/images/NAME.png`` (georeferenced), instances in ``coco/{split}.json``."""

from __future__ import annotations

from typing import Any

import numpy as np
from rasterio import features

from farmannot.dataset.layouts.tile import Tile, with_stem

NAME = "coco"
IMAGES = "images"


def files(tile: Tile) -> dict[str, bytes]:
    return with_stem(tile.rgb_png, f"{NAME}/{tile.split}/{IMAGES}/{tile.name}")


def rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO uncompressed RLE (column-major runs, starting with background) of a boolean mask."""
    flat = mask.ravel(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def coco_instances(parcel: np.ndarray) -> list[dict[str, Any]]:
    """COCO instances of a tile's parcel raster: polygons (pixel-edge coordinates) for parcels without holes,
    uncompressed RLE for parcels with holes (COCO polygons cannot hold a hole); bbox and area from pixels."""
    rings: dict[int, list] = {}
    for geom, v in features.shapes(parcel.astype(np.int32), mask=parcel > 0, connectivity=4):
        rings.setdefault(int(v), []).append(geom["coordinates"])
    out = []
    for pid in sorted(rings):
        m = parcel == pid
        rows, cols = np.nonzero(m)
        holes = any(len(poly) > 1 for poly in rings[pid])
        seg = rle(m) if holes else [[float(c) for xy in poly[0] for c in xy] for poly in rings[pid]]
        out.append({"parcel": pid, "segmentation": seg, "area": int(rows.size),
                    "bbox": [int(cols.min()), int(rows.min()), int(cols.max() - cols.min() + 1),
                             int(rows.max() - rows.min() + 1)], "iscrowd": 0})
    return out
