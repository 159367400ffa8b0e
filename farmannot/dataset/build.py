"""``build_dataset``: project folder -> dataset folder, on local processes or a Dask cluster.

Order of work: discover scenes -> region- or block-grouped split (from window counts, before any pixel is read) ->
each scene in work units, blocks of tiles (``dataset.units``, run by ``dataset.scheduler`` on local processes
or Dask; tiles written straight into their split's folders) -> manifest, SPIE JSONL, COCO,
build report, errors.json -> dataset card. Results are gathered as they finish but written in a fixed
order, so the number of workers never changes an output byte.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import itertools
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from farmannot.dataset.config import BuildConfig
from farmannot.dataset.manifest import BUILD_REPORT, write_coco, write_manifest, write_spie
from farmannot.dataset.project import SceneJob, discover_scenes
from farmannot.dataset.records import remove_empty_units
from farmannot.dataset.scene import SceneResult, build_scene
from farmannot.dataset.scheduler import SceneUnits
from farmannot.dataset.split import assign_blocks, assign_splits, buffer_train
from farmannot.dataset.units import remove_plans
from farmannot.errors import FarmannotError, InputError, expected_message, note_input, one_line
from farmannot.io.atomic import write_json
from farmannot.io.lock import output_lock
from farmannot.io.space import check_free_space

ERRORS = "errors.json"


@dataclass
class BuildSummary:
    """What a build did."""

    out: Path
    tiles: int = 0
    scenes: int = 0
    resumed_scenes: int = 0
    written: int = 0
    unchanged: int = 0
    dropped: int = 0
    buffered: int = 0
    pruned: int = 0
    achieved: dict[str, float] = field(default_factory=dict)
    errors: list[dict] = field(default_factory=list)


def _run_local(jobs: list[SceneJob], cfg: BuildConfig, out: str,
               on_tile: Callable[[], None] | None = None) -> Iterator[tuple[SceneJob, Any]]:
    if cfg.workers == 1:
        for job in jobs:
            try:
                yield job, build_scene(job, cfg, out, on_tile)
            except Exception as exc:  # noqa: BLE001 - classified by the caller
                yield job, exc
        return
    broken = yield from _run_pool(jobs, cfg, out, cfg.workers)
    # a worker died (killed by the system, often for memory) and took the pool's other work with it: the
    # unfinished scenes run again one pool each, so only the scene that kills its worker fails
    for job in broken:
        yield from _run_pool([job], cfg, out, cfg.workers, died=True)


def _run_pool(jobs: list[SceneJob], cfg: BuildConfig, out: str, workers: int, died: bool = False):
    """Yield ``(job, result or exception)``; return the jobs lost to a broken pool (or, with ``died``, yield
    them as failures)."""
    broken = []
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        units = SceneUnits(jobs, cfg, out, pool.submit, lambda f: f.exception(), window=workers + 1)
        try:
            for job, res in units.run(lambda fs: cf.wait(fs, return_when=cf.FIRST_COMPLETED).done):
                if isinstance(res, BrokenProcessPool):
                    if not died:
                        broken.append(job)
                        continue
                    res = InputError(f"{job.image}: the worker process building this scene died (killed by "
                                     "the system, most often for lack of memory); build it with fewer --workers "
                                     "or a smaller --tile-size, or check the scene.")
                yield job, res
        finally:
            units.cancel()
    return sorted(broken, key=lambda j: j.name)


def _run_dask(jobs: list[SceneJob], cfg: BuildConfig, out: str,
              on_tile: Callable[[], None] | None = None) -> Iterator[tuple[SceneJob, Any]]:
    try:
        from distributed import Client, as_completed
    except ImportError:  # pragma: no cover - depends on the install
        raise FarmannotError("--dask-scheduler needs Dask distributed: pip install 'farmannot[dask]'.") from None
    try:
        client = Client(cfg.dask_scheduler, timeout=f"{cfg.dask_timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise FarmannotError(f"--dask-scheduler {cfg.dask_scheduler}: cannot connect ({exc}).") from None
    with client:
        n = itertools.count()

        def submit(fn, *args):
            return client.submit(fn, *args, key=f"farmannot-{fn.__name__}-{args[0].name}-{next(n)}", pure=False)

        threads = sum(client.nthreads().values()) or 1
        units = SceneUnits(jobs, cfg, out, submit, lambda f: f.exception() if f.status == "error" else None,
                           window=threads + 1, chain=True)
        done = as_completed(loop=client.loop)  # one queue of finished tasks for the whole build
        seen: set[str] = set()
        try:
            def first_done(fs: list) -> list:
                for f in fs:
                    if f.key not in seen:
                        seen.add(f.key)
                        done.add(f)
                return done.next_batch(block=True)

            yield from units.run(first_done)
        finally:
            units.cancel()


def _error_record(job: SceneJob, exc: BaseException) -> dict:
    reason = one_line(exc, job.annotation if not isinstance(exc, FarmannotError) else None)
    return {"scene": job.name, "file": job.annotation, "image": job.image, "reason": reason}


def _prune(out: Path, keep: set[str], layouts: tuple[str, ...]) -> int:
    """Delete files in the layout folders that this build did not produce (left from older runs)."""
    n = 0
    for layout in layouts:
        base = out / layout
        if not base.is_dir():
            continue
        for p in base.rglob("*"):
            if not p.is_file():
                continue
            rel = p.relative_to(out).as_posix()
            if p.parent == base and p.suffix in (".jsonl", ".json"):
                continue  # the per-split SPIE/COCO files, rewritten below
            if rel not in keep:
                p.unlink()
                n += 1
    records = out / ".farmannot" / "scenes"
    if records.is_dir():  # temporary files of a run that was killed mid-write
        for p in records.glob(".*.tmp*"):
            p.unlink()
    return n


def build_dataset(project: str | Path, out: str | Path, cfg: BuildConfig, progress: bool = True,
                  echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> BuildSummary:
    """Build the dataset; see docs/build-dataset.md.

    The output folder is locked for the build (:func:`farmannot.io.lock.output_lock`): a second build into it
    refuses, a killed build's lock is taken over and its temporary files removed.

    Raises:
        FarmannotError: a bad project, an unmeetable split, the output in use by another run, or (without
            ``keep_going``) the first bad scene.
    """
    out = Path(out)
    with output_lock(out, "farmannot build-dataset", echo=echo):
        # the units' plans are emptied only here, under the lock: at the start a killed run's (never read: each
        # planning run writes a folder of its own), at the end those of scenes that failed or were cut short
        remove_plans(out)
        try:
            return _build_dataset(project, out, cfg, progress, echo)
        finally:
            remove_plans(out)
            remove_empty_units(out)


def _build_dataset(project: str | Path, out: Path, cfg: BuildConfig, progress: bool,
                   echo: Callable[[str], None]) -> BuildSummary:
    summary = BuildSummary(out)
    jobs, errors = discover_scenes(project, cfg)
    for e in errors:
        if not cfg.keep_going:
            raise FarmannotError(e["reason"])
        echo(f"error: {e['reason']}")
    if not jobs:
        _write_errors(out, errors)
        raise FarmannotError(f"{project}: no usable scenes (see {out / ERRORS}).")
    if cfg.group_by == "block":
        per_scene: dict[str, dict[str, int]] = {}
        for j in jobs:
            blocks = per_scene.setdefault(j.name, {})
            for g in j.tile_groups:
                blocks[g] = blocks.get(g, 0) + 1
        assignment, summary.achieved = assign_blocks(per_scene, cfg.split, cfg.seed, cfg.split_tolerance)
        jobs = [dataclasses.replace(j, tile_splits=tuple(buffer_train(
            j.tile_cells, [assignment[g] for g in j.tile_groups], cfg.block_buffer))) for j in jobs]
        summary.buffered = sum(s == "" for j in jobs for s in j.tile_splits)
    else:
        sizes: dict[str, int] = {}
        for j in jobs:
            sizes[j.group] = sizes.get(j.group, 0) + j.n_windows
        assignment, summary.achieved = assign_splits(sizes, cfg.split, cfg.seed, cfg.split_tolerance)
        jobs = [dataclasses.replace(j, split=assignment[j.group]) for j in jobs]
    # at least one byte per tile pixel and layout (the tile image is in every layout), checked before any tile
    check_free_space(out, sum(j.n_windows for j in jobs) * cfg.tile_size ** 2 * len(cfg.layouts),
                     f"{sum(j.n_windows for j in jobs)} tile(s) in {len(cfg.layouts)} layout(s)")
    n_units = sum(j.n_units for j in jobs)  # work units: blocks of tiles (dataset.units)
    cap = min(cfg.workers, n_units, os.cpu_count() or 1)
    if not cfg.dask_scheduler and cap < cfg.workers:
        echo(f"note: {cfg.workers} workers asked for, {cap} used ({len(jobs)} scene(s) in {n_units} work unit(s), "
             f"{os.cpu_count()} CPU core(s)).")
        cfg = dataclasses.replace(cfg, workers=cap)
    runner = _run_dask if cfg.dask_scheduler else _run_local
    results: list[SceneResult] = []
    # one bar in tiles: advanced tile by tile when scenes run in this process, a scene at a time otherwise
    bar = tqdm(total=sum(j.n_windows for j in jobs), desc="tiles", unit="tile", disable=not progress,
               file=sys.stderr)
    ticks = [0]

    def on_tile() -> None:
        bar.update(1)
        ticks[0] += 1

    in_process = not cfg.dask_scheduler and cfg.workers == 1
    try:
        for job, res in runner(jobs, cfg, str(out), on_tile if in_process else None):
            bar.update(job.n_windows - ticks[0])  # the rest of the scene: all of it if resumed, failed or remote
            ticks[0] = 0
            if isinstance(res, BaseException):
                if not cfg.keep_going:
                    if isinstance(res, FarmannotError):
                        raise FarmannotError(str(res)) from None
                    raise note_input(res, job.annotation)
                rec = _error_record(job, res)
                if expected_message(res) is None:
                    rec["traceback"] = "".join(traceback.format_exception(res))[-2000:]
                errors.append(rec)
                bar.write(f"error: {rec['reason']}", file=sys.stderr)
                continue
            results.append(res)
    finally:
        bar.close()
    results.sort(key=lambda r: r.name)
    rows = [row for r in results for row in r.rows]
    summary.scenes = len(results)
    summary.resumed_scenes = sum(r.resumed for r in results)
    summary.tiles = len(rows)
    summary.written = sum(r.written for r in results)
    summary.unchanged = sum(r.unchanged for r in results)
    summary.dropped = sum(r.dropped for r in results)
    keep = {rel for row in rows for rel in json.loads(row["checksums"])}
    summary.pruned = _prune(out, keep, cfg.layouts)
    df = write_manifest(out, rows)
    if "spie" in cfg.layouts:
        write_spie(out, rows)
    if "coco" in cfg.layouts:
        write_coco(out, rows)
    errors.sort(key=lambda e: e["scene"])
    summary.errors = errors
    write_json(out / BUILD_REPORT, {
        "project": str(Path(project).resolve()), "options": cfg.fingerprint(),
        "split": {"assignment": dict(sorted(assignment.items())), "achieved_share": summary.achieved},
        "scenes": [r.report for r in results], "dropped_tiles": summary.dropped,
        "buffered_tiles": summary.buffered,
    })
    _write_errors(out, errors)
    if cfg.card:
        from farmannot.dataset.card import write_card

        write_card(out, df, cfg, summary)
    return summary


def _write_errors(out: Path, errors: list[dict]) -> None:
    path = out / ERRORS
    if errors:
        write_json(path, errors)
    elif path.exists():
        path.unlink()
