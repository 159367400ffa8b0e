"""Benchmark: SAM in the annotator's window, on this machine's CPU (GPU when one is visible).

Measures, with ViT-B-sized random weights (same modules and shapes as sam_vit_b_01ec64.pth) on a real
768 x 768 scene from sample_data/:

- embedding time (the image encoder; done in the background when an image opens);
- click-to-polygon latency once embedded (prompt encoder + mask decoder + upsampling + polygons in labelme's
  vertex convention), median and 90th percentile over clicks; target <= 100 ms;
- reopen with a cache hit (embedding read from the disk cache in a fresh session);
- the plain reference: what a click costs when nothing is cached (labelme 6.3's own path computes a missing
  embedding on the GUI thread), and the ratio.

Run: .venv/bin/python bench/bench_sam.py [--clicks 30] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from farmannot.labels.polygonize import mask_to_polygons, to_labelme_rings
from farmannot.sam.cache import EmbeddingCache
from farmannot.sam.imagery import render_picture
from farmannot.sam.model import PRESETS
from farmannot.sam.session import SamSession

SCENE = Path(__file__).resolve().parents[1] / "sample_data" / "scenes" / \
    "LC08_L1TP_224078_20200518_20200518_01_RT_subset.tif"


def click_to_polygons(session: SamSession, emb, x: float, y: float) -> int:
    mask, _ = session.predict(emb, [[x, y]], [1])
    parts = [r for rings in mask_to_polygons(mask, simplify_px=1.5, min_area_px=16) for r in to_labelme_rings(rings)]
    return len(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clicks", type=int, default=30)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}")
    rgb = render_picture(SCENE).rgb
    print(f"image {SCENE.name}: {rgb.shape[1]} x {rgb.shape[0]} px")

    with tempfile.TemporaryDirectory() as tmp:
        session = SamSession.random(PRESETS["vit_b"], seed=0, cache=EmbeddingCache(tmp))
        session.sam.to(args.device)
        n_params = sum(p.numel() for p in session.sam.parameters())
        print(f"model: ViT-B layout, {n_params / 1e6:.1f} M parameters (random weights)")

        t0 = time.perf_counter()
        emb, hit = session.embed(rgb)
        embed_s = time.perf_counter() - t0
        assert not hit
        print(f"embedding (image encoder), {args.device}: {embed_s:.2f} s")

        rng = np.random.default_rng(0)
        pts = rng.uniform(50, rgb.shape[0] - 50, size=(args.clicks + 3, 2))
        for x, y in pts[:3]:  # warm-up
            click_to_polygons(session, emb, x, y)
        lat, decode = [], []
        for x, y in pts[3:]:
            t0 = time.perf_counter()
            session.predict(emb, [[x, y]], [1])
            decode.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            click_to_polygons(session, emb, x, y)
            lat.append(time.perf_counter() - t0)
        med = statistics.median(lat) * 1000
        p90 = float(np.percentile(lat, 90)) * 1000
        dec_ms = statistics.median(decode) * 1000
        print(f"decoder (prompt -> mask at image size) once embedded: median {dec_ms:.0f} ms, "
              f"p90 {float(np.percentile(decode, 90)) * 1000:.0f} ms over {len(decode)} clicks")
        print(f"click -> polygons on random-weight masks (speckled, thousands of holes): median {med:.0f} ms, "
              f"p90 {p90:.0f} ms")

        # random weights give speckled masks (thousands of holes); a real checkpoint gives field outlines:
        # time the polygon step on a field-like mask too
        field = np.zeros(rgb.shape[:2], np.uint8)
        cv2.fillPoly(field, [np.array([[200, 180], [520, 230], [480, 560], [170, 500]], np.int32)], 1)
        cv2.circle(field, (330, 380), 25, 0, -1)
        t0 = time.perf_counter()
        for _ in range(10):
            parts = [r for rings in mask_to_polygons(field, 1.5, 16) for r in to_labelme_rings(rings)]
        poly_ms = (time.perf_counter() - t0) * 100
        click_ms = dec_ms + poly_ms
        print(f"polygons from a field-like mask (one field with a hole): {poly_ms:.1f} ms "
              f"({len(parts)} part, {sum(len(p.exterior) for p in parts)} vertices)")
        print(f"click -> polygons with field-like masks (decoder + polygons): {click_ms:.0f} ms; target <= 100 ms: "
              f"{'met' if click_ms <= 100 else 'NOT met'}")

        fresh = SamSession(session.sam, session.model_id, cache=EmbeddingCache(tmp), config=session.config)
        t0 = time.perf_counter()
        emb2, hit = fresh.embed(rgb)  # hashing the picture + reading the cache entry
        reopen_s = time.perf_counter() - t0
        assert hit and np.array_equal(emb2.features, emb.features)
        print(f"reopen with cache hit (digest + disk read): {reopen_s * 1000:.0f} ms")

        plain = embed_s + click_ms / 1000
        print(f"plain reference, first click with nothing cached (embedding on the spot): {plain:.2f} s")
        print(f"ratio reference / cached click: {plain / (click_ms / 1000):.0f}x; "
              f"embedding / cache-hit reopen: {embed_s / reopen_s:.0f}x")


if __name__ == "__main__":
    main()
