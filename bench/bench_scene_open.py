"""Opening a raw Landsat-sized product as the annotator's grid of views: GDAL's block cache in bytes vs 128 bytes.

``farmannot.sam.scene_views`` caps GDAL's block cache while it reads a large scene. rasterio hands an integer
``GDAL_CACHEMAX`` to ``GDALSetCacheMax64``, which counts bytes: the cap written as ``128`` (meant as MB) was a
128-byte cache, and a decimated read of a tiled, compressed scene then decodes every block again for each
output row. This times what ``annotate`` does when such a scene opens (scene-wide stretch from a decimated read,
the first view, the thumbnail) on a synthetic product the size of a Landsat 8 L1 scene (7,791 x 7,901 px,
uint16 blue/green/red, a DN-0 collar, no nodata tag, deflate tiles, no overviews), each way in a fresh
process, and prints the ratio. ``--full`` repeats each three times.

Run: PYTHONPATH=. .venv/bin/python bench/bench_scene_open.py [--full]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

REPO = Path(__file__).resolve().parents[1]
OPEN = """
import sys, time
import farmannot.sam.scene_views as sv
if sys.argv[2] == "128":
    sv._CACHE = 128  # what GDAL_CACHEMAX=GDAL_CACHE_MB gave
t = time.perf_counter()
scene = sv.LargeScene(sys.argv[1], {"red": 3, "green": 2, "blue": 1}, max_display=1024)
scene.view_picture(scene.views[0])
scene.overview(320)
print(time.perf_counter() - t)
"""


def raw_product(path: Path, width: int = 7791, height: int = 7901) -> None:
    """Land constant in 64 px blocks inside a tilted footprint, DN 0 around it."""
    rng = np.random.default_rng(0)
    blocks = np.stack([rng.normal(m, 900, (height // 64 + 1, width // 64 + 1)) for m in (9000, 9800, 10600)])
    blocks = blocks.clip(1, 60000).astype(np.uint16)
    a, cx, cy = np.deg2rad(12.0), width / 2, height / 2
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint16", tiled=True,
                       blockxsize=512, blockysize=512, compress="deflate", crs="EPSG:32621",
                       transform=from_origin(300000, 7000000, 30, 30)) as dst:
        for r0 in range(0, height, 512):
            y, x = np.mgrid[r0:min(r0 + 512, height), 0:width]
            u = (x + 0.5 - cx) * np.cos(a) + (y + 0.5 - cy) * np.sin(a)
            v = -(x + 0.5 - cx) * np.sin(a) + (y + 0.5 - cy) * np.cos(a)
            inside = (np.abs(u) <= width * 0.42) & (np.abs(v) <= height * 0.43)
            dst.write((blocks[:, y // 64, x // 64] * inside).astype(np.uint16), window=Window(0, r0, width, y.shape[0]))


def open_seconds(path: Path, cache: str) -> float:
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", OPEN, str(path), cache], capture_output=True, text=True, check=True,
                         env=env)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="three runs each way")
    runs = 3 if ap.parse_args().full else 1
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "LC08_L1TP_227070_20200816_20200920_02_T1.tif"
        raw_product(path)
        fast, slow = [], []
        for _ in range(runs):
            fast.append(open_seconds(path, "bytes"))
            slow.append(open_seconds(path, "128"))
    load = os.getloadavg()[0]
    print(f"raw Landsat-sized product 7791 x 7901 px, grid open (stretch, first view, thumbnail); load {load:.1f}")
    print(f"GDAL cache 128 MB (in bytes): {min(fast):.1f} s | 128-byte cache (the old setting): {min(slow):.1f} s | "
          f"ratio {min(slow) / min(fast):.1f}x")


if __name__ == "__main__":
    t = time.perf_counter()
    main()
    print(f"(whole script {time.perf_counter() - t:.0f} s)")
