"""Resume records of a build (``OUT/.farmannot/``): the one owner of those files.

``scenes/NAME.json``: a finished scene (its fingerprint, rows, report, dropped count); ``units/NAME/K.json``:
a finished work unit of a scene still being built (removed when the scene is finished; the empty ``units/``
at the end of the build). A record counts only while its fingerprint matches (inputs, options, version) and
every file it lists has its checksum.

Durability: tile files are not flushed to disk one by one (:func:`farmannot.dataset.layouts.write_checked`);
a work unit makes every file its rows list durable at once (:func:`make_durable`) before its record is
written, or, in a scene of one unit, before it hands its rows back for the scene's record. A crash can lose
tiles not yet synced but never leaves a record, or the manifest written after the records, naming a file
whose bytes are not on disk (and a resumed record's checksums are checked again anyway).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from farmannot import __version__
from farmannot.dataset.config import BuildConfig
from farmannot.dataset.layouts import file_sha256
from farmannot.dataset.project import SceneJob
from farmannot.dataset.units import Unit
from farmannot.io.atomic import sync_files, write_json

RECORDS_DIR = ".farmannot/scenes"
UNITS_DIR = ".farmannot/units"


@dataclass
class SceneResult:
    """What a scene job hands back to the build."""

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    written: int = 0
    unchanged: int = 0
    dropped: int = 0
    resumed: bool = False


@dataclass
class UnitResult:
    """What a work unit hands back: its rows in window order and its file counts."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0
    unchanged: int = 0
    dropped: int = 0
    windows: list[int] = field(default_factory=list)  # the scene window of each row


def fingerprint(job: SceneJob, cfg: BuildConfig) -> str:
    """SHA-256 of what makes a scene's files: the job, the options, the version, the inputs' sizes and dates
    and the annotation's bytes."""
    h = hashlib.sha256()
    job_fields = {k: v for k, v in job.__dict__.items() if k != "n_units"} | {"split": job.split}  # how it runs
    h.update(json.dumps({"job": job_fields, "cfg": cfg.fingerprint(),
                         "version": __version__}, sort_keys=True, default=str).encode())
    for p in (job.annotation, job.image, job.dem):
        if p:
            st = Path(p).stat()
            h.update(f"{p}:{st.st_size}:{st.st_mtime_ns}".encode())
    with open(job.annotation, "rb") as fh:  # in chunks: the annotation may be tens of MB
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_scene(job: SceneJob, cfg: BuildConfig, out_dir: str) -> tuple[str, SceneResult | None]:
    """The scene's fingerprint and its recorded result when it can be resumed (a task on a worker: the
    annotation and every recorded file are hashed there)."""
    fp = fingerprint(job, cfg)
    return fp, resume_scene(Path(out_dir), job, fp)


def resume_scene(out: Path, job: SceneJob, fp: str) -> SceneResult | None:
    """The recorded result of a finished scene whose record and files still hold, else ``None``."""
    rec = _read_record(out / RECORDS_DIR / f"{job.name}.json", fp)
    n_files = None if rec is None else _files_hold(out, rec["rows"])
    if n_files is None:
        return None
    return SceneResult(job.name, rec["rows"], rec.get("report", {}), 0, n_files, rec.get("dropped", 0), resumed=True)


def _read_record(rec_path: Path, fp: str) -> dict | None:
    """A resume record written for the fingerprint ``fp`` (``None``: missing, unreadable or stale)."""
    try:
        rec = json.loads(rec_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return rec if rec.get("fingerprint") == fp else None


def _files_hold(out: Path, rows: list[dict]) -> int | None:
    """How many files the record's rows list, or ``None`` when any differs from its recorded SHA-256."""
    sums = [json.loads(row["checksums"]) for row in rows]
    if any(file_sha256(out / rel) != digest for s in sums for rel, digest in s.items()):
        return None
    return sum(len(s) for s in sums)


def unit_record(out: Path, job: SceneJob, unit: Unit) -> Path:
    return out / UNITS_DIR / job.name / f"{unit.index}.json"


def resume_unit(out: Path, rec_path: Path, fp: str, unit: Unit) -> UnitResult | None:
    """The recorded result of a finished unit whose record and files still hold, else ``None``."""
    rec = _read_record(rec_path, fp)
    if rec is None or rec.get("windows") != list(unit.windows):
        return None
    n_files = _files_hold(out, rec["rows"])
    if n_files is None:
        return None
    return UnitResult(rec["rows"], 0, n_files, rec.get("dropped", 0), rec["row_windows"])


def make_durable(out: Path, rows: list[dict]) -> None:
    """Flush every file the rows list to disk, in one batch (before a record names them)."""
    sync_files(out / rel for row in rows for rel in json.loads(row["checksums"]))


def write_unit(rec_path: Path, fp: str, unit: Unit, res: UnitResult) -> None:
    """The unit's record (its files made durable first, by the caller: :func:`make_durable`)."""
    write_json(rec_path, {"fingerprint": fp, "windows": list(unit.windows), "rows": res.rows,
                          "row_windows": res.windows, "dropped": res.dropped}, indent=None)


def write_scene(out: Path, fp: str, res: SceneResult) -> None:
    """The scene's record; its unit records go."""
    write_json(out / RECORDS_DIR / f"{res.name}.json",
               {"fingerprint": fp, "rows": res.rows, "report": res.report, "dropped": res.dropped}, indent=None)
    shutil.rmtree(out / UNITS_DIR / res.name, ignore_errors=True)


def remove_empty_units(out: Path) -> None:
    """The unit records' folder gone when no scene's records are left in it: at the end of a build, under its
    output lock (removed while units run, it could vanish between a unit creating it and its scene's folder
    inside, failing that unit)."""
    with contextlib.suppress(OSError):
        (out / UNITS_DIR).rmdir()
