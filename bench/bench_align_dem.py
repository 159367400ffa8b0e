"""Benchmark: DEM alignment by windows (farmannot) against one whole-array reproject, as the target grows.

A synthetic geographic DEM (EPSG:4326, ~10 m cells, 10 km square) is aligned onto UTM 13 N target grids of
the same extent with 2,500 to 10,000 px per side. Each measurement runs in its own Python process so the
peak resident memory (``VmHWM`` read by the child itself, which sees GDAL's allocations, unlike tracemalloc)
belongs to it alone.

- ``windowed``: :func:`farmannot.terrain.align.iter_aligned_windows`, 1024 px windows through a WarpedVRT
  (each window reduced to a sum so nothing accumulates), what ``align-dem`` does before writing.
- ``whole``: ``rasterio.warp.reproject`` of the DEM into one target-sized float32 array.
- ``write``: the full ``align-dem`` path without registration, writing the GeoTIFF (smallest and largest).

Sizes: ``--quick`` (the default) 2,500 and 5,000 px, a minute or two on 2 busy cores; ``--full`` 2,500, 5,000
and 10,000 px.

Run: ``.venv/bin/python bench/bench_align_dem.py [--full | --sizes 2500,5000]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXTENT_M = 10_000.0
E0, N0 = 440_000.0, 4_460_000.0  # UTM 13 N, near 40.3 N 105.7 W


def make_dem(path: Path, cell_deg: float = 0.00009) -> tuple[int, int]:
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.warp import transform as warp_transform

    lons, lats = warp_transform("EPSG:32613", "EPSG:4326", [E0 - 500, E0 + EXTENT_M + 500] * 2,
                                [N0 - 500] * 2 + [N0 + EXTENT_M + 500] * 2)
    w, s, e, n = min(lons), min(lats), max(lons), max(lats)
    ncol, nrow = math.ceil((e - w) / cell_deg), math.ceil((n - s) / cell_deg)
    tr = Affine(cell_deg, 0, w, 0, -cell_deg, n)
    cols, rows = np.meshgrid(np.arange(ncol) + 0.5, np.arange(nrow) + 0.5)
    lon, lat = tr.c + tr.a * cols, tr.f + tr.e * rows
    z = 2500 + 40 * np.sin(lon * 700) * np.cos(lat * 550) + 15 * np.sin(lon * 2100 + lat * 1700)
    with rasterio.open(path, "w", driver="GTiff", width=ncol, height=nrow, count=1, dtype="float32",
                       crs="EPSG:4326", transform=tr, nodata=-9999, tiled=True, blockxsize=256,
                       blockysize=256, compress="deflate") as dst:
        dst.write(z.astype("float32"), 1)
        dst.units = ("metre",)
    return ncol, nrow


def target(size: int):
    from affine import Affine

    px = EXTENT_M / size
    return "EPSG:32613", Affine(px, 0, E0, 0, -px, N0 + EXTENT_M), size, size


def child(mode: str, dem: str, size: int, out: str) -> None:
    """One measurement (runs in a fresh process); prints a JSON line."""
    import numpy as np
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    from farmannot.terrain.align import iter_aligned_windows
    from farmannot.terrain.scene import write_aligned_dem

    crs, tr, w, h = target(size)
    base = _reset_peak_rss()
    t0 = time.perf_counter()
    total, valid = 0.0, 0
    if mode == "windowed":
        for _, arr in iter_aligned_windows(dem, crs, tr, w, h, window_size=1024):
            ok = np.isfinite(arr)
            total += float(arr[ok].sum())
            valid += int(ok.sum())
    elif mode == "whole":
        with rasterio.open(dem) as src:
            dst = np.full((h, w), np.nan, dtype=np.float32)
            reproject(rasterio.band(src, 1), dst, src_nodata=src.nodata, dst_transform=tr, dst_crs=crs,
                      dst_nodata=np.nan, resampling=Resampling.bilinear)
        for r in range(0, h, 256):  # reduce in strips: no temporary the size of the target
            ok = np.isfinite(dst[r:r + 256])
            total += float(dst[r:r + 256][ok].sum(dtype=np.float64))
            valid += int(ok.sum())
    elif mode == "write":
        with rasterio.open(out, "w", driver="GTiff", width=w, height=h, count=1, dtype="uint8", crs=crs,
                           transform=tr, tiled=True, blockxsize=512, blockysize=512, sparse_ok=True):
            pass  # an empty target raster carries the grid
        write_aligned_dem(dem, out, out + ".dem.tif", register=False)
        valid = w * h
    elapsed = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    print(json.dumps({"mode": mode, "size": size, "seconds": elapsed, "peak_mib": peak / 1024,
                      "growth_mib": (peak - base) / 1024, "mean": total / max(valid, 1), "valid": valid}))


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status (Linux only)")


def _reset_peak_rss() -> int:
    """Reset the process's peak RSS (VmHWM) to its current RSS, so the peak measures this run only."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


def measure(mode: str, dem: Path, size: int, tmp: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--dem", str(dem), "--size", str(size),
           "--out", str(tmp / f"target_{size}.tif")]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="targets of 2,500, 5,000 and 10,000 px")
    ap.add_argument("--sizes", default=None)
    ap.add_argument("--child")
    ap.add_argument("--dem")
    ap.add_argument("--size", type=int)
    ap.add_argument("--out")
    ap.add_argument("--no-write", action="store_true", help="skip the GeoTIFF-writing run")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.dem, args.size, args.out)
        return
    sizes = [int(s) for s in (args.sizes or ("2500,5000,10000" if args.full else "2500,5000")).split(",")]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        dem = tmp / "dem_4326.tif"
        ncol, nrow = make_dem(dem)
        print(f"DEM {ncol} x {nrow} cells (EPSG:4326, ~10 m); target UTM 13 N, 10 km square; "
              f"{os.cpu_count()} CPU(s) on this machine, load average {os.getloadavg()[0]:.1f}\n")
        print("| target px | mode | seconds | peak RSS MiB | growth MiB | windowed/whole time | mean elevation |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for size in sizes:
            win = measure("windowed", dem, size, tmp)
            whole = measure("whole", dem, size, tmp)
            ratio = win["seconds"] / whole["seconds"]
            for r in (win, whole):
                print(f"| {size:,} x {size:,} | {r['mode']} | {r['seconds']:.2f} | {r['peak_mib']:.0f} | "
                      f"{r['growth_mib']:.0f} | {ratio:.2f} | {r['mean']:.4f} |")
            assert abs(win["mean"] - whole["mean"]) < 0.01, "windowed and whole-array results differ"
        if not args.no_write:
            for size in sorted({sizes[0], sizes[-1]}):
                w = measure("write", dem, size, tmp)
                print(f"| {size:,} x {size:,} | write GeoTIFF (align-dem, no derive) | {w['seconds']:.2f} | "
                      f"{w['peak_mib']:.0f} | {w['growth_mib']:.0f} | | |")


if __name__ == "__main__":
    main()
