"""The project folder: ``scenes/``, ``annotations/`` (labelme JSON), optional ``dems/``, ``scenes.csv``.

``scenes.csv`` has one row per scene: ``scene`` (file name or stem in ``scenes/``) and ``region``, and
optionally ``date`` (ISO), ``lat``, ``lon`` (used when the scene has no georeferencing), ``sensor`` (band
preset) and ``dem`` (file in ``dems/``). Each annotation's ``imagePath`` names its scene.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from farmannot.dataset.config import BuildConfig
from farmannot.dataset.units import scene_units
from farmannot.errors import FarmannotError, InputError, one_line
from farmannot.io.atomic import is_temporary
from farmannot.io.labelme_json import resolve_image_path
from farmannot.io.labelme_stream import stream_annotation
from farmannot.io.raster import open_raster
from farmannot.io.windows import tile_windows, window_block

OPTIONAL_COLUMNS = ("date", "lat", "lon", "sensor", "dem")


@dataclass(frozen=True)
class SceneJob:
    """Everything a worker needs to build one scene's tiles (plain data, so it pickles to any worker)."""

    name: str
    annotation: str
    image: str
    region: str
    group: str
    split: str = ""
    dem: str | None = None
    date: str | None = None
    lat: float | None = None
    lon: float | None = None
    sensor: str | None = None
    n_windows: int = 0
    tile_groups: tuple[str, ...] = ()
    tile_cells: tuple[tuple[int, int], ...] = ()
    tile_splits: tuple[str, ...] = ()
    n_units: int = 1

    def split_of(self, i: int) -> str:
        """Split of the scene's ``i``-th window (row-major, as :func:`tile_windows` lists them); ``""`` for a
        tile left out by the block buffer."""
        return self.tile_splits[i] if self.tile_splits else self.split

    def group_of(self, i: int) -> str:
        """Split group of the scene's ``i``-th window."""
        return self.tile_groups[i] if self.tile_groups else self.group


def _opt(row: dict, key: str):
    v = row.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    return v


