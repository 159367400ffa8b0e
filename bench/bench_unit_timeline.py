"""Benchmark: where the wall-clock time of one scene built on 2 local workers and on a 2-worker Dask cluster goes.

Input: the 16x mosaic of ``bench_build_dataset.py`` (3,072 x 3,072 px, 13,216 shapes, 256 px tiles, 16 work
units, layout ``gtpbd-mm``). The scheduler's task functions (``dataset.scheduler``: the two preparing tasks and
the unit task) are wrapped to write their start, end and CPU seconds to a file, so each build prints its
timeline: **start** (discovery, split and the pool up to the first preparing task), **preparation** (first
preparing task started to both done), **gap** (both done to the first unit started: the plans handed to the
units), **units** (first unit started to last done), **tail** (last unit done to the build's end: the scene's
record, manifest, report); with the CPU seconds of the units and of this process (the parent or Dask client).
Alternating 2-worker and Dask runs, ``--repeat`` times; medians printed, with the load average (the machine may
be shared: the gap and the CPU seconds move less with the load than the wall-clock times).

Run: ``.venv/bin/python bench/bench_unit_timeline.py [--repeat 3] [--k 4]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

PREP = ("plan_scene", "look_scene")
UNIT = ("build_unit",)  # on Dask run by dataset.scheduler.prepared_unit, traced too so that workers load this module
LOG = os.environ.setdefault("FARMANNOT_BENCH_TIMELINE", str(Path(tempfile.gettempdir()) / "unit_timeline.log"))


def _traced(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        t, c = time.time(), time.process_time()
        res = fn(*args, **kwargs)
        with open(LOG, "a") as fh:
            fh.write(f"{fn.__name__} {t:.4f} {time.time():.4f} {time.process_time() - c:.4f}\n")
        return res
    return run


def _wrap() -> None:
    import farmannot.dataset.scheduler as sched

    for name in PREP + UNIT + ("prepared_unit",):
        if hasattr(sched, name):
            run = _traced(getattr(sched, name))
            # found by name in this module: the process pool pickles functions by reference
            run.__module__, run.__qualname__ = __name__, f"traced_{name}"
            globals()[run.__qualname__] = run
            setattr(sched, name, run)


_wrap()  # at import: Dask and the process pool run the wrapped functions too


def timeline(project: Path, out: Path, **kw) -> dict[str, float]:
    from bench_build_dataset import build

    Path(LOG).unlink(missing_ok=True)
    t0, c0 = time.time(), time.process_time()
    build(project, out, 256, **kw)
    end, cpu = time.time(), time.process_time() - c0
    ev = [(n, float(a), float(b), float(c)) for n, a, b, c in (line.split() for line in open(LOG))]
    prep = [e for e in ev if e[0] in PREP]
    units = [e for e in ev if e[0] in UNIT]
    first_prep, prep_done = min(e[1] for e in prep), max(e[2] for e in prep)
    first_unit, last_unit = min(e[1] for e in units), max(e[2] for e in units)
    return {"wall": end - t0, "start": first_prep - t0, "preparation": prep_done - first_prep,
            "gap": first_unit - prep_done, "units": last_unit - first_unit, "tail": end - last_unit,
            "units_cpu": sum(e[3] for e in units), "parent_cpu": cpu}


def main() -> None:
    from bench_build_dataset import build, make_mosaic
    from distributed import LocalCluster

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--k", type=int, default=4, help="mosaic of k x k sample scenes (4: 16x)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_, \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        tmp = Path(tmp_)
        make_mosaic(tmp / "p", a.k)
        make_mosaic(tmp / "warm", 1)
        modes = {"2 workers": {"workers": 2}, "Dask LocalCluster, 2 workers": {"dask": cluster.scheduler_address}}
        runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        loads = []
        for kw in modes.values():  # imports in every worker
            build(tmp / "warm", tmp / "warm_out", 256, **kw)
            shutil.rmtree(tmp / "warm_out")
        for _ in range(a.repeat):
            for m, kw in modes.items():
                runs[m].append(timeline(tmp / "p", tmp / "out", **kw))
                shutil.rmtree(tmp / "out")
            loads.append(os.getloadavg()[0])
    keys = ("wall", "start", "preparation", "gap", "units", "tail", "units_cpu", "parent_cpu")
    print(f"\nTimeline of one {a.k * a.k}x scene, medians of {a.repeat} alternating runs, {os.cpu_count()} CPU cores, "
          f"load average {min(loads):.1f}-{max(loads):.1f}\n")
    print("| run | " + " | ".join(k.replace("_", " ") + " s" for k in keys) + " |\n|" + " --- |" * (len(keys) + 1))
    for m, rs in runs.items():
        print(f"| {m} | " + " | ".join(f"{statistics.median(r[k] for r in rs):.3f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
