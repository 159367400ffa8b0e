"""Benchmark: how a build's tile files are made durable, with two processes writing to one disk.

Each of two worker processes writes work units of 9 tiles x 7 files (sizes of a 256 px ``gtpbd-mm`` tile:
the georeferenced RGB PNG with its world file and ``.aux.xml``, three label GeoTIFFs, the caption text)
through ``farmannot.io.atomic.write_bytes`` (temporary name, rename), 8 units each (1,008 files, the 16x
scene of ``bench_build_dataset.py``), and makes them durable in one of four ways:

- ``fsync each file``: ``write_bytes(sync=True)``, the per-file ``fsync`` every file had before;
- ``syncfs per unit``: ``sync=False``, then one Linux ``syncfs`` of the output's file system per unit
  (``atomic.sync_file_systems``, what ``sync_files`` does on Linux);
- ``fsync batch per unit``: ``sync=False``, then every file and folder of the unit ``fsync``'ed at its end
  (``atomic.fsync_each``, what ``sync_files`` does on macOS and Windows);
- ``none``: ``sync=False`` and nothing after (the floor: no durability at all).

The modes run alternately ``--repeat`` times (the machine is shared: the load average is printed) and the
wall-clock medians of the two processes' work are printed, with each mode's time over the floor.

Run: ``.venv/bin/python bench/bench_tile_sync.py [--repeat 5] [--dir FOLDER]`` (FOLDER on the disk to measure;
default: the system's temporary folder); prints a Markdown table.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

SIZES = {"image.png": 136_000, "image.wld": 120, "image.png.aux.xml": 600, "mask.tif": 3_000,
         "boundary.tif": 3_500, "parcel.tif": 6_000, "caption.txt": 400}
MODES = ("fsync each file", "syncfs per unit", "fsync batch per unit", "none")


def _worker(root: str, mode: str, w: int, units: int) -> float:
    from farmannot.io import atomic

    blobs = {k: os.urandom(n) for k, n in SIZES.items()}
    t = time.perf_counter()
    for u in range(units):
        files = []
        for tile in range(9):
            for kind, blob in blobs.items():
                p = Path(root) / kind.split(".")[0] / f"w{w}_u{u}_t{tile}.{kind.split('.', 1)[1]}"
                atomic.write_bytes(p, blob, sync=mode == "fsync each file")
                files.append(p)
        folders = list(dict.fromkeys(p.parent for p in files))
        if mode == "syncfs per unit":
            atomic.sync_file_systems(folders)
        elif mode == "fsync batch per unit":
            atomic.fsync_each(files, folders)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--units", type=int, default=8, help="work units per process")
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    times: dict[str, list[float]] = {m: [] for m in MODES}
    loads = []
    with cf.ProcessPoolExecutor(2) as pool, tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        list(pool.map(_worker, [tmp] * 2, ["none"] * 2, [0, 1], [1, 1]))  # imports in both processes
        for r in range(a.repeat):
            for mode in MODES:
                root = Path(tmp) / f"r{r}"
                os.sync()  # every mode starts with nothing dirty
                t = time.perf_counter()
                list(pool.map(_worker, [str(root)] * 2, [mode] * 2, [0, 1], [a.units] * 2))
                times[mode].append(time.perf_counter() - t)
                shutil.rmtree(root)
            loads.append(os.getloadavg()[0])
    n = 2 * a.units * 9 * len(SIZES)
    floor = statistics.median(times["none"])
    print(f"\nTile durability: 2 processes, {n:,} files in {2 * a.units} work units, load average "
          f"{min(loads):.1f}-{max(loads):.1f}, medians of {a.repeat} alternating runs\n")
    print("| mode | wall s (median) | runs | over no sync |\n| --- | --- | --- | --- |")
    for mode, v in times.items():
        med = statistics.median(v)
        print(f"| {mode} | {med:.3f} | {', '.join(f'{x:.3f}' for x in v)} | +{med - floor:.3f} s |")


if __name__ == "__main__":
    main()
