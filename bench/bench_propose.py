"""``farmannot propose`` chips per second: first run (embeddings computed) vs re-run (embeddings cached).

A random-weight SAM (the same code path as a real checkpoint) on a synthetic 1024 x 1024 RGBN scene,
512 px chips with 128 px overlap (9 chips), 4 x 4 points per chip, quality thresholds off so every mask
goes through the polygon, seam-merge and filter steps. Random weights give noise masks, whose run-length
encoding inside segment-anything's generator dominates the time (real masks are smooth and encode fast):
read the mask-generation figure as a worst case. Also times the seam merge alone on 20,000
proposals against a plain all-pairs loop on 2,000.

Run: .venv/bin/python bench/bench_propose.py [--model tiny|vit_b]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from farmannot.sam.cache import EmbeddingCache
from farmannot.sam.model import PRESETS, TINY
from farmannot.sam.propose import ProposeOptions, propose_scene
from farmannot.sam.seams import Proposal, merge_proposals
from farmannot.sam.session import SamSession


def scene(path: Path, side: int = 1024) -> None:
    rng = np.random.default_rng(0)
    data = (rng.random((4, side, side)) * 30 + 50).astype(np.uint8)
    for k in range(60):  # fields
        r, c = rng.integers(0, side - 200, 2)
        data[3, r:r + rng.integers(60, 200), c:c + rng.integers(60, 200)] = 200
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=4, dtype="uint8",
                       crs="EPSG:32618", transform=from_origin(790000, 2050000, 1, 1)) as dst:
        dst.write(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["tiny", "vit_b"], default="tiny")
    a = ap.parse_args()
    cfg = TINY if a.model == "tiny" else PRESETS["vit_b"]
    opts = ProposeOptions(chip=512, overlap=128, points_per_side=4, pred_iou_thresh=-100, stability_score_thresh=-100, veg_filter="none")
    with tempfile.TemporaryDirectory() as d:
        s = Path(d) / "scene.tif"
        scene(s)
        sess = SamSession.random(cfg, cache=EmbeddingCache(Path(d) / "cache"))
        t0 = time.perf_counter()
        r1 = propose_scene(s, sess, opts, sensor="rgbn")
        first = time.perf_counter() - t0
        sess2 = SamSession.random(cfg, cache=EmbeddingCache(Path(d) / "cache"))
        t0 = time.perf_counter()
        r2 = propose_scene(s, sess2, opts, sensor="rgbn")
        again = time.perf_counter() - t0
    print(f"SAM {cfg.name} (random weights), 1024 x 1024 scene, {r1.chips} chips of 512 px, 4 x 4 points")
    print(f"first run (embeddings computed): {r1.chips / first:6.2f} chips/s ({first:.1f} s), "
          f"{r1.raw_masks} masks -> {len(r1.proposals)} proposals")
    print(f"re-run (embeddings from cache) : {r2.chips / again:6.2f} chips/s ({again:.1f} s), cache hits {r2.cache_hits}")
    print(f"ratio                          : {first / again:6.2f}x")

    rng = np.random.default_rng(0)
    props = [Proposal(box(x, y, x + 20, y + 20), 1.0, k % 9, bool(k % 5 == 0))
             for k, (x, y) in enumerate(rng.random((20000, 2)) * 20000)]
    t0 = time.perf_counter()
    merge_proposals(props)
    tree = time.perf_counter() - t0
    small = props[:2000]
    t0 = time.perf_counter()
    for i in range(len(small)):
        for j in range(i + 1, len(small)):
            small[i].geometry.intersects(small[j].geometry)
    pairs = time.perf_counter() - t0
    print(f"seam merge, 20,000 proposals (STRtree + union-find): {tree:.2f} s; "
          f"all-pairs intersects loop on 2,000: {pairs:.2f} s (20,000 would take ~{pairs * 100:.0f} s)")


if __name__ == "__main__":
    main()
