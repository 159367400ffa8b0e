"""``farmannot predict`` throughput and memory.

1. Megapixels/s of the sliding-window path (overlap 64, ramp blending, windowed writes) against a plain
   non-overlapping loop (read a patch, run the model, write the patch) with the same model on the same
   scene, in one run. The model is a small U-Net (resnet18 encoder, random weights) built by the train
   package; patches 512 px.
2. Peak memory (``VmHWM`` read by a fresh process at its end, see ``bench/peak_memory.py``) of the sliding path for a small and a large synthetic scene
   with a trivial model, to show memory stays flat as the scene grows.

Run: .venv/bin/python bench/bench_predict.py [--side 1536] [--large 12000]
"""

from __future__ import annotations

import argparse
import json
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


def make_scene(path: Path, side: int, bands: int = 3) -> None:
    prof = dict(driver="GTiff", width=side, height=side, count=bands, dtype="uint8", crs="EPSG:32618",
                transform=from_origin(790000, 2050000, 1, 1), tiled=True, blockxsize=256, blockysize=256)
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **prof) as dst:
        for row in range(0, side, 1024):
            h = min(1024, side - row)
            dst.write(rng.integers(0, 255, (bands, h, side), dtype=np.uint8), window=Window(0, row, side, h))


def throughput(side: int) -> None:
    import torch

    from farmannot.predict.scene import predict_scene
    from farmannot.train.models import build_model

    torch.set_num_threads(os.cpu_count() or 1)
    cfg = {"model": "unet", "encoder": "resnet18", "in_channels": 3, "inputs": "image"}
    model = build_model(cfg).eval()

    def predict(x):
        with torch.inference_mode():
            return torch.sigmoid(model(torch.from_numpy(x))).numpy()

    with tempfile.TemporaryDirectory() as d:
        scene = Path(d) / "scene.tif"
        make_scene(scene, side)
        norm = lambda x: (x - 127.0) / 50.0  # noqa: E731
        patch = 512
        t0 = time.perf_counter()
        predict_scene(scene, Path(d) / "pred.tif", predict, ["parcel_probability"], band_indexes=[1, 2, 3],
                      normalise=norm, patch=patch, overlap=64, batch_size=2, progress=False)
        fast = time.perf_counter() - t0

        # plain reference: non-overlapping patches, one at a time, no blending
        t0 = time.perf_counter()
        with rasterio.open(scene) as src:
            prof = src.profile | {"count": 1, "dtype": "float32"}
            with rasterio.open(Path(d) / "plain.tif", "w", **prof) as dst:
                for row in range(0, side, patch):
                    for col in range(0, side, patch):
                        win = Window(col, row, min(patch, side - col), min(patch, side - row))
                        x = norm(src.read(window=win).astype(np.float32))
                        dst.write(predict(x[None])[0, :1], window=win)
        plain = time.perf_counter() - t0
    mp = side * side / 1e6
    print(f"scene {side} x {side} px ({mp:.2f} MP), U-Net resnet18, patch 512, CPU threads {torch.get_num_threads()}")
    print(f"farmannot predict (overlap 64, blended) : {mp / fast:6.3f} MP/s ({fast:.1f} s)")
    print(f"plain non-overlapping loop               : {mp / plain:6.3f} MP/s ({plain:.1f} s)")
    print(f"ratio                                    : {plain / fast:6.2f} (1.0 = no overhead)")


MEM_CHILD = r"""
import sys, numpy as np
from peak_memory import peak_mib
from farmannot.predict.scene import predict_scene
scene, out = sys.argv[1], sys.argv[2]
predict_scene(scene, out, lambda x: 1 / (1 + np.exp(-x[:, :1])), ["parcel_probability"], band_indexes=[1, 2, 3],
              normalise=lambda x: (x - 127.0) / 50.0, patch=1024, overlap=64, progress=False)
print(peak_mib())
"""


def memory(small: int, large: int) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for side in (small, large):
            scene = Path(d) / f"s{side}.tif"
            make_scene(scene, side)
            t0 = time.perf_counter()
            env = os.environ | {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                                os.environ.get("PYTHONPATH", "")])}
            out = subprocess.run([sys.executable, "-c", MEM_CHILD, str(scene), str(Path(d) / "p.tif")], env=env,
                                 capture_output=True, text=True, check=True)
            rows.append((side, float(out.stdout.strip().splitlines()[-1]), time.perf_counter() - t0))
            scene.unlink()
    for side, mb, secs in rows:
        print(f"peak memory, {side:>6} x {side:<6} scene ({side * side / 1e6:7.1f} MP): {mb:7.0f} MB  ({secs:.1f} s)")
    print(f"memory ratio large/small: {rows[1][1] / rows[0][1]:.2f} for {rows[1][0] ** 2 / rows[0][0] ** 2:.0f}x the pixels")
    print(json.dumps({"small": rows[0], "large": rows[1]}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=1536)
    ap.add_argument("--small", type=int, default=2048)
    ap.add_argument("--large", type=int, default=12000)
    a = ap.parse_args()
    throughput(a.side)
    memory(a.small, a.large)
