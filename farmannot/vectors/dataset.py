"""A built dataset as GIS layers: ``tiles`` (tile footprints from ``manifest.parquet``) and ``parcels``.

Tiles carry their split, region, scene, date, caption text and caption keywords, so a whole dataset can be
browsed in QGIS. Parcels come from the annotations the dataset was built from (listed in
``build_report.json``), with the split and region of their scene added.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow.parquet as pq
import shapely
from pyproj import CRS

from farmannot.dataset.manifest import BUILD_REPORT, MANIFEST
from farmannot.errors import FarmannotError, InputError
from farmannot.io.grid import crs_transformer, reproject
from farmannot.labels.convention import as_affine6, pixel_to_world
from farmannot.vectors.parcels import ParcelTable, build_parcel_table, crs_text, georeference
from farmannot.vectors.writers import Layer

if TYPE_CHECKING:
    from farmannot.vectors.exporter import ExportOptions, ExportReport

#: Manifest columns copied onto the tiles layer (when present), caption keywords ``kw_*`` after them.
TILE_COLUMNS = ("tile_id", "scene", "region", "split", "row_off", "col_off", "width", "height", "date",
                "farmland_fraction", "parcel_count", "caption_en", "caption_zh")


def _text(v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return ""
    return str(v)


def tiles_layer(dataset: Path, crs: str | None) -> Layer:
    """The tile footprints of ``manifest.parquet`` in one CRS (``crs``, else the tiles' shared CRS, else
    EPSG:4326).

    Raises:
        InputError: an unreadable manifest or one without the window and georeferencing columns.
    """
    path = dataset / MANIFEST
    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable manifest ({exc}); rebuild the dataset.") from None
    need = {"tile_id", "width", "height", "crs", "transform"}
    missing = sorted(need - set(rows[0])) if rows else []
    if missing:
        raise InputError(f"{path}: manifest lacks column(s) {missing}; rebuild with this farmannot version.")
    if not rows:
        raise InputError(f"{path}: the manifest lists no tiles.")
    no_crs = [r["tile_id"] for r in rows if not r["crs"]]
    if no_crs:
        raise InputError(f"{path}: tile(s) {no_crs[:3]} have no CRS (scene not georeferenced); a tiles layer "
                         "needs map coordinates.")
    crss = {CRS.from_user_input(r["crs"]) for r in rows}
    target = crs or (crs_text(next(iter(crss))) if len(crss) == 1 else "EPSG:4326")
    geoms = []
    for r in rows:
        footprint = shapely.box(0, 0, float(r["width"]), float(r["height"]))
        world = pixel_to_world(np.asarray([footprint], dtype=object), as_affine6(r["transform"]))
        geoms.append(reproject(world, crs_transformer(r["crs"], target))[0])
    kw_cols = sorted(k for k in rows[0] if k.startswith("kw_"))
    cols: dict[str, np.ndarray] = {}
    for name in (*TILE_COLUMNS, *kw_cols):
        if name not in rows[0]:
            continue
        vals = [r[name] for r in rows]
        if name in ("row_off", "col_off", "width", "height", "parcel_count"):
            cols[name] = np.asarray([-1 if v is None else int(v) for v in vals], dtype=np.int64)
        elif name == "farmland_fraction":
            cols[name] = np.asarray([np.nan if v is None else float(v) for v in vals], dtype=np.float64)
        else:
            cols[name] = np.asarray([_text(v) for v in vals], dtype=object)
    return Layer("tiles", np.asarray(geoms, dtype=object), cols, crs_text(CRS.from_user_input(target)))


def dataset_annotations(dataset: Path, project: Path | None = None) -> list[Path]:
    """The annotation files ``build_report.json`` lists.

    The report names them relative to the project folder the dataset was built from; that folder is
    ``project`` when given, else the first of the folder the report records, the dataset folder, its parent
    and the working folder in which the annotations exist.

    Raises:
        InputError: an unreadable report, or listed annotations found in none of those folders.
    """
    path = dataset / BUILD_REPORT
    if not path.exists():
        return []
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable build report ({exc}).") from None
    listed = [Path(s["annotation"]) for s in report.get("scenes") or [] if (s or {}).get("annotation")]
    if not listed or all(p.is_absolute() for p in listed):
        return listed
    recorded = [Path(report["project"])] if report.get("project") else []
    roots = [project] if project is not None else [*recorded, dataset, dataset.parent, Path.cwd()]
    for root in roots:
        if all(p.is_absolute() or (root / p).exists() for p in listed):
            return [p if p.is_absolute() else root / p for p in listed]
    tried = ", ".join(str(r) for r in roots)
    raise InputError(f"{path}: the annotations it lists ({listed[0].as_posix()}, ...) are not in {tried}; pass "
                     "--project PROJECT_DIR (the folder build-dataset read) or --keep-going to skip parcels.")


def export_dataset(dataset: Path, output: Path, options: ExportOptions, report: ExportReport,
                   progress: Callable[[list[Path]], list[Path]] | None = None) -> ExportReport:
    """Write the ``parcels`` and ``tiles`` layers of a built dataset (see the module docstring)."""
    from farmannot.vectors.exporter import write_parcels

    crs = "EPSG:4326" if options.fmt == "geojson" else options.crs
    tiles = tiles_layer(dataset, crs)
    crs = tiles.crs  # parcels follow the tiles' CRS, so both layers overlay
    try:
        paths: list[Path] | None = dataset_annotations(dataset, options.project)
    except InputError as exc:
        if not options.keep_going:
            raise
        report.failed.append(str(exc))
        paths = None
    geos = []
    items = paths or []
    for p in progress(items) if progress else items:
        try:
            # the same rule as build-dataset: images may sit anywhere in the annotation's project folder
            geos.append(georeference(p, project_dir=p.parent.parent, allow_outside=options.allow_outside))
        except FarmannotError as exc:
            if not options.keep_going:
                raise InputError(f"{dataset}: parcels layer: {exc} (pass --keep-going to export without it)") \
                    from None
            report.failed.append(str(exc))
    table = build_parcel_table(geos, crs=crs, label_filter=options.labels, names=[g.path.stem for g in geos])
    if paths == []:
        report.failed.append(f"{dataset / BUILD_REPORT}: lists no annotations; the parcels layer is empty")
    _add_scene_columns(table, tiles)
    report.annotations, report.crs, report.skipped_shapes = len(geos), tiles.crs, table.skipped
    report.tiles = len(tiles.geometry)
    write_parcels(output, table, options, report, extra_layers=[tiles])
    return report


def _add_scene_columns(table: ParcelTable, tiles: Layer) -> None:
    """Give each parcel its scene's split and region (from the tiles)."""
    split_of, region_of = {}, {}
    scenes = tiles.columns.get("scene", np.asarray([]))
    for i, s in enumerate(scenes):
        split_of.setdefault(s, _text(tiles.columns["split"][i]) if "split" in tiles.columns else "")
        region_of.setdefault(s, _text(tiles.columns["region"][i]) if "region" in tiles.columns else "")
    names = table.columns.get("scene", np.asarray([], dtype=object))
    table.columns["split"] = np.asarray([split_of.get(s, "") for s in names], dtype=object)
    table.columns["region"] = np.asarray([region_of.get(s, "") for s in names], dtype=object)
