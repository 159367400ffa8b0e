"""``farmannot predict`` throughput and memory.

1. Megapixels/s of the sliding-window path (overlap 64, ramp blending, windowed writes) against a plain
   non-overlapping loop (read a patch, run the model, write the patch) with the same model on the same
   scene, in one run. The model is a small U-Net (resnet18 encoder, random weights) built by the train
   package; patches 512 px.
2. Peak memory (``VmHWM`` read by a fresh process at its end, see ``bench/peak_memory.py``) of the sliding path for a small and a large synthetic scene
   with a trivial model, to show memory stays flat as the scene grows.

3. Peak memory of ``--polygons`` (draft polygons of a prediction GeoTIFF with field-like parcels of 20-60 px
   on a grid): farmannot reads the prediction in strips (``predict.polygons.class_band_polygons``); the
   reference reads the class and probability bands whole and polygonises them in one go
   (``parcel_polygons`` on the whole arrays, what ``predict --polygons`` did before). Same polygons (checked
   on the small scene), each measurement in its own process.

4. Band reads (``--bands-side``): a 12-band uint16 scene (deflate, as delivered scenes often are) predicted by
   a 3-band model with a trivial patch function, stored band- and pixel-interleaved, without and with a nodata
   value: the patch reads alone and the whole of ``predict``. farmannot reads the model's bands and the
   dataset mask (``io.raster.read_window_bands``); the reference reads every band of each patch and picks the
   model's (``read_window_all``, what ``predict`` did before). Same output checked.

Sizes: ``--quick`` (the default) times a 1024 px scene and measures memory at 2,048 and 4,096 px a side;
``--full`` times 1,536 px and measures memory at 2,048 and 12,000 px.

Run: .venv/bin/python bench/bench_predict.py [--full] [--side N] [--small N] [--large N] [--bands-side N]
     [--only-bands]
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


def make_scene(path: Path, side: int, bands: int = 3, dtype: str = "uint8", nodata: float | None = None,
               **creation) -> None:
    prof = dict(driver="GTiff", width=side, height=side, count=bands, dtype=dtype, crs="EPSG:32618",
                transform=from_origin(790000, 2050000, 1, 1), tiled=True, blockxsize=256, blockysize=256,
                nodata=nodata, **creation)
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **prof) as dst:
        for row in range(0, side, 1024):
            h = min(1024, side - row)
            dst.write(rng.integers(0, 255, (bands, h, side), dtype=np.uint8).astype(dtype),
                      window=Window(0, row, side, h))


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
        norm = lambda x, valid=None: (x - 127.0) / 50.0  # noqa: E731
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
              normalise=lambda x, valid: (x - 127.0) / 50.0, patch=1024, overlap=64, progress=False)
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
        print(f"peak memory, {side:>6} x {side:<6} scene ({side * side / 1e6:7.1f} MP): {mb:7.0f} MiB  ({secs:.1f} s)")
    print(f"memory ratio large/small: {rows[1][1] / rows[0][1]:.2f} for {rows[1][0] ** 2 / rows[0][0] ** 2:.0f}x the pixels")
    print(json.dumps({"small": rows[0], "large": rows[1]}))


def band_reads(side: int, bands: int = 12, repeats: int = 3) -> None:
    import farmannot.predict.scene as scene_mod
    from farmannot.io.raster import block_cache, read_window_all, read_window_bands
    from farmannot.predict.sliding import SlidingPlan

    idx = [4, 3, 2]

    def every_band(src, indexes, window):  # the reference: every band of the patch, then the model's
        data, valid = read_window_all(src, window)
        return data[[i - 1 for i in indexes]], valid

    def reads(scene: Path, read) -> float:  # the patch reads of predict alone
        with block_cache(scene_mod.GDAL_CACHE_MB), rasterio.open(scene) as src:
            plan = SlidingPlan.make(src.width, src.height, 1024, 64)
            t0 = time.perf_counter()
            for row in plan.rows:
                for win in plan.windows(row):
                    read(src, idx, win)
            return time.perf_counter() - t0

    def predict(scene: Path, out: Path, read) -> float:  # the whole of predict, trivial model
        own = scene_mod.read_window_bands
        scene_mod.read_window_bands = read
        try:
            t0 = time.perf_counter()
            scene_mod.predict_scene(scene, out, lambda x: 1 / (1 + np.exp(-x[:, :1])), ["parcel_probability"],
                                    band_indexes=idx, normalise=lambda x, valid: (x - 127.0) / 50.0,
                                    patch=1024, overlap=64, progress=False)
            return time.perf_counter() - t0
        finally:
            scene_mod.read_window_bands = own

    print(f"\n{bands}-band uint16 scene, deflate, {side} x {side}, 3-band model, 1024 px patches, best of {repeats} "
          "(alternated)\n\n| scene | patch reads: model's bands, every band (reference), ratio "
          "| predict: model's bands, every band, ratio |\n| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as d:
        for interleave in ("band", "pixel"):
            for nodata in (None, 0):
                scene = Path(d) / "bands.tif"
                make_scene(scene, side, bands, "uint16", nodata, compress="deflate", interleave=interleave)
                t: dict[str, list[float]] = {"r": [], "r0": [], "p": [], "p0": []}
                for _ in range(repeats):
                    t["r"].append(reads(scene, read_window_bands))
                    t["r0"].append(reads(scene, every_band))
                    t["p"].append(predict(scene, Path(d) / "fast.tif", read_window_bands))
                    t["p0"].append(predict(scene, Path(d) / "plain.tif", every_band))
                with rasterio.open(Path(d) / "fast.tif") as a, rasterio.open(Path(d) / "plain.tif") as b:
                    assert np.array_equal(a.read(), b.read(), equal_nan=True), "band reads changed the prediction"
                r, r0, p, p0 = (min(v) for v in t.values())
                print(f"| {interleave} interleave, nodata {nodata} | {r:.2f} s, {r0:.2f} s, {r0 / r:.2f} "
                      f"| {p:.2f} s, {p0:.2f} s, {p0 / p:.2f} |", flush=True)
                scene.unlink()


def make_prediction(path: Path, side: int) -> None:
    """A prediction GeoTIFF as ``predict`` writes it (probability, class) with field-like parcels on a grid."""
    prof = dict(driver="GTiff", width=side, height=side, count=2, dtype="float32", crs="EPSG:32618",
                transform=from_origin(790000, 2050000, 1, 1), tiled=True, blockxsize=256, blockysize=256,
                compress="deflate")
    rng = np.random.default_rng(0)
    cols = np.arange(side)
    with rasterio.open(path, "w", **prof) as dst:
        for row in range(0, side, 1024):
            rows = np.arange(row, min(row + 1024, side))[:, None]
            cell = 20 + (rows // 200 + cols // 200) % 5 * 10  # parcels of 20-60 px, a 1-2 px gap between
            inside = (rows % cell >= 2) & (cols % cell >= 1)
            prob = np.where(inside, 0.8, 0.2).astype(np.float32) + rng.random(inside.shape, np.float32) * 0.1
            dst.write(np.stack([prob, (prob >= 0.5).astype(np.float32)]), window=Window(0, row, side, len(rows)))


POLY_CHILD = r"""
import hashlib, json, sys, time
import numpy as np, rasterio
from peak_memory import peak_mib
from farmannot.predict.polygons import class_band_polygons, largest_first, parcel_polygons
path, how = sys.argv[1], sys.argv[2]
t = time.perf_counter()
if how == "strips":
    out = class_band_polygons(path, band=2)
