"""Benchmark: the workers measurement of ``bench_build_dataset.py`` for two source trees, run by run alternately.

On a shared machine the load moves within minutes, so two ``bench_build_dataset.py`` runs one after the other
compare two different machines. Here every build runs in its own process with ``PYTHONPATH`` set to tree A or
tree B (a checkout of each version), the trees and the modes (1 worker, 2 workers, a 2-worker Dask
``LocalCluster`` started inside that process) alternating run by run; each process warms up on the 1x mosaic
first and times only the 16x build. Medians, speed-ups over 1 worker of the same tree, and the load average.

Run: ``.venv/bin/python bench/bench_workers_ab.py TREE_A TREE_B [--repeat 3] [--k 4]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MODES = ("1 worker", "2 workers", "Dask LocalCluster, 2 workers")
CHILD = """
import json, shutil, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(sys.argv[1]) / "bench"))
from bench_build_dataset import build
tmp, mode = Path(sys.argv[2]), sys.argv[3]

def run(kw):
    build(tmp / "warm", tmp / "warm_out", 256, **kw)
    shutil.rmtree(tmp / "warm_out")
    t = time.perf_counter()
    build(tmp / "big", tmp / "out", 256, **kw)
    wall = time.perf_counter() - t
    shutil.rmtree(tmp / "out")
    print(json.dumps({"wall": wall}))

if mode == "dask":
    from distributed import LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        run({"dask": c.scheduler_address})
else:
    run({} if mode == "1" else {"workers": 2})
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--k", type=int, default=4)
    a = ap.parse_args()
    trees = [str(Path(t).resolve()) for t in a.trees]
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_build_dataset import make_mosaic

    times = {(t, m): [] for t in trees for m in MODES}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        make_mosaic(Path(tmp) / "big", a.k)
        make_mosaic(Path(tmp) / "warm", 1)
        for _ in range(a.repeat):
            for mode, arg in zip(MODES, ("1", "2", "dask")):
                for tree in trees:
                    env = {**os.environ, "PYTHONPATH": f"{tree}:{tree}/plugins"}
                    res = subprocess.run([sys.executable, "-c", CHILD, tree, tmp, arg], env=env, check=True,
                                         capture_output=True, text=True)
                    times[tree, mode].append(json.loads(res.stdout.strip().splitlines()[-1])["wall"])
            loads.append(os.getloadavg()[0])
    side = 768 * a.k
    print(f"\nWorkers, trees alternating run by run: one {a.k * a.k}x scene ({side} x {side} px, 256 px tiles), "
          f"{os.cpu_count()} CPU cores, load average {min(loads):.1f}-{max(loads):.1f}, medians of {a.repeat}\n")
    print("| run | " + " | ".join(f"tree {'AB'[i]}: wall s (speed-up)" for i in range(2)) + " |\n| --- | --- | --- |")
    for mode in MODES:
        cells = []
        for tree in trees:
            one, med = statistics.median(times[tree, MODES[0]]), statistics.median(times[tree, mode])
            cells.append(f"{med:.2f} ({one / med:.2f}x; runs {', '.join(f'{x:.1f}' for x in times[tree, mode])})")
        print(f"| {mode} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
