"""One scene -> its tiles in every layout, in work units that a local process or a Dask worker runs.

A scene is prepared once (:func:`prepare_scene`: the annotation streamed and planned, the display stretch from
a decimated read, the DEM registration, the scene's keywords), then built unit by unit
(:func:`build_unit`: a block of tile windows, :mod:`farmannot.dataset.units`) and finished
(:func:`finish_scene`: the rows in window order, the scene's record). Memory is set by the work unit: the
annotation's shapes go to their units' files in the output folder as they are read (no process holds the whole
scene's plan), the scene is read window by window through a block cache sized to a unit's row of tiles, labels
are drawn per window from the unit's shapes, the DEM is warped per window. A scene whose inputs, options and
output files are unchanged since the last run is skipped (its record under ``.farmannot/scenes/`` holds every
file's checksum); a unit finished before an interruption is skipped the same way (``.farmannot/units/``,
removed when its scene is finished); otherwise each file is only rewritten when its bytes differ.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.errors import RasterioError
from rasterio.transform import Affine
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from farmannot.captions.annotation import scene_nir_factor
from farmannot.dataset.config import BuildConfig
from farmannot.dataset.layouts import SpieSample, Tile, layout_files, write_checked
from farmannot.dataset.layouts.coco import coco_instances
from farmannot.dataset.layouts.spie import records as spie_records
from farmannot.dataset.layouts.spie import spie_response
from farmannot.dataset.project import SceneJob
from farmannot.dataset.records import (
    SceneResult,
    UnitResult,
    check_scene,
    make_durable,
    resume_unit,
    unit_record,
    write_scene,
    write_unit,
)
from farmannot.dataset.tile_text import scene_date, scene_keywords, season, tile_captions, tile_keywords, tile_presence
from farmannot.dataset.units import UNIT_TILES, StoredPlan, Unit, UnitPlanStore, remove_run, scene_units
from farmannot.errors import InputError
from farmannot.io.bands import display_bands
from farmannot.io.grid import SceneGrid
from farmannot.io.labelme_stream import stream_annotation
from farmannot.io.metadata import centre_lonlat
from farmannot.io.raster import block_cache, open_raster, read_cache_mb, read_window_all, scene_info
from farmannot.io.stretch import scene_stretch
from farmannot.labels.rasterize import IGNORE_VALUE, LabelPlanner, tile_labels
from farmannot.spectral.indices import CATEGORIES, normalized_difference
from farmannot.spectral.prompt import category_prompt
from farmannot.spectral.scene import ALL_CATEGORIES, available_categories
from farmannot.terrain.align import read_aligned, warped_dem
from farmannot.terrain.derive import pixel_size_m
from farmannot.terrain.scene import register_to_image

try:  # GDAL errors that rasterio does not wrap in RasterioError (a broken block in the middle of a file)
    from rasterio._err import CPLE_BaseError
except ImportError:  # pragma: no cover - other rasterio versions
    CPLE_BaseError = RasterioError


@contextlib.contextmanager
def _reading(job: SceneJob):
    """A broken raster as one line naming the scene."""
    try:
        yield
    except (RasterioError, CPLE_BaseError) as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise InputError(f"{job.image}: cannot read the scene ({exc}{cause}); is the file complete?") from None


@dataclass
class SceneShared:
    """What every work unit of a scene needs besides its own shapes (plain data: pickles to any worker)."""

    fingerprint: str
    scene_kw: dict[str, str]
    when: Any
    stretch: Any
    nir_factor: float | None
    dem_offset: tuple[float, float] | None
    disp: list[int]
    cats: dict[str, list[int]]
    names: list[str]
    n_units: int
    grid: SceneGrid  # the scene's header and band map (read once, in look_scene)
    cache_mb: int  # GDAL's block cache for the scene's reads (io.raster.read_cache_mb), found once in look_scene


@dataclass
class ScenePrep:
    """A prepared scene: the shared part, its work units and each unit's label plan, and the scene report."""

    shared: SceneShared
    units: list[Unit]
    plans: list[StoredPlan]
    report: dict[str, Any]
    plans_dir: str  # the planning run's folder of the units' plans, removed by finish_scene


