"""Caption suggestions per 512 x 512 tile (mask + 4 bands + DEM), one core: farmannot vs the plain path.

The plain path is the same code with the DEM trend smoothed by scipy's full-resolution Gaussian (sigma 60 px
at 1 m) instead of the block-averaged OpenCV blur; the script checks both give the same keywords, then
prints tiles/s and the ratio. Run: .venv/bin/python bench/bench_captions.py [--tiles N]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from farmannot.captions import measures  # noqa: E402
from farmannot.captions.suggest import suggest_keywords  # noqa: E402

cv2.setNumThreads(1)


def make_tiles(n: int, size: int = 512, seed: int = 0):
    """Parcels of random size on a terraced or rolling DEM, with vegetation, a pond and soil."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for i in range(n):
        mask = np.zeros((size, size), bool)
        step_r, step_c = rng.integers(20, 60), rng.integers(20, 90)
        for r in range(0, size, step_r):
            for c in range(0, size, step_c):
                if rng.random() < 0.7:
                    mask[r + 2:r + step_r - 2, c + 2:c + step_c - 2] = True
        nir = np.where(rng.random((size, size)) < 0.5, 0.4, 0.15).astype(np.float32)
        nir[400:470, 30:120] = 0.02
        bands = {"red": np.full((size, size), 0.1, np.float32), "green": np.full((size, size), 0.09, np.float32),
                 "blue": np.full((size, size), 0.06, np.float32), "nir": nir}
        if i % 2:
            dem = 600.0 + np.floor(yy / 12) * 12 * np.tan(np.radians(10))
        else:
            dem = 300.0 + 20 * np.sin(xx / 80.0) * np.cos(yy / 60.0)
        out.append((mask, bands, dem))
    return out


def run(tiles) -> list[dict]:
    return [{k: v.value for k, v in suggest_keywords(m, b, d, 1.0).items()} for m, b, d in tiles]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiles", type=int, default=8)
    args = ap.parse_args()
    tiles = make_tiles(args.tiles)
    run(tiles[:1])
    t0 = time.perf_counter()
    fast = run(tiles)
    t_fast = time.perf_counter() - t0
    original = measures.smooth
    measures.smooth = lambda z, s: ndimage.gaussian_filter(np.asarray(z, np.float64), s, mode="nearest")
    try:
        t0 = time.perf_counter()
        plain = run(tiles)
        t_plain = time.perf_counter() - t0
    finally:
        measures.smooth = original
    same = sum(a == b for a, b in zip(fast, plain))
    print(f"tiles: {len(tiles)}  identical keywords: {same}/{len(tiles)}")
    print(f"farmannot: {len(tiles) / t_fast:6.2f} tiles/s   plain scipy Gaussian: {len(tiles) / t_plain:6.2f} tiles/s"
          f"   ratio {t_plain / t_fast:.1f}x")


if __name__ == "__main__":
    main()