def read_scenes_table(project: Path) -> pd.DataFrame:
    path = project / "scenes.csv"
    if not path.exists():
        raise InputError(f"{path}: missing; write a scenes.csv with columns scene,region (see docs/build-dataset.md).")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc}).") from None
    missing = [c for c in ("scene", "region") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: column(s) {missing} missing; scenes.csv needs at least scene,region.")
    if df["scene"].duplicated().any():
        dup = df["scene"][df["scene"].duplicated()].tolist()
        raise InputError(f"{path}: scene(s) {dup} listed twice.")
    return df


def _float(v, what: str, where: str) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        raise InputError(f"{where}: {what} {v!r} is not a number.") from None


def discover_scenes(project: str | os.PathLike, cfg: BuildConfig) -> tuple[list[SceneJob], list[dict]]:
    """One :class:`SceneJob` per annotation file; problems per scene come back as error records.

    Raises:
        InputError: the folder itself is unusable (no annotations, no scenes.csv).
    """
    project = Path(project)
    if not project.is_dir():
        raise InputError(f"{project}: no such project folder.")
    ann_dir = project / "annotations"
    # a save killed mid-write leaves ".NAME.XXXXXXXX.tmp.json" beside the annotation: not an annotation
    files = sorted(f for f in ann_dir.glob("*.json") if not is_temporary(f.name)) if ann_dir.is_dir() else []
    if not files:
        raise InputError(f"{ann_dir}: no labelme annotation files (*.json); see docs/build-dataset.md.")
    table = read_scenes_table(project)
    if cfg.group_by not in table.columns and cfg.group_by != "block":
        raise FarmannotError(f"--group-by {cfg.group_by!r}: no such column in {project / 'scenes.csv'} "
                             f"(columns: {', '.join(table.columns)}).")
    rows = {}
    for rec in table.to_dict("records"):
        rows[rec["scene"]] = rec
        rows.setdefault(Path(rec["scene"]).stem, rec)
    jobs, errors = [], []
    for f in files:
        try:
            jobs.append(_scene_job(project, f, rows, cfg))
        except Exception as exc:  # noqa: BLE001 - one bad annotation (even a hostile one) is one error record
            errors.append({"scene": f.stem, "file": str(f), "reason": one_line(exc, f)})
    names = [j.name for j in jobs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"{ann_dir}: several annotations point at the same scene(s) {dup}; keep one each.")
    return jobs, errors


def _row_dem(project: Path, image: Path, row: dict | None, where: str) -> Path | None:
    """A scene's DEM: the ``dem`` column of its scenes.csv row (in ``dems/`` or the project), else
    ``dems/SCENE.tif`` when it exists, else ``None``."""
    dem = _opt(row, "dem") if row is not None else None
    if dem is None:
        auto = project / "dems" / f"{image.stem}.tif"
        return auto if auto.exists() else None
    cand = [project / "dems" / dem, project / dem]
    dem_path = next((c for c in cand if c.exists()), None)
    if dem_path is None:
        raise InputError(f"{where}: DEM {dem!r} not found in {project / 'dems'}.")
    if not dem_path.resolve().is_relative_to(project.resolve()):
        raise InputError(f"{where}: DEM {dem!r} lies outside the project folder.")
    return dem_path


def scene_dem(project: str | os.PathLike, image: str | os.PathLike) -> Path | None:
    """The DEM ``build-dataset`` uses for the project scene ``image`` (the annotator's terrain suggestions
    use the same one).

    Raises:
        InputError: scenes.csv names a DEM that is missing or lies outside the project.
    """
    project, image = Path(project), Path(image)
    row = None
    if (project / "scenes.csv").exists():
        rows = {}
        for rec in read_scenes_table(project).to_dict("records"):
            rows[rec["scene"]] = rec
            rows.setdefault(Path(rec["scene"]).stem, rec)
        row = rows.get(image.name) or rows.get(image.stem)
    return _row_dem(project, image, row, f"{project / 'scenes.csv'} row {image.name!r}")


def _scene_job(project: Path, f: Path, rows: dict, cfg: BuildConfig) -> SceneJob:
    # the header only (imagePath): the shapes are read once, by the scene's build
    ann = stream_annotation(f, project_dir=project)
    image = resolve_image_path(ann, f, project_dir=project)
    if not image.exists():
        raise InputError(f"{f}: imagePath {ann.image_path!r} -> {image} does not exist; put the scene in "
                         "scenes/ or fix imagePath.")
    row = rows.get(image.name) or rows.get(image.stem)
    if row is None:
        raise InputError(f"{f}: scene {image.name} has no row in {project / 'scenes.csv'}; add scene,region.")
    where = f"{project / 'scenes.csv'} row {row['scene']!r}"
    dem_path = _row_dem(project, image, row, where)
    with open_raster(image) as src:
        windows = tile_windows(src.width, src.height, cfg.tile_size, cfg.overlap)
        n_units = len(scene_units(src.width, src.height, cfg.tile_size, cfg.overlap))
    blocks: tuple[str, ...] = ()
    cells: tuple[tuple[int, int], ...] = ()
    if cfg.group_by == "block":
        keys = (window_block(w.row_off, w.col_off, cfg.tile_size, cfg.block_tiles) for w in windows)
        blocks = tuple(f"{image.stem}/block_{r}_{c}" for r, c in keys)
        n_cols = len({w.col_off for w in windows})
        cells = tuple(divmod(i, n_cols) for i in range(len(windows)))  # windows are row-major
    return SceneJob(
        name=image.stem, annotation=str(f), image=str(image), region=str(row["region"]),
        group=str(row[cfg.group_by]) if cfg.group_by not in ("scene", "block") else image.stem,
        dem=str(dem_path) if dem_path else None, date=_opt(row, "date"),
        lat=_float(_opt(row, "lat"), "lat", where), lon=_float(_opt(row, "lon"), "lon", where),
        sensor=_opt(row, "sensor") or cfg.sensor, n_windows=len(windows), tile_groups=blocks,
        tile_cells=cells, n_units=n_units,
    )