@dataclass
class SceneLabels:
    """The annotation's half of a prepared scene (:func:`plan_scene`)."""

    units: list[Unit]
    plans: list[StoredPlan]
    report: dict[str, Any]
    scene_kw: dict[str, str]
    when: Any
    plans_dir: str  # this planning run's own folder of the units' plans


@dataclass
class SceneLook:
    """The raster's half of a prepared scene (:func:`look_scene`): display, NIR calibration, DEM shift."""

    stretch: Any
    nir_factor: float | None
    dem_offset: tuple[float, float] | None
    dem_report: dict[str, Any]
    disp: list[int]
    cats: dict[str, list[int]]
    names: list[str]
    grid: SceneGrid
    cache_mb: int


def prepare_scene(job: SceneJob, cfg: BuildConfig, out_dir: str) -> SceneResult | ScenePrep:
    """The scene's finished result when it can be resumed, else its :class:`ScenePrep` (:func:`plan_scene`
    and :func:`look_scene` in this process; the scheduler runs the two side by side).

    Raises:
        InputError: a bad scene (unreadable raster, annotation for another image, unknown label, shapes all
            outside, DEM without CRS or not overlapping, bad caption keywords); the message names the file.
    """
    fp, done = check_scene(job, cfg, out_dir)
    if done is not None:
        return done
    return combine(fp, plan_scene(job, cfg, out_dir), look_scene(job, cfg))


def combine(fp: str, labels: SceneLabels, look: SceneLook) -> ScenePrep:
    """A prepared scene from its two halves."""
    shared = SceneShared(fp, labels.scene_kw, labels.when, look.stretch, look.nir_factor, look.dem_offset,
                         look.disp, look.cats, look.names, len(labels.units), look.grid, look.cache_mb)
    return ScenePrep(shared, labels.units, labels.plans, {**labels.report, **look.dem_report}, labels.plans_dir)


def plan_scene(job: SceneJob, cfg: BuildConfig, out_dir: str) -> SceneLabels:
    """The annotation read once, as a stream, into each work unit's label plan; the scene's keywords and date.

    Each batch of shapes goes to its units' files in ``out_dir`` as it is read, in a folder of this run's own
    (:class:`farmannot.dataset.units.UnitPlanStore`); the plans are the names of those files. The raster's
    header only is read (no pixels: no block cache).

    Raises:
        InputError: annotation for another image, bad shape, unknown label, shapes all outside, bad keywords.
    """
    project = Path(job.annotation).parent.parent
    with _reading(job), open_raster(job.image) as src:
        info = scene_info(src, sensor=job.sensor)
        units = scene_units(info.width, info.height, cfg.tile_size, cfg.overlap)
        planner = LabelPlanner(info.width, info.height, cfg.label_map, source=job.annotation, keep=False)
        store = UnitPlanStore(out_dir, job.name, units, cfg.boundary_width)
        failed: list[InputError] = []

        def plan(shapes, _first) -> None:  # the shapes are planned as they are read, never all held
            if not failed:
                try:
                    part = planner.add(shapes)
                except InputError as exc:  # reported after the size check, as when the file was read whole
                    failed.append(exc)
                    return
                store.add(part)

        ann = stream_annotation(job.annotation, plan, project_dir=project)
        if (ann.image_width, ann.image_height) not in ((None, None), (info.width, info.height)):
            raise InputError(f"{job.annotation}: drawn on a {ann.image_width} x {ann.image_height} px image but "
                             f"{job.image} is {info.width} x {info.height} px; point imagePath at the right scene.")
        if failed:
            raise failed[0]
        whole = planner.finish()
        report = {"scene": job.name, "annotation": Path(job.annotation).relative_to(project).as_posix(),
                  "parcels": whole.n_parcels, **whole.report.to_dict()}
        scene_kw = scene_keywords(ann.farmannot, job.annotation)
        when = scene_date(job.date, (ann.farmannot.get("scene") or {}).get("date"), src.tags(),
                          Path(job.image).name)
    plans = store.finish(info.width, info.height, whole.n_parcels)
    return SceneLabels(units, plans, report, scene_kw, when, str(store.folder))