else:
    with rasterio.open(path) as src:
        out = largest_first(parcel_polygons(np.nan_to_num(src.read(2), nan=0.0) >= 0.5, src.read(1)))
print(json.dumps({"peak": peak_mib(), "seconds": time.perf_counter() - t, "n": len(out),
                  "digest": hashlib.sha256(b"".join(g.wkb for g, _ in out)).hexdigest()}))
"""


def polygons_memory(small: int, large: int) -> None:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    print("\n| scene | draft polygons | strips: peak MiB, s | whole bands (reference): peak MiB, s |\n"
          "| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as d:
        for side in (small, large):
            pred = Path(d) / f"pred{side}.tif"
            make_prediction(pred, side)
            res = {}
            for how in ("strips", "whole"):
                out = subprocess.run([sys.executable, "-c", POLY_CHILD, str(pred), how], env=env,
                                     capture_output=True, text=True, check=True)
                res[how] = json.loads(out.stdout.strip().splitlines()[-1])
            assert res["strips"]["digest"] == res["whole"]["digest"], "strip and whole-scene polygons differ"
            s, w = res["strips"], res["whole"]
            print(f"| {side} x {side} | {s['n']:,} | {s['peak']:.0f}, {s['seconds']:.1f} | "
                  f"{w['peak']:.0f}, {w['seconds']:.1f} |", flush=True)
            pred.unlink()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="1,536 px throughput, memory up to 12,000 px")
    ap.add_argument("--side", type=int, default=None)
    ap.add_argument("--small", type=int, default=2048)
    ap.add_argument("--large", type=int, default=None)
    ap.add_argument("--bands-side", type=int, default=None, help="band-read scene side (default 2,048; --full 4,096)")
    ap.add_argument("--only-bands", action="store_true", help="only the band-read comparison")
    ap.add_argument("--band-repeats", type=int, default=3, help="band-read timings: best of this many")
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} at the start")
    if a.only_bands:
        band_reads(a.bands_side or (4096 if a.full else 2048), repeats=a.band_repeats)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        sys.exit()
    throughput(a.side or (1536 if a.full else 1024))
    large = a.large or (12000 if a.full else 4096)
    memory(a.small, large)
    polygons_memory(a.small, large)
    band_reads(a.bands_side or (4096 if a.full else 2048), repeats=a.band_repeats)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
