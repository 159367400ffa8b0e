"""Benchmark: ``build-dataset`` throughput against the raw cost of reading and writing the same tiles, and
peak memory on a small and a large scene.

Throughput: 4 synthetic 1024 x 1024 x 4 (R, G, B, NIR) uint8 GeoTIFF scenes with a grid of 64 parcels each
(touching, one hole), tiles of 256 px, layout ``gtpbd-mm`` (image, mask, boundary, parcel, caption text),
no card; imports and first-call caches are warmed on a tiny project first. The reference is the raw work on
the same 64 tiles in one process: read the window, stretch it with the same scene statistics, encode and
write the image PNG plus three PNGs of the same size (mask, boundary, parcel of a plain rasterisation
without repair, footprint rule, boundaries, captions or checksums) and the text. farmannot runs with 1 and 2
local workers; tiles/s include process start-up of the pool.

Memory: one scene of 1024 x 1024 and one of 8192 x 8192 (64 M px, 256 MB of pixels; 4,096 parcels), tiles of
512 px, each build in its own process; peak resident memory of that process read by the process itself at its
end (``VmHWM``, see ``bench/peak_memory.py``: ``ru_maxrss`` would report the parent's peak).

Run: ``.venv/bin/python bench/bench_build_dataset.py [--skip-memory]``; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_scene(folder: Path, name: str, size: int, region: str, parcels_per_side: int) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    (folder / "scenes").mkdir(parents=True, exist_ok=True)
    (folder / "annotations").mkdir(exist_ok=True)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 4, "dtype": "uint8",
               "crs": "EPSG:32618", "transform": from_origin(500000, 2050000, 5, 5), "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    step = size // parcels_per_side
    with rasterio.open(folder / "scenes" / f"{name}.tif", "w", **profile) as dst:
        dst.descriptions = ("red", "green", "blue", "nir")
        for r0 in range(0, size, 1024):  # written in strips: the generator itself stays small
            h = min(1024, size - r0)
            rows = np.arange(r0, r0 + h)[:, None]
            cols = np.arange(size)[None, :]
            field = ((rows // step + cols // step) % 3).astype(np.uint8)
            band = np.stack([60 + 20 * field, 90 + 10 * field, 50 + field, 150 + 30 * field]).astype(np.uint8)
            band += rng.integers(0, 8, band.shape, dtype=np.uint8)
            dst.write(band, window=((r0, r0 + h), (0, size)))
    shapes = []
    for i in range(parcels_per_side):
        for j in range(parcels_per_side):
            x0, y0 = j * step + 1, i * step + 1
            x1, y1 = x0 + step - 2, y0 + step - 2
            shapes.append({"label": "farmland", "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]],
                           "shape_type": "polygon", "group_id": None, "description": "", "flags": {}, "mask": None})
    c = step // 2
    shapes.append({"label": "_background_", "points": [[c - 3, c - 3], [c + 3, c - 3], [c + 3, c + 3], [c - 3, c + 3]],
                   "shape_type": "polygon", "group_id": None, "description": "", "flags": {}, "mask": None})
    kw = {"shape": "blocky", "boundary": "straight", "sowing": "fully_covered",
          "distribution": "concentrated_contiguous", "terrain": "flat", "landscape": "plain",
          "buildings": "absent", "water": "absent", "vegetation": "absent"}
    ann = {"version": "6.3.1", "flags": {}, "shapes": shapes, "imagePath": f"../scenes/{name}.tif", "imageData": None,
           "imageHeight": size, "imageWidth": size,
           "farmannot": {"caption": {"keywords": {k: {"value": v, "source": "confirmed"} for k, v in kw.items()}}}}
    (folder / "annotations" / f"{name}.json").write_text(json.dumps(ann), encoding="utf-8")
    csv = folder / "scenes.csv"
    head = "" if csv.exists() else "scene,region,date\n"
    with open(csv, "a", encoding="utf-8") as fh:
        fh.write(f"{head}{name}.tif,{region},2021-06-01\n")


def raw_pass(project: Path, out: Path, tile: int) -> int:
    """Read every tile and write the same files, with only the plainest label raster behind them."""
    import numpy as np
    from rasterio import features
    from rasterio.transform import Affine
    from shapely.geometry import Polygon

    from farmannot.dataset.layouts import png_bytes
    from farmannot.io.atomic import write_bytes, write_text
    from farmannot.io.raster import open_raster, read_window_all
    from farmannot.io.stretch import scene_stretch
    from farmannot.io.windows import tile_windows

    n = 0
    for ann_path in sorted((project / "annotations").glob("*.json")):
        ann = json.loads(ann_path.read_text())
        polys = [(Polygon(s["points"]), 1) for s in ann["shapes"] if s["label"] == "farmland"]
        with open_raster(project / "scenes" / f"{ann_path.stem}.tif") as src:
            st = scene_stretch(src, [1, 2, 3])
            for win in tile_windows(src.width, src.height, tile):
                data, valid = read_window_all(src, win)
                rgb = st.apply(data[:3].astype(np.float32), valid)
                lab = features.rasterize(polys, out_shape=(int(win.height), int(win.width)),
                                         transform=Affine.translation(win.col_off, win.row_off), dtype="uint8")
                name = f"{ann_path.stem}_{win.row_off}_{win.col_off}"
                write_bytes(out / "image" / f"{name}.png", png_bytes(rgb))
                for sub, arr in (("mask", lab), ("boundary", lab), ("parcel", lab.astype(np.uint16))):
                    write_bytes(out / sub / f"{name}.png", png_bytes(arr))
                write_text(out / "text" / f"{name}.txt", "a caption\n")
                n += 1
    return n


def build(project: Path, out: Path, tile: int, workers: int) -> int:
    from farmannot.dataset.build import build_dataset
    from farmannot.dataset.config import load_config

    cfg = load_config(None, {"tile_size": tile, "layouts": "gtpbd-mm", "card": False, "workers": workers,
                             "split": "1:0:0"})
    return build_dataset(project, out, cfg, progress=False).tiles


def throughput(tmp: Path) -> None:
    project = tmp / "tp"
    for i in range(4):
        make_scene(project, f"s{i}", 1024, "r", 8)
    warm = tmp / "warm"  # imports and first-call caches (templates, CRS database) out of the timings
    make_scene(warm, "w", 256, "r", 2)
    raw_pass(warm, tmp / "warm_raw", 256)
    build(warm, tmp / "warm_out", 256, 1)
    rows = []
    t = time.perf_counter()
    n = raw_pass(project, tmp / "raw", 256)
    raw = n / (time.perf_counter() - t)
    rows.append(("raw read + write (reference)", n, raw))
    for w in (1, 2):
        t = time.perf_counter()
        n = build(project, tmp / f"w{w}", 256, w)
        rows.append((f"farmannot, {w} worker{'s' if w > 1 else ''}", n, n / (time.perf_counter() - t)))
    print("| path | tiles | tiles/s | share of raw |\n| --- | --- | --- | --- |")
    for name, n, rate in rows:
        print(f"| {name} | {n} | {rate:.1f} | {rate / raw:.0%} |")


def _child(kind: str, tmp: str) -> None:
    tmp_p = Path(tmp)
    size, per = (1024, 8) if kind == "small" else (8192, 64)
    project = tmp_p / f"mem_{kind}"
    if not (project / "scenes.csv").exists():
        make_scene(project, f"m_{kind}", size, "r", per)
    from peak_memory import peak_mib, rss_mib

    base = rss_mib()
    t = time.perf_counter()
    n = build(project, tmp_p / f"out_{kind}", 512, 1)
    print(json.dumps({"kind": kind, "size": size, "tiles": n, "peak_mb": peak_mib(),
                      "before_build_mb": base, "seconds": time.perf_counter() - t}))


def memory(tmp: Path) -> None:
    print("\n| scene | tiles | peak RSS, VmHWM (MiB) | RSS before the build (MiB) | s |\n| --- | --- | --- | --- | --- |")
    for kind in ("small", "large"):
        # generate first in its own process so the generator's memory does not count
        subprocess.run([sys.executable, __file__, "--gen", kind, str(tmp)], check=True)
        res = subprocess.run([sys.executable, __file__, "--child", kind, str(tmp)], check=True,
                             capture_output=True, text=True)
        d = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"| {d['size']} x {d['size']} x 4 | {d['tiles']} | {d['peak_mb']:.0f} | {d['before_build_mb']:.0f} "
              f"| {d['seconds']:.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--child", nargs=2)
    ap.add_argument("--gen", nargs=2)
    a = ap.parse_args()
    if a.gen:
        kind, tmp = a.gen
        size, per = (1024, 8) if kind == "small" else (8192, 64)
        make_scene(Path(tmp) / f"mem_{kind}", f"m_{kind}", size, "r", per)
        return
    if a.child:
        _child(*a.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        throughput(Path(tmp))
        if not a.skip_memory:
            memory(Path(tmp))


if __name__ == "__main__":
    main()