def look_scene(job: SceneJob, cfg: BuildConfig) -> SceneLook:
    """The scene's display stretch (decimated read), NIR soil line, DEM registration and SPIE categories; the
    block cache its reads and its units' need (:func:`farmannot.io.raster.read_cache_mb`), found once here.

    Raises:
        InputError: unreadable raster, DEM without CRS or not overlapping.
    """
    with _reading(job), open_raster(job.image) as src, \
            block_cache(cache := read_cache_mb(src, UNIT_TILES * cfg.tile_size, cfg.tile_size)):
        info = scene_info(src, sensor=job.sensor)
        offset, dem_report = None, {}
        if job.dem:
            if src.crs is None:
                raise InputError(f"{job.image}: the scene has no CRS but has a DEM ({job.dem}); the DEM cannot "
                                 "be placed on it. Georeference the scene or drop the DEM from scenes.csv.")
            offset = (0.0, 0.0)
            if cfg.dem_register:  # the residual DEM-to-image shift, found and applied as align-dem does
                reg, _ = register_to_image(job.dem, src, resampling=cfg.dem_resampling)
                offset = reg.applied_offset
                dem_report["dem_registration"] = reg.to_dict()
            dem_report["dem_shift_px"] = [round(float(v), 4) for v in offset]
            with warped_dem(job.dem, src.crs, Affine(*info.transform), info.width, info.height,
                            resampling=cfg.dem_resampling, offset_px=offset):
                pass  # a DEM that does not overlap the scene fails here, before any unit
        disp = display_bands(info.count, info.band_map)
        stretch = scene_stretch(src, disp)
        nir_factor = scene_nir_factor(src, info)  # NIR without a reflectance scale: the scene's soil line
        cats = spie_categories(cfg, info) if "spie" in cfg.layouts else {}
        names = sorted({b for c in cats for b in CATEGORIES[c].bands}
                       | {b for b in ("red", "green", "blue", "nir", "swir1") if b in info.band_map})
    return SceneLook(stretch, nir_factor, offset, dem_report, disp, cats, names, info, cache)


class UnitWithdrawn(RuntimeError):
    """A unit stopped because its planning run's folder is gone (:meth:`StoredPlan.withdrawn`): nobody waits
    for its result."""


def build_unit(job: SceneJob, cfg: BuildConfig, out_dir: str, shared: SceneShared, unit: Unit,
               plan: StoredPlan, on_tile: Callable[[], None] | None = None) -> UnitResult:
    """Build (or resume) the tiles of one work unit; ``on_tile()`` is called after each window (progress)."""
    out = Path(out_dir)
    rec_path = unit_record(out, job, unit)
    if shared.n_units > 1:
        done = resume_unit(out, rec_path, shared.fingerprint, unit)
        if done is not None:
            for _ in unit.windows:
                if on_tile is not None:
                    on_tile()
            return done
    res = UnitResult()
    stored, plan = plan, plan.load()
    info = shared.grid
    with _reading(job), block_cache(shared.cache_mb), open_raster(job.image) as src, \
            contextlib.ExitStack() as stack:
        tr, crs = Affine(*info.transform), src.crs
        vrt = None
        if shared.dem_offset is not None:
            vrt, _ = stack.enter_context(warped_dem(job.dem, crs, tr, info.width, info.height,
                                                    resampling=cfg.dem_resampling, offset_px=shared.dem_offset))
        for i, rect in zip(unit.windows, unit.rects):
            if stored.withdrawn():
                raise UnitWithdrawn(f"{job.name}: unit {unit.index} stopped: its scene failed or its build ended")
            if job.split_of(i):  # else left out by the block buffer: next to a val/test tile
                row = _tile(job, cfg, out, src, info, plan, Window(*rect), tr, crs, vrt, shared, res,
                            job.split_of(i), job.group_of(i))
                if row is not None:
                    res.rows.append(row)
                    res.windows.append(i)
            if on_tile is not None:
                on_tile()
    make_durable(out, res.rows)  # before a record names the files: the unit's, or its scene's (one unit)
    if stored.withdrawn():
        raise UnitWithdrawn(f"{job.name}: unit {unit.index} stopped: its scene failed or its build ended")
    if shared.n_units > 1:
        write_unit(rec_path, shared.fingerprint, unit, res)
    return res


