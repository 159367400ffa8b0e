"""A run folder belongs to one run: a new run never lands on top of a finished one by accident."""

from __future__ import annotations

from pathlib import Path

from farmannot.errors import FarmannotError
from farmannot.train.checkpoint import BEST, LAST

# what `train` writes into a run folder (caption embeddings are a cache keyed by content, kept)
RUN_FILES = ("config.json", LAST, BEST, "train_log.csv", "loss.png")


def prepare_run_folder(run_dir: str | Path, resume: bool, overwrite: bool) -> list[Path]:
    """Check ``run_dir`` before training; with ``overwrite`` remove the old run's files (returned).

    Raises:
        FarmannotError: ``run_dir`` holds a run and neither ``resume`` nor ``overwrite`` was asked for, or both
            were, or ``resume`` was asked for a folder without ``last.pt``.
    """
    run_dir = Path(run_dir)
    if resume and overwrite:
        raise FarmannotError("--resume and --overwrite exclude each other: continue the run or replace it.")
    if run_dir.exists() and not run_dir.is_dir():
        raise FarmannotError(f"{run_dir}: is a file; --output must be a run folder.")
    present = [run_dir / name for name in RUN_FILES if (run_dir / name).exists()]
    if resume:
        if present and not (run_dir / LAST).exists():
            raise FarmannotError(f"{run_dir}: has files of a run but no {LAST} to resume from; pass --overwrite "
                                 "to start again there, or train into a new folder.")
        return []
    if not present:
        return []
    if not overwrite:
        names = ", ".join(p.name for p in present)
        raise FarmannotError(f"{run_dir}: already holds a run ({names}); pass --resume to continue it, "
                             "--overwrite to replace it, or give a new --output folder.")
    for p in present:
        p.unlink()
    return present