def finish_scene(job: SceneJob, out_dir: str, prep: ScenePrep, units: list[UnitResult]) -> SceneResult:
    """The scene's result from its units' (in unit order: rows in window order), recorded for resuming."""
    out = Path(out_dir)
    pairs = sorted(((i, row) for r in units for i, row in zip(r.windows, r.rows)), key=lambda p: p[0])
    res = SceneResult(job.name, [row for _, row in pairs], prep.report, sum(r.written for r in units),
                      sum(r.unchanged for r in units), sum(r.dropped for r in units))
    write_scene(out, prep.shared.fingerprint, res)
    remove_run(prep.plans_dir)  # this scene's planning run's own folder only
    return res


def build_scene(job: SceneJob, cfg: BuildConfig, out_dir: str,
                on_tile: Callable[[], None] | None = None) -> SceneResult:
    """Prepare, build every unit and finish one scene in this process (or resume it).

    Raises:
        InputError: see :func:`prepare_scene`.
    """
    prep = prepare_scene(job, cfg, out_dir)
    if isinstance(prep, SceneResult):
        return prep
    plans, prep.plans = prep.plans, []
    units = [build_unit(job, cfg, out_dir, prep.shared, u, p, on_tile) for u, p in zip(prep.units, plans)]
    return finish_scene(job, out_dir, prep, units)


def _tile_ground(crs, wtr: Affine, w: int, h: int) -> tuple[float, float | None, float | None]:
    """A tile's pixel size in metres (geodesic, at the tile's centre) and its centre ``(lon, lat)``.

    One definition for the whole project: :func:`farmannot.terrain.derive.pixel_size_m` and
    :func:`farmannot.io.metadata.centre_lonlat`. Without a CRS: 1 m and no position.
    """
    if crs is None:
        return 1.0, None, None
    xs, ys = pixel_size_m(crs, wtr, h)
    lon, lat = centre_lonlat(crs, wtr, w, h)
    return float((xs * ys) ** 0.5), lon, lat


def _named_bands(info, data: np.ndarray, valid: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Named float32 bands of an already-read window (NaN where invalid, the preset's scale applied), as
    :func:`farmannot.io.raster.read_bands` returns them, without reading the window again."""
    out = {}
    for n in names:
        b = data[info.band_map[n] - 1].astype(np.float32)
        if info.scale is not None:
            b = b * np.float32(info.scale) + np.float32(info.offset)
        b[~valid | ~np.isfinite(b)] = np.nan
        out[n] = b
    return out


def spie_categories(cfg: BuildConfig, info) -> dict[str, list[int]]:
    """SPIE category -> mask values of its ground-truth labels, for the categories the bands can show and
    the label map holds labels of."""
    out = {}
    for cat in available_categories(info, ALL_CATEGORIES)[0]:
        values = sorted({cfg.label_map[lab] for lab in cfg.spie_labels.get(cat, []) if lab in cfg.label_map})
        if values:
            out[cat] = values
    return out


def _tile(job, cfg, out, src, info, plan, win: Window, tr, crs, vrt, shared: SceneShared, res: UnitResult,
          split: str, group: str) -> dict[str, Any] | None:
    disp, stretch, cats, names = shared.disp, shared.stretch, shared.cats, shared.names
    scene_kw, when, nir_factor = shared.scene_kw, shared.when, shared.nir_factor
    r0, c0, h, w = int(win.row_off), int(win.col_off), int(win.height), int(win.width)
    name = f"{job.name}_{r0}_{c0}"
    data, valid = read_window_all(src, win)
    nodata_frac = 1.0 - float(valid.mean())
    lab = tile_labels(plan, win, cfg.boundary_width)
    farmland = (lab.mask > 0) & (lab.mask != IGNORE_VALUE)
    farm_frac = float(farmland.mean())
    if nodata_frac > cfg.max_nodata or farm_frac < cfg.min_farmland:
        res.dropped += 1
        return None
    rgb = stretch.apply(data[[i - 1 for i in disp]].astype(np.float32), valid)
    bands = _named_bands(info, data, valid, names)
    wtr = window_transform(win, tr)
    pixel_m, lon, lat = _tile_ground(crs, wtr, w, h)
    if lat is None:
        lat, lon = job.lat, job.lon
    checks = tile_presence(bands, farmland, pixel_m, nir_factor)
    kw = tile_keywords(scene_kw, when, checks, lon=lon, lat=lat)
    captions = {"farmseg": tile_captions(kw, job.annotation)}
    if kw.get("layout"):  # a terraced scene: GTPBD-MM's text is the terraced family
        captions["terraced"] = tile_captions(kw, job.annotation, "terraced")
    caps = captions["farmseg"]
    spie = []
    for cat, values in cats.items():
        a, b = CATEGORIES[cat].bands
        cp = category_prompt(cat, normalized_difference(bands[a], bands[b], valid), bbox=cfg.spie_bbox,
                             fmt=cfg.spie_format)
        rec = cp.record(cfg.spie_format)
        spie.append(SpieSample(cat, np.isin(lab.mask, values), cp.mask, cp.instruction,
                               spie_response(cat, rec["regions"]), rec["regions"]))
    elev, dem_stats = None, {}
    if vrt is not None:
        elev = read_aligned(vrt, win)
        ok = np.isfinite(elev)
        dem_stats = {"dem_coverage": float(ok.mean()),
                     "dem_min": float(elev[ok].min()) if ok.any() else None,
                     "dem_max": float(elev[ok].max()) if ok.any() else None}
    tile = Tile(name=name, split=split, region=job.region, crs=crs, transform=wtr, rgb=rgb, bands=data,
                nodata=info.nodata, mask=lab.mask, boundary=lab.boundary, parcel=lab.parcel, captions=captions,
                dem=elev, spie=spie, geotiff=cfg.geotiff)
    paths, sums = {}, {}
    for layout, items in layout_files(cfg.layouts, tile).items():
        paths[layout] = sorted(items)
        for rel, blob in items.items():
            digest, written = write_checked(out, rel, blob)
            sums[rel] = digest
            res.written += written
            res.unchanged += not written
    row = {
        "tile_id": name, "scene": job.name, "region": job.region, "group": group, "split": split,
        "row_off": r0, "col_off": c0, "width": w, "height": h,
        "crs": crs.to_string() if crs else None, "transform": list(wtr)[:6],
        "center_lat": lat, "center_lon": lon,
        "date": when.isoformat() if when else None, "month": when.month if when else None,
        "season": season(when, lat), "farmland_fraction": round(farm_frac, 6),
        "ignore_fraction": round(float((lab.mask == IGNORE_VALUE).mean()), 6),
        "nodata_fraction": round(nodata_frac, 6), "parcel_count": len(lab.parcel_scene_ids),
        "boundary_fraction": round(float(lab.boundary.mean()), 6),
        "dem_coverage": dem_stats.get("dem_coverage"), "dem_min": dem_stats.get("dem_min"),
        "dem_max": dem_stats.get("dem_max"),
        "dem_shift_dx_px": round(float(shared.dem_offset[0]), 4) if vrt is not None else None,
        "dem_shift_dy_px": round(float(shared.dem_offset[1]), 4) if vrt is not None else None,
        "keywords": json.dumps(kw, ensure_ascii=False, sort_keys=True),
        **{f"kw_{k}": v for k, v in sorted(kw.items())},
        "presence": json.dumps(checks, sort_keys=True),
        "caption_en": caps["en"], "caption_zh": caps["zh"],
        "spie_categories": [s.category for s in spie],
        "gtpbd_text_family": "terraced" if "terraced" in captions else "farmseg",
        "paths": json.dumps(paths, sort_keys=True), "checksums": json.dumps(sums, sort_keys=True),
        "_coco": coco_instances(lab.parcel) if "coco" in cfg.layouts else [],
        "_spie": spie_records(tile) if "spie" in cfg.layouts else [],
    }
    return row
